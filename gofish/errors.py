"""Every error string gofish sends to a client, byte-identical to Redis 7.0.

A leaf module: it imports nothing of gofish, so the codec (`gofish.net`), the command engine
(`gofish.statemachine`) and the node can all share it. Each constant is the whole error line
without the leading ``-`` and trailing CRLF: its first word is the Redis error prefix
(``ERR``, ``WRONGTYPE``, ``NOAUTH`` ...).

Handlers raise `CommandError` with one of these; the dispatcher turns it into an error reply.
An error raised before a write is proposed (syntax, arity) never reaches the log; an error
raised during apply (WRONGTYPE, not an integer) happens identically on every node and must be
raised before the handler changes anything.
"""

from __future__ import annotations


class CommandError(Exception):
    """A Redis error reply. ``message`` is the full line, prefix included, as bytes."""

    __slots__ = ("message",)

    def __init__(self, message: bytes | str) -> None:
        if isinstance(message, str):
            message = message.encode()
        super().__init__(message)
        self.message: bytes = message


class ProtocolError(Exception):
    """Malformed client input. The connection gets ``-ERR Protocol error: ...`` and is closed."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @property
    def message(self) -> bytes:
        return b"ERR Protocol error: " + self.detail.encode()


# --- generic -----------------------------------------------------------------------------
WRONGTYPE = b"WRONGTYPE Operation against a key holding the wrong kind of value"
SYNTAX = b"ERR syntax error"
NOT_INTEGER = b"ERR value is not an integer or out of range"
NOT_FLOAT = b"ERR value is not a valid float"
OVERFLOW = b"ERR increment or decrement would overflow"
NO_SUCH_KEY = b"ERR no such key"
OUT_OF_RANGE = b"ERR index out of range"
NAN_OR_INF = b"ERR increment would produce NaN or Infinity"
STRING_TOO_LONG = b"ERR string exceeds maximum allowed size (proto-max-bulk-len)"
OFFSET_OUT_OF_RANGE = b"ERR offset is out of range"
POSITIVE = b"ERR value is out of range, must be positive"
TIMEOUT_NOT_FLOAT = b"ERR timeout is not a float or out of range"
TIMEOUT_NEGATIVE = b"ERR timeout is negative"
NUMKEYS_POSITIVE = b"ERR numkeys should be greater than 0"
COUNT_POSITIVE = b"ERR count should be greater than 0"
INVALID_CURSOR = b"ERR invalid cursor"
NOT_AN_INTEGER_CURSOR = INVALID_CURSOR
EXPIRE_OPTIONS_NX = b"ERR NX and XX, GT or LT options at the same time are not compatible"
EXPIRE_OPTIONS_GT_LT = b"ERR GT and LT options at the same time are not compatible"
MIN_MAX_NOT_FLOAT = b"ERR min or max is not a float"
MIN_MAX_NOT_STRING = b"ERR min or max not valid string range item"
WEIGHT_NOT_FLOAT = b"ERR weight value is not a float"
ZADD_NX_XX = b"ERR XX and NX options at the same time are not compatible"
ZADD_GT_LT_NX = b"ERR GT, LT, and/or NX options at the same time are not compatible"
ZADD_INCR_PAIR = b"ERR INCR option supports a single increment-element pair"
SCORE_NAN = b"ERR resulting score is not a number (NaN)"
DB_INDEX_OUT_OF_RANGE = b"ERR DB index is out of range"
SELECT_NOT_ALLOWED = b"ERR SELECT is not allowed in cluster mode"
HASH_NOT_FLOAT = b"ERR hash value is not a float"
HASH_NOT_INTEGER = b"ERR hash value is not an integer"

# --- connection / transactions -----------------------------------------------------------
NOAUTH = b"NOAUTH Authentication required."
WRONGPASS = b"WRONGPASS invalid username-password pair or user is disabled."
AUTH_NO_PASSWORD = (
    b"ERR AUTH <password> called without any password configured for the default user. "
    b"Are you sure your configuration is correct?"
)
MULTI_NESTED = b"ERR MULTI calls can not be nested"
EXEC_WITHOUT_MULTI = b"ERR EXEC without MULTI"
DISCARD_WITHOUT_MULTI = b"ERR DISCARD without MULTI"
WATCH_IN_MULTI = b"ERR WATCH inside MULTI is not allowed"
EXECABORT = b"EXECABORT Transaction discarded because of previous errors."
NOPROTO = b"NOPROTO unsupported protocol version"
LOADING = b"LOADING Redis is loading the dataset in memory"
MAX_CLIENTS = b"ERR max number of clients reached"

# --- replication: what a failed write means (docs/adr/0007-raft-driver.md) ---------------
#: The command never left this node (no reachable leader in time): not applied.
CLUSTERDOWN = b"CLUSTERDOWN The cluster is down"
#: A request the client had already given up on arrived again: not applied.
STALE_REQUEST = b"ERR stale duplicate request ignored"
#: The outcome is unknown: the command is in the log but its commit was not seen in time
#: (or the node stopped first). It may have been applied, now or later.
UNCONFIRMED = b"TIMEOUT the command may have been applied: its commit was not confirmed"


# --- data types ---------------------------------------------------------------------------
COUNT_RANGE = (
    b"ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
)
VALUE_OUT_OF_RANGE = b"ERR value is out of range"
SAME_OBJECT = b"ERR source and destination objects are the same"
INT32_OUT_OF_RANGE = b"ERR value is out of range, value must between -2147483648 and 2147483647"
LFU_NOT_SELECTED = (
    b"ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note "
    b"that when switching between policies at runtime LRU and LFU data will take some time to "
    b"adjust."
)
VALUE_NAN_OR_INF = b"ERR value is NaN or Infinity"
LCS_NOT_STRINGS = b"ERR The specified keys must contain string values"
LCS_LEN_AND_IDX = b"ERR If you want both the length and indexes, please just use IDX."
LCS_TOO_MUCH_MEMORY = (
    b"ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
)
LIMIT_RANK_ERR = (
    b"ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
)
WITHSCORES_BYLEX_ERR = b"ERR syntax error, WITHSCORES not supported in combination with BYLEX"
LIMIT_NEGATIVE = b"ERR LIMIT can't be negative"
NUMKEYS_TOO_MANY = b"ERR Number of keys can't be greater than number of args"
LPOS_RANK_ZERO = (
    b"ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use "
    b"negative to start from the end of the list"
)
LPOS_COUNT_NEGATIVE = b"ERR COUNT can't be negative"
LPOS_MAXLEN_NEGATIVE = b"ERR MAXLEN can't be negative"
DECREMENT_OVERFLOW = b"ERR decrement would overflow"


def unknown_command(name: bytes, args: list[bytes]) -> bytes:
    """``ERR unknown command 'x', with args beginning with: 'a' 'b' `` (Redis 7.0 form: each
    argument quoted and followed by a space, the shown arguments cut at 128 bytes in all)."""
    shown = b""
    for a in args:
        if len(shown) >= 128:
            break
        shown += b"'" + _cstr(a)[: 128 - len(shown)] + b"' "
    return _clean(
        b"ERR unknown command '" + _cstr(name)[:128] + b"', with args beginning with: " + shown
    )


def wrong_arity(name: str) -> bytes:
    return b"ERR wrong number of arguments for '" + name.encode() + b"' command"


def unknown_subcommand(sub: bytes, command: str) -> bytes:
    return (
        b"ERR unknown subcommand '"
        + _clip(_cstr(sub))
        + b"'. Try "
        + command.upper().encode()
        + b" HELP."
    )


def not_allowed_in_subscribe(name: str) -> bytes:
    return (
        b"ERR Can't execute '"
        + name.encode()
        + b"': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed "
        b"in this context"
    )


def invalid_expire(name: str) -> bytes:
    return b"ERR invalid expire time in '" + name.encode() + b"' command"


def formatted(line: bytes) -> bytes:
    """An error built from client input, as Redis's addReplyErrorFormat makes it: trailing CR/LF
    trimmed, any other CR or LF turned into a space."""
    return line.rstrip(b"\r\n").replace(b"\r", b" ").replace(b"\n", b" ")


_clean = formatted


def _cstr(arg: bytes) -> bytes:
    """What C's ``%s`` prints of ``arg``: everything before the first NUL."""
    return arg.split(b"\0", 1)[0]


def _clip(arg: bytes) -> bytes:
    # Redis cuts each shown argument at 128 bytes and never prints raw newlines.
    return arg[:128].replace(b"\r", b" ").replace(b"\n", b" ")
