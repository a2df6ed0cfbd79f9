"""CLIENT: introspection and control of this node's client connections (Redis 7.0).

Rules:

- A client is a `Session` in ``Dispatcher.sessions``; its `Connection` holds the socket-level
  facts (addresses, fd, buffers, last command). CLIENT LIST and CLIENT INFO print Redis
  7.0's line per client: ``id=.. addr=.. ... user=default redir=-1 resp=N`` ending in ``\\n``.
  ``flags`` are Redis's letters for what gofish has: ``P`` subscribed, ``x`` in MULTI,
  ``b`` blocked, ``d`` a watched key changed; ``N`` when none applies.
- A client's type is ``pubsub`` while it has subscriptions, else ``normal``; ``master``,
  ``replica`` and ``slave`` exist as types but match no client.
- CLIENT KILL closes the matching connections; killing the calling client closes it after
  its reply (the old ``CLIENT KILL addr:port`` form may do that; the filter form skips the
  caller unless ``SKIPME no``).
- CLIENT UNBLOCK ends a blocked command through ``Dispatcher.unblock_client`` with its
  timeout reply or, with ERROR, ``-UNBLOCKED``.
- CLIENT SETINFO (Redis 7.2, sent by redis-py 5+) stores LIB-NAME / LIB-VER in the session.
- CLIENT REPLY accepts only ON (gofish always replies); NO-EVICT and NO-TOUCH accept ON/OFF
  and change nothing (gofish evicts nothing).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from gofish import errors
from gofish.node.commands.server_container import container
from gofish.reply import OK, ErrorReply, Map, Reply, SetReply, Status, Verbatim
from gofish.statemachine.args import to_int
from gofish.statemachine.registry import CommandSpec, command

if TYPE_CHECKING:
    from gofish.node.dispatch import Dispatcher, Session

CLIENT_TYPES = (b"normal", b"master", b"replica", b"slave", b"pubsub")
_NAME_ERROR = b"ERR Client names cannot contain spaces, newlines or special characters."


def _valid_name(name: bytes) -> bool:
    """Redis's rule for client names and library attributes: printable, no spaces."""
    return all(0x21 <= c <= 0x7E for c in name)


def _text(x: bytes | str | None) -> str:
    if isinstance(x, bytes):
        return x.decode(errors="replace")
    return x or ""


def client_type(s: Session) -> bytes:
    return b"pubsub" if s.subscriptions else b"normal"


def client_flags(s: Session) -> str:
    flags = ""
    if s.subscriptions:
        flags += "P"
    if s.multi is not None:
        flags += "x"
    if s.waiter is not None:
        flags += "b"
    if s.watch_dirty:
        flags += "d"
    return flags or "N"


def client_line(s: Session, now: float | None = None) -> str:
    """One client's CLIENT LIST line (with its trailing newline)."""
    c = s.conn
    if now is None:
        now = time.time()
    qbuf = c.qbuf
    obl = c.obl
    name = c.name
    cmd = c.cmd
    return (
        f"id={s.id} addr={_text(c.addr)} laddr={_text(c.laddr)} fd={c.fd} "
        f"name={_text(name)} age={max(0, int(now - c.created))} "
        f"idle={max(0, int(now - c.last_interaction))} flags={client_flags(s)} db=0 "
        f"sub={len(s.channels)} psub={len(s.patterns)} ssub=0 "
        f"multi={-1 if s.multi is None else len(s.multi)} qbuf={qbuf} qbuf-free=0 "
        f"argv-mem=0 multi-mem=0 rbs={max(qbuf, 1024)} rbp={qbuf} obl={obl} oll=0 omem=0 "
        f"tot-mem={qbuf + obl + 1024} events={'rw' if obl else 'r'} cmd={cmd} "
        f"user=default redir=-1 resp={c.proto}\n"
    )


def _text_reply(s: Session, text: str) -> Reply:
    data = text.encode()
    return Verbatim(data) if s.conn.proto == 3 else data


# --- handlers ------------------------------------------------------------------------------
def client_id(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    return s.id


def client_setname(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    name = argv[2]
    if not _valid_name(name):
        return ErrorReply(_NAME_ERROR)
    s.conn.name = name or None
    return OK


def client_getname(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    return s.conn.name or None


def _listing(d: Dispatcher, s: Session, sessions: Iterable[Session]) -> Reply:
    now = time.time()
    return _text_reply(s, "".join(client_line(x, now) for x in sessions))


def client_list(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    n = len(argv)
    if n == 4 and argv[2].lower() == b"type":
        kind = argv[3].lower()
        if kind not in CLIENT_TYPES:
            return ErrorReply(b"ERR Unknown client type '" + argv[3] + b"'")
        return _listing(d, s, (x for x in d.sessions.values() if client_type(x) == kind))
    if n > 3 and argv[2].lower() == b"id":
        ids: list[int] = []
        for raw in argv[3:]:
            v = to_int(raw)
            if v is None:
                return ErrorReply(b"ERR Invalid client ID")
            ids.append(v)
        return _listing(d, s, (d.sessions[i] for i in dict.fromkeys(ids) if i in d.sessions))
    if n != 2:
        return ErrorReply(errors.SYNTAX)
    return _listing(d, s, list(d.sessions.values()))


def client_info(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    return _text_reply(s, client_line(s))


def _kill(d: Dispatcher, s: Session, victims: list[Session]) -> int:
    for v in victims:
        if v is s:
            s.conn.close_after_reply()
        else:
            v.conn.close()
    return len(victims)


def client_kill(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    if len(argv) == 3:
        addr = argv[2].decode(errors="replace")
        victims = [x for x in d.sessions.values() if _text(x.conn.addr) == addr]
        if not victims:
            return ErrorReply(b"ERR No such client")
        _kill(d, s, victims[:1])
        return OK
    kid: int | None = None
    kind: bytes | None = None
    addr_f: str | None = None
    laddr_f: str | None = None
    skipme = True
    i = 2
    while i < len(argv):
        opt = argv[i].lower()
        if i + 1 >= len(argv):
            return ErrorReply(errors.SYNTAX)
        val = argv[i + 1]
        if opt == b"id":
            kid = to_int(val)
            if kid is None or kid <= 0:
                return ErrorReply(b"ERR client-id should be greater than 0")
        elif opt == b"type":
            kind = val.lower()
            if kind not in CLIENT_TYPES:
                return ErrorReply(b"ERR Unknown client type '" + val + b"'")
        elif opt == b"addr":
            addr_f = val.decode(errors="replace")
        elif opt == b"laddr":
            laddr_f = val.decode(errors="replace")
        elif opt == b"user":
            if val != b"default":
                return ErrorReply(b"ERR No such user '" + val + b"'")
        elif opt == b"skipme":
            low = val.lower()
            if low not in (b"yes", b"no"):
                return ErrorReply(errors.SYNTAX)
            skipme = low == b"yes"
        else:
            return ErrorReply(errors.SYNTAX)
        i += 2
    victims = [
        x for x in list(d.sessions.values())
        if (kid is None or x.id == kid)
        and (kind is None or client_type(x) == kind)
        and (addr_f is None or _text(x.conn.addr) == addr_f)
        and (laddr_f is None or _text(x.conn.laddr) == laddr_f)
        and not (skipme and x is s)
    ]
    return _kill(d, s, victims)


def client_unblock(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    cid = to_int(argv[2])
    if cid is None:
        return ErrorReply(errors.NOT_INTEGER)
    with_error = False
    if len(argv) == 4:
        reason = argv[3].lower()
        if reason not in (b"timeout", b"error"):
            return ErrorReply(b"ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        with_error = reason == b"error"
    elif len(argv) > 4:
        return ErrorReply(errors.SYNTAX)
    target = d.sessions.get(cid)
    if target is None:
        return 0
    return 1 if d.unblock_client(target, with_error) else 0


def client_setinfo(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    attr, value = argv[2].lower(), argv[3]
    if attr not in (b"lib-name", b"lib-ver"):
        return ErrorReply(b"ERR Unrecognized option '" + argv[2] + b"'")
    if not _valid_name(value):
        return ErrorReply(
            b"ERR " + argv[2] + b" cannot contain spaces, newlines or special characters."
        )
    if attr == b"lib-name":
        s.lib_name = value
    else:
        s.lib_ver = value
    return OK


def _on_off(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    if argv[2].lower() not in (b"on", b"off"):
        return ErrorReply(errors.SYNTAX)
    return OK


def client_reply(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    mode = argv[2].lower()
    if mode == b"on":
        return OK
    if mode in (b"off", b"skip"):
        return ErrorReply(b"ERR CLIENT REPLY OFF and SKIP are not supported by gofish")
    return ErrorReply(errors.SYNTAX)


def client_getredir(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    return -1


def client_trackinginfo(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    return Map([(b"flags", SetReply([b"off"])), (b"redirect", -1), (b"prefixes", [])])


_HELP = [
    b"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    b"GETREDIR",
    b"    Return the client ID we are redirecting to when tracking is enabled.",
    b"GETNAME",
    b"    Return the name of the current connection.",
    b"ID",
    b"    Return the ID of the current connection.",
    b"INFO",
    b"    Return information about the current client connection.",
    b"KILL <ip:port>",
    b"    Kill connection made from <ip:port>.",
    b"KILL <option> <value> [<option> <value> [...]]",
    b"    Kill connections. Options are:",
    b"    * ADDR (<ip:port>|<unixsocket>:0)",
    b"      Kill connections made from the specified address",
    b"    * LADDR (<ip:port>|<unixsocket>:0)",
    b"      Kill connections made to specified local address",
    b"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    b"      Kill connections by type.",
    b"    * USER <username>",
    b"      Kill connections authenticated by <username>.",
    b"    * SKIPME (YES|NO)",
    b"      Skip killing current connection (default: yes).",
    b"LIST [options ...]",
    b"    Return information about client connections. Options:",
    b"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    b"      Return clients of specified type.",
    b"REPLY (ON|OFF|SKIP)",
    b"    Control the replies sent to the current connection.",
    b"SETNAME <name>",
    b"    Assign the name <name> to the current connection.",
    b"SETINFO <option> <value>",
    b"    Set client meta attr. Options are:",
    b"    * LIB-NAME: the client lib name.",
    b"    * LIB-VER: the client lib version.",
    b"UNBLOCK <clientid> [TIMEOUT|ERROR]",
    b"    Unblock the specified blocked client.",
    b"TRACKINGINFO",
    b"    Report tracking status for the current connection.",
    b"NO-EVICT (ON|OFF)",
    b"    Protect current client connection from eviction.",
    b"NO-TOUCH (ON|OFF)",
    b"    Will not touch LRU/LFU stats when this mode is on.",
    b"HELP",
    b"    Prints this help.",
]


def client_help(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    return [Status(line) for line in _HELP]


def spec() -> CommandSpec:
    g = "connection"
    f = "noscript loading stale"
    a = "admin noscript loading stale"
    o1 = "O(1)"
    return container(
        "client", -2, "", [
            command("client|id", 2, f, group=g, since="5.0.0",
                    summary="Returns the client ID for the current connection",
                    complexity=o1)(client_id),
            command("client|setname", 3, f, group=g, since="2.6.9",
                    summary="Set the current connection name", complexity=o1)(client_setname),
            command("client|getname", 2, f, group=g, since="2.6.9",
                    summary="Get the current connection name", complexity=o1)(client_getname),
            command("client|list", -2, a, group=g, since="2.4.0",
                    summary="Get the list of client connections",
                    complexity="O(N) where N is the number of client connections")(client_list),
            command("client|info", 2, f, group=g, since="6.2.0",
                    summary="Returns information about the current client connection.",
                    complexity=o1)(client_info),
            command("client|kill", -3, a, group=g, since="2.4.0",
                    summary="Kill the connection of a client",
                    complexity="O(N) where N is the number of client connections")(client_kill),
            command("client|unblock", -3, a, group=g, since="5.0.0",
                    summary="Unblock a client blocked in a blocking command from a different "
                    "connection",
                    complexity="O(log N) where N is the number of client connections")(
                        client_unblock),
            command("client|setinfo", 4, f, group=g, since="7.2.0",
                    summary="Set client or connection specific info", complexity=o1)(
                        client_setinfo),
            command("client|reply", 3, f, group=g, since="3.2.0",
                    summary="Instruct the server whether to reply to commands",
                    complexity=o1)(client_reply),
            command("client|no-evict", 3, a, group=g, since="7.0.0",
                    summary="Set client eviction mode for the current connection",
                    complexity=o1)(_on_off),
            command("client|no-touch", 3, f, group=g, since="7.2.0",
                    summary="Controls whether commands sent by the client will alter the "
                    "LRU/LFU of the keys they access.", complexity=o1)(_on_off),
            command("client|getredir", 2, f, group=g, since="6.0.0",
                    summary="Get tracking notifications redirection client ID if any",
                    complexity=o1)(client_getredir),
            command("client|trackinginfo", 2, f, group=g, since="6.2.0",
                    summary="Return information about server assisted client side caching "
                    "for the current connection", complexity=o1)(client_trackinginfo),
            command("client|help", 2, "loading stale", group=g, since="5.0.0",
                    summary="Show helpful text about the different subcommands",
                    complexity=o1)(client_help),
        ],
        group=g, since="2.4.0", summary="A container for client connection commands",
    )
