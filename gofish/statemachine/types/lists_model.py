"""The list value: what a Redis list key holds, and the helpers every list command shares.

Rules:

- A list is stored as a `ListValue` (a `collections.deque` of ``bytes``); ``type(v) is
  ListValue`` is the type test, so the class is never subclassed further.
- A stored list is never empty: a command that removes the last element deletes the key
  (`after_pop`). A command that changes a list in place reports it with ``ks.modified`` (the
  node wakes clients blocked on that key and fails WATCHes); creating a key goes through
  ``ks.set``, which reports it too.
- Elements compare as bytes, as Redis compares them.
- ``OBJECT ENCODING`` answers ``quicklist`` for every list: Redis 7.0 stores all lists as
  quicklists (the small-list ``listpack`` encoding only arrived in Redis 7.2).
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Any

from gofish import errors
from gofish.errors import CommandError
from gofish.statemachine.args import to_int
from gofish.statemachine.keyspace import Keyspace
from gofish.statemachine.registry import TypeSpec

# Redis 7.0 error lines that gofish.errors does not hold (yet).

LONG_MAX = (1 << 63) - 1


class ListValue(deque[bytes]):
    """A Redis list: element 0 is the head (LEFT), element -1 the tail (RIGHT)."""

    __slots__ = ()


def _encoding(value: ListValue) -> str:
    return "quicklist"


def _copy(value: ListValue) -> ListValue:
    return ListValue(value)


def _dump(value: ListValue) -> list[bytes]:
    return list(value)


def _load(data: Any) -> ListValue:
    if not isinstance(data, list) or not all(type(x) is bytes for x in data):
        raise ValueError("a list value must be a list of bytes")
    return ListValue(data)


LIST_TYPE = TypeSpec(
    name="list", pytype=ListValue, encoding=_encoding, copy=_copy, dump=_dump, load=_load
)


# --- argument parsing (shared by checks and handlers) ---------------------------------------
def parse_where(arg: bytes) -> bool:
    """``LEFT`` → True, ``RIGHT`` → False (any case); else ``ERR syntax error``."""
    word = arg.lower()
    if word == b"left":
        return True
    if word == b"right":
        return False
    raise CommandError(errors.SYNTAX)


def parse_long(arg: bytes) -> int:
    """A signed 64-bit integer (Redis's getLongFromObjectOrReply)."""
    v = to_int(arg)
    if v is None:
        raise CommandError(errors.NOT_INTEGER)
    return v


def parse_ranged(arg: bytes, low: int, error: bytes) -> int:
    """An integer in ``[low, LONG_MAX]``; any failure, bad syntax included, raises ``error``.

    This is Redis's getRangeLongFromObjectOrReply with a message: the same line is used for a
    non-integer and for an integer out of range.
    """
    v = to_int(arg)
    if v is None or v < low:
        raise CommandError(error)
    return v


def parse_mpop(argv: list[bytes], numkeys_at: int) -> tuple[list[bytes], bool, int]:
    """Parse ``numkeys key [key ...] LEFT|RIGHT [COUNT count]`` starting at ``numkeys_at``.

    Returns (keys, left, count); count is 1 when COUNT is absent. Errors in Redis's order:
    numkeys, then the missing or bad LEFT|RIGHT, then the options.
    """
    numkeys = parse_ranged(argv[numkeys_at], 1, errors.NUMKEYS_POSITIVE)
    where_at = numkeys_at + numkeys + 1
    if where_at >= len(argv):
        raise CommandError(errors.SYNTAX)
    left = parse_where(argv[where_at])
    count = -1
    j = where_at + 1
    argc = len(argv)
    while j < argc:
        if count == -1 and j + 1 < argc and argv[j].lower() == b"count":
            count = parse_ranged(argv[j + 1], 1, errors.COUNT_POSITIVE)
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    return argv[numkeys_at + 1 : where_at], left, (1 if count == -1 else count)


def mpop_keys(argv: list[bytes], numkeys_at: int) -> list[bytes]:
    """The keys of an LMPOP/BLMPOP argv (empty if numkeys is not a positive integer)."""
    if numkeys_at >= len(argv):
        return []
    n = to_int(argv[numkeys_at])
    if n is None or n < 1:
        return []
    return argv[numkeys_at + 1 : numkeys_at + 1 + n]


# --- state helpers ----------------------------------------------------------------------
def get_list(ks: Keyspace, key: bytes) -> ListValue | None:
    """The list at ``key``, None if absent; WRONGTYPE for any other value."""
    v = ks.get(key)
    if v is None or type(v) is ListValue:
        return v
    raise CommandError(errors.WRONGTYPE)


def after_pop(ks: Keyspace, key: bytes, lst: ListValue) -> None:
    """Report a removal from ``lst``: delete the key if the list became empty."""
    if lst:
        ks.modified(key)
    else:
        ks.delete(key)


def pop_many(lst: ListValue, left: bool, count: int) -> list[bytes]:
    """Pop up to ``count`` elements from one end, in popping order (caller reports it)."""
    n = len(lst)
    if count >= n:
        out = list(lst) if left else list(reversed(lst))
        lst.clear()
        return out
    if left:
        pl = lst.popleft
        return [pl() for _ in range(count)]
    pr = lst.pop
    return [pr() for _ in range(count)]


def push_one(ks: Keyspace, key: bytes, dst: ListValue | None, value: bytes, left: bool) -> None:
    """Push ``value`` onto ``dst`` (the list at ``key``, already type-checked) or create it."""
    if dst is None:
        ks.set(key, ListValue((value,)))
        return
    if left:
        dst.appendleft(value)
    else:
        dst.append(value)
    ks.modified(key)


def move(
    ks: Keyspace, src_key: bytes, dst_key: bytes, src: ListValue, left_from: bool, left_to: bool
) -> bytes:
    """LMOVE on a non-empty ``src``: checks the destination's type, then pops and pushes.

    ``src_key == dst_key`` rotates the list. Returns the moved element.
    """
    dst = get_list(ks, dst_key)  # WRONGTYPE before anything changes
    value = src.popleft() if left_from else src.pop()
    push_one(ks, dst_key, dst, value, left_to)
    after_pop(ks, src_key, src)
    return value


def normalize_range(start: int, stop: int, n: int) -> tuple[int, int] | None:
    """Redis's LRANGE/LTRIM index rules: (first, last) inclusive, or None when empty."""
    if start < 0:
        start += n
    if stop < 0:
        stop += n
    if start < 0:
        start = 0
    if start > stop or start >= n:
        return None
    if stop >= n:
        stop = n - 1
    return start, stop


def slice_list(lst: ListValue, first: int, last: int) -> list[bytes]:
    """Elements ``first..last`` (inclusive, valid indexes), walking from the nearer end."""
    n = len(lst)
    if first == 0 and last == n - 1:
        return list(lst)
    if first <= n - 1 - last:
        return list(islice(lst, first, last + 1))
    out = list(islice(reversed(lst), n - 1 - last, n - first))
    out.reverse()
    return out
