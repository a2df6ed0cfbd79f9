"""Shared parsing of the SCAN family's arguments: ``cursor [MATCH p] [COUNT n] [TYPE t]``."""

from __future__ import annotations

from dataclasses import dataclass

from gofish import errors
from gofish.errors import CommandError
from gofish.statemachine.args import to_int

_UINT64_MAX = (1 << 64) - 1


@dataclass(slots=True)
class ScanArgs:
    cursor: int
    match: bytes | None = None
    count: int = 10
    type: bytes | None = None
    novalues: bool = False


def parse_cursor(arg: bytes) -> int:
    """Redis's cursor rule (C's ``strtoul``): optional sign then decimal digits; an empty string
    is 0; ``-N`` wraps to 2**64 - N; anything else, or more than 64 bits, is
    ``ERR invalid cursor``."""
    if not arg:
        return 0
    sign = arg[:1]
    digits = arg[1:] if sign in (b"+", b"-") else arg
    if not digits.isdigit() or not digits.isascii():
        raise CommandError(errors.INVALID_CURSOR)
    v = int(digits)
    if v > _UINT64_MAX:
        raise CommandError(errors.INVALID_CURSOR)
    if sign == b"-" and v:
        v = (1 << 64) - v
    return v


def parse_scan_args(argv: list[bytes], cursor_pos: int, allow_type: bool = False) -> ScanArgs:
    """Parse ``argv[cursor_pos]`` and the options after it; raises Redis's errors."""
    sa = ScanArgs(parse_cursor(argv[cursor_pos]))
    i = cursor_pos + 1
    n = len(argv)
    while i < n:
        opt = argv[i].lower()
        left = n - i - 1
        if opt == b"count" and left >= 1:
            count = to_int(argv[i + 1])
            if count is None:
                raise CommandError(errors.NOT_INTEGER)
            if count < 1:
                raise CommandError(errors.SYNTAX)
            sa.count = count
            i += 2
        elif opt == b"match" and left >= 1:
            sa.match = argv[i + 1]
            i += 2
        elif opt == b"type" and left >= 1 and allow_type:
            sa.type = argv[i + 1]
            i += 2
        else:
            raise CommandError(errors.SYNTAX)
    return sa
