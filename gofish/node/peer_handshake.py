"""The peer handshake over a byte stream: the message sequence of `gofish.node.peer_auth`.

The dialer calls `dial_handshake`, the acceptor `accept_handshake`; both read frames with the
handshake's small frame limit (`HANDSHAKE_MAX_FRAME`), so an unauthenticated peer cannot make
this node buffer more than about 1 KiB.
"""

from __future__ import annotations

from typing import Protocol

from gofish.node.peer_auth import (
    AuthError,
    acceptor_proof,
    dialer_proof,
    new_nonce,
    verify_proof,
)
from gofish.node.peer_wire import (
    HANDSHAKE_MAX_FRAME,
    PROTOCOL_VERSION,
    Challenge,
    FrameDecoder,
    FrameType,
    Hello,
    PeerProtocolError,
    Proof,
    Refused,
    decode_body,
    encode_frame,
)

__all__ = ["ByteReader", "ByteWriter", "accept_handshake", "dial_handshake", "read_frame"]

READ_SIZE = 64 * 1024


class ByteReader(Protocol):
    """What the handshake reads from: an `asyncio.StreamReader` or the transport's inbound
    protocol (`gofish.node.transport`)."""

    async def read(self, n: int = -1) -> bytes: ...


class ByteWriter(Protocol):
    """What the handshake writes to: an `asyncio.StreamWriter` or the inbound protocol."""

    def write(self, data: bytes) -> None: ...


async def dial_handshake(
    reader: ByteReader, writer: ByteWriter, secret: bytes, me: int, pid: int
) -> None:
    """Authenticate to node ``pid`` as node ``me`` on a connection this node opened.

    Raises `AuthError` if ``pid`` refuses our proof or fails to prove the secret, and
    `PeerProtocolError` on anything malformed, a refusal for another reason, a different node
    answering, or EOF. Callers bound it with a timeout.
    """
    decoder = FrameDecoder(HANDSHAKE_MAX_FRAME)
    nonce_d = new_nonce()
    writer.write(encode_frame(FrameType.HELLO, Hello(PROTOCOL_VERSION, me, pid, nonce_d)))
    ftype, body = await read_frame(reader, decoder)
    if ftype is FrameType.REFUSED:
        raise PeerProtocolError(f"refused: {decode_body(Refused, body).reason!r}")
    if ftype is not FrameType.CHALLENGE:
        raise PeerProtocolError(f"expected CHALLENGE, got {ftype.name}")
    ch = decode_body(Challenge, body)
    if ch.node_id != pid:
        raise PeerProtocolError(f"the node there says it is node {ch.node_id}")
    writer.write(encode_frame(
        FrameType.PROOF, Proof(dialer_proof(secret, me, pid, nonce_d, ch.nonce))
    ))
    ftype, body = await read_frame(reader, decoder)
    if ftype is FrameType.REFUSED:
        reason = decode_body(Refused, body).reason
        raise AuthError(f"peer refused our proof ({reason!r}); wrong cluster secret?", pid)
    if ftype is not FrameType.PROOF:
        raise PeerProtocolError(f"expected PROOF, got {ftype.name}")
    expected = acceptor_proof(secret, me, pid, nonce_d, ch.nonce)
    if not verify_proof(expected, decode_body(Proof, body).mac):
        raise AuthError("peer failed to prove it knows the cluster secret", pid)
    if decoder.buffered:
        raise PeerProtocolError("peer sent data after its proof")


async def accept_handshake(
    reader: ByteReader,
    writer: ByteWriter,
    decoder: FrameDecoder,
    secret: bytes,
    me: int,
) -> int:
    """Authenticate the dialer of an inbound connection to node ``me``; returns its node id.

    ``decoder`` keeps whatever arrived after the dialer's proof. Raises `AuthError` (with the
    claimed id) on a wrong proof, after sending REFUSED; `PeerProtocolError` on anything
    malformed, a wrong protocol version or node id (REFUSED is sent too), or EOF.
    """
    ftype, body = await read_frame(reader, decoder)
    if ftype is not FrameType.HELLO:
        raise PeerProtocolError(f"expected HELLO, got {ftype.name}")
    hello = decode_body(Hello, body)
    reason = ""
    if hello.version != PROTOCOL_VERSION:
        reason = f"unsupported protocol version {hello.version}"
    elif hello.to_id != me:
        reason = f"this is node {me}, not {hello.to_id}"
    elif hello.node_id == me:
        reason = f"peer claims this node's own id {me}"
    if reason:
        writer.write(encode_frame(FrameType.REFUSED, Refused(reason)))
        raise PeerProtocolError(reason)
    nonce_a = new_nonce()
    writer.write(encode_frame(FrameType.CHALLENGE, Challenge(me, nonce_a)))
    ftype, body = await read_frame(reader, decoder)
    if ftype is not FrameType.PROOF:
        raise PeerProtocolError(f"expected PROOF, got {ftype.name}")
    proof = decode_body(Proof, body)
    d, a = hello.node_id, me
    if not verify_proof(dialer_proof(secret, d, a, hello.nonce, nonce_a), proof.mac):
        writer.write(encode_frame(FrameType.REFUSED, Refused("authentication failed")))
        raise AuthError("wrong proof of the cluster secret", d)
    writer.write(encode_frame(
        FrameType.PROOF, Proof(acceptor_proof(secret, d, a, hello.nonce, nonce_a))
    ))
    return d


async def read_frame(
    reader: ByteReader, decoder: FrameDecoder
) -> tuple[FrameType, bytes]:
    """The next frame; raises `PeerProtocolError` on EOF, `FrameError` on a bad frame."""
    while (f := decoder.next()) is None:
        data = await reader.read(READ_SIZE)
        if not data:
            raise PeerProtocolError("connection closed during the handshake")
        decoder.feed(data)
    return f
