"""Record the flame graphs of docs/flamegraphs/ with py-spy, and read the top costs from them.

Each scenario starts its servers on loopback in a temporary directory, puts a steady
``redis-benchmark`` load on one gofish process, and records that process with py-spy twice
in a row under the same load: once as an SVG flame graph and once as raw collapsed stacks
(py-spy writes one format per recording). py-spy runs with ``--native``: the modules
compiled by mypyc (ADR 0013) show as ``Class.method [C]`` instead of vanishing into their
callers, and C frames (syscalls, the uvloop loop) appear too. From the raw stacks it prints,
per scenario, the top functions by own samples (the function is the innermost frame) and by
cumulative samples (Python and compiled functions anywhere on the stack), in % of the
samples of work (threads blocked on a queue are counted apart); line numbers are dropped so
a function's lines add up. Every process it starts is killed at the end.

Scenarios (``--scenarios``, all by default):

- ``set-always``: single node ``--appendfsync always``, ``SET -P 1 -c 50``; recorded twice more
  with ``--gil`` (only samples of the thread holding the GIL);
- ``get``: single node ``--appendfsync no``, 100,000 keys loaded, ``GET -P 1 -c 50``;
- ``cluster-set``: the leader of a 3-node cluster (``--appendfsync always``, started as
  bench/cluster_bench.py does), ``SET -P 1 -c 50`` through the leader;
- ``cluster-follower``: a follower of such a cluster while the same load goes through the
  leader (what replicating costs a follower).

    .venv/bin/python docs/flamegraphs/profile.py [--duration 30] [--rate 50] [--top 10]
        [--scenarios set-always,get,cluster-set,cluster-follower] [--out-dir docs/flamegraphs]
        [--from-raw] [--no-native]

``--from-raw`` records nothing: it prints the tables of the ``*.raw`` files already there.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import cluster_bench  # noqa: E402
import compare  # noqa: E402

PY_SPY = ROOT / ".venv" / "bin" / "py-spy"
WARMUP = 2.0  # seconds of load before the first recording: a duration, not a sync
LOAD_REQUESTS = 5_000_000  # bounds the background load; it is killed after the recordings
_LINENO = re.compile(r":\d+\)$")
# Frames of a thread blocked on a queue (or, seen with --native, of the event loop blocked in
# epoll): py-spy's idle detection does not always see these waits, so they show up as
# samples although they use no CPU. Without --native they are the innermost frame; with
# it, C frames of the lock wait follow them.
WAITS = (
    re.compile(r"^SyncThread\._run \(gofish/node/sync_thread\.py:44\)$"),  # queue.get()
    re.compile(r"^Condition\.wait \(threading\.py:\d+\)$"),  # anyio worker threads
    re.compile(r"^_worker \(concurrent/futures/thread\.py:\d+\)$"),  # executor threads
    re.compile(r"^epoll_p?wait \("),  # --native: the event loop waiting for events
)
# --native: a function compiled by mypyc appears as ``CPyDef_<module>___<Class>___<name>``
# (``CPyPy_...`` is its Python-callable wrapper, dropped); shown as ``Class.name [C]``.
_MYPYC = re.compile(r"^CPy(Def|Py)_(\w+?) \(__native_\w+\.c(:\d+)?\)$")


@dataclass
class Costs:
    samples: int
    own: Counter[str]
    cumulative: Counter[str]
    waits: int  # samples of a thread waiting on a queue (see WAITS), not in the counters


def read_raw(path: Path) -> Costs:
    """Aggregate py-spy raw output (``frame;frame;... count`` lines, outermost frame first)
    by function: own = samples whose innermost frame is it, cumulative = samples that have it
    anywhere on the stack (counted once per sample). Samples of waiting threads (`WAITS`)
    are only counted."""
    own: Counter[str] = Counter()
    cum: Counter[str] = Counter()
    total = waits = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        raw = stack.split(";")
        if any(w.match(f) for f in raw for w in WAITS):
            waits += n
            continue
        frames = [f for f in map(_frame_name, raw) if f]
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            cum[f] += n
    return Costs(total, own, cum, waits)


def _frame_name(frame: str) -> str:
    """A raw frame as the tables name it: line number dropped; a mypyc-compiled function
    as ``Class.name [C]`` (its ``CPyPy_`` wrapper: empty, dropped)."""
    m = _MYPYC.match(frame)
    if m is None:
        return _LINENO.sub(")", frame)
    if m.group(1) == "Py":
        return ""
    parts = [p for p in m.group(2).split("___") if p]
    return ".".join(parts[1:] or parts) + " [C]"


def top_table(costs: Costs, top: int) -> list[str]:
    """Markdown: the ``top`` functions by own %, with their cumulative %, and then the
    ``top`` by cumulative % (skipping interpreter and event-loop entry frames)."""
    lines = [
        f"{costs.samples} samples of work; {costs.waits} more of threads blocked on a queue "
        "or in epoll (no CPU) are left out.",
        "",
        "| # | function (own) | own % | cum % |",
        "|---|---|---|---|",
    ]
    for i, (f, n) in enumerate(costs.own.most_common(top), 1):
        lines.append(
            f"| {i} | `{f}` | {100 * n / costs.samples:.1f} | "
            f"{100 * costs.cumulative[f] / costs.samples:.1f} |"
        )
    entry = re.compile(
        r"^(_run_module_as_main|_run_code|<module>|main|run|Runner\.run|AsyncIOBackend\.run"
        r"|Thread\._bootstrap(_inner)?|Thread\.run) "
    )
    cum = [(f, n) for f, n in costs.cumulative.most_common()
           if not entry.match(f) and (f.endswith(".py)") or f.endswith(" [C]"))][:top]
    lines += ["", "| # | function (cumulative) | cum % | own % |", "|---|---|---|---|"]
    for i, (f, n) in enumerate(cum, 1):
        lines.append(
            f"| {i} | `{f}` | {100 * n / costs.samples:.1f} | "
            f"{100 * costs.own[f] / costs.samples:.1f} |"
        )
    return lines + [""]


def commands_processed(port: int) -> int:
    out = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), "INFO", "stats"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    m = re.search(r"total_commands_processed:(\d+)", out)
    return int(m.group(1)) if m else 0


@contextmanager
def load(port: int, test: str) -> Iterator[None]:
    """``redis-benchmark -c 50 -P 1 -r 100000 -t TEST`` in the background, killed on exit."""
    proc = subprocess.Popen(
        [
            "redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "50", "-P", "1",
            "-r", "100000", "-n", str(LOAD_REQUESTS), "-t", test, "-q",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(WARMUP)
        if proc.poll() is not None:
            raise RuntimeError(f"redis-benchmark exited early ({proc.returncode})")
        yield
    finally:
        proc.kill()
        proc.wait()


def record(pid: int, out: Path, fmt: str, args: argparse.Namespace, gil: bool) -> None:
    cmd = [str(PY_SPY), "record", "-f", fmt, "--rate", str(args.rate), "-d", str(args.duration)]
    cmd += ["-p", str(pid), "-o", str(out)] + (["--gil"] if gil else [])
    cmd += ["--native"] if args.native else []
    print("$ " + " ".join(cmd).replace(str(ROOT) + "/", ""), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, timeout=args.duration + 60, capture_output=True)


def profile(
    name: str, pid: int, port: int, test: str, args: argparse.Namespace, gil_too: bool
) -> list[str]:
    """Record ``name``.svg/.raw (and ``name``-gil.* when ``gil_too``) under load; Markdown out."""
    out_dir = Path(args.out_dir)
    report = []
    with load(port, test):
        for gil in [False, True] if gil_too else [False]:
            stem = f"{name}-gil" if gil else name
            before, t0 = commands_processed(port), time.monotonic()
            record(pid, out_dir / f"{stem}.svg", "flamegraph", args, gil)
            record(pid, out_dir / f"{stem}.raw", "raw", args, gil)
            rate = (commands_processed(port) - before) / (time.monotonic() - t0)
            costs = read_raw(out_dir / f"{stem}.raw")
            report += [f"### {stem}", "", f"{rate:,.0f} commands/s while recorded."]
            report += top_table(costs, args.top)
    return report


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--duration", type=int, default=30)
    # --native unwinds C stacks while the process is paused: at 500 samples/s a server
    # served 2% of its unprofiled rate, at 50/s about 60-80% (measured)
    ap.add_argument("--rate", type=int, default=50)
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--scenarios", default="set-always,get,cluster-set,cluster-follower")
    ap.add_argument("--out-dir", default=str(Path(__file__).resolve().parent))
    ap.add_argument(
        "--no-native", dest="native", action="store_false",
        help="Python frames only (py-spy without --native): compiled modules (ADR 0013) "
        "then count as their callers",
    )
    ap.add_argument(
        "--from-raw", action="store_true", help="only print the tables of the .raw files there"
    )
    args = ap.parse_args()
    if args.from_raw:
        for raw in sorted(Path(args.out_dir).glob("*.raw")):
            print("\n".join([f"### {raw.stem}", "", *top_table(read_raw(raw), args.top)]))
        return 0
    report: list[str] = []
    for scenario in args.scenarios.split(","):
        with ExitStack() as stack:
            if scenario == "set-always":
                srv = stack.enter_context(compare.gofish_proc(["--appendfsync", "always"]))
                report += profile(scenario, srv.pid, srv.port, "set", args, gil_too=True)
            elif scenario == "get":
                srv = stack.enter_context(compare.gofish_proc(["--appendfsync", "no"]))
                subprocess.run(
                    ["redis-benchmark", "-h", "127.0.0.1", "-p", str(srv.port), "-c", "50",
                     "-P", "16", "-n", "300000", "-r", "100000", "-t", "set", "-q"],
                    check=True, capture_output=True, timeout=600,
                )  # fmt: skip
                report += profile(scenario, srv.pid, srv.port, "get", args, gil_too=False)
            elif scenario in ("cluster-set", "cluster-follower"):
                base = stack.enter_context(cluster_bench.workdir(False))
                cluster = stack.enter_context(cluster_bench.Cluster(3, "always", base))
                leader, _ = cluster.wait_leader()
                target = leader if scenario == "cluster-set" else next(
                    n for n in cluster.nodes if n is not leader)
                report += profile(scenario, target.pid, leader.port, "set", args, gil_too=False)
            else:
                ap.error(f"unknown scenario {scenario}")
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
