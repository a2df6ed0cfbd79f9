"""Redis's glob-style pattern matching (``stringmatchlen``) for KEYS, SCAN MATCH, PSUBSCRIBE.

``*`` any run, ``?`` one byte, ``[abc]``, ``[^abc]``, ``[a-z]`` classes, ``\\x`` escapes ``x``.
Patterns are compiled to regular expressions once and cached.
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=1024)
def _compile(pattern: bytes, nocase: bool) -> re.Pattern[bytes]:
    out = bytearray()
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i : i + 1]
        if c == b"*":
            while i + 1 < n and pattern[i + 1 : i + 2] == b"*":
                i += 1
            out += b".*"
        elif c == b"?":
            out += b"."
        elif c == b"\\" and i + 1 < n:
            i += 1
            out += re.escape(pattern[i : i + 1])
        elif c == b"[":
            i += 1
            negate = i < n and pattern[i : i + 1] == b"^"
            if negate:
                i += 1
            items = bytearray()
            while i < n and pattern[i : i + 1] != b"]":
                ch = pattern[i : i + 1]
                if ch == b"\\" and i + 1 < n:
                    i += 1
                    items += re.escape(pattern[i : i + 1])
                elif (
                    i + 2 < n
                    and pattern[i + 1 : i + 2] == b"-"
                    and pattern[i + 2 : i + 3] != b"]"
                ):
                    lo, hi = pattern[i], pattern[i + 2]
                    if lo > hi:
                        lo, hi = hi, lo
                    items += re.escape(bytes([lo])) + b"-" + re.escape(bytes([hi]))
                    i += 2
                else:
                    items += re.escape(ch)
                i += 1
            # An unterminated class runs to the end of the pattern, as in Redis.
            if not items:
                out += b"[^\\s\\S]" if not negate else b"[\\s\\S]"
            else:
                out += b"[" + (b"^" if negate else b"") + bytes(items) + b"]"
        else:
            out += re.escape(c)
        i += 1
    flags = re.DOTALL | (re.IGNORECASE if nocase else 0)
    return re.compile(bytes(out), flags)


def glob_match(pattern: bytes, subject: bytes, nocase: bool = False) -> bool:
    """True if ``subject`` matches the Redis glob ``pattern`` as a whole."""
    if pattern == b"*":
        return True
    return _compile(pattern, nocase).fullmatch(subject) is not None
