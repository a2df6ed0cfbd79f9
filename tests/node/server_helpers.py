"""Helpers shared by the server-command tests (a bare RESP client, raw replies, errors)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import hiredis
import pytest
import redis


def raw(c: redis.Redis, *args: Any) -> Any:
    """Send one command and read its reply with no redis-py response callback."""
    conn = c.connection_pool.get_connection()
    try:
        conn.send_command(*args)
        return conn.read_response()
    finally:
        c.connection_pool.release(conn)


def as_map(reply: Any) -> dict[Any, Any]:
    """A map reply as a dict: RESP3 gives a dict already, RESP2 a flat list."""
    if isinstance(reply, dict):
        return reply
    return dict(zip(reply[::2], reply[1::2], strict=True))


def resp2(c: redis.Redis) -> redis.Redis:
    """A RESP2 client to the same server as ``c`` (redis-py 8 speaks RESP3 by default)."""
    return redis.Redis(port=port_of(c), protocol=2, socket_timeout=10)


def error_of(c: redis.Redis, *args: Any) -> str:
    with pytest.raises(redis.ResponseError) as e:
        raw(c, *args)
    return str(e.value)


def same_error(r: redis.Redis, r_ref: redis.Redis, *args: Any) -> str:
    mine, ref = error_of(r, *args), error_of(r_ref, *args)
    assert mine == ref, args
    return mine


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll a condition the server exposes no event for (bounded)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class RawClient:
    """A bare RESP2 connection (redis-py would transparently reconnect a killed one)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = hiredis.Reader()

    def __call__(self, *args: str) -> Any:
        self.send(*args)
        return self.read()

    def send(self, *args: str) -> None:
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            data = a.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(parts))

    def pipeline(self, commands: list[list[bytes]]) -> list[Any]:
        """Send ``commands`` with one ``sendall`` and read their replies (errors as
        `hiredis.ReplyError` values)."""
        out = []
        for argv in commands:
            out.append(b"*%d\r\n" % len(argv))
            for a in argv:
                out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return [self.read() for _ in commands]

    def read(self) -> Any:
        while True:
            reply = self.reader.gets()
            if reply is not False:
                return reply
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            self.reader.feed(chunk)

    def closed_by_server(self) -> bool:
        """True when the server closed this connection (reads EOF within 10 s)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


def port_of(c: redis.Redis) -> int:
    return int(c.connection_pool.connection_kwargs["port"])


def resp3_raw(port: int, payload: bytes, expect_end: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"HELLO 3\r\n" + payload)
        buf = b""
        while not buf.endswith(expect_end):
            chunk = s.recv(65536)
            assert chunk, buf
            buf += chunk
        return buf


def client_fields(line: bytes) -> dict[str, str]:
    """The ``key=value`` fields of one CLIENT LIST / CLIENT INFO line, in order."""
    return dict(item.split("=", 1) for item in line.decode().split(" "))
