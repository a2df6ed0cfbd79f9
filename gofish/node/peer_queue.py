"""The sending side of one peer, sans-IO: its queue, batching, chunking; counters; backoff.

`SendQueue.take` decides what one write to a peer carries (transport rules 3 and 4 in
`gofish.node.transport`): every queued message small enough for a frame goes into BATCH frames
of at most ``batch_bytes`` of encoded messages (a single message may reach ``chunk_size``), up
to ``4 * batch_bytes`` per write; a message whose encoding exceeds ``chunk_size`` is set aside
and sent as CHUNK frames, one chunk per write, one such message at a time, so batches of later
messages keep flowing between its chunks.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from gofish.node.peer_wire import FrameType, batch_body, encode_message, frame, split_chunks
from gofish.raft.messages import Message, MessageType

__all__ = ["Backoff", "PeerStats", "SendQueue", "Write"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PeerStats:
    """Counters for one peer (both directions)."""

    sent: int = 0  # messages written to the connection
    received: int = 0  # messages delivered to on_message
    dropped: int = 0  # queue full, lost with a broken connection, peer removed, unencodable
    auth_failures: int = 0
    protocol_errors: int = 0
    frames_sent: int = 0
    frames_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    chunks_sent: int = 0
    chunks_received: int = 0
    connects: int = 0  # outbound connections authenticated
    accepts: int = 0  # inbound connections authenticated


class Backoff:
    """Exponential backoff with jitter. The n-th delay since the last `reset` is drawn
    uniformly from ``[d/2, d]`` with ``d = min(maximum, minimum * 2**n)``."""

    def __init__(
        self, minimum: float, maximum: float, rng: Callable[[], float] = random.random
    ) -> None:
        if not 0 < minimum <= maximum:
            raise ValueError("need 0 < minimum <= maximum")
        self.minimum, self.maximum, self._rng = minimum, maximum, rng
        self._n = 0

    def next(self) -> float:
        d = min(self.maximum, self.minimum * 2.0 ** min(self._n, 62))
        self._n += 1
        return d / 2 + self._rng() * d / 2

    def reset(self) -> None:
        self._n = 0


@dataclass(slots=True)
class Write:
    """What one write to a peer carries: its frames and the messages they complete."""

    frames: list[bytes] = field(default_factory=list)
    nbytes: int = 0
    messages: int = 0  # messages whose last byte is in these frames
    snapshots: int = 0  # of which SNAPSHOT messages
    chunks: int = 0
    unencodable: list[tuple[Message, str]] = field(default_factory=list)

    def add(self, data: bytes) -> None:
        self.frames.append(data)
        self.nbytes += len(data)


class _Stream:
    __slots__ = ("chunks", "msg", "remaining")

    def __init__(self, msg: Message, chunks: Iterator[bytes], count: int) -> None:
        self.msg, self.chunks, self.remaining = msg, chunks, count


class SendQueue:
    """One peer's pending messages (see the module docstring). ``len()`` counts every
    message not yet completely taken, the one being chunked included."""

    __slots__ = ("_big", "_next_stream", "_queue", "_stream", "batch_bytes", "chunk_size")

    def __init__(self, chunk_size: int, batch_bytes: int) -> None:
        self.chunk_size = chunk_size
        self.batch_bytes = batch_bytes
        self._queue: deque[Message] = deque()
        self._big: deque[tuple[Message, bytes]] = deque()  # encoded, waiting to be chunked
        self._stream: _Stream | None = None
        self._next_stream = 1

    def __len__(self) -> int:
        return len(self._queue) + len(self._big) + (self._stream is not None)

    def append(self, msg: Message) -> None:
        self._queue.append(msg)

    def take(self) -> Write:
        """Remove and frame what the next write carries (empty if nothing is pending)."""
        w = Write()
        batch: list[bytes] = []
        size = 0
        q = self._queue
        budget = 4 * self.batch_bytes
        while q and w.nbytes + size < budget:
            msg = q.popleft()
            try:
                data = encode_message(msg)
            except (OverflowError, TypeError, ValueError) as e:
                w.unencodable.append((msg, str(e)))
                continue
            if len(data) > self.chunk_size:
                self._big.append((msg, data))
                continue
            if batch and size + len(data) > self.batch_bytes:
                w.add(frame(FrameType.BATCH, batch_body(batch)))
                batch, size = [], 0
            batch.append(data)
            size += len(data)
            w.messages += 1
            w.snapshots += msg.type == MessageType.SNAPSHOT
        if batch:
            w.add(frame(FrameType.BATCH, batch_body(batch)))
        if self._stream is None and self._big:
            msg, data = self._big.popleft()
            count = -(-len(data) // self.chunk_size)
            chunks = split_chunks(self._next_stream, data, self.chunk_size)
            self._stream = _Stream(msg, chunks, count)
            self._next_stream += 1
        s = self._stream
        if s is not None:
            w.add(next(s.chunks))
            w.chunks += 1
            s.remaining -= 1
            if s.remaining == 0:
                self._stream = None
                w.messages += 1
                w.snapshots += s.msg.type == MessageType.SNAPSHOT
        return w

    def abort_stream(self) -> Message | None:
        """Forget the message being chunked (its connection broke; the receiver discards the
        partial payload) and return it, if any. The next connection starts the next one."""
        s, self._stream = self._stream, None
        return s.msg if s is not None else None

    def clear(self) -> list[Message]:
        """Remove and return every pending message."""
        out = list(self._queue) + [m for m, _ in self._big]
        if self._stream is not None:
            out.append(self._stream.msg)
        self._queue.clear()
        self._big.clear()
        self._stream = None
        return out
