"""Memory per key: N small string keys in gofish and in Redis 7.0 (the RSS target of issue 6).

The same RESP stream (``SET key:<i> <value>`` for i in 0..N-1, the value ``--value-size``
bytes, 10 by default) is written once to a temporary file and loaded with ``redis-cli
--pipe`` into:

- redis-server 7.0 without persistence (``--appendonly no --save ''``);
- gofish with ``--appendfsync no`` (the log is still written, it is just not fsynced).

For each server the resident set size (``VmRSS`` from ``/proc/PID/status``) is read before
and after the load; ``(after - before) / N`` is the RSS cost of one key, and the report
gives the gofish/Redis ratio (target of the issue: ≤ 2×). The wall time of the ``redis-cli
--pipe`` run (until the last reply is read) is reported too. ``DBSIZE`` must equal N after
the load and ``redis-cli`` must report no errors, or the run fails.

Each server is started on a loopback port in a temporary directory and killed at the end;
every subprocess has a timeout. Used on its own or by ``bench/compare.py --memory``:

    .venv/bin/python bench/memory_bench.py [--keys 1000000] [--value-size 10]
                                           [--servers redis,gofish] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import compare  # noqa: E402  (puts tests/ on sys.path too)

MAX_KEYS = 20_000_000  # the stream file is ~45 bytes a key: keep it bounded
CHUNK = 10_000  # commands generated per write
PIPE_TIMEOUT = 900.0  # seconds for one redis-cli --pipe run
_PIPE_SUMMARY = re.compile(rb"errors: (\d+), replies: (\d+)")

SERVERS: dict[
    str, tuple[list[str], Callable[[list[str]], AbstractContextManager[compare.Server]]]
] = {
    "redis": (["--appendonly", "no", "--save", ""], compare.redis_proc),
    "gofish": (["--appendfsync", "no", "--save", ""], compare.gofish_proc),
}


def _bulk(b: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(b), b)


def resp_set_stream(keys: int, value_size: int) -> Iterator[bytes]:
    """Chunks of RESP ``SET key:<i> <value>`` commands, i in [0, keys); the value is
    ``value_size`` bytes of ``x``. Each chunk holds at most ``CHUNK`` commands."""
    value = _bulk(b"x" * value_size)
    head = b"*3\r\n$3\r\nSET\r\n"
    for start in range(0, keys, CHUNK):
        yield b"".join(
            head + _bulk(b"key:%d" % i) + value for i in range(start, min(keys, start + CHUNK))
        )


def write_stream(path: Path, keys: int, value_size: int) -> int:
    """Write the RESP stream to ``path``; returns its size in bytes."""
    size = 0
    with path.open("wb") as f:
        for chunk in resp_set_stream(keys, value_size):
            f.write(chunk)
            size += len(chunk)
    return size


def vm_rss(pid: int) -> int:
    """Resident set size of ``pid`` in bytes (``VmRSS`` of /proc/PID/status)."""
    m = re.search(r"VmRSS:\s*(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    if m is None:
        raise RuntimeError(f"no VmRSS for pid {pid}")
    return int(m.group(1)) * 1024


def _cli(port: int, *args: str) -> str:
    out = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return out.stdout.strip()


@dataclass
class MemoryResult:
    server: str
    flags: list[str]
    keys: int
    rss_before: int  # bytes
    rss_after: int  # bytes
    load_seconds: float  # redis-cli --pipe wall time, until the last reply

    @property
    def bytes_per_key(self) -> float:
        return (self.rss_after - self.rss_before) / self.keys

    @property
    def keys_per_second(self) -> float:
        return self.keys / self.load_seconds


def load(srv: compare.Server, stream: Path, keys: int) -> float:
    """Pipe ``stream`` into ``srv`` with ``redis-cli --pipe``; the wall time in seconds.
    Raises RuntimeError on any error reply, a short reply count, or a wrong DBSIZE."""
    with stream.open("rb") as f:
        started = time.monotonic()
        run = subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(srv.port), "--pipe"],
            stdin=f, capture_output=True, timeout=PIPE_TIMEOUT,
        )  # fmt: skip
        elapsed = time.monotonic() - started
    text = run.stdout + run.stderr
    m = _PIPE_SUMMARY.search(text)
    if run.returncode != 0 or m is None or int(m.group(1)) != 0 or int(m.group(2)) != keys:
        raise RuntimeError(f"redis-cli --pipe on port {srv.port} (exit {run.returncode}): {text!r}")
    size = int(_cli(srv.port, "DBSIZE"))
    if size != keys:
        raise RuntimeError(f"DBSIZE {size} after loading {keys} keys on port {srv.port}")
    return elapsed


def measure(name: str, stream: Path, keys: int) -> MemoryResult:
    """Start server ``name`` (a key of SERVERS), load the stream, read RSS, kill it."""
    flags, start = SERVERS[name]
    with start(flags) as srv:
        _cli(srv.port, "PING")  # one round trip: the server has finished starting up
        before = vm_rss(srv.pid)
        seconds = load(srv, stream, keys)
        after = vm_rss(srv.pid)
    return MemoryResult(name, flags, keys, before, after, seconds)


def run(keys: int, value_size: int, servers: list[str]) -> list[MemoryResult]:
    """Measure every server in ``servers`` with the same stream (progress on stderr)."""
    if not 0 < keys <= MAX_KEYS:
        raise ValueError(f"keys must be in 1..{MAX_KEYS}")
    results = []
    with tempfile.TemporaryDirectory(prefix="gofish-memory-bench-") as d:
        stream = Path(d) / "set.resp"
        started = time.monotonic()
        size = write_stream(stream, keys, value_size)
        print(
            f"memory: {keys:,} SETs, {size / 2**20:.1f} MiB of RESP generated in "
            f"{time.monotonic() - started:.1f}s",
            file=sys.stderr, flush=True,
        )  # fmt: skip
        for name in servers:
            r = measure(name, stream, keys)
            print(
                f"memory: {name:6} RSS {r.rss_before / 2**20:7.1f} -> {r.rss_after / 2**20:7.1f} "
                f"MiB, {r.bytes_per_key:6.1f} B/key, load {r.load_seconds:6.1f}s "
                f"({r.keys_per_second:,.0f} keys/s)",
                file=sys.stderr, flush=True,
            )  # fmt: skip
            results.append(r)
    return results


def markdown(results: list[MemoryResult], keys: int, value_size: int) -> list[str]:
    """The Markdown section (a heading, how it was measured, a table, the ratio)."""
    lines = [
        "## Memory: RSS per key",
        "",
        f"{keys:,} keys `key:<i>` → {value_size}-byte value, loaded with `redis-cli --pipe` "
        "from a RESP file into a fresh server; RSS = `VmRSS` of /proc/PID/status before and "
        "after the load; load = wall time of `redis-cli --pipe` until its last reply. "
        "Target of the issue: gofish ≤ 2× Redis bytes per key.",
        "",
        "| server | flags | RSS before MiB | RSS after MiB | bytes/key | load s | keys/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        flags = " ".join(f or "''" for f in r.flags)
        lines.append(
            f"| {r.server} | `{flags}` | {r.rss_before / 2**20:.1f} | {r.rss_after / 2**20:.1f} | "
            f"{r.bytes_per_key:.1f} | {r.load_seconds:.1f} | {r.keys_per_second:,.0f} |"
        )
    by = {r.server: r for r in results}
    if "redis" in by and "gofish" in by:
        g, r = by["gofish"], by["redis"]
        lines += [
            "",
            f"gofish/Redis: {g.bytes_per_key / r.bytes_per_key:.2f}× bytes per key, "
            f"{g.load_seconds / r.load_seconds:.2f}× load time.",
        ]
    return lines + [""]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--value-size", type=int, default=10)
    ap.add_argument("--servers", default="redis,gofish")
    ap.add_argument("--out", default=None, help="also write the Markdown section here")
    args = ap.parse_args()
    servers = args.servers.split(",")
    if not set(servers) <= SERVERS.keys():
        ap.error(f"servers are among {sorted(SERVERS)}")
    compare.ensure_redis()
    text = "\n".join(markdown(run(args.keys, args.value_size, servers), args.keys, args.value_size))
    if args.out:
        Path(args.out).write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
