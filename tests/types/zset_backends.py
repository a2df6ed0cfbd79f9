"""Backends shared by the sorted set tests (``test_zsets*.py``): one test, three servers.

Each behaviour test runs on every backend of ``BACKENDS``: the in-process `Engine` (the
dispatcher's path without sockets), a real redis-server 7.0, and the live gofish process (a
socket, the real RESP encoder). So every expectation written in a test is Redis's own behaviour
and gofish is held to it byte for byte. Replies are compared as hiredis parses the wire (RESP2:
fixture ``c``; RESP3: ``c3``); errors as `Err`. The engine's replies are put in that shape by
`view` (`Pairs` flat in RESP2, nested in RESP3; `Double` as ``%.17g`` text or a float), and a
blocking command that would block shows its timeout reply (the servers get a 10 ms timeout).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hiredis
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diff.rawclient import RawClient  # noqa: E402
from sm_harness import Engine  # noqa: E402

from gofish.reply import Double, ErrorReply, Map, NullArray, Pairs  # noqa: E402
from gofish.statemachine.args import format_float  # noqa: E402
from gofish.statemachine.registry import WouldBlock  # noqa: E402

BACKENDS = ["engine", "redis", "gofish"]


@dataclass(frozen=True)
class Err:
    msg: bytes


def view(x: Any, proto: int = 2) -> Any:
    """An engine reply (or a hiredis parse) in the shape hiredis gives for ``proto``."""
    if isinstance(x, WouldBlock):
        return view(x.timeout_reply, proto)
    if isinstance(x, ErrorReply):
        return Err(bytes(x))
    if isinstance(x, hiredis.ReplyError):
        return Err(str(x).encode())
    if isinstance(x, Pairs):
        if proto == 2:
            return [view(e, proto) for pair in x for e in pair]
        return [[view(a, proto), view(b, proto)] for a, b in x]
    if isinstance(x, Map):
        return [view(e, proto) for pair in x for e in pair]
    if isinstance(x, (list, tuple)):
        return [view(e, proto) for e in x]
    if x is NullArray:
        return None
    if isinstance(x, Double):
        return format_float(x) if proto == 2 else float(x)
    if isinstance(x, bytes):
        return bytes(x)
    return x


def argv_of(args: tuple[Any, ...]) -> list[bytes]:
    return [a if isinstance(a, bytes) else str(a).encode() for a in args]


class EngineBackend:
    name = "engine"

    def __init__(self, proto: int = 2) -> None:
        self.engine = Engine()
        self.proto = proto
        self.last: Any = None

    def __call__(self, *args: Any) -> Any:
        argv = argv_of(args)
        self.last = self.engine.run(*argv)
        return view(self.last, self.proto)

    def close(self) -> None:
        pass


class ServerBackend:
    def __init__(self, name: str, port: int, proto: int = 2) -> None:
        self.name = name
        self.client = RawClient(port)
        self.proto = proto
        assert self("FLUSHALL") == b"OK"
        if proto == 3:
            self("HELLO", "3")

    def __call__(self, *args: Any) -> Any:
        argv = argv_of(args)
        name = argv[0].upper()
        if name in (b"BZPOPMIN", b"BZPOPMAX") and argv[-1] == b"0":
            argv[-1] = b"0.01"  # a timeout the test can wait for
        if name == b"BZMPOP" and argv[1] == b"0":
            argv[1] = b"0.01"
        reader = hiredis.Reader()
        reader.feed(self.client.call(argv))
        return view(reader.gets(), self.proto)

    def close(self) -> None:
        self.client.close()


def _backend(request: pytest.FixtureRequest, proto: int) -> EngineBackend | ServerBackend:
    if request.param == "engine":
        return EngineBackend(proto)
    srv = request.getfixturevalue("redis_ref" if request.param == "redis" else "gofish")
    return ServerBackend(request.param, srv.port, proto)


@pytest.fixture(params=BACKENDS)
def c(request: pytest.FixtureRequest) -> Iterator[Any]:
    backend = _backend(request, 2)
    yield backend
    backend.close()


@pytest.fixture(params=BACKENDS)
def c3(request: pytest.FixtureRequest) -> Iterator[Any]:
    backend = _backend(request, 3)
    yield backend
    backend.close()


WRONGTYPE = Err(b"WRONGTYPE Operation against a key holding the wrong kind of value")
SYNTAX = Err(b"ERR syntax error")
NOT_INT = Err(b"ERR value is not an integer or out of range")
NOT_FLOAT = Err(b"ERR value is not a valid float")
POSITIVE = Err(b"ERR value is out of range, must be positive")
MINMAX_FLOAT = Err(b"ERR min or max is not a float")
MINMAX_LEX = Err(b"ERR min or max not valid string range item")
NAN = Err(b"ERR resulting score is not a number (NaN)")


def arity(name: str) -> Err:
    return Err(b"ERR wrong number of arguments for '" + name.encode() + b"' command")


def zr(c: Any, key: str = "z") -> list[bytes]:
    """The set as a flat [member, score, ...] list (RESP2 view)."""
    got = c("ZRANGE", key, 0, -1, "WITHSCORES")
    assert isinstance(got, list)
    return got


@pytest.fixture
def abcde(c: Any) -> Any:
    c("ZADD", "z", 1, "a", 2, "b", 3, "c", 4, "d", 5, "e")
    return c
