"""Workloads and checks shared by the cluster scenarios (tests/cluster/test_cluster.py).

Reply meanings (contract): ``TIMEOUT`` = may have been applied; ``CLUSTERDOWN`` and
``TRYAGAIN`` = not applied. A lost connection during a write is as ambiguous as TIMEOUT.
Every loop here is bounded by a count, a deadline or a socket timeout.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hiredis
import redis

from .harness import HOST, Cluster, error_code

NOT_APPLIED = ("CLUSTERDOWN", "TRYAGAIN")
AMBIGUOUS = ("TIMEOUT",)


def cmd(r: redis.Redis, *args: Any) -> Any:
    """Send any command (RAFT, READCONSISTENCY) and return its raw reply."""
    return r.execute_command(*args)  # type: ignore[no-untyped-call]


def ok(reply: Any) -> bool:
    return reply is True or reply in (b"OK", "OK")


def retry_write(c: Cluster, fn: Callable[[], Any], timeout: float, what: str) -> Any:
    """Run a write until it succeeds, retrying only on "not applied" errors (CLUSTERDOWN,
    TRYAGAIN) for at most ``timeout`` s; any other error fails the test at once."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except redis.ResponseError as e:
            if error_code(e) not in NOT_APPLIED:
                raise AssertionError(f"{what}: unexpected error {e!s}\n{c.dump()}") from e
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still {e!s} after {timeout}s\n{c.dump()}") from e
        time.sleep(0.05)


def expect_error(
    c: Cluster, fn: Callable[[], Any], codes: tuple[str, ...], within: float, what: str
) -> str:
    """``fn`` must fail with a Redis error whose code is in ``codes`` within ``within`` s;
    returns the code."""
    t0 = time.monotonic()
    try:
        reply = fn()
    except redis.ResponseError as e:
        took = time.monotonic() - t0
        code = error_code(e)
        print(f"{what}: -{code} {e!s} after {took:.2f}s")
        assert code in codes, f"{what}: got -{code} {e!s}, want one of {codes}\n{c.dump()}"
        assert took <= within, f"{what}: the error took {took:.1f}s (> {within}s)\n{c.dump()}"
        return code
    raise AssertionError(f"{what}: expected an error {codes}, got {reply!r}\n{c.dump()}")


# --- a data set of every type, and how to read it back -------------------------------------
def write_sample(r: redis.Redis, tag: str) -> None:
    """Writes of several types through ``r``; `read_sample` reads them back."""
    assert r.set(f"{tag}:str", "v1") is True
    assert r.append(f"{tag}:str", "+x") == 4
    assert r.incr(f"{tag}:ctr") == 1
    assert r.incrby(f"{tag}:ctr", 41) == 42
    assert r.rpush(f"{tag}:list", "a", "b", "c") == 3
    assert r.lpush(f"{tag}:list", "z") == 4
    assert r.hset(f"{tag}:hash", mapping={"f1": "1", "f2": "2"}) == 2
    assert r.hincrby(f"{tag}:hash", "f1", 10) == 11
    assert r.sadd(f"{tag}:set", "x", "y", "x") == 2
    assert r.zadd(f"{tag}:zset", {"m1": 1.5, "m2": 2}) == 2
    assert r.set(f"{tag}:gone", "1") is True
    assert r.delete(f"{tag}:gone") == 1


SAMPLE = {
    "str": b"v1+x",
    "ctr": b"42",
    "list": [b"z", b"a", b"b", b"c"],
    "hash": {b"f1": b"11", b"f2": b"2"},
    "set": {b"x", b"y"},
    "zset": [(b"m1", 1.5), (b"m2", 2.0)],
    "gone": None,
}


def read_sample(r: redis.Redis, tag: str) -> dict[str, Any]:
    return {
        "str": r.get(f"{tag}:str"),
        "ctr": r.get(f"{tag}:ctr"),
        "list": r.lrange(f"{tag}:list", 0, -1),
        "hash": r.hgetall(f"{tag}:hash"),
        "set": r.smembers(f"{tag}:set"),
        "zset": r.zrange(f"{tag}:zset", 0, -1, withscores=True),
        "gone": r.get(f"{tag}:gone"),
    }


# --- a raw RESP connection: bytes on the wire before the reply can be read ------------------
class RawResp:
    """One blocking RESP2 connection: `send` writes a command to the socket at once, `reply`
    reads one reply (an error reply is returned as a `hiredis.ReplyError` value)."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.reader = hiredis.Reader()

    def send(self, *args: str | bytes) -> None:
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a.encode() if isinstance(a, str) else a
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))

    def reply(self) -> Any:
        while True:
            got = self.reader.gets()
            if got is not False:
                return got
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed before a reply")
            self.reader.feed(data)

    def call(self, *args: str | bytes) -> Any:
        self.send(*args)
        return self.reply()

    def close(self) -> None:
        self.sock.close()


@dataclass
class LoadLog:
    """What one writer thread saw: per key, the reply kind of each write."""

    acked_sets: dict[str, str] = field(default_factory=dict)
    maybe_sets: dict[str, str] = field(default_factory=dict)  # TIMEOUT / connection lost
    acked_pushes: list[int] = field(default_factory=list)
    maybe_pushes: list[int] = field(default_factory=list)
    failed: int = 0  # CLUSTERDOWN / TRYAGAIN
    unexpected: list[str] = field(default_factory=list)


def classify_write(log: LoadLog, fn: Callable[[], Any]) -> str:
    """Run one write; classify it as "ack", "maybe" or "failed"."""
    try:
        fn()
        return "ack"
    except (redis.ConnectionError, redis.TimeoutError):
        return "maybe"
    except redis.ResponseError as e:
        code = error_code(e)
        if code in AMBIGUOUS:
            return "maybe"
        if code in NOT_APPLIED:
            log.failed += 1
            return "failed"
        log.unexpected.append(str(e))
        return "maybe"


def load_writer(
    c: Cluster, t: int, nodes: list[int], steps: int, log: LoadLog, on_step: Callable[[], None]
) -> None:
    clients = {i: c.client(i, timeout=8) for i in nodes}
    for k in range(steps):
        r = clients[nodes[(k + t) % len(nodes)]]
        key, val = f"b:{t}:{k}", f"v{k}"
        kind = classify_write(log, lambda: r.set(key, val))  # noqa: B023 - called at once
        if kind == "ack":
            log.acked_sets[key] = val
        elif kind == "maybe":
            log.maybe_sets[key] = val
        kind = classify_write(log, lambda: r.rpush(f"b:list:{t}", k))  # noqa: B023 - called at once
        if kind == "ack":
            log.acked_pushes.append(k)
        elif kind == "maybe":
            log.maybe_pushes.append(k)
        on_step()


def check_list(pushed: list[int], acked: list[int], maybe: list[int], who: str) -> None:
    """A list of unique pushed ids: every acknowledged id once, in the order the pushes were
    acknowledged (each was sent after the previous one's reply, or pipelined on one
    connection); nothing twice; nothing that was refused."""
    assert len(pushed) == len(set(pushed)), (
        f"{who}: applied twice: {sorted(x for x in set(pushed) if pushed.count(x) > 1)}"
    )
    lost = sorted(set(acked) - set(pushed))
    assert not lost, f"{who}: acknowledged pushes lost: {lost}"
    refused = sorted(set(pushed) - set(acked) - set(maybe))
    assert not refused, f"{who}: pushes applied that were refused: {refused}"
    acked_set = set(acked)
    in_list = [x for x in pushed if x in acked_set]
    assert in_list == sorted(in_list), f"{who}: acknowledged pushes out of order: {in_list}"


def check_load(
    c: Cluster, r: redis.Redis, logs: list[LoadLog], piped: LoadLog, who: str
) -> None:
    """Every acknowledged write is visible through ``r``; nothing was applied twice."""
    for t, log in enumerate(logs):
        keys = list(log.acked_sets)
        for start in range(0, len(keys), 100):
            chunk = keys[start : start + 100]
            got = r.mget(chunk)
            for key, value in zip(chunk, got, strict=True):
                assert value == log.acked_sets[key].encode(), f"{who}: {key} = {value!r}"
        pushed = [int(x) for x in r.lrange(f"b:list:{t}", 0, -1)]
        check_list(pushed, log.acked_pushes, log.maybe_pushes, f"{who}, writer {t}")
    pushed = [int(x) for x in r.lrange("b:plist", 0, -1)]
    check_list(pushed, piped.acked_pushes, piped.maybe_pushes, f"{who}, pipelined pushes")


def pipelined_pusher(
    r: redis.Redis,
    log: LoadLog,
    stop: threading.Event,
    max_bursts: int,
    bursts: list[int],
    key: str = "b:plist",
) -> None:
    """Bursts of 20 pipelined ``RPUSH <key> <id>`` (ids increasing) until ``stop`` is set or
    ``max_bursts`` bursts were sent; ``bursts[0]`` counts them."""
    next_id = 0
    while not stop.is_set() and bursts[0] < max_bursts:
        ids = list(range(next_id, next_id + 20))
        next_id += 20
        p = r.pipeline(transaction=False)
        for x in ids:
            p.rpush(key, x)
        try:
            replies = p.execute(raise_on_error=False)
        except (redis.ConnectionError, redis.TimeoutError):
            log.maybe_pushes.extend(ids)
            replies = []
        for x, reply in zip(ids, replies, strict=False):
            if isinstance(reply, int):
                log.acked_pushes.append(x)
            elif error_code(reply) in NOT_APPLIED:
                log.failed += 1
            else:
                if error_code(reply) not in AMBIGUOUS:
                    log.unexpected.append(str(reply))
                log.maybe_pushes.append(x)
        bursts[0] += 1


def load_state(r: redis.Redis, logs: list[LoadLog], steps: int) -> dict[str, Any]:
    """The state of every key the load touched, as read through ``r``."""
    keys = [f"b:{t}:{k}" for t in range(len(logs)) for k in range(steps)]
    state: dict[str, Any] = {}
    for start in range(0, len(keys), 100):
        chunk = keys[start : start + 100]
        state.update(zip(chunk, r.mget(chunk), strict=True))
    for t in range(len(logs)):
        state[f"b:list:{t}"] = r.lrange(f"b:list:{t}", 0, -1)
    state["b:plist"] = r.lrange("b:plist", 0, -1)
    return state
