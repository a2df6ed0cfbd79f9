"""Terminal helpers of the offline tools: a progress bar, safe display of arguments, times.

Rules:

- `Progress` draws on stderr only when stderr is a terminal (never into a pipe or a log
  file), at most ten times a second, and erases its line when done.
- `show_arg` never lets a byte through that a terminal would interpret: everything outside
  printable ASCII is escaped (redis-cli's quoting), and long arguments are cut with a note of
  how many bytes were left out.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

#: Bytes of one argument shown before it is cut.
ARG_SHOW: Final = 96
#: Arguments of one command shown before the rest is summarised.
ARGS_SHOW: Final = 24

_ESCAPES: Final = {
    0x5C: "\\\\", 0x22: '\\"', 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x07: "\\a", 0x08: "\\b",
}


class ToolError(Exception):
    """What a tool reports to its user before exiting with status 1: the message says what
    went wrong and, where there is one, what to do."""


def quote(data: bytes, limit: int = ARG_SHOW) -> str:
    """``data`` in double quotes with non-printable bytes escaped; past ``limit`` bytes cut,
    with ``…(+N bytes)`` after the closing quote."""
    shown = data[:limit]
    out = ['"']
    for b in shown:
        esc = _ESCAPES.get(b)
        if esc is not None:
            out.append(esc)
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    out.append('"')
    if len(data) > limit:
        out.append(f"…(+{len(data) - limit} bytes)")
    return "".join(out)


def show_arg(arg: bytes) -> str:
    """One argument for display: bare if it is a plain word, else `quote`d."""
    if arg and len(arg) <= ARG_SHOW and all(
        0x21 <= b < 0x7F and b not in (0x22, 0x27, 0x5C) for b in arg
    ):
        return arg.decode("ascii")
    return quote(arg)


def show_argv(argv: list[bytes]) -> str:
    """A command line for display (see `show_arg`); past `ARGS_SHOW` arguments, the rest is
    counted, not shown."""
    parts = [show_arg(a) for a in argv[:ARGS_SHOW]]
    if len(argv) > ARGS_SHOW:
        parts.append(f"…(+{len(argv) - ARGS_SHOW} args)")
    return " ".join(parts)


def show_time(ms: int) -> str:
    """Milliseconds since the epoch as an ISO 8601 UTC time (``…Z``)."""
    try:
        t = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return f"{ms}ms"
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def parse_time(text: str) -> int:
    """A time given on the command line: milliseconds since the epoch, or ISO 8601 (UTC
    unless it carries an offset). ValueError when it is neither."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"bad time {text!r}: expected milliseconds since the epoch or an "
                         "ISO 8601 time such as 2026-11-26T10:00:00Z") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(t.timestamp() * 1000)


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
