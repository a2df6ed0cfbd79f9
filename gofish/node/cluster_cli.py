"""``gofish cluster ...``: run a development cluster, and administer a running one.

Subcommands
-----------
- ``local``: runs nodes 1..N of a development cluster as child processes in the foreground
  (client port ``base+i-1``, peer port ``base+10000+i-1``, data ``DIR/node<i>``, shared secret
  ``DIR/cluster.secret``, created with mode 0600 if missing). Every child output line is
  printed prefixed with ``[node i] ``; the supervisor's own lines start with ``[cluster] ``.
  Once every node has printed ``ready to accept connections`` a summary is printed whose first
  line is ``[cluster] ready: N node(s)``. SIGINT/SIGTERM stop the children (SIGTERM, SIGKILL
  after a grace of 10 s, or at once on a second signal) and the command exits 0. A child that
  exits on its own is reported and the others keep running; when none is left, exit 1.
  The children run in their own process group, so a terminal's Ctrl-C reaches only the
  supervisor, which stops them in order.
- ``status``, ``add``, ``remove``, ``transfer``: talk RESP to one node's client port with
  `AdminClient` (synchronous, one request at a time) and read ``INFO raft`` (`parse_raft`).

Exit codes of the admin subcommands: 0 success; 1 an error reply from the server (printed),
a timeout, or a node that reports no Raft state; 2 the node cannot be reached (connection
refused, lost, DNS failure) or bad arguments (argparse's own code).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import hiredis

from gofish.net.resp import encode

__all__ = [
    "AdminClient",
    "ChildSpec",
    "PeerInfo",
    "RaftInfo",
    "ServerError",
    "add_cluster_parser",
    "format_status",
    "parse_info",
    "parse_raft",
    "run_cluster",
    "supervise",
]

PEER_PORT_OFFSET = 10000
MAX_LOCAL_NODES = 9
READY_MARK = b"ready to accept connections"
POLL_INTERVAL = 0.5


# --- admin client ----------------------------------------------------------------------------


class ServerError(Exception):
    """The server answered with a RESP error reply; ``str()`` is its text (``ERR ...``)."""


class AdminClient:
    """A minimal synchronous RESP2 client: one TCP connection, one request at a time.

    Connecting raises `OSError` (``ConnectionRefusedError`` when nothing listens). `call`
    returns the decoded reply (bytes for bulk and status replies, int, list, None), raises
    `ServerError` for an error reply, `TimeoutError` when no reply comes within the timeout,
    and `ConnectionError` when the server closes the connection.
    """

    def __init__(
        self, host: str, port: int, *, password: str | None = None, timeout: float = 10.0
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._reader: Any = hiredis.Reader()
        if password is not None:
            try:
                self.call("AUTH", password)
            except BaseException:
                self.close()
                raise

    def call(self, *args: str | bytes | int, timeout: float | None = None) -> Any:
        """Send one command and return its reply (see the class docstring for errors)."""
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self._sock.settimeout(self.timeout if timeout is None else timeout)
        self._sock.sendall(encode(parts))
        while True:
            reply = self._reader.gets()
            if reply is not False:
                break
            data = self._sock.recv(65536)
            if not data:
                raise ConnectionError(f"{self.host}:{self.port} closed the connection")
            self._reader.feed(data)
        if isinstance(reply, hiredis.ReplyError):
            raise ServerError(str(reply))
        return reply

    def info(self, section: str) -> dict[str, str]:
        """``INFO <section>`` as a flat ``{field: value}`` dict (`parse_info`)."""
        return parse_info(self.call("INFO", section))

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_info(text: bytes | str) -> dict[str, str]:
    """Parse INFO text: ``field:value`` lines (split at the first colon) into a dict.

    Section headers (``# Name``) and blank lines are skipped; values stay strings.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition(":")
        if sep:
            out[name] = value
    return out


@dataclass(frozen=True)
class PeerInfo:
    """One ``peer_<id>`` line of INFO raft (match and lag are known on the leader only)."""

    id: int
    addr: str
    role: str
    match: int
    lag: int
    connected: bool


@dataclass(frozen=True)
class RaftInfo:
    """The ``INFO raft`` section of one node, typed (see the cluster contract)."""

    role: str
    node_id: int
    leader_id: int
    term: int
    commit_index: int
    applied_index: int
    first_log_index: int
    last_log_index: int
    voters: tuple[int, ...]
    learners: tuple[int, ...]
    peers: dict[int, PeerInfo] = field(default_factory=dict)


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _ids(value: str | None) -> tuple[int, ...]:
    return tuple(int(x) for x in (value or "").split(",") if x.strip().isdigit())


def parse_raft(info: dict[str, str]) -> RaftInfo | None:
    """The `RaftInfo` in a parsed ``INFO raft`` dict, or None if it has no ``role`` field."""
    if "role" not in info:
        return None
    peers: dict[int, PeerInfo] = {}
    for name, value in info.items():
        if not name.startswith("peer_") or not name[5:].isdigit():
            continue
        kv = dict(item.partition("=")[::2] for item in value.split(","))
        pid = int(name[5:])
        peers[pid] = PeerInfo(
            id=pid,
            addr=kv.get("addr", ""),
            role=kv.get("role", ""),
            match=_int(kv.get("match")),
            lag=_int(kv.get("lag")),
            connected=kv.get("connected") == "1",
        )
    return RaftInfo(
        role=info["role"],
        node_id=_int(info.get("node_id")),
        leader_id=_int(info.get("leader_id")),
        term=_int(info.get("term")),
        commit_index=_int(info.get("commit_index")),
        applied_index=_int(info.get("applied_index")),
        first_log_index=_int(info.get("first_log_index")),
        last_log_index=_int(info.get("last_log_index")),
        voters=_ids(info.get("members")),
        learners=_ids(info.get("learners")),
        peers=dict(sorted(peers.items())),
    )


def format_status(r: RaftInfo, where: str) -> str:
    """A readable table of one node's Raft state (*where* names the address asked)."""
    leader = f"node {r.leader_id}" if r.leader_id else "none known"
    lines = [
        f"node {r.node_id} at {where}: {r.role}, term {r.term}, leader {leader}",
        f"commit {r.commit_index}  applied {r.applied_index}  "
        f"log {r.first_log_index}..{r.last_log_index}",
        f"voters {_join(r.voters)}  learners {_join(r.learners)}",
        "",
    ]
    rows = [("ID", "ADDRESS", "ROLE", "MATCH", "LAG", "CONNECTED")]
    me = "learner" if r.node_id in r.learners else "voter"
    rows.append((str(r.node_id), "(this node)", me, str(r.last_log_index), "-", "-"))
    on_leader = r.role == "leader"
    for p in r.peers.values():
        match, lag = (str(p.match), str(p.lag)) if on_leader else ("?", "?")
        rows.append((str(p.id), p.addr, p.role, match, lag, "yes" if p.connected else "no"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    if not on_leader and r.peers:
        lines.append("(match and lag are known on the leader only)")
    return "\n".join(lines)


def _join(ids: Sequence[int]) -> str:
    return ",".join(map(str, ids)) or "-"


# --- admin subcommands -----------------------------------------------------------------------


class _Fail(Exception):
    """Stop a subcommand with a message and an exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@contextlib.contextmanager
def _admin(args: argparse.Namespace) -> Iterator[AdminClient]:
    """An `AdminClient` for the subcommand's --host/--port/--password, errors mapped to
    `_Fail` (1 for error replies and timeouts, 2 for connection problems)."""
    where = f"{args.host}:{args.port}"
    try:
        client = AdminClient(args.host, args.port, password=args.password, timeout=10.0)
    except ConnectionRefusedError:
        raise _Fail(f"cannot connect to {where}: connection refused (is the node running?)",
                    2) from None
    except ServerError as e:
        raise _Fail(f"{where}: {e}", 1) from None
    except OSError as e:
        raise _Fail(f"cannot connect to {where}: {e}", 2) from None
    try:
        yield client
    except ServerError as e:
        raise _Fail(f"{where}: {e}", 1) from None
    except TimeoutError:
        raise _Fail(f"{where}: no reply in time", 1) from None
    except OSError as e:
        raise _Fail(f"connection to {where} lost: {e}", 2) from None
    finally:
        client.close()


def _raft_info(client: AdminClient) -> RaftInfo:
    r = parse_raft(client.info("raft"))
    if r is None:
        raise _Fail(f"{client.host}:{client.port} reports no Raft state (not a gofish node?)", 1)
    return r


class _Progress:
    """One status line: rewritten in place on a terminal, printed when it changes otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.last = ""

    def show(self, text: str) -> None:
        if text == self.last:
            return
        self.last = text
        if self.tty:
            self.out.write(f"\r{text}\x1b[K")
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def done(self) -> None:
        if self.tty and self.last:
            self.out.write("\n")
            self.out.flush()


def _status(args: argparse.Namespace) -> int:
    with _admin(args) as c:
        print(format_status(_raft_info(c), f"{args.host}:{args.port}"))
    return 0


def _add_progress(r: RaftInfo, node: int) -> str:
    if node in r.voters:
        return f"node {node} is a voter (members {_join(r.voters)})"
    if node not in r.learners:
        return f"node {node} is not a member yet"
    p = r.peers.get(node)
    if r.role == "leader" and p is not None:
        return f"node {node}: learner, match {p.match}/{r.last_log_index} (lag {p.lag})"
    lead = f"node {r.leader_id}" if r.leader_id else "no leader known"
    return f"node {node}: learner, catching up (progress is known on the leader: {lead})"


def _add(args: argparse.Namespace) -> int:
    host, port = args.peer_addr
    deadline = time.monotonic() + args.timeout
    progress = _Progress(sys.stdout)
    with _admin(args) as c:
        c.call("RAFT", "ADD", args.node_id, f"{host}:{port}", timeout=max(10.0, args.timeout))
        print(f"node {args.node_id} added as a learner; waiting for it to become a voter")
        try:
            while True:
                r = _raft_info(c)
                progress.show(_add_progress(r, args.node_id))
                if args.node_id in r.voters:
                    return 0
                if time.monotonic() >= deadline:
                    raise _Fail(f"node {args.node_id} is not a voter after {args.timeout:g} s",
                                1)
                time.sleep(POLL_INTERVAL)
        finally:
            progress.done()


def _remove(args: argparse.Namespace) -> int:
    with _admin(args) as c:
        c.call("RAFT", "REMOVE", args.node_id, timeout=max(10.0, args.timeout))
    print(f"node {args.node_id} removed")
    return 0


def _transfer(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout
    with _admin(args) as c:
        c.call("RAFT", "TRANSFER", args.to, timeout=max(10.0, args.timeout))
        while True:
            r = _raft_info(c)
            if r.leader_id == args.to:
                print(f"node {args.to} is the leader (term {r.term})")
                return 0
            if time.monotonic() >= deadline:
                raise _Fail(f"node {args.to} is not the leader after {args.timeout:g} s "
                            f"(leader: {r.leader_id or 'none known'})", 1)
            time.sleep(POLL_INTERVAL)


# --- local development cluster ---------------------------------------------------------------


@dataclass(frozen=True)
class ChildSpec:
    """A child process `supervise` runs: its output lines are prefixed with ``[name] ``."""

    name: str
    argv: list[str]


def supervise(
    children: Sequence[ChildSpec],
    summary: Callable[[], str],
    *,
    grace: float = 10.0,
    out: TextIO | None = None,
) -> int:
    """Run *children* until SIGINT/SIGTERM, relaying their output; return the exit code.

    Must run in the main thread (it installs signal handlers, restored on return). Prints
    ``[cluster] started NAME (pid P)`` per child and, once every child has printed a line
    containing ``ready to accept connections``, the lines of ``summary()`` prefixed with
    ``[cluster] ``. A child that exits on its own is reported; the others keep running.
    On a signal: SIGTERM to every child, SIGKILL after *grace* seconds (or on a second
    signal), wait for all, return 0. Returns 1 if every child exited on its own. Whatever
    happens (an exception included), no child is left running when this returns.
    """
    stream = out if out is not None else sys.stdout

    def say(text: str) -> None:
        stream.write(text + "\n")
        stream.flush()

    signals: list[int] = []
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signals.append(signum)

    old_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    old_wakeup = signal.set_wakeup_fd(wake_w.fileno())
    sel = selectors.DefaultSelector()
    sel.register(wake_r, selectors.EVENT_READ, None)
    procs: list[subprocess.Popen[bytes]] = []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        for i, spec in enumerate(children):
            p = subprocess.Popen(spec.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, env=env, process_group=0)
            procs.append(p)
            assert p.stdout is not None
            sel.register(p.stdout, selectors.EVENT_READ, i)
            say(f"[cluster] started {spec.name} (pid {p.pid})")
        return _relay(children, procs, sel, wake_r, signals, summary, grace, say)
    finally:
        _stop(procs, grace)
        signal.set_wakeup_fd(old_wakeup)
        for s, h in old_handlers.items():
            signal.signal(s, h)
        sel.close()
        for p in procs:
            if p.stdout is not None:
                p.stdout.close()
        wake_r.close()
        wake_w.close()


def _relay(
    children: Sequence[ChildSpec],
    procs: list[subprocess.Popen[bytes]],
    sel: selectors.BaseSelector,
    wake: socket.socket,
    signals: list[int],
    summary: Callable[[], str],
    grace: float,
    say: Callable[[str], None],
) -> int:
    """The body of `supervise`: the select loop over child pipes and the signal wake-up."""
    pending = [bytearray() for _ in procs]
    ready: set[int] = set()
    reported: set[int] = set()
    eof: set[int] = set()
    exited_at: dict[int, float] = {}
    summarized = False
    stop_at: float | None = None  # the SIGKILL deadline once stopping
    killed = False

    def emit(i: int, raw: bytes) -> None:
        nonlocal summarized
        if READY_MARK in raw:
            ready.add(i)
        say(f"[{children[i].name}] {raw.decode('utf-8', 'replace').rstrip()}")
        if not summarized and len(ready) == len(procs):
            summarized = True
            for line in summary().splitlines():
                say(f"[cluster] {line}".rstrip())

    while True:
        for key, _ in sel.select(timeout=0.2):
            if key.data is None:
                with contextlib.suppress(BlockingIOError):
                    wake.recv(512)
                continue
            i = key.data
            data = os.read(key.fd, 65536)
            buf = pending[i]
            if not data:
                sel.unregister(key.fileobj)
                eof.add(i)
                if buf:
                    emit(i, bytes(buf))
                    buf.clear()
                continue
            buf += data
            *lines, rest = buf.split(b"\n")
            for line in lines:
                emit(i, line)
            if len(rest) > 65536:
                emit(i, rest)
                rest = b""
            pending[i] = bytearray(rest)
        if signals and stop_at is None:
            name = signal.Signals(signals[0]).name
            running = sum(p.poll() is None for p in procs)
            say(f"[cluster] {name}: stopping {running} node(s)")
            _signal_all(procs, signal.SIGTERM)
            stop_at = time.monotonic() + grace
        now = time.monotonic()
        if stop_at is not None and not killed and (len(signals) > 1 or now >= stop_at):
            say("[cluster] killing the nodes still running")
            _signal_all(procs, signal.SIGKILL)
            killed = True
        # A child is done once it has exited and its output has reached EOF (or a second
        # has passed since it exited: a grandchild may hold the pipe open).
        alive = 0
        for i, p in enumerate(procs):
            rc = p.poll()
            if rc is not None:
                exited_at.setdefault(i, now)
            if rc is None or (i not in eof and now - exited_at[i] < 1.0):
                alive += 1
            elif stop_at is None and i not in reported:
                reported.add(i)
                how = "exited" if rc == 0 else "exited unexpectedly"  # 0: e.g. RAFT REMOVE
                say(f"[cluster] {children[i].name} {how} ({_exit_text(rc)}); "
                    "the others keep running")
        if alive == 0:
            if stop_at is not None:
                say("[cluster] all nodes stopped")
                return 0
            say("[cluster] every node has exited")
            return 1


def _exit_text(rc: int) -> str:
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit code {rc}"


def _signal_all(procs: Sequence[subprocess.Popen[bytes]], sig: int) -> None:
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(sig)


def _stop(procs: Sequence[subprocess.Popen[bytes]], grace: float) -> None:
    """SIGTERM every running child, SIGKILL those still running after *grace*, reap all."""
    _signal_all(procs, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
    _signal_all(procs, signal.SIGKILL)
    for p in procs:
        p.wait()


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _ensure_secret(path: Path) -> None:
    """Create *path* holding 32 random bytes as hex (mode 0600) unless it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")


def _local(args: argparse.Namespace) -> int:
    n: int = args.nodes
    base: int = args.base_port
    if base + PEER_PORT_OFFSET + n - 1 > 65535:
        print(f"gofish cluster: --base-port {base} leaves no room for {n} peer ports "
              f"(need base + {PEER_PORT_OFFSET} + {n - 1} <= 65535)", file=sys.stderr)
        return 2
    client_ports = [base + i for i in range(n)]
    peer_ports = [base + PEER_PORT_OFFSET + i for i in range(n)]
    busy = [f"{port} (node {i + 1} {kind} port)"
            for kind, ports in (("client", client_ports), ("peer", peer_ports))
            for i, port in enumerate(ports) if _port_in_use(port)]
    if busy:
        print("gofish cluster: port(s) already in use on 127.0.0.1: " + ", ".join(busy)
              + "; stop what uses them or choose another --base-port", file=sys.stderr)
        return 2
    root = Path(args.dir).resolve()
    try:
        root.mkdir(parents=True, exist_ok=True)
        secret = root / "cluster.secret"
        _ensure_secret(secret)
    except OSError as e:
        print(f"gofish cluster: {e}", file=sys.stderr)
        return 2
    members = ",".join(f"{i + 1}=127.0.0.1:{p}" for i, p in enumerate(peer_ports))
    children = []
    for i in range(n):
        argv = [sys.executable, "-m", "gofish", "server", "--node-id", str(i + 1),
                "--port", str(client_ports[i]), "--peer-port", str(peer_ports[i]),
                "--cluster", members, "--dir", str(root / f"node{i + 1}"),
                "--cluster-secret-file", str(secret), "--bind", "127.0.0.1"]
        if args.appendfsync:
            argv += ["--appendfsync", args.appendfsync]
        if args.loglevel:
            argv += ["--loglevel", args.loglevel]
        children.append(ChildSpec(f"node {i + 1}", argv))

    def summary() -> str:
        lines = [f"ready: {n} node{'s' if n > 1 else ''}"]
        lines += [f"  node {i + 1}: client 127.0.0.1:{client_ports[i]}, "
                  f"peer 127.0.0.1:{peer_ports[i]}, data {root / f'node{i + 1}'}"
                  for i in range(n)]
        lines += [f"connect: redis-cli -p {base}   (any node accepts any command)",
                  f"status:  gofish cluster status --port {base}",
                  "Ctrl-C stops all nodes"]
        return "\n".join(lines)

    return supervise(children, summary)


# --- argument parsing ------------------------------------------------------------------------


def _int_arg(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be an integer, got {text!r}") from None


def _node_count(text: str) -> int:
    n = _int_arg(text, "the node count")
    if not 1 <= n <= MAX_LOCAL_NODES:
        raise argparse.ArgumentTypeError(f"the node count must be 1..{MAX_LOCAL_NODES}")
    return n


def _port(text: str) -> int:
    n = _int_arg(text, "a port")
    if not 1 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"a port must be 1..65535, got {n}")
    return n


def _node_id(text: str) -> int:
    n = _int_arg(text, "a node id")
    if n < 1:
        raise argparse.ArgumentTypeError(f"a node id must be positive, got {n}")
    return n


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return v


def add_cluster_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``cluster`` command and its subcommands to the ``gofish`` parser."""
    p = sub.add_parser("cluster", help="run a development cluster or administer a cluster")
    csub = p.add_subparsers(dest="cluster_command", required=True)

    loc = csub.add_parser("local", help="run a development cluster in the foreground")
    loc.add_argument("--nodes", type=_node_count, default=3,
                     help=f"number of nodes, 1..{MAX_LOCAL_NODES} (default 3)")
    loc.add_argument("--base-port", type=_port, default=7401,
                     help="client port of node 1 (default 7401); node i uses base+i-1, "
                          f"peer port base+{PEER_PORT_OFFSET}+i-1")
    loc.add_argument("--dir", required=True,
                     help="data directory (node i keeps DIR/node<i>; secret DIR/cluster.secret)")
    loc.add_argument("--appendfsync", choices=("always", "everysec", "no"))
    loc.add_argument("--loglevel", choices=("debug", "verbose", "notice", "warning"))
    loc.set_defaults(cluster_func=_local)

    def admin(name: str, help: str, func: Callable[[argparse.Namespace], int],
              timeout: float) -> argparse.ArgumentParser:
        a = csub.add_parser(name, help=help)
        a.add_argument("--host", default="127.0.0.1", help="node address (default 127.0.0.1)")
        a.add_argument("--port", type=_port, default=7401,
                       help="node client port (default 7401)")
        a.add_argument("--password", help="password to AUTH with")
        a.add_argument("--timeout", type=_positive, default=timeout,
                       help=f"seconds to wait for the change (default {timeout:g})")
        a.set_defaults(cluster_func=func)
        return a

    admin("status", "show a node's Raft state", _status, 10.0)
    a = admin("add", "add a node (learner, then voter once caught up)", _add, 60.0)
    a.add_argument("--node-id", type=_node_id, required=True)
    a.add_argument("--peer-addr", type=_host_port, required=True,
                   help="HOST:PORT of the new node's peer port")
    r = admin("remove", "remove a node from the cluster", _remove, 30.0)
    r.add_argument("--node-id", type=_node_id, required=True)
    t = admin("transfer", "transfer leadership to a node", _transfer, 30.0)
    t.add_argument("--to", type=_node_id, required=True, help="id of the new leader")


def run_cluster(args: argparse.Namespace) -> int:
    """Run the parsed ``gofish cluster`` subcommand; return the process exit code."""
    func: Callable[[argparse.Namespace], int] = args.cluster_func
    try:
        return func(args)
    except _Fail as e:
        print(f"gofish cluster: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        return 130
