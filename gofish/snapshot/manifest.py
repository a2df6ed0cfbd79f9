"""The manifest of a checkpoint: what it holds and the checksums of its files. Pure, no I/O.

Rules (ADR 0010):

- A manifest file is ``MAGIC (4) || version (1) || msgpack payload || CRC-32 (4)``, the
  checksum (zlib CRC-32, big-endian) covering magic, version and payload, like the meta
  records of `gofish.log.codec`. The payload is a `Manifest` encoded as a msgpack *map*, so
  fields can be added later (with defaults) without a new version.
- A checkpoint is complete only if its manifest decodes and every file it lists has the
  recorded size and CRC-32. The manifest is written last: a directory without one is an
  interrupted write.
- `Manifest.dirname` is ``"<index>-<term>"``, the directory's name under ``checkpoints/``;
  a manifest found in a directory of another name is corrupt (it was copied or renamed).

`decode_manifest` either returns a `Manifest` or raises `CorruptCheckpoint` saying what is
wrong; it never returns damaged data.
"""

from __future__ import annotations

import struct
import zlib
from typing import Final

import msgspec

#: Current format version of a checkpoint (manifest and files).
FORMAT_VERSION: Final = 1
#: First bytes of a manifest file.
MAGIC: Final = b"GFCP"
#: File name of the manifest inside a checkpoint directory.
MANIFEST_NAME: Final = "manifest"
#: File name of the machine-wide state inside a checkpoint directory.
STATE_NAME: Final = "state.zst"

_CRC = struct.Struct(">I")


class CheckpointError(Exception):
    """A checkpoint cannot be used; the message says which and why."""


class CorruptCheckpoint(CheckpointError):
    """A checkpoint's bytes are damaged, missing or incomplete."""


class IncompatibleCheckpoint(CheckpointError):
    """A sound checkpoint this node cannot load: a newer format, another partition count, or
    values of a data type no loaded plugin registers."""


def partition_file(k: int) -> str:
    """File name of partition ``k``'s data inside a checkpoint directory."""
    return f"p{k}.zst"


class FileInfo(msgspec.Struct, array_like=True, frozen=True):
    """One file of a checkpoint: name, size in bytes, zlib CRC-32 of its bytes, and how many
    keys it holds (0 for the state file)."""

    name: str
    size: int
    crc32: int
    keys: int = 0


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """A checkpoint of the state machine after applying log entry ``index`` (of ``term``).

    ``voters``/``learners``: the membership as of ``index``; ``members``: the node's member
    records (opaque bytes, keyed by node id, e.g. addresses); ``partitions``: the partition
    count P (files ``p0.zst`` .. ``p{P-1}.zst``); ``types``: names of the data types whose
    values the files hold (a loader needs each registered); ``keys``: total keys;
    ``created_ms``: wall-clock creation time (informative only); ``files``: every file with
    its size and checksum, the state file included.
    """

    format: int = FORMAT_VERSION
    index: int
    term: int
    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()
    members: dict[int, bytes] = {}
    partitions: int
    types: tuple[str, ...] = ()
    keys: int = 0
    created_ms: int = 0
    files: tuple[FileInfo, ...] = ()

    @property
    def dirname(self) -> str:
        """The checkpoint's directory name: ``"<index>-<term>"``."""
        return f"{self.index}-{self.term}"

    def file(self, name: str) -> FileInfo | None:
        """The entry of the file called ``name``, or None."""
        for f in self.files:
            if f.name == name:
                return f
        return None


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Manifest)


def encode_manifest(m: Manifest) -> bytes:
    """The bytes of a manifest file holding ``m``."""
    body = MAGIC + bytes((FORMAT_VERSION,)) + _ENCODER.encode(m)
    return body + _CRC.pack(zlib.crc32(body))


def decode_manifest(data: bytes) -> Manifest:
    """The manifest in ``data``, checksum verified; `CorruptCheckpoint` if damaged,
    `IncompatibleCheckpoint` if written by a newer format."""
    if len(data) < len(MAGIC) + 1 + _CRC.size:
        raise CorruptCheckpoint(f"manifest truncated: {len(data)} bytes")
    if data[: len(MAGIC)] != MAGIC:
        raise CorruptCheckpoint("manifest: bad magic (not a gofish checkpoint manifest)")
    (stored,) = _CRC.unpack_from(data, len(data) - _CRC.size)
    body = memoryview(data)[: len(data) - _CRC.size]
    computed = zlib.crc32(body)
    if stored != computed:
        raise CorruptCheckpoint(
            f"manifest checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
        )
    version = body[len(MAGIC)]
    if version != FORMAT_VERSION:
        raise IncompatibleCheckpoint(f"manifest format version {version} (this node reads "
                                     f"{FORMAT_VERSION}): written by a newer gofish?")
    try:
        m = _DECODER.decode(body[len(MAGIC) + 1 :])
    except msgspec.DecodeError as exc:  # a valid checksum over a wrong shape
        raise CorruptCheckpoint(f"manifest: undecodable payload: {exc}") from exc
    if m.format != FORMAT_VERSION:
        raise IncompatibleCheckpoint(f"checkpoint format {m.format} (this node reads "
                                     f"{FORMAT_VERSION})")
    return m
