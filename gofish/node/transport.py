"""The peer transport: Raft messages between nodes over authenticated TCP connections.

Wire format: `gofish.node.peer_wire`; handshake: `gofish.node.peer_auth`; decisions and threat
model: docs/adr/0008-peer-transport.md.

Rules:

1. **Connections.** For every peer this node *dials* one outbound connection and sends on it
   only; messages *from* a peer arrive on the connection that peer dialed to us. Both sides
   prove knowledge of the cluster secret before any message flows; a connection that fails
   the handshake is refused, counted (``auth_failures``) and logged at WARNING.
2. **Sending.** `send` never blocks and never raises for a peer's state: it appends each
   message to its peer's queue (at most ``max_queue`` pending messages per peer) and
   returns. A message to an unknown peer, or to a peer whose queue is full, is dropped and
   counted. The queue survives reconnects: messages queued while a peer is down go out when
   it is back. Messages handed to a connection that then breaks are lost (counted as
   ``dropped``); Raft retransmits.
3. **Batching.** The messages sent to a peer in one loop turn are written together, in a
   loop callback after the turn's `send` calls: up to ``batch_bytes`` of encoded messages
   per BATCH frame and a few frames per write. While the connection is idle that callback
   writes itself; otherwise (a write still draining, a large message being chunked, a
   reconnect) the peer's writer task does, and waits for the socket to drain.
4. **Order.** Messages to one peer arrive in the order they were sent, except that a message
   whose encoding exceeds ``chunk_size`` (in practice SNAPSHOT) is sent as CHUNK frames
   interleaved with later batches, and is delivered when its last chunk arrives: messages
   sent after it may arrive before it. Heartbeats thus keep flowing during a long snapshot.
5. **Receiving.** Every message is decoded with a typed decoder and must have
   ``from_`` = the authenticated peer and ``to`` = this node. Anything else (bad frame,
   oversized frame, bad body, spoofed sender, bad chunk sequence) closes that connection
   and is counted (``protocol_errors``) and logged; other connections are unaffected.
   ``on_message`` is called once per message, in the event loop, as the bytes arrive (no
   task per connection reads them); an exception it raises is logged and the connection
   carries on.
6. **Reconnecting.** A peer's dialer retries with exponential backoff and jitter between
   ``backoff_min`` and ``backoff_max`` seconds, and resets the backoff once authenticated.
   TCP keepalive and ``TCP_USER_TIMEOUT`` (``peer_timeout``) notice a peer that vanished
   without closing its connections.
7. **Callbacks.** ``on_snapshot_status(peer, failed)`` is called once for every SNAPSHOT
   message given to `send`: ``failed=False`` when it was fully written to the peer's
   connection, ``True`` when it was dropped (the driver passes it to
   ``RawNode.report_snapshot``). ``on_peer_state(peer, up)`` is called when the outbound
   connection to a peer is established (authenticated) or lost (report_unreachable).
   Neither is ever called from inside a method of the transport (they are deferred to the
   loop then); an exception they raise is logged.
8. **Threads.** Everything runs in one event loop; call every method from that loop.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import asdict
from typing import Any, cast

from gofish.node.peer_auth import AuthError, load_cluster_secret
from gofish.node.peer_handshake import accept_handshake, dial_handshake
from gofish.node.peer_queue import Backoff, PeerStats, SendQueue, Write
from gofish.node.peer_wire import (
    HANDSHAKE_MAX_FRAME,
    HEADER_SIZE,
    Chunk,
    ChunkAssembler,
    FrameDecoder,
    FrameType,
    PeerProtocolError,
    decode_batch,
    decode_body,
    decode_message,
)
from gofish.raft.messages import Message, MessageType

__all__ = ["Backoff", "PeerStats", "PeerTransport", "load_cluster_secret"]

log = logging.getLogger(__name__)

_MAX_ID = 2**63 - 1


class _Link:
    """The outbound side of one peer: its queue and the task that dials and writes."""

    __slots__ = ("addr", "connected", "dropping", "failing", "flushing", "peer_id", "queue",
                 "stats", "task", "wake", "writer")

    def __init__(
        self, peer_id: int, addr: tuple[str, int], stats: PeerStats, queue: SendQueue
    ) -> None:
        self.peer_id = peer_id
        self.addr = addr
        self.stats = stats
        self.queue = queue
        self.wake = asyncio.Event()
        self.connected = False
        self.dropping = False  # a full-queue warning was logged since the last write
        self.failing = False  # a connection failure was logged since the last success
        self.task: asyncio.Task[None] | None = None
        #: the connection's writer while the pump waits for messages (None while it writes,
        #: drains or is not connected): `PeerTransport._flush` may write to it directly
        self.writer: asyncio.StreamWriter | None = None
        self.flushing = False  # a `_flush` is scheduled


def _tune_socket(writer: asyncio.StreamWriter | _Inbound, timeout: float) -> None:
    """Detect a peer that vanished without closing (power loss, partition): TCP keepalive
    probes after ``timeout/2`` s idle, and unacknowledged data fails the connection after
    ``timeout`` s (Linux ``TCP_USER_TIMEOUT``). Options the platform lacks are skipped."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    opts = [(socket.SOL_SOCKET, "SO_KEEPALIVE", 1),
            (socket.IPPROTO_TCP, "TCP_KEEPIDLE", max(1, int(timeout / 2))),
            (socket.IPPROTO_TCP, "TCP_KEEPINTVL", max(1, int(timeout / 6))),
            (socket.IPPROTO_TCP, "TCP_KEEPCNT", 3),
            (socket.IPPROTO_TCP, "TCP_USER_TIMEOUT", max(1, int(timeout * 1000)))]
    for level, name, value in opts:
        opt = getattr(socket, name, None)
        if opt is not None:
            try:
                sock.setsockopt(level, opt, value)
            except OSError as e:
                log.debug("cannot set %s on a peer socket: %s", name, e)


def _addr(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return str(addr)


#: `PeerTransport._flush` writes directly only while the connection buffers less than this
#: (more: the pump writes and waits for the socket to drain)
_DIRECT_WRITE_MAX = 1 << 20
#: bytes an unauthenticated peer may have sent and the handshake not yet read
_HANDSHAKE_BUFFER = 64 * 1024


class _Inbound(asyncio.Protocol):
    """One accepted peer connection. During the handshake it is the handshake's byte source
    and sink (`read`, `write`, as a stream would be); once the peer is authenticated its
    bytes go straight to `PeerTransport._frames` as they arrive, so a message costs no task
    wake-up and no stream read. ``done`` resolves when the connection ends: with None
    (closed by the peer), the OSError that broke it, or the `PeerProtocolError` (or bug) that
    its data raised."""

    def __init__(self, owner: PeerTransport) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[BaseException | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._buf = bytearray()  # handshake bytes not read yet
        self._waiter: asyncio.Future[None] | None = None
        self._eof = False
        self._feed: Callable[[bytes], None] | None = None  # after the handshake

    # --- the handshake's stream --------------------------------------------------------
    async def read(self, n: int = -1) -> bytes:
        """Like `asyncio.StreamReader.read`; raises what ended the connection, if anything
        did (a flood before the handshake: the handshake stops there)."""
        while not self._buf and not self._eof and not self.done.done():
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self.done.done() and (exc := self.done.result()) is not None:
            raise exc
        n = len(self._buf) if n < 0 else n
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.transport.get_extra_info(name, default) if self.transport else default

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def receive(self, feed: Callable[[bytes], None]) -> None:
        """From now on give every byte to ``feed`` (first what the handshake left unread);
        what it raises ends the connection (``done``)."""
        self._feed = feed
        rest, self._buf = bytes(self._buf), bytearray()
        self._received(rest)

    # --- asyncio.Protocol ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.owner._on_connection(self)

    def data_received(self, data: bytes) -> None:
        if self._feed is not None:
            self._received(data)
            return
        self._buf += data
        if len(self._buf) > _HANDSHAKE_BUFFER:
            self._end(PeerProtocolError("too much data before the handshake completed"))
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        self._end(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._wake()
        self._end(exc)

    def _received(self, data: bytes) -> None:
        feed = self._feed
        if feed is None or not data or (self.done.done() and self.done.result() is not None):
            return  # (after a clean EOF the bytes that came before it are still delivered)
        try:
            feed(data)
        except Exception as exc:  # a protocol error, or a bug: the connection ends
            self._end(exc)

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _end(self, exc: BaseException | None) -> None:
        if not self.done.done():
            self.done.set_result(exc)
        if exc is not None:
            self.close()


class PeerTransport:
    """Sends Raft messages to peers and delivers theirs to ``on_message`` (see module rules).

    ``peers`` maps node ids (1 .. 2**63-1, not ``node_id``) to ``(host, port)``. ``secret``
    is the cluster secret (non-empty; `gofish.node.peer_auth.load_cluster_secret`). Frames
    above ``max_frame_size`` bytes are refused; a chunked message may reach
    ``max_message_size``. Every node of a cluster must use the same ``chunk_size``/
    ``batch_bytes`` <= ``max_frame_size`` - 64.
    """

    def __init__(
        self,
        node_id: int,
        peers: dict[int, tuple[str, int]],
        secret: bytes,
        on_message: Callable[[Message], None],
        *,
        bind: str = "127.0.0.1",
        port: int,
        max_queue: int = 10_000,
        max_frame_size: int = 4 << 20,
        chunk_size: int = 1 << 20,
        batch_bytes: int = 1 << 20,
        max_message_size: int = 1 << 30,
        connect_timeout: float = 5.0,
        handshake_timeout: float = 5.0,
        backoff_min: float = 0.05,
        backoff_max: float = 2.0,
        max_pending_handshakes: int = 64,
        peer_timeout: float = 10.0,
        on_peer_state: Callable[[int, bool], None] | None = None,
        on_snapshot_status: Callable[[int, bool], None] | None = None,
    ) -> None:
        if not 1 <= node_id <= _MAX_ID:
            raise ValueError(f"node id out of range: {node_id}")
        if not secret:
            raise ValueError("the cluster secret must not be empty")
        if max(chunk_size, batch_bytes) + 64 > max_frame_size or min(chunk_size, batch_bytes) < 1:
            raise ValueError("need 1 <= chunk_size, batch_bytes <= max_frame_size - 64")
        if max_queue < 1:
            raise ValueError("max_queue must be positive")
        Backoff(backoff_min, backoff_max)  # validates
        self.node_id = node_id
        self.bind = bind
        self.port = port
        self.max_queue = max_queue
        self.max_frame_size = max_frame_size
        self.chunk_size = chunk_size
        self.batch_bytes = batch_bytes
        self.max_message_size = max_message_size
        self.connect_timeout = connect_timeout
        self.handshake_timeout = handshake_timeout
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.max_pending_handshakes = max_pending_handshakes
        self.peer_timeout = peer_timeout
        self._secret = secret
        self._on_message = on_message
        self._on_peer_state = on_peer_state
        self._on_snapshot_status = on_snapshot_status
        self._stats: dict[int, PeerStats] = {}
        self._links: dict[int, _Link] = {}
        self._inbound: dict[int, _Inbound] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._started = self._closed = False
        self._handshaking = 0
        self._dropped_unknown = 0
        self._auth_failures = 0
        self._protocol_errors = 0
        self._refused_connections = 0
        for pid, addr in peers.items():
            self.add_peer(pid, addr)

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen on ``(bind, port)`` (port 0: any; the actual one is then in ``.port``) and
        start dialing every peer. Raises OSError if the address cannot be bound."""
        if self._started:
            raise RuntimeError("PeerTransport already started")
        self._started = True
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Inbound(self), self.bind, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        for link in self._links.values():
            self._start_link(link)
        log.info("node %d: peer transport listening on %s:%d", self.node_id, self.bind, self.port)

    async def close(self) -> None:
        """Stop listening, close every connection, cancel every task and wait for them.
        Queued messages are discarded. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        for w in self._inbound.values():
            w.close()
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # --- membership -----------------------------------------------------------------------
    def add_peer(self, node_id: int, addr: tuple[str, int]) -> None:
        """Start sending to ``node_id`` at ``addr``. For a known peer with a new address, the
        connection is re-made there (its queue is kept)."""
        if node_id == self.node_id or not 1 <= node_id <= _MAX_ID:
            raise ValueError(f"bad peer id {node_id}")
        addr = (addr[0], int(addr[1]))
        old = self._links.get(node_id)
        if old is not None and old.addr == addr:
            return
        stats = self._stats.setdefault(node_id, PeerStats())
        if old is not None:
            self._stop_link(old)
            queue = old.queue  # the queue follows the peer to its new address
        else:
            queue = SendQueue(self.chunk_size, self.batch_bytes)
        link = _Link(node_id, addr, stats, queue)
        self._links[node_id] = link
        if self._started and not self._closed:
            self._start_link(link)

    def remove_peer(self, node_id: int) -> None:
        """Stop sending to ``node_id``: drop its queue and close both connections with it.
        Unknown ids are ignored."""
        link = self._links.pop(node_id, None)
        if link is not None:
            self._stop_link(link)
            for msg in link.queue.clear():
                link.stats.dropped += 1
                self._snapshot_status(msg, failed=True)
        w = self._inbound.pop(node_id, None)
        if w is not None:
            w.close()
        self._stats.pop(node_id, None)

    # --- sending --------------------------------------------------------------------------
    def send(self, messages: Iterable[Message]) -> None:
        """Queue ``messages`` for their peers (``msg.to``); never blocks (see rule 2)."""
        for msg in messages:
            link = self._links.get(msg.to)
            if link is None or self._closed:
                self._dropped_unknown += link is None
                if link is not None:
                    link.stats.dropped += 1
                self._snapshot_status(msg, failed=True)
                continue
            if len(link.queue) >= self.max_queue:
                link.stats.dropped += 1
                if not link.dropping:
                    link.dropping = True
                    log.warning(
                        "send queue to peer %d is full (%d messages): dropping",
                        msg.to, self.max_queue,
                    )
                self._snapshot_status(msg, failed=True)
                continue
            link.queue.append(msg)
            if not link.flushing:
                link.flushing = True
                asyncio.get_running_loop().call_soon(self._flush, link)

    def _flush(self, link: _Link) -> None:
        """Write a link's queue in a loop callback of its own: straight to the connection
        when its pump is idle (no task wake-up per batch), else by waking the pump (which
        also covers backpressure, chunking and reconnects)."""
        link.flushing = False
        if not link.queue:
            return  # the pump took it meanwhile
        writer = link.writer
        if writer is None or writer.is_closing() \
                or writer.transport.get_write_buffer_size() > _DIRECT_WRITE_MAX:
            link.wake.set()
            return
        w = link.queue.take()
        self._unencodable(link, w)
        if w.frames:
            try:
                writer.writelines(w.frames)
            except (RuntimeError, OSError):  # broken: the pump notices and redials
                self._write_lost(link, w)
                link.wake.set()
                return
            self._write_done(link, w)
        if link.queue:  # what one write does not carry (chunks of a large message)
            link.wake.set()

    # --- queries --------------------------------------------------------------------------
    def unreachable(self) -> set[int]:
        """Peers whose outbound connection is not established and authenticated."""
        return {pid for pid, link in self._links.items() if not link.connected}

    def is_connected(self, node_id: int) -> bool:
        """True if the outbound connection to ``node_id`` is up and authenticated."""
        link = self._links.get(node_id)
        return link is not None and link.connected

    @property
    def peers(self) -> dict[int, tuple[str, int]]:
        return {pid: link.addr for pid, link in self._links.items()}

    def statistics(self) -> dict[str, Any]:
        """``{"peers": {id: PeerStats fields + connected + queued}, "dropped_unknown",
        "auth_failures", "protocol_errors", "refused_connections"}``. Peer entries exist for
        configured peers and for authenticated inbound ones; failures of connections whose
        claimed id is no known peer are only in the totals."""
        peers: dict[int, dict[str, Any]] = {}
        for pid, st in self._stats.items():
            link = self._links.get(pid)
            d = asdict(st)
            d["connected"] = link is not None and link.connected
            d["queued"] = len(link.queue) if link is not None else 0
            peers[pid] = d
        return {
            "peers": peers,
            "dropped_unknown": self._dropped_unknown,
            "auth_failures": self._auth_failures,
            "protocol_errors": self._protocol_errors,
            "refused_connections": self._refused_connections,
        }

    # --- internals: callbacks -------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _snapshot_status(self, msg: Message, *, failed: bool, defer: bool = True) -> None:
        if self._on_snapshot_status is not None and msg.type == MessageType.SNAPSHOT:
            self._notify(self._on_snapshot_status, msg.to, failed, defer=defer)

    def _notify(
        self, cb: Callable[[int, bool], None], peer: int, flag: bool, *, defer: bool
    ) -> None:
        """Call ``cb(peer, flag)`` now (from the transport's own tasks) or, when the cause is
        a call into the transport (``defer``), soon from the loop, so no callback ever runs
        inside `send`, `add_peer` or `remove_peer`."""
        try:
            loop = asyncio.get_running_loop() if defer else None
        except RuntimeError:
            loop = None
        if loop is not None:
            loop.call_soon(self._call, cb, peer, flag)
        else:
            self._call(cb, peer, flag)

    @staticmethod
    def _call(cb: Callable[[int, bool], None], peer: int, flag: bool) -> None:
        try:
            cb(peer, flag)
        except Exception:
            log.exception("peer transport callback %r failed", cb)

    def _set_connected(self, link: _Link, up: bool) -> None:
        if link.connected == up:
            return
        link.connected = up
        if self._on_peer_state is not None and self._links.get(link.peer_id) is link:
            self._notify(self._on_peer_state, link.peer_id, up, defer=False)

    def _deliver(self, msg: Message, stats: PeerStats) -> None:
        stats.received += 1
        try:
            self._on_message(msg)
        except Exception:
            log.exception("on_message failed for a %s from peer %d", msg.type.name, msg.from_)

    # --- internals: outbound --------------------------------------------------------------
    def _start_link(self, link: _Link) -> None:
        link.task = self._spawn(self._run_link(link))

    def _stop_link(self, link: _Link) -> None:
        if link.task is not None:
            link.task.cancel()
        if link.connected:
            link.connected = False
            if self._on_peer_state is not None:
                self._notify(self._on_peer_state, link.peer_id, False, defer=True)

    async def _run_link(self, link: _Link) -> None:
        backoff = Backoff(self.backoff_min, self.backoff_max)
        pid, st = link.peer_id, link.stats
        while True:
            host, port = link.addr
            writer: asyncio.StreamWriter | None = None
            up = False
            try:
                async with asyncio.timeout(self.connect_timeout):
                    reader, writer = await asyncio.open_connection(host, port)
                _tune_socket(writer, self.peer_timeout)
                async with asyncio.timeout(self.handshake_timeout):
                    await dial_handshake(reader, writer, self._secret, self.node_id, link.peer_id)
                st.connects += 1
                backoff.reset()
                link.failing = False
                log.info("node %d: connected to peer %d at %s:%d", self.node_id, pid, host, port)
                self._set_connected(link, True)
                up = True
                try:
                    why = await self._pump(link, reader, writer)
                finally:
                    self._set_connected(link, False)
                    self._abort_stream(link)
                log.info("node %d: lost connection to peer %d: %s", self.node_id, pid, why)
            except AuthError as e:
                st.auth_failures += 1
                self._auth_failures += 1
                log.warning("node %d: authentication with peer %d at %s:%d failed: %s",
                            self.node_id, pid, host, port, e)
            except PeerProtocolError as e:
                st.protocol_errors += 1
                self._protocol_errors += 1
                log.warning("node %d: protocol error with peer %d at %s:%d: %s",
                            self.node_id, pid, host, port, e)
            except (OSError, TimeoutError) as e:
                why = str(e) or type(e).__name__
                if up:
                    log.info("node %d: lost connection to peer %d: %s", self.node_id, pid, why)
                else:
                    level = logging.DEBUG if link.failing else logging.INFO
                    link.failing = True
                    log.log(level, "node %d: cannot reach peer %d at %s:%d: %s",
                            self.node_id, pid, host, port, why)
            except Exception:  # a bug or a loop quirk must never end the link for good
                log.exception("node %d: the link to peer %d failed; redialing", self.node_id,
                              pid)
            finally:
                if writer is not None:
                    writer.close()
            await asyncio.sleep(backoff.next())

    async def _pump(
        self, link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> str:
        """Write the link's queue to an authenticated connection until it breaks; returns
        why it ended. The acceptor never sends after the handshake: a read that completes
        means the connection is gone (or the peer broke the protocol)."""
        gone = asyncio.get_running_loop().create_task(reader.read(1))
        gone.add_done_callback(lambda _: link.wake.set())
        try:
            while not gone.done() and not writer.is_closing():
                if not link.queue:
                    link.wake.clear()
                    link.writer = writer
                    try:
                        await link.wake.wait()
                    finally:
                        link.writer = None
                    continue
                w = link.queue.take()
                self._unencodable(link, w)
                if not w.frames:
                    continue
                try:
                    writer.writelines(w.frames)
                    await writer.drain()
                except RuntimeError as e:  # uvloop: the transport closed under us
                    self._write_lost(link, w)
                    return f"connection closed ({e})"
                except BaseException:
                    self._write_lost(link, w)
                    raise
                self._write_done(link, w)
        finally:
            gone.cancel()
        if gone.cancelled():
            return "cancelled"
        exc = gone.exception()
        if exc is not None:
            return str(exc) or type(exc).__name__
        if gone.result():
            link.stats.protocol_errors += 1
            self._protocol_errors += 1
            return "protocol error: the peer sent data after the handshake"
        return "closed by the peer"

    def _unencodable(self, link: _Link, w: Write) -> None:
        for msg, why in w.unencodable:
            log.error("cannot encode a %s to peer %d: %s", msg.type.name, msg.to, why)
            link.stats.dropped += 1
            self._snapshot_status(msg, failed=True)

    def _write_done(self, link: _Link, w: Write) -> None:
        st = link.stats
        st.sent += w.messages
        st.frames_sent += len(w.frames)
        st.bytes_sent += w.nbytes
        st.chunks_sent += w.chunks
        link.dropping = False
        self._report_snapshots(link, w, failed=False)

    def _write_lost(self, link: _Link, w: Write) -> None:
        link.stats.dropped += w.messages
        self._report_snapshots(link, w, failed=True)

    def _report_snapshots(self, link: _Link, w: Write, *, failed: bool) -> None:
        cb = self._on_snapshot_status
        if cb is not None:
            for _ in range(w.snapshots):
                self._notify(cb, link.peer_id, failed, defer=False)

    def _abort_stream(self, link: _Link) -> None:
        msg = link.queue.abort_stream()
        if msg is not None:
            link.stats.dropped += 1
            self._snapshot_status(msg, failed=True, defer=False)

    # --- internals: inbound ---------------------------------------------------------------
    def _on_connection(self, conn: _Inbound) -> None:
        if self._closed:
            conn.close()
            return
        if self._handshaking >= self.max_pending_handshakes:
            self._refused_connections += 1
            log.warning("node %d: too many unauthenticated peer connections; refusing %s",
                        self.node_id, _addr(conn.get_extra_info("peername")))
            conn.close()
            return
        self._handshaking += 1
        _tune_socket(conn, self.peer_timeout)
        self._spawn(self._serve(conn))

    async def _serve(self, conn: _Inbound) -> None:
        where = _addr(conn.get_extra_info("peername"))
        decoder = FrameDecoder(HANDSHAKE_MAX_FRAME)
        pid = 0
        try:
            try:
                async with asyncio.timeout(self.handshake_timeout):
                    pid = await accept_handshake(conn, conn, decoder, self._secret, self.node_id)
            finally:
                self._handshaking -= 1
            st = self._stats.setdefault(pid, PeerStats())
            st.accepts += 1
            old = self._inbound.get(pid)
            if old is not None:
                old.close()
            self._inbound[pid] = conn
            log.info("node %d: accepted peer %d from %s", self.node_id, pid, where)
            decoder.max_frame_size = self.max_frame_size
            assembler = ChunkAssembler(self.max_message_size)

            def feed(data: bytes) -> None:
                decoder.feed(data)
                self._frames(pid, decoder, assembler, st)

            self._frames(pid, decoder, assembler, st)  # what came with the handshake's end
            conn.receive(feed)
            exc = await conn.done
            if exc is not None:
                raise exc
            if assembler.in_progress:
                log.info("node %d: peer %d closed during a chunked message", self.node_id, pid)
            log.info("node %d: peer %d (%s) disconnected", self.node_id, pid, where)
        except AuthError as e:
            self._auth_failures += 1
            if e.peer_id in self._stats:
                self._stats[e.peer_id].auth_failures += 1
            log.warning("node %d: refused peer connection from %s claiming node %d: %s",
                        self.node_id, where, e.peer_id, e)
        except PeerProtocolError as e:
            self._protocol_errors += 1
            if pid in self._stats:
                self._stats[pid].protocol_errors += 1
            who = f"peer {pid}" if pid else "unauthenticated connection"
            log.warning("node %d: closing %s from %s: %s", self.node_id, who, where, e)
        except TimeoutError:
            self._protocol_errors += 1
            log.warning("node %d: peer connection from %s: handshake timed out",
                        self.node_id, where)
        except OSError as e:
            log.info("node %d: peer connection from %s failed: %s", self.node_id, where, e)
        finally:
            if pid and self._inbound.get(pid) is conn:
                del self._inbound[pid]
            conn.close()

    def _frames(
        self, pid: int, decoder: FrameDecoder, assembler: ChunkAssembler, st: PeerStats
    ) -> None:
        """Deliver the messages of every complete frame ``decoder`` holds, from the
        authenticated peer ``pid``; raises `PeerProtocolError` on anything malformed or
        spoofed (the connection then ends)."""
        me = self.node_id
        for ftype, body in decoder:
            st.frames_received += 1
            st.bytes_received += len(body) + HEADER_SIZE
            if ftype is FrameType.BATCH:
                msgs = decode_batch(body)
                for m in msgs:
                    if m.from_ != pid or m.to != me:
                        raise PeerProtocolError(
                            f"message from {m.from_} to {m.to} on peer {pid}'s connection"
                        )
                for m in msgs:
                    self._deliver(m, st)
            elif ftype is FrameType.CHUNK:
                st.chunks_received += 1
                payload = assembler.feed(decode_body(Chunk, body))
                if payload is not None:
                    m = decode_message(payload)
                    if m.from_ != pid or m.to != me:
                        raise PeerProtocolError(
                            f"message from {m.from_} to {m.to} on peer {pid}'s connection"
                        )
                    self._deliver(m, st)
            else:
                raise PeerProtocolError(f"unexpected {ftype.name} frame after the handshake")
