"""Server commands through a live gofish, compared with redis-server 7.0.

COMMAND, INFO, CONFIG, TIME, LASTSAVE, SWAPDB and SHUTDOWN; redis-cli (interactive, its help
comes from COMMAND DOCS) and redis-benchmark (reads CONFIG at start) against gofish. CLIENT is
in ``test_server_client.py``.
"""

from __future__ import annotations

import importlib
import os
import pty
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis
from procs import gofish_server
from server_helpers import (
    as_map,
    client_fields,
    error_of,
    port_of,
    raw,
    resp2,
    resp3_raw,
    same_error,
    wait_for,
)

from gofish import _native
from gofish.node.app import Node
from gofish.node.commands import server_config
from gofish.node.config import Config


# --- COMMAND ---------------------------------------------------------------------------------
def test_command_count_list_and_info(r: redis.Redis) -> None:
    names = raw(r, "COMMAND", "LIST")
    top = [n for n in names if b"|" not in n]
    assert raw(r, "COMMAND", "COUNT") == len(top) == len(raw(r, "COMMAND"))
    assert {b"config", b"config|get", b"client", b"client|list", b"info", b"command"} <= set(names)
    assert b"gofish.expire" not in names  # internal commands are not listed
    info = raw(r, "COMMAND", "INFO", "config", "nosuch", "client|kill")
    assert info[1] is None
    config = info[0]
    assert config[:7] == [b"config", -2, [], 0, 0, 0, [b"@slow"]]
    subs = {s[0]: s for s in config[9]}
    assert subs[b"config|get"][:7] == [
        b"config|get", -3, [b"admin", b"noscript", b"loading", b"stale"], 0, 0, 0,
        [b"@admin", b"@slow", b"@dangerous"],
    ]
    assert info[2][:7] == [
        b"client|kill", -3, [b"admin", b"noscript", b"loading", b"stale"], 0, 0, 0,
        [b"@admin", b"@slow", b"@dangerous", b"@connection"],
    ]


def test_command_info_matches_redis_for_server_commands(r: redis.Redis, r_ref: redis.Redis) -> None:
    names = ["config|get", "config|set", "config|resetstat", "config|rewrite", "config|help",
             "client|id", "client|getname", "client|setname", "client|list", "client|info",
             "client|kill", "client|unblock", "client|help", "time", "lastsave", "info",
             "command|count", "command|docs", "command|getkeys", "command|list", "command|help"]
    mine = raw(r, "COMMAND", "INFO", *names)
    ref = raw(r_ref, "COMMAND", "INFO", *names)
    for m, f in zip(mine, ref, strict=True):
        assert m[:7] == f[:7], m[0]
        assert len(m) == len(f) == 10


def test_command_key_specs_derived_from_positions(r: redis.Redis, r_ref: redis.Redis) -> None:
    watch = raw(r, "COMMAND", "INFO", "watch")[0]
    assert watch[3:6] == [1, -1, 1]
    assert watch[8] == raw(r_ref, "COMMAND", "INFO", "watch")[0][8]


def test_command_docs(r: redis.Redis) -> None:
    docs = as_map(raw(r, "COMMAND", "DOCS", "config", "nosuch", "time"))
    assert set(docs) == {b"config", b"time"}
    config = as_map(docs[b"config"])
    assert config[b"group"] == b"server" and config[b"since"] == b"2.0.0"
    assert config[b"summary"] == b"A container for server configuration commands"
    assert b"config|get" in as_map(config[b"subcommands"])
    everything = as_map(raw(r, "COMMAND", "DOCS"))
    assert len(everything) == raw(r, "COMMAND", "COUNT")
    assert not raw(r, "COMMAND", "DOCS", "nosuch")


def test_resp2_shapes_match_redis(r: redis.Redis, r_ref: redis.Redis) -> None:
    mine, ref = resp2(r), resp2(r_ref)
    try:
        assert raw(mine, "COMMAND", "INFO", "watch") == raw(ref, "COMMAND", "INFO", "watch")
        assert raw(mine, "CONFIG", "GET", "hz") == raw(ref, "CONFIG", "GET", "hz") == [b"hz", b"10"]
        docs = raw(mine, "COMMAND", "DOCS", "client")
        assert docs[0] == b"client" and isinstance(docs[1], list)
        assert raw(mine, "CLIENT", "TRACKINGINFO") == raw(ref, "CLIENT", "TRACKINGINFO")
        assert raw(mine, "INFO", "keyspace") == b"# Keyspace\r\n"
        assert client_fields(raw(mine, "CLIENT", "INFO").strip())["resp"] == "2"
    finally:
        mine.close()
        ref.close()


def test_command_list_filterby(r: redis.Redis, r_ref: redis.Redis) -> None:
    assert sorted(raw(r, "COMMAND", "LIST", "FILTERBY", "PATTERN", "CONFIG*")) == sorted(
        raw(r_ref, "COMMAND", "LIST", "FILTERBY", "PATTERN", "CONFIG*"))
    admin = raw(r, "COMMAND", "LIST", "FILTERBY", "ACLCAT", "Admin")
    assert b"config|set" in admin and b"client|kill" in admin and b"time" not in admin
    conn = raw(r, "COMMAND", "LIST", "FILTERBY", "ACLCAT", "connection")
    assert b"ping" in conn and b"client|id" in conn
    assert raw(r, "COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuch") == []
    assert raw(r, "COMMAND", "LIST", "FILTERBY", "MODULE", "foo") == []
    for bad in (("FILTERBY",), ("FILTERBY", "ACLCAT"), ("FOO",), ("FILTERBY", "X", "Y")):
        same_error(r, r_ref, "COMMAND", "LIST", *bad)


def test_command_getkeys(r: redis.Redis, r_ref: redis.Redis) -> None:
    assert raw(r, "COMMAND", "GETKEYS", "WATCH", "a", "b") == [b"a", b"b"]
    assert raw(r, "COMMAND", "GETKEYSANDFLAGS", "get", "k") == raw(
        r_ref, "COMMAND", "GETKEYSANDFLAGS", "get", "k") == [[b"k", [b"RO", b"access"]]]
    assert raw(r, "COMMAND", "GETKEYS", "get", "k") == raw(r_ref, "COMMAND", "GETKEYS", "get", "k")
    for args in (("nosuch", "a"), ("ping", "x"), ("set", "a"), ("get",), ()):
        same_error(r, r_ref, "COMMAND", "GETKEYS", *args)


def test_command_help_and_unknown_subcommand(r: redis.Redis, r_ref: redis.Redis) -> None:
    mine = raw(r, "COMMAND", "HELP")
    ref = raw(r_ref, "COMMAND", "HELP")
    assert mine == ref
    same_error(r, r_ref, "COMMAND", "FOO")
    same_error(r, r_ref, "COMMAND", "COUNT", "x")


# --- redis-cli / redis-benchmark ------------------------------------------------------------
def test_redis_cli_command_docs_and_info(r: redis.Redis) -> None:
    port = str(port_of(r))
    out = subprocess.run(["redis-cli", "-p", port, "command", "docs", "get"],
                         capture_output=True, timeout=30, check=True)
    assert b"ERR" not in out.stdout and b"summary" in out.stdout
    r.set("k", "v")
    out = subprocess.run(["redis-cli", "-p", port, "info", "keyspace"],
                         capture_output=True, timeout=30, check=True)
    assert out.stdout == b"# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n"


def _interactive_cli(port: int, steps: list[tuple[str, str]], timeout: float = 20.0) -> str:
    """Drive an interactive redis-cli through a pty: type each line, wait for its answer.

    Returns everything redis-cli printed.
    """
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execvp("redis-cli", ["redis-cli", "-p", str(port)])
    out = bytearray()
    deadline = time.monotonic() + timeout

    def pump(marker: bytes | None, start: int) -> None:
        """Read until ``marker`` appears after ``start`` (None: until redis-cli exits)."""
        while marker is None or marker not in out[start:]:
            if time.monotonic() > deadline:
                raise AssertionError("redis-cli did not answer:\n" + out.decode(errors="replace"))
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # the child exited: EIO on the pty
                return
            if not data:
                return
            out.extend(data)
            for _ in range(data.count(b"\x1b[6n")):  # linenoise asks where the cursor is
                os.write(fd, b"\x1b[1;1R")

    prompt = f"127.0.0.1:{port}> ".encode()
    try:
        pump(prompt, 0)
        for line, answer in steps:
            start = len(out)
            os.write(fd, line.encode() + b"\r")
            marker = b"\r\n" + answer.encode()
            pump(marker, start)
            pump(prompt, out.index(marker, start))
        os.write(fd, b"quit\r")
        pump(None, len(out))
    finally:
        os.close(fd)
        os.waitpid(pid, 0)
    return out.decode(errors="replace")


def test_redis_cli_interactive(r: redis.Redis) -> None:
    text = _interactive_cli(port_of(r), [
        ("config get save", '2) "3600 1 300 100 60 10000"'),
        ("client setname cli", "OK"),
        ("client getname", '"cli"'),
        ("command count", "(integer) "),
    ])
    assert "Error" not in text and "ERR" not in text


def test_redis_benchmark_reads_config(r: redis.Redis) -> None:
    exe = shutil.which("redis-benchmark")
    assert exe is not None
    out = subprocess.run([exe, "-p", str(port_of(r)), "-t", "ping", "-n", "200", "-c", "2", "-q"],
                         capture_output=True, timeout=60, check=True)
    text = (out.stdout + out.stderr).decode(errors="replace")
    assert "WARN" not in text and "ERR" not in text, text
    assert "PING" in text


# --- INFO ----------------------------------------------------------------------------------
def _headers(text: bytes) -> list[bytes]:
    return [line[2:] for line in text.split(b"\r\n") if line.startswith(b"# ")]


def test_info_sections_like_redis(r: redis.Redis, r_ref: redis.Redis) -> None:
    mine, ref = raw(r, "INFO"), raw(r_ref, "INFO")
    assert [h for h in _headers(mine) if h not in (b"Gofish", b"Raft")] == _headers(ref)
    assert _headers(raw(r, "INFO", "default")) == _headers(mine)
    all_ref = _headers(raw(r_ref, "INFO", "all"))
    assert [h for h in _headers(raw(r, "INFO", "all")) if h not in (b"Gofish", b"Raft")] == all_ref
    assert _headers(raw(r, "INFO", "everything")) == _headers(raw(r, "INFO", "all"))
    # several sections come in Redis's order, whatever order they were asked in
    assert _headers(raw(r, "INFO", "CPU", "replication")) == [b"Replication", b"CPU"]
    assert raw(r, "INFO", "nosuch") == raw(r_ref, "INFO", "nosuch") == b""
    assert raw(r, "INFO", "keyspace") == raw(r_ref, "INFO", "keyspace") == b"# Keyspace\r\n"
    text = raw(r, "INFO", "server", "clients")
    assert text.startswith(b"# Server\r\nredis_version:7.0.15\r\n")
    assert b"\r\n\r\n# Clients\r\n" in text and text.endswith(b"\r\n")


def test_info_fields(r: redis.Redis) -> None:
    server = r.info("server")
    assert server["redis_mode"] == "standalone" and server["redis_version"] == "7.0.15"
    assert server["tcp_port"] == port_of(r) and server["arch_bits"] == 64
    assert "gofish_version" in server and server["process_id"] > 0
    for name in _native.NATIVE:  # the server runs the same tree in the same environment
        importlib.import_module(name)
    compiled = ",".join(_native.compiled_modules()) or "none"
    assert f"\r\ngofish_compiled:{compiled}\r\n".encode() in raw(r, "INFO", "server")
    mem = r.info("memory")
    assert mem["used_memory"] > 0 and mem["used_memory_rss"] >= mem["used_memory"]
    assert mem["maxmemory"] == 0 and mem["mem_allocator"] == "pymalloc"
    assert re.fullmatch(r"\d+(\.\d\d[KMGTP])?B?", mem["used_memory_human"])
    assert r.info("persistence")["loading"] == 0
    assert r.info("replication")["role"] == "master"
    assert r.info("cpu")["used_cpu_user"] >= 0
    gofish = r.info("gofish")
    assert gofish["partitions"] >= 1
    r.set("a", "1")
    after = r.info("gofish")
    assert after["applied_index"] >= gofish["applied_index"] + 1
    assert after["log_last_index"] >= after["applied_index"] >= after["log_first_index"] - 1


def test_info_keyspace_and_stats(r: redis.Redis) -> None:
    assert r.info("keyspace") == {}
    r.set("a", "1")
    r.set("b", "2")
    r.expire("b", 100)
    assert r.info("keyspace") == {"db0": {"keys": 2, "expires": 1, "avg_ttl": 0}}
    before = r.info("stats")["total_commands_processed"]
    for _ in range(5):
        r.ping()
    assert r.info("stats")["total_commands_processed"] >= before + 6
    assert r.info("clients")["connected_clients"] >= 1


def test_info_counts_expired_keys(r: redis.Redis) -> None:
    base = r.info("stats")["expired_keys"]
    r.set("gone", "1", px=1)
    wait_for(lambda: r.info("stats")["expired_keys"] > base, "active expiry")
    assert r.info("keyspace") == {}


def test_info_resp3_is_verbatim(r: redis.Redis) -> None:
    data = resp3_raw(port_of(r), b"INFO keyspace\r\n", b"txt:# Keyspace\r\n\r\n")
    assert data.endswith(b"=16\r\ntxt:# Keyspace\r\n\r\n")


# --- CONFIG --------------------------------------------------------------------------------
def test_config_get(r: redis.Redis) -> None:
    assert as_map(raw(r, "CONFIG", "GET", "save")) == {b"save": b"3600 1 300 100 60 10000"}
    assert as_map(raw(r, "CONFIG", "GET", "appendonly")) == {b"appendonly": b"yes"}
    got = r.config_get("*max*")
    assert got["maxclients"] == "10000" and "proto-max-bulk-len" in got
    assert as_map(raw(r, "CONFIG", "GET", "hz", "HZ", "h?")) == {b"hz": b"10"}
    assert not raw(r, "CONFIG", "GET", "nosuch")


def test_config_set_errors_like_redis(r: redis.Redis, r_ref: redis.Redis) -> None:
    for args in (("foo", "bar"), ("hz", "abc"), ("hz", "10", "hz", "20"), ("hz", "10", "x"),
                 ("hz",), ("loglevel", "bad"), ("hz", "10", "loglevel", "bad")):
        same_error(r, r_ref, "CONFIG", "SET", *args)
    assert error_of(r, "CONFIG", "SET", "port", "1") == (
        "CONFIG SET failed (possibly related to argument 'port') - can't set immutable config")
    same_error(r, r_ref, "CONFIG", "GET")
    same_error(r, r_ref, "CONFIG", "FOO")
    same_error(r, r_ref, "CONFIG")
    same_error(r, r_ref, "CONFIG", "REWRITE")


def test_config_set_is_atomic(r: redis.Redis) -> None:
    try:
        assert r.config_set("hz", "20") is True
        with pytest.raises(redis.ResponseError, match="argument 'loglevel'"):
            raw(r, "CONFIG", "SET", "hz", "30", "loglevel", "bad")
        assert r.config_get("hz") == {"hz": "20"}
        assert raw(r, "CONFIG", "SET", "hz", "15", "appendfsync", "everysec") == b"OK"
        assert r.config_get("hz") == {"hz": "15"}
        assert r.config_get("appendfsync") == {"appendfsync": "everysec"}
        assert r.info("server")["hz"] == 15
    finally:
        raw(r, "CONFIG", "SET", "hz", "10", "appendfsync", "always")


def test_config_resetstat_and_help(r: redis.Redis, r_ref: redis.Redis) -> None:
    for _ in range(3):
        r.ping()
    assert raw(r, "CONFIG", "RESETSTAT") == b"OK"
    assert r.info("stats")["total_commands_processed"] <= 2
    assert raw(r, "CONFIG", "HELP") == raw(r_ref, "CONFIG", "HELP")


def test_config_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "gofish.conf"
    path.write_text("# my settings\nhz 10\n\nloglevel notice\nhz 12\nappendfsync always\n")
    cfg = Config()
    cfg.load_file(path)
    cfg.config_file = str(path)  # type: ignore[attr-defined]
    node = Node(cfg)
    cfg.set("hz", "25")
    cfg.set("maxclients", "50")
    cfg.set("requirepass", "a b")
    assert server_config.config_rewrite(node.dispatcher, None, [b"config", b"rewrite"]) == b"OK"
    text = path.read_text()
    assert text == (
        "# my settings\nhz 25\n\nloglevel notice\nappendfsync always\n"
        "# Generated by CONFIG REWRITE\nrequirepass \"a b\"\nmaxclients 50\n"
    )
    again = Config()
    again.load_file(path)
    assert (again.hz, again.maxclients, again.requirepass) == (25, 50, "a b")
    assert not list(tmp_path.glob("*.tmp"))


# --- TIME, LASTSAVE, SWAPDB, SHUTDOWN -----------------------------------------------------------
def test_time_and_lastsave(r: redis.Redis, r_ref: redis.Redis) -> None:
    sec, usec = raw(r, "TIME")
    assert abs(int(sec) - time.time()) < 5 and 0 <= int(usec) < 1_000_000
    last = raw(r, "LASTSAVE")
    assert isinstance(last, int) and last <= time.time() + 1
    same_error(r, r_ref, "TIME", "x")


def test_swapdb_refused(r: redis.Redis) -> None:
    assert error_of(r, "SWAPDB", "0", "1") == "SWAPDB is not allowed in cluster mode"


def test_shutdown_errors(r: redis.Redis, r_ref: redis.Redis) -> None:
    for args in (("foo",), ("NOSAVE", "SAVE"), ("ABORT", "NOW"), ("ABORT",)):
        same_error(r, r_ref, "SHUTDOWN", *args)


def test_shutdown_stops_the_server() -> None:
    with gofish_server() as srv:
        c = redis.Redis(port=srv.port, retry=None)
        c.set("x", "1")
        with pytest.raises(redis.ConnectionError):
            raw(c, "SHUTDOWN", "NOSAVE")
        assert srv.proc.wait(timeout=20) == 0
