"""Start real server processes for tests: gofish and the reference redis-server.

Readiness is an event, not a sleep: gofish logs ``ready to accept connections on HOST:PORT``
(its port may be 0, the real one is in that line); redis-server logs ``Ready to accept
connections``. Every process is killed when its context ends.

A port that a process will bind later comes from `free_port` / `free_port_block`, never from
binding port 0 and closing the socket: such a port lies in the kernel's ephemeral range and
is free again at once, so the next bind to port 0 anywhere on the machine (a second
``free_port`` call among them: 0.1% of six-port draws repeat a port) may get it before the
server binds it, which then fails with "address already in use". These functions pick ports
below or above the ephemeral range (``/proc/sys/net/ipv4/ip_local_port_range``), which the
kernel never hands out by itself, and hold a lock file per port (``flock``, dropped by the
kernel when the holder exits) so that test processes picking at the same time never pick
the same port. A port stays reserved until `release_port` or the end of the process.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
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


LOWEST_PORT = 20000  # below: ports that well-known services and fixed test ports use
_LOCK_DIR = Path(tempfile.gettempdir()) / f"gofish-test-ports-{os.getuid()}"
_held: dict[int, int] = {}  # reserved port -> file descriptor holding its lock
_held_mutex = threading.Lock()
_rng = random.Random()  # its own: hypothesis seeds the global one


def ephemeral_range() -> range:
    """The ports the kernel hands out by itself (bind to port 0, connect without bind)."""
    try:
        lo, hi = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999  # Linux's default
    return range(lo, hi + 1)


def _reserve(port: int) -> bool:
    """Take the lock of ``port`` if no one holds it and nothing is bound to the port."""
    fd = os.open(_LOCK_DIR / str(port), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # per open file: excludes threads too
        with socket.socket() as s:  # as the servers bind: TIME_WAIT leftovers do not count
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
    except OSError:  # locked (BlockingIOError) or in use
        os.close(fd)
        return False
    with _held_mutex:
        _held[port] = fd
    return True


def release_port(port: int) -> None:
    """Give back a port of `free_port` or `free_port_block` once nothing uses it any more."""
    with _held_mutex:
        fd = _held.pop(port, None)
    if fd is not None:
        os.close(fd)


def free_port_block(offsets: Sequence[int]) -> int:
    """A base port ``b`` such that every ``b + o`` for ``o`` (>= 0) in ``offsets`` is reserved
    for this process on 127.0.0.1 and lies outside the ephemeral range (see the module
    docstring). RuntimeError if no such block is free."""
    eph = ephemeral_range()
    bases = range(LOWEST_PORT, 65536 - max(offsets))
    _LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
    start = _rng.randrange(len(bases))
    for base in itertools.chain(bases[start:], bases[:start]):
        ports = [base + o for o in offsets]
        if any(p in eph for p in ports):
            continue
        taken: list[int] = []
        for p in ports:
            if not _reserve(p):
                break
            taken.append(p)
        else:
            return base
        for p in taken:
            release_port(p)
    raise RuntimeError(f"no free block of ports {list(offsets)} outside {eph}")


def free_port() -> int:
    """A port reserved for this process on 127.0.0.1, outside the ephemeral range."""
    return free_port_block((0,))


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
        _drain(proc, log)
        yield ServerProc("127.0.0.1", port, proc, tmp, log)
    finally:
        proc.kill()
        proc.wait()
        release_port(port)
        shutil.rmtree(tmp, ignore_errors=True)
