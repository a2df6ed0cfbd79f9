"""Pub/sub through a live gofish: RESP2 and RESP3 deliveries, patterns, PUBSUB introspection."""

from __future__ import annotations

import socket

import pytest
import redis


def _msg(ps: redis.client.PubSub) -> dict[str, object]:
    m = ps.get_message(timeout=5)
    assert m is not None
    return m


def test_subscribe_publish_unsubscribe(r: redis.Redis) -> None:
    ps = r.pubsub()
    ps.subscribe("news", "sport")
    assert _msg(ps)["type"] == "subscribe"
    assert _msg(ps)["data"] == 2
    ps.psubscribe("n*")
    assert _msg(ps) == {"type": "psubscribe", "pattern": None, "channel": b"n*", "data": 3}
    assert r.publish("news", "hello") == 2
    assert _msg(ps) == {"type": "message", "pattern": None, "channel": b"news", "data": b"hello"}
    assert _msg(ps) == {"type": "pmessage", "pattern": b"n*", "channel": b"news", "data": b"hello"}
    assert r.pubsub_channels() == [b"news", b"sport"] or sorted(r.pubsub_channels()) == [
        b"news",
        b"sport",
    ]
    assert r.pubsub_numsub("news", "none") == [(b"news", 1), (b"none", 0)]
    assert r.pubsub_numpat() == 1
    ps.unsubscribe()
    kinds = {_msg(ps)["channel"] for _ in range(2)}
    assert kinds == {b"news", b"sport"}
    assert r.publish("news", "x") == 1  # the pattern subscription is still there
    ps.close()


def _raw(port: int, payload: bytes, expect: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        buf = b""
        while not buf.endswith(expect):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf


def test_resp2_subscribe_mode_restrictions(r: redis.Redis) -> None:
    port = r.connection_pool.connection_kwargs["port"]
    out = _raw(port, b"SUBSCRIBE ch\r\nGET x\r\nPING\r\n", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n")
    assert out.startswith(b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n")
    assert b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT" in out


def test_resp3_push_messages(r: redis.Redis) -> None:
    port = r.connection_pool.connection_kwargs["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"HELLO 3\r\nSUBSCRIBE ch\r\n")
        buf = b""
        while b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n" not in buf:
            buf += s.recv(65536)
        assert r.publish("ch", "hi") == 1
        buf = b""
        while not buf.endswith(b"$2\r\nhi\r\n"):
            buf += s.recv(65536)
        assert buf == b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
        s.sendall(b"GET nokey\r\n")  # RESP3 allows commands while subscribed
        assert s.recv(65536) == b"_\r\n"


def test_pubsub_errors(r: redis.Redis) -> None:
    with pytest.raises(redis.ResponseError, match="unknown subcommand 'NOPE'"):
        r.execute_command("PUBSUB", "NOPE")
