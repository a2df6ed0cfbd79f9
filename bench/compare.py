"""gofish vs Redis 7.0 side by side with redis-benchmark (the bench suite of issue 6).

For every pair of settings (gofish flags, redis-server flags) and every test, the two servers
are run alternately (gofish, redis, gofish, redis, ...), ``--runs`` times each; the median
throughput and each server's CPU microseconds per operation (utime+stime from /proc/PID/stat,
around the run) are reported, with gofish/redis ratios. The machine has 2 cores and
redis-benchmark takes one, so throughput at -P 1 is partly client-bound: CPU per operation is
the fairer figure.

Pairs (both servers with ``--save ''``: no snapshots of their own during the runs): ``memory``
(gofish ``--appendfsync no`` vs Redis without persistence) runs every test;
``everysec`` and ``always`` (gofish's log fsync policy vs Redis's AOF with the same name) run
the write tests only: a read touches no log, so GET there would measure ``memory`` again.
``--pipeline`` values above 1 use ``--pipelined-requests`` (default 4× ``--requests``) so a
run lasts long enough to measure.

The defaults (3 runs, 12,000 requests at -P 1, 48,000 pipelined) take about 7 minutes here,
9 with both optional sections. Optional sections (off by default to keep ``make bench`` short):

- ``--memory``: RSS per key for ``--memory-keys`` small string keys loaded with
  ``redis-cli --pipe`` (bench/memory_bench.py);
- ``--cluster``: SET throughput through the leader and a follower of a 3-node gofish cluster
  (``--appendfsync always``) vs Redis ``appendfsync always`` (bench/cluster_bench.py's
  throughput phase; its failover phase stays in ``make bench-cluster``);
- ``--floor``: in the ``memory`` pair, a third server in the alternation (gofish, redis, floor,
  ...): bench/floor_server.py, the least a uvloop + hiredis Python server can do per request.
  Its table splits gofish's CPU gap to Redis into the Python runtime's part (floor/redis) and
  gofish's own (gofish/floor). It makes the memory pair half as long again.

The report ends with the targets of the issue, each marked met or not from the numbers above.

    .venv/bin/python bench/compare.py [--runs 3] [--requests 12000] [--pipelined-requests N]
        [--pairs memory,everysec,always] [--tests SET,GET,...] [--pipeline 1,16]
        [--memory] [--memory-keys 1000000] [--cluster] [--cluster-requests 20000]
        [--floor] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from procs import free_port, gofish_server, wait_connectable  # noqa: E402

TESTS = ["SET", "GET", "INCR", "LPUSH", "LPOP", "SADD", "HSET", "ZADD", "MSET"]
READS = {"GET"}  # run in the memory pair only
PAIRS: dict[str, tuple[list[str], list[str]]] = {
    # in-memory: gofish without fsync vs Redis without persistence; neither takes snapshots
    # (gofish's checkpoints, Redis's RDB saves) on its own
    "memory": (["--appendfsync", "no", "--save", ""], ["--appendonly", "no", "--save", ""]),
    "everysec": (
        ["--appendfsync", "everysec", "--save", ""],
        ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
    ),
    "always": (
        ["--appendfsync", "always", "--save", ""],
        ["--appendonly", "yes", "--appendfsync", "always", "--save", ""],
    ),
}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def ensure_redis() -> None:
    if shutil.which("redis-server") and shutil.which("redis-benchmark"):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", "redis-server", "redis-tools"], check=True
    )


@dataclass
class Server:
    pid: int
    port: int


@contextmanager
def redis_proc(flags: list[str]) -> Iterator[Server]:
    d = tempfile.mkdtemp(prefix="bench-redis-")
    port = free_port()
    p = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d, *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert p.stdout is not None
    for line in p.stdout:
        if b"Ready to accept connections" in line:
            break
    else:
        raise RuntimeError("redis-server did not start")
    try:
        yield Server(p.pid, port)
    finally:
        p.kill()
        p.wait()
        shutil.rmtree(d, ignore_errors=True)


@contextmanager
def gofish_proc(flags: list[str]) -> Iterator[Server]:
    with gofish_server(*flags) as srv:
        yield Server(srv.proc.pid, srv.port)


def run_benchmark(
    srv: Server, test: str, pipeline: int, requests: int, clients: int
) -> tuple[float, float]:
    """(requests per second, server CPU µs per request) of one redis-benchmark run."""
    subprocess.run(
        ["redis-cli", "-p", str(srv.port), "FLUSHALL"], check=True, capture_output=True, timeout=60
    )
    before = cpu_seconds(srv.pid)
    out = subprocess.run(
        [
            "redis-benchmark",
            "-p",
            str(srv.port),
            "-c",
            str(clients),
            "-n",
            str(requests),
            "-P",
            str(pipeline),
            "-r",
            "100000",
            "-t",
            test.lower(),
            "--csv",
            "-q",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout
    cpu = cpu_seconds(srv.pid) - before
    rows = list(csv.reader(io.StringIO(out)))
    rps = None
    for row in rows:
        if row and row[0].startswith(test.split()[0]) and len(row) > 1:
            try:
                rps = float(row[1])
            except ValueError:
                continue
            break
    if rps is None:
        raise RuntimeError(f"could not read redis-benchmark output: {out!r}")
    return rps, cpu * 1e6 / requests


@contextmanager
def floor_proc() -> Iterator[Server]:
    """bench/floor_server.py on a free loopback port; it prints nothing, so ready = connectable."""
    port = free_port()
    p = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "floor_server.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_connectable(port, p, "the floor server")
        yield Server(p.pid, port)
    finally:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@dataclass
class Row:
    """Medians of one (pair, test, pipeline) cell."""

    pair: str
    test: str
    pipeline: int
    g_rps: float
    r_rps: float
    g_cpu: float  # µs per op
    r_cpu: float
    f_rps: float | None = None  # the Python floor (--floor, memory pair only)
    f_cpu: float | None = None

    @property
    def ratio(self) -> float:
        return self.g_rps / self.r_rps

    @property
    def cpu_ratio(self) -> float:
        return self.g_cpu / self.r_cpu


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_pairs(args: argparse.Namespace) -> list[Row]:
    tests = args.tests.split(",")
    pipelines = [int(p) for p in args.pipeline.split(",")]
    results: list[Row] = []
    for pair in args.pairs.split(","):
        gflags, rflags = PAIRS[pair]
        samples: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
        floor = args.floor and pair == "memory"
        with (
            gofish_proc(gflags) as g,
            redis_proc(rflags) as r,
            floor_proc() if floor else nullcontext() as f,
        ):
            servers = [("gofish", g), ("redis", r)] + ([("floor", f)] if f is not None else [])
            for test in tests:
                if pair != "memory" and test in READS:
                    continue
                for p in pipelines:
                    n = args.requests if p == 1 else args.pipelined_requests
                    for _ in range(args.runs):  # alternate the servers run by run
                        for name, srv in servers:
                            samples.setdefault((name, test, p), []).append(
                                run_benchmark(srv, test, p, n, args.clients)
                            )
                    g_s, r_s = samples[("gofish", test, p)], samples[("redis", test, p)]
                    row = Row(
                        pair, test, p,
                        statistics.median(s[0] for s in g_s), statistics.median(s[0] for s in r_s),
                        statistics.median(s[1] for s in g_s), statistics.median(s[1] for s in r_s),
                    )  # fmt: skip
                    results.append(row)
                    progress(
                        f"{pair:9} {test:6} -P {p:<3} gofish {row.g_rps:>10,.0f}/s "
                        f"{row.g_cpu:6.1f}µs  redis {row.r_rps:>10,.0f}/s {row.r_cpu:6.1f}µs  "
                        f"ratio {row.ratio:5.2f}x cpu {row.cpu_ratio:5.2f}x"
                    )
                    if f is not None:
                        f_s = samples[("floor", test, p)]
                        row.f_rps = statistics.median(s[0] for s in f_s)
                        row.f_cpu = statistics.median(s[1] for s in f_s)
                        progress(
                            f"{pair:9} {test:6} -P {p:<3} floor  {row.f_rps:>10,.0f}/s "
                            f"{row.f_cpu:6.1f}µs  floor/redis {row.f_rps / row.r_rps:5.2f}x "
                            f"cpu {row.f_cpu / row.r_cpu:5.2f}x  gofish/floor cpu "
                            f"{row.g_cpu / row.f_cpu:5.2f}x"
                        )
    return results


def run_cluster(args: argparse.Namespace) -> tuple[Any, argparse.Namespace]:
    """The throughput phase of bench/cluster_bench.py: (its Throughput, the args it ran with)."""
    import cluster_bench  # late: it imports this module

    cargs = argparse.Namespace(
        targets="leader,follower,redis",
        rounds=args.runs,
        requests=args.cluster_requests,
        clients=args.clients,
        pipeline=1,
    )
    if not cluster_bench.cluster_available():
        raise RuntimeError("gofish server has no --cluster option")
    with ExitStack() as stack:
        base = stack.enter_context(cluster_bench.workdir(False))
        cluster = stack.enter_context(cluster_bench.Cluster(3, "always", base))
        leader, _ = cluster.wait_leader()
        progress(f"cluster: leader is node {leader.node_id}")
        srv = stack.enter_context(redis_proc(PAIRS["always"][1]))
        tp = cluster_bench.run_throughput(cargs, cluster, srv.port, srv.pid)
    return tp, cargs


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=12_000, help="per run at -P 1")
    ap.add_argument(
        "--pipelined-requests", type=int, default=None, help="per run at -P > 1 (4× --requests)"
    )
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--pairs", default="memory,everysec,always")
    ap.add_argument("--tests", default=",".join(TESTS))
    ap.add_argument("--pipeline", default="1,16")
    ap.add_argument("--memory", action="store_true", help="add the RSS-per-key section")
    ap.add_argument("--memory-keys", type=int, default=1_000_000)
    ap.add_argument("--cluster", action="store_true", help="add the 3-node cluster rows")
    ap.add_argument("--cluster-requests", type=int, default=20_000, help="SETs per cluster run")
    ap.add_argument(
        "--floor", action="store_true", help="add the Python floor server to the memory pair"
    )
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = ap.parse_args()
    if args.pipelined_requests is None:
        args.pipelined_requests = 4 * args.requests
    if not set(args.pairs.split(",")) <= PAIRS.keys():
        ap.error(f"pairs are among {sorted(PAIRS)}")
    if args.floor and "memory" not in args.pairs.split(","):
        ap.error("--floor runs in the memory pair: add it to --pairs")
    ensure_redis()
    started = time.monotonic()
    load_start = os.getloadavg()
    results = run_pairs(args)
    memory: list[Any] | None = None
    if args.memory:
        import memory_bench

        memory = memory_bench.run(args.memory_keys, 10, ["redis", "gofish"])
    cluster = run_cluster(args) if args.cluster else None
    load_end = os.getloadavg()
    write_report(
        Path(args.out), args, results, memory, cluster, (load_start, load_end),
        time.monotonic() - started,
    )  # fmt: skip


# --------------------------------------------------------------------------- report


def command_line(args: argparse.Namespace) -> str:
    cmd = (
        f".venv/bin/python bench/compare.py --runs {args.runs} --requests {args.requests} "
        f"--pipelined-requests {args.pipelined_requests} --clients {args.clients} "
        f"--pairs {args.pairs} --tests {args.tests} --pipeline {args.pipeline}"
    )
    if args.memory:
        cmd += f" --memory --memory-keys {args.memory_keys}"
    if args.cluster:
        cmd += f" --cluster --cluster-requests {args.cluster_requests}"
    if args.floor:
        cmd += " --floor"
    return cmd


def machine_facts() -> list[str]:
    cpu = mem = ""
    try:
        m = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
        cpu = m.group(1).strip() if m else ""
        m = re.search(r"MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text())
        mem = f"{int(m.group(1)) / 2**20:.0f} GiB" if m else ""
    except OSError:
        pass

    def out(*cmd: str) -> str:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()

    commit = out("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD")
    dirty = out("git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no")
    return [
        f"- date: {datetime.datetime.now().isoformat(timespec='minutes')}",
        f"- machine: {os.cpu_count()} cores ({cpu}), {mem} memory, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}; redis-benchmark and the "
        "servers share these cores",
        f"- gofish: commit {commit or '?'}{' with uncommitted changes' if dirty else ''}",
        f"- reference: {out('redis-server', '--version')}",
    ]


def _fmt_load(load: tuple[float, float, float]) -> str:
    return ", ".join(f"{x:.2f}" for x in load)


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "not met"


def targets(
    results: list[Row], memory: list[Any] | None, cluster: tuple[Any, argparse.Namespace] | None
) -> list[str]:
    """The issue's targets, each with the measured figure and met / not met."""
    cell = {(r.pair, r.test, r.pipeline): r for r in results}
    lines = [
        "## Targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    for test in ("GET", "SET"):
        r = cell.get(("memory", test, 1))
        if r is not None:
            lines.append(
                f"| {test} -P 1 (memory pair): throughput ≥ 1.0×, CPU/op ≤ 1.3× | "
                f"{r.ratio:.2f}×, CPU {r.cpu_ratio:.2f}× | "
                f"{_verdict(r.ratio >= 1.0 and r.cpu_ratio <= 1.3)} |"
            )
    for pair in ("always", "everysec"):
        r = cell.get((pair, "SET", 1))
        if r is not None:
            lines.append(
                f"| durable SET -P 1 ({pair} pair): throughput ≥ 1.2× | {r.ratio:.2f}× "
                f"(CPU {r.cpu_ratio:.2f}×) | {_verdict(r.ratio >= 1.2)} |"
            )
    piped = [r for r in results if r.pipeline > 1 and r.pair == "memory"]
    if piped:
        worst = min(piped, key=lambda r: r.ratio)
        below = [f"{r.test} {r.ratio:.2f}×" for r in piped if r.ratio < 0.9]
        lines.append(
            f"| -P {worst.pipeline} (memory pair, every test): throughput ≥ 0.9× | lowest "
            f"{worst.test} {worst.ratio:.2f}×; median "
            f"{statistics.median(r.ratio for r in piped):.2f}×"
            f"{'; below: ' + ', '.join(below) if below else ''} | {_verdict(not below)} |"
        )
    if memory:
        by = {m.server: m for m in memory}
        if "gofish" in by and "redis" in by:
            ratio = by["gofish"].bytes_per_key / by["redis"].bytes_per_key
            lines.append(
                f"| RSS per key ≤ 2× | {by['gofish'].bytes_per_key:.0f} vs "
                f"{by['redis'].bytes_per_key:.0f} B/key = {ratio:.2f}× | {_verdict(ratio <= 2.0)} |"
            )
    if cluster is not None:
        tp, _ = cluster
        r_rps = tp.median("redis", "rps")
        worst_ratio = min(tp.median(t, "rps") for t in ("leader", "follower")) / r_rps
        lines.append(
            f"| 3-node cluster SET through any node ≥ 0.5× Redis always | "
            f"{worst_ratio:.2f}× (the slower of leader and follower) | "
            f"{_verdict(worst_ratio >= 0.5)} |"
        )
    return lines + [""]


def cluster_section(tp: Any, cargs: argparse.Namespace) -> list[str]:
    lines = [
        "## 3-node cluster: SET throughput",
        "",
        f"Three gofish nodes on loopback (`--appendfsync always`) vs Redis `appendfsync always`; "
        f"`redis-benchmark -c {cargs.clients} -n {cargs.requests} -P 1 -r 100000 -t set` through "
        f"the leader, a follower (which forwards to the leader) and Redis, alternated run by run, "
        f"{cargs.rounds} runs each; medians. entry = CPU per write of the node the client talks "
        "to; cluster = of the three nodes together. Failover times: `make bench-cluster` "
        "(docs/benchmarks-cluster.md).",
        "",
        "| target | writes/s | runs | ratio to Redis | p50 ms | p99 ms | entry µs/op | cluster µs/op |",
        "|---|---|---|---|---|---|---|---|",
    ]
    r_rps = tp.median("redis", "rps")
    for target in ("leader", "follower", "redis"):
        rps = tp.median(target, "rps")
        runs = ", ".join(f"{s.rps:,.0f}" for s in tp.samples[target])
        cl = "—" if target == "redis" else f"{tp.median(target, 'cluster_cpu_us'):.0f}"
        lines.append(
            f"| {target} | {rps:,.0f} | {runs} | {rps / r_rps:.2f} | "
            f"{tp.median(target, 'p50_ms'):.1f} | {tp.median(target, 'p99_ms'):.1f} | "
            f"{tp.median(target, 'entry_cpu_us'):.0f} | {cl} |"
        )
    return lines + [""]


def floor_section(results: list[Row]) -> list[str]:
    """The "Python floor" table: the floor's medians and its ratios to Redis and gofish."""
    rows = [r for r in results if r.f_rps is not None and r.f_cpu is not None]
    if not rows:
        return []
    f_r = [r.f_cpu / r.r_cpu for r in rows if r.f_cpu is not None]
    g_f = [r.g_cpu / r.f_cpu for r in rows if r.f_cpu is not None]
    lines = [
        "## Python floor",
        "",
        "bench/floor_server.py is the least a Python server can do per request, built like "
        "gofish's client server: uvloop, one `asyncio.Protocol` per connection, `hiredis.Reader` "
        "to parse, one `transport.write` per read, and one dict behind it (no persistence, no "
        "replication, no checks). It ran in the memory pair's alternation (gofish, redis, floor, "
        "...) with the same redis-benchmark command. Its CPU per request over Redis's "
        "(floor/redis) is the part of the gap that any uvloop + hiredis Python server has, "
        "whatever its design; gofish's over the floor's (gofish/floor) is what gofish's own "
        "design adds on top of parsing and a dict operation. The two multiply "
        "to gofish/redis, the CPU ratio of the table above. Here floor/redis CPU is "
        f"{min(f_r):.2f}–{max(f_r):.2f}× and gofish/floor {min(g_f):.2f}–{max(g_f):.2f}×. "
        "Throughput at -P 1 is partly client-bound (redis-benchmark takes one of the cores), "
        "so CPU per request is the fairer figure.",
        "",
        "| test | -P | floor req/s | floor µs/op | floor/redis req/s | floor/redis CPU | gofish/floor CPU | gofish/redis CPU |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        assert r.f_rps is not None and r.f_cpu is not None
        lines.append(
            f"| {r.test} | {r.pipeline} | {r.f_rps:,.0f} | {r.f_cpu:.1f} | "
            f"{r.f_rps / r.r_rps:.2f}x | {r.f_cpu / r.r_cpu:.2f}x | {r.g_cpu / r.f_cpu:.2f}x | "
            f"{r.cpu_ratio:.2f}x |"
        )
    return lines + [""]


def write_report(
    path: Path,
    args: argparse.Namespace,
    results: list[Row],
    memory: list[Any] | None,
    cluster: tuple[Any, argparse.Namespace] | None,
    loads: tuple[tuple[float, float, float], tuple[float, float, float]],
    seconds: float,
) -> None:
    lines = [
        "# Benchmarks: gofish vs Redis 7.0",
        "",
        *machine_facts(),
        f"- load average (1, 5, 15 min) at the start: {_fmt_load(loads[0])}; at the end: "
        f"{_fmt_load(loads[1])} (the machine is shared: other work running at the same time "
        "lowers and spreads the figures, for both servers)",
        f"- command: `{command_line(args)}` ({seconds / 60:.1f} minutes)",
        "- servers alternated run by run; medians; CPU = server utime+stime per request; "
        f"-P 1 runs send {args.requests:,} requests, pipelined runs {args.pipelined_requests:,}",
        "",
        *targets(results, memory, cluster),
        "## Single node, redis-benchmark",
        "",
        f"`redis-benchmark -c {args.clients} -r 100000 -t TEST -P N` after FLUSHALL. Pairs: "
        "memory = gofish `--appendfsync no --save ''` vs Redis `--appendonly no --save ''`; "
        "everysec / always = gofish `--appendfsync everysec|always --save ''` vs Redis "
        "`--appendonly yes --appendfsync everysec|always --save ''` (write tests only). "
        "`--save ''`: neither server takes snapshots on its own during the runs.",
        "",
        "| pair | test | -P | gofish req/s | redis req/s | ratio | gofish µs/op | redis µs/op | CPU ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.pair} | {r.test} | {r.pipeline} | {r.g_rps:,.0f} | {r.r_rps:,.0f} | "
            f"{r.ratio:.2f}x | {r.g_cpu:.1f} | {r.r_cpu:.1f} | {r.cpu_ratio:.2f}x |"
        )
    lines.append("")
    lines += floor_section(results)
    if memory is not None:
        import memory_bench

        lines += memory_bench.markdown(memory, args.memory_keys, 10)
    if cluster is not None:
        lines += cluster_section(*cluster)
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
