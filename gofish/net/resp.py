"""RESP codec: client requests in, replies out. Sans-IO: no sockets, no event loop, no clocks.

Requests (`RequestParser`)
--------------------------
Bytes go in with `RequestParser.feed`; complete commands come out of `RequestParser.next` (one,
or None when more data is needed) or `RequestParser.next_batch` (up to *limit*, possibly none).
A command is a non-empty ``list[bytes]``. Empty requests (``*0``, ``*-1``, blank inline lines)
are skipped, as Redis does.

The accepted language is exactly Redis 7.0's (``processInputBuffer`` in ``networking.c``):

- A request starting with ``*`` is a multibulk array of ``$`` bulk strings. Any other first
  byte starts an inline command: one line, split like ``sdssplitargs`` (blanks separate
  arguments; ``"..."`` understands ``\\xHH``, ``\\n``, ``\\r``, ``\\t``, ``\\b``, ``\\a`` and
  ``\\<any>``; ``'...'`` understands ``\\'``; a closing quote must be followed by a blank).
- Header lines end at the first CR (the byte after it is skipped unchecked); the two bytes after
  a bulk payload are skipped unchecked; a NUL byte hides any later line end, as ``strchr`` does.
- Errors raise `gofish.errors.ProtocolError` whose ``message`` is the exact Redis reply
  (``ERR Protocol error: invalid bulk length`` ...). Commands completed before the bad bytes are
  returned first; the error is raised by the following call and by every call after it: the
  connection is finished.
- Limits: a ``$`` length above *proto_max_bulk_len* or a ``*`` count above 2**31-1 is invalid;
  a header or inline line longer than 64 KiB without its line end is "too big"; with
  `RequestParser.auth_required` set, more than 10 arguments or a bulk above 2000 bytes is refused
  as Redis refuses unauthenticated clients. More than *query_buffer_limit* unparsed bytes makes
  `RequestParser.feed` raise `QueryBufferLimitError`: close the client without a reply.

Inside, hiredis parses runs of complete multibulk commands (fed at most 256 KiB at a time:
larger feeds make it much slower). hiredis also accepts RESP3 types and other element types
that Redis refuses, so each command it returns is checked against the bytes it came from: the
array and every element header must sit at the offsets a canonical ``*``/``$`` encoding of that
command gives. Anything else (inline commands, errors, over-limit headers, a command still
incomplete at the end of the data, aggregate headers with 6+ digit counts, which hiredis would
allocate a list for at once) goes through a Python port of Redis's own state machine, which
keeps its state across feeds, so a large value arriving in many reads is copied once.

Replies (`encode`, `encode_many`, `write_reply`)
------------------------------------------------
Values are those of `gofish.reply`; the table there gives their RESP2 and RESP3 forms.
Anything else (``bool``, ``str``, ``float``, ``dict`` ...) raises ``TypeError``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any, Final

import hiredis

from gofish.errors import ProtocolError
from gofish.reply import (
    OK,
    PONG,
    QUEUED,
    Double,
    ErrorReply,
    Map,
    Pairs,
    Push,
    SetReply,
    Status,
    Verbatim,
    _NullArray,
)

__all__ = [
    "DEFAULT_PROTO_MAX_BULK_LEN",
    "DEFAULT_QUERY_BUFFER_LIMIT",
    "INLINE_MAX_SIZE",
    "MAX_MULTIBULK_LEN",
    "QueryBufferLimitError",
    "RequestParser",
    "encode",
    "encode_many",
    "write_reply",
]

INLINE_MAX_SIZE: Final = 64 * 1024  # PROTO_INLINE_MAX_SIZE
MAX_MULTIBULK_LEN: Final = 2**31 - 1  # INT_MAX
DEFAULT_PROTO_MAX_BULK_LEN: Final = 512 << 20
DEFAULT_QUERY_BUFFER_LIMIT: Final = 1 << 30
UNAUTH_MAX_ARGS: Final = 10
UNAUTH_MAX_BULK: Final = 2000
_FEED_MAX: Final = 256 * 1024
_LL_MAX: Final = 2**63 - 1
_LL_MIN: Final = -(2**63)
_TABLE: Final = 16384

# Wire length of "*<n>\r\n" and of "$<len>\r\n<payload>\r\n", by n and by len.
_HDR_WIRE: Final = [3 + len(str(i)) for i in range(_TABLE)]
_BULK_WIRE: Final = [i + 5 + len(str(i)) for i in range(_TABLE)]

_LL_RE: Final = re.compile(rb"0|-?[1-9][0-9]*")
# hiredis allocates a list of n slots as soon as it reads an aggregate header "*n" (also "~n",
# ">n", "|n"); with no way to cap n, a 15-byte request could cost seconds of CPU. Such headers
# (6 digits or more) are kept away from it: the exact parser reads them.
_BIG_ARRAY: Final = re.compile(rb"\*[0-9]{6}")
_BIG_AGGREGATE: Final = re.compile(rb"[*~>|][0-9]{6}")
_SPACE: Final = frozenset(b" \t\n\r\x0b\x0c")  # C isspace()
_TOKEN_END: Final = frozenset(b" \n\r\t")  # sdssplitargs: unquoted token ends (and NUL)
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
_ESCAPES: Final = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}


class QueryBufferLimitError(Exception):
    """More unparsed client input than the query buffer limit: close the client, no reply."""


class _ByteProtocolError(ProtocolError):
    """A protocol error whose detail quotes a raw client byte (``expected '$', got '\\xff'``)."""

    def __init__(self, raw: bytes) -> None:
        super().__init__(raw.decode("latin-1"))
        self._raw = raw

    @property
    def message(self) -> bytes:
        return b"ERR Protocol error: " + self._raw


def _string2ll(s: bytes | bytearray) -> int | None:
    """Redis's ``string2ll``: strict decimal (no sign +, no leading zero, no blanks) or None."""
    if len(s) >= 21 or not _LL_RE.fullmatch(s):
        return None
    v = int(s)
    return v if _LL_MIN <= v <= _LL_MAX else None


def _line_end(buf: bytes | bytearray, pos: int, char: bytes) -> int:
    """``strchr(buf + pos, char)``: the index of *char*, or -1 if absent or after a NUL byte."""
    i = buf.find(char, pos)
    if i > pos and buf.find(b"\0", pos, i) >= 0:
        return -1
    return i


def _split_args(line: bytes) -> list[bytes]:
    """Split an inline request line like Redis's ``sdssplitargs``."""
    if b'"' not in line and b"'" not in line and b"\x0b" not in line and b"\x0c" not in line:
        return line.split()
    return _split_args_quoted(line)


def _unbalanced() -> ProtocolError:
    return ProtocolError("unbalanced quotes in request")


def _split_args_quoted(line: bytes) -> list[bytes]:
    n = len(line)

    def at(j: int) -> int:  # C string semantics: reading past the end gives NUL
        return line[j] if j < n else 0

    args: list[bytes] = []
    i = 0
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return args
        cur = bytearray()
        inq = insq = done = False
        while not done:
            c = at(i)
            if inq:
                if c == 92 and at(i + 1) == 120 and at(i + 2) in _HEX and at(i + 3) in _HEX:
                    cur.append(int(line[i + 2 : i + 4], 16))
                    i += 3
                elif c == 92 and at(i + 1):
                    i += 1
                    cur.append(_ESCAPES.get(line[i], line[i]))
                elif c == 34:
                    if at(i + 1) and at(i + 1) not in _SPACE:
                        raise _unbalanced()
                    done = True
                elif c == 0:
                    raise _unbalanced()
                else:
                    cur.append(c)
            elif insq:
                if c == 92 and at(i + 1) == 39:
                    i += 1
                    cur.append(39)
                elif c == 39:
                    if at(i + 1) and at(i + 1) not in _SPACE:
                        raise _unbalanced()
                    done = True
                elif c == 0:
                    raise _unbalanced()
                else:
                    cur.append(c)
            elif c == 0 or c in _TOKEN_END:
                done = True
            elif c == 34:
                inq = True
            elif c == 39:
                insq = True
            else:
                cur.append(c)
            if i < n:
                i += 1
        args.append(bytes(cur))


class RequestParser:
    """Incremental parser of one client's request stream (see the module docstring).

    Not thread-safe; one instance per connection. ``feed`` may be called at any time, also
    between ``next_batch`` calls that stopped at their limit.
    """

    __slots__ = (
        "_buf", "_pos", "_fed", "_reader", "_hiredis", "_exact_next", "_mb_left", "_bulklen",
        "_args", "_args_bytes", "_error", "_max_bulk", "_qlimit", "_quick", "_auth_required",
        "failed",
    )

    def __init__(
        self,
        *,
        proto_max_bulk_len: int = DEFAULT_PROTO_MAX_BULK_LEN,
        query_buffer_limit: int = DEFAULT_QUERY_BUFFER_LIMIT,
    ) -> None:
        self._buf: bytes | bytearray = b""  # unparsed input starts at _pos
        self._pos = 0
        self._fed = 0  # _buf[_pos:_fed] has been fed to hiredis (while _hiredis)
        self._reader: Any = None  # a hiredis.Reader that holds no byte before _pos, or None
        self._hiredis = False  # hiredis is parsing from _pos
        self._exact_next = False  # the command at _pos must go through the exact parser
        self._mb_left = 0  # exact parser inside a multibulk: elements still to read
        self._bulklen = -1  # exact parser: length of the bulk being read, -1 before its header
        self._args: list[bytes] = []  # exact parser: the arguments read so far
        self._args_bytes = 0
        self._error: ProtocolError | None = None
        self.failed = False  # malformed input was seen: every further parse call raises
        self._max_bulk = proto_max_bulk_len
        self._qlimit = query_buffer_limit
        self._auth_required = False
        self._quick = proto_max_bulk_len  # commands with a wire size up to this skip checks

    @property
    def auth_required(self) -> bool:
        """When True, apply Redis's limits for unauthenticated clients (10 args, 2000 bytes)."""
        return self._auth_required

    @auth_required.setter
    def auth_required(self, value: bool) -> None:
        self._auth_required = value
        self._quick = -1 if value else self._max_bulk

    @property
    def pending(self) -> int:
        """Bytes received and not yet returned as commands (CLIENT LIST ``qbuf``)."""
        return len(self._buf) - self._pos + self._args_bytes

    @property
    def drained(self) -> bool:
        """No unparsed input and no pending error: `next_batch` would return []."""
        return self._pos >= len(self._buf) and not self.failed

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append client input. Raises `QueryBufferLimitError` past the query buffer limit."""
        if not data:
            return
        buf = self._buf
        pos = self._pos
        if pos >= len(buf):
            self._buf = data if type(data) is bytes else bytes(data)
            self._pos = self._fed = 0
        else:
            if type(buf) is not bytearray or (pos > 4096 and 2 * pos > len(buf)):
                buf = bytearray(memoryview(buf)[pos:])
                self._pos = 0
                self._fed = max(self._fed - pos, 0)
                self._buf = buf
            buf += data
        if len(self._buf) - self._pos + self._args_bytes > self._qlimit:
            raise QueryBufferLimitError(self.pending)

    def next(self) -> list[bytes] | None:
        """The next complete command, or None if more data is needed. Raises ProtocolError."""
        batch = self.next_batch(1)
        return batch[0] if batch else None

    def next_batch(self, limit: int = 1024) -> list[list[bytes]]:
        """Up to *limit* complete commands, in order ([] if more data is needed).

        If the input turns out to be malformed after some commands, those are returned and
        the `ProtocolError` is raised by the next call.
        """
        if self.failed:
            raise self._error  # type: ignore[misc]
        out: list[list[bytes]] = []
        buf = self._buf
        end = len(buf)
        pos = self._pos
        try:
            while pos < end and (not out or len(out) < limit):
                if self._hiredis:
                    pos = self._from_hiredis(buf, pos, out, limit)
                elif self._mb_left or self._exact_next or buf[pos] != 42:
                    cmd, pos = self._exact_one(buf, pos)
                    if cmd is None:
                        break
                    self._exact_next = False
                    if cmd:
                        out.append(cmd)
                else:  # a multibulk starts at pos: hand it to hiredis
                    if self._reader is None:
                        self._reader = hiredis.Reader()
                    if self._feed_hiredis(buf, pos, pos):
                        self._hiredis = True
                        pos = self._from_hiredis(buf, pos, out, limit)
                    else:
                        self._exact_next = True
        except ProtocolError as e:
            self._fail(e)
            if not out:
                raise
            return out
        if pos >= end:
            self._buf = b""
            self._pos = self._fed = 0
        else:
            self._pos = pos
        return out

    def _fail(self, e: ProtocolError) -> None:
        self._error = e
        self.failed = True
        self._buf = b""
        self._pos = self._fed = 0
        self._reader = None
        self._hiredis = False

    def _from_hiredis(
        self, buf: bytes | bytearray, pos: int, out: list[list[bytes]], limit: int
    ) -> int:
        """Take commands from hiredis until *limit* or the end of the data; return the new
        position. Each command must be the canonical encoding of itself at *pos*: ``*<n>``
        there and ``$`` at each element's offset (hiredis also accepts element types Redis
        refuses). Leaves hiredis mode at the end of the data (keeping the reader if it stopped
        at a command boundary) or at anything the exact parser must look at."""
        gets = self._reader.gets
        hdr_wire = _HDR_WIRE
        bulk_wire = _BULK_WIRE
        quick = self._quick
        room = limit - len(out)
        append = out.append
        end = len(buf)
        fed = self._fed
        while True:
            try:
                cmd = gets()
            except hiredis.ProtocolError:
                break
            if type(cmd) is list:
                try:
                    if buf[pos] == 42:
                        q = pos + hdr_wire[len(cmd)]
                        for a in cmd:
                            if buf[q] != 36:
                                q = -1
                                break
                            q += bulk_wire[len(a)]
                    else:
                        q = -1
                except (IndexError, TypeError):
                    q = _canonical_end(buf, pos, cmd)
                if q < 0 or (q - pos > quick and not self._within_limits(cmd)):
                    break
                pos = q
                if cmd:
                    append(cmd)
                    room -= 1
                if pos == fed == end:  # hiredis has used up all data, cleanly
                    self._hiredis = False
                    return pos
                if not room:
                    return pos
            elif cmd is False:
                if fed < end and self._feed_hiredis(buf, pos, fed):
                    fed = self._fed
                    continue
                self._hiredis = False
                if pos < end:  # an incomplete command: the exact parser takes it from here
                    self._reader = None
                    self._exact_next = True
                return pos
            else:
                break
        # hiredis failed, or returned what Redis would not parse the same: exact parser.
        self._hiredis = False
        self._reader = None
        self._exact_next = True
        return pos

    def _feed_hiredis(self, buf: bytes | bytearray, pos: int, start: int) -> int:
        """Feed hiredis the next slice of *buf* from *start* (at most 256 KiB, stopping before
        any big aggregate header); return how many bytes were fed. *pos* is where the command
        hiredis is parsing began: a big header after it, even if partly fed, stops feeding."""
        end = len(buf)
        if start == 0 and end <= _FEED_MAX:  # the common case: a whole (small) read
            odd = 126 in buf or 62 in buf or 124 in buf
            m = (_BIG_AGGREGATE if odd else _BIG_ARRAY).search(buf)
            if m is None:
                self._reader.feed(buf)
                self._fed = end
                return end
            stop = m.start()
        else:
            stop = start + _FEED_MAX if end - start > _FEED_MAX else end
            lo = start - 7 if start - 7 > pos else pos  # a header straddling two slices
            hi = stop + 7 if end - stop > 7 else end
            # "~ > |" are rare: when absent, a literal-prefix search (fast) finds a big "*n".
            find = buf.find
            odd = find(b"~", lo, hi) >= 0 or find(b">", lo, hi) >= 0 or find(b"|", lo, hi) >= 0
            m = (_BIG_AGGREGATE if odd else _BIG_ARRAY).search(buf, lo, hi)
            if m is not None and m.start() < stop:
                stop = m.start() if m.start() > start else start
        if stop > start:
            self._reader.feed(buf, start, stop - start)
        self._fed = stop
        return stop - start

    def _within_limits(self, cmd: list[bytes]) -> bool:
        longest = max(map(len, cmd), default=0)
        if longest > self._max_bulk:
            return False
        if self._auth_required:
            return len(cmd) <= UNAUTH_MAX_ARGS and longest <= UNAUTH_MAX_BULK
        return True

    def _exact_one(
        self, buf: bytes | bytearray, pos: int
    ) -> tuple[list[bytes] | None, int]:
        """Redis's state machine for one request: (command or None if incomplete, new pos)."""
        end = len(buf)
        if not self._mb_left:
            if buf[pos] != 42:  # inline
                nl = _line_end(buf, pos, b"\n")
                if nl < 0:
                    if end - pos > INLINE_MAX_SIZE:
                        raise ProtocolError("too big inline request")
                    return None, pos
                stop = nl - 1 if nl > pos and buf[nl - 1] == 13 else nl
                return _split_args(bytes(buf[pos:stop])), nl + 1
            cr = _line_end(buf, pos, b"\r")
            if cr < 0:
                if end - pos > INLINE_MAX_SIZE:
                    raise ProtocolError("too big mbulk count string")
                return None, pos
            if cr + 2 > end:
                return None, pos
            n = _string2ll(buf[pos + 1 : cr])
            if n is None or n > MAX_MULTIBULK_LEN:
                raise ProtocolError("invalid multibulk length")
            if n > UNAUTH_MAX_ARGS and self._auth_required:
                raise ProtocolError("unauthenticated multibulk length")
            pos = cr + 2
            if n <= 0:
                return [], pos
            self._mb_left = n
            self._args = []
        args = self._args
        while self._mb_left:
            size = self._bulklen
            if size < 0:
                cr = _line_end(buf, pos, b"\r")
                if cr < 0:
                    if end - pos > INLINE_MAX_SIZE:
                        raise ProtocolError("too big bulk count string")
                    return None, pos
                if cr + 2 > end:
                    return None, pos
                if buf[pos] != 36:
                    got = bytes(buf[pos : pos + 1]).replace(b"\r", b" ").replace(b"\n", b" ")
                    raise _ByteProtocolError(b"expected '$', got '" + got + b"'")
                bulk = _string2ll(buf[pos + 1 : cr])
                if bulk is None or bulk < 0 or bulk > self._max_bulk:
                    raise ProtocolError("invalid bulk length")
                if bulk > UNAUTH_MAX_BULK and self._auth_required:
                    raise ProtocolError("unauthenticated bulk length")
                pos = cr + 2
                self._bulklen = size = bulk
            if end - pos < size + 2:
                return None, pos
            args.append(bytes(buf[pos : pos + size]))
            self._args_bytes += size
            pos += size + 2
            self._bulklen = -1
            self._mb_left -= 1
        self._args = []
        self._args_bytes = 0
        return args, pos


def _canonical_end(buf: bytes | bytearray, pos: int, cmd: list[Any]) -> int:
    """Where *cmd* ends if ``buf[pos:]`` is its canonical multibulk encoding, else -1."""
    if pos >= len(buf) or buf[pos] != 42:
        return -1
    q = pos + 3 + len(str(len(cmd)))
    for a in cmd:
        if type(a) is not bytes or q >= len(buf) or buf[q] != 36:
            return -1
        q += len(a) + 5 + len(str(len(a)))
    return q


# --- replies -------------------------------------------------------------------------------

CRLF: Final = b"\r\n"
_N: Final = 1024
_BULK_HDR: Final = [b"$%d\r\n" % i for i in range(_N)]
_ARRAY_HDR: Final = [b"*%d\r\n" % i for i in range(_N)]
_INTS: Final = [b":%d\r\n" % i for i in range(_N * 10)]
_OK: Final = b"+OK\r\n"
_STATUS: Final = {OK: _OK, PONG: b"+PONG\r\n", QUEUED: b"+QUEUED\r\n"}
#: the null reply by protocol version (index 2 or 3)
NULLS: Final = (b"", b"", b"$-1\r\n", b"_\r\n")
_NULL_ARRAYS: Final = (b"", b"", b"*-1\r\n", b"_\r\n")
_AGG3: Final = {Map: b"%", SetReply: b"~", Push: b">"}


def _line(v: bytes) -> bytes:
    """A simple-string or error body with CR/LF replaced, so it cannot break the framing."""
    if b"\r" in v or b"\n" in v:
        return v.replace(b"\r", b" ").replace(b"\n", b" ")
    return v


def _double(d: float) -> bytes:
    if math.isinf(d):
        return b"inf" if d > 0 else b"-inf"
    if d != d:
        return b"-nan" if math.copysign(1.0, d) < 0 else b"nan"  # as glibc prints it
    return b"%.17g" % d


def write_reply(out: list[bytes], v: Any, proto: int) -> None:
    """Append the RESP *proto* (2 or 3) encoding of *v* to *out* as one or more pieces."""
    t = type(v)
    if t is bytes:
        n = len(v)
        out.append(_BULK_HDR[n] if n < _N else b"$%d\r\n" % n)
        out.append(v)
        out.append(CRLF)
    elif t is Status:
        out.append(_STATUS.get(v) or b"+" + _line(v) + CRLF)
    elif t is int:
        out.append(_INTS[v] if 0 <= v < 10 * _N else b":%d\r\n" % v)
    elif v is None:
        out.append(NULLS[proto])
    elif t is list or t is tuple:
        n = len(v)
        out.append(_ARRAY_HDR[n] if n < _N else b"*%d\r\n" % n)
        for x in v:
            if type(x) is bytes:
                n = len(x)
                out.append(_BULK_HDR[n] if n < _N else b"$%d\r\n" % n)
                out.append(x)
                out.append(CRLF)
            else:
                write_reply(out, x, proto)
    elif t is ErrorReply:
        out.append(b"-" + _line(v) + CRLF)
    elif t is Double:
        s = _double(v)
        out.append(b"$%d\r\n%b\r\n" % (len(s), s) if proto == 2 else b",%b\r\n" % s)
    elif t is Map:
        if proto == 2:
            out.append(b"*%d\r\n" % (2 * len(v)))
        else:
            out.append(b"%%%d\r\n" % len(v))
        for key, value in v:
            write_reply(out, key, proto)
            write_reply(out, value, proto)
    elif t is Pairs:
        if proto == 2:
            out.append(b"*%d\r\n" % (2 * len(v)))
            for a, b in v:
                write_reply(out, a, proto)
                write_reply(out, b, proto)
        else:
            out.append(b"*%d\r\n" % len(v))
            for a, b in v:
                out.append(b"*2\r\n")
                write_reply(out, a, proto)
                write_reply(out, b, proto)
    elif t is SetReply or t is Push:
        out.append((b"*" if proto == 2 else _AGG3[t]) + b"%d\r\n" % len(v))
        for x in v:
            write_reply(out, x, proto)
    elif isinstance(v, Verbatim):
        if proto == 2:
            out.append(b"$%d\r\n" % len(v))
        else:
            out.append(b"=%d\r\n%b:" % (len(v) + 4, v.fmt))
        out.append(v)
        out.append(CRLF)
    elif t is _NullArray:
        out.append(_NULL_ARRAYS[proto])
    else:
        _write_subclass(out, v, proto)


_SUBCLASS_BASES: Final[tuple[Any, ...]] = (
    Status, ErrorReply, Map, SetReply, Push, Double, bytes, int, list, tuple,
)


def _write_subclass(out: list[bytes], v: Any, proto: int) -> None:
    """Subclasses of the reply types (rare); reject everything the reply table does not name."""
    if not isinstance(v, bool):
        for base in _SUBCLASS_BASES:
            if isinstance(v, base):
                write_reply(out, base(v), proto)
                return
    raise TypeError(f"cannot encode {type(v).__name__} as a RESP reply")


def encode(value: Any, proto: int = 2) -> bytes:
    """The RESP encoding (``proto`` 2 or 3) of one reply value."""
    if type(value) is bytes:
        n = len(value)
        return (_BULK_HDR[n] if n < _N else b"$%d\r\n" % n) + value + CRLF
    if value is OK:
        return _OK
    out: list[bytes] = []
    write_reply(out, value, proto)
    return out[0] if len(out) == 1 else b"".join(out)


def encode_many(values: Iterable[Any], proto: int = 2) -> bytes:
    """The concatenated encodings of *values* (a pipeline's replies), in order."""
    out: list[bytes] = []
    append = out.append
    for v in values:
        if type(v) is bytes:
            n = len(v)
            append(_BULK_HDR[n] if n < _N else b"$%d\r\n" % n)
            append(v)
            append(CRLF)
        elif v is OK:
            append(_OK)
        else:
            write_reply(out, v, proto)
    return b"".join(out)
