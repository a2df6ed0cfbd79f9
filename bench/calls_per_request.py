"""Python function calls per request: a deterministic measure of gofish's hot path.

CPU time per request swings by tens of percent between runs on a shared machine; the
number of Python function calls a request costs does not. This starts a gofish server
(``--appendfsync no``) under cProfile, warms it up with SETs, profiles one redis-benchmark
run and prints ``calls/request`` (every call cProfile counts, Python functions and builtins
alike) and the profiled time per request, plus the top functions by call count with
``--top``. The profiled time is inflated by the profiler: compare calls, not time.

    .venv/bin/python bench/calls_per_request.py [--test set] [--pipeline 1]
        [--requests 50000] [--clients 50] [--top 0]

Needs redis-benchmark (``make redis-server`` installs it).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from procs import free_port, wait_connectable  # noqa: E402


def _serve(out: str, argv: list[str]) -> None:
    """Run the server; SIGUSR1 starts profiling, SIGUSR2 writes the stats to ``out`` and
    exits."""
    prof = cProfile.Profile()

    def start(*_: object) -> None:
        prof.enable()

    def stop(*_: object) -> None:
        prof.disable()
        prof.dump_stats(out)
        os._exit(0)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    from gofish.node.cli import main

    main(argv)


def _wait_serving(port: int, timeout: float = 30.0) -> None:
    """Until PING answers PONG (not -LOADING: the log is still being opened)."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            if s.recv(64).startswith(b"+PONG"):
                return
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start serving")
        time.sleep(0.1)


def _bench(port: int, test: str, pipeline: int, requests: int, clients: int) -> None:
    subprocess.run(
        ["redis-benchmark", "-p", str(port), "-c", str(clients), "-n", str(requests),
         "-r", "100000", "-t", test, "-P", str(pipeline), "-q"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600,
    )


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        _serve(sys.argv[2], sys.argv[3:])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--test", default="set")
    ap.add_argument("--pipeline", type=int, default=1)
    ap.add_argument("--requests", type=int, default=50_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--top", type=int, default=0, help="also list the N most called")
    ap.add_argument("--save", help="also keep the cProfile stats in this file")
    args = ap.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="gofish-calls-") as tmp:
        out = os.path.join(tmp, "prof.out")
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", out, "server", "--port", str(port),
             "--dir", os.path.join(tmp, "data"), "--appendfsync", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            wait_connectable(port, proc, "the server")
            _wait_serving(port)
            _bench(port, "set", 1, 20_000, args.clients)  # warm up: keys exist for reads
            proc.send_signal(signal.SIGUSR1)
            _bench(port, args.test, args.pipeline, args.requests, args.clients)
            proc.send_signal(signal.SIGUSR2)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        st = pstats.Stats(out)
        if args.save:
            st.dump_stats(args.save)
        n = args.requests
        calls: int = st.total_calls  # type: ignore[attr-defined]
        seconds: float = st.total_tt  # type: ignore[attr-defined]
        print(f"{args.test.upper()} -P {args.pipeline}: {calls / n:.1f} calls/request, "
              f"{seconds / n * 1e6:.1f} µs/request under the profiler")
        if args.top:
            table = st.stats  # type: ignore[attr-defined]
            rows = sorted(((v[1], k) for k, v in table.items()), reverse=True)
            for count, (path, line, func) in rows[: args.top]:
                where = os.path.relpath(path, ROOT) if path.startswith(str(ROOT)) else path
                print(f"{count / n:8.2f}  {where}:{line} {func}")


if __name__ == "__main__":
    main()
