"""Sorted set commands that work on one key: ZADD and friends, counts, removals by range,
ZRANDMEMBER and ZSCAN. `register` also adds the range, pop and set-algebra commands of the
sibling modules (``zsets_range``, ``zsets_pop``, ``zsets_algebra``) and the ``zset`` type.

Replies follow Redis 7.0: scores are `gofish.reply.Double`; member/score lists that RESP3
nests are `gofish.reply.Pairs`. Every handler parses all of its arguments before it looks at
the key, raises before changing anything, and deletes a set it empties.
"""

from __future__ import annotations

from gofish import errors
from gofish.errors import CommandError
from gofish.reply import Double, Pairs, Reply
from gofish.statemachine.args import to_int
from gofish.statemachine.glob import glob_match
from gofish.statemachine.keyspace import Keyspace
from gofish.statemachine.registry import CommandSpec, CommandTable, command
from gofish.statemachine.scan import parse_cursor, parse_scan_args
from gofish.statemachine.types import zsets_algebra, zsets_pop, zsets_range
from gofish.statemachine.types.zset_model import (
    ZSET_TYPE,
    ZSet,
    parse_lex_range,
    parse_score,
    parse_score_or_raise,
    parse_score_range,
    scan_score,
)

_G = "sorted-set"
_INT64_MAX = (1 << 63) - 1

# ZADD option bits.
_NX, _XX, _GT, _LT, _CH, _INCR = 1, 2, 4, 8, 16, 32
_ZADD_OPTIONS = {b"nx": _NX, b"xx": _XX, b"gt": _GT, b"lt": _LT, b"ch": _CH, b"incr": _INCR}


# --- ZADD / ZINCRBY --------------------------------------------------------------------
def _parse_zadd(argv: list[bytes]) -> tuple[int, int, list[float]]:
    """(option bits, index of the first score, scores) with Redis's checks in its order."""
    flags = _INCR if len(argv[0]) == 7 else 0  # ZINCRBY is ZADD INCR (same parser in Redis)
    i = 2
    n = len(argv)
    while i < n:
        bit = _ZADD_OPTIONS.get(argv[i].lower())
        if bit is None:
            break
        flags |= bit
        i += 1
    elements = n - i
    if elements % 2 or not elements:
        raise CommandError(errors.SYNTAX)
    if flags & _NX and flags & _XX:
        raise CommandError(errors.ZADD_NX_XX)
    if (flags & _NX and flags & (_GT | _LT)) or (flags & _GT and flags & _LT):
        raise CommandError(errors.ZADD_GT_LT_NX)
    if flags & _INCR and elements > 2:
        raise CommandError(errors.ZADD_INCR_PAIR)
    return flags, i, [parse_score_or_raise(argv[j]) for j in range(i, n, 2)]


def _check_zadd(argv: list[bytes]) -> None:
    if len(argv) == 4 and parse_score(argv[2]) is not None:
        return  # the common form: score member
    _parse_zadd(argv)


@command("zadd", -4, "write denyoom fast", (1, 1, 1), check=_check_zadd, group=_G,
         summary="Add one or more members to a sorted set, or update its score if it "
                 "already exists",
         since="1.2.0",
         complexity="O(log(N)) for each item added, where N is the number of elements in "
                    "the sorted set.")
def zadd(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]``.

    Replies the number of members added (with CH: added or changed); with INCR the new
    score as a Double, or nil when NX/XX/GT/LT prevented the update.
    """
    if len(argv) == 4:  # the common single-pair form, without options
        score = parse_score(argv[2])
        if score is not None:
            key = argv[1]
            member = argv[3]
            z: ZSet | None = ks.get_typed(key, ZSet)
            if z is None:
                z = ZSet()
                z.insert(member, score)
                ks.set(key, z)
                return 1
            old = z.scores.get(member)
            if old is None:
                z.insert(member, score)
                ks.modified(key)
                return 1
            if old != score:
                z.update(member, old, score)
                ks.modified(key)
            return 0
    flags, first, scores = _parse_zadd(argv)
    return _zadd_generic(ks, argv, flags, first, scores)


@command("zincrby", 4, "write denyoom fast", (1, 1, 1), check=_check_zadd, group=_G,
         summary="Increment the score of a member in a sorted set", since="1.2.0",
         complexity="O(log(N)) where N is the number of elements in the sorted set.")
def zincrby(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``ZINCRBY key increment member``: the new score (Double)."""
    flags, first, scores = _parse_zadd(argv)
    return _zadd_generic(ks, argv, flags, first, scores)


def _zadd_generic(
    ks: Keyspace, argv: list[bytes], flags: int, first: int, scores: list[float]
) -> Reply:
    key = argv[1]
    incr = flags & _INCR
    z: ZSet | None = ks.get_typed(key, ZSet)
    created = z is None
    if z is None:
        if flags & _XX:
            return None if incr else 0
        z = ZSet()  # a listpack; inserting a long member or the 129th converts it
    nx, xx = flags & _NX, flags & _XX
    gt, lt = flags & _GT, flags & _LT
    added = updated = processed = 0
    newscore = 0.0
    zscores = z.scores
    for k, score in enumerate(scores):
        member = argv[first + 1 + 2 * k]
        old = zscores.get(member)
        if old is not None:
            if nx:
                continue
            if incr:
                score += old
                if score != score:
                    raise CommandError(errors.SCORE_NAN)  # single pair: nothing changed
            if (lt and score >= old) or (gt and score <= old):
                continue
            processed += 1
            newscore = score
            if score != old:
                z.update(member, old, score)
                updated += 1
        elif not xx:
            z.insert(member, score)
            added += 1
            processed += 1
            newscore = score
    if created:
        ks.set(key, z)
    elif added or updated:
        ks.modified(key)
    if incr:
        return Double(newscore) if processed else None
    return added + updated if flags & _CH else added


# --- simple reads and removals -----------------------------------------------------------
@command("zrem", -3, "write fast", (1, 1, 1), group=_G,
         summary="Remove one or more members from a sorted set", since="1.2.0",
         complexity="O(M*log(N)) with N being the number of elements in the sorted set and "
                    "M the number of elements to be removed.")
def zrem(ks: Keyspace, argv: list[bytes]) -> Reply:
    key = argv[1]
    z: ZSet | None = ks.get_typed(key, ZSet)
    if z is None:
        return 0
    removed = 0
    for member in argv[2:]:
        if z.remove(member):
            removed += 1
    if removed:
        if not z.scores:
            ks.delete(key)
        else:
            ks.modified(key)
    return removed


@command("zcard", 2, "readonly fast", (1, 1, 1), group=_G,
         summary="Get the number of members in a sorted set", since="1.2.0",
         complexity="O(1)")
def zcard(ks: Keyspace, argv: list[bytes]) -> Reply:
    z: ZSet | None = ks.get_typed(argv[1], ZSet)
    return 0 if z is None else len(z.scores)


@command("zscore", 3, "readonly fast", (1, 1, 1), group=_G,
         summary="Get the score associated with the given member in a sorted set",
         since="1.2.0", complexity="O(1)")
def zscore(ks: Keyspace, argv: list[bytes]) -> Reply:
    z: ZSet | None = ks.get_typed(argv[1], ZSet)
    if z is None:
        return None
    score = z.scores.get(argv[2])
    return None if score is None else Double(score)


@command("zmscore", -3, "readonly fast", (1, 1, 1), group=_G,
         summary="Get the score associated with the given members in a sorted set",
         since="6.2.0", complexity="O(N) where N is the number of members being requested.")
def zmscore(ks: Keyspace, argv: list[bytes]) -> Reply:
    z: ZSet | None = ks.get_typed(argv[1], ZSet)
    if z is None:
        return [None] * (len(argv) - 2)
    get = z.scores.get
    out: list[Double | None] = []
    for member in argv[2:]:
        score = get(member)
        out.append(None if score is None else Double(score))
    return out


def _rank(ks: Keyspace, argv: list[bytes], reverse: bool) -> Reply:
    z: ZSet | None = ks.get_typed(argv[1], ZSet)
    if z is None:
        return None
    rank = z.rank(argv[2])
    if rank is None:
        return None
    return len(z.scores) - 1 - rank if reverse else rank


@command("zrank", 3, "readonly fast", (1, 1, 1), group=_G,
         summary="Determine the index of a member in a sorted set", since="2.0.0",
         complexity="O(log(N))")
def zrank(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _rank(ks, argv, False)


@command("zrevrank", 3, "readonly fast", (1, 1, 1), group=_G,
         summary="Determine the index of a member in a sorted set, with scores ordered from "
                 "high to low",
         since="2.0.0", complexity="O(log(N))")
def zrevrank(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _rank(ks, argv, True)


@command("zcount", 4, "readonly fast", (1, 1, 1), group=_G,
         summary="Count the members in a sorted set with scores within the given values",
         since="2.0.0",
         complexity="O(log(N)) with N being the number of elements in the sorted set.")
def zcount(ks: Keyspace, argv: list[bytes]) -> Reply:
    rng = parse_score_range(argv[2], argv[3])
    z: ZSet | None = ks.get_typed(argv[1], ZSet)
    if z is None:
        return 0
    start, stop = z.score_span(rng)
    return stop - start


@command("zlexcount", 4, "readonly fast", (1, 1, 1), group=_G,
         summary="Count the number of members in a sorted set between a given "
                 "lexicographical range",
         since="2.8.9",
         complexity="O(log(N)) with N being the number of elements in the sorted set.")
def zlexcount(ks: Keyspace, argv: list[bytes]) -> Reply:
    lo, hi = parse_lex_range(argv[2], argv[3])
    z: ZSet | None = ks.get_typed(argv[1], ZSet)
    if z is None:
        return 0
    start, stop = z.lex_span(lo, hi)
    return stop - start


# --- removal by range --------------------------------------------------------------------
def _parse_rank_pair(argv: list[bytes]) -> tuple[int, int]:
    start, end = to_int(argv[2]), to_int(argv[3])
    if start is None or end is None:
        raise CommandError(errors.NOT_INTEGER)
    return start, end


def _check_remrangebyrank(argv: list[bytes]) -> None:
    _parse_rank_pair(argv)


def _check_remrangebyscore(argv: list[bytes]) -> None:
    parse_score_range(argv[2], argv[3])


def _check_remrangebylex(argv: list[bytes]) -> None:
    parse_lex_range(argv[2], argv[3])


def _remove_span(ks: Keyspace, key: bytes, z: ZSet, start: int, stop: int) -> int:
    removed = z.delete_slice(start, stop)
    if removed:
        if not z.scores:
            ks.delete(key)
        else:
            ks.modified(key)
    return removed


@command("zremrangebyrank", 4, "write", (1, 1, 1), check=_check_remrangebyrank, group=_G,
         summary="Remove all members in a sorted set within the given indexes",
         since="2.0.0",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and "
                    "M the number of elements removed by the operation.")
def zremrangebyrank(ks: Keyspace, argv: list[bytes]) -> Reply:
    start, end = _parse_rank_pair(argv)
    z: ZSet | None = ks.get_typed(argv[1], ZSet)
    if z is None:
        return 0
    n = len(z.scores)
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        return 0
    return _remove_span(ks, argv[1], z, start, min(end, n - 1) + 1)


@command("zremrangebyscore", 4, "write", (1, 1, 1), check=_check_remrangebyscore, group=_G,
         summary="Remove all members in a sorted set within the given scores", since="1.2.0",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and "
                    "M the number of elements removed by the operation.")
def zremrangebyscore(ks: Keyspace, argv: list[bytes]) -> Reply:
    rng = parse_score_range(argv[2], argv[3])
    z: ZSet | None = ks.get_typed(argv[1], ZSet)
    if z is None:
        return 0
    start, stop = z.score_span(rng)
    return _remove_span(ks, argv[1], z, start, stop)


@command("zremrangebylex", 4, "write", (1, 1, 1), check=_check_remrangebylex, group=_G,
         summary="Remove all members in a sorted set between the given lexicographical "
                 "range",
         since="2.8.9",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and "
                    "M the number of elements removed by the operation.")
def zremrangebylex(ks: Keyspace, argv: list[bytes]) -> Reply:
    lo, hi = parse_lex_range(argv[2], argv[3])
    z: ZSet | None = ks.get_typed(argv[1], ZSet)
    if z is None:
        return 0
    start, stop = z.lex_span(lo, hi)
    return _remove_span(ks, argv[1], z, start, stop)


# --- ZRANDMEMBER / ZSCAN -----------------------------------------------------------------
@command("zrandmember", -2, "readonly", (1, 1, 1), group=_G,
         summary="Get one or multiple random elements from a sorted set", since="6.2.0",
         complexity="O(N) where N is the number of elements returned")
def zrandmember(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``ZRANDMEMBER key [count [WITHSCORES]]``: a negative count may repeat members.

    The order of the reply is unspecified (as in Redis); a read, so it may draw freely from
    ``ks.random_below``. Like Redis, a huge negative count builds a huge reply.
    """
    argc = len(argv)
    if argc == 2:
        z0: ZSet | None = ks.get_typed(argv[1], ZSet)
        if z0 is None:
            return None
        member: bytes = z0.order[ks.random_below(len(z0.scores))][1]
        return member
    count = to_int(argv[2])
    if count is None:
        raise CommandError(errors.NOT_INTEGER)
    if count < -_INT64_MAX:
        raise CommandError(errors.COUNT_RANGE)
    if argc > 4 or (argc == 4 and argv[3].lower() != b"withscores"):
        raise CommandError(errors.SYNTAX)
    withscores = argc == 4
    if withscores and (count < -(_INT64_MAX // 2) or count > _INT64_MAX // 2):
        raise CommandError(errors.VALUE_OUT_OF_RANGE)
    z: ZSet | None = ks.get_typed(argv[1], ZSet)
    if z is None or count == 0:
        return Pairs() if withscores else []
    order = z.order
    size = len(order)
    picks: list[tuple[float, bytes]]
    if count < 0:
        picks = [order[ks.random_below(size)] for _ in range(-count)]
    elif count >= size:
        picks = list(order)
    elif count * 3 > size:
        # Partial Fisher-Yates over all ranks.
        ranks = list(range(size))
        for i in range(count):
            j = i + ks.random_below(size - i)
            ranks[i], ranks[j] = ranks[j], ranks[i]
        picks = [order[r] for r in ranks[:count]]
    else:
        chosen: dict[int, None] = {}
        while len(chosen) < count:
            chosen[ks.random_below(size)] = None
        picks = [order[r] for r in chosen]
    if not withscores:
        return [m for _, m in picks]
    out = Pairs()
    for score, m in picks:
        out.append((m, Double(score)))
    return out


@command("zscan", -3, "readonly", (1, 1, 1), group=_G,
         summary="Incrementally iterate sorted sets elements and associated scores",
         since="2.8.0",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough "
                    "command calls for the cursor to return back to 0. N is the number of "
                    "elements inside the collection..")
def zscan(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``ZSCAN key cursor [MATCH pattern] [COUNT count]``.

    Always returns every matching member with its score and the cursor ``0`` in one reply,
    whatever the cursor and COUNT — what Redis does for a listpack-encoded set; SCAN's
    contract (every element present for the whole iteration is returned) holds. Scores are
    strings as Redis shows them: integral scores of a listpack set without exponent.
    Errors in Redis's order: cursor, then key type, then options (a missing key replies an
    empty scan before the options are looked at).
    """
    parse_cursor(argv[2])
    z: ZSet | None = ks.get_typed(argv[1], ZSet)
    if z is None:
        return [b"0", []]
    sa = parse_scan_args(argv, 2)
    pattern = sa.match
    big = z.big
    out: list[bytes] = []
    for score, member in z.order:
        if pattern is None or glob_match(pattern, member):
            out.append(member)
            out.append(scan_score(score, big))
    return [b"0", out]


_COMMANDS: tuple[CommandSpec, ...] = (
    zadd, zincrby, zrem, zcard, zscore, zmscore, zrank, zrevrank, zcount, zlexcount,
    zremrangebyrank, zremrangebyscore, zremrangebylex, zrandmember, zscan,
)


def register(table: CommandTable) -> None:
    """Register the ``zset`` type and every sorted set command."""
    table.add_type(ZSET_TYPE)
    table.add_all(_COMMANDS)
    table.add_all(zsets_range.COMMANDS)
    table.add_all(zsets_pop.COMMANDS)
    table.add_all(zsets_algebra.COMMANDS)
