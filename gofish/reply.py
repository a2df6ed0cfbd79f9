"""The vocabulary of replies: what a command handler returns and the RESP encoder writes.

A leaf module shared by `gofish.statemachine` (which produces replies) and `gofish.net`
(which encodes them); neither imports the other.

Plain Python values map to RESP as follows (RESP2 / RESP3):

- ``bytes``            bulk string ``$``
- ``int``              integer ``:`` (``bool`` is not allowed: use 0/1)
- ``None``             null bulk ``$-1`` / null ``_``
- ``list`` / ``tuple`` array ``*``
- `Status`             simple string ``+`` (``OK``, ``PONG``, ``QUEUED``)
- `ErrorReply`         error ``-``
- `NullArray`          ``*-1`` / ``_`` (BLPOP timeout, aborted EXEC)
- `Double`             bulk string in Redis 7.0 ``%.17g`` form / double ``,``
- `Map`                flat array of pairs / map ``%``
- `Pairs`              flat array / array of 2-element arrays (WITHSCORES, WITHVALUES)
- `SetReply`           array / set ``~``
- `Push`               array / push ``>`` (pub/sub messages)
- `Verbatim`           bulk string / verbatim ``=`` with a 3-letter format (INFO, CLIENT INFO)
"""

from __future__ import annotations

from typing import Any


class Status(bytes):
    """A simple string reply (``+OK``). Must not contain CR or LF."""

    __slots__ = ()


class ErrorReply(bytes):
    """An error reply; the bytes are the whole line with its prefix (``WRONGTYPE ...``)."""

    __slots__ = ()


class Double(float):
    """A floating point reply (ZSCORE, ZINCRBY, ...)."""

    __slots__ = ()


class Map(list[tuple[Any, Any]]):
    """A map reply given as a list of (key, value) pairs; order is kept."""

    __slots__ = ()


class Pairs(list[tuple[Any, Any]]):
    """(a, b) pairs: flat ``[a1, b1, a2, b2]`` in RESP2, ``[[a1, b1], [a2, b2]]`` in RESP3
    (ZRANGE ... WITHSCORES, HRANDFIELD ... WITHVALUES)."""

    __slots__ = ()


class SetReply(list[Any]):
    """A set reply (SMEMBERS in RESP3)."""

    __slots__ = ()


class Push(list[Any]):
    """An out-of-band push message (pub/sub) in RESP3; a plain array in RESP2."""

    __slots__ = ()


class Verbatim(bytes):
    """A verbatim string; `fmt` is the three-letter format, ``txt`` or ``mkd``."""

    __slots__ = ()
    fmt = b"txt"


class _NullArray:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NullArray"


NullArray = _NullArray()

OK = Status(b"OK")
PONG = Status(b"PONG")
QUEUED = Status(b"QUEUED")

Reply = (
    bytes | int | None | list[Any] | tuple[Any, ...] | Status | ErrorReply | Double | Map | Pairs
    | SetReply | Push | Verbatim | _NullArray
)
