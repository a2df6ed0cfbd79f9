"""INCRBYFLOAT's arithmetic: Redis 7.0 on x86-64, emulated exactly with integers.

Redis parses both operands with ``strtold`` into an x87 80-bit ``long double`` (64-bit
significand), adds them in that format and prints the sum with ``"%.17Lf"``, then strips
trailing zeros (and a trailing dot) and turns ``-0`` into ``0`` (``ld2string``,
``LD_STR_HUMAN``). A hardware float differs between platforms (ARM has no 80-bit type, MSVC maps
``long double`` to ``double``), so gofish never uses one here: every step is exact integer
arithmetic followed by the rounding the hardware would do. The result is therefore the same on
every node and every platform, which is what lets the apply compute INCRBYFLOAT instead of the
leader logging its result (docs/adr/0004-deterministic-apply.md).

Model. A finite value is ``sign, m, e`` meaning ``(-1)**sign * m * 2**e`` with ``0 <= m < 2**64``;
a normal value has ``2**63 <= m``; the smallest quantum is ``2**-16445`` (subnormals) and the
largest finite value is ``(2**64 - 1) * 2**16320``. Rounding is to nearest, ties to even, as
both glibc's ``strtold`` and the x87 adder do by default.

Rules of ``string2ld`` (Redis 7.0 ``util.c``) reproduced by `parse_long_double`:

- empty input, input of 5120 bytes or more, a leading space, anything ``strtold`` does not
  consume completely (trailing bytes, an embedded NUL) → not a float;
- decimal (``1``, ``-.5``, ``5.``, ``1e-3``) and hexadecimal (``0x1.8p3``) forms, ``inf`` /
  ``infinity`` in any case, with an optional sign; ``nan`` is refused;
- a non-zero number that rounds to zero (underflow) or overflows is refused; subnormal results
  are accepted; ``inf`` itself is accepted (the addition then fails with "NaN or Infinity").
"""

from __future__ import annotations

from typing import NamedTuple

_P = 64  # significand bits
_EMIN_Q = -16445  # exponent of the smallest subnormal quantum (1 - 16383 - 63)
_EMAX_Q = 16320  # exponent of the largest finite value's quantum (16383 - 63)
_TWO_P = 1 << _P
_TWO_P1 = 1 << (_P - 1)
MAX_CHARS = 5 * 1024  # Redis MAX_LONG_DOUBLE_CHARS
_FRAC_DIGITS = 17
_TEN_FRAC = 10**_FRAC_DIGITS
_CHUNK = 1000  # decimal digits per chunk: Python limits int<->str conversions to 4300 digits
_TEN_CHUNK = 10**_CHUNK


class LongDouble(NamedTuple):
    """An x87 extended value: ``(-1)**sign * m * 2**e``, or an infinity when ``inf``."""

    sign: int
    m: int
    e: int
    inf: bool = False

    @property
    def is_zero(self) -> bool:
        return self.m == 0 and not self.inf


_SPACES = b" \t\n\v\f\r"
_HEX = b"0123456789abcdefABCDEF"


def parse_long_double(s: bytes) -> LongDouble | None:
    """Redis 7.0 ``string2ld``: the value ``strtold`` gives for ``s``, or None if refused."""
    n = len(s)
    if n == 0 or n >= MAX_CHARS or s[0] in _SPACES:
        return None
    i = 0
    sign = 0
    if s[0] in b"+-":
        sign = 1 if s[0] == 45 else 0
        i = 1
    rest = s[i:]
    low = rest.lower()
    if low in (b"inf", b"infinity"):
        return LongDouble(sign, 0, 0, True)
    if low[:2] == b"0x":
        return _parse_hex(sign, rest[2:])
    return _parse_dec(sign, rest)


def _split_mantissa(body: bytes, digits: bytes) -> tuple[bytes, bytes, bytes] | None:
    """``int part, fraction part, remainder`` of a mantissa over ``digits``; None if empty."""
    j = 0
    n = len(body)
    while j < n and body[j] in digits:
        j += 1
    int_part = body[:j]
    frac_part = b""
    if j < n and body[j] == 46:  # '.'
        k = j + 1
        while k < n and body[k] in digits:
            k += 1
        frac_part = body[j + 1 : k]
        j = k
    if not int_part and not frac_part:
        return None
    return int_part, frac_part, body[j:]


def _parse_exponent(tail: bytes, marker: bytes) -> int | None:
    """The exponent of ``tail`` (which must be all of it), 0 if empty, None if malformed."""
    if not tail:
        return 0
    if tail[:1].lower() != marker:
        return None
    t = tail[1:]
    if t[:1] in (b"+", b"-"):
        digits = t[1:]
    else:
        digits = t
    if not digits.isdigit():
        return None
    digits = digits.lstrip(b"0") or b"0"
    if len(digits) > 12:  # far beyond any representable exponent: clamp, keep the sign
        value = 10**12
    else:
        value = int(digits)
    return -value if t[:1] == b"-" else value


def _parse_dec(sign: int, body: bytes) -> LongDouble | None:
    parts = _split_mantissa(body, b"0123456789")
    if parts is None:
        return None
    int_part, frac_part, tail = parts
    exp = _parse_exponent(tail, b"e")
    if exp is None:
        return None
    significant = (int_part + frac_part).lstrip(b"0")
    if not significant:
        return LongDouble(sign, 0, 0)
    digits = significant.rstrip(b"0")
    # value = int(digits) * 10**exp10
    exp10 = exp - len(frac_part) + (len(significant) - len(digits))
    nd = len(digits)
    # value < 10**(nd + exp10) and value >= 10**(nd - 1 + exp10)
    if nd + exp10 <= -4951:  # below half the smallest subnormal (about 1.8e-4951)
        return None  # underflow: strtold returns 0 with ERANGE, Redis refuses
    if nd - 1 + exp10 >= 4933:  # above the largest finite value (about 1.19e4932)
        return None  # overflow: HUGE_VALL with ERANGE, Redis refuses
    big = _int_from_digits(digits)
    if exp10 >= 0:
        return _round(sign, big * 10**exp10, 1)
    return _round(sign, big, 10**-exp10)


def _parse_hex(sign: int, body: bytes) -> LongDouble | None:
    parts = _split_mantissa(body, _HEX)
    if parts is None:
        return None  # "0x" alone: strtold reads "0" and stops at the x
    int_part, frac_part, tail = parts
    exp = _parse_exponent(tail, b"p")
    if exp is None:
        return None
    digits = (int_part + frac_part).lstrip(b"0")
    if not digits:
        return LongDouble(sign, 0, 0)
    mant = int(digits, 16)
    exp2 = exp - 4 * len(frac_part)
    top = mant.bit_length() + exp2  # value in [2**(top-1), 2**top)
    if top > 16384:
        return None
    if top < _EMIN_Q - 1:
        return None
    if exp2 >= 0:
        return _round(sign, mant << exp2, 1)
    return _round(sign, mant, 1 << -exp2)


def _round(sign: int, num: int, den: int) -> LongDouble | None:
    """Round the positive rational ``num/den`` to a long double; None on overflow/underflow.

    Underflow here means a non-zero value rounding to zero, which ``strtold`` reports with
    ERANGE; the adder instead produces zero, so `add` handles zero sums before calling this.
    """
    e = num.bit_length() - den.bit_length() - _P
    # Choose e with 2**63 <= num / (den * 2**e) < 2**64.
    while True:
        if e >= 0:
            q = num // (den << e)
        else:
            q = (num << -e) // den
        if q >= _TWO_P:
            e += 1
        elif q < _TWO_P1:
            e -= 1
        else:
            break
    if e < _EMIN_Q:
        e = _EMIN_Q
    if e >= 0:
        d = den << e
        q, r = divmod(num, d)
    else:
        d = den
        q, r = divmod(num << -e, den)
    twice = r << 1
    if twice > d or (twice == d and q & 1):
        q += 1
    if q == _TWO_P:
        q = _TWO_P1
        e += 1
    if e > _EMAX_Q:
        return None
    if q == 0:
        return None
    return LongDouble(sign, q, e)


def add(a: LongDouble, b: LongDouble) -> LongDouble | None:
    """``a + b`` as the x87 adder computes it; None for a NaN or infinite result."""
    if a.inf or b.inf:
        return None  # inf + x is inf, inf - inf is NaN: both refused by INCRBYFLOAT
    if a.m == 0 and b.m == 0:
        # IEEE: -0 + -0 = -0, any other sum of zeros is +0 (round to nearest).
        return LongDouble(a.sign & b.sign, 0, 0)
    if a.m == 0:
        return b
    if b.m == 0:
        return a
    e = min(a.e, b.e)
    va = a.m << (a.e - e)
    vb = b.m << (b.e - e)
    total = (-va if a.sign else va) + (-vb if b.sign else vb)
    if total == 0:
        return LongDouble(0, 0, 0)
    sign = 1 if total < 0 else 0
    total = abs(total)
    # The exact sum is total * 2**e with e >= _EMIN_Q: rounding never underflows to zero.
    if e >= 0:
        return _round(sign, total << e, 1)
    return _round(sign, total, 1 << -e)


def format_human(v: LongDouble) -> bytes:
    """``ld2string(LD_STR_HUMAN)``: ``%.17Lf``, trailing zeros and dot removed, ``-0`` → ``0``."""
    if v.inf:
        return b"-inf" if v.sign else b"inf"
    m, e = v.m, v.e
    if e >= 0:
        q = (m << e) * _TEN_FRAC
    else:
        d = 1 << -e
        q, r = divmod(m * _TEN_FRAC, d)
        twice = r << 1
        if twice > d or (twice == d and q & 1):
            q += 1
    whole, frac = divmod(q, _TEN_FRAC)
    text = _int_to_digits(whole)
    if frac:
        text += b"." + (b"%017d" % frac).rstrip(b"0")
    if v.sign and text != b"0":
        text = b"-" + text
    return text


def _int_from_digits(digits: bytes) -> int:
    """``int(digits)`` without Python's 4300-digit conversion limit."""
    if len(digits) <= _CHUNK:
        return int(digits)
    value = 0
    head = len(digits) % _CHUNK or _CHUNK
    value = int(digits[:head])
    for i in range(head, len(digits), _CHUNK):
        value = value * _TEN_CHUNK + int(digits[i : i + _CHUNK])
    return value


def _int_to_digits(value: int) -> bytes:
    """Decimal digits of a non-negative int without Python's 4300-digit conversion limit."""
    if value < _TEN_CHUNK:
        return b"%d" % value
    parts: list[bytes] = []
    while value >= _TEN_CHUNK:
        value, low = divmod(value, _TEN_CHUNK)
        parts.append(b"%0*d" % (_CHUNK, low))
    parts.append(b"%d" % value)
    return b"".join(reversed(parts))
