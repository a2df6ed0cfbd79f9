"""Real gofish cluster processes for tests, with every peer link routed through a fault proxy.

``with Cluster(3) as c:`` starts nodes 1..n (``python -m gofish server`` per
/work/helpers/cluster-contract.md) in a fresh temporary directory:

* client port and peer port of each node are reserved with `procs.free_port` (outside the
  kernel's ephemeral range, so that no other socket takes one before the node binds it) for
  the life of the cluster, and stay the same across `Cluster.restart`;
* node ``i`` gets its own ``--cluster`` string: its own entry is its real peer port, and
  every other node ``j`` is the proxy port of link ``i → j`` (`FaultProxy`), so the test can
  cut any directed link;
* one shared secret file (mode 0600), data in ``<tmp>/node<i>``, ``--appendfsync always``.

Readiness is the ``ready to accept connections`` log line (an event: a reader thread per
process sets it), never a sleep. Each process's output is kept in ``Node.log`` (last
`LOG_KEEP` lines, across restarts). Polls of INFO raft (`Cluster.wait_leader`,
`Cluster.wait_until`) run every `POLL` seconds up to an explicit timeout: there is no event
to wait for there.

On leaving the ``with`` block every process is killed and the proxy stopped, even on
failure; if the block raised, `Cluster.dump` (each node's INFO raft and log tail) is printed
so the failure shows the cluster's state.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast

import redis
from procs import free_port, release_port
from redis.backoff import NoBackoff
from redis.retry import Retry

from .faultproxy import FaultProxy

__all__ = ["Cluster", "ClusterError", "Node", "error_code", "raft_ids"]

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
POLL = 0.05
LOG_KEEP = 5000
_READY = re.compile(rb"ready to accept connections on ([\d.:a-f]+):(\d+)")
T = TypeVar("T")


class ClusterError(AssertionError):
    """A cluster-level expectation was not met in time (its message carries `Cluster.dump`)."""


def raft_ids(value: Any) -> list[int]:
    """Node ids from a parsed INFO field such as ``members`` (redis-py turns ``1,2,3`` into
    a list, ``1`` into an int and an empty value into ``''``)."""
    if isinstance(value, list):
        return sorted(int(v) for v in value)
    if isinstance(value, int):
        return [value]
    if isinstance(value, str) and value.strip():
        return sorted(int(v) for v in value.split(",") if v.strip())
    return []


def error_code(e: BaseException) -> str:
    """The first word of a Redis error reply (redis-py strips the known ones, such as
    ``CLUSTERDOWN`` or ``TRYAGAIN``, into ``status_code``)."""
    code = getattr(e, "status_code", None)
    if code:
        return str(code)
    text = str(e)
    return text.split(" ", 1)[0] if text else type(e).__name__


@dataclass
class Node:
    id: int
    port: int
    peer_port: int
    dir: Path
    args: list[str]
    log: list[bytes] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    stopped: bool = False  # SIGSTOPped
    member: bool = True  # False: an extra process (e.g. an impostor), not a cluster node
    ready: threading.Event = field(default_factory=threading.Event)
    exited: threading.Event = field(default_factory=threading.Event)

    @property
    def alive(self) -> bool:
        """Started and not exited (it may be stopped)."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def serving(self) -> bool:
        """Alive and not SIGSTOPped."""
        return self.alive and not self.stopped

    def log_text(self) -> str:
        return b"".join(list(self.log)).decode(errors="replace")


def _read_output(node: Node, proc: subprocess.Popen[bytes]) -> None:
    """Reader thread: keep the process's lines and signal readiness; ends at EOF."""
    assert proc.stdout is not None
    for line in proc.stdout:
        node.log.append(line)
        if len(node.log) > LOG_KEEP:
            del node.log[: LOG_KEEP // 5]
        if not node.ready.is_set() and _READY.search(line):
            node.ready.set()
    node.exited.set()


class Cluster:
    """N gofish processes forming one Raft cluster; see the module docstring."""

    def __init__(
        self,
        n: int = 3,
        *,
        appendfsync: str = "always",
        extra_args: Iterable[str] = (),
        start_timeout: float = 30.0,
        loglevel: str = "notice",
    ) -> None:
        self.n = n
        self.appendfsync = appendfsync
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.loglevel = loglevel
        self.nodes: dict[int, Node] = {}
        self.proxy = FaultProxy()
        self.tmp = Path(tempfile.mkdtemp(prefix="gofish-cluster-"))
        self.secret_file = self.tmp / "cluster.secret"
        self._clients: list[redis.Redis] = []
        self._ports: list[int] = []

    # --- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> Cluster:
        try:
            write_secret(self.secret_file)
            self.proxy.start()
            ids = list(range(1, self.n + 1))
            peer_ports = {i: self.new_port() for i in ids}
            for i in ids:
                for j in ids:
                    if i != j:
                        self.proxy.add_link(i, j, (HOST, peer_ports[j]))
            for i in ids:
                entries = [
                    f"{j}={HOST}:{peer_ports[j] if j == i else self.proxy.port(i, j)}"
                    for j in ids
                ]
                self.nodes[i] = self.new_node(i, peer_ports[i], ",".join(entries))
            self.start_all()
        except BaseException:
            self._print_dump()
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._print_dump()
        self.close()

    def close(self) -> None:
        """Kill every process, close clients, stop the proxy, release the ports, remove the
        data. Idempotent."""
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass
        self._clients.clear()
        for node in self.nodes.values():
            self._kill_proc(node)
        self.proxy.stop()
        for port in self._ports:
            release_port(port)
        self._ports.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def new_port(self) -> int:
        """A port for a process of this cluster to bind, reserved until `close`."""
        port = free_port()
        self._ports.append(port)
        return port

    def new_node(
        self,
        i: int,
        peer_port: int,
        cluster: str,
        *,
        join: bool = False,
        secret_file: Path | None = None,
        dir_name: str | None = None,
        member: bool = True,
    ) -> Node:
        """Describe (not start) a node: fresh client port, ``<tmp>/<dir_name or node<i>>``."""
        d = self.tmp / (dir_name or f"node{i}")
        port = self.new_port()
        args = [
            "--node-id", str(i),
            "--port", str(port),
            "--peer-port", str(peer_port),
            "--bind", HOST,
            "--cluster", cluster,
            "--dir", str(d),
            "--cluster-secret-file", str(secret_file or self.secret_file),
            "--appendfsync", self.appendfsync,
            "--loglevel", self.loglevel,
            *(["--join"] if join else []),
            *self.extra_args,
        ]
        return Node(i, port, peer_port, d, args, member=member)

    def spawn(self, key: int) -> None:
        """Start the process of ``self.nodes[key]`` with its args, without waiting."""
        node = self.nodes[key]
        if node.alive:
            raise RuntimeError(f"node {key} is already running")
        node.ready.clear()
        node.exited.clear()
        node.stopped = False
        node.log.append(f"===== harness: starting node {key} =====\n".encode())
        cmd = [sys.executable, "-m", "gofish", "server", *node.args]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT, env=dict(os.environ)
        )
        node.proc = proc
        threading.Thread(target=_read_output, args=(node, proc), daemon=True).start()

    def wait_ready(self, key: int, timeout: float | None = None) -> None:
        """Wait for the node's ready line; raises `ClusterError` if it exits or is late."""
        node = self.nodes[key]
        deadline = time.monotonic() + (timeout or self.start_timeout)
        while not node.ready.wait(POLL):
            if node.exited.is_set() or time.monotonic() > deadline:
                state = "exited" if node.exited.is_set() else "not ready in time"
                raise ClusterError(f"node {key} {state}:\n" + self._tail(node, 60))

    def start(self, key: int) -> None:
        """Start a node and wait until it serves clients."""
        self.spawn(key)
        self.wait_ready(key)

    def start_all(self) -> None:
        """Start every member that is not running (all at once), then wait for each."""
        todo = [i for i, n in sorted(self.nodes.items()) if n.member and not n.alive]
        for i in todo:
            self.spawn(i)
        for i in todo:
            self.wait_ready(i)

    def _kill_proc(self, node: Node) -> None:
        proc = node.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
            node.log.append(f"===== harness: node {node.id} killed =====\n".encode())
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        node.exited.wait(5)
        node.stopped = False

    def kill(self, key: int) -> None:
        """SIGKILL a node and reap it."""
        self._kill_proc(self.nodes[key])

    def kill_all(self) -> None:
        for node in self.nodes.values():
            self._kill_proc(node)

    def stop(self, key: int) -> None:
        """SIGSTOP a node (it keeps its sockets but runs nothing)."""
        node = self.nodes[key]
        assert node.proc is not None
        node.proc.send_signal(signal.SIGSTOP)
        node.stopped = True
        node.log.append(f"===== harness: node {key} SIGSTOP =====\n".encode())

    def cont(self, key: int) -> None:
        """SIGCONT a node."""
        node = self.nodes[key]
        assert node.proc is not None
        node.proc.send_signal(signal.SIGCONT)
        node.stopped = False
        node.log.append(f"===== harness: node {key} SIGCONT =====\n".encode())

    def restart(self, key: int) -> None:
        """Kill a node if running, start it again with the same args and dir, and wait."""
        self.kill(key)
        self.start(key)

    def add_node(self, i: int, *, via_proxy: bool = True) -> Node:
        """Create and start a new node ``i`` with ``--join`` and an empty dir.

        It dials the existing members through new proxy links ``i → j`` (or directly), and
        they will dial it at ``HOST:node.peer_port`` (the address a test gives ``RAFT ADD``).
        """
        if i in self.nodes:
            raise ValueError(f"node {i} exists")
        peer_port = self.new_port()
        entries = [f"{i}={HOST}:{peer_port}"]
        for j, other in sorted(self.nodes.items()):
            if not other.member:
                continue
            if via_proxy:
                port = self.proxy.add_link(i, j, (HOST, other.peer_port))
            else:
                port = other.peer_port
            entries.append(f"{j}={HOST}:{port}")
        node = self.new_node(i, peer_port, ",".join(entries), join=True)
        self.nodes[i] = node
        self.start(i)
        return node

    # --- clients ------------------------------------------------------------------------
    def client(
        self, key: int, *, timeout: float = 5.0, consistency: str | None = None
    ) -> redis.Redis:
        """A new redis-py client (RESP2, bytes replies, **no retries**: a retried write could
        apply twice) to a node; closed by `close`. With ``consistency`` every connection
        it opens first sends ``READCONSISTENCY <consistency>`` (so a reconnect keeps it)."""
        connect_func: Callable[[Any], None] | None = None
        if consistency is not None:
            connect_func = _read_consistency_hook(consistency)
        c = redis.Redis(
            host=HOST,
            port=self.nodes[key].port,
            protocol=2,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            redis_connect_func=cast(Any, connect_func),  # redis-py types it as no-arg
        )
        self._clients.append(c)
        return c

    def info_raft(self, key: int, *, timeout: float = 2.0) -> dict[str, Any]:
        """A node's ``INFO raft`` as parsed by redis-py (one short-lived connection)."""
        c = redis.Redis(
            host=HOST,
            port=self.nodes[key].port,
            protocol=2,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            return dict(c.info("raft"))
        finally:
            c.close()

    def serving(self) -> list[int]:
        """Ids of members that run and are not stopped."""
        return [i for i, n in sorted(self.nodes.items()) if n.serving and n.member]

    # --- waiting ------------------------------------------------------------------------
    def wait_until(
        self, fn: Callable[[], T | None], timeout: float, what: str, interval: float = POLL
    ) -> T:
        """Call ``fn`` every ``interval`` s until it returns a truthy value (returned) or
        ``timeout`` s passed (`ClusterError` naming ``what``, the last result and `dump`).
        Redis and socket errors from ``fn`` (a node not answering yet) count as "not yet"."""
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            try:
                value = fn()
                if value:
                    return value
                last = value
            except (redis.RedisError, OSError) as e:
                last = f"{type(e).__name__}: {e}"
            if time.monotonic() >= deadline:
                raise ClusterError(
                    f"timed out after {timeout}s waiting for {what}; last: {last!r}\n"
                    + self.dump()
                )
            time.sleep(interval)

    def leader_among(self, among: Iterable[int] | None = None) -> int | None:
        """The leader if, right now, exactly one node of ``among`` (default: serving nodes)
        says it leads and every node of ``among`` names it as leader; else None."""
        ids = list(among) if among is not None else self.serving()
        infos = {i: self.info_raft(i, timeout=1.0) for i in ids}
        leaders = [i for i, inf in infos.items() if inf.get("role") == "leader"]
        if len(leaders) != 1:
            return None
        lead = leaders[0]
        if all(_int(inf.get("leader_id")) == lead for inf in infos.values()):
            return lead
        return None

    def wait_leader(self, among: Iterable[int] | None = None, timeout: float = 15.0) -> int:
        """Poll INFO raft until `leader_among` agrees on a leader; returns its id."""
        ids = list(among) if among is not None else None
        return self.wait_until(
            lambda: self.leader_among(ids), timeout, f"a leader among {ids or 'serving nodes'}"
        )

    def followers(self, leader: int | None = None) -> list[int]:
        """Serving members other than the leader (waited for if not given)."""
        lead = leader if leader is not None else self.wait_leader()
        return [i for i in self.serving() if i != lead]

    # --- diagnostics --------------------------------------------------------------------
    @staticmethod
    def _tail(node: Node, lines: int) -> str:
        return "".join(b.decode(errors="replace") for b in list(node.log)[-lines:])

    def dump(self, lines: int = 40) -> str:
        """Every node's state, INFO raft and last ``lines`` log lines (for failure output)."""
        out = []
        for key, node in sorted(self.nodes.items()):
            state = ("stopped" if node.stopped else "running") if node.alive else "dead"
            kind = "" if node.member else " extra process"
            out.append(
                f"----- node {node.id}{kind} ({state}, client {node.port}, peer {node.peer_port})"
            )
            if node.serving:
                try:
                    info = self.info_raft(key, timeout=1.0)
                    out.append("INFO raft: " + ", ".join(f"{k}={v}" for k, v in info.items()))
                except Exception as e:
                    out.append(f"INFO raft failed: {type(e).__name__}: {e}")
            out.append(self._tail(node, lines))
        cut = [ln for ln in self.proxy.links() if self.proxy.is_cut(*ln)]
        out.append(f"----- cut links: {cut}")
        return "\n".join(out)

    def _print_dump(self) -> None:
        try:
            print("\n===== cluster state at failure =====\n" + self.dump(), flush=True)
        except Exception as e:  # never hide the original failure
            print(f"(cluster dump failed: {type(e).__name__}: {e})", flush=True)


def write_secret(path: Path, secret: str | None = None) -> None:
    """Write a cluster secret file (mode 0600): ``secret`` or 32 random bytes in hex."""
    path.write_text((secret or secrets.token_hex(32)) + "\n")
    os.chmod(path, 0o600)


def _int(v: Any) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


def _read_consistency_hook(mode: str) -> Callable[[Any], None]:
    def on_connect(conn: Any) -> None:
        conn.on_connect()
        conn.send_command("READCONSISTENCY", mode)
        reply = conn.read_response()
        if reply not in (b"OK", "OK", True):
            raise redis.ResponseError(f"READCONSISTENCY {mode} replied {reply!r}")

    return on_connect
