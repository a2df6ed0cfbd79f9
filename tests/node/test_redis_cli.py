"""redis-cli against a live gofish: interactive-style commands and a ``--pipe`` bulk load."""

from __future__ import annotations

import shutil
import subprocess

import redis
from procs import ServerProc

CLI = shutil.which("redis-cli") or "redis-cli"


def cli(srv: ServerProc, *args: str, stdin: bytes | None = None) -> str:
    out = subprocess.run([CLI, "-p", str(srv.port), *args], input=stdin, capture_output=True,
                         check=True, timeout=120)
    return out.stdout.decode()


def test_interactive_style_session(gofish: ServerProc, r: redis.Redis, redis_ref: ServerProc,
                                   r_ref: redis.Redis) -> None:
    # redis-cli reads commands from stdin one per line when not on a terminal; the output of
    # the same session must be identical to a real Redis's.
    script = b"\n".join([
        b"PING", b"SET greeting \"hello world\"", b"GET greeting", b"INCR n", b"INCRBY n 41",
        b"RPUSH l a b c", b"LRANGE l 0 -1", b"HSET h f v", b"HGETALL h", b"SADD s x",
        b"ZADD z 1.5 m", b"ZRANGE z 0 -1 WITHSCORES", b"TYPE z", b"GET", b"NOSUCH cmd",
        b"DBSIZE", b"EXPIRE n 100", b"TTL n", b"OBJECT ENCODING n", b"MULTI", b"INCR n",
        b"EXEC", b"SELECT 0",
    ]) + b"\n"
    out = cli(gofish, stdin=script)
    assert out == cli(redis_ref, stdin=script)
    assert out.startswith("PONG\nOK\nhello world\n1\n42\n")


def test_cli_argument_mode_and_hints_commands(gofish: ServerProc, r: redis.Redis) -> None:
    assert cli(gofish, "SET", "k", "v").strip() == "OK"
    assert cli(gofish, "--no-raw", "GET", "k").strip() == '"v"'
    assert cli(gofish, "-3", "HSET", "h", "a", "1").strip() == "1"
    assert cli(gofish, "--raw", "HGETALL", "h").split() == ["a", "1"]


def test_pipe_bulk_load_100k(gofish: ServerProc, r: redis.Redis) -> None:
    n = 100_000
    payload = b"".join(
        b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
        % (len(k), k, len(v), v)
        for k, v in ((b"key:%d" % i, b"value:%d" % i) for i in range(n))
    )
    out = cli(gofish, "--pipe", stdin=payload)
    assert f"errors: 0, replies: {n}" in out
    assert r.dbsize() == n
    assert r.get("key:99999") == b"value:99999"
