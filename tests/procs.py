"""Start real server processes for tests: gofish and the reference redis-server.

Readiness is an event, not a sleep: gofish logs ``ready to accept connections on HOST:PORT``
(its port may be 0, the real one is in that line); redis-server logs ``Ready to accept
connections``. Every process is killed when its context ends.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_READY = re.compile(rb"ready to accept connections on ([\d.:a-f]+):(\d+)")


@dataclass
class ServerProc:
    host: str
    port: int
    proc: subprocess.Popen[bytes]
    dir: str
    log: list[bytes]


def _wait_line(
    proc: subprocess.Popen[bytes], pattern: re.Pattern[bytes], timeout: float, log: list[bytes]
) -> re.Match[bytes]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(
                "server exited before ready:\n" + b"".join(log).decode(errors="replace")
            )
        log.append(line)
        m = pattern.search(line)
        if m:
            return m
    raise RuntimeError("server not ready in time:\n" + b"".join(log).decode(errors="replace"))


def _drain(proc: subprocess.Popen[bytes], log: list[bytes]) -> None:
    import threading

    def run() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.append(line)
            if len(log) > 2000:
                del log[:1000]

    threading.Thread(target=run, daemon=True).start()


@contextmanager
def gofish_server(
    *args: str, port: int = 0, env: dict[str, str] | None = None, data_dir: str | None = None
) -> Iterator[ServerProc]:
    tmp = data_dir or tempfile.mkdtemp(prefix="gofish-test-")
    cmd = [
        sys.executable,
        "-m",
        "gofish",
        "server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        tmp,
        "--loglevel",
        "notice",
        *args,
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    log: list[bytes] = []
    try:
        m = _wait_line(proc, _READY, 30, log)
        _drain(proc, log)
        yield ServerProc("127.0.0.1", int(m.group(2)), proc, tmp, log)
    finally:
        proc.kill()
        proc.wait()
        if data_dir is None:
            shutil.rmtree(tmp, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_connectable(port: int, proc: subprocess.Popen[bytes], what: str,
                     timeout: float = 30.0) -> None:
    """Wait until ``127.0.0.1:port`` accepts a connection; RuntimeError if ``proc`` exits
    or ``timeout`` passes first (for servers that print nothing when ready)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.05)


@contextmanager
def redis_server(*args: str) -> Iterator[ServerProc]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed: run `make install`")
    tmp = tempfile.mkdtemp(prefix="redis-ref-")
    for _ in range(5):
        port = free_port()
        proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                tmp,
                "--daemonize",
                "no",
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        log: list[bytes] = []
        try:
            _wait_line(proc, re.compile(rb"Ready to accept connections"), 30, log)
        except RuntimeError:
            proc.kill()
            proc.wait()
            if any(b"Address already in use" in line for line in log):
                continue
            raise
        _drain(proc, log)
        try:
            yield ServerProc("127.0.0.1", port, proc, tmp, log)
        finally:
            proc.kill()
            proc.wait()
            shutil.rmtree(tmp, ignore_errors=True)
        return
    raise RuntimeError("could not find a free port for redis-server")
