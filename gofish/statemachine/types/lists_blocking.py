"""List moves, multi-key pops and the blocking list commands (Redis 7.0).

LMOVE, RPOPLPUSH, LMPOP and their blocking forms BLMOVE, BRPOPLPUSH, BLMPOP, plus BLPOP and
BRPOP.

Rules for the blocking forms (the contract with the node, see `WouldBlock`):

- ``check`` parses everything, timeout included, in Redis's order (for BLMPOP the numkeys,
  LEFT|RIGHT and COUNT errors come before the timeout's), so a malformed command never
  reaches the log. The handler parses again (it runs at apply, on every node).
- At apply, if an element is available the command is served exactly like its non-blocking
  form (BLPOP/BRPOP reply ``[key, element]``, BLMPOP ``[key, [elements]]``, BLMOVE and
  BRPOPLPUSH the element). WRONGTYPE is raised for the first non-list key met before a
  non-empty list, as in Redis.
- Otherwise, inside MULTI (``ks.in_multi``) the timeout reply is returned at once: a null
  array for BLPOP/BRPOP/BLMPOP, a null bulk for BLMOVE/BRPOPLPUSH. Outside MULTI the handler
  returns `WouldBlock` (keys without repeats, timeout in seconds, timeout reply) and changes
  nothing; the node parks the client and proposes the same argv again when one of the keys
  changes.
"""

from __future__ import annotations

from gofish import errors
from gofish.errors import CommandError
from gofish.reply import NullArray, Reply
from gofish.statemachine.args import parse_timeout
from gofish.statemachine.keyspace import Keyspace
from gofish.statemachine.registry import CommandSpec, WouldBlock, command
from gofish.statemachine.types.lists_model import (
    ListValue,
    after_pop,
    get_list,
    move,
    mpop_keys,
    parse_mpop,
    parse_where,
    pop_many,
)

_MPOP_COMPLEXITY = (
    "O(N+M) where N is the number of provided keys and M is the number of elements returned."
)


def _unique(keys: list[bytes]) -> list[bytes]:
    """``keys`` without repeats, in order (a client blocks once per key)."""
    return keys if len(keys) < 2 else list(dict.fromkeys(keys))


# --- LMOVE / RPOPLPUSH ------------------------------------------------------------------
def _check_lmove(argv: list[bytes]) -> None:
    parse_where(argv[3])
    parse_where(argv[4])


@command("lmove", 5, "write denyoom", (1, 2, 1), check=_check_lmove, group="list",
         since="6.2.0", complexity="O(1)",
         summary="Pop an element from a list, push it to another list and return it")
def lmove(ks: Keyspace, argv: list[bytes]) -> bytes | None:
    """``LMOVE source destination LEFT|RIGHT LEFT|RIGHT``: the moved element, or null if the
    source is absent (the destination's type is then not checked). Same key: rotation."""
    left_from = parse_where(argv[3])
    left_to = parse_where(argv[4])
    src = get_list(ks, argv[1])
    if src is None:
        return None
    return move(ks, argv[1], argv[2], src, left_from, left_to)


@command("rpoplpush", 3, "write denyoom", (1, 2, 1), group="list", since="1.2.0",
         complexity="O(1)",
         summary="Remove the last element in a list, prepend it to another list and return it")
def rpoplpush(ks: Keyspace, argv: list[bytes]) -> bytes | None:
    """``LMOVE source destination RIGHT LEFT``."""
    src = get_list(ks, argv[1])
    if src is None:
        return None
    return move(ks, argv[1], argv[2], src, False, True)


# --- LMPOP ------------------------------------------------------------------------------
def _mpop_serve(ks: Keyspace, keys: list[bytes], left: bool, count: int) -> Reply:
    """Pop from the first non-empty list among ``keys``: ``[key, [elements]]``; None if none."""
    for key in keys:
        lst = get_list(ks, key)
        if lst is None:
            continue
        out = pop_many(lst, left, count)
        after_pop(ks, key, lst)
        return [key, out]
    return None


def _check_lmpop(argv: list[bytes]) -> None:
    parse_mpop(argv, 1)


def _lmpop_keys(argv: list[bytes]) -> list[bytes]:
    return mpop_keys(argv, 1)


@command("lmpop", -4, "write movablekeys", check=_check_lmpop, keys_of=_lmpop_keys,
         group="list", since="7.0.0", summary="Pop elements from a list",
         complexity=_MPOP_COMPLEXITY)
def lmpop(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]``: up to count elements from the
    first non-empty list as ``[key, [elements]]``; a null array if every list is empty."""
    keys, left, count = parse_mpop(argv, 1)
    out = _mpop_serve(ks, keys, left, count)
    return NullArray if out is None else out


# --- BLPOP / BRPOP ----------------------------------------------------------------------
def _check_bpop(argv: list[bytes]) -> None:
    parse_timeout(argv[-1])


def _bpop(ks: Keyspace, argv: list[bytes], left: bool) -> Reply | WouldBlock:
    timeout = parse_timeout(argv[-1])
    keys = argv[1:-1]
    for key in keys:
        lst = ks.get(key)
        if lst is None:
            continue
        if type(lst) is not ListValue:
            raise CommandError(errors.WRONGTYPE)
        v = lst.popleft() if left else lst.pop()
        after_pop(ks, key, lst)
        return [key, v]
    if ks.in_multi:
        return NullArray
    return WouldBlock(_unique(keys), timeout, NullArray)


_BPOP_COMPLEXITY = "O(N) where N is the number of provided keys."


@command("blpop", -3, "write noscript blocking", (1, -2, 1), check=_check_bpop, group="list",
         since="2.0.0", complexity=_BPOP_COMPLEXITY,
         summary="Remove and get the first element in a list, or block until one is available")
def blpop(ks: Keyspace, argv: list[bytes]) -> Reply | WouldBlock:
    """``BLPOP key [key ...] timeout``: ``[key, element]`` from the head of the first non-empty
    list; else block (timeout in seconds, 0 forever; timeout reply a null array)."""
    return _bpop(ks, argv, True)


@command("brpop", -3, "write noscript blocking", (1, -2, 1), check=_check_bpop, group="list",
         since="2.0.0", complexity=_BPOP_COMPLEXITY,
         summary="Remove and get the last element in a list, or block until one is available")
def brpop(ks: Keyspace, argv: list[bytes]) -> Reply | WouldBlock:
    """As BLPOP, from the tail."""
    return _bpop(ks, argv, False)


# --- BLMOVE / BRPOPLPUSH ------------------------------------------------------------------
def _bmove(
    ks: Keyspace, argv: list[bytes], left_from: bool, left_to: bool, timeout: float
) -> Reply | WouldBlock:
    src = get_list(ks, argv[1])
    if src is not None:
        return move(ks, argv[1], argv[2], src, left_from, left_to)
    if ks.in_multi:
        return None
    return WouldBlock([argv[1]], timeout, NullArray)  # Redis 7.0 times out with *-1


def _check_blmove(argv: list[bytes]) -> None:
    parse_where(argv[3])
    parse_where(argv[4])
    parse_timeout(argv[5])


_BMOVE_SUMMARY = (
    "Pop an element from a list, push it to another list and return it; or block until one "
    "is available"
)


@command("blmove", 6, "write denyoom noscript blocking", (1, 2, 1), check=_check_blmove,
         group="list", since="6.2.0", complexity="O(1)", summary=_BMOVE_SUMMARY)
def blmove(ks: Keyspace, argv: list[bytes]) -> Reply | WouldBlock:
    """``BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout``: LMOVE, or block on the
    source while it is absent (timeout reply: null bulk)."""
    left_from = parse_where(argv[3])
    left_to = parse_where(argv[4])
    timeout = parse_timeout(argv[5])
    return _bmove(ks, argv, left_from, left_to, timeout)


def _check_brpoplpush(argv: list[bytes]) -> None:
    parse_timeout(argv[3])


@command("brpoplpush", 4, "write denyoom noscript blocking", (1, 2, 1),
         check=_check_brpoplpush, group="list", since="2.2.0", complexity="O(1)",
         summary=_BMOVE_SUMMARY)
def brpoplpush(ks: Keyspace, argv: list[bytes]) -> Reply | WouldBlock:
    """``BLMOVE source destination RIGHT LEFT timeout``."""
    timeout = parse_timeout(argv[3])
    return _bmove(ks, argv, False, True, timeout)


# --- BLMPOP -------------------------------------------------------------------------------
def _check_blmpop(argv: list[bytes]) -> None:
    parse_mpop(argv, 2)
    parse_timeout(argv[1])


def _blmpop_keys(argv: list[bytes]) -> list[bytes]:
    return mpop_keys(argv, 2)


@command("blmpop", -5, "write blocking movablekeys", check=_check_blmpop,
         keys_of=_blmpop_keys, group="list", since="7.0.0", complexity=_MPOP_COMPLEXITY,
         summary="Pop elements from a list, or block until one is available")
def blmpop(ks: Keyspace, argv: list[bytes]) -> Reply | WouldBlock:
    """``BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]``: LMPOP, or block on
    the keys while all are empty (timeout reply: null array)."""
    keys, left, count = parse_mpop(argv, 2)
    timeout = parse_timeout(argv[1])
    out = _mpop_serve(ks, keys, left, count)
    if out is not None:
        return out
    if ks.in_multi:
        return NullArray
    return WouldBlock(_unique(keys), timeout, NullArray)


SPECS: tuple[CommandSpec, ...] = (
    lmove, rpoplpush, lmpop, blpop, brpop, blmove, brpoplpush, blmpop,
)
