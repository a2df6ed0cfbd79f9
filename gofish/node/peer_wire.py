"""The peer transport's wire format, sans-IO: frames, frame bodies, batches and chunks.

Frame layout (all integers big-endian)::

    length (4 bytes, uint32)  type (1 byte)  body (``length`` bytes, msgspec msgpack)

``length`` counts the body only. A receiver refuses a frame whose declared length exceeds its
limit as soon as the 5-byte header has arrived (before buffering the body), so a peer cannot
make it buffer more than ``max_frame_size + 5`` bytes of one frame.

Frame types and bodies (every body is an ``array_like`` msgspec Struct or a list of them,
decoded with a typed decoder; nothing is ever unpickled or eval'd):

==========  =====================================================================================
HELLO       dialer → acceptor: `Hello` (protocol version, dialer id, acceptor id, dialer nonce)
CHALLENGE   acceptor → dialer: `Challenge` (acceptor id, acceptor nonce)
PROOF       both ways: `Proof` (an HMAC over the transcript, see `gofish.node.peer_auth`)
REFUSED     acceptor → dialer, just before closing: `Refused` (a short reason for the log)
BATCH       dialer → acceptor, after authentication: a msgpack array of Raft `Message`s
CHUNK       dialer → acceptor, after authentication: `Chunk`, a slice of one encoded
            `Message` too large for a frame of its own (typically SNAPSHOT)
==========  =====================================================================================

A BATCH body is built from messages encoded one by one (the sender needs each size to decide
between batching and chunking): an array header followed by the concatenated encodings, which
is exactly the msgpack encoding of the list. `ChunkAssembler` rebuilds a chunked message.

Errors: everything malformed raises `FrameError` (a `PeerProtocolError`); the transport closes
the connection on it.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator
from typing import Annotated, Any, TypeVar

import msgspec

from gofish.raft.messages import Message

__all__ = [
    "HANDSHAKE_MAX_FRAME",
    "HEADER_SIZE",
    "NONCE_SIZE",
    "PROOF_SIZE",
    "PROTOCOL_VERSION",
    "Challenge",
    "Chunk",
    "ChunkAssembler",
    "FrameDecoder",
    "FrameError",
    "FrameType",
    "Hello",
    "PeerProtocolError",
    "Proof",
    "Refused",
    "batch_body",
    "decode_batch",
    "decode_body",
    "decode_message",
    "encode_frame",
    "encode_message",
    "frame",
    "split_chunks",
]

PROTOCOL_VERSION = 1
#: 4-byte length + 1-byte type.
HEADER_SIZE = 5
NONCE_SIZE = 32
PROOF_SIZE = 32  # HMAC-SHA256
#: Frame limit before the peer is authenticated: handshake bodies are under 100 bytes.
HANDSHAKE_MAX_FRAME = 1024

_HEADER = struct.Struct(">IB")
_MAX_ID = 2**63 - 1

NodeId = Annotated[int, msgspec.Meta(ge=1, le=_MAX_ID)]
Nonce = Annotated[bytes, msgspec.Meta(min_length=NONCE_SIZE, max_length=NONCE_SIZE)]
ProofBytes = Annotated[bytes, msgspec.Meta(min_length=PROOF_SIZE, max_length=PROOF_SIZE)]


class PeerProtocolError(Exception):
    """A peer broke the protocol (bad frame, bad body, spoofed sender, bad chunk)."""


class FrameError(PeerProtocolError):
    """A frame could not be read or its body could not be decoded."""


class FrameType(enum.IntEnum):
    HELLO = 1
    CHALLENGE = 2
    PROOF = 3
    REFUSED = 4
    BATCH = 5
    CHUNK = 6


_FRAME_TYPES = frozenset(int(t) for t in FrameType)


class Hello(msgspec.Struct, array_like=True, frozen=True):
    version: int
    node_id: NodeId
    to_id: NodeId
    nonce: Nonce


class Challenge(msgspec.Struct, array_like=True, frozen=True):
    node_id: NodeId
    nonce: Nonce


class Proof(msgspec.Struct, array_like=True, frozen=True):
    mac: ProofBytes


class Refused(msgspec.Struct, array_like=True, frozen=True):
    reason: Annotated[str, msgspec.Meta(max_length=200)]


class Chunk(msgspec.Struct, array_like=True, frozen=True):
    """Bytes ``[offset, offset + len(data))`` of stream ``stream_id``, whose whole payload (one
    encoded `Message`) is ``total`` bytes long."""

    stream_id: Annotated[int, msgspec.Meta(ge=1, le=_MAX_ID)]
    total: Annotated[int, msgspec.Meta(ge=1, le=_MAX_ID)]
    offset: Annotated[int, msgspec.Meta(ge=0, le=_MAX_ID)]
    data: Annotated[bytes, msgspec.Meta(min_length=1)]


_ENCODER = msgspec.msgpack.Encoder()
_BATCH_DECODER = msgspec.msgpack.Decoder(list[Message])
_MESSAGE_DECODER = msgspec.msgpack.Decoder(Message)
_DECODERS: dict[type, Any] = {
    cls: msgspec.msgpack.Decoder(cls) for cls in (Hello, Challenge, Proof, Refused, Chunk)
}

T = TypeVar("T", Hello, Challenge, Proof, Refused, Chunk)


def frame(ftype: FrameType, body: bytes) -> bytes:
    """One whole frame: header and ``body`` (already encoded)."""
    return _HEADER.pack(len(body), ftype) + body


def encode_frame(ftype: FrameType, value: Hello | Challenge | Proof | Refused | Chunk) -> bytes:
    return frame(ftype, _ENCODER.encode(value))


def decode_body(cls: type[T], body: bytes) -> T:
    """Decode a handshake or chunk body; raises `FrameError` if it is not a valid ``cls``."""
    try:
        value = _DECODERS[cls].decode(body)
    except msgspec.DecodeError as e:  # ValidationError is a DecodeError
        raise FrameError(f"bad {cls.__name__} body: {e}") from None
    assert isinstance(value, cls)
    return value


def encode_message(msg: Message) -> bytes:
    return _ENCODER.encode(msg)


def batch_body(encoded: list[bytes]) -> bytes:
    """The msgpack array of already encoded messages (see the module docstring)."""
    n = len(encoded)
    if n < 16:
        head = bytes((0x90 | n,))
    elif n < 1 << 16:
        head = b"\xdc" + n.to_bytes(2, "big")
    else:
        head = b"\xdd" + n.to_bytes(4, "big")
    return head + b"".join(encoded)


def decode_batch(body: bytes) -> list[Message]:
    try:
        return _BATCH_DECODER.decode(body)
    except msgspec.DecodeError as e:
        raise FrameError(f"bad BATCH body: {e}") from None


def decode_message(data: bytes | bytearray) -> Message:
    try:
        return _MESSAGE_DECODER.decode(data)
    except msgspec.DecodeError as e:
        raise FrameError(f"bad chunked message: {e}") from None


def split_chunks(stream_id: int, payload: bytes, chunk_size: int) -> Iterator[bytes]:
    """CHUNK frames carrying ``payload`` in order, each with at most ``chunk_size`` data bytes.
    Lazy, so a large payload is sliced one chunk at a time."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    total = len(payload)
    view = memoryview(payload)
    for offset in range(0, total, chunk_size):
        data = bytes(view[offset : offset + chunk_size])
        yield encode_frame(FrameType.CHUNK, Chunk(stream_id, total, offset, data))


class FrameDecoder:
    """Splits a byte stream into ``(FrameType, body)`` pairs.

    `feed` bytes as they arrive, then call `next` until it returns None (or iterate).
    ``max_frame_size`` may be changed between frames (the transport raises it after the
    handshake). Raises `FrameError` on an oversized length or an unknown type; after that the
    decoder must not be used again.
    """

    __slots__ = ("_buf", "_pos", "max_frame_size")

    def __init__(self, max_frame_size: int) -> None:
        self._buf = bytearray()
        self._pos = 0
        self.max_frame_size = max_frame_size

    def feed(self, data: bytes) -> None:
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as frames."""
        return len(self._buf) - self._pos

    def next(self) -> tuple[FrameType, bytes] | None:
        buf, pos = self._buf, self._pos
        if len(buf) - pos < HEADER_SIZE:
            return None
        length, ftype = _HEADER.unpack_from(buf, pos)
        if length > self.max_frame_size:
            raise FrameError(f"frame of {length} bytes exceeds the limit of {self.max_frame_size}")
        if ftype not in _FRAME_TYPES:
            raise FrameError(f"unknown frame type {ftype}")
        start = pos + HEADER_SIZE
        end = start + length
        if len(buf) < end:
            return None
        body = bytes(buf[start:end])
        self._pos = end
        return FrameType(ftype), body

    def __iter__(self) -> Iterator[tuple[FrameType, bytes]]:
        while (f := self.next()) is not None:
            yield f


class ChunkAssembler:
    """Rebuilds chunked messages on one connection. One stream at a time: chunks of a stream
    arrive in order, and a new stream starts only after the previous one completed.

    `feed` returns the complete payload when its last chunk arrives, else None. Raises
    `FrameError` on a declared size above ``max_size``, a gap, overlap or overrun, a change
    of ``total`` within a stream, or a chunk of another stream while one is incomplete.
    """

    __slots__ = ("_buf", "_stream", "_total", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._stream = 0
        self._total = 0
        self._buf = bytearray()

    @property
    def in_progress(self) -> bool:
        return self._stream != 0

    def feed(self, chunk: Chunk) -> bytes | None:
        if self._stream == 0:
            if chunk.offset != 0:
                raise FrameError(f"chunk stream {chunk.stream_id} starts at offset {chunk.offset}")
            if chunk.total > self.max_size:
                raise FrameError(
                    f"chunked message of {chunk.total} bytes exceeds the limit of {self.max_size}"
                )
            self._stream, self._total = chunk.stream_id, chunk.total
        elif chunk.stream_id != self._stream:
            raise FrameError(
                f"chunk of stream {chunk.stream_id} while stream {self._stream} is incomplete"
            )
        elif chunk.total != self._total or chunk.offset != len(self._buf):
            raise FrameError(
                f"chunk stream {chunk.stream_id}: got offset {chunk.offset} of {chunk.total}, "
                f"expected offset {len(self._buf)} of {self._total}"
            )
        if chunk.offset + len(chunk.data) > self._total:
            raise FrameError(f"chunk stream {chunk.stream_id} overruns its size {self._total}")
        self._buf += chunk.data
        if len(self._buf) < self._total:
            return None
        payload = bytes(self._buf)
        self._buf = bytearray()
        self._stream = self._total = 0
        return payload
