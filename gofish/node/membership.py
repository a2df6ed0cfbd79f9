"""Cluster membership as the node keeps it: who the members are and where they listen.

Raft's `ConfState` says *who* votes; the node also needs each member's peer address. Rules:

- **Founding.** A node started on an empty store with founding voters (``--cluster``, or
  just itself) writes the same *bootstrap entries* as every other founding node: at term 1,
  index 1..n, one ``ADD_NODE`` conf change per voter in id order, committed. They carry no
  address (each founding node may reach the others at different addresses, e.g. through a
  proxy), so the entries are identical everywhere. A node that joins later (``--join``) gets
  them by replication and so learns the whole membership from the log.
- **Addresses.** Founding members' addresses come from ``--cluster`` (at every start: an
  operator can move a node); members added later carry theirs in the conf change's context
  (`MemberInfo`), so every node learns them by applying it. The node saves its address book
  with the membership (the store's `members` record) and rebuilds it on replay.
- **Promotion.** A member added with ``promote`` (the default of ``RAFT ADD``) joins as a
  learner; the leader proposes it as a voter once its log is within `PROMOTE_LAG` entries of
  the leader's (`ready_to_promote`).
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from gofish.raft import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    encode_conf_change,
)

#: A learner is promoted once it is at most this many entries behind the leader.
PROMOTE_LAG = 64


class MemberInfo(msgspec.Struct, array_like=True, frozen=True):
    """What the node keeps per member, and what a conf change's context carries."""

    addr: str = ""
    #: a learner the leader promotes to voter once it has caught up
    promote: bool = False
    #: identifies the request that proposed the change (to answer it once applied)
    nonce: bytes = b""


_ENC = msgspec.msgpack.Encoder()
_DEC = msgspec.msgpack.Decoder(MemberInfo)


def encode_member(info: MemberInfo) -> bytes:
    return _ENC.encode(info)


def decode_member(data: bytes) -> MemberInfo:
    """Decode a context; empty or malformed bytes give an empty `MemberInfo`."""
    if not data:
        return MemberInfo()
    try:
        return _DEC.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return MemberInfo()


def bootstrap_entries(voters: Iterable[int]) -> list[Entry]:
    """The founding entries for ``voters`` (see the module rules)."""
    return [
        Entry(1, i, EntryType.CONF_CHANGE,
              encode_conf_change(ConfChange(ConfChangeType.ADD_NODE, node)))
        for i, node in enumerate(sorted(set(voters)), 1)
    ]


def fold_conf_change(cs: ConfState, cc: ConfChange) -> ConfState:
    """The membership after ``cc`` (the rule of `gofish.raft.RawNode.apply_conf_change`)."""
    voters, learners = set(cs.voters), set(cs.learners)
    n = cc.node_id
    voters.discard(n)
    learners.discard(n)
    if cc.type == ConfChangeType.ADD_NODE:
        voters.add(n)
    elif cc.type == ConfChangeType.ADD_LEARNER:
        learners.add(n)
    return ConfState(voters=tuple(sorted(voters)), learners=tuple(sorted(learners)))


def parse_cluster(spec: str) -> dict[int, tuple[str, int]]:
    """``1=host:port,2=host:port`` → {1: (host, port), ...}; ValueError when malformed."""
    out: dict[int, tuple[str, int]] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        ident, sep, addr = part.partition("=")
        if not sep:
            raise ValueError(f"cluster member {part!r}: expected ID=HOST:PORT")
        out[parse_id(ident)] = parse_addr(addr)
    return out


def parse_id(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"bad node id {text!r}") from None
    if not 1 <= n < 2**63:
        raise ValueError(f"node id out of range: {n}")
    return n


def parse_addr(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host:
        raise ValueError(f"bad address {text!r}: expected HOST:PORT")
    try:
        p = int(port)
    except ValueError:
        raise ValueError(f"bad port in {text!r}") from None
    if not 0 < p < 65536:
        raise ValueError(f"port out of range in {text!r}")
    return host.strip("[]"), p


def format_addr(addr: tuple[str, int]) -> str:
    return f"{addr[0]}:{addr[1]}"


class AddressBook:
    """Members' `MemberInfo` by node id; `fold` applies a conf change to it."""

    def __init__(self, members: dict[int, MemberInfo] | None = None) -> None:
        self.members: dict[int, MemberInfo] = dict(members or {})

    @classmethod
    def from_records(cls, records: dict[int, bytes]) -> AddressBook:
        return cls({n: decode_member(b) for n, b in records.items()})

    def records(self) -> dict[int, bytes]:
        return {n: encode_member(m) for n, m in sorted(self.members.items())}

    def addr(self, node: int) -> tuple[str, int] | None:
        m = self.members.get(node)
        if m is None or not m.addr:
            return None
        try:
            return parse_addr(m.addr)
        except ValueError:
            return None

    def fold(self, cc: ConfChange) -> None:
        if cc.type == ConfChangeType.REMOVE_NODE:
            self.members.pop(cc.node_id, None)
            return
        info = decode_member(cc.context)
        old = self.members.get(cc.node_id, MemberInfo())
        addr = info.addr or old.addr
        promote = info.promote if cc.type == ConfChangeType.ADD_LEARNER else False
        self.members[cc.node_id] = MemberInfo(addr, promote)

    def override(self, addrs: dict[int, tuple[str, int]]) -> None:
        """Set the addresses given on the command line (keeping the other fields)."""
        for node, addr in addrs.items():
            old = self.members.get(node, MemberInfo())
            self.members[node] = MemberInfo(format_addr(addr), old.promote)
