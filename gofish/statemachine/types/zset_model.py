"""The sorted set value (`ZSet`) and the argument grammar its commands share.

Rules:

- A `ZSet` holds a dict member → score and a `SortedList` of ``(score, member)``: order is
  by score, ties by member bytes (memcmp order, as Redis). Both always hold the same pairs.
- Scores are finite or infinite doubles, never NaN. A listpack-encoded set stores ``-0.0`` as
  ``0.0`` (Redis's listpack keeps an integral score as an integer, so ``ZADD z -0 m`` reads back
  ``0``); a skiplist keeps ``-0.0``, as Redis's does.
- ``big`` mirrors Redis 7.0's one-way encoding switch: a set starts as ``listpack`` when it is
  created with at most 128 entries of at most 64 bytes, turns ``skiplist`` when an insertion
  exceeds either limit, and never turns back (only a freshly built result of ZUNIONSTORE,
  ZRANGESTORE ... is re-encoded). It shows in ``OBJECT ENCODING`` and in ZSCAN's score format.
- A handler that changes a stored `ZSet` in place calls ``ks.modified(key)``; one that empties
  it deletes the key.

Number grammar (byte-identical to Redis 7.0, which uses C ``strtod``):

- `parse_score` (ZADD scores, ZINCRBY increments, WEIGHTS) is ``getDoubleFromObject``: the whole
  argument must be a strtod number (decimal, hex such as ``0x1p3``, ``inf``/``infinity``), no
  leading space, not NaN, no overflow to ±inf and no underflow to zero.
- `parse_score_bound` (``min``/``max`` of BYSCORE ranges) is ``zslParseRange``: an optional
  ``(`` for exclusive, then strtod over the text up to the first NUL byte; leading spaces and
  overflow are accepted, an empty number means 0, NaN is refused.
- `parse_lex_bound`: ``-``, ``+``, ``[member`` (inclusive) or ``(member`` (exclusive).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from sortedcontainers import SortedList

from gofish import errors
from gofish.errors import CommandError
from gofish.statemachine.args import format_float
from gofish.statemachine.registry import TypeSpec

# Redis 7.0 defaults: zset-max-listpack-entries / zset-max-listpack-value.
MAX_LISTPACK_ENTRIES = 128
MAX_LISTPACK_VALUE = 64

# Error lines errors.py does not have yet (to be moved there).


def at_least_one_key(command: bytes) -> bytes:
    """``ERR at least 1 input key is needed for 'zunion' command`` (name in lower case)."""
    return b"ERR at least 1 input key is needed for '" + command.lower() + b"' command"


class ZSet:
    """A sorted set: ``scores`` member → score, ``order`` sorted ``(score, member)``."""

    __slots__ = ("scores", "order", "big")

    def __init__(self, big: bool = False) -> None:
        self.scores: dict[bytes, float] = {}
        self.order: Any = SortedList()
        self.big = big

    def __len__(self) -> int:
        return len(self.scores)

    def __repr__(self) -> str:
        return f"ZSet({list(self.order)!r})"

    def insert(self, member: bytes, score: float) -> None:
        """Add a member that is not present; ``score`` must not be NaN.

        Like Redis, a listpack is converted *before* the insertion that would overflow it.
        """
        if not self.big:
            if len(member) > MAX_LISTPACK_VALUE or len(self.scores) >= MAX_LISTPACK_ENTRIES:
                self.big = True
            else:
                score += 0.0  # -0.0 → 0.0
        self.scores[member] = score
        self.order.add((score, member))

    def update(self, member: bytes, old: float, new: float) -> None:
        """Move a present member from score ``old`` to ``new``."""
        if not self.big:
            new += 0.0
        order = self.order
        order.remove((old, member))
        order.add((new, member))
        self.scores[member] = new

    def remove(self, member: bytes) -> bool:
        score = self.scores.pop(member, None)
        if score is None:
            return False
        self.order.remove((score, member))
        return True

    def delete_slice(self, start: int, stop: int) -> int:
        """Remove the members at ranks ``start <= r < stop``; returns how many."""
        if stop <= start:
            return 0
        order = self.order
        scores = self.scores
        for _, member in order.islice(start, stop):
            del scores[member]
        del order[start:stop]
        return stop - start

    def pop(self, count: int, highest: bool) -> list[tuple[float, bytes]]:
        """Remove and return up to ``count`` (score, member), lowest (or highest) first."""
        order = self.order
        if count == 1 and order:
            item = order.pop(-1 if highest else 0)
            del self.scores[item[1]]
            return [item]
        n = min(count, len(order))
        if highest:
            taken = list(order.islice(len(order) - n, len(order), reverse=True))
            del order[len(order) - n :]
        else:
            taken = list(order.islice(0, n))
            del order[:n]
        scores = self.scores
        for _, member in taken:
            del scores[member]
        return taken

    def rank(self, member: bytes) -> int | None:
        score = self.scores.get(member)
        if score is None:
            return None
        rank: int = self.order.bisect_left((score, member))
        return rank

    # --- ranges -------------------------------------------------------------------------
    def score_span(self, rng: ScoreRange) -> tuple[int, int]:
        """Ranks ``[start, stop)`` of the members whose score lies in ``rng``."""
        lo, lo_ex, hi, hi_ex = rng
        order = self.order
        n = len(order)
        if lo > hi or (lo == hi and (lo_ex or hi_ex)):
            return 0, 0
        start: int
        stop: int
        if lo_ex:
            start = n if lo == math.inf else order.bisect_left((math.nextafter(lo, math.inf), b""))
        else:
            start = order.bisect_left((lo, b""))
        if hi_ex:
            stop = order.bisect_left((hi, b""))
        else:
            stop = n if hi == math.inf else order.bisect_left((math.nextafter(hi, math.inf), b""))
        return start, max(start, stop)

    def lex_uniform(self) -> bool:
        """True if every member has the same score (what lex ranges assume)."""
        order = self.order
        return not order or bool(order[0][0] == order[-1][0])

    def lex_span(self, lo: LexBound, hi: LexBound) -> tuple[int, int]:
        """Ranks ``[start, stop)`` Redis's forward lex walk visits (ZLEXCOUNT, ZREMRANGEBYLEX).

        With equal scores this is a bisection; with mixed scores the walk of `lex_walk`.
        """
        order = self.order
        if not order or lex_empty(lo, hi):
            return 0, 0
        if self.lex_uniform():
            score = order[0][0]
            start = _lex_index(order, score, lo, True)
            stop = _lex_index(order, score, hi, False)
            return start, max(start, stop)
        first = self._lex_first(lo, hi, False)
        if first is None:
            return 0, 0
        stop = first
        n = len(order)
        while stop < n and lex_lte(order[stop][1], hi):
            stop += 1
        return first, stop

    def lex_walk(
        self, lo: LexBound, hi: LexBound, reverse: bool, offset: int, limit: int
    ) -> list[tuple[float, bytes]]:
        """Redis's listpack lex walk, exact for mixed scores too: from the first member >=
        ``lo`` forward while <= ``hi`` (``reverse``: from the last member <= ``hi`` backward
        while >= ``lo``), skipping ``offset`` members unchecked, at most ``limit`` (< 0: all).
        """
        first = self._lex_first(lo, hi, reverse)
        if first is None or offset < 0:
            return []
        order = self.order
        n = len(order)
        out: list[tuple[float, bytes]] = []
        step = -1 if reverse else 1
        pos = first + step * offset
        while 0 <= pos < n and limit != 0:
            item = order[pos]
            if not (lex_gte(item[1], lo) if reverse else lex_lte(item[1], hi)):
                break
            out.append(item)
            limit -= 1
            pos += step
        return out

    def _lex_first(self, lo: LexBound, hi: LexBound, reverse: bool) -> int | None:
        """Rank where Redis's lex walk starts, or None (zzlFirstInLexRange/LastInLexRange)."""
        order = self.order
        n = len(order)
        if n == 0 or lex_empty(lo, hi):
            return None
        if not lex_gte(order[-1][1], lo) or not lex_lte(order[0][1], hi):
            return None
        if not reverse:
            i = 0
            while i < n and not lex_gte(order[i][1], lo):
                i += 1
            return i if i < n and lex_lte(order[i][1], hi) else None
        j = n - 1
        while j >= 0 and not lex_lte(order[j][1], hi):
            j -= 1
        return j if j >= 0 and lex_gte(order[j][1], lo) else None

    # --- whole-value helpers ------------------------------------------------------------
    def small(self) -> bool:
        """True if a freshly built value with these members would be a listpack."""
        return len(self.scores) <= MAX_LISTPACK_ENTRIES and all(
            len(m) <= MAX_LISTPACK_VALUE for m in self.scores
        )

    @classmethod
    def build(cls, items: Iterable[tuple[bytes, float]]) -> ZSet:
        """A new set from distinct (member, score) pairs, built as a skiplist and turned into a
        listpack if small, as Redis builds ZUNIONSTORE/ZINTERSTORE/ZDIFFSTORE results."""
        z = cls()
        scores = z.scores
        scores.update(items)
        z.big = not z.small()
        if not z.big:
            for member, score in scores.items():
                scores[member] = score + 0.0
        z.order = SortedList((s, m) for m, s in scores.items())
        return z


# --- numbers ------------------------------------------------------------------------------
_STRTOD = re.compile(
    rb"[ \t\n\x0b\f\r]*([+-]?)(?:(inf(?:inity)?)|(nan(?:\([0-9a-z_]*\))?)"
    rb"|0x((?:[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[+-]?[0-9]+)?)"
    rb"|((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?))",
    re.IGNORECASE,
)
_NONZERO_MANTISSA = re.compile(rb"[1-9a-fA-F]")


def strtod(text: bytes) -> tuple[float, int, bool]:
    """C ``strtod`` on ``text``: (value, bytes consumed, ERANGE). No number: (0.0, 0, False)."""
    m = _STRTOD.match(text)
    if m is None:
        return 0.0, 0, False
    sign, inf, nan, hexa, dec = m.groups()
    neg = sign == b"-"
    if inf is not None:
        return (-math.inf if neg else math.inf), m.end(), False
    if nan is not None:
        return math.nan, m.end(), False
    erange = False
    if hexa is not None:
        try:
            v = float.fromhex(hexa.decode())
        except OverflowError:
            v = math.inf
        mantissa = hexa.split(b"p")[0].split(b"P")[0]
    else:
        v = float(dec)
        mantissa = dec.split(b"e")[0].split(b"E")[0]
    if v == math.inf or (v == 0.0 and _NONZERO_MANTISSA.search(mantissa) is not None):
        erange = True
    return (-v if neg else v), m.end(), erange


def parse_score(arg: bytes) -> float | None:
    """A ZADD score / increment / weight as Redis's getDoubleFromObject, or None."""
    if arg.isdigit() and len(arg) < 16:
        return float(arg)
    if not arg or arg[0] in b" \t\n\x0b\f\r":
        return None
    v, end, erange = strtod(arg)
    if end != len(arg) or v != v or (erange and (v == 0.0 or math.isinf(v))):
        return None
    return v


def parse_score_or_raise(arg: bytes, error: bytes = errors.NOT_FLOAT) -> float:
    v = parse_score(arg)
    if v is None:
        raise CommandError(error)
    return v


ScoreRange = tuple[float, bool, float, bool]
"""(min, min exclusive, max, max exclusive)."""


def parse_score_bound(arg: bytes) -> tuple[float, bool] | None:
    """One end of a BYSCORE range as Redis's zslParseRange: (value, exclusive) or None."""
    if arg.isdigit() and len(arg) < 16:
        return float(arg), False
    nul = arg.find(b"\0")
    if nul >= 0:
        arg = arg[:nul]
    exclusive = arg[:1] == b"("
    if exclusive:
        arg = arg[1:]
    v, end, _ = strtod(arg)
    if end != len(arg) or v != v:
        return None
    return v, exclusive


def parse_score_range(lo: bytes, hi: bytes) -> ScoreRange:
    a = parse_score_bound(lo)
    b = parse_score_bound(hi)
    if a is None or b is None:
        raise CommandError(errors.MIN_MAX_NOT_FLOAT)
    return a[0], a[1], b[0], b[1]


LexBound = tuple[int, bytes, bool]
"""(kind, member, exclusive): kind 0 is ``-``, 1 a member, 2 ``+`` (both ends exclusive)."""

_LEX_MINUS: LexBound = (0, b"", True)
_LEX_PLUS: LexBound = (2, b"", True)


def parse_lex_bound(arg: bytes) -> LexBound | None:
    if arg == b"-":
        return _LEX_MINUS
    if arg == b"+":
        return _LEX_PLUS
    c = arg[:1]
    if c == b"[":
        return 1, arg[1:], False
    if c == b"(":
        return 1, arg[1:], True
    return None


def parse_lex_range(lo: bytes, hi: bytes) -> tuple[LexBound, LexBound]:
    a = parse_lex_bound(lo)
    b = parse_lex_bound(hi)
    if a is None or b is None:
        raise CommandError(errors.MIN_MAX_NOT_STRING)
    return a, b


def lex_empty(lo: LexBound, hi: LexBound) -> bool:
    """Redis's zslIsInLexRange pre-check: min > max, or min == max with an exclusive end."""
    if (lo[0], lo[1]) > (hi[0], hi[1]):
        return True
    return (lo[0], lo[1]) == (hi[0], hi[1]) and (lo[2] or hi[2])


def lex_gte(member: bytes, lo: LexBound) -> bool:
    kind = lo[0]
    if kind == 0:
        return True
    if kind == 2:
        return False
    return member > lo[1] if lo[2] else member >= lo[1]


def lex_lte(member: bytes, hi: LexBound) -> bool:
    kind = hi[0]
    if kind == 2:
        return True
    if kind == 0:
        return False
    return member < hi[1] if hi[2] else member <= hi[1]


def _lex_index(order: Any, score: float, bound: LexBound, is_min: bool) -> int:
    """Rank where a lex range starts (``is_min``) or stops, all scores being ``score``."""
    kind, value, exclusive = bound
    if kind == 0:
        return 0
    if kind == 2:
        return len(order)
    key = (score, value)
    if is_min:
        return int(order.bisect_right(key) if exclusive else order.bisect_left(key))
    return int(order.bisect_left(key) if exclusive else order.bisect_right(key))


def scan_score(score: float, big: bool) -> bytes:
    """A score as ZSCAN shows it: listpack stores integral scores (|s| <= 2^62) as integers."""
    if not big and score.is_integer() and -4611686018427387904.0 <= score <= 4611686018427387904.0:
        return b"%d" % int(score)
    return format_float(score)


# --- the registered type ------------------------------------------------------------------
def _encoding(z: ZSet) -> str:
    return "skiplist" if z.big else "listpack"


def _copy(z: ZSet) -> ZSet:
    c = ZSet(z.big)
    c.scores = dict(z.scores)
    c.order = SortedList(z.order)
    return c


def _dump(z: ZSet) -> list[Any]:
    """``[big, member, score, member, score, ...]`` in score order (deterministic)."""
    out: list[Any] = [1 if z.big else 0]
    for score, member in z.order:
        out.append(member)
        out.append(score)
    return out


def _load(data: list[Any]) -> ZSet:
    z = ZSet(bool(data[0]))
    members = data[1::2]
    scores = [float(s) for s in data[2::2]]
    z.scores = dict(zip(members, scores, strict=True))
    z.order = SortedList(zip(scores, members, strict=True))
    return z


ZSET_TYPE = TypeSpec(
    name="zset", pytype=ZSet, encoding=_encoding, copy=_copy, dump=_dump, load=_load
)
