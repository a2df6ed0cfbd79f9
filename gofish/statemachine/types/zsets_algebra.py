"""Sorted set algebra: ZUNION, ZINTER, ZDIFF, their STORE forms, and ZINTERCARD.

Semantics follow Redis 7.0's ``zunionInterDiffGenericCommand`` exactly, down to float rounding:

- Sources may be sorted sets or plain sets (every member scoring 1); a missing key is empty;
  any other type is WRONGTYPE.
- For union and intersection the sources are taken smallest first (a stable sort by size), as
  Redis does: a SUM depends on the order of its additions.
- A weighted score that is NaN (``0 * inf``) counts as 0; a SUM that is NaN (``inf + -inf``)
  is 0. MIN/MAX keep the current value when a comparison involves NaN.
- ZDIFF keeps the first source's members found in no other source, with their scores.
- Replies are sorted by score then member. A STORE result replaces the destination whatever its
  type (an empty result deletes it) and is encoded afresh (``listpack`` when small); the
  plain reply keeps a ``-0`` score as Redis's skiplist does, the stored value turns it into 0.

Errors in Redis's order: numkeys, then the sources' types, then the options. Redis looks at
the sources before it parses the options, so the STORE forms' ``check`` (which must not look
at state) rejects only a bad numkeys; a bad option is refused at apply, changing nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gofish import errors
from gofish.errors import CommandError
from gofish.reply import Double, Pairs, Reply
from gofish.statemachine.args import to_int
from gofish.statemachine.keyspace import Keyspace
from gofish.statemachine.registry import CommandSpec, command
from gofish.statemachine.types.zset_model import (
    ZSet,
    at_least_one_key,
    parse_score,
)

_G = "sorted-set"
_UNION, _INTER, _DIFF = 0, 1, 2
_SUM, _MIN, _MAX = 0, 1, 2
_AGGREGATES = {b"sum": _SUM, b"min": _MIN, b"max": _MAX}


@dataclass(slots=True)
class SetOp:
    """Options of one algebra command (``limit`` 0 means none)."""

    weights: list[float]
    aggregate: int = _SUM
    withscores: bool = False
    limit: int = 0


def _numkeys(argv: list[bytes], at: int) -> int:
    numkeys = to_int(argv[at])
    if numkeys is None:
        raise CommandError(errors.NOT_INTEGER)
    if numkeys < 1:
        raise CommandError(at_least_one_key(argv[0]))
    if numkeys > len(argv) - at - 1:
        raise CommandError(errors.SYNTAX)
    return numkeys


def _options(argv: list[bytes], at: int, numkeys: int, op: int, store: bool,
             card: bool) -> SetOp:
    """Parse what follows the keys (``at`` is the index of the first key)."""
    opts = SetOp([1.0] * numkeys)
    j = at + numkeys
    n = len(argv)
    algebra = op != _DIFF and not card
    while j < n:
        word = argv[j].lower()
        left = n - j
        if algebra and left >= numkeys + 1 and word == b"weights":
            for i in range(numkeys):
                w = parse_score(argv[j + 1 + i])
                if w is None:
                    raise CommandError(errors.WEIGHT_NOT_FLOAT)
                opts.weights[i] = w
            j += numkeys + 1
        elif algebra and left >= 2 and word == b"aggregate":
            agg = _AGGREGATES.get(argv[j + 1].lower())
            if agg is None:
                raise CommandError(errors.SYNTAX)
            opts.aggregate = agg
            j += 2
        elif not store and not card and word == b"withscores":
            opts.withscores = True
            j += 1
        elif card and left >= 2 and word == b"limit":
            limit = to_int(argv[j + 1])
            if limit is None or limit < 0:
                raise CommandError(errors.LIMIT_NEGATIVE)
            opts.limit = limit
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    return opts


def _sources(ks: Keyspace, keys: list[bytes]) -> list[dict[bytes, float]]:
    """member → score of each source; sets score 1; WRONGTYPE for other types."""
    set_spec = ks.table.types_by_name.get("set")
    set_type: Any = set_spec.pytype if set_spec is not None else None
    out: list[dict[bytes, float]] = []
    for key in keys:
        v = ks.get(key)
        if v is None:
            out.append({})
        elif type(v) is ZSet:
            out.append(v.scores)
        elif set_type is not None and type(v) is set_type:
            out.append(dict.fromkeys(v, 1.0))
        else:
            raise CommandError(errors.WRONGTYPE)
    return out


def _aggregate(target: float, value: float, how: int) -> float:
    if how == _SUM:
        target += value
        return 0.0 if target != target else target
    if how == _MIN:
        return value if value < target else target
    return value if value > target else target


def compute(srcs: list[dict[bytes, float]], op: int, opts: SetOp,
            card: bool = False) -> dict[bytes, float] | int:
    """member → score of the result (or, with ``card``, the capped size of an intersection)."""
    weights = opts.weights
    how = opts.aggregate
    if op == _DIFF:
        first = srcs[0]
        others = [s for s in srcs[1:] if s]
        return {m: s for m, s in first.items() if not any(m in o for o in others)}
    ranked = sorted(range(len(srcs)), key=lambda i: len(srcs[i]))
    if op == _UNION:
        acc: dict[bytes, float] = {}
        for i in ranked:
            w = weights[i]
            for member, score in srcs[i].items():
                score *= w
                if score != score:
                    score = 0.0
                old = acc.get(member)
                acc[member] = score if old is None else _aggregate(old, score, how)
        return acc
    smallest = srcs[ranked[0]]
    rest = [(srcs[i], weights[i]) for i in ranked[1:]]
    w0 = weights[ranked[0]]
    limit = opts.limit
    found: dict[bytes, float] = {}
    count = 0
    for member, score in smallest.items():
        score *= w0
        if score != score:
            score = 0.0
        for src, w in rest:
            value = src.get(member)
            if value is None:
                break
            score = _aggregate(score, value * w, how)
        else:
            if card:
                count += 1
                if limit and count >= limit:
                    break
            else:
                found[member] = score
    return count if card else found


def _reply(result: dict[bytes, float], withscores: bool) -> Reply:
    items = sorted((s, m) for m, s in result.items())
    if not withscores:
        return [m for _, m in items]
    return Pairs((m, Double(s)) for s, m in items)


def _read(ks: Keyspace, argv: list[bytes], op: int) -> Reply:
    numkeys = _numkeys(argv, 1)
    srcs = _sources(ks, argv[2 : 2 + numkeys])
    opts = _options(argv, 2, numkeys, op, False, False)
    result = compute(srcs, op, opts)
    assert isinstance(result, dict)
    return _reply(result, opts.withscores)


def _store(ks: Keyspace, argv: list[bytes], op: int) -> Reply:
    numkeys = _numkeys(argv, 2)
    srcs = _sources(ks, argv[3 : 3 + numkeys])
    opts = _options(argv, 3, numkeys, op, True, False)
    result = compute(srcs, op, opts)
    assert isinstance(result, dict)
    dst = argv[1]
    if not result:
        ks.delete(dst)
        return 0
    ks.set(dst, ZSet.build(result.items()))
    return len(result)


def _check_store(argv: list[bytes]) -> None:
    _numkeys(argv, 2)


def _read_keys(argv: list[bytes]) -> list[bytes]:
    """Source keys after ``numkeys`` (ZUNION, ZINTER, ZDIFF, ZINTERCARD); none if malformed."""
    numkeys = to_int(argv[1]) if len(argv) > 1 else None
    if numkeys is None or numkeys < 1 or numkeys > len(argv) - 2:
        return []
    return argv[2 : 2 + numkeys]


def _store_keys(argv: list[bytes]) -> list[bytes]:
    """The destination, then the source keys (ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE)."""
    if len(argv) < 3:
        return argv[1:2]
    numkeys = to_int(argv[2])
    if numkeys is None or numkeys < 1 or numkeys > len(argv) - 3:
        return [argv[1]]
    return [argv[1], *argv[3 : 3 + numkeys]]


_UNION_DOC = ("O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, "
              "and M being the number of elements in the resulting sorted set.")
_INTER_DOC = ("O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K "
              "being the number of input sorted sets and M being the number of elements in "
              "the resulting sorted set.")
_DIFF_DOC = ("O(L + (N-K)log(N)) worst case where L is the total number of elements in all "
             "the sets, N is the size of the first set, and K is the size of the result set.")


@command("zunion", -3, "readonly movablekeys", keys_of=_read_keys, group=_G,
         summary="Add multiple sorted sets", since="6.2.0", complexity=_UNION_DOC)
def zunion(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``ZUNION numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]``."""
    return _read(ks, argv, _UNION)


@command("zinter", -3, "readonly movablekeys", keys_of=_read_keys, group=_G,
         summary="Intersect multiple sorted sets", since="6.2.0", complexity=_INTER_DOC)
def zinter(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``ZINTER numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]``."""
    return _read(ks, argv, _INTER)


@command("zdiff", -3, "readonly movablekeys", keys_of=_read_keys, group=_G,
         summary="Subtract multiple sorted sets", since="6.2.0", complexity=_DIFF_DOC)
def zdiff(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``ZDIFF numkeys key [key ...] [WITHSCORES]``."""
    return _read(ks, argv, _DIFF)


@command("zunionstore", -4, "write denyoom movablekeys", (1, 1, 1), keys_of=_store_keys,
         check=_check_store, group=_G,
         summary="Add multiple sorted sets and store the resulting sorted set in a new key",
         since="2.0.0",
         complexity="O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted "
                    "sets, and M being the number of elements in the resulting sorted set.")
def zunionstore(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``ZUNIONSTORE dst numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]``."""
    return _store(ks, argv, _UNION)


@command("zinterstore", -4, "write denyoom movablekeys", (1, 1, 1), keys_of=_store_keys,
         check=_check_store, group=_G,
         summary="Intersect multiple sorted sets and store the resulting sorted set in a new "
                 "key",
         since="2.0.0", complexity=_INTER_DOC)
def zinterstore(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``ZINTERSTORE dst numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]``."""
    return _store(ks, argv, _INTER)


@command("zdiffstore", -4, "write denyoom movablekeys", (1, 1, 1), keys_of=_store_keys,
         check=_check_store, group=_G,
         summary="Subtract multiple sorted sets and store the resulting sorted set in a new key",
         since="6.2.0", complexity=_DIFF_DOC)
def zdiffstore(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``ZDIFFSTORE dst numkeys key [key ...]``."""
    return _store(ks, argv, _DIFF)


@command("zintercard", -3, "readonly movablekeys", keys_of=_read_keys, group=_G,
         summary="Intersect multiple sorted sets and return the cardinality of the result",
         since="7.0.0",
         complexity="O(N*K) worst case with N being the smallest input sorted set, K being the "
                    "number of input sorted sets.")
def zintercard(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``ZINTERCARD numkeys key [key ...] [LIMIT limit]`` (LIMIT 0: no limit)."""
    numkeys = _numkeys(argv, 1)
    srcs = _sources(ks, argv[2 : 2 + numkeys])
    opts = _options(argv, 2, numkeys, _INTER, False, True)
    count = compute(srcs, _INTER, opts, card=True)
    assert isinstance(count, int)
    return count


COMMANDS: tuple[CommandSpec, ...] = (
    zunion, zinter, zdiff, zunionstore, zinterstore, zdiffstore, zintercard,
)
