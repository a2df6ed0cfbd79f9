"""Cluster commands: membership, leadership and the read consistency of a connection.

- ``RAFT ADD <id> <host:peerport>``: add a node as a learner; the leader promotes it to a
  voter once its log has caught up. Replies +OK once the addition is applied on this node.
- ``RAFT REMOVE <id>``: remove a member (voter or learner); a removed node stops serving.
- ``RAFT TRANSFER <id>``: hand leadership to voter ``id``; +OK once it leads.
- ``READCONSISTENCY [linearizable|lease|stale]``: this connection's reads (no argument:
  the current level). ``RESET`` returns to the server's ``read-consistency`` setting.

Every one of them works on any node: a follower forwards the change to the leader. Each
replies ``-TRYAGAIN`` while another membership change is still in progress and
``-CLUSTERDOWN`` when no leader is reachable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gofish import errors
from gofish.node.config import READ_CONSISTENCY
from gofish.node.membership import format_addr, parse_addr, parse_id
from gofish.raft import ConfChangeType
from gofish.reply import OK, ErrorReply
from gofish.statemachine.registry import CommandTable, command

if TYPE_CHECKING:
    from gofish.node.dispatch import Dispatcher, Session


def _id(arg: bytes) -> int | None:
    try:
        return parse_id(arg.decode())
    except (ValueError, UnicodeDecodeError):
        return None


def raft(d: Dispatcher, s: Session, argv: list[bytes]) -> Any:
    sub = argv[1].lower()
    drv = d.node.driver
    if sub == b"add" and len(argv) == 4:
        node = _id(argv[2])
        if node is None:
            return ErrorReply(b"ERR invalid node id")
        try:
            addr = parse_addr(argv[3].decode())
        except (ValueError, UnicodeDecodeError) as exc:
            return ErrorReply(b"ERR " + str(exc).encode())
        return drv.change_member(ConfChangeType.ADD_LEARNER, node, format_addr(addr))
    if sub == b"remove" and len(argv) == 3:
        node = _id(argv[2])
        if node is None:
            return ErrorReply(b"ERR invalid node id")
        return drv.change_member(ConfChangeType.REMOVE_NODE, node)
    if sub == b"transfer" and len(argv) == 3:
        node = _id(argv[2])
        if node is None:
            return ErrorReply(b"ERR invalid node id")
        return drv.transfer_leader(node)
    if sub in (b"add", b"remove", b"transfer"):
        return ErrorReply(errors.wrong_arity("raft|" + sub.decode()))
    return ErrorReply(
        b"ERR unknown subcommand '" + argv[1][:128] + b"'. Try RAFT ADD|REMOVE|TRANSFER."
    )


def readconsistency(d: Dispatcher, s: Session, argv: list[bytes]) -> Any:
    if len(argv) == 1:
        return (s.consistency or d.node.config.read_consistency).encode()
    mode = argv[1].lower().decode(errors="replace")
    if mode not in READ_CONSISTENCY:
        return ErrorReply(b"ERR read consistency must be one of linearizable, lease, stale")
    s.consistency = mode
    return OK


def register(table: CommandTable) -> None:
    g = "cluster"
    table.add(
        command("raft", -3, "node admin noscript", group=g, since="7.0.0",
                summary="Change the Raft membership or leader (ADD, REMOVE, TRANSFER)",
                complexity="O(1)")(raft),
        command("readconsistency", -1, "node fast loading stale", group=g, since="7.0.0",
                summary="Get or set the read consistency of this connection",
                complexity="O(1)")(readconsistency),
    )
