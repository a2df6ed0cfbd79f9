"""The fault proxy itself, against a local echo server: forwarding, cut, heal, isolate."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest
from procs import free_port

from .faultproxy import FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(10)
        try:
            while data := sock.recv(65536):
                sock.sendall(data)
        except OSError:
            pass


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    srv = _Server(("127.0.0.1", 0), _Echo)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield ("127.0.0.1", int(srv.server_address[1]))
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(5)


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    with FaultProxy(connect_timeout=1.0) as p:
        yield p


def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(5)
    return s


def _roundtrip(s: socket.socket, payload: bytes) -> bytes:
    s.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def _is_dead(s: socket.socket) -> bool:
    """True if the connection is closed or reset from the other side (within 5 s)."""
    try:
        s.sendall(b"x")
        return s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        return True


def test_forwards_both_ways(proxy: FaultProxy, echo: tuple[str, int]) -> None:
    port = proxy.add_link(1, 2, echo)
    assert proxy.port(1, 2) == port
    with _connect(port) as s:
        assert _roundtrip(s, b"hello") == b"hello"
        big = bytes(range(256)) * 2000  # 512 KB: several reads and drains
        assert _roundtrip(s, big) == big
        assert proxy.open_connections(1, 2) == 1
    st = proxy.stats(1, 2)
    assert st.accepted == 1
    assert st.bytes_forwarded == 2 * (5 + len(big))


def test_cut_aborts_open_connections_and_refuses_new_ones(
    proxy: FaultProxy, echo: tuple[str, int]
) -> None:
    port = proxy.add_link(1, 2, echo)
    s = _connect(port)
    assert _roundtrip(s, b"a") == b"a"
    proxy.cut(1, 2)
    assert proxy.is_cut(1, 2)
    assert _is_dead(s)
    s.close()
    for _ in range(3):  # every new connection is accepted and aborted at once
        with _connect(port) as s2:
            assert _is_dead(s2)
    st = proxy.stats(1, 2)
    assert st.aborted == 1
    assert st.refused == 3
    assert proxy.open_connections(1, 2) == 0


def test_heal_lets_new_connections_through(proxy: FaultProxy, echo: tuple[str, int]) -> None:
    port = proxy.add_link(1, 2, echo)
    proxy.cut(1, 2)
    with _connect(port) as s:
        assert _is_dead(s)
    proxy.heal(1, 2)
    assert not proxy.is_cut(1, 2)
    with _connect(port) as s:
        assert _roundtrip(s, b"back") == b"back"


def test_links_are_directed(proxy: FaultProxy, echo: tuple[str, int]) -> None:
    p12 = proxy.add_link(1, 2, echo)
    p21 = proxy.add_link(2, 1, echo)
    proxy.cut(1, 2)
    with _connect(p21) as s:
        assert _roundtrip(s, b"other way") == b"other way"
    with _connect(p12) as s:
        assert _is_dead(s)


def test_isolate_cuts_every_link_of_a_node_and_heal_all_restores(
    proxy: FaultProxy, echo: tuple[str, int]
) -> None:
    nodes = (1, 2, 3)
    for a in nodes:
        for b in nodes:
            if a != b:
                proxy.add_link(a, b, echo)
    open_23 = _connect(proxy.port(2, 3))
    open_13 = _connect(proxy.port(1, 3))
    proxy.isolate(3)
    assert _is_dead(open_13)
    assert _is_dead(open_23)
    for a, b in proxy.links():
        assert proxy.is_cut(a, b) == (3 in (a, b))
    with _connect(proxy.port(1, 2)) as s:
        assert _roundtrip(s, b"majority") == b"majority"
    proxy.heal_all()
    for a, b in proxy.links():
        with _connect(proxy.port(a, b)) as s:
            assert _roundtrip(s, b"%d%d" % (a, b)) == b"%d%d" % (a, b)
    open_13.close()
    open_23.close()


def test_unreachable_target_closes_the_client(proxy: FaultProxy) -> None:
    dead = free_port()  # reserved: nobody listens there
    port = proxy.add_link(1, 2, ("127.0.0.1", dead))
    with _connect(port) as s:
        assert _is_dead(s)
    assert proxy.stats(1, 2).accepted == 0


def test_stop_closes_connections_and_listeners(echo: tuple[str, int]) -> None:
    p = FaultProxy().start()
    port = p.add_link(1, 2, echo)
    s = _connect(port)
    assert _roundtrip(s, b"x") == b"x"
    p.stop()
    assert _is_dead(s)
    s.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    p.stop()  # idempotent


def test_partition_cuts_links_between_groups_only(
    proxy: FaultProxy, echo: tuple[str, int]
) -> None:
    nodes = (1, 2, 3, 4, 5)
    for a in nodes:
        for b in nodes:
            if a != b:
                proxy.add_link(a, b, echo)
    proxy.partition([1, 2], [3, 4, 5])
    for a, b in proxy.links():
        assert proxy.is_cut(a, b) == ((a <= 2) != (b <= 2)), (a, b)
    with _connect(proxy.port(1, 2)) as s:
        assert _roundtrip(s, b"same side") == b"same side"
    with _connect(proxy.port(4, 1)) as s:
        assert _is_dead(s)
    proxy.heal_all()
    assert not any(proxy.is_cut(a, b) for a, b in proxy.links())
