"""The client protocol server, on uvloop, talked to with raw sockets and redis-py.

The server runs in its own thread with its own uvloop event loop, so the tests can use
blocking clients; `Served.call` runs a function on that loop and returns its result.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import hiredis
import pytest
import redis
import uvloop

from gofish.net import ClientServer, Connection, start_server
from gofish.net.server import NO_REPLY
from gofish.reply import OK, PONG, ErrorReply, Map

T = TypeVar("T")
TIMEOUT = 10


class Handler:
    """A tiny command set: PING, ECHO, SET, GET, QUIT, HELLO, DEFER <tag> (its reply waits
    until the test resolves <tag>), FUT <tag> (last in its batch: returns a bare future, the
    reply, which the test resolves), BIG <n>, KILL <id>, PAUSE, BOOM (raises)."""

    def __init__(self) -> None:
        self.connected_ids: list[int] = []
        self.disconnected_ids: list[int] = []
        self.calls: list[tuple[int, list[bytes]]] = []  # (conn id, command names) per execute
        self.deferred: dict[bytes, asyncio.Future[None]] = {}
        self.deferred_ready = threading.Event()
        self.in_flight: set[int] = set()
        self.violations: list[str] = []
        self.buffer_at_execute: list[int] = []
        self.db: dict[bytes, bytes] = {}

    def connected(self, conn: Connection) -> None:
        self.connected_ids.append(conn.id)

    def disconnected(self, conn: Connection) -> None:
        self.disconnected_ids.append(conn.id)

    def execute(
        self, conn: Connection, commands: list[list[bytes]]
    ) -> Coroutine[Any, Any, None] | asyncio.Future[Any] | None:
        if conn.id in self.in_flight:
            self.violations.append(f"execute re-entered for {conn.id}")
        self.calls.append((conn.id, [c[0].upper() for c in commands]))
        self.buffer_at_execute.append(conn._transport.get_write_buffer_size())
        for i, argv in enumerate(commands):
            if conn.closing:
                return None
            if argv[0].upper() == b"DEFER":
                self.in_flight.add(conn.id)
                return self._deferred(conn, commands[i:])
            if argv[0].upper() == b"FUT" and i + 1 == len(commands):
                fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                self.deferred[argv[1]] = fut
                self.deferred_ready.set()
                return fut
            self._one(conn, argv)
        return None

    async def _deferred(self, conn: Connection, commands: list[list[bytes]]) -> None:
        try:
            for argv in commands:
                if conn.closing:
                    return
                if argv[0].upper() == b"DEFER":
                    fut = asyncio.get_running_loop().create_future()
                    self.deferred[argv[1]] = fut
                    self.deferred_ready.set()
                    await fut
                    conn.reply(argv[1])
                else:
                    self._one(conn, argv)
        finally:
            self.in_flight.discard(conn.id)

    def _one(self, conn: Connection, argv: list[bytes]) -> None:
        name = argv[0].upper()
        if name == b"PING":
            conn.reply(argv[1] if len(argv) > 1 else PONG)
        elif name == b"ECHO":
            conn.reply(argv[1])
        elif name == b"SET":
            self.db[argv[1]] = argv[2]
            conn.reply(OK)
        elif name == b"GET":
            conn.reply(self.db.get(argv[1]))
        elif name == b"QUIT":
            conn.reply(OK)
            conn.close_after_reply()
        elif name == b"HELLO":
            conn.proto = int(argv[1])
            conn.reply(Map([(b"server", b"test"), (b"proto", conn.proto)]))
        elif name == b"BIG":
            conn.reply(argv[1] + b":" + b"x" * int(argv[2]))
        elif name == b"KILL":
            conn.server.connections[int(argv[1])].close()
            conn.reply(OK)
        elif name == b"PAUSE":
            conn.pause()
            conn.reply(OK)
        elif name == b"STATS":
            conn.reply([conn.id, conn.addr.encode(), conn.laddr.encode(), conn.fd,
                        conn.tot_cmds, conn.cmd.encode(), conn.qbuf, conn.obl])
        elif name == b"BOOM":
            raise RuntimeError("boom")
        else:
            conn.reply(ErrorReply(b"ERR unknown command '" + argv[0] + b"'"))


class Served:
    """A server on its own uvloop thread."""

    def __init__(self, **kw: Any) -> None:
        self.handler = Handler()
        self.closed = False
        self.loop = uvloop.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: ClientServer = self.run(start_server(self.handler, "127.0.0.1", 0, **kw))
        self.port = self.server.port

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(TIMEOUT)

    def call(self, fn: Callable[[], T]) -> T:
        done: Future[T] = Future()

        def go() -> None:
            try:
                done.set_result(fn())
            except BaseException as e:  # handed to the test thread
                done.set_exception(e)

        self.loop.call_soon_threadsafe(go)
        return done.result(TIMEOUT)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True

        async def shut() -> None:
            self.server.close()
            await self.server.wait_closed()

        self.run(shut())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)
        self.loop.close()

    def connect(self) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def conn_ids(self) -> list[int]:
        return self.call(lambda: sorted(self.server.connections))


@pytest.fixture
def served() -> Iterator[Served]:
    srv = Served()
    yield srv
    srv.close()
    assert srv.handler.violations == []
    assert sorted(srv.handler.connected_ids) == sorted(srv.handler.disconnected_ids)


def recv_exactly(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


def recv_all(s: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def roundtrip(s: socket.socket, request: bytes, answer: bytes) -> None:
    s.sendall(request)
    assert recv_exactly(s, len(answer)) == answer


def test_inline_and_multibulk_ping(served: Served) -> None:
    with served.connect() as s:
        roundtrip(s, b"PING\r\n", b"+PONG\r\n")
        roundtrip(s, b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n")
        roundtrip(s, b'PING "hello world"\r\n', b"$11\r\nhello world\r\n")
        roundtrip(s, b"*2\r\n$4\r\nECHO\r\n$3\r\na\x00b\r\nECHO x\r\n",
                  b"$3\r\na\x00b\r\n$1\r\nx\r\n")


def test_redis_py_resp2_and_resp3(served: Served) -> None:
    with redis.Redis(port=served.port, protocol=2, socket_timeout=TIMEOUT) as r:
        assert r.ping() is True
        assert r.set("k", "v") is True
        assert r.get("k") == b"v"
        assert r.get("missing") is None
        pipe = r.pipeline(transaction=False)
        for i in range(100):
            pipe.set(f"k{i}", i)
            pipe.get(f"k{i}")
        assert pipe.execute() == [x for i in range(100) for x in (True, str(i).encode())]
    with redis.Redis(port=served.port, protocol=3, socket_timeout=TIMEOUT) as r3:
        assert r3.ping() is True
        assert r3.get("missing") is None  # RESP3 null
        assert r3.echo("é") == "é".encode()


def test_pipeline_one_write_per_batch(served: Served) -> None:
    with served.connect() as s:
        roundtrip(s, b"PING\r\n", b"+PONG\r\n")
        conn_id = served.conn_ids()[0]
        before = served.call(lambda: served.server.connections[conn_id].net_writes)
        calls_before = len(served.handler.calls)
        s.sendall(b"*1\r\n$4\r\nPING\r\n" * 200)
        assert recv_exactly(s, 7 * 200) == b"+PONG\r\n" * 200
        writes = served.call(lambda: served.server.connections[conn_id].net_writes) - before
        batches = served.handler.calls[calls_before:]
        assert sum(len(names) for _, names in batches) == 200
        assert writes == len(batches)  # every batch of commands cost exactly one write
        assert len(batches) < 200  # and a pipeline arrives in few batches


def test_batches_are_capped_and_ordered(served: Served) -> None:
    with served.connect() as s:
        s.sendall(b"".join(b"PING %d\r\n" % i for i in range(3000)))
        expected = b"".join(b"$%d\r\n%d\r\n" % (len(str(i)), i) for i in range(3000))
        assert recv_exactly(s, len(expected)) == expected
    assert max(len(names) for _, names in served.handler.calls) <= 1024


def test_protocol_error_closes_only_that_connection(served: Served) -> None:
    with served.connect() as bad, served.connect() as good:
        roundtrip(good, b"PING\r\n", b"+PONG\r\n")
        bad.sendall(b"*1\r\n$4\r\nPING\r\n*1\r\n+x\r\nPING\r\n")
        assert recv_all(bad) == b"+PONG\r\n-ERR Protocol error: expected '$', got '+'\r\n"
        roundtrip(good, b"PING\r\n", b"+PONG\r\n")
    with served.connect() as s:
        s.sendall(b'SET "k v\r\n')
        assert recv_all(s) == b"-ERR Protocol error: unbalanced quotes in request\r\n"


def test_maxclients() -> None:
    srv = Served(maxclients=2)
    try:
        with srv.connect() as a, srv.connect() as b:
            roundtrip(a, b"PING\r\n", b"+PONG\r\n")
            roundtrip(b, b"PING\r\n", b"+PONG\r\n")
            with srv.connect() as c:
                assert recv_all(c) == b"-ERR max number of clients reached\r\n"
            roundtrip(a, b"PING\r\n", b"+PONG\r\n")
        assert len(srv.handler.connected_ids) == 2
    finally:
        srv.close()


def test_quit_closes_after_reply_and_runs_nothing_after(served: Served) -> None:
    with served.connect() as s:
        s.sendall(b"PING\r\nQUIT\r\nSET k v\r\nPING\r\n")
        assert recv_all(s) == b"+PONG\r\n+OK\r\n"
    assert b"k" not in served.handler.db


def test_async_handler_keeps_order_and_other_clients_run(served: Served) -> None:
    h = served.handler
    with served.connect() as a, served.connect() as b:
        a.sendall(b"PING one\r\nDEFER t1\r\nPING two\r\n")
        assert h.deferred_ready.wait(TIMEOUT)
        h.deferred_ready.clear()
        a.sendall(b"ECHO three\r\nDEFER t2\r\nECHO four\r\n")
        roundtrip(b, b"PING\r\n", b"+PONG\r\n")  # B is served while A waits
        a_id = served.conn_ids()[0]
        assert [names for cid, names in h.calls if cid == a_id] == [[b"PING", b"DEFER", b"PING"]]
        served.call(lambda: h.deferred[b"t1"].set_result(None))
        # the batch's replies are written together, once its awaitable is done
        assert recv_exactly(a, 9 + 8 + 9) == b"$3\r\none\r\n$2\r\nt1\r\n$3\r\ntwo\r\n"
        assert h.deferred_ready.wait(TIMEOUT)
        served.call(lambda: h.deferred[b"t2"].set_result(None))
        assert recv_exactly(a, 11 + 8 + 10) == b"$5\r\nthree\r\n$2\r\nt2\r\n$4\r\nfour\r\n"
        assert [names for cid, names in h.calls if cid == a_id] == [
            [b"PING", b"DEFER", b"PING"], [b"ECHO", b"DEFER", b"ECHO"]]


def test_a_bare_future_is_the_last_reply(served: Served) -> None:
    h = served.handler
    with served.connect() as s:
        s.sendall(b"PING one\r\nFUT t1\r\n")
        assert h.deferred_ready.wait(TIMEOUT)
        h.deferred_ready.clear()
        s.sendall(b"PING two\r\n")  # buffered while the reply is pending: runs after it
        served.call(lambda: h.deferred[b"t1"].set_result(b"r1"))
        assert recv_exactly(s, 9 + 8 + 9) == b"$3\r\none\r\n$2\r\nr1\r\n$3\r\ntwo\r\n"
        # NO_REPLY: the command wrote its replies itself; nothing is queued for it
        s.sendall(b"FUT t2\r\n")
        assert h.deferred_ready.wait(TIMEOUT)
        h.deferred_ready.clear()
        served.call(lambda: h.deferred[b"t2"].set_result(NO_REPLY))
        roundtrip(s, b"PING three\r\n", b"$5\r\nthree\r\n")
        # a failed reply future closes that connection, as a failed handler does
        s.sendall(b"FUT t3\r\n")
        assert h.deferred_ready.wait(TIMEOUT)
        served.call(lambda: h.deferred[b"t3"].set_exception(RuntimeError("boom")))
        assert recv_all(s) == b""
    with served.connect() as s2:
        roundtrip(s2, b"PING\r\n", b"+PONG\r\n")


def test_eof_while_deferred_still_gets_the_reply(served: Served) -> None:
    h = served.handler
    with served.connect() as s:
        s.sendall(b"DEFER t\r\n")
        assert h.deferred_ready.wait(TIMEOUT)
        s.shutdown(socket.SHUT_WR)
        served.call(lambda: h.deferred[b"t"].set_result(None))
        assert recv_all(s) == b"$1\r\nt\r\n"


def test_client_disconnecting_while_deferred(served: Served) -> None:
    h = served.handler
    with served.connect() as s:
        s.sendall(b"DEFER t\r\n")
        assert h.deferred_ready.wait(TIMEOUT)
    with served.connect() as s2:
        roundtrip(s2, b"PING\r\n", b"+PONG\r\n")
        served.call(lambda: h.deferred[b"t"].set_result(None))
        roundtrip(s2, b"PING\r\n", b"+PONG\r\n")


def test_client_kill(served: Served) -> None:
    with served.connect() as victim, served.connect() as killer:
        roundtrip(victim, b"PING\r\n", b"+PONG\r\n")
        victim_id = served.conn_ids()[0]
        roundtrip(killer, b"KILL %d\r\n" % victim_id, b"+OK\r\n")
        assert recv_all(victim) == b""
        roundtrip(killer, b"PING\r\n", b"+PONG\r\n")


def test_handler_exception_closes_that_client(served: Served) -> None:
    with served.connect() as s, served.connect() as other:
        s.sendall(b"PING\r\nBOOM\r\nPING\r\n")
        assert recv_all(s) == b"+PONG\r\n"
        roundtrip(other, b"PING\r\n", b"+PONG\r\n")


def test_query_buffer_limit_closes_without_reply() -> None:
    srv = Served(client_query_buffer_limit=10_000)
    try:
        with srv.connect() as s:
            s.sendall(b"*2\r\n$4\r\nECHO\r\n$100000\r\n" + b"x" * 20_000)
            assert recv_all(s) == b""
        with srv.connect() as s:
            roundtrip(s, b"ECHO " + b"y" * 5000 + b"\r\n", b"$5000\r\n" + b"y" * 5000 + b"\r\n")
    finally:
        srv.close()


def test_proto_max_bulk_len() -> None:
    srv = Served(proto_max_bulk_len=1000)
    try:
        with srv.connect() as s:
            roundtrip(s, b"*2\r\n$4\r\nECHO\r\n$1000\r\n" + b"z" * 1000 + b"\r\n",
                      b"$1000\r\n" + b"z" * 1000 + b"\r\n")
            s.sendall(b"*2\r\n$4\r\nECHO\r\n$1001\r\n")
            assert recv_all(s) == b"-ERR Protocol error: invalid bulk length\r\n"
    finally:
        srv.close()


def test_write_backpressure_pauses_processing() -> None:
    high = 256 * 1024
    srv = Served(output_high_water=high, output_low_water=high // 4)
    try:
        with srv.connect() as s:
            n = 3000
            s.sendall(b"".join(b"BIG %d 20000\r\n" % i for i in range(n)))
            for i in range(n):  # read only now: the server had to stop and wait
                head = b"$%d\r\n%d:" % (len(str(i)) + 20001, i)
                assert recv_exactly(s, len(head)) == head
                assert recv_exactly(s, 20002) == b"x" * 20000 + b"\r\n"
        # each batch (up to 1024 commands, 20 MB) went above the mark, and no batch ran
        # while the output buffer was above it
        assert max(srv.handler.buffer_at_execute) <= high
        assert len(srv.handler.calls) >= 3
    finally:
        srv.close()


def test_input_while_a_reply_is_pending_waits_in_the_kernel(served: Served) -> None:
    h = served.handler
    with served.connect() as s:
        s.sendall(b"DEFER t\r\n")
        assert h.deferred_ready.wait(TIMEOUT)
        s.setblocking(False)
        chunk = b"PING\r\n" * 10_000
        sent = 0
        deadline = time.monotonic() + TIMEOUT
        for _ in range(10_000):  # until the kernel's buffers are full: the server stopped
            try:
                sent += s.send(chunk)
            except BlockingIOError:
                break
            assert time.monotonic() < deadline, "the server kept reading"
        sid = served.conn_ids()[0]
        qbuf = served.call(lambda: served.server.connections[sid].qbuf)
        assert qbuf < 1 << 20 < sent  # one read at most was taken in (then it paused)
        s.setblocking(True)
        served.call(lambda: h.deferred[b"t"].set_result(None))
        assert recv_exactly(s, 7) == b"$1\r\nt\r\n"
        assert recv_exactly(s, 70) == b"+PONG\r\n" * 10


def test_pause_and_resume(served: Served) -> None:
    with served.connect() as s, served.connect() as other:
        roundtrip(s, b"PAUSE\r\n", b"+OK\r\n")
        s.sendall(b"PING\r\n")
        roundtrip(other, b"PING\r\n", b"+PONG\r\n")
        sid = served.conn_ids()[0]
        assert [n for cid, n in served.handler.calls if cid == sid] == [[b"PAUSE"]]
        served.call(lambda: served.server.connections[sid].resume())
        assert recv_exactly(s, 7) == b"+PONG\r\n"


def test_connection_attributes_and_stats(served: Served) -> None:
    with served.connect() as s:
        roundtrip(s, b"PING\r\nPING\r\n", b"+PONG\r\n+PONG\r\n")
        s.sendall(b"STATS\r\n")
        reader = hiredis.Reader()
        while (stats := reader.gets()) is False:
            reader.feed(s.recv(65536))
        cid, addr, laddr, fd, tot, cmd, qbuf, obl = stats
        assert cid == served.conn_ids()[0]
        assert addr == "{}:{}".format(*s.getsockname()).encode()
        assert laddr == b"127.0.0.1:%d" % served.port
        assert fd > 0 and tot == 3 and cmd == b"stats" and qbuf == 0 and obl == 0
        conn = served.call(lambda: served.server.connections[cid])
        assert conn.name is None and conn.proto == 2 and conn.session is None
        assert conn.created <= conn.last_interaction
        roundtrip(s, b"HELLO 3\r\nGET nothing\r\n",
                  b"%2\r\n$6\r\nserver\r\n$4\r\ntest\r\n$5\r\nproto\r\n:3\r\n_\r\n")


def test_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "gofish.sock")
    srv = Served(unixsocket=path, unixsocketperm=0o700)
    try:
        with redis.Redis(unix_socket_path=path, socket_timeout=TIMEOUT) as r:
            assert r.ping() is True
            assert r.echo("x") == b"x"
        conn_addrs = srv.call(lambda: [c.addr for c in srv.server.connections.values()])
        assert all(a == f"{path}:0" for a in conn_addrs)
    finally:
        srv.close()
    assert not Path(path).exists()


def test_close_server_closes_clients(served: Served) -> None:
    s = served.connect()
    roundtrip(s, b"PING\r\n", b"+PONG\r\n")
    served.close()
    assert recv_all(s) == b""
    s.close()
