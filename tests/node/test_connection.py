"""Connection commands and the rules of dispatch, through a live gofish."""

from __future__ import annotations

import socket

import pytest
import redis
from procs import gofish_server


def test_ping_echo_select_time(r: redis.Redis) -> None:
    assert r.ping() is True
    port = r.connection_pool.connection_kwargs["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"PING hi\r\nPING\r\n")
        buf = b""
        while not buf.endswith(b"+PONG\r\n"):
            buf += sock.recv(65536)
        assert buf == b"$2\r\nhi\r\n+PONG\r\n"
    assert r.echo("x y") == b"x y"
    assert r.execute_command("SELECT", "0") is True
    with pytest.raises(redis.ResponseError, match="^DB index is out of range$"):
        r.execute_command("SELECT", "1")
    with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
        r.execute_command("SELECT", "x")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'ping'"):
        r.execute_command("PING", "a", "b")


def test_unknown_command_and_arity_errors(r: redis.Redis) -> None:
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("FOOBAR", "a", "b")
    assert str(e.value) == "unknown command 'FOOBAR', with args beginning with: 'a' 'b' "
    with pytest.raises(redis.ResponseError, match="^wrong number of arguments for 'get' command$"):
        r.execute_command("GET")


def test_hello_switches_protocol(r: redis.Redis) -> None:
    port = r.connection_pool.connection_kwargs["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"HELLO 3\r\n")
        data = s.recv(65536)
        assert data.startswith(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n")
        assert b"$5\r\nproto\r\n:3\r\n" in data
        s.sendall(b"HELLO 4\r\n")
        assert s.recv(65536) == b"-NOPROTO unsupported protocol version\r\n"


def test_requirepass() -> None:
    with gofish_server("--requirepass", "s3cret") as srv:
        c = redis.Redis(port=srv.port)
        with pytest.raises(redis.AuthenticationError):
            c.get("x")
        assert redis.Redis(port=srv.port, password="s3cret").set("x", "1") is True
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=srv.port, password="wrong").get("x")
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            s.sendall(b"GET x\r\nAUTH default s3cret\r\nGET x\r\n")
            buf = b""
            while not buf.endswith(b"$1\r\n1\r\n"):
                buf += s.recv(65536)
            assert buf == b"-NOAUTH Authentication required.\r\n+OK\r\n$1\r\n1\r\n"


def test_auth_without_password_configured(r: redis.Redis) -> None:
    with pytest.raises(redis.RedisError, match="called without any password configured"):
        r.execute_command("AUTH", "x")


def test_quit_and_reset(r: redis.Redis) -> None:
    port = r.connection_pool.connection_kwargs["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"HELLO 3\r\nRESET\r\nQUIT\r\n")
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        assert buf.endswith(b"+RESET\r\n+OK\r\n")


def test_bad_input_keeps_server_serving(r: redis.Redis) -> None:
    port = r.connection_pool.connection_kwargs["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"*1\r\n$x\r\n")
        assert s.recv(65536).startswith(b"-ERR Protocol error")
    assert r.ping() is True
