"""Checkpoints vs Redis RDB: time, size, event-loop stall and restart-to-serving (issue 5).

Not a test: a measurement, run by hand (``make``-free) and written to
docs/benchmarks-checkpoints.md. One run, both servers side by side:

1. **Load.** The same RESP stream (``SET key:<i> <value>``, i in 0..N-1; the value is 10
   bytes of ``x`` (``--value x10``) or 16 random hex characters from a seeded generator
   (``--value hex16``)) is piped with ``redis-cli --pipe`` into redis-server 7.0 (``--save ''
   --appendonly no``) and into one gofish node (``--appendfsync no``, automatic saves off with
   ``save ""`` so no checkpoint runs before we ask for one). ``DBSIZE`` must be N.
2. **Checkpoint**, ``--rounds`` times per server (gofish, then Redis, alternated): a
   ``SET key:0`` of its own value first (gofish: a new log index, so every checkpoint is a new
   one; ``DBSIZE`` stays N), then ``SAVE`` timed from the command to ``+OK``; then the same
   ``SET`` and ``BGSAVE``, polled every 10 ms with ``INFO persistence`` until ``rdb_saves``
   has grown and ``rdb_bgsave_in_progress`` is 0 (also read: ``rdb_last_bgsave_time_sec``,
   whole seconds; gofish's own ``checkpoint ... done in X s`` log line; Redis's
   ``latest_fork_usec`` and ``LASTSAVE``). Size: gofish = the bytes of the newest
   ``<dir>/checkpoints/<index>-<term>/`` (it must be the one ``INFO`` names), Redis = the bytes
   of ``dump.rdb``.
3. **Stall.** Throughout each server's checkpoint round a client thread sends ``PING`` every
   ``--ping-ms`` (1 ms) on its own connection and records each round trip; phases: an idle
   baseline of ``--baseline`` seconds, ``SAVE``, ``BGSAVE``. A ping counts in a phase when its
   round trip overlaps it; phases are 0.25 s apart. Redis's ``SAVE`` blocks its loop by
   design (shown for contrast).
4. **Restart to serving.** After the checkpoints, ``--tail`` more SETs go to gofish (they
   overwrite ``key:0..tail-1``, so restart = newest checkpoint + a short log, checked after the
   restart by reading the last one back). Then, ``--restarts`` times, alternated: gofish is
   killed (SIGKILL to its PID) and started on the same directory; timed from the spawn to its
   ``ready to accept connections`` line and to the first ``DBSIZE`` answer equal to N (a fresh
   connection every 5 ms); Redis likewise, restarted on its ``dump.rdb``.

Targets (issue 5): checkpoint bytes ≤ 0.7× the RDB; the gofish loop never stalled more than
50 ms at a time during BGSAVE (max PING round trip); gofish restart-to-serving ≤ 2× Redis's.

Everything runs on loopback in one temporary directory of ours, removed at the end; every
process we start is killed by its PID; every wait has a timeout.

    .venv/bin/python bench/checkpoint_bench.py [--keys 1000000] [--value x10|hex16]
        [--rounds 2] [--restarts 3] [--tail 1000] [--baseline 2] [--ping-ms 1]
        [--out docs/benchmarks-checkpoints.md]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import compare  # noqa: E402  (puts tests/ on sys.path too)
import memory_bench  # noqa: E402
from procs import free_port  # noqa: E402

HOST = "127.0.0.1"
MAX_KEYS = 20_000_000
CHUNK = 10_000
START_TIMEOUT = 60.0  # seconds for a fresh server to print its ready line
RESTART_TIMEOUT = 600.0  # seconds for a restart to serve DBSIZE == N
SAVE_TIMEOUT = 600.0  # seconds for one SAVE / BGSAVE
POLL = 0.010  # BGSAVE completion polling
RESTART_POLL = 0.005
SETTLE = 0.25  # seconds between stall phases: a PING stalled by one is not counted in the next
GOFISH_READY = re.compile(rb"ready to accept connections")
REDIS_READY = re.compile(rb"Ready to accept connections")
GOFISH_DONE = re.compile(rb"checkpoint (\S+) done in ([\d.]+) s")
GOFISH_LOADED = re.compile(rb"loaded checkpoint (\S+): (\d+) keys")
REDIS_LOADED = re.compile(rb"DB loaded from disk: ([\d.]+) seconds")
CHECKPOINT_NAME = re.compile(r"^(\d+)-(\d+)$")
GOFISH_FLAGS = ["--appendfsync", "no"]
REDIS_FLAGS = ["--save", "", "--appendonly", "no"]


# --------------------------------------------------------------------------- data


def value_of(kind: str, rng: random.Random) -> bytes:
    """The next value of the stream: ``x10`` → 10 bytes of x; ``hex16`` → 16 hex chars."""
    if kind == "x10":
        return b"x" * 10
    return b"%016x" % rng.getrandbits(64)


def write_stream(path: Path, keys: int, kind: str, seed: int = 5) -> tuple[int, bytes]:
    """Write ``SET key:<i> <value>`` for i in [0, keys) as RESP to ``path``; returns (size in
    bytes, the value of key:0)."""
    rng = random.Random(seed)
    head = b"*3\r\n$3\r\nSET\r\n"
    size, first = 0, b""
    with path.open("wb") as f:
        for start in range(0, keys, CHUNK):
            parts = []
            for i in range(start, min(keys, start + CHUNK)):
                v = value_of(kind, rng)
                if i == 0:
                    first = v
                k = b"key:%d" % i
                parts.append(b"%s$%d\r\n%s\r\n$%d\r\n%s\r\n" % (head, len(k), k, len(v), v))
            chunk = b"".join(parts)
            f.write(chunk)
            size += len(chunk)
    return size, first


# --------------------------------------------------------------------------- processes


class Proc:
    """A server process this bench started; its output lines with their arrival times
    (``time.monotonic``). `kill` sends SIGKILL to this PID only."""

    def __init__(self, cmd: list[str], port: int, cwd: Path | None = None) -> None:
        self.port = port
        self.spawned = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd
        )
        self.lines: list[tuple[float, bytes]] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                if len(self.lines) < 100_000:
                    self.lines.append((time.monotonic(), line))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def find(self, pattern: re.Pattern[bytes],
             start: int = 0) -> list[tuple[float, re.Match[bytes]]]:
        """Lines from index ``start`` on matching ``pattern``: (arrival time, match)."""
        with self._cond:
            lines = self.lines[start:]
        return [(t, m) for t, line in lines if (m := pattern.search(line))]

    def wait_line(self, pattern: re.Pattern[bytes], timeout: float) -> float:
        """Arrival time of the first line matching ``pattern``; raises RuntimeError when the
        process exits or ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for t, line in self.lines:
                    if pattern.search(line):
                        return t
                left = deadline - time.monotonic()
                if self.proc.poll() is not None or left <= 0:
                    tail = b"".join(line for _, line in self.lines[-20:])
                    raise RuntimeError(f"no {pattern.pattern!r} from {self.proc.args!r}: "
                                       f"{tail.decode(errors='replace')}")
                self._cond.wait(min(left, 0.5))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=60)

    def server(self) -> compare.Server:
        return compare.Server(self.proc.pid, self.port)


def start_gofish(data: Path, conf: Path, port: int) -> Proc:
    return Proc([sys.executable, "-m", "gofish", "server", "--port", str(port), "--bind", HOST,
                 "--dir", str(data), "--config", str(conf), "--loglevel", "notice",
                 *GOFISH_FLAGS], port, cwd=ROOT)


def start_redis(data: Path, port: int) -> Proc:
    return Proc(["redis-server", "--port", str(port), "--bind", HOST, "--dir", str(data),
                 "--dbfilename", "dump.rdb", "--daemonize", "no", *REDIS_FLAGS], port)


def client(port: int, timeout: float = SAVE_TIMEOUT) -> redis.Redis:
    return redis.Redis(host=HOST, port=port, socket_timeout=timeout,
                       socket_connect_timeout=10.0, retry=Retry(NoBackoff(), 0),
                       decode_responses=True)


def try_dbsize(port: int) -> int | None:
    """DBSIZE on a fresh connection: the count, -1 for an error reply (LOADING), None when
    the port does not answer yet."""
    try:
        with socket.create_connection((HOST, port), timeout=2.0) as s:
            s.sendall(b"*1\r\n$6\r\nDBSIZE\r\n")
            buf = b""
            while not buf.endswith(b"\r\n"):
                chunk = s.recv(4096)
                if not chunk:
                    return None
                buf += chunk
    except OSError:
        return None
    return int(buf[1:-2]) if buf.startswith(b":") else -1


# --------------------------------------------------------------------------- stall probe


@dataclass
class Stall:
    """PING round trips (ms) of one phase."""

    pings: int
    p50: float
    p99: float
    max: float
    over10: int  # round trips > 10 ms
    over50: int  # round trips > 50 ms (the target's limit)


class Pinger:
    """A thread sending PING every ``interval`` seconds on its own connection, recording
    (send time, round trip) for each; at most one PING in flight."""

    def __init__(self, port: int, interval: float) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._sock = socket.create_connection((HOST, port), timeout=SAVE_TIMEOUT)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sock = self._sock
        while not self._stop.is_set():
            t0 = time.monotonic()
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            buf = b""
            while not buf.endswith(b"\r\n"):
                chunk = sock.recv(64)
                if not chunk:
                    return
                buf += chunk
            t1 = time.monotonic()
            self.samples.append((t0, t1 - t0))
            delay = t0 + self.interval - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)

    def window(self, start: float, end: float) -> Stall:
        """Round trips that overlap [start, end]."""
        rtts = sorted(rtt for t0, rtt in list(self.samples) if t0 <= end and t0 + rtt >= start)
        if not rtts:
            return Stall(0, 0.0, 0.0, 0.0, 0, 0)
        ms = [r * 1000 for r in rtts]
        return Stall(len(ms), ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))], ms[-1],
                     sum(x > 10 for x in ms), sum(x > 50 for x in ms))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=SAVE_TIMEOUT)
        self._sock.close()


# --------------------------------------------------------------------------- checkpoints


@dataclass
class Checkpoint:
    """One round of SAVE + BGSAVE on one server."""

    server: str
    save_s: float  # SAVE command to +OK
    bgsave_s: float  # BGSAVE command to rdb_saves grown (polled every POLL)
    bgsave_info_s: int  # rdb_last_bgsave_time_sec (whole seconds)
    bytes: int  # checkpoint directory / dump.rdb
    stalls: dict[str, Stall]
    writer_s: list[float] = field(default_factory=list)  # gofish: "done in X s" (SAVE, BGSAVE)
    fork_ms: float = 0.0  # redis: latest_fork_usec / 1000
    name: str = ""  # gofish: checkpoint directory


def newest_checkpoint(data: Path) -> tuple[str, int]:
    """(name, total bytes of its files) of the newest ``<data>/checkpoints/<index>-<term>``."""
    dirs = [(int(m.group(1)), int(m.group(2)), p) for p in (data / "checkpoints").iterdir()
            if p.is_dir() and (m := CHECKPOINT_NAME.match(p.name))]
    if not dirs:
        raise RuntimeError(f"no checkpoint under {data}")
    _, _, path = max(dirs)
    return path.name, sum(f.stat().st_size for f in path.iterdir() if f.is_file())


def _bgsave(c: redis.Redis) -> tuple[float, dict[str, Any]]:
    """BGSAVE, then poll INFO persistence until rdb_saves grows and nothing is in progress:
    (seconds, the final INFO persistence)."""
    before: dict[str, Any] = c.info("persistence")
    started = time.monotonic()
    c.bgsave()
    deadline = started + SAVE_TIMEOUT
    while time.monotonic() < deadline:
        info: dict[str, Any] = c.info("persistence")
        if info["rdb_saves"] > before["rdb_saves"] and info["rdb_bgsave_in_progress"] == 0:
            elapsed = time.monotonic() - started
            if info["rdb_last_bgsave_status"] != "ok":
                raise RuntimeError(f"BGSAVE failed: {info}")
            return elapsed, info
        time.sleep(POLL)
    raise RuntimeError("BGSAVE did not finish in time")


def checkpoint_round(name: str, proc: Proc, data: Path, key0: bytes, v0: bytes,
                     keys: int, args: argparse.Namespace) -> Checkpoint:
    """One SAVE and one BGSAVE on ``proc`` with the PING probe running (module doc, 2–3)."""
    c = client(proc.port)
    pinger = Pinger(proc.port, args.ping_ms / 1000)
    phases: dict[str, tuple[float, float]] = {}
    try:
        t = time.monotonic()
        time.sleep(args.baseline)
        phases["idle"] = (t, time.monotonic())
        time.sleep(SETTLE)
        c.set(key0, v0)
        mark = len(proc.lines)
        t = time.monotonic()
        c.save()  # an error reply raises
        save_s = time.monotonic() - t
        phases["SAVE"] = (t, time.monotonic())
        time.sleep(SETTLE)
        c.set(key0, v0)
        t = time.monotonic()
        bgsave_s, info = _bgsave(c)
        phases["BGSAVE"] = (t, time.monotonic())
    finally:
        pinger.close()  # windows are read after: a PING stalled by a phase ends after it
    stalls = {phase: pinger.window(a, b) for phase, (a, b) in phases.items()}
    if c.dbsize() != keys:
        raise RuntimeError(f"{name}: DBSIZE changed")
    cp = Checkpoint(name, save_s, bgsave_s, int(info["rdb_last_bgsave_time_sec"]), 0, stalls)
    if name == "gofish":
        cp.name, cp.bytes = newest_checkpoint(data)
        if str(info["checkpoint_dir"]) != cp.name:
            raise RuntimeError(f"INFO names {info['checkpoint_dir']}, newest is {cp.name}")
        cp.writer_s = [float(m.group(2)) for _, m in proc.find(GOFISH_DONE, mark)]
    else:
        cp.bytes = (data / "dump.rdb").stat().st_size
        stats: dict[str, Any] = c.info("stats")
        cp.fork_ms = int(stats["latest_fork_usec"]) / 1000
        if int(c.lastsave().timestamp()) < int(time.time() - bgsave_s - 2):
            raise RuntimeError("redis LASTSAVE did not move")
    c.close()
    return cp


# --------------------------------------------------------------------------- restarts


@dataclass
class Restart:
    server: str
    ready_s: float  # spawn → ready line
    serving_s: float  # spawn → DBSIZE == N
    first_reply_s: float  # spawn → first answer on the port (LOADING counts)
    load_s: float  # gofish: spawn → "loaded checkpoint" line; redis: "DB loaded" seconds


def restart(name: str, procs: dict[str, Proc], start: Callable[[int], Proc],
            keys: int) -> Restart:
    """Kill ``procs[name]`` (SIGKILL), spawn ``start(port)`` on the same data in its place
    and time it (module doc, 4)."""
    procs[name].kill()
    port = free_port()
    t0 = time.monotonic()
    procs[name] = proc = start(port)
    first = serving = None
    deadline = t0 + RESTART_TIMEOUT
    while serving is None:
        n = try_dbsize(port)
        now = time.monotonic()
        if n is not None and first is None:
            first = now
        if n == keys:
            serving = now
            break
        if proc.proc.poll() is not None or now > deadline:
            raise RuntimeError(f"{name} did not serve DBSIZE {keys} (last {n})")
        time.sleep(RESTART_POLL)
    assert first is not None
    ready = proc.wait_line(GOFISH_READY if name == "gofish" else REDIS_READY, START_TIMEOUT)
    if name == "gofish":
        loaded = proc.find(GOFISH_LOADED)
        load_s = loaded[0][0] - t0 if loaded else float("nan")
    else:
        found = proc.find(REDIS_LOADED)
        load_s = float(found[0][1].group(1)) if found else float("nan")
    return Restart(name, ready - t0, serving - t0, first - t0, load_s)


# --------------------------------------------------------------------------- the run


@dataclass
class Results:
    keys: int
    value: str
    load_s: dict[str, float]
    checkpoints: list[Checkpoint]
    restarts: list[Restart]
    uptime: tuple[str, str]
    seconds: float = 0.0


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()


def run(args: argparse.Namespace) -> Results:
    keys = args.keys
    started = time.monotonic()
    up0 = uptime()
    progress(f"uptime: {up0}")
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="gofish-checkpoint-bench-"))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        gdata, rdata = work / "gofish", work / "redis"
        rdata.mkdir()
        conf = work / "gofish.conf"
        conf.write_text('save ""\n')
        stream = work / "set.resp"
        size, v0 = write_stream(stream, keys, args.value)
        progress(f"{keys:,} SETs ({args.value}), {size / 2**20:.1f} MiB of RESP")
        procs: dict[str, Proc] = {}

        def kill_all() -> None:
            for p in procs.values():
                p.kill()

        stack.callback(kill_all)
        procs["redis"] = start_redis(rdata, free_port())
        procs["redis"].wait_line(REDIS_READY, START_TIMEOUT)
        procs["gofish"] = start_gofish(gdata, conf, free_port())
        procs["gofish"].wait_line(GOFISH_READY, START_TIMEOUT)
        load_s = {}
        for name in ("redis", "gofish"):
            load_s[name] = memory_bench.load(procs[name].server(), stream, keys)
            progress(f"{name}: loaded in {load_s[name]:.1f}s")
        stream.unlink()

        cps: list[Checkpoint] = []
        for r in range(args.rounds):
            for name, data in (("gofish", gdata), ("redis", rdata)):
                cp = checkpoint_round(name, procs[name], data, b"key:0", v0, keys, args)
                cps.append(cp)
                st = cp.stalls["BGSAVE"]
                progress(f"{name} round {r + 1}: SAVE {cp.save_s:.2f}s BGSAVE {cp.bgsave_s:.2f}s "
                         f"{cp.bytes / 2**20:.2f} MiB; BGSAVE pings p99 {st.p99:.1f} ms "
                         f"max {st.max:.1f} ms")

        tail = min(args.tail, keys)
        with client(procs["gofish"].port) as c:
            pipe = c.pipeline(transaction=False)
            for i in range(tail):
                pipe.set(f"key:{i}", f"t{i:09d}")
            pipe.execute()

        starters: dict[str, Callable[[int], Proc]] = {
            "gofish": lambda port: start_gofish(gdata, conf, port),
            "redis": lambda port: start_redis(rdata, port),
        }
        rs: list[Restart] = []
        for _ in range(args.restarts):
            for name in ("gofish", "redis"):
                res = restart(name, procs, starters[name], keys)
                rs.append(res)
                progress(f"{name} restart: ready {res.ready_s:.2f}s, DBSIZE=={keys:,} after "
                         f"{res.serving_s:.2f}s")
        if tail:
            with client(procs["gofish"].port) as c:
                got = c.get(f"key:{tail - 1}")
                if got != f"t{tail - 1:09d}":
                    raise RuntimeError(f"gofish lost the log tail after restart: {got!r}")
    return Results(keys, args.value, load_s, cps, rs, (up0, uptime()),
                   time.monotonic() - started)


# --------------------------------------------------------------------------- report


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "not met"


def _med(xs: Iterable[float]) -> float:
    return statistics.median(list(xs))


def markdown(res: Results, args: argparse.Namespace) -> str:
    g = [c for c in res.checkpoints if c.server == "gofish"]
    r = [c for c in res.checkpoints if c.server == "redis"]
    size_ratio = g[-1].bytes / r[-1].bytes
    worst = max(c.stalls["BGSAVE"].max for c in g)
    worst_p99 = max(c.stalls["BGSAVE"].p99 for c in g)
    g_serve = _med(x.serving_s for x in res.restarts if x.server == "gofish")
    r_serve = _med(x.serving_s for x in res.restarts if x.server == "redis")
    g_save, r_save = _med(c.save_s for c in g), _med(c.save_s for c in r)
    g_bg, r_bg = _med(c.bgsave_s for c in g), _med(c.bgsave_s for c in r)
    value = ("10 bytes of `x`" if res.value == "x10"
             else "16 random hex characters (seeded)")
    cmd = (f".venv/bin/python bench/checkpoint_bench.py --keys {args.keys} --value {args.value} "
           f"--rounds {args.rounds} --restarts {args.restarts} --tail {args.tail} "
           f"--baseline {args.baseline} --ping-ms {args.ping_ms}")
    lines = [
        "# Benchmarks: checkpoints vs Redis RDB",
        "",
        *(f.replace("redis-benchmark and the servers", "the bench client and both servers")
          for f in compare.machine_facts()),
        f"- `uptime` at the start: `{res.uptime[0]}`",
        f"- `uptime` at the end: `{res.uptime[1]}` (2 shared cores: other work ran at the same "
        "time; treat the figures as upper bounds, for both servers)",
        f"- command: `{cmd}` ({res.seconds / 60:.1f} minutes)",
        f"- data: {res.keys:,} keys `key:<i>` → {value}, loaded with `redis-cli --pipe` "
        f"(Redis {res.load_s['redis']:.1f} s, gofish {res.load_s['gofish']:.1f} s); gofish "
        "`--appendfsync no`, `save \"\"`, 64 partitions; Redis `--save '' --appendonly no` "
        "(default `rdbcompression yes`)",
        "- how: bench/checkpoint_bench.py's docstring",
        "",
        "## Targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
        f"| checkpoint bytes ≤ 0.7× RDB | {g[-1].bytes:,} vs {r[-1].bytes:,} B = "
        f"{size_ratio:.3f}× | {_verdict(size_ratio <= 0.7)} |",
        f"| loop stalled ≤ 50 ms at a time during BGSAVE (max PING round trip) | max "
        f"{worst:.1f} ms (p99 {worst_p99:.1f} ms) over {len(g)} BGSAVE(s) | "
        f"{_verdict(worst <= 50)} |",
        f"| restart to serving ≤ 2× Redis | {g_serve:.2f} s vs {r_serve:.2f} s (medians) = "
        f"{g_serve / r_serve:.2f}× | {_verdict(g_serve <= 2 * r_serve)} |",
        "",
        "## Checkpoint time and size",
        "",
        "SAVE = command to `+OK`; BGSAVE = command to `rdb_saves` grown (INFO polled every "
        f"{POLL * 1000:.0f} ms); INFO = `rdb_last_bgsave_time_sec` (whole seconds); writer = "
        "gofish's `checkpoint … done in X s` lines (SAVE, BGSAVE); fork = Redis "
        "`latest_fork_usec`. gofish's SAVE does not block its loop (it is a BGSAVE that "
        "replies when durable); Redis's does.",
        "",
        "| server | round | SAVE s | BGSAVE s | INFO s | writer s | fork ms | bytes | B/key |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, c in enumerate(res.checkpoints):
        writer = ", ".join(f"{w:.2f}" for w in c.writer_s) or "—"
        fork = f"{c.fork_ms:.1f}" if c.server == "redis" else "—"
        name = f" (`{c.name}`)" if c.name else ""
        lines.append(
            f"| {c.server}{name} | {i // 2 + 1} | {c.save_s:.2f} | {c.bgsave_s:.2f} | "
            f"{c.bgsave_info_s} | {writer} | {fork} | {c.bytes:,} | {c.bytes / res.keys:.2f} |"
        )
    lines += [
        "",
        f"gofish/Redis (medians): {size_ratio:.3f}× bytes; SAVE {g_save:.2f} s vs "
        f"{r_save:.2f} s ({g_save / r_save:.2f}×); BGSAVE {g_bg:.2f} s vs {r_bg:.2f} s "
        f"({g_bg / r_bg:.2f}×).",
        "",
        "## Event-loop stall: PING round trips",
        "",
        f"One client thread, PING every {args.ping_ms} ms on its own connection (one in "
        f"flight), per phase: idle ({args.baseline} s before), during SAVE, during BGSAVE "
        f"({SETTLE} s apart); a PING counts in a phase when its round trip overlaps it. A "
        "stall of the server's loop shows as a long round trip.",
        "",
        "| server | round | phase | pings | p50 ms | p99 ms | max ms | > 10 ms | > 50 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, c in enumerate(res.checkpoints):
        for phase, st in c.stalls.items():
            lines.append(f"| {c.server} | {i // 2 + 1} | {phase} | {st.pings} | {st.p50:.2f} | "
                         f"{st.p99:.2f} | {st.max:.1f} | {st.over10} | {st.over50} |")
    lines += [
        "",
        "## Restart to serving",
        "",
        f"After the checkpoints gofish took {min(args.tail, res.keys):,} more SETs (its "
        "restart = newest checkpoint + that log tail; read back after the restarts). Each "
        "restart: SIGKILL, spawn on the same data, time to the ready line and to the first "
        f"`DBSIZE` = {res.keys:,} (fresh connection every {RESTART_POLL * 1000:.0f} ms). "
        "load = gofish: spawn to `loaded checkpoint`; Redis: its `DB loaded from disk` "
        "seconds. Redis restarts from its last BGSAVE's `dump.rdb`.",
        "",
        "| server | run | first reply s | ready line s | DBSIZE = N s | load s |",
        "|---|---|---|---|---|---|",
    ]
    for i, x in enumerate(res.restarts):
        lines.append(f"| {x.server} | {i // 2 + 1} | {x.first_reply_s:.2f} | {x.ready_s:.2f} | "
                     f"{x.serving_s:.2f} | {x.load_s:.2f} |")
    lines += [
        "",
        f"gofish/Redis (medians of DBSIZE = N): {g_serve:.2f} s / {r_serve:.2f} s = "
        f"{g_serve / r_serve:.2f}×.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--value", choices=("x10", "hex16"), default="x10")
    ap.add_argument("--rounds", type=int, default=2, help="SAVE+BGSAVE rounds per server")
    ap.add_argument("--restarts", type=int, default=3, help="restarts per server")
    ap.add_argument("--tail", type=int, default=1000, help="gofish SETs after the checkpoints")
    ap.add_argument("--baseline", type=float, default=2.0, help="idle PING seconds per round")
    ap.add_argument("--ping-ms", type=float, default=1.0)
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks-checkpoints.md"))
    args = ap.parse_args()
    if not 0 < args.keys <= MAX_KEYS:
        ap.error(f"--keys must be in 1..{MAX_KEYS}")
    if args.rounds < 1 or args.restarts < 1 or args.tail < 0 or args.ping_ms <= 0:
        ap.error("--rounds and --restarts ≥ 1, --tail ≥ 0, --ping-ms > 0")
    compare.ensure_redis()
    text = markdown(run(args), args)
    Path(args.out).write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
