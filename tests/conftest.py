"""Shared fixtures: a live gofish process (``r``) and a reference redis-server (``r_ref``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis  # noqa: E402
from procs import ServerProc, gofish_server, redis_server  # noqa: E402


@pytest.fixture(scope="session")
def gofish() -> Iterator[ServerProc]:
    """One gofish server process for the whole test session."""
    with gofish_server() as srv:
        yield srv


@pytest.fixture
def r(gofish: ServerProc) -> Iterator[redis.Redis]:
    """A redis-py client (bytes replies, RESP2) to the live gofish, flushed before each test."""
    client = redis.Redis(host=gofish.host, port=gofish.port, socket_timeout=10, protocol=2)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def redis_ref() -> Iterator[ServerProc]:
    """A real redis-server 7.0 (Debian's package) to compare behaviour with."""
    with redis_server() as srv:
        yield srv


@pytest.fixture
def r_ref(redis_ref: ServerProc) -> Iterator[redis.Redis]:
    client = redis.Redis(host=redis_ref.host, port=redis_ref.port, socket_timeout=10, protocol=2)
    client.flushall()
    yield client
    client.close()
