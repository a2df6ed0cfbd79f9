"""The ZRANGE family: ZRANGE (BYSCORE, BYLEX, REV, LIMIT, WITHSCORES), ZRANGESTORE and the
older ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX, ZREVRANGE.

All of them are one parser and one range walk, as in Redis 7.0 (``zrangeGenericCommand``):
options after ``key min max`` are parsed left to right (each of REV, BYSCORE/BYLEX at most once
and only where the command allows it), conflicts are reported, then the range itself is parsed
(REV takes it as ``max min``), and only then is the key looked at. LIMIT's offset and count:
a negative offset yields nothing, a negative count means "all the rest".
"""

from __future__ import annotations

from dataclasses import dataclass

from gofish import errors
from gofish.errors import CommandError
from gofish.reply import Double, Pairs, Reply
from gofish.statemachine.args import to_int
from gofish.statemachine.keyspace import Keyspace
from gofish.statemachine.registry import CommandSpec, command
from gofish.statemachine.types.zset_model import (
    MAX_LISTPACK_ENTRIES,
    LexBound,
    ScoreRange,
    ZSet,
    parse_lex_range,
    parse_score_range,
)

_G = "sorted-set"
_AUTO, _RANK, _SCORE, _LEX = 0, 1, 2, 3


@dataclass(slots=True)
class RangeQuery:
    """A parsed range request. ``start``/``end`` for ranks, ``score`` or ``lex`` otherwise."""

    kind: int
    reverse: bool
    withscores: bool
    offset: int
    limit: int
    start: int = 0
    end: int = 0
    score: ScoreRange | None = None
    lex: tuple[LexBound, LexBound] | None = None


def parse_range(
    argv: list[bytes], first: int, store: bool, kind: int, reverse: bool | None
) -> RangeQuery:
    """Parse ``argv[first]`` = key, then min, max and options. ``kind`` _AUTO and ``reverse``
    None mean the command (ZRANGE, ZRANGESTORE) accepts BYSCORE/BYLEX and REV."""
    withscores = False
    offset, limit = 0, -1
    n = len(argv)
    j = first + 3
    while j < n:
        opt = argv[j].lower()
        left = n - j - 1
        if not store and opt == b"withscores":
            withscores = True
        elif opt == b"limit" and left >= 2:
            o, c = to_int(argv[j + 1]), to_int(argv[j + 2])
            if o is None or c is None:
                raise CommandError(errors.NOT_INTEGER)
            offset, limit = o, c
            j += 2
        elif reverse is None and opt == b"rev":
            reverse = True
        elif kind == _AUTO and opt == b"bylex":
            kind = _LEX
        elif kind == _AUTO and opt == b"byscore":
            kind = _SCORE
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    if reverse is None:
        reverse = False
    if kind == _AUTO:
        kind = _RANK
    if limit != -1 and kind == _RANK:
        raise CommandError(errors.LIMIT_RANK_ERR)
    if withscores and kind == _LEX:
        raise CommandError(errors.WITHSCORES_BYLEX_ERR)
    lo, hi = argv[first + 1], argv[first + 2]
    if reverse and kind != _RANK:
        lo, hi = hi, lo
    q = RangeQuery(kind, reverse, withscores, offset, limit)
    if kind == _RANK:
        s, e = to_int(lo), to_int(hi)
        if s is None or e is None:
            raise CommandError(errors.NOT_INTEGER)
        q.start, q.end = s, e
    elif kind == _SCORE:
        q.score = parse_score_range(lo, hi)
    else:
        q.lex = parse_lex_range(lo, hi)
    return q


def run_range(z: ZSet, q: RangeQuery) -> list[tuple[float, bytes]]:
    """The (score, member) pairs the query selects, in reply order."""
    order = z.order
    n = len(order)
    if q.kind == _RANK:
        start, end = q.start, q.end
        if start < 0:
            start += n
        if end < 0:
            end += n
        if start < 0:
            start = 0
        if start > end or start >= n:
            return []
        if end >= n:
            end = n - 1
        if q.reverse:
            return list(order.islice(n - 1 - end, n - start, reverse=True))
        return list(order.islice(start, end + 1))
    offset, limit = q.offset, q.limit
    if offset < 0 or (offset > 0 and offset >= n):
        return []
    if q.score is not None:
        lo, hi = z.score_span(q.score)
    else:
        assert q.lex is not None
        if not z.lex_uniform():
            return z.lex_walk(q.lex[0], q.lex[1], q.reverse, offset, limit)
        lo, hi = z.lex_span(q.lex[0], q.lex[1])
    if q.reverse:
        top = hi - offset
        bottom = lo if limit < 0 else max(lo, top - limit)
        if top <= bottom:
            return []
        return list(order.islice(bottom, top, reverse=True))
    begin = lo + offset
    stop = hi if limit < 0 else min(hi, begin + limit)
    if stop <= begin:
        return []
    return list(order.islice(begin, stop))


def _reply(items: list[tuple[float, bytes]], withscores: bool) -> Reply:
    if not withscores:
        return [m for _, m in items]
    out = Pairs()
    for score, member in items:
        out.append((member, Double(score)))
    return out


def _read(ks: Keyspace, argv: list[bytes], kind: int, reverse: bool | None) -> Reply:
    q = parse_range(argv, 1, False, kind, reverse)
    z: ZSet | None = ks.get_typed(argv[1], ZSet)
    if z is None:
        return []
    return _reply(run_range(z, q), q.withscores)


_RANGE_DOC = (
    "O(log(N)+M) with N being the number of elements in the sorted set and M the number of "
    "elements being returned. If M is constant (e.g. always asking for the first 10 elements "
    "with LIMIT), you can consider it O(log(N))."
)


@command("zrange", -4, "readonly", (1, 1, 1), group=_G,
         summary="Return a range of members in a sorted set", since="1.2.0",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and M "
                    "the number of elements returned.")
def zrange(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]``."""
    return _read(ks, argv, _AUTO, None)


@command("zrangebyscore", -4, "readonly", (1, 1, 1), group=_G,
         summary="Return a range of members in a sorted set, by score", since="1.0.5",
         complexity=_RANGE_DOC)
def zrangebyscore(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _read(ks, argv, _SCORE, False)


@command("zrevrangebyscore", -4, "readonly", (1, 1, 1), group=_G,
         summary="Return a range of members in a sorted set, by score, with scores ordered "
                 "from high to low",
         since="2.2.0", complexity=_RANGE_DOC)
def zrevrangebyscore(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _read(ks, argv, _SCORE, True)


@command("zrangebylex", -4, "readonly", (1, 1, 1), group=_G,
         summary="Return a range of members in a sorted set, by lexicographical range",
         since="2.8.9", complexity=_RANGE_DOC)
def zrangebylex(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _read(ks, argv, _LEX, False)


@command("zrevrangebylex", -4, "readonly", (1, 1, 1), group=_G,
         summary="Return a range of members in a sorted set, by lexicographical range, "
                 "ordered from higher to lower strings.",
         since="2.8.9", complexity=_RANGE_DOC)
def zrevrangebylex(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _read(ks, argv, _LEX, True)


@command("zrevrange", -4, "readonly", (1, 1, 1), group=_G,
         summary="Return a range of members in a sorted set, by index, with scores ordered "
                 "from high to low",
         since="1.2.0",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and M "
                    "the number of elements returned.")
def zrevrange(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _read(ks, argv, _RANK, True)


def _check_zrangestore(argv: list[bytes]) -> None:
    parse_range(argv, 2, True, _AUTO, None)


@command("zrangestore", -5, "write denyoom", (1, 2, 1), check=_check_zrangestore, group=_G,
         summary="Store a range of members from sorted set into another key", since="6.2.0",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and M "
                    "the number of elements stored into the destination key.")
def zrangestore(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]``.

    Replaces ``dst`` (any type) with the selected members; an empty result deletes ``dst``.
    """
    q = parse_range(argv, 2, True, _AUTO, None)
    z: ZSet | None = ks.get_typed(argv[2], ZSet)
    items = run_range(z, q) if z is not None else []
    dst = argv[1]
    if not items:
        ks.delete(dst)
        return 0
    # As Redis: a rank range sizes the new set up front, the others start as a listpack;
    # members are then added in reply order (a listpack converts when it overflows).
    result = ZSet(q.kind == _RANK and len(items) > MAX_LISTPACK_ENTRIES)
    for score, member in items:
        result.insert(member, score)
    ks.set(dst, result)
    return len(items)


COMMANDS: tuple[CommandSpec, ...] = (
    zrange, zrangebyscore, zrevrangebyscore, zrangebylex, zrevrangebylex, zrevrange,
    zrangestore,
)
