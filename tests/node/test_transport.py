"""The peer transport: framing, mutual authentication, batching, chunking, reconnects.

Loopback only. Every wait is on an event (a delivered message, a peer state change, a log
record, EOF on a raw socket) bounded by ``fail_after(TIMEOUT)``; nothing sleeps to synchronise.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from procs import free_port

from gofish.node.peer_auth import (
    acceptor_proof,
    dialer_proof,
    load_cluster_secret,
    new_nonce,
    verify_proof,
)
from gofish.node.peer_queue import SendQueue
from gofish.node.peer_wire import (
    HANDSHAKE_MAX_FRAME,
    PROTOCOL_VERSION,
    Challenge,
    Chunk,
    ChunkAssembler,
    FrameDecoder,
    FrameError,
    FrameType,
    Hello,
    PeerProtocolError,
    Proof,
    batch_body,
    decode_batch,
    decode_body,
    encode_frame,
    encode_message,
    frame,
    split_chunks,
)
from gofish.node.transport import Backoff, PeerTransport, _Inbound, _tune_socket
from gofish.raft import Entry, Message, MessageType, Snapshot, SnapshotMetadata

pytestmark = pytest.mark.anyio

TIMEOUT = 10
SECRET = b"correct horse battery staple 42"
LOGGER = "gofish.node.transport"


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return ("asyncio", {"use_uvloop": True})


def msg(frm: int, to: int, seq: int, mtype: MessageType = MessageType.APPEND) -> Message:
    return Message(mtype, to, frm, term=1, index=seq,
                   entries=(Entry(1, seq, data=b"x%d" % seq),))


# --- harness ------------------------------------------------------------------------------
class Node:
    """A transport plus what it delivered and reported, with event-driven waits."""

    def __init__(self, node_id: int, secret: bytes = SECRET, **kw: Any) -> None:
        self.id = node_id
        self.inbox: list[Message] = []
        self.snapshot_reports: list[tuple[int, bool]] = []
        self.up: set[int] = set()
        self._changed = asyncio.Event()
        port = kw.pop("port", 0)
        kw.setdefault("backoff_min", 0.01)
        kw.setdefault("backoff_max", 0.1)
        self.t = PeerTransport(
            node_id, kw.pop("peers", {}), secret, self._on_message, port=port,
            on_peer_state=self._on_state, on_snapshot_status=self._on_snapshot, **kw,
        )

    def _poke(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _on_message(self, m: Message) -> None:
        self.inbox.append(m)
        self._poke()

    def _on_state(self, peer: int, up: bool) -> None:
        (self.up.add if up else self.up.discard)(peer)
        self._poke()

    def _on_snapshot(self, peer: int, failed: bool) -> None:
        self.snapshot_reports.append((peer, failed))
        self._poke()

    async def until(self, cond: Callable[[], bool]) -> None:
        with anyio.fail_after(TIMEOUT):
            while not cond():
                await self._changed.wait()

    def received_from(self, peer: int) -> list[int]:
        return [m.index for m in self.inbox if m.from_ == peer]

    def stats(self, peer: int) -> dict[str, Any]:
        return self.t.statistics()["peers"][peer]  # type: ignore[no-any-return]


@asynccontextmanager
async def cluster(n: int, **kw: Any) -> AsyncIterator[list[Node]]:
    """n started, fully meshed nodes (ids 1..n), closed on exit."""
    assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
    nodes = [Node(i + 1, **kw) for i in range(n)]
    try:
        for nd in nodes:
            await nd.t.start()
        for a in nodes:
            for b in nodes:
                if a is not b:
                    a.t.add_peer(b.id, ("127.0.0.1", b.t.port))
        yield nodes
    finally:
        for nd in nodes:
            await nd.t.close()


class LogWaiter(logging.Handler):
    """Sets an event when a record whose message contains ``text`` is logged."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.event = asyncio.Event()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.records.append(record)
            self.event.set()

    async def wait(self) -> None:
        with anyio.fail_after(TIMEOUT):
            await self.event.wait()


@asynccontextmanager
async def log_waiter(text: str) -> AsyncIterator[LogWaiter]:
    h = LogWaiter(text)
    lg = logging.getLogger(LOGGER)
    old = lg.level
    lg.setLevel(logging.DEBUG)
    lg.addHandler(h)
    try:
        yield h
    finally:
        lg.removeHandler(h)
        lg.setLevel(old)


class Raw:
    """A hand-driven peer connection speaking the wire format directly."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = FrameDecoder(1 << 30)

    @classmethod
    async def connect(cls, port: int) -> Raw:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        return cls(r, w)

    async def read_frame(self) -> tuple[FrameType, bytes] | None:
        """The next frame, or None at EOF."""
        with anyio.fail_after(TIMEOUT):
            while (f := self.decoder.next()) is None:
                data = await self.reader.read(65536)
                if not data:
                    return None
                self.decoder.feed(data)
            return f

    async def handshake(self, me: int, them: int, secret: bytes = SECRET) -> None:
        nonce_d = new_nonce()
        self.writer.write(encode_frame(FrameType.HELLO, Hello(PROTOCOL_VERSION, me, them, nonce_d)))
        f = await self.read_frame()
        assert f is not None and f[0] is FrameType.CHALLENGE
        ch = decode_body(Challenge, f[1])
        mac = dialer_proof(secret, me, them, nonce_d, ch.nonce)
        self.writer.write(encode_frame(FrameType.PROOF, Proof(mac)))
        f = await self.read_frame()
        assert f is not None and f[0] is FrameType.PROOF
        expected = acceptor_proof(secret, me, them, nonce_d, ch.nonce)
        assert verify_proof(expected, decode_body(Proof, f[1]).mac)

    def send_batch(self, msgs: Iterable[Message]) -> None:
        self.writer.write(frame(FrameType.BATCH, batch_body([encode_message(m) for m in msgs])))

    async def closed_by_peer(self) -> bool:
        """Waits until the other side closes the connection (EOF or reset)."""
        with anyio.fail_after(TIMEOUT):
            try:
                while await self.reader.read(65536):
                    pass
            except ConnectionResetError:
                pass
        self.writer.close()
        return True


# --- sans-IO: frames, batches, chunks, proofs, backoff ---------------------------------------
def test_frame_decoder_byte_by_byte_and_limits() -> None:
    frames = [encode_frame(FrameType.PROOF, Proof(b"p" * 32)),
              frame(FrameType.BATCH, batch_body([encode_message(msg(1, 2, 7))]))]
    d = FrameDecoder(1024)
    got: list[tuple[FrameType, bytes]] = []
    for b in b"".join(frames):
        d.feed(bytes([b]))
        got.extend(d)
    assert [t for t, _ in got] == [FrameType.PROOF, FrameType.BATCH]
    assert decode_body(Proof, got[0][1]).mac == b"p" * 32
    assert decode_batch(got[1][1]) == [msg(1, 2, 7)]
    assert d.buffered == 0

    d = FrameDecoder(100)
    d.feed(struct.pack(">IB", 101, FrameType.BATCH))  # refused before any body arrives
    with pytest.raises(FrameError, match="exceeds"):
        d.next()
    d = FrameDecoder(100)
    d.feed(struct.pack(">IB", 1, 99) + b"\x90")
    with pytest.raises(FrameError, match="unknown frame type"):
        d.next()


@pytest.mark.parametrize("n", [0, 1, 15, 16, 65535, 65536])
def test_batch_body_is_a_msgpack_array(n: int) -> None:
    msgs = [Message(MessageType.HEARTBEAT, 2, 1, term=i) for i in range(n)]
    body = batch_body([encode_message(m) for m in msgs])
    assert body == msgspec.msgpack.encode(msgs)
    assert decode_batch(body) == msgs


def test_bad_bodies_raise_frame_error() -> None:
    for body in (b"\xc1", msgspec.msgpack.encode([[99, 2, 1, 1]]), msgspec.msgpack.encode("x")):
        with pytest.raises(FrameError):
            decode_batch(body)
    with pytest.raises(FrameError):  # nonce of the wrong length
        decode_body(Hello, msgspec.msgpack.encode([1, 1, 2, b"short"]))
    with pytest.raises(FrameError):  # node id 0
        decode_body(Hello, msgspec.msgpack.encode([1, 0, 2, b"n" * 32]))


def test_chunks_reassemble_and_bad_sequences_are_refused() -> None:
    payload = os.urandom(10_000)
    frames = list(split_chunks(5, payload, 3000))
    assert len(frames) == 4
    chunks = [decode_body(Chunk, f[5:]) for f in frames]
    a = ChunkAssembler(max_size=10_000)
    assert [a.feed(c) for c in chunks[:3]] == [None, None, None]
    assert a.in_progress
    assert a.feed(chunks[3]) == payload and not a.in_progress

    def fails(feed: list[Chunk], match: str, max_size: int = 10_000) -> None:
        a = ChunkAssembler(max_size)
        with pytest.raises(FrameError, match=match):
            for c in feed:
                a.feed(c)

    fails([chunks[1]], "starts at offset")
    fails([chunks[0], chunks[2]], "expected offset")  # gap
    fails([chunks[0], chunks[0]], "expected offset")  # repeat
    fails([chunks[0], Chunk(6, 10_000, 3000, b"x")], "while stream 5")
    fails([chunks[0], Chunk(5, 9_000, 3000, b"x")], "expected offset")  # total changed
    fails([Chunk(1, 10, 0, b"x" * 11)], "overruns")
    fails([chunks[0]], "exceeds the limit", max_size=9_999)


def test_send_queue_batches_and_interleaves_chunks() -> None:
    q = SendQueue(chunk_size=1000, batch_bytes=300)
    big1 = Message(MessageType.SNAPSHOT, 2, 1, term=1,
                   snapshot=Snapshot(SnapshotMetadata(index=9), b"a" * 2500))
    big2 = Message(MessageType.APPEND, 2, 1, term=1, entries=(Entry(1, 1, data=b"b" * 1500),))
    small = [msg(1, 2, i) for i in range(30)]
    for m in [*small[:10], big1, *small[10:20], big2, *small[20:]]:
        q.append(m)
    assert len(q) == 32

    def kinds(frames: list[bytes]) -> list[FrameType]:
        return [FrameType(f[4]) for f in frames]

    w = q.take()  # every small message in batches of <= 300 bytes, then big1's first chunk
    assert kinds(w.frames) == [FrameType.BATCH] * (len(w.frames) - 1) + [FrameType.CHUNK]
    batches = [decode_batch(f[5:]) for f in w.frames[:-1]]
    assert [m for b in batches for m in b] == small
    assert all(len(f) - 5 <= 300 for f in w.frames[:-1])
    assert (w.messages, w.snapshots, w.chunks) == (30, 0, 1) and len(q) == 2
    q.append(msg(1, 2, 99))
    w = q.take()  # a later small message rides along with big1's second chunk
    assert kinds(w.frames) == [FrameType.BATCH, FrameType.CHUNK] and w.messages == 1
    w = q.take()  # big1's last chunk completes it
    assert kinds(w.frames) == [FrameType.CHUNK] and (w.messages, w.snapshots) == (1, 1)
    w = q.take()  # then big2 starts
    assert kinds(w.frames) == [FrameType.CHUNK] and w.messages == 0 and len(q) == 1
    assert q.abort_stream() == big2 and len(q) == 0 and q.take().frames == []
    q.append(big1)
    q.append(small[0])
    q.take()
    assert len(q) == 1 and q.clear() == [big1] and len(q) == 0


def test_proofs_bind_role_ids_and_nonces() -> None:
    nd, na = new_nonce(), new_nonce()
    base = dialer_proof(SECRET, 1, 2, nd, na)
    assert len(base) == 32 and verify_proof(base, dialer_proof(SECRET, 1, 2, nd, na))
    others = [
        acceptor_proof(SECRET, 1, 2, nd, na),  # role
        dialer_proof(SECRET, 2, 1, nd, na),  # ids swapped
        dialer_proof(SECRET, 1, 3, nd, na),  # another acceptor
        dialer_proof(SECRET, 1, 2, na, nd),  # nonces swapped
        dialer_proof(SECRET, 1, 2, nd, new_nonce()),  # fresh nonce
        dialer_proof(SECRET + b"!", 1, 2, nd, na),  # secret
    ]
    assert all(not verify_proof(base, o) for o in others)
    assert len({base, *others}) == 7


def test_backoff_grows_caps_jitters_and_resets() -> None:
    b = Backoff(0.1, 1.0, rng=lambda: 1.0)
    assert [b.next() for _ in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    b.reset()
    assert b.next() == pytest.approx(0.1)
    lo = Backoff(0.1, 1.0, rng=lambda: 0.0)
    assert [lo.next() for _ in range(3)] == pytest.approx([0.05, 0.1, 0.2])
    for _ in range(1000):  # huge attempt counts stay finite
        lo.next()
    assert lo.next() == pytest.approx(0.5)


def test_load_cluster_secret(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = tmp_path / "secret"
    p.write_bytes(b"  s3cret-s3cret-s3cret-s3cret \n")
    p.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="gofish.node.peer_auth"):
        assert load_cluster_secret(p) == b"s3cret-s3cret-s3cret-s3cret"
    assert not caplog.records
    p.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="gofish.node.peer_auth"):
        assert load_cluster_secret(str(p)) == b"s3cret-s3cret-s3cret-s3cret"
    assert any("readable by group or others" in r.getMessage() for r in caplog.records)
    p.write_bytes(b" \n\t ")
    p.chmod(0o600)
    with pytest.raises(ValueError, match="empty"):
        load_cluster_secret(p)
    with pytest.raises(OSError):
        load_cluster_secret(tmp_path / "missing")


def test_constructor_refuses_bad_settings() -> None:
    def t(**kw: Any) -> PeerTransport:
        args: dict[str, Any] = {"node_id": 1, "peers": {}, "secret": SECRET,
                                "on_message": lambda m: None, "port": 0}
        args.update(kw)
        return PeerTransport(**args)

    with pytest.raises(ValueError):
        t(secret=b"")
    with pytest.raises(ValueError):
        t(node_id=0)
    with pytest.raises(ValueError):
        t(peers={1: ("127.0.0.1", 1)})  # itself
    with pytest.raises(ValueError):
        t(chunk_size=1 << 20, max_frame_size=1 << 20)


# --- live transports ----------------------------------------------------------------------
async def test_two_transports_exchange_messages_in_order() -> None:
    async with cluster(2) as (a, b):
        for start in range(0, 600, 100):
            a.t.send(msg(1, 2, i) for i in range(start, start + 100))
            b.t.send([msg(2, 1, start)])
        await b.until(lambda: len(b.inbox) == 600)
        await a.until(lambda: len(a.inbox) == 6)
        assert b.received_from(1) == list(range(600))
        assert a.received_from(2) == list(range(0, 600, 100))
        assert b.inbox[5] == msg(1, 2, 5)  # whole message, entries included
        assert a.stats(2)["sent"] == 600 == b.stats(1)["received"]
        assert a.stats(2)["dropped"] == 0 and a.t.unreachable() == set()


async def test_three_transports_keep_order_per_peer() -> None:
    async with cluster(3) as nodes:
        for i in range(300):
            for src in nodes:
                src.t.send([msg(src.id, dst.id, i) for dst in nodes if dst is not src])
        for dst in nodes:
            await dst.until(lambda dst=dst: len(dst.inbox) == 600)  # type: ignore[misc]
            for src in nodes:
                if src is not dst:
                    assert dst.received_from(src.id) == list(range(300))


async def test_many_sends_go_out_in_few_frames() -> None:
    async with cluster(2) as (a, b):
        a.t.send([msg(1, 2, 0)])
        await b.until(lambda: len(b.inbox) == 1)  # connected and idle
        frames_before = a.stats(2)["frames_sent"]
        for i in range(1, 2001):
            a.t.send([msg(1, 2, i)])  # one message per call, all before the writer runs
        await b.until(lambda: len(b.inbox) == 2001)
        assert b.received_from(1) == list(range(2001))
        frames = a.stats(2)["frames_sent"] - frames_before
        assert 1 <= frames <= 2, frames
        assert b.stats(1)["frames_received"] == a.stats(2)["frames_sent"]


async def test_peer_with_wrong_secret_is_refused_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    async with cluster(2) as (a, b):
        intruder = Node(3, secret=b"not the cluster secret")
        try:
            async with log_waiter("claiming node 3") as refused, \
                    log_waiter("authentication with peer 3") as dial_fail:
                await intruder.t.start()
                intruder.t.add_peer(2, ("127.0.0.1", b.t.port))
                b.t.add_peer(3, ("127.0.0.1", intruder.t.port))  # b dials the intruder too
                intruder.t.send([msg(3, 2, i) for i in range(5)])
                b.t.send([msg(2, 3, 0)])
                await refused.wait()  # b refused the intruder's connection
                await dial_fail.wait()  # the intruder refused b's proof; b logged it
            # the legitimate pair still works, which also flushes anything in flight
            a.t.send([msg(1, 2, 99)])
            await b.until(lambda: b.received_from(1) == [99])
            assert b.received_from(3) == [] and intruder.inbox == []
            assert 3 not in intruder.up and 2 in intruder.t.unreachable()
            assert 3 in b.t.unreachable()
            sb, si = b.t.statistics(), intruder.t.statistics()
            assert sb["auth_failures"] >= 2  # refused as acceptor, and as dialer
            assert sb["peers"][3]["received"] == 0 and sb["peers"][3]["auth_failures"] >= 2
            assert si["peers"][2]["sent"] == 0 and si["peers"][2]["auth_failures"] >= 1
            logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            assert any("refused peer connection" in m and "claiming node 3" in m for m in logged)
        finally:
            await intruder.t.close()


async def test_acceptor_without_secret_gets_no_messages(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An impostor listening at a peer's address cannot prove the secret: the dialer closes
    before sending any message."""
    got: list[tuple[FrameType, bytes]] = []
    done = asyncio.Event()

    async def impostor(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        raw = Raw(r, w)
        f = await raw.read_frame()
        assert f is not None and f[0] is FrameType.HELLO
        w.write(encode_frame(FrameType.CHALLENGE, Challenge(2, new_nonce())))
        while (f := await raw.read_frame()) is not None:
            got.append(f)
            if f[0] is FrameType.PROOF:
                w.write(encode_frame(FrameType.PROOF, Proof(os.urandom(32))))
        w.close()
        done.set()

    server = await asyncio.start_server(impostor, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    caplog.set_level(logging.WARNING, logger=LOGGER)
    a = Node(1, peers={2: ("127.0.0.1", port)}, backoff_min=5, backoff_max=5)
    try:
        await a.t.start()
        a.t.send([msg(1, 2, 0)])
        with anyio.fail_after(TIMEOUT):
            await done.wait()
        assert [t for t, _ in got] == [FrameType.PROOF]  # its proof, then EOF: no BATCH
        assert a.stats(2)["auth_failures"] == 1 and a.stats(2)["sent"] == 0
        assert a.stats(2)["queued"] == 1 and a.t.unreachable() == {2}
        assert any("failed to prove" in r.getMessage() for r in caplog.records)
    finally:
        await a.t.close()
        server.close()


async def test_garbage_and_oversized_frames_drop_only_that_connection() -> None:
    async with cluster(2, handshake_timeout=0.5, max_frame_size=1 << 21,
                       chunk_size=1 << 20) as (a, b):
        a.t.send([msg(1, 2, 0)])
        await b.until(lambda: len(b.inbox) == 1)
        hello = encode_frame(FrameType.HELLO, Hello(PROTOCOL_VERSION, 3, 2, new_nonce()))
        attacks: list[bytes] = [
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # read as a 1.2 GB frame
            struct.pack(">IB", 3, 99) + b"abc",  # unknown frame type
            struct.pack(">IB", HANDSHAKE_MAX_FRAME + 1, FrameType.HELLO),  # oversized, pre-auth
            frame(FrameType.HELLO, b"\xc1\xc1"),  # undecodable body
            frame(FrameType.HELLO, msgspec.msgpack.encode([1, 3, 2, b"short nonce"])),
            frame(FrameType.BATCH, batch_body([encode_message(msg(3, 2, 0))])),  # no handshake
            hello + hello,  # HELLO where PROOF belongs
            b"",  # says nothing: handshake timeout
        ]
        for i, data in enumerate(attacks):
            raw = await Raw.connect(b.t.port)
            raw.writer.write(data)
            assert await raw.closed_by_peer(), i
        # authenticated, then an oversized frame / a bad body / a frame type not allowed now
        for data in (struct.pack(">IB", (1 << 21) + 1, FrameType.BATCH),
                     frame(FrameType.BATCH, b"\x91\x93\x01\x02"),
                     frame(FrameType.CHUNK, msgspec.msgpack.encode([1, 5, 1, b"x"])),
                     encode_frame(FrameType.PROOF, Proof(b"\0" * 32))):
            raw = await Raw.connect(b.t.port)
            await raw.handshake(3, 2)
            raw.writer.write(data)
            assert await raw.closed_by_peer()
        a.t.send([msg(1, 2, 1)])
        await b.until(lambda: len(b.inbox) == 2)
        assert b.received_from(1) == [0, 1] and b.received_from(3) == []
        sb = b.t.statistics()
        assert sb["protocol_errors"] == len(attacks) + 4
        assert sb["peers"][3]["protocol_errors"] == 4
        assert sb["auth_failures"] == 0 and a.t.unreachable() == set()


async def test_spoofed_sender_is_refused() -> None:
    async with cluster(2) as (a, b):
        raw = await Raw.connect(b.t.port)
        await raw.handshake(3, 2)
        raw.send_batch([msg(3, 2, 0), msg(3, 2, 1)])
        await b.until(lambda: len(b.inbox) == 2)
        raw.send_batch([msg(3, 2, 2), msg(1, 2, 666)])  # claims to be node 1
        assert await raw.closed_by_peer()
        raw = await Raw.connect(b.t.port)
        await raw.handshake(3, 2)
        raw.send_batch([msg(3, 4, 3)])  # addressed to someone else
        assert await raw.closed_by_peer()
        raw = await Raw.connect(b.t.port)
        await raw.handshake(3, 2)
        big = encode_message(msg(1, 2, 667))  # a spoofed chunked message
        raw.writer.writelines(list(split_chunks(1, big, 10)))
        assert await raw.closed_by_peer()
        a.t.send([msg(1, 2, 7)])
        await b.until(lambda: len(b.inbox) == 3)
        assert b.received_from(3) == [0, 1] and b.received_from(1) == [7]
        assert b.stats(3)["protocol_errors"] == 3 and b.stats(3)["accepts"] == 3


async def test_reconnects_after_peer_restarts() -> None:
    async with cluster(2) as (a, b):
        a.t.send([msg(1, 2, 0)])
        await b.until(lambda: len(b.inbox) == 1)
        await a.until(lambda: 2 in a.up)
        port = b.t.port
        await b.t.close()
        await a.until(lambda: 2 not in a.up)
        assert a.t.unreachable() == {2}
        a.t.send([msg(1, 2, i) for i in range(1, 50)])  # queued while b is down
        b2 = Node(2, port=port, peers={1: ("127.0.0.1", a.t.port)})
        try:
            await b2.t.start()
            await b2.until(lambda: len(b2.inbox) == 49)
            assert b2.received_from(1) == list(range(1, 50))
            b2.t.send([msg(2, 1, 5)])
            await a.until(lambda: a.received_from(2) == [5])
            assert a.stats(2)["connects"] == 2 and a.t.unreachable() == set()
        finally:
            await b2.t.close()


async def test_large_snapshot_flows_in_chunks() -> None:
    limits = {"max_frame_size": 300_000, "chunk_size": 256 * 1024, "batch_bytes": 64 * 1024}
    async with cluster(2, **limits) as (a, b):
        payload = os.urandom(5 * 1024 * 1024)
        snap = Message(MessageType.SNAPSHOT, 2, 1, term=3,
                       snapshot=Snapshot(SnapshotMetadata(index=1000, term=3), payload))
        a.t.send([msg(1, 2, 0), snap])
        a.t.send(msg(1, 2, i) for i in range(1, 200))
        await b.until(lambda: len(b.inbox) == 201)
        got = [m for m in b.inbox if m.type == MessageType.SNAPSHOT]
        assert len(got) == 1 and got[0] == snap
        assert got[0].snapshot is not None and got[0].snapshot.data == payload
        assert b.received_from(1) == [i for i in range(200)] + [0]  # snapshot index is 0
        chunks = -(-len(encode_message(snap)) // limits["chunk_size"])
        assert a.stats(2)["chunks_sent"] == chunks == b.stats(1)["chunks_received"] == 21
        await a.until(lambda: a.snapshot_reports == [(2, False)])
        assert b.t.statistics()["protocol_errors"] == 0


async def test_send_never_blocks_when_a_peer_is_down() -> None:
    port = free_port()  # nothing listens there (yet)
    a = Node(1, peers={2: ("127.0.0.1", port)}, max_queue=100)
    b: Node | None = None
    try:
        await a.t.start()
        a.t.send(msg(1, 2, i) for i in range(250))
        a.t.send([Message(MessageType.SNAPSHOT, 2, 1, term=1)])  # over the bound too
        a.t.send([msg(1, 9, 0)])  # unknown peer
        s = a.t.statistics()
        assert s["peers"][2]["queued"] == 100 and s["peers"][2]["dropped"] == 151
        assert s["dropped_unknown"] == 1 and a.t.unreachable() == {2}
        assert a.snapshot_reports == []  # never reported from inside send
        await a.until(lambda: a.snapshot_reports == [(2, True)])
        b = Node(2, port=port)  # the peer appears: the bounded queue is delivered
        await b.t.start()
        await b.until(lambda: len(b.inbox) == 100)
        assert b.received_from(1) == list(range(100))
    finally:
        await a.t.close()
        if b is not None:
            await b.t.close()


async def test_membership_changes() -> None:
    async with cluster(2) as (a, b):
        c = Node(3)
        try:
            await c.t.start()
            a.t.add_peer(3, ("127.0.0.1", free_port()))  # a wrong address first
            a.t.send([msg(1, 3, 0)])
            a.t.add_peer(3, ("127.0.0.1", c.t.port))  # moved: the queue follows
            a.t.send([msg(1, 3, 1)])
            await c.until(lambda: len(c.inbox) == 2)
            assert c.received_from(1) == [0, 1]
            a.t.remove_peer(3)
            a.t.send([msg(1, 3, 2)])
            assert a.t.statistics()["dropped_unknown"] == 1
            assert 3 not in a.t.unreachable() and 3 not in a.t.peers
        finally:
            await c.t.close()


async def test_on_message_exception_is_logged_and_delivery_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with cluster(2) as (a, b):
        seen: list[int] = []
        inner = b.t._on_message

        def flaky(m: Message) -> None:
            seen.append(m.index)
            if m.index == 1:
                raise RuntimeError("driver bug")
            inner(m)

        b.t._on_message = flaky
        a.t.send(msg(1, 2, i) for i in range(3))
        await b.until(lambda: len(b.inbox) == 2)
        assert seen == [0, 1, 2] and b.received_from(1) == [0, 2]
        assert any(r.exc_info and "driver bug" in str(r.exc_info[1]) for r in caplog.records)


class _FakeSocket(asyncio.Transport):
    """Stands in for an accepted connection's transport (the unit tests of `_Inbound`)."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def _inbound() -> tuple[_Inbound, _FakeSocket]:
    class Owner:
        def _on_connection(self, conn: _Inbound) -> None:
            pass

    conn = _Inbound(Owner())  # type: ignore[arg-type]
    sock = _FakeSocket()
    conn.connection_made(sock)
    return conn, sock


async def test_inbound_hands_the_handshake_bytes_then_the_rest_to_its_receiver() -> None:
    conn, sock = _inbound()
    conn.data_received(b"hello")
    conn.data_received(b"+early")  # arrived before the handshake finished reading
    assert await conn.read(5) == b"hello"
    conn.write(b"proof")
    got: list[bytes] = []
    conn.receive(got.append)  # the unread bytes first, then each arrival as it comes
    conn.data_received(b"msg")
    assert got == [b"+early", b"msg"] and sock.written == [b"proof"]
    conn.eof_received()
    with anyio.fail_after(TIMEOUT):
        assert await conn.done is None


async def test_inbound_ends_on_a_receiver_error_and_on_too_much_before_the_handshake() -> None:
    def refuse(data: bytes) -> None:
        raise PeerProtocolError("spoofed")

    conn, sock = _inbound()
    conn.receive(refuse)
    conn.data_received(b"x")
    with anyio.fail_after(TIMEOUT):
        exc = await conn.done
    assert isinstance(exc, PeerProtocolError) and sock.closed
    conn.data_received(b"y")  # after the end: ignored
    conn, sock = _inbound()
    reading = asyncio.ensure_future(conn.read(1024))  # the handshake's next read
    conn.data_received(b"z" * (64 * 1024 + 1))  # an unauthenticated peer that floods
    with anyio.fail_after(TIMEOUT):
        exc = await conn.done
        with pytest.raises(PeerProtocolError, match="too much data"):
            await reading  # the handshake stops with the reason, reads none of it
    assert isinstance(exc, PeerProtocolError) and sock.closed


async def test_unauthenticated_connections_are_bounded() -> None:
    a = Node(1, max_pending_handshakes=2)
    try:
        await a.t.start()
        raws = [await Raw.connect(a.t.port) for _ in range(2)]
        late = await Raw.connect(a.t.port)
        assert await late.closed_by_peer()
        assert a.t.statistics()["refused_connections"] == 1
        await raws[0].handshake(5, 1)  # the first two still wait for their handshake
        await raws[1].handshake(6, 1)
        assert a.stats(5)["accepts"] == a.stats(6)["accepts"] == 1
        for r in raws:
            r.writer.close()
    finally:
        await a.t.close()


async def test_peer_sockets_detect_dead_peers() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    try:
        _, w = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        _tune_socket(w, 12.0)
        sock = w.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 6
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 12000
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        w.close()
    finally:
        server.close()


async def test_dialing_the_wrong_node_is_refused() -> None:
    c = Node(3)
    a: Node | None = None
    try:
        await c.t.start()
        async with log_waiter("refused: 'this is node 3, not 2'") as refused:
            a = Node(1, peers={2: ("127.0.0.1", c.t.port)})  # misconfigured address
            await a.t.start()
            a.t.send([msg(1, 2, 0)])
            await refused.wait()
        assert c.inbox == [] and a.t.unreachable() == {2}
        assert a.stats(2)["protocol_errors"] >= 1 and a.stats(2)["auth_failures"] == 0
        assert c.t.statistics()["protocol_errors"] >= 1
    finally:
        if a is not None:
            await a.t.close()
        await c.t.close()


async def test_a_write_on_a_transport_closed_under_it_reconnects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Fault suite finding F1: under uvloop, a write to a transport the loop has just closed
    # (a reset whose connection_lost is still pending) raises RuntimeError. The link must
    # take it as a lost connection and dial again, not end for good.
    async with cluster(2) as (a, b):
        a.t.send([msg(1, 2, 0)])
        await b.until(lambda: len(b.inbox) == 1)
        real = asyncio.StreamWriter.writelines
        armed = [True]

        def writelines(self: asyncio.StreamWriter, data: Any) -> None:
            if armed[0]:
                armed[0] = False
                self.transport.abort()
                raise RuntimeError("unable to perform operation on <TCPTransport closed=True>")
            real(self, data)

        monkeypatch.setattr(asyncio.StreamWriter, "writelines", writelines)
        a.t.send([msg(1, 2, 1)])  # lost with the connection (Raft resends)
        await a.until(lambda: a.stats(2)["connects"] >= 2 and 2 in a.up)
        a.t.send([msg(1, 2, 2)])
        await b.until(lambda: 2 in b.received_from(1))
        assert not armed[0]
