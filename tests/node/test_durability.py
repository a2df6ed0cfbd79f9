"""Durability of a single node through its Raft log, with real processes and real crashes.

- Every write acknowledged under ``appendfsync always`` survives ``kill -9`` and a restart.
- A restart rebuilds the whole dataset by replaying the log: every type, expiries (absolute
  times in the entries, and the deletions active expiry logged), transactions.
- While a long log is replayed, data commands get ``-LOADING`` and INFO says so.
- ``everysec`` and ``no`` acknowledge without waiting for an fsync and still survive a crash
  of the process (the write reached the OS before the reply), and the policy changes live.

Readiness and restarts wait for the server's log lines; the only polls are on conditions
the server exposes no event for (bounded, `wait_for`).
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hiredis
import pytest
import redis
from procs import ROOT, gofish_server
from server_helpers import RawClient, raw, wait_for

from gofish.log.rocksdb import RocksDBStorage
from gofish.raft import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    encode_conf_change,
)
from gofish.statemachine.entry import FORMAT_VERSION, Command, encode_command


def client(port: int) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=10, protocol=2, retry=None)


def raft_info(c: redis.Redis) -> dict[str, Any]:
    return dict(c.info("raft"))


# --- kill -9 --------------------------------------------------------------------------------
def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    acked: dict[str, str] = {}
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(port: int, wid: int) -> None:
        c = client(port)
        for i in range(100_000):
            if stop.is_set():
                return
            key, value = f"w{wid}:{i}", f"v{wid}.{i}"
            try:
                c.set(key, value)
            except (redis.ConnectionError, ConnectionError, OSError):
                return  # killed: this write may or may not have happened
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
                return
            with lock:
                acked[key] = value

    with gofish_server(data_dir=str(tmp_path)) as srv:
        c = client(srv.port)
        c.rpush("list", *[str(i) for i in range(100)])
        c.hset("hash", mapping={"a": "1", "b": "2"})
        threads = [threading.Thread(target=writer, args=(srv.port, w)) for w in range(8)]
        for t in threads:
            t.start()
        wait_for(lambda: len(acked) >= 3000, "3000 acknowledged writes", timeout=60)
        srv.proc.kill()  # SIGKILL while the writers are busy
        srv.proc.wait()
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert not errors, errors
    with gofish_server(data_dir=str(tmp_path)) as srv:
        c = client(srv.port)
        with lock:
            expected = dict(acked)
        pipe = c.pipeline(transaction=False)
        keys = sorted(expected)
        for key in keys:
            pipe.get(key)
        got = pipe.execute()
        missing = [k for k, v in zip(keys, got, strict=True) if v != expected[k].encode()]
        assert missing == [], f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
        assert c.lrange("list", 0, -1) == [str(i).encode() for i in range(100)]
        assert c.hgetall("hash") == {b"a": b"1", b"b": b"2"}
        info = raft_info(c)
        assert info["role"] == "leader" and info["members"] == 1
        assert info["applied_index"] == info["commit_index"] == info["last_log_index"]


# --- a full restart ---------------------------------------------------------------------------
def _dataset(c: redis.Redis) -> dict[str, Any]:
    """Everything the test wrote, read back type by type."""
    return {
        "s": c.get("s"),
        "n": c.get("n"),
        "f": c.get("f"),
        "h": c.hgetall("h"),
        "l": c.lrange("l", 0, -1),
        "set": c.smembers("set"),
        "z": c.zrange("z", 0, -1, withscores=True),
        "tx": c.get("tx"),
        "txl": c.lrange("txl", 0, -1),
        "gone": c.exists("expired-by-cycle", "deleted"),
        "keys": sorted(k for k in c.keys("*") if k != b"short"),
        "ttl_long": c.ttl("long") > 3000,
        "persisted": c.ttl("persisted"),
    }


def test_a_restart_replays_everything(tmp_path: Path) -> None:
    with gofish_server(data_dir=str(tmp_path)) as srv:
        c = client(srv.port)
        c.set("s", "hello")
        c.append("s", " world")
        c.incrby("n", 41)
        c.incr("n")
        c.incrbyfloat("f", "1.5")
        c.hset("h", mapping={"a": "1", "b": "2"})
        c.hdel("h", "b")
        c.rpush("l", "a", "b", "c")
        c.lpop("l")
        c.sadd("set", "x", "y", "z")
        c.srem("set", "y")
        c.zadd("z", {"one": 1, "two": 2, "three": 3})
        c.zincrby("z", 10, "one")
        c.set("deleted", "x")
        c.delete("deleted")
        c.set("long", "v", ex=3600)
        c.set("persisted", "v", ex=3600)
        c.persist("persisted")
        c.set("short", "v", px=300)  # expires during the restart
        c.set("expired-by-cycle", "v", px=50)
        # active expiry logs the deletion (gofish.expire); the restart replays it
        wait_for(lambda: c.info("stats")["expired_keys"] >= 1, "active expiry")
        p = c.pipeline(transaction=True)
        p.set("tx", "1").incr("tx").rpush("txl", "p", "q").lrange("txl", 0, -1)
        assert p.execute() == [True, 2, 2, [b"p", b"q"]]
        before = _dataset(c)
        last = raft_info(c)["last_log_index"]
        srv.proc.terminate()  # a clean stop
        assert srv.proc.wait(timeout=30) == 0
    time.sleep(0.35)  # let "short" (PX 300) expire by the wall clock
    with gofish_server(data_dir=str(tmp_path)) as srv:
        c = client(srv.port)
        after = _dataset(c)
        assert after == before
        assert c.exists("short") == 0
        assert before["gone"] == 0 and before["tx"] == b"2" and before["n"] == b"42"
        info = raft_info(c)
        assert info["replayed_entries"] >= last
        assert info["term"] >= 3


# --- LOADING ----------------------------------------------------------------------------------
_LISTENING = re.compile(rb"listening on [\d.]+:(\d+)")
_READY = re.compile(rb"ready to accept connections")


def _write_log(path: Path, n: int) -> None:
    """A node-1 log as the server writes it: the bootstrap conf change, then ``n`` SETs,
    all committed."""
    with RocksDBStorage(path) as st:
        cc = encode_conf_change(ConfChange(ConfChangeType.ADD_NODE, 1))
        st.save(entries=[Entry(1, 1, EntryType.CONF_CHANGE, cc)], conf_state=ConfState((1,)))
        chunk = 20_000
        for lo in range(0, n, chunk):
            ents = [
                Entry(1, i + 2, data=encode_command(
                    Command(FORMAT_VERSION, 1, i + 1, 1_000, 0, [[b"set", b"k%d" % i, b"v%d" % i]])
                ))
                for i in range(lo, min(n, lo + chunk))
            ]
            st.save(entries=ents)
        st.save(HardState(term=1, vote=1, commit=n + 1))
        st.sync()


@contextmanager
def _started(data_dir: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A gofish process, yielded as soon as its port is open (before it is ready)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gofish", "server", "--port", "0", "--dir", str(data_dir),
         "--loglevel", "notice"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        port = 0
        for line in proc.stdout:
            m = _LISTENING.search(line)
            if m:
                port = int(m.group(1))
                break
        assert port, "the server exited before listening"
        yield proc, port
    finally:
        proc.kill()
        proc.wait()


def test_loading_while_a_long_log_is_replayed(tmp_path: Path) -> None:
    n = 150_000
    _write_log(tmp_path / "raft", n)
    with _started(tmp_path) as (proc, port):
        rc = RawClient(port)
        err = rc("GET", "k1")
        assert isinstance(err, Exception)
        assert str(err) == "LOADING Redis is loading the dataset in memory"
        info = rc("INFO", "persistence")
        assert b"loading:1" in info
        assert b"loading_phase:" in info and b"loading_loaded_perc:" in info, info
        assert b"loading_total:" in info and b"loading_eta_seconds:" in info, info
        ping = rc("PING")  # no ``loading`` flag: refused as Redis does
        assert isinstance(ping, Exception) and str(ping).startswith("LOADING")
        # the rest of the output: a progress line, then ready
        assert proc.stdout is not None
        lines: list[bytes] = []
        for line in proc.stdout:
            lines.append(line)
            if _READY.search(line):
                break
        text = b"".join(lines)
        assert b"replaying" in text, text
        assert _READY.search(text), text
        assert rc("GET", "k1") == b"v1"
        assert rc("DBSIZE") == n
        done = rc("INFO", "persistence")
        assert b"loading:0" in done and b"loading_phase" not in done
        rc.close()


# --- everysec / no ------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["everysec", "no"])
def test_relaxed_policies_survive_a_process_crash(tmp_path: Path, policy: str) -> None:
    with gofish_server("--appendfsync", policy, data_dir=str(tmp_path)) as srv:
        c = client(srv.port)
        assert c.config_get("appendfsync") == {"appendfsync": policy}
        p = c.pipeline(transaction=False)
        for i in range(2000):
            p.set(f"k{i}", i)
        assert all(p.execute())
        assert raw(c, "INFO", "raft").count(f"appendfsync:{policy}".encode()) == 1
        srv.proc.kill()
        srv.proc.wait()
    with gofish_server("--appendfsync", policy, data_dir=str(tmp_path)) as srv:
        c = client(srv.port)
        assert c.dbsize() == 2000
        assert c.get("k1999") == b"1999"


def test_the_policy_changes_live(tmp_path: Path) -> None:
    with gofish_server("--appendfsync", "no", data_dir=str(tmp_path)) as srv:
        c = client(srv.port)
        c.set("a", "1")
        syncs = raft_info(c)["log_syncs"]
        for _ in range(20):
            c.incr("a")
        assert raft_info(c)["log_syncs"] == syncs  # nothing waited for an fsync
        assert c.config_set("appendfsync", "always")
        for _ in range(20):
            c.incr("a")
        info = raft_info(c)
        assert info["appendfsync"] == "always"
        assert info["log_syncs"] >= syncs + 20
        assert c.get("a") == b"41"


# --- the write path through the log ----------------------------------------------------------
def test_a_pipeline_of_writes_shares_fsyncs_and_keeps_its_order(tmp_path: Path) -> None:
    with gofish_server(data_dir=str(tmp_path)) as srv:
        c = client(srv.port)
        c.set("n", 0)
        syncs = raft_info(c)["log_syncs"]
        p = c.pipeline(transaction=False)
        for i in range(500):
            p.incr("n")
            p.rpush("l", i)
            if i % 100 == 99:
                p.get("n")  # a read sees every write before it
        replies = p.execute()
        expected: list[object] = []
        for i in range(500):
            expected += [i + 1, i + 1]
            if i % 100 == 99:
                expected.append(str(i + 1).encode())
        assert replies == expected
        assert c.lrange("l", 0, -1) == [str(i).encode() for i in range(500)]
        # 1000 writes from one connection, proposed a read batch at a time: far fewer fsyncs
        assert raft_info(c)["log_syncs"] - syncs < 200


def test_pipelined_writes_become_group_entries_with_their_own_replies(tmp_path: Path) -> None:
    """A run of pipelined writes in one read is proposed as one pipeline group entry (at most
    GROUP_MAX commands); each keeps its own reply, refusals before proposing included, and
    the groups replay after a restart."""
    cmds: list[list[bytes]] = [[b"SET", b"a", b"1"]]
    for i in range(40):
        cmds += [[b"INCR", b"a"], [b"RPUSH", b"l", b"%d" % i]]
    cmds += [[b"SET", b"only-a-key"],  # arity: refused before proposing, stays out
             [b"LPUSH", b"a", b"x"],  # WRONGTYPE at apply, inside the group
             [b"SET", b"b", b"2", b"EX", b"zero"],  # syntax: refused by its check
             [b"INCR", b"a"]]
    expected: list[object] = [b"OK"]
    for i in range(40):
        expected += [i + 2, i + 1]
    wrong = "WRONGTYPE Operation against a key holding the wrong kind of value"
    with gofish_server(data_dir=str(tmp_path)) as srv:
        c = client(srv.port)
        before = raft_info(c)["last_log_index"]
        rc = RawClient(srv.port)
        replies = rc.pipeline(cmds)
        assert replies[:81] == expected
        errors = replies[81:84]
        assert all(isinstance(e, hiredis.ReplyError) for e in errors)
        assert [str(e) for e in errors] == [
            "ERR wrong number of arguments for 'set' command", wrong,
            "ERR value is not an integer or out of range"]
        assert replies[84] == 42
        # 84 writes from one read: one group (a read split by TCP makes a few more)
        assert raft_info(c)["last_log_index"] - before <= 6
        many = [[b"SET", b"k%d" % i, b"%d" % i] for i in range(600)]
        before = raft_info(c)["last_log_index"]
        assert rc.pipeline(many) == [b"OK"] * 600
        grew = raft_info(c)["last_log_index"] - before
        assert 3 <= grew <= 20  # ceil(600 / GROUP_MAX) = 3 for one read
    with gofish_server(data_dir=str(tmp_path)) as srv:
        c = client(srv.port)
        assert c.get("a") == b"42"
        assert c.lrange("l", 0, -1) == [b"%d" % i for i in range(40)]
        assert c.mget("k0", "k599") == [b"0", b"599"]
        assert c.exists("only-a-key", "b") == 0


def test_watch_loses_no_update_under_contention(tmp_path: Path) -> None:
    """Optimistic increments from many clients: every EXEC that succeeds counts once."""
    rounds, workers = 25, 6
    done: list[int] = []

    def worker(port: int) -> None:
        c = client(port)
        ok = 0
        with c.pipeline(transaction=True) as p:
            while ok < rounds:
                try:
                    p.watch("counter")
                    value = int(p.get("counter") or 0)
                    p.multi()
                    p.set("counter", value + 1)
                    p.execute()
                    ok += 1
                except redis.WatchError:
                    continue
        done.append(ok)

    with gofish_server(data_dir=str(tmp_path)) as srv:
        threads = [threading.Thread(target=worker, args=(srv.port,)) for _ in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert done == [rounds] * workers
        assert client(srv.port).get("counter") == str(rounds * workers).encode()


def test_a_write_after_a_blocked_command_waits_for_it(tmp_path: Path) -> None:
    """Only plain writes are proposed ahead: a write pipelined after BLPOP runs once the
    BLPOP has returned, as in Redis."""
    with gofish_server(data_dir=str(tmp_path)) as srv:
        rc = RawClient(srv.port)
        rc.sock.sendall(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n5\r\n"
                        b"*3\r\n$5\r\nRPUSH\r\n$1\r\nq\r\n$1\r\nx\r\n")
        other = client(srv.port)
        wait_for(lambda: other.info("clients")["blocked_clients"] == 1, "BLPOP blocked")
        assert other.llen("q") == 0  # the RPUSH has not run
        ids = [int(cl["id"]) for cl in other.client_list() if "b" in cl["flags"]]
        assert len(ids) == 1 and other.client_unblock(ids[0])
        assert rc.read() is None  # unblocked like a timeout
        assert rc.read() == 1
        assert other.lrange("q", 0, -1) == [b"x"]
        rc.close()
