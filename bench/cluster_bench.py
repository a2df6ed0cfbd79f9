"""A 3-node gofish cluster vs Redis 7.0: write throughput through each node, and failover time.

Starts three ``gofish server`` processes forming one Raft cluster (``--appendfsync always
--save ''``, data in a temporary directory) and one ``redis-server`` with ``--appendonly yes
--appendfsync always --save ''``. Then:

1. **Write throughput.** ``redis-benchmark -c 50 -n N -t set -r 100000`` through the leader,
   through a follower (which forwards each write to the leader) and against Redis, the three
   alternated run by run, ``--rounds`` times; medians, the ratio to Redis, and CPU
   microseconds per write (utime+stime from /proc) of the node the client talks to and of
   the three gofish processes together. A run whose output shows a server error is fatal:
   redis-benchmark 7.0 exits at the first error reply.
2. **Failover time.** One background writer per surviving node (redis-py, short socket
   timeout, every error retried at once, attempts bounded) writes unique keys; the leader is
   killed with SIGKILL and reaped; the failover time is from the kill to the first
   acknowledged write *sent after the leader was reaped*, per survivor and the first of
   them. Every write acknowledged during the round is read back afterwards (a lost
   acknowledged write is reported). The killed node is restarted and waited for (its
   applied index reaches the leader's commit index) before the next of ``--failovers``
   rounds.

Writes docs/benchmarks-cluster.md and prints the same Markdown on stdout; progress goes to
stderr. Defaults take about three minutes here.

    .venv/bin/python bench/cluster_bench.py [--rounds 5] [--requests 30000] [--clients 50]
        [--pipeline 1] [--failovers 5] [--prekill 1.0] [--socket-timeout 0.25]
        [--targets leader,follower,redis] [--phases throughput,failover]
        [--out docs/benchmarks-cluster.md] [--keep-dir]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import compare  # noqa: E402  (puts tests/ on sys.path too)
from procs import free_port  # noqa: E402

READY = re.compile(rb"ready to accept connections on ([\d.:a-f]+):(\d+)")
ELECTED = re.compile(r"(?m)^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*became the Raft leader")
HOST = "127.0.0.1"
START_TIMEOUT = 60.0
LEADER_TIMEOUT = 30.0
CATCHUP_TIMEOUT = 60.0
FAILOVER_TIMEOUT = 30.0
POLL = 0.05  # INFO polling period: another process's state has no event to wait on


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes


@dataclass
class Node:
    """One gofish cluster node: its fixed ports and directory, and its current process."""

    node_id: int
    port: int
    peer_port: int
    dir: Path
    log_path: Path
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start the process and return once it logs that it serves clients."""
        self.starts += 1
        proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT
        )
        self.proc = proc
        ready = threading.Event()  # set on the ready line or at end of output
        seen = threading.Event()
        log = self.log_path.open("ab")
        log.write(f"===== start {self.starts} at {time.time():.3f} =====\n".encode())

        def drain() -> None:
            assert proc.stdout is not None
            with log:
                for line in proc.stdout:
                    log.write(line)
                    log.flush()
                    if not seen.is_set() and READY.search(line):
                        seen.set()
                        ready.set()
            ready.set()

        threading.Thread(target=drain, daemon=True, name=f"log-{self.node_id}").start()
        if not ready.wait(START_TIMEOUT) or not seen.is_set():
            self.kill()
            raise RuntimeError(
                f"node {self.node_id} not ready (exit {proc.poll()}); log tail:\n{self.tail()}"
            )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def elected_after(self, wall: float) -> float | None:
        """Wall time of this node's first "became the Raft leader" log line after ``wall``
        (a diagnostic read from the log; None when there is no such line)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return None
        for m in ELECTED.finditer(text):
            t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            if t >= wall - 0.001:
                return t
        return None

    def tail(self, n: int = 30) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def client(self, timeout: float = 5.0) -> redis.Redis:
        return redis.Redis(
            host=HOST,
            port=self.port,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )

    def raft_info(self) -> dict[str, Any] | None:
        try:
            with self.client(1.0) as c:
                info: dict[str, Any] = c.info("raft")
                return info
        except redis.RedisError:
            return None


class Cluster:
    """Three nodes on loopback; use as a context manager (every process killed on exit)."""

    def __init__(self, size: int, appendfsync: str, base: Path) -> None:
        self.base = base
        secret = base / "cluster.secret"
        secret.write_text(secrets.token_hex(32))
        secret.chmod(0o600)
        ports = [(free_port(), free_port()) for _ in range(size)]
        spec = ",".join(f"{i + 1}={HOST}:{pp}" for i, (_, pp) in enumerate(ports))
        self.nodes: list[Node] = []
        for i, (port, peer_port) in enumerate(ports):
            nid = i + 1
            d = base / f"node{nid}"
            d.mkdir()
            argv = [
                sys.executable, "-m", "gofish", "server",
                "--node-id", str(nid), "--port", str(port), "--peer-port", str(peer_port),
                "--cluster", spec, "--dir", str(d), "--cluster-secret-file", str(secret),
                "--bind", HOST, "--appendfsync", appendfsync, "--save", "", "--loglevel", "notice",
            ]  # fmt: skip
            self.nodes.append(Node(nid, port, peer_port, d, base / f"node{nid}.log", argv))

    def __enter__(self) -> Cluster:
        try:
            for n in self.nodes:  # each node serves before it has a leader (contract)
                n.start()
                progress(f"node {n.node_id} ready on {HOST}:{n.port} (pid {n.pid})")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        for n in self.nodes:
            n.kill()

    def live(self) -> list[Node]:
        return [n for n in self.nodes if n.alive]

    def node(self, node_id: int) -> Node:
        return self.nodes[node_id - 1]

    def wait_leader(
        self, timeout: float = LEADER_TIMEOUT
    ) -> tuple[Node, dict[int, dict[str, Any]]]:
        """The leader once every live node reports the same single leader, with the INFOs."""
        deadline = time.monotonic() + timeout
        last: dict[int, dict[str, Any]] = {}
        while time.monotonic() < deadline:
            live = self.live()
            infos = {n.node_id: n.raft_info() for n in live}
            last = {k: v for k, v in infos.items() if v is not None}
            leaders = [k for k, v in last.items() if v.get("role") == "leader"]
            if (
                len(last) == len(live)
                and len(leaders) == 1
                and all(v.get("leader_id") == leaders[0] for v in last.values())
            ):
                return self.node(leaders[0]), last
            time.sleep(POLL)
        raise RuntimeError(f"no agreed leader within {timeout:.0f}s; last INFO raft: {last}")

    def wait_caught_up(self, node: Node, timeout: float = CATCHUP_TIMEOUT) -> float:
        """Wait until ``node`` has applied the leader's commit index and the leader sees it
        connected with no lag; returns the seconds waited."""
        started = time.monotonic()
        deadline = started + timeout
        last: object = None
        while time.monotonic() < deadline:
            leader, infos = self.wait_leader(max(0.1, deadline - time.monotonic()))
            mine = infos.get(node.node_id)
            lead = infos[leader.node_id]
            if leader is node:
                return time.monotonic() - started
            peer = lead.get(f"peer_{node.node_id}")
            last = (mine, lead)
            if (
                mine is not None
                and int(mine.get("applied_index", -1)) >= int(lead.get("commit_index", 0))
                and isinstance(peer, dict)
                and int(peer.get("connected", 0)) == 1
                and int(peer.get("lag", 1)) == 0
            ):
                return time.monotonic() - started
            time.sleep(POLL)
        raise RuntimeError(f"node {node.node_id} did not catch up in {timeout:.0f}s: {last}")


def cluster_available() -> bool:
    out = subprocess.run(
        [sys.executable, "-m", "gofish", "server", "--help"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    return "--cluster" in out.stdout


# --------------------------------------------------------------------------- throughput


@dataclass
class Sample:
    rps: float
    entry_cpu_us: float  # CPU per write of the process the client talks to
    cluster_cpu_us: float  # CPU per write of all gofish processes (0 for Redis)
    p50_ms: float  # latency percentiles as redis-benchmark reports them
    p99_ms: float


def bench_set(
    port: int, entry_pid: int, pids: Sequence[int], requests: int, clients: int, pipeline: int
) -> Sample:
    """One ``redis-benchmark -t set`` run (after FLUSHALL); fails on any server error."""
    flush = subprocess.run(
        ["redis-cli", "-h", HOST, "-p", str(port), "FLUSHALL"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if flush.stdout.strip() != "OK":
        raise RuntimeError(f"FLUSHALL on port {port}: {flush.stdout!r} {flush.stderr!r}")
    before = {pid: compare.cpu_seconds(pid) for pid in pids}
    entry_before = compare.cpu_seconds(entry_pid)
    run = subprocess.run(
        [
            "redis-benchmark", "-h", HOST, "-p", str(port), "-c", str(clients),
            "-n", str(requests), "-P", str(pipeline), "-r", "100000", "-t", "set", "--csv", "-q",
        ],
        capture_output=True, text=True, timeout=max(120, requests // 100),
    )  # fmt: skip
    entry_cpu = compare.cpu_seconds(entry_pid) - entry_before
    cluster_cpu = sum(compare.cpu_seconds(pid) - t for pid, t in before.items())
    text = run.stdout + run.stderr
    if run.returncode != 0 or "Error from server" in text:
        raise RuntimeError(f"redis-benchmark on port {port} (exit {run.returncode}):\n{text}")
    for row in csv.reader(io.StringIO(run.stdout)):
        if len(row) > 6 and row[0] == "SET":
            return Sample(
                float(row[1]),
                entry_cpu * 1e6 / requests,
                cluster_cpu * 1e6 / requests,
                float(row[4]),
                float(row[6]),
            )
    raise RuntimeError(f"could not read redis-benchmark output: {text!r}")


@dataclass
class Throughput:
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    roles: dict[str, list[int]] = field(default_factory=dict)  # target -> node ids used

    def median(self, target: str, attr: str) -> float:
        return statistics.median(float(getattr(s, attr)) for s in self.samples[target])


def run_throughput(
    args: argparse.Namespace, cluster: Cluster | None, redis_port: int, redis_pid: int
) -> Throughput:
    result = Throughput()
    targets = args.targets.split(",")
    for rnd in range(args.rounds):
        # rotate the order so no target always runs right after another
        order = targets[rnd % len(targets) :] + targets[: rnd % len(targets)]
        for target in order:
            if target == "redis":
                s = bench_set(redis_port, redis_pid, [], args.requests, args.clients, args.pipeline)
                nid = 0
            else:
                assert cluster is not None
                leader, _ = cluster.wait_leader()
                node = leader
                if target == "follower":
                    followers = [n for n in cluster.live() if n is not leader]
                    node = followers[rnd % len(followers)]
                pids = [n.pid for n in cluster.live()]
                s = bench_set(node.port, node.pid, pids, args.requests, args.clients, args.pipeline)
                nid = node.node_id
            result.samples.setdefault(target, []).append(s)
            result.roles.setdefault(target, []).append(nid)
            where = f" (node {nid})" if nid else ""
            progress(
                f"round {rnd + 1}/{args.rounds} {target}{where}: {s.rps:,.0f} writes/s, "
                f"p50 {s.p50_ms:.1f} ms, p99 {s.p99_ms:.1f} ms, "
                f"entry {s.entry_cpu_us:.0f} µs/op, cluster {s.cluster_cpu_us:.0f} µs/op"
            )
    return result


# --------------------------------------------------------------------------- failover


class Writer(threading.Thread):
    """Writes unique keys to one node as fast as acknowledgements come back.

    Every error (socket timeout, refused connection, -CLUSTERDOWN/-TRYAGAIN/-TIMEOUT) is
    retried at once on a fresh connection. Stops on ``stop``, or after ``max_attempts``.
    Once ``mark`` is set, the first acknowledgement of a write sent at or after it is
    recorded in ``first_ack`` and signalled by ``acked``.
    """

    def __init__(self, node: Node, tag: str, timeout: float, max_attempts: int) -> None:
        super().__init__(daemon=True, name=f"writer-{tag}")
        self.node = node
        self.tag = tag
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.stop = threading.Event()
        self.warm = threading.Event()  # set after a few acknowledged writes
        self.acked = threading.Event()
        self.mark: float | None = None
        self.first_ack: float | None = None
        self.acks: list[str] = []  # keys whose SET was acknowledged
        self.errors: Counter[str] = Counter()
        self.attempts = 0

    def run(self) -> None:
        client = self.node.client(self.timeout)
        try:
            while not self.stop.is_set() and self.attempts < self.max_attempts:
                self.attempts += 1
                key = f"fo:{self.tag}:{self.attempts}"
                sent = time.monotonic()
                mark = self.mark
                try:
                    ok = client.set(key, str(self.attempts))
                except redis.RedisError as e:
                    word = str(e).split(" ", 1)[0] if isinstance(e, redis.ResponseError) else ""
                    self.errors[f"{type(e).__name__} {word}".strip()] += 1
                    client.close()
                    client = self.node.client(self.timeout)
                    continue
                now = time.monotonic()
                if ok is not True:
                    self.errors[f"reply {ok!r}"] += 1
                    continue
                self.acks.append(key)
                if len(self.acks) >= 20:
                    self.warm.set()
                if mark is not None and sent >= mark and self.first_ack is None:
                    self.first_ack = now
                    self.acked.set()
        finally:
            client.close()
            self.acked.set()  # a stopped or exhausted writer must not keep main waiting
            self.warm.set()


@dataclass
class FailoverRound:
    killed: int
    new_leader: int
    elected: float | None  # kill to the new leader's "became the Raft leader" log line
    per_node: dict[int, float | None]  # survivor -> seconds from kill to its first ack
    first: float | None
    errors: Counter[str]
    acked: int
    lost: int
    restart: float  # seconds from starting the killed node again to its ready line
    catchup: float  # then until it has applied the leader's commit index


def verify_acked(node: Node, keys: list[str]) -> int:
    """How many of ``keys`` (each acknowledged by SET) are missing on ``node`` now."""
    missing = 0
    with node.client(10.0) as c:
        for i in range(0, len(keys), 1000):
            chunk = keys[i : i + 1000]
            missing += sum(v is None for v in c.mget(chunk))
    return missing


def run_failover(args: argparse.Namespace, cluster: Cluster) -> list[FailoverRound]:
    rounds: list[FailoverRound] = []
    for rnd in range(args.failovers):
        leader, _ = cluster.wait_leader()
        survivors = [n for n in cluster.live() if n is not leader]
        writers = [
            Writer(n, f"{rnd}:{n.node_id}", args.socket_timeout, args.max_attempts)
            for n in survivors
        ]
        for w in writers:
            w.start()
        for w in writers:
            if not w.warm.wait(FAILOVER_TIMEOUT) or len(w.acks) < 20:
                raise RuntimeError(
                    f"writer on node {w.node.node_id} made no progress before the kill: "
                    f"{dict(w.errors)}"
                )
        time.sleep(args.prekill)  # steady load before the kill: a duration, not a sync
        wall_kill = time.time()
        t_kill = time.monotonic()
        assert leader.proc is not None
        leader.proc.send_signal(signal.SIGKILL)
        leader.proc.wait()
        t_dead = time.monotonic()
        for w in writers:
            w.mark = t_dead
        deadline = t_dead + FAILOVER_TIMEOUT
        for w in writers:
            w.acked.wait(max(0.0, deadline - time.monotonic()))
        for w in writers:
            w.stop.set()
        for w in writers:
            w.join(args.socket_timeout + 5)
        per_node = {
            w.node.node_id: (None if w.first_ack is None else w.first_ack - t_kill) for w in writers
        }
        times = [t for t in per_node.values() if t is not None]
        errors: Counter[str] = Counter()
        for w in writers:
            errors.update(w.errors)
        new_leader, _ = cluster.wait_leader()
        elected_at = new_leader.elected_after(wall_kill)
        elected = None if elected_at is None else elected_at - wall_kill
        keys = [k for w in writers for k in w.acks]
        lost = verify_acked(new_leader, keys)
        fmt = ", ".join(
            f"node {k}: {'none' if v is None else f'{v * 1000:.0f} ms'}"
            for k, v in per_node.items()
        )
        progress(
            f"failover {rnd + 1}/{args.failovers}: killed leader {leader.node_id} "
            f"(reaped after {(t_dead - t_kill) * 1000:.1f} ms); new leader {new_leader.node_id} "
            f"(its log says elected after {ms(elected)}); "
            f"first ack {fmt}; errors {dict(errors)}; {len(keys)} acked, {lost} lost"
        )
        t_start = time.monotonic()
        leader.start()
        restart = time.monotonic() - t_start
        catchup = cluster.wait_caught_up(leader)
        progress(
            f"node {leader.node_id} restarted (ready after {restart:.2f}s) and caught up "
            f"{catchup:.2f}s later"
        )
        rounds.append(
            FailoverRound(
                leader.node_id, new_leader.node_id, elected, per_node,
                min(times) if times else None, errors, len(keys), lost, restart, catchup,
            )
        )  # fmt: skip
    return rounds


# --------------------------------------------------------------------------- report


def machine_facts() -> list[str]:
    cpu = ""
    mem = ""
    try:
        m = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
        cpu = m.group(1).strip() if m else ""
        m = re.search(r"MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text())
        mem = f"{int(m.group(1)) / 2**20:.0f} GiB" if m else ""
    except OSError:
        pass
    redis_version = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True
    ).stdout.strip()
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    return [
        f"- date: {datetime.datetime.now().isoformat(timespec='minutes')}",
        f"- machine: {os.cpu_count()} cores ({cpu}), {mem} memory, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}; redis-benchmark and all "
        "servers share these cores",
        f"- gofish: commit {commit or '?'}{' with uncommitted changes' if dirty else ''}",
        f"- reference: {redis_version}",
        "- load average (1, 5, 15 min) at the start: "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg())
        + " (the machine is shared: other work running raises the spread)",
    ]


def ms(t: float | None) -> str:
    return "—" if t is None else f"{t * 1000:.0f} ms"


def report(args: argparse.Namespace, tp: Throughput | None, fo: list[FailoverRound] | None) -> str:
    cmd = (
        f".venv/bin/python bench/cluster_bench.py --rounds {args.rounds} --requests {args.requests} "
        f"--clients {args.clients} --pipeline {args.pipeline} --prekill {args.prekill} --failovers {args.failovers} --socket-timeout {args.socket_timeout} "
        f"--targets {args.targets} --phases {args.phases}"
    )
    lines = [
        "# Benchmarks: 3-node gofish cluster vs Redis 7.0",
        "",
        *machine_facts(),
        f"- command: `{cmd}`",
        "- gofish: 3 nodes on loopback, `--appendfsync always --save ''`; Redis: `--appendonly "
        "yes --appendfsync always --save ''`",
        "",
    ]
    if tp is not None:
        lines += [
            "## Write throughput",
            "",
            f"`redis-benchmark -c {args.clients} -n {args.requests} -P {args.pipeline} -r 100000 "
            "-t set`, after "
            f"FLUSHALL; targets alternated run by run, {args.rounds} runs each; medians. CPU = "
            "utime+stime per write of the node the client talks to (entry) and of the three "
            "gofish processes together (cluster); latency percentiles from redis-benchmark (median over runs). Target of the issue: ratio ≥ 0.5 through any node.",
            "",
            "| target | nodes used | writes/s (median) | runs | ratio to Redis | p50 ms | p99 ms | entry µs/op | cluster µs/op |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        r_rps = tp.median("redis", "rps") if "redis" in tp.samples else None
        for target in args.targets.split(","):
            if target not in tp.samples:
                continue
            rps = tp.median(target, "rps")
            runs = ", ".join(f"{s.rps:,.0f}" for s in tp.samples[target])
            ratio = "1.00" if target == "redis" else (f"{rps / r_rps:.2f}" if r_rps else "—")
            nodes = "—" if target == "redis" else ",".join(str(i) for i in tp.roles[target])
            cluster_cpu = "—" if target == "redis" else f"{tp.median(target, 'cluster_cpu_us'):.0f}"
            lines.append(
                f"| {target} | {nodes} | {rps:,.0f} | {runs} | {ratio} | "
                f"{tp.median(target, 'p50_ms'):.1f} | {tp.median(target, 'p99_ms'):.1f} | "
                f"{tp.median(target, 'entry_cpu_us'):.0f} | {cluster_cpu} |"
            )
        lines.append("")
    if fo is not None:
        firsts = [r.first for r in fo]
        done = [t for t in firsts if t is not None]
        lines += [
            "## Failover",
            "",
            "One writer per surviving node (redis-py, socket timeout "
            f"{args.socket_timeout}s, every error retried at once, at most {args.max_attempts} "
            f"attempts), {args.prekill}s of load, then the leader is killed with SIGKILL. Time from the kill to the first "
            "acknowledged write sent after the killed process was reaped, per survivor; "
            '"first" is the earlier of the two. Afterwards every acknowledged write is read '
            'back from the new leader. "elected" is read from the new leader\'s log (its '
            '"became the Raft leader" line, ms resolution). Target of the issue: ≤ 1 s.',
            "",
            "| round | killed | new leader | elected | first ack per survivor | first | errors seen | acked | lost | restart to ready | then caught up |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for i, r in enumerate(fo, 1):
            per = ", ".join(f"node {k}: {ms(v)}" for k, v in r.per_node.items())
            errs = ", ".join(f"{k} ×{v}" for k, v in sorted(r.errors.items())) or "none"
            lines.append(
                f"| {i} | {r.killed} | {r.new_leader} | {ms(r.elected)} | {per} | {ms(r.first)} | {errs} | "
                f"{r.acked} | {r.lost} | {r.restart:.2f} s | {r.catchup:.2f} s |"
            )
        lines += [
            "",
            f"Failover time (first): median {ms(statistics.median(done) if done else None)}, "
            f"max {ms(max(done) if done else None)}"
            + (f"; {len(firsts) - len(done)} round(s) with no acknowledged write within "
               f"{FAILOVER_TIMEOUT:.0f} s" if len(done) < len(firsts) else "")
            + ".",
            "",
        ]  # fmt: skip
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


@contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    """A temporary directory, removed at the end unless ``keep`` or an error escaped."""
    d = Path(tempfile.mkdtemp(prefix="gofish-cluster-bench-"))
    try:
        yield d
    except BaseException:
        progress(f"kept {d} (node logs and data)")
        raise
    if keep:
        progress(f"kept {d} (node logs and data)")
    else:
        shutil.rmtree(d, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=5, help="throughput runs per target")
    ap.add_argument("--requests", type=int, default=30_000, help="SETs per run")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--failovers", type=int, default=5, help="leader kills")
    ap.add_argument("--socket-timeout", type=float, default=0.25, help="writer socket timeout (s)")
    ap.add_argument("--pipeline", type=int, default=1, help="redis-benchmark -P")
    ap.add_argument("--prekill", type=float, default=1.0, help="seconds of load before a kill")
    ap.add_argument("--max-attempts", type=int, default=200_000, help="per writer per failover")
    ap.add_argument("--targets", default="leader,follower,redis")
    ap.add_argument("--phases", default="throughput,failover")
    ap.add_argument("--appendfsync", default="always", choices=["always", "everysec", "no"])
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks-cluster.md"))
    ap.add_argument("--keep-dir", action="store_true", help="keep node logs and data")
    args = ap.parse_args()
    phases = set(args.phases.split(","))
    targets = set(args.targets.split(","))
    if not phases <= {"throughput", "failover"} or not targets <= {"leader", "follower", "redis"}:
        ap.error("unknown phase or target")
    compare.ensure_redis()
    need_cluster = "failover" in phases or bool(targets & {"leader", "follower"})
    if need_cluster and not cluster_available():
        print("gofish server has no --cluster option yet", file=sys.stderr)
        return 2
    started = time.monotonic()
    tp: Throughput | None = None
    fo: list[FailoverRound] | None = None
    with ExitStack() as stack:
        base = stack.enter_context(workdir(args.keep_dir))
        cluster: Cluster | None = None
        if need_cluster:
            cluster = stack.enter_context(Cluster(3, args.appendfsync, base))
            leader, _ = cluster.wait_leader()
            progress(f"leader is node {leader.node_id}")
        try:
            if "throughput" in phases:
                srv = stack.enter_context(compare.redis_proc(compare.PAIRS["always"][1]))
                progress(f"redis-server ready on port {srv.port}")
                tp = run_throughput(args, cluster, srv.port, srv.pid)
            if "failover" in phases:
                assert cluster is not None
                fo = run_failover(args, cluster)
        except BaseException:
            if cluster is not None:
                for n in cluster.nodes:
                    progress(f"node {n.node_id} log tail:\n{n.tail()}")
            raise
    text = report(args, tp, fo)
    Path(args.out).write_text(text)
    print(text, end="")
    progress(f"wrote {args.out}; done in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
