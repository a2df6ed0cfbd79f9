"""gofish vs Redis 7.0 side by side with redis-benchmark (the bench suite of issue 6).

For every pair of settings (gofish flags, redis-server flags) and every test, the two servers
are run alternately (gofish, redis, gofish, redis, ...), ``--runs`` times each; the median
throughput and each server's CPU microseconds per operation (utime+stime from /proc/PID/stat,
around the run) are reported, with gofish/redis ratios. The machine has 2 cores and
redis-benchmark takes one, so throughput at -P 1 is partly client-bound: CPU per operation is
the fairer figure.

    .venv/bin/python bench/compare.py [--runs 3] [--requests 100000] [--pairs memory,always]
                                      [--tests SET,GET] [--pipeline 1,16] [--out docs/benchmarks.md]
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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from procs import free_port, gofish_server  # noqa: E402

TESTS = ["SET", "GET", "INCR", "LPUSH", "LPOP", "SADD", "HSET", "ZADD", "MSET"]
PAIRS: dict[str, tuple[list[str], list[str]]] = {
    # in-memory: gofish without fsync vs Redis without persistence
    "memory": (["--appendfsync", "no"], ["--appendonly", "no", "--save", ""]),
    "everysec": (
        ["--appendfsync", "everysec"],
        ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
    ),
    "always": (
        ["--appendfsync", "always"],
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
    subprocess.run(["redis-cli", "-p", str(srv.port), "FLUSHALL"], check=True, capture_output=True)
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--pairs", default="memory,everysec,always")
    ap.add_argument("--tests", default=",".join(TESTS))
    ap.add_argument("--pipeline", default="1,16")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = ap.parse_args()
    ensure_redis()
    tests = args.tests.split(",")
    pipelines = [int(p) for p in args.pipeline.split(",")]
    results: list[tuple[str, str, int, float, float, float, float]] = []
    for pair in args.pairs.split(","):
        gflags, rflags = PAIRS[pair]
        samples: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
        with gofish_proc(gflags) as g, redis_proc(rflags) as r:
            for test in tests:
                for p in pipelines:
                    for _ in range(args.runs):  # alternate the two servers run by run
                        for name, srv in (("gofish", g), ("redis", r)):
                            samples.setdefault((name, test, p), []).append(
                                run_benchmark(srv, test, p, args.requests, args.clients)
                            )
                    g_rps = statistics.median(s[0] for s in samples[("gofish", test, p)])
                    r_rps = statistics.median(s[0] for s in samples[("redis", test, p)])
                    g_cpu = statistics.median(s[1] for s in samples[("gofish", test, p)])
                    r_cpu = statistics.median(s[1] for s in samples[("redis", test, p)])
                    results.append((pair, test, p, g_rps, r_rps, g_cpu, r_cpu))
                    print(
                        f"{pair:9} {test:6} -P {p:<3} gofish {g_rps:>10,.0f}/s {g_cpu:6.1f}µs  "
                        f"redis {r_rps:>10,.0f}/s {r_cpu:6.1f}µs  ratio {g_rps / r_rps:5.2f}x "
                        f"cpu {g_cpu / r_cpu:5.2f}x",
                        flush=True,
                    )
    write_report(Path(args.out), args, results)


def write_report(
    path: Path,
    args: argparse.Namespace,
    results: list[tuple[str, str, int, float, float, float, float]],
) -> None:
    redis_version = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True
    ).stdout.strip()
    cpu = ""
    try:
        m = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
        cpu = m.group(1) if m else ""
    except OSError:
        pass
    lines = [
        "# Benchmarks: gofish vs Redis 7.0",
        "",
        f"- date: {datetime.date.today().isoformat()}",
        f"- machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}",
        f"- reference: {redis_version}",
        f"- command: `.venv/bin/python bench/compare.py --runs {args.runs} --requests {args.requests} "
        f"--clients {args.clients} --pairs {args.pairs} --tests {args.tests} --pipeline {args.pipeline}`",
        "- servers alternated run by run; medians; CPU = server utime+stime per request",
        "",
        "| pair | test | -P | gofish req/s | redis req/s | ratio | gofish µs/op | redis µs/op | CPU ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for pair, test, p, g_rps, r_rps, g_cpu, r_cpu in results:
        lines.append(
            f"| {pair} | {test} | {p} | {g_rps:,.0f} | {r_rps:,.0f} | {g_rps / r_rps:.2f}x | "
            f"{g_cpu:.1f} | {r_cpu:.1f} | {g_cpu / r_cpu:.2f}x |"
        )
    lines.append("")
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    started = time.time()
    main()
    print(f"done in {time.time() - started:.0f}s")
