"""The stored form of a Redis set: `SetValue`, and its `TypeSpec`.

Rules:

- A set's member order is a pure function of the operations applied to it, never of Python's
  per-process hash randomisation: members live in a list (``items``) with a dict
  member → index (``pos``) beside it. Adding appends; removing moves the last member into the
  freed slot. So every node that applied the same log has the same order, and SPOP's
  ``random_below(len)`` index names the same member everywhere.
- ``dump`` is the member list in order and ``load`` rebuilds the identical list and index, so a
  node restored from a checkpoint continues with the same order as one that never restarted.
- ``OBJECT ENCODING`` answers ``intset`` while the set has at most 512 members
  (``set-max-intset-entries``) that are all canonical int64 decimals, else ``hashtable``;
  Redis 7.0 has no listpack encoding for sets (7.2 added it). Unlike Redis the answer is a
  function of the current members (Redis never converts a hashtable set back to an intset).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from gofish.statemachine.args import to_int
from gofish.statemachine.registry import TypeSpec

INTSET_ENTRIES = 512


class SetValue:
    """A set of byte strings with a deterministic order and O(1) add/remove/contains/pick.

    ``items[i]`` is a member and ``pos[items[i]] == i`` for every ``i``. Handlers on the hot
    path may use ``items`` and ``pos`` directly as long as they keep that invariant.
    """

    __slots__ = ("items", "pos")

    def __init__(self, members: Iterable[bytes] = ()) -> None:
        self.items: list[bytes] = []
        self.pos: dict[bytes, int] = {}
        for m in members:
            self.add(m)

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, member: object) -> bool:
        return member in self.pos

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.items)

    def __repr__(self) -> str:
        return f"SetValue({self.items!r})"

    def add(self, member: bytes) -> bool:
        """Add ``member`` at the end; False if it was already there."""
        pos = self.pos
        if member in pos:
            return False
        pos[member] = len(self.items)
        self.items.append(member)
        return True

    def remove(self, member: bytes) -> bool:
        """Remove ``member`` (the last member takes its slot); False if it was absent."""
        i = self.pos.pop(member, None)
        if i is None:
            return False
        items = self.items
        last = items.pop()
        if i < len(items):
            items[i] = last
            self.pos[last] = i
        return True

    def pop_at(self, i: int) -> bytes:
        """Remove and return the member at index ``i`` (0 <= i < len)."""
        items = self.items
        member = items[i]
        del self.pos[member]
        last = items.pop()
        if i < len(items):
            items[i] = last
            self.pos[last] = i
        return member

    def copy(self) -> SetValue:
        c = SetValue()
        c.items = self.items.copy()
        c.pos = self.pos.copy()
        return c


def is_intset(members: list[bytes]) -> bool:
    """True if Redis 7.0 would keep these members as an intset."""
    if len(members) > INTSET_ENTRIES:
        return False
    return all(to_int(m) is not None for m in members)


def reply_order(members: list[bytes]) -> list[bytes]:
    """The members in the order Redis 7.0 would list them, where that order is defined.

    An intset is sorted by value, and Redis lists it that way (SMEMBERS, SSCAN, the results of
    SINTER/SUNION/SDIFF); for hashtable sets Redis's order is unspecified and ours is kept.
    Returns a new list.
    """
    if is_intset(members):
        return sorted(members, key=int)
    return list(members)


def _encoding(s: SetValue) -> str:
    return "intset" if is_intset(s.items) else "hashtable"


def _dump(s: SetValue) -> list[bytes]:
    return list(s.items)


def _load(data: list[bytes]) -> SetValue:
    s = SetValue()
    s.items = list(data)
    s.pos = {m: i for i, m in enumerate(s.items)}
    if len(s.pos) != len(s.items):
        raise ValueError("set dump holds a member twice")
    return s


def _copy(s: SetValue) -> SetValue:
    return s.copy()


SET_TYPE = TypeSpec(
    name="set", pytype=SetValue, encoding=_encoding, copy=_copy, dump=_dump, load=_load
)
