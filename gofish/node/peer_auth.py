"""Mutual authentication of peers with a shared cluster secret, and loading that secret.

The handshake (frames in `gofish.node.peer_wire`; the dialer D opened the TCP connection to
the acceptor A)::

    D → A  HELLO      version, D's id, A's id, nonce_d (32 random bytes)
    A → D  CHALLENGE  A's id, nonce_a (32 random bytes)
    D → A  PROOF      dialer_proof  = HMAC-SHA256(secret, transcript("D"))
    A → D  PROOF      acceptor_proof = HMAC-SHA256(secret, transcript("A"))   (or REFUSED)

``transcript(role) = LABEL ‖ role ‖ D's id (8 bytes) ‖ A's id (8 bytes) ‖ nonce_d ‖ nonce_a``,
fixed-length fields, so no two different handshakes have the same transcript. Each side proves
knowledge of the secret over a nonce the *other* side just drew (no replay of an old proof),
bound to both node ids (a proof for one pair of nodes is worthless for another) and to its
role (a proof cannot be reflected back to its maker). Proofs are compared in constant time.
A sends its proof only after checking D's, so a stranger learns nothing from A. See
docs/adr/0008-peer-transport.md for the threat model.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import stat
import struct
from pathlib import Path

from gofish.node.peer_wire import NONCE_SIZE

__all__ = [
    "AuthError",
    "acceptor_proof",
    "dialer_proof",
    "load_cluster_secret",
    "new_nonce",
    "verify_proof",
]

log = logging.getLogger(__name__)

LABEL = b"gofish peer auth v1\x00"
_IDS = struct.Struct(">QQ")
#: Secrets shorter than this are accepted with a warning.
MIN_SECRET_LEN = 16


class AuthError(Exception):
    """The other side failed to prove it knows the cluster secret, or refused our proof.
    ``peer_id`` is the node id the other side claimed (0 if unknown)."""

    def __init__(self, message: str, peer_id: int = 0) -> None:
        super().__init__(message)
        self.peer_id = peer_id


def new_nonce() -> bytes:
    return os.urandom(NONCE_SIZE)


def _transcript(role: bytes, dialer: int, acceptor: int, nonce_d: bytes, nonce_a: bytes) -> bytes:
    if len(nonce_d) != NONCE_SIZE or len(nonce_a) != NONCE_SIZE:
        raise ValueError("nonces must be NONCE_SIZE bytes")
    return LABEL + role + _IDS.pack(dialer, acceptor) + nonce_d + nonce_a


def dialer_proof(
    secret: bytes, dialer: int, acceptor: int, nonce_d: bytes, nonce_a: bytes
) -> bytes:
    """The dialer's proof of the secret for this handshake (32 bytes)."""
    msg = _transcript(b"D", dialer, acceptor, nonce_d, nonce_a)
    return hmac.new(secret, msg, hashlib.sha256).digest()


def acceptor_proof(
    secret: bytes, dialer: int, acceptor: int, nonce_d: bytes, nonce_a: bytes
) -> bytes:
    """The acceptor's proof of the secret for this handshake (32 bytes)."""
    msg = _transcript(b"A", dialer, acceptor, nonce_d, nonce_a)
    return hmac.new(secret, msg, hashlib.sha256).digest()


def verify_proof(expected: bytes, got: bytes) -> bool:
    """Constant-time comparison of a received proof with the expected one."""
    return hmac.compare_digest(expected, got)


def load_cluster_secret(path: str | os.PathLike[str]) -> bytes:
    """Read the cluster secret from ``path``: its bytes with surrounding whitespace stripped.

    Raises `OSError` if the file cannot be read and `ValueError` if it holds no secret.
    Logs a warning if the file is readable by group or others (it should be mode 0600), or
    if the secret is shorter than `MIN_SECRET_LEN` bytes.
    """
    p = Path(path)
    secret = p.read_bytes().strip()
    if not secret:
        raise ValueError(f"cluster secret file {p} is empty")
    mode = p.stat().st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning(
            "cluster secret file %s is readable by group or others (mode %03o); "
            "restrict it with chmod 600",
            p,
            stat.S_IMODE(mode),
        )
    if len(secret) < MIN_SECRET_LEN:
        log.warning(
            "cluster secret in %s is only %d bytes; use at least %d random bytes",
            p,
            len(secret),
            MIN_SECRET_LEN,
        )
    return secret
