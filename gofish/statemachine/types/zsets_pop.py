"""Popping from sorted sets: ZPOPMIN, ZPOPMAX, ZMPOP and the blocking BZPOPMIN, BZPOPMAX,
BZMPOP.

Reply shapes (Redis 7.0): ZPOPMIN without a count is a flat ``[member, score]`` in both
protocols, with a count it is `Pairs` (nested in RESP3); a missing key gives an empty array.
BZPOPMIN is a flat ``[key, member, score]``. ZMPOP/BZMPOP are ``[key, [[member, score], ...]]``
(nested in both protocols) or a null array when every key is missing.

Blocking forms: at apply, if one of the keys (in argument order; a key of the wrong type met
before a non-empty one is an error) holds a set, they serve it like the non-blocking form.
Otherwise, inside MULTI they reply the timeout reply (null array); else they return
`WouldBlock` and change nothing. Timeouts are validated in ``check``.
"""

from __future__ import annotations

from typing import Any

from gofish import errors
from gofish.errors import CommandError
from gofish.reply import Double, NullArray, Pairs, Reply
from gofish.statemachine.args import parse_timeout, to_int
from gofish.statemachine.keyspace import Keyspace
from gofish.statemachine.registry import CommandSpec, WouldBlock, command
from gofish.statemachine.types.zset_model import ZSet

_G = "sorted-set"
_INT64_MAX = (1 << 63) - 1


def _pop(ks: Keyspace, key: bytes, z: ZSet, count: int, highest: bool) -> list[Any]:
    taken = z.pop(count, highest)
    if not z.scores:
        ks.delete(key)
    else:
        ks.modified(key)
    return taken


# --- ZPOPMIN / ZPOPMAX -------------------------------------------------------------------
def _parse_zpop(argv: list[bytes]) -> int:
    """The COUNT argument (-1 when absent); Redis's errors."""
    if len(argv) > 3:
        raise CommandError(errors.SYNTAX)
    if len(argv) == 2:
        return -1
    count = to_int(argv[2])
    if count is None or count < 0:
        raise CommandError(errors.POSITIVE)
    return count


def _check_zpop(argv: list[bytes]) -> None:
    _parse_zpop(argv)


def _zpop(ks: Keyspace, argv: list[bytes], highest: bool) -> Reply:
    count = _parse_zpop(argv)
    key = argv[1]
    z: ZSet | None = ks.get_typed(key, ZSet)
    if z is None or count == 0:
        return []
    if count < 0:
        score, member = _pop(ks, key, z, 1, highest)[0]
        return [member, Double(score)]
    out = Pairs()
    for score, member in _pop(ks, key, z, count, highest):
        out.append((member, Double(score)))
    return out


_POP_DOC = ("O(log(N)*M) with N being the number of elements in the sorted set, and M being "
            "the number of elements popped.")


@command("zpopmin", -2, "write fast", (1, 1, 1), check=_check_zpop, group=_G,
         summary="Remove and return members with the lowest scores in a sorted set",
         since="5.0.0", complexity=_POP_DOC)
def zpopmin(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``ZPOPMIN key [count]``."""
    return _zpop(ks, argv, False)


@command("zpopmax", -2, "write fast", (1, 1, 1), check=_check_zpop, group=_G,
         summary="Remove and return members with the highest scores in a sorted set",
         since="5.0.0", complexity=_POP_DOC)
def zpopmax(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``ZPOPMAX key [count]``."""
    return _zpop(ks, argv, True)


# --- BZPOPMIN / BZPOPMAX -----------------------------------------------------------------
def _check_bzpop(argv: list[bytes]) -> None:
    parse_timeout(argv[-1])


def _bzpop(ks: Keyspace, argv: list[bytes], highest: bool) -> Reply | WouldBlock:
    timeout = parse_timeout(argv[-1])
    keys = argv[1:-1]
    for key in keys:
        z: ZSet | None = ks.get_typed(key, ZSet)
        if z is not None:
            score, member = _pop(ks, key, z, 1, highest)[0]
            return [key, member, Double(score)]
    if ks.in_multi:
        return NullArray
    return WouldBlock(keys, timeout, NullArray)


_BPOP_DOC = "O(log(N)) with N being the number of elements in the sorted set."


@command("bzpopmin", -3, "write noscript blocking fast", (1, -2, 1), check=_check_bzpop,
         group=_G,
         summary="Remove and return the member with the lowest score from one or more sorted "
                 "sets, or block until one is available",
         since="5.0.0", complexity=_BPOP_DOC)
def bzpopmin(ks: Keyspace, argv: list[bytes]) -> Reply | WouldBlock:
    """``BZPOPMIN key [key ...] timeout``: ``[key, member, score]``."""
    return _bzpop(ks, argv, False)


@command("bzpopmax", -3, "write noscript blocking fast", (1, -2, 1), check=_check_bzpop,
         group=_G,
         summary="Remove and return the member with the highest score from one or more "
                 "sorted sets, or block until one is available",
         since="5.0.0", complexity=_BPOP_DOC)
def bzpopmax(ks: Keyspace, argv: list[bytes]) -> Reply | WouldBlock:
    """``BZPOPMAX key [key ...] timeout``: ``[key, member, score]``."""
    return _bzpop(ks, argv, True)


# --- ZMPOP / BZMPOP ----------------------------------------------------------------------
def _parse_mpop(argv: list[bytes], numkeys_at: int) -> tuple[list[bytes], bool, int]:
    """(keys, pop highest, count) of ``numkeys key [key ...] MIN|MAX [COUNT count]``."""
    numkeys = to_int(argv[numkeys_at])
    if numkeys is None or numkeys < 1:
        raise CommandError(errors.NUMKEYS_POSITIVE)
    n = len(argv)
    where_at = numkeys_at + numkeys + 1
    if where_at >= n:
        raise CommandError(errors.SYNTAX)
    where = argv[where_at].lower()
    if where == b"min":
        highest = False
    elif where == b"max":
        highest = True
    else:
        raise CommandError(errors.SYNTAX)
    count = -1
    j = where_at + 1
    while j < n:
        if count == -1 and argv[j].lower() == b"count" and j + 1 < n:
            j += 1
            count = to_int(argv[j]) or 0  # 0 and non-numbers are the same error
            if count < 1:
                raise CommandError(errors.COUNT_POSITIVE)
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    return argv[numkeys_at + 1 : where_at], highest, max(count, 1)


def _mpop(ks: Keyspace, keys: list[bytes], highest: bool, count: int) -> Reply:
    """Pop from the first key holding a set; None when every key is missing."""
    for key in keys:
        z: ZSet | None = ks.get_typed(key, ZSet)
        if z is not None:
            popped = [[member, Double(score)] for score, member in
                      _pop(ks, key, z, count, highest)]
            return [key, popped]
    return None


def _check_zmpop(argv: list[bytes]) -> None:
    _parse_mpop(argv, 1)


def _check_bzmpop(argv: list[bytes]) -> None:
    _parse_mpop(argv, 2)
    parse_timeout(argv[1])  # Redis parses the timeout last


def _zmpop_keys(argv: list[bytes]) -> list[bytes]:
    return _numkeys_slice(argv, 1)


def _bzmpop_keys(argv: list[bytes]) -> list[bytes]:
    return _numkeys_slice(argv, 2)


def _numkeys_slice(argv: list[bytes], numkeys_at: int) -> list[bytes]:
    """The keys after a ``numkeys`` argument; none if it is malformed (the command fails)."""
    if numkeys_at >= len(argv):
        return []
    numkeys = to_int(argv[numkeys_at])
    if numkeys is None or numkeys < 1 or numkeys_at + numkeys >= len(argv):
        return []
    return argv[numkeys_at + 1 : numkeys_at + 1 + numkeys]


_MPOP_DOC = ("O(K) + O(M*log(N)) where K is the number of provided keys, N being the number "
             "of elements in the sorted set, and M being the number of elements popped.")


@command("zmpop", -4, "write movablekeys", keys_of=_zmpop_keys, check=_check_zmpop,
         group=_G, summary="Remove and return members with scores in a sorted set",
         since="7.0.0", complexity=_MPOP_DOC)
def zmpop(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]``."""
    keys, highest, count = _parse_mpop(argv, 1)
    reply = _mpop(ks, keys, highest, count)
    return NullArray if reply is None else reply


@command("bzmpop", -5, "write blocking movablekeys", keys_of=_bzmpop_keys,
         check=_check_bzmpop, group=_G,
         summary="Remove and return members with scores in a sorted set or block until one "
                 "is available",
         since="7.0.0", complexity=_MPOP_DOC)
def bzmpop(ks: Keyspace, argv: list[bytes]) -> Reply | WouldBlock:
    """``BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]``."""
    keys, highest, count = _parse_mpop(argv, 2)
    timeout = parse_timeout(argv[1])
    reply = _mpop(ks, keys, highest, count)
    if reply is not None:
        return reply
    if ks.in_multi:
        return NullArray
    return WouldBlock(keys, timeout, NullArray)


COMMANDS: tuple[CommandSpec, ...] = (zpopmin, zpopmax, bzpopmin, bzpopmax, zmpop, bzmpop)
