"""Argument parsing with Redis's exact rules and errors, shared by every data type."""

from __future__ import annotations

import math
import re

from gofish import errors
from gofish.errors import CommandError

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

_FLOAT_RE = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INF = {b"inf": math.inf, b"+inf": math.inf, b"-inf": -math.inf, b"infinity": math.inf,
        b"+infinity": math.inf, b"-infinity": -math.inf}


def to_int(arg: bytes) -> int | None:
    """Redis's string2ll: a canonical signed 64-bit decimal, or None.

    No sign '+', no leading zeros (except "0"), no spaces, at most 20 characters.
    """
    n = len(arg)
    if n == 0 or n > 20:
        return None
    if n == 1:
        c = arg[0]
        return c - 48 if 48 <= c <= 57 else None
    first = arg[1] if arg[0] == 45 else arg[0]  # after an optional '-'
    if not (49 <= first <= 57):
        return None
    if not arg.lstrip(b"-").isdigit() or arg.count(b"-") > 1:
        return None
    v = int(arg)
    if v < INT64_MIN or v > INT64_MAX:
        return None
    return v


def parse_int(arg: bytes, error: bytes = errors.NOT_INTEGER) -> int:
    """A 64-bit integer argument, else `CommandError` (default: not an integer)."""
    v = to_int(arg)
    if v is None:
        raise CommandError(error)
    return v


def to_float(arg: bytes) -> float | None:
    """Redis's strtod-based parse: decimal or inf forms, no spaces, no NaN; or None."""
    if _FLOAT_RE.fullmatch(arg):
        v = float(arg)
        return v
    inf = _INF.get(arg.lower())
    return inf


def parse_float(arg: bytes, error: bytes = errors.NOT_FLOAT) -> float:
    v = to_float(arg)
    if v is None:
        raise CommandError(error)
    return v


def parse_timeout(arg: bytes) -> float:
    """A blocking command's timeout in seconds (0 = forever), as Redis 7.0 reads it:
    ``strtold``, then ``(long long) ceill(v * 1000)`` milliseconds, where an infinite or
    overflowing value becomes LLONG_MIN (x86) and so "timeout is negative"; a tiny negative
    rounds up to 0 (forever); ``1e-5`` is 1 ms."""
    from fractions import Fraction

    from gofish.statemachine.longdouble import parse_long_double

    v = parse_long_double(arg)
    if v is None:
        raise CommandError(errors.TIMEOUT_NOT_FLOAT)
    if v.inf:
        raise CommandError(errors.TIMEOUT_NEGATIVE)
    exact = Fraction(v.m) * (Fraction(2) ** v.e)
    if v.sign:
        exact = -exact
    ms = math.ceil(exact * 1000)
    if ms < 0 or ms > INT64_MAX:  # negative, or LLONG_MIN after an overflowing cast
        raise CommandError(errors.TIMEOUT_NEGATIVE)
    return ms / 1000


def format_float(v: float) -> bytes:
    """``%.17g`` as Redis 7.0 replies doubles (ZSCORE in RESP2), inf as ``inf``/``-inf``."""
    if math.isinf(v):
        return b"inf" if v > 0 else b"-inf"
    return b"%.17g" % v


def upper(arg: bytes) -> bytes:
    return arg.upper()
