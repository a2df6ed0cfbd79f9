"""``gofish cluster ...``: argument parsing, the admin client (against a real redis-server and a
scripted fake node), the local-cluster supervisor (with stub children and with real nodes)."""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from procs import ROOT, free_port, free_port_block, redis_server, release_port

from gofish.net.resp import RequestParser, encode
from gofish.node.cluster_cli import (
    PEER_PORT_OFFSET,
    AdminClient,
    ServerError,
    add_cluster_parser,
    format_status,
    parse_info,
    parse_raft,
    run_cluster,
)
from gofish.reply import OK, ErrorReply

# --- helpers ---------------------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="gofish")
    add_cluster_parser(p.add_subparsers(dest="command", required=True))
    return p.parse_args(["cluster", *argv])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run_cluster(parse(*argv))
    out, err = capsys.readouterr()
    return code, out, err


CLI = (
    "import argparse, sys\n"
    "from gofish.node.cluster_cli import add_cluster_parser, run_cluster\n"
    "p = argparse.ArgumentParser(prog='gofish')\n"
    "add_cluster_parser(p.add_subparsers(dest='command', required=True))\n"
    "sys.exit(run_cluster(p.parse_args(sys.argv[1:])))\n"
)

SUPERVISE = (
    "import json, sys\n"
    "from gofish.node.cluster_cli import ChildSpec, supervise\n"
    "specs = [ChildSpec(name, argv) for name, argv in json.loads(sys.argv[1])]\n"
    "sys.exit(supervise(specs, lambda: 'ready: stubs\\nsecond line', grace=float(sys.argv[2])))\n"
)


class Proc:
    """A supervisor process whose output lines are collected by a thread."""

    def __init__(self, argv: list[str]) -> None:
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  cwd=ROOT, text=True)
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        """The first not yet consumed line matching *pattern* (earlier lines are kept)."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            try:
                line = self._q.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r}:\n" + self.text()) from None
            if line is None:
                raise AssertionError(f"exited before {pattern!r}:\n" + self.text())
            self.lines.append(line)
            m = rx.search(line)
            if m:
                return m

    def finish(self, timeout: float = 30) -> int:
        rc = self.p.wait(timeout=timeout)
        while (line := self._q.get(timeout=5)) is not None:
            self.lines.append(line)
        return rc

    def text(self) -> str:
        return "\n".join(self.lines)

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@contextmanager
def supervisor(children: list[tuple[str, str]], grace: float = 10.0) -> Iterator[Proc]:
    """`supervise` in its own process, running python stub children (name, code)."""
    specs = [(name, [sys.executable, "-c", code]) for name, code in children]
    proc = Proc([sys.executable, "-c", SUPERVISE, json.dumps(specs), str(grace)])
    try:
        yield proc
    finally:
        proc.kill()


READY = ("import signal, sys, time\n"
         "def bye(*_):\n"
         "    print('bye', end='', flush=True)  # no newline: flushed by the supervisor at EOF\n"
         "    sys.exit(0)\n"
         "signal.signal(signal.SIGTERM, bye)\n"
         "print('hello', flush=True)\n"
         "print('ready to accept connections on 127.0.0.1:1', flush=True)\n"
         "time.sleep(60)\n")
STUBBORN = READY.replace("SIGTERM, bye)", "SIGTERM, signal.SIG_IGN)")
DIES = "import sys\nprint('ready to accept connections on 127.0.0.1:2', flush=True)\nsys.exit(3)\n"


def started_pids(proc: Proc, n: int) -> list[int]:
    return [int(proc.wait_for(r"^\[cluster\] started .* \(pid (\d+)\)$").group(1))
            for _ in range(n)]


# --- argument parsing ------------------------------------------------------------------------


def test_parse_local_defaults_and_options() -> None:
    a = parse("local", "--dir", "d")
    assert (a.nodes, a.base_port, a.dir, a.appendfsync, a.loglevel) == (3, 7401, "d", None, None)
    a = parse("local", "--nodes", "9", "--base-port", "8000", "--dir", "x",
              "--appendfsync", "no", "--loglevel", "warning")
    assert (a.nodes, a.base_port, a.appendfsync, a.loglevel) == (9, 8000, "no", "warning")


@pytest.mark.parametrize("argv", [
    ["local", "--dir", "d", "--nodes", "0"],
    ["local", "--dir", "d", "--nodes", "10"],
    ["local", "--dir", "d", "--nodes", "three"],
    ["local", "--dir", "d", "--base-port", "70000"],
    ["local", "--dir", "d", "--appendfsync", "sometimes"],
    ["local"],
    ["add", "--node-id", "4"],
    ["add", "--node-id", "4", "--peer-addr", "nohost"],
    ["add", "--node-id", "0", "--peer-addr", "h:1"],
    ["add", "--node-id", "4", "--peer-addr", "h:99999"],
    ["add", "--node-id", "4", "--peer-addr", "h:1", "--timeout", "-1"],
    ["remove"],
    ["transfer"],
    ["status", "--port", "x"],
    [],
])
def test_parse_rejects(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        parse(*argv)
    assert e.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_parse_admin_commands() -> None:
    a = parse("add", "--host", "10.0.0.1", "--port", "7402", "--node-id", "4",
              "--peer-addr", "10.0.0.4:17404", "--timeout", "5", "--password", "pw")
    assert (a.host, a.port, a.node_id, a.peer_addr, a.timeout, a.password) == (
        "10.0.0.1", 7402, 4, ("10.0.0.4", 17404), 5.0, "pw")
    a = parse("add", "--node-id", "4", "--peer-addr", "::1:17404")
    assert (a.host, a.port, a.peer_addr, a.timeout, a.password) == (
        "127.0.0.1", 7401, ("::1", 17404), 60.0, None)
    assert parse("remove", "--node-id", "2").node_id == 2
    assert parse("transfer", "--to", "3").to == 3
    assert parse("status").port == 7401


# --- INFO parsing and the status table -------------------------------------------------------

RAFT_INFO = (
    b"# Raft\r\nrole:leader\r\nnode_id:1\r\nleader_id:1\r\nterm:7\r\ncommit_index:120\r\n"
    b"applied_index:119\r\nfirst_log_index:1\r\nlast_log_index:121\r\nmembers:1,2,3\r\n"
    b"learners:4\r\nappendfsync:always\r\n"
    b"peer_2:addr=127.0.0.1:17402,role=voter,match=121,lag=0,connected=1\r\n"
    b"peer_4:addr=127.0.0.1:17404,role=learner,match=100,lag=21,connected=1\r\n"
    b"peer_3:addr=127.0.0.1:17403,role=voter,match=90,lag=31,connected=0\r\n"
)


def test_parse_raft_info() -> None:
    r = parse_raft(parse_info(RAFT_INFO))
    assert r is not None
    assert (r.role, r.node_id, r.leader_id, r.term) == ("leader", 1, 1, 7)
    assert (r.commit_index, r.applied_index, r.first_log_index, r.last_log_index) == (
        120, 119, 1, 121)
    assert (r.voters, r.learners) == ((1, 2, 3), (4,))
    assert list(r.peers) == [2, 3, 4]
    p3 = r.peers[3]
    assert (p3.addr, p3.role, p3.match, p3.lag, p3.connected) == (
        "127.0.0.1:17403", "voter", 90, 31, False)
    assert r.peers[4].role == "learner" and r.peers[4].connected
    assert parse_raft(parse_info(b"# Raft\r\n")) is None
    empty = parse_raft({"role": "follower", "members": "", "learners": ""})
    assert empty is not None and empty.voters == () and empty.leader_id == 0


def test_format_status_table() -> None:
    r = parse_raft(parse_info(RAFT_INFO))
    assert r is not None
    lines = format_status(r, "127.0.0.1:7401").splitlines()
    assert lines[0] == "node 1 at 127.0.0.1:7401: leader, term 7, leader node 1"
    assert lines[1] == "commit 120  applied 119  log 1..121"
    assert lines[2] == "voters 1,2,3  learners 4"
    assert lines[4].split() == ["ID", "ADDRESS", "ROLE", "MATCH", "LAG", "CONNECTED"]
    assert lines[5].split() == ["1", "(this", "node)", "voter", "121", "-", "-"]
    assert lines[6].split() == ["2", "127.0.0.1:17402", "voter", "121", "0", "yes"]
    assert lines[7].split() == ["3", "127.0.0.1:17403", "voter", "90", "31", "no"]
    assert lines[8].split() == ["4", "127.0.0.1:17404", "learner", "100", "21", "yes"]
    follower = parse_raft({**parse_info(RAFT_INFO), "role": "follower", "node_id": "2",
                           "leader_id": "0"})
    assert follower is not None
    text = format_status(follower, "h:1")
    assert "leader none known" in text and "known on the leader only" in text
    assert text.splitlines()[7].split()[3:5] == ["?", "?"]


# --- the admin client against a real redis-server --------------------------------------------


def test_admin_client_against_redis() -> None:
    with redis_server() as srv, AdminClient(srv.host, srv.port) as c:
        assert c.call("PING") == b"PONG"
        assert c.call("SET", "k", b"v\r\n\x00") == b"OK"
        assert c.call("GET", "k") == b"v\r\n\x00"
        assert c.call("GET", "missing") is None
        assert c.call("RPUSH", "l", 1, 2) == 2
        assert c.call("LRANGE", "l", 0, -1) == [b"1", b"2"]
        with pytest.raises(ServerError, match="^ERR unknown command 'RAFT'"):
            c.call("RAFT", "ADD", 4, "h:1")
        big = os.urandom(300_000)
        assert c.call("SET", "big", big) == b"OK" and c.call("GET", "big") == big
        # INFO parsing agrees with redis-py's on the same server.
        ours = c.info("server")
        rp = redis.Redis(host=srv.host, port=srv.port, protocol=2)
        theirs = rp.info("server")
        rp.close()
        assert set(ours) == set(theirs)
        assert ours["redis_version"] == str(theirs["redis_version"])
        assert int(ours["tcp_port"]) == srv.port
        assert c.info("raft") == {}


def test_admin_commands_against_redis(capsys: pytest.CaptureFixture[str]) -> None:
    with redis_server() as srv:
        code, out, err = run(capsys, "status", "--port", str(srv.port))
        assert code == 1 and "reports no Raft state" in err
        code, out, err = run(capsys, "add", "--port", str(srv.port), "--node-id", "4",
                             "--peer-addr", "127.0.0.1:17404")
        assert code == 1 and f"127.0.0.1:{srv.port}: ERR unknown command 'RAFT'" in err
        code, out, err = run(capsys, "remove", "--port", str(srv.port), "--node-id", "4")
        assert code == 1 and "unknown command" in err
        code, out, err = run(capsys, "transfer", "--port", str(srv.port), "--to", "2")
        assert code == 1 and "unknown command" in err


def test_password_and_auth_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with redis_server("--requirepass", "sekret") as srv:
        port = str(srv.port)
        code, _, err = run(capsys, "status", "--port", port)
        assert code == 1 and "NOAUTH" in err
        code, _, err = run(capsys, "status", "--port", port, "--password", "wrong")
        assert code == 1 and "WRONGPASS" in err
        code, _, err = run(capsys, "status", "--port", port, "--password", "sekret")
        assert code == 1 and "reports no Raft state" in err
        with AdminClient(srv.host, srv.port, password="sekret") as c:
            assert c.call("PING") == b"PONG"


def test_connection_refused(capsys: pytest.CaptureFixture[str]) -> None:
    port = str(free_port())
    for argv in (["status"], ["remove", "--node-id", "2"], ["transfer", "--to", "2"],
                 ["add", "--node-id", "4", "--peer-addr", "127.0.0.1:1"]):
        code, out, err = run(capsys, *argv, "--port", port)
        assert code == 2, argv
        assert f"cannot connect to 127.0.0.1:{port}: connection refused" in err


# --- admin flows against a scripted fake node ------------------------------------------------


@contextmanager
def fake_node(handler: Callable[[list[bytes]], Any]) -> Iterator[int]:
    """A one-connection-at-a-time RESP server on loopback answering with *handler*."""
    lsock = socket.create_server(("127.0.0.1", 0))
    lsock.settimeout(0.05)  # so the thread sees *stop* soon
    port = lsock.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = lsock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(None)
                parser = RequestParser()
                while data := conn.recv(65536):
                    parser.feed(data)
                    for cmd in parser.next_batch():
                        conn.sendall(encode(handler(cmd)))

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield port
    finally:
        stop.set()
        t.join(10)
        lsock.close()
        assert not t.is_alive()


def raft_text(**fields: object) -> bytes:
    base: dict[str, object] = {
        "role": "leader", "node_id": 1, "leader_id": 1, "term": 2, "commit_index": 15,
        "applied_index": 15, "first_log_index": 1, "last_log_index": 15, "members": "1,2,3",
        "learners": ""}
    base.update(fields)
    return b"# Raft\r\n" + b"".join(f"{k}:{v}\r\n".encode() for k, v in base.items())


def test_add_waits_for_voter(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[list[bytes]] = []
    infos = [
        raft_text(learners="4", peer_4="addr=127.0.0.1:17404,role=learner,match=3,lag=12,"
                                        "connected=1"),
        raft_text(learners="4", peer_4="addr=127.0.0.1:17404,role=learner,match=15,lag=0,"
                                        "connected=1"),
        raft_text(members="1,2,3,4", peer_4="addr=127.0.0.1:17404,role=voter,match=15,lag=0,"
                                                "connected=1"),
    ]

    def handler(cmd: list[bytes]) -> Any:
        seen.append(cmd)
        if cmd[0] != b"INFO":
            return OK
        return infos.pop(0) if len(infos) > 1 else infos[0]

    with fake_node(handler) as port:
        code, out, err = run(capsys, "add", "--port", str(port), "--node-id", "4",
                             "--peer-addr", "127.0.0.1:17404", "--password", "pw")
    assert (code, err) == (0, "")
    assert seen[:3] == [[b"AUTH", b"pw"], [b"RAFT", b"ADD", b"4", b"127.0.0.1:17404"],
                        [b"INFO", b"raft"]]
    assert out.splitlines() == [
        "node 4 added as a learner; waiting for it to become a voter",
        "node 4: learner, match 3/15 (lag 12)",
        "node 4: learner, match 15/15 (lag 0)",
        "node 4 is a voter (members 1,2,3,4)",
    ]


def test_add_timeout_and_error(capsys: pytest.CaptureFixture[str]) -> None:
    info = raft_text(role="follower", node_id=2, learners="4")
    with fake_node(lambda cmd: OK if cmd[0] == b"RAFT" else info) as port:
        t0 = time.monotonic()
        code, out, err = run(capsys, "add", "--port", str(port), "--node-id", "4",
                             "--peer-addr", "h:17404", "--timeout", "1")
        assert time.monotonic() - t0 < 5
    assert code == 1 and "node 4 is not a voter after 1 s" in err
    assert "catching up (progress is known on the leader: node 1)" in out
    refusal = ErrorReply(b"ERR node 4 is already a member")
    with fake_node(lambda cmd: refusal) as port:
        code, out, err = run(capsys, "add", "--port", str(port), "--node-id", "4",
                             "--peer-addr", "h:17404")
    assert code == 1 and err.strip().endswith("ERR node 4 is already a member")


def test_transfer_waits_for_new_leader_and_remove(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[list[bytes]] = []
    infos = [raft_text(), raft_text(role="follower", leader_id=0),
             raft_text(role="follower", leader_id=3, term=3)]

    def handler(cmd: list[bytes]) -> Any:
        seen.append(cmd)
        if cmd[0] == b"RAFT":
            return OK
        return infos.pop(0) if len(infos) > 1 else infos[0]

    with fake_node(handler) as port:
        code, out, err = run(capsys, "transfer", "--port", str(port), "--to", "3")
        assert (code, out, err) == (0, "node 3 is the leader (term 3)\n", "")
        assert seen[0] == [b"RAFT", b"TRANSFER", b"3"] and len(seen) == 4
        code, out, err = run(capsys, "remove", "--port", str(port), "--node-id", "2")
        assert (code, out, err) == (0, "node 2 removed\n", "")
        assert seen[-1] == [b"RAFT", b"REMOVE", b"2"]
        code, out, err = run(capsys, "status", "--port", str(port))
        assert code == 0 and out.startswith(f"node 1 at 127.0.0.1:{port}: follower, term 3")


# --- the supervisor with stub children -------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_supervisor_relays_and_stops(sig: signal.Signals) -> None:
    with supervisor([("a", READY), ("b", READY)]) as proc:
        pids = started_pids(proc, 2)
        proc.wait_for(r"^\[cluster\] ready: stubs$")
        proc.wait_for(r"^\[cluster\] second line$")
        assert "[a] hello" in proc.lines and "[b] hello" in proc.lines
        assert not any(gone(pid) for pid in pids)
        proc.p.send_signal(sig)
        assert proc.finish() == 0
    assert all(gone(pid) for pid in pids)
    text = proc.text()
    assert f"[cluster] {sig.name}: stopping 2 node(s)" in text
    assert "[a] bye" in text and "[b] bye" in text
    assert text.endswith("[cluster] all nodes stopped")
    assert text.count("[cluster] ready: stubs") == 1


def test_supervisor_reports_a_dead_child_and_keeps_others() -> None:
    with supervisor([("a", READY), ("b", DIES)]) as proc:
        pid_a, pid_b = started_pids(proc, 2)
        proc.wait_for(r"^\[cluster\] b exited unexpectedly \(exit code 3\); the others keep")
        assert not gone(pid_a)
        proc.p.send_signal(signal.SIGTERM)
        assert proc.finish() == 0
    assert gone(pid_a) and gone(pid_b)


def test_supervisor_exits_1_when_every_child_died() -> None:
    with supervisor([("a", DIES), ("b", DIES)]) as proc:
        assert proc.finish() == 1
    assert proc.text().endswith("[cluster] every node has exited")


def test_supervisor_kills_a_child_ignoring_sigterm() -> None:
    with supervisor([("a", STUBBORN), ("b", READY)], grace=1.0) as proc:
        pids = started_pids(proc, 2)
        proc.wait_for(r"ready: stubs")
        t0 = time.monotonic()
        proc.p.send_signal(signal.SIGTERM)
        assert proc.finish() == 0
        assert 0.9 < time.monotonic() - t0 < 10
    assert "[cluster] killing the nodes still running" in proc.text()
    assert all(gone(pid) for pid in pids)


# --- cluster local with real nodes -----------------------------------------------------------


@contextmanager
def local_cluster(n: int) -> Iterator[tuple[Proc, int, Path, list[int]]]:
    offsets = [*range(n), *range(PEER_PORT_OFFSET, PEER_PORT_OFFSET + n)]
    with tempfile.TemporaryDirectory(prefix="gofish-local-") as d:
        base = free_port_block(offsets)
        proc = Proc([sys.executable, "-c", CLI, "cluster", "local", "--nodes", str(n),
                     "--base-port", str(base), "--dir", d, "--appendfsync", "no"])
        try:
            pids = started_pids(proc, n)
            proc.wait_for(rf"^\[cluster\] ready: {n} nodes?$", timeout=60)
            yield proc, base, Path(d), pids
        finally:
            proc.kill()
            for o in offsets:
                release_port(base + o)


def test_local_refuses_busy_ports(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy, tempfile.TemporaryDirectory() as d:
        port = busy.getsockname()[1]
        if port + 10000 > 65535:
            port -= 10000  # then the peer port of node 1 is the busy one
            where = f"{port + 10000} (node 1 peer port)"
        else:
            where = f"{port} (node 1 client port)"
        code, out, err = run(capsys, "local", "--nodes", "1", "--base-port", str(port),
                             "--dir", d)
        assert code == 2 and f"already in use on 127.0.0.1: {where}" in err
        assert out == "" and not os.listdir(d)


def test_local_one_node_starts_and_stops_on_sigterm() -> None:
    with local_cluster(1) as (proc, base, d, pids):
        secret = d / "cluster.secret"
        assert secret.stat().st_mode & 0o777 == 0o600
        assert re.fullmatch(r"[0-9a-f]{64}", secret.read_text().strip())
        assert any(line.startswith("[node 1] ") and "ready to accept connections" in line
                   for line in proc.lines)
        with AdminClient("127.0.0.1", base) as c:
            assert c.call("PING") == b"PONG"
        proc.p.send_signal(signal.SIGTERM)
        assert proc.finish() == 0
        assert gone(pids[0])
        assert proc.text().endswith("[cluster] all nodes stopped")
        assert "exited unexpectedly" not in proc.text()


def wait_leader(port: int, want: int | None = None, timeout: float = 30) -> int:
    """The leader id the node on *port* knows, once it knows one (*want*, if given)."""
    deadline = time.monotonic() + timeout
    with AdminClient("127.0.0.1", port) as c:
        while True:
            r = parse_raft(c.info("raft"))
            assert r is not None
            if r.leader_id and want in (None, r.leader_id):
                return r.leader_id
            assert time.monotonic() < deadline, f"no leader ({want=}) known on {port}: {r}"
            time.sleep(0.2)


def test_local_three_nodes_status_and_transfer(capsys: pytest.CaptureFixture[str]) -> None:
    with local_cluster(3) as (proc, base, d, pids):
        leader = wait_leader(base)
        code, out, err = run(capsys, "status", "--port", str(base))
        assert (code, err) == (0, "")
        assert out.splitlines()[2] == "voters 1,2,3  learners -"
        assert f"leader node {leader}" in out.splitlines()[0]
        code, out, err = run(capsys, "status", "--port", str(base + leader - 1))
        assert code == 0 and ": leader, term " in out.splitlines()[0]
        target = 1 + leader % 3
        code, out, err = run(capsys, "transfer", "--port", str(base + 2), "--to", str(target))
        assert (code, err) == (0, "") and out.startswith(f"node {target} is the leader")
        for i in range(3):
            wait_leader(base + i, want=target)
        with AdminClient("127.0.0.1", base + target - 1) as c:
            r = parse_raft(c.info("raft"))
            assert r is not None and r.role == "leader" and r.node_id == target
        proc.p.send_signal(signal.SIGTERM)
        assert proc.finish() == 0
        assert all(gone(pid) for pid in pids)
        assert "exited unexpectedly" not in proc.text()
