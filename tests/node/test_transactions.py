"""MULTI/EXEC/DISCARD/WATCH through a live gofish, compared with Redis 7.0's replies."""

from __future__ import annotations

import pytest
import redis


def test_exec_runs_queued_commands_atomically(r: redis.Redis) -> None:
    p = r.pipeline(transaction=True)
    p.set("a", "1").incr("a").get("a").lpush("l", "x", "y").lrange("l", 0, -1).ping()
    assert p.execute() == [True, 2, b"2", 2, [b"y", b"x"], True]


def test_exec_of_reads_only(r: redis.Redis) -> None:
    r.set("a", "1")
    p = r.pipeline(transaction=True)
    p.get("a").exists("a", "b")
    assert p.execute() == [b"1", 1]


def test_queue_replies_and_errors_inside_exec(r: redis.Redis) -> None:
    c = r.connection_pool.get_connection()
    try:
        c.send_command("MULTI")
        assert c.read_response() == b"OK"
        c.send_command("SET", "k", "v")
        assert c.read_response() == b"QUEUED"
        c.send_command("INCR", "k")  # fails at EXEC: WRONG value, not queue time
        assert c.read_response() == b"QUEUED"
        c.send_command("SET", "k2", "v", "NX", "XX")  # a syntax error found at EXEC
        assert c.read_response() == b"QUEUED"
        c.send_command("EXEC")
        res = c.read_response(disable_decoding=False)
        assert res[0] == b"OK"
        assert isinstance(res[1], redis.ResponseError)
        assert str(res[1]) == "value is not an integer or out of range"
        assert isinstance(res[2], redis.ResponseError)
        assert str(res[2]) == "syntax error"
    finally:
        r.connection_pool.release(c)
    assert r.get("k") == b"v" and r.get("k2") is None


def test_queue_time_error_aborts(r: redis.Redis) -> None:
    c = r.connection_pool.get_connection()
    try:
        c.send_command("MULTI")
        c.read_response()
        c.send_command("SET", "k", "v")
        assert c.read_response() == b"QUEUED"
        c.send_command("GET")
        with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'get'"):
            c.read_response()
        c.send_command("NOSUCHCMD", "a")
        with pytest.raises(redis.ResponseError, match="unknown command 'NOSUCHCMD'"):
            c.read_response()
        c.send_command("EXEC")
        with pytest.raises(redis.ResponseError, match="^Transaction discarded because of"):
            c.read_response()
    finally:
        r.connection_pool.release(c)
    assert r.get("k") is None


def test_nesting_and_without_multi(r: redis.Redis) -> None:
    with pytest.raises(redis.ResponseError, match="^EXEC without MULTI$"):
        r.execute_command("EXEC")
    with pytest.raises(redis.ResponseError, match="^DISCARD without MULTI$"):
        r.execute_command("DISCARD")
    c = r.connection_pool.get_connection()
    try:
        c.send_command("MULTI")
        c.read_response()
        c.send_command("MULTI")
        with pytest.raises(redis.ResponseError, match="MULTI calls can not be nested"):
            c.read_response()
        c.send_command("WATCH", "a")
        with pytest.raises(redis.ResponseError, match="WATCH inside MULTI is not allowed"):
            c.read_response()
        c.send_command("SET", "a", "1")
        assert c.read_response() == b"QUEUED"
        c.send_command("DISCARD")
        assert c.read_response() == b"OK"
    finally:
        r.connection_pool.release(c)
    assert r.get("a") is None


def test_watch_aborts_on_change_by_another_client(r: redis.Redis, gofish: object) -> None:
    other = redis.Redis(port=r.connection_pool.connection_kwargs["port"])
    r.set("w", "1")
    with r.pipeline(transaction=True) as p:
        p.watch("w")
        other.set("w", "2")
        p.multi()
        p.set("w", "3")
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.get("w") == b"2"


def test_watch_passes_without_change_and_unwatch(r: redis.Redis) -> None:
    other = redis.Redis(port=r.connection_pool.connection_kwargs["port"])
    with r.pipeline(transaction=True) as p:
        p.watch("w")
        other.set("unrelated", "x")
        p.multi()
        p.set("w", "3")
        assert p.execute() == [True]
    with r.pipeline(transaction=True) as p:
        p.watch("w")
        other.set("w", "changed")
        p.unwatch()
        p.multi()
        p.set("w", "4")
        assert p.execute() == [True]
    assert r.get("w") == b"4"


def test_watch_sees_expiry_deletion_and_own_writes(r: redis.Redis) -> None:
    with r.pipeline(transaction=True) as p:
        p.watch("w")
        r.set("w", "own write also counts")  # same Redis client pool, other connection
        p.multi()
        p.get("w")
        with pytest.raises(redis.WatchError):
            p.execute()


def test_blocking_command_inside_multi_does_not_block(r: redis.Redis) -> None:
    p = r.pipeline(transaction=True)
    p.blpop(["nolist"], timeout=0).rpush("nolist", "a").blpop(["nolist"], timeout=0)
    res = p.execute()
    assert res[0] is None and res[1] == 1 and list(res[2]) == [b"nolist", b"a"]
