"""Client threads of the fault-injection suite: real redis-py connections that record every
operation they attempt into a `faults.history.History`.

Keys and what is done with them (the key's prefix decides its model, see `key_model`):

- ``r:<n>`` registers: ``SET k v`` (write), ``GET k`` (read), and compare-and-set as
  ``WATCH k; GET k`` (recorded as a read) then ``MULTI; SET k new; EXEC`` (recorded as
  ``cas [seen, new]``; a nil EXEC reply means the key changed since WATCH: ``fail``);
- ``c:<n>`` counters: ``INCR k`` (incr) and ``GET k`` (read, as an int);
- ``l:<n>`` lists: ``RPUSH k element`` (append) and ``LRANGE k 0 -1`` (read-list);
- ``c:own:<t>`` (with ``Workload.own_counters``) a counter only client thread ``t`` INCRs: its
  replies must count 1, 2, 3... (minus unknown outcomes), so a reply meant for another client
  shows up as a non-linearizable counter.

Every written value and appended element is unique (``t<thread>-<seq>``), so a read names the
write it saw.

Outcome of an operation (the contract of `History`):

======================================================  ==========================
what happened                                           recorded as
======================================================  ==========================
a reply that is not an error                            ``ok`` (the reply decoded)
``-CLUSTERDOWN``, ``-TRYAGAIN``, ``-LOADING``,          ``fail`` (not applied)
``-EXECABORT``
``-TIMEOUT``; socket timeout, reset or close after the  ``info`` (unknown); the thread
command was sent (or while sending it)                  continues as a new process
could not connect (refused, timed out, handshake        ``fail`` (nothing was sent)
failed): the command never left this client
any error of a read                                     ``fail`` (a read has no effect)
any other error reply (unexpected)                      ``info``, and noted in
                                                        `ClientStats.unexpected`
======================================================  ==========================

A reply of the wrong shape (``SET`` answered with anything but OK, ``INCR`` with a non-int,
``LRANGE`` with a non-array...) is recorded in `ClientStats.crossed` (and the op as unknown):
it is what a reply meant for another client looks like. A well-shaped reply meant for another
client shows up in the history instead: a value never written to that key, or a counter
value out of sequence.

Connections: one redis-py `redis.connection.Connection` per node per thread, RESP2, socket
timeouts of ``Workload.timeout`` seconds, **no retries** (a retried write could apply twice).
After any connection-level error the connection is dropped (a late reply must never be read
as the reply to the next command). Each connection first sends ``READCONSISTENCY <mode>``
when the thread's mode is not ``linearizable``.

Bounds: each thread runs at most ``Workload.max_ops`` operations and stops at its deadline or
when the stop event is set; every call is bounded by the socket timeout.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import redis
from redis.backoff import NoBackoff
from redis.connection import Connection
from redis.retry import Retry

from .history import History

__all__ = [
    "ClientStats",
    "Targets",
    "Workload",
    "Worker",
    "key_model",
    "NOT_APPLIED",
]

HOST: Final = "127.0.0.1"
NOT_APPLIED: Final = ("CLUSTERDOWN", "TRYAGAIN", "LOADING", "EXECABORT")
UNKNOWN: Final = ("TIMEOUT",)
READ_FS: Final = frozenset({"read", "read-list"})


def key_model(key: str) -> str:
    """``register``, ``counter`` or ``list`` from a key's prefix (`ValueError` otherwise)."""
    prefix = key.split(":", 1)[0]
    models = {"r": "register", "c": "counter", "l": "list"}
    if prefix not in models:
        raise ValueError(f"not a key of this suite: {key!r}")
    return models[prefix]


@dataclass(frozen=True)
class Workload:
    """What the client threads do.

    ``weights`` are the relative frequencies of register, counter and list operations;
    ``consistency`` is ``linearizable``, ``lease`` or ``mixed`` (even threads linearizable,
    odd threads lease); ``think`` seconds are waited between operations of a thread."""

    clients: int = 5
    registers: int = 3
    counters: int = 2
    lists: int = 2
    own_counters: bool = False
    weights: tuple[int, int, int] = (3, 2, 2)
    max_ops: int = 5000
    timeout: float = 1.0
    consistency: str = "linearizable"
    think: float = 0.0

    def shared_keys(self) -> list[str]:
        return (
            [f"r:{i}" for i in range(self.registers)]
            + [f"c:{i}" for i in range(self.counters)]
            + [f"l:{i}" for i in range(self.lists)]
        )

    def keys(self) -> list[str]:
        """Every key a run of this workload may touch (the final read reads them all)."""
        own = [f"c:own:{t}" for t in range(self.clients)] if self.own_counters else []
        return self.shared_keys() + own

    def mode(self, thread: int) -> str:
        if self.consistency == "mixed":
            return "lease" if thread % 2 else "linearizable"
        return self.consistency


class Targets:
    """The nodes client threads send reads and writes to; scripts and nemeses change them
    while the threads run (thread-safe). ``port_of`` maps a node id to its client port."""

    def __init__(self, port_of: Callable[[int], int], nodes: list[int]) -> None:
        self.port_of = port_of
        self._lock = threading.Lock()
        self._reads = list(nodes)
        self._writes = list(nodes)

    def set(self, nodes: list[int], *, reads: list[int] | None = None,
            writes: list[int] | None = None) -> None:
        """Send to ``nodes``; or reads to ``reads`` and writes to ``writes`` if given."""
        with self._lock:
            self._reads = list(reads if reads is not None else nodes)
            self._writes = list(writes if writes is not None else nodes)

    def add(self, node: int) -> None:
        with self._lock:
            for lst in (self._reads, self._writes):
                if node not in lst:
                    lst.append(node)

    def remove(self, node: int) -> None:
        with self._lock:
            for lst in (self._reads, self._writes):
                if node in lst:
                    lst.remove(node)

    def snapshot(self) -> tuple[list[int], list[int]]:
        with self._lock:
            return list(self._reads), list(self._writes)

    def pick(self, rng: random.Random, write: bool) -> int | None:
        with self._lock:
            lst = self._writes if write else self._reads
            return rng.choice(lst) if lst else None


@dataclass
class ClientStats:
    """What the threads saw beyond the history (shared by the threads; thread-safe)."""

    crossed: list[str] = field(default_factory=list)  # replies of the wrong shape
    unexpected: list[str] = field(default_factory=list)  # unexpected error replies
    #: why writes failed: an error code (CLUSTERDOWN...), ``not-sent`` or ``cas-mismatch``
    write_fails: Counter[str] = field(default_factory=Counter)
    #: the node each operation was sent to, by the index of its invoke in the history
    op_nodes: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def note_fail(self, reason: str) -> None:
        with self._lock:
            self.write_fails[reason] += 1


class NotSent(Exception):
    """The command never left this client (no connection): it cannot have been applied."""


class Unknown(Exception):
    """The command was (maybe) sent but no reply came: it may have been applied."""


class Crossed(Exception):
    """A reply of the wrong shape for the command (see the module docstring)."""


_CODES: Final = (
    (redis.exceptions.ClusterDownError, "CLUSTERDOWN"),
    (redis.exceptions.TryAgainError, "TRYAGAIN"),
    (redis.exceptions.BusyLoadingError, "LOADING"),
    (redis.exceptions.ExecAbortError, "EXECABORT"),
)


def error_code(e: BaseException) -> str:
    """The first word of an error reply (redis-py strips the codes it knows, such as
    CLUSTERDOWN, from the message into ``status_code`` and the exception class)."""
    code = getattr(e, "status_code", None)
    if code:
        return str(code)
    for cls, name in _CODES:
        if isinstance(e, cls):
            return name
    text = str(e)
    return text.split(" ", 1)[0] if text else type(e).__name__


class Connections:
    """One thread's connections, one per node, opened on first use."""

    def __init__(self, port_of: Callable[[int], int], timeout: float, mode: str) -> None:
        self.port_of = port_of
        self.timeout = timeout
        self.mode = mode
        self._conns: dict[int, Connection] = {}

    def _on_connect(self, conn: Any) -> None:
        conn.on_connect()
        if self.mode != "linearizable":
            conn.send_command("READCONSISTENCY", self.mode, check_health=False)
            reply = conn.read_response()
            if reply not in (b"OK", "OK"):
                raise redis.ConnectionError(f"READCONSISTENCY {self.mode} replied {reply!r}")

    def get(self, node: int) -> Connection:
        """A connected connection to ``node``; `NotSent` if it cannot connect."""
        conn = self._conns.get(node)
        if conn is None:
            conn = Connection(  # type: ignore[no-untyped-call]
                host=HOST,
                port=self.port_of(node),
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                protocol=2,
                retry=Retry(NoBackoff(), 0),
                redis_connect_func=self._on_connect,
                health_check_interval=0,
            )
            self._conns[node] = conn
        try:
            conn.connect()  # type: ignore[no-untyped-call]
        except (redis.RedisError, OSError) as e:
            self.drop(node)
            raise NotSent(f"node {node}: {e}") from e
        return conn

    def call(self, node: int, *args: Any) -> Any:
        """Send one command on ``node`` and read its reply. Raises `NotSent`, `Unknown` or
        `redis.ResponseError` (an error reply; the connection stays usable)."""
        conn = self.get(node)
        try:
            conn.send_command(*args, check_health=False)  # type: ignore[no-untyped-call]
            return conn.read_response()
        except redis.ResponseError:
            raise
        except (redis.RedisError, OSError) as e:
            self.drop(node)
            raise Unknown(f"node {node}: {type(e).__name__}: {e}") from e

    def drop(self, node: int) -> None:
        conn = self._conns.pop(node, None)
        if conn is not None:
            try:
                conn.disconnect()  # type: ignore[no-untyped-call]
            except Exception:
                pass

    def close(self) -> None:
        for node in list(self._conns):
            self.drop(node)


def _expect_ok(reply: Any, what: str) -> None:
    if reply not in (b"OK", "OK"):
        raise Crossed(f"{what} replied {reply!r}, expected OK")


def _expect_int(reply: Any, what: str) -> int:
    if type(reply) is not int:
        raise Crossed(f"{what} replied {reply!r}, expected an integer")
    return reply


def _expect_bulk(reply: Any, what: str) -> str | None:
    if reply is not None and not isinstance(reply, bytes):
        raise Crossed(f"{what} replied {reply!r}, expected a bulk string or nil")
    return None if reply is None else reply.decode()


def _expect_counter(reply: Any, what: str) -> int | None:
    value = _expect_bulk(reply, what)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise Crossed(f"{what} replied {reply!r}, expected an integer string") from None


def _expect_list(reply: Any, what: str) -> tuple[str, ...]:
    if not isinstance(reply, list) or not all(isinstance(x, bytes) for x in reply):
        raise Crossed(f"{what} replied {reply!r}, expected an array of bulk strings")
    return tuple(x.decode() for x in reply)


class Worker:
    """One client thread: random operations on random target nodes until ``max_ops``, the
    ``deadline`` (monotonic seconds) or ``stop``; see the module docstring."""

    def __init__(
        self,
        thread: int,
        history: History,
        targets: Targets,
        workload: Workload,
        seed: int,
        stop: threading.Event,
        deadline: float,
        stats: ClientStats,
    ) -> None:
        self.thread = thread
        self.history = history
        self.targets = targets
        self.w = workload
        self.rng = random.Random(f"client-{seed}-{thread}")
        self.stop = stop
        self.deadline = deadline
        self.stats = stats
        self.conns = Connections(targets.port_of, workload.timeout, workload.mode(thread))
        self.process = history.new_process()
        self.seq = 0
        self.ops = 0

    # --- the loop -------------------------------------------------------------------------
    def run(self) -> None:
        try:
            while (self.ops < self.w.max_ops and not self.stop.is_set()
                   and time.monotonic() < self.deadline):
                self.step()
                if self.w.think:
                    self.stop.wait(self.w.think)
        finally:
            self.conns.close()

    def step(self) -> None:
        """One random operation."""
        rng, w = self.rng, self.w
        if w.own_counters and rng.random() < 0.4:
            key = f"c:own:{self.thread}"
            self.incr(key) if rng.random() < 0.7 else self.read(key)
            return
        kinds = [k for k, n in zip(("r", "c", "l"), (w.registers, w.counters, w.lists),
                                   strict=True) if n]
        weights = [wt for wt, n in zip(w.weights, (w.registers, w.counters, w.lists),
                                       strict=True) if n]
        if not kinds:
            return
        kind = rng.choices(kinds, weights)[0]
        n = {"r": w.registers, "c": w.counters, "l": w.lists}[kind]
        key = f"{kind}:{rng.randrange(n)}"
        x = rng.random()
        if kind == "r":
            if x < 0.45:
                self.read(key)
            elif x < 0.8:
                self.write(key)
            else:
                self.cas(key)
        elif kind == "c":
            self.incr(key) if x < 0.6 else self.read(key)
        else:
            self.append(key) if x < 0.6 else self.read(key)

    def next_value(self) -> str:
        self.seq += 1
        return f"t{self.thread}-{self.seq}"

    # --- recording --------------------------------------------------------------------------
    def record(self, f: str, key: str, value: Any, node: int | None,
               action: Callable[[int], Any]) -> str:
        """Invoke ``f``, run ``action(node)`` (returns the ok value or raises), complete the
        op by the table in the module docstring; returns the completion kind."""
        self.ops += 1
        op = self.history.invoke(self.process, f, key, value)
        if node is not None:
            self.stats.op_nodes[op.index] = node
        kind, result, reason = "fail", None, ""
        try:
            if node is None:
                raise NotSent("no target node")
            result = action(node)
            kind = "ok"
        except _Fail as e:
            kind, reason = "fail", str(e) or "cas-mismatch"
        except NotSent:
            kind, reason = "fail", "not-sent"
        except Unknown:
            kind = "info"
        except Crossed as e:
            self.stats.crossed.append(f"p{self.process} {f} {key} on node {node}: {e}")
            kind = "info"
            if node is not None:
                self.conns.drop(node)  # the stream may be out of step: start afresh
        except redis.ResponseError as e:
            code = error_code(e)
            if code in NOT_APPLIED:
                kind, reason = "fail", code
            elif code in UNKNOWN:
                kind = "info"
            else:
                self.stats.unexpected.append(f"{f} {key} on node {node}: -{code} {e}")
                kind = "info"
        if f in READ_FS:
            if kind != "ok":
                kind = "fail"  # a read that did not complete had no effect
        elif kind == "fail":
            self.stats.note_fail(reason)
        self.history.complete(op, kind, result if kind == "ok" else None)
        if kind == "info":
            self.process = self.history.new_process()
        return kind

    # --- operations -------------------------------------------------------------------------
    def read(self, key: str) -> str:
        node = self.targets.pick(self.rng, write=False)
        model = key_model(key)
        if model == "list":
            return self.record("read-list", key, None, node, lambda n: _expect_list(
                self.conns.call(n, "LRANGE", key, 0, -1), "LRANGE"))
        if model == "counter":
            return self.record("read", key, None, node, lambda n: _expect_counter(
                self.conns.call(n, "GET", key), "GET"))
        return self.record("read", key, None, node, lambda n: _expect_bulk(
            self.conns.call(n, "GET", key), "GET"))

    def write(self, key: str) -> str:
        node = self.targets.pick(self.rng, write=True)
        value = self.next_value()
        return self.record("write", key, value, node, lambda n: _expect_ok(
            self.conns.call(n, "SET", key, value), "SET"))

    def incr(self, key: str) -> str:
        node = self.targets.pick(self.rng, write=True)
        return self.record("incr", key, 1, node, lambda n: _expect_int(
            self.conns.call(n, "INCR", key), "INCR"))

    def append(self, key: str) -> str:
        node = self.targets.pick(self.rng, write=True)
        value = self.next_value()
        return self.record("append", key, value, node, lambda n: _expect_int(
            self.conns.call(n, "RPUSH", key, value), "RPUSH"))

    def cas(self, key: str) -> str:
        """WATCH + GET (a recorded read) then MULTI/SET/EXEC (a recorded cas)."""
        node = self.targets.pick(self.rng, write=True)
        if node is None:
            return self.record("cas", key, [None, self.next_value()], node, lambda n: None)
        seen: list[str | None] = []

        def watch_and_get(n: int) -> str | None:
            _expect_ok(self.conns.call(n, "WATCH", key), "WATCH")
            try:
                value = _expect_bulk(self.conns.call(n, "GET", key), "GET")
            except redis.ResponseError:
                self._unwatch(n)
                raise
            seen.append(value)
            return value

        if self.record("read", key, None, node, watch_and_get) != "ok":
            return "fail"
        new = self.next_value()

        def multi_exec(n: int) -> None:
            sent_exec = False
            try:
                _expect_ok(self.conns.call(n, "MULTI"), "MULTI")
                queued = self.conns.call(n, "SET", key, new)
                if queued not in (b"QUEUED", "QUEUED"):
                    raise Crossed(f"SET in MULTI replied {queued!r}, expected QUEUED")
                sent_exec = True
                reply = self.conns.call(n, "EXEC")
            except Unknown:
                if not sent_exec:  # the transaction died with the connection
                    raise _Fail("lost-before-exec") from None
                raise
            except redis.ResponseError as e:
                if not sent_exec:
                    self._discard(n)
                    raise _Fail(error_code(e)) from e
                raise
            if reply is None:
                raise _Fail  # a watched key changed: EXEC did nothing
            if not isinstance(reply, list) or len(reply) != 1:
                raise Crossed(f"EXEC replied {reply!r}, expected [OK]")
            inner = reply[0]
            if isinstance(inner, redis.ResponseError):
                raise inner
            _expect_ok(inner, "SET in EXEC")

        return self.record("cas", key, [seen[0], new], node, multi_exec)

    def _unwatch(self, node: int) -> None:
        try:
            self.conns.call(node, "UNWATCH")
        except (redis.RedisError, NotSent, Unknown):
            self.conns.drop(node)

    def _discard(self, node: int) -> None:
        try:
            self.conns.call(node, "DISCARD")
        except (redis.RedisError, NotSent, Unknown):
            self.conns.drop(node)


class _Fail(Exception):
    """The operation definitely did not take effect (not an error reply)."""
