"""Byte layout of the RocksDB Raft log: keys, entry records and meta records. Pure, no I/O.

Rules (ADR 0006):

- A log key is the entry's index as 8 bytes big-endian, so RocksDB's byte order is index
  order. Nothing else is ever stored in the ``log`` column family.
- An entry record (the value under its key) is::

      offset  size  field
      0       1     record format version (1)
      1       1     entry type (`EntryType`)
      2       8     term, unsigned big-endian
      10      4     length n of data, unsigned big-endian
      14      n     data (opaque to the log)
      14+n    4     CRC-32 (zlib) of key || bytes[0 : 14+n], unsigned big-endian

  The checksum covers the key too, so a record that ends up under the wrong index fails it.
  The length field tells a truncated record (fewer bytes than announced) apart from one
  whose bytes changed (checksum mismatch).
- A meta record (``meta`` column family) is ``version (1) || msgpack payload || CRC-32 of
  key || version || payload``. Payloads are msgspec-encoded Structs, never pickle.

Every decoder either returns a value or raises `CodecError` whose message says what is
wrong ("truncated record ...", "checksum mismatch ..."); it never returns damaged data.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any, Final, TypeVar

import msgspec

from gofish.raft.types import Entry, EntryType

#: Current format version of entry and meta records.
RECORD_VERSION: Final = 1
#: Bytes of an entry record before ``data``.
ENTRY_HEADER_SIZE: Final = 14
#: Bytes of the checksum trailer.
CHECKSUM_SIZE: Final = 4
#: Largest ``data`` an entry record can frame (its length field is 32 bits).
MAX_DATA_SIZE: Final = 0xFFFF_FFFF
#: Largest index a key can hold.
MAX_INDEX: Final = 0xFFFF_FFFF_FFFF_FFFF
#: Exclusive upper bound above every log key (``delete_range(key(i), KEY_END)`` = "from i on").
KEY_END: Final = b"\xff" * 8 + b"\x00"

_HEADER = struct.Struct(">BBQI")
_CRC = struct.Struct(">I")
_ENTRY_TYPES: Final = frozenset(int(t) for t in EntryType)

T = TypeVar("T")


class CodecError(ValueError):
    """A record or key that does not decode; the message says what is wrong."""


# --- keys ---------------------------------------------------------------------------------
def index_key(index: int) -> bytes:
    """The log key of ``index`` (0 <= index <= `MAX_INDEX`)."""
    return index.to_bytes(8, "big")


def key_index(key: bytes) -> int:
    """The index a log key holds; `CodecError` if it is not 8 bytes."""
    if len(key) != 8:
        raise CodecError(f"malformed log key {key!r} ({len(key)} bytes, expected 8)")
    return int.from_bytes(key, "big")


# --- entries ------------------------------------------------------------------------------
def encode_entry(entry: Entry, key: bytes | None = None) -> bytes:
    """The record stored under ``key`` = ``index_key(entry.index)`` (pass it if you have
    it)."""
    data = entry.data
    if len(data) > MAX_DATA_SIZE:
        raise ValueError(f"entry {entry.index}: data of {len(data)} bytes is too large")
    head = _HEADER.pack(RECORD_VERSION, entry.type, entry.term, len(data))
    if key is None:
        key = index_key(entry.index)
    crc = zlib.crc32(data, zlib.crc32(head, zlib.crc32(key)))
    return b"".join((head, data, _CRC.pack(crc)))


def _check_entry(key: bytes, value: bytes) -> tuple[int, int, int]:
    """Verify an entry record; returns (type, term, data length) or raises `CodecError`."""
    size = len(value)
    if size < ENTRY_HEADER_SIZE + CHECKSUM_SIZE:
        raise CodecError(
            f"truncated record: {size} bytes, shorter than the "
            f"{ENTRY_HEADER_SIZE + CHECKSUM_SIZE}-byte frame"
        )
    version, etype, term, n = _HEADER.unpack_from(value)
    if version != RECORD_VERSION:
        raise CodecError(f"unknown record format version {version} (corrupt or newer)")
    expected = ENTRY_HEADER_SIZE + n + CHECKSUM_SIZE
    if size < expected:
        raise CodecError(f"truncated record: {size} bytes, its header announces {expected}")
    if size > expected:
        raise CodecError(f"record too long: {size} bytes, its header announces {expected}")
    (stored,) = _CRC.unpack_from(value, size - CHECKSUM_SIZE)
    computed = zlib.crc32(memoryview(value)[: size - CHECKSUM_SIZE], zlib.crc32(key))
    if stored != computed:
        raise CodecError(f"checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")
    if etype not in _ENTRY_TYPES:
        raise CodecError(f"unknown entry type {etype}")
    return etype, term, n


def decode_entry(key: bytes, value: bytes) -> Entry:
    """The entry a (key, record) pair holds, checksum verified; `CodecError` otherwise."""
    etype, term, n = _check_entry(key, value)
    return Entry(
        term=term,
        index=key_index(key),
        type=EntryType(etype),
        data=value[ENTRY_HEADER_SIZE : ENTRY_HEADER_SIZE + n],
    )


def entry_term(key: bytes, value: bytes) -> int:
    """The term of a verified record (what the open-time scan needs); `CodecError` otherwise."""
    return _check_entry(key, value)[1]


# --- meta records -------------------------------------------------------------------------
_ENCODER = msgspec.msgpack.Encoder()


def encode_meta(key: bytes, obj: Any) -> bytes:
    """A checksummed meta record holding ``obj`` (a msgspec-encodable value)."""
    body = bytes((RECORD_VERSION,)) + _ENCODER.encode(obj)
    return body + _CRC.pack(zlib.crc32(body, zlib.crc32(key)))


def decode_meta(key: bytes, value: bytes, typ: type[T]) -> T:
    """The value of a meta record, checksum verified and typed; `CodecError` otherwise."""
    if len(value) < 1 + CHECKSUM_SIZE:
        raise CodecError(f"truncated record: {len(value)} bytes")
    (stored,) = _CRC.unpack_from(value, len(value) - CHECKSUM_SIZE)
    body = memoryview(value)[: len(value) - CHECKSUM_SIZE]
    computed = zlib.crc32(body, zlib.crc32(key))
    if stored != computed:
        raise CodecError(f"checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")
    if body[0] != RECORD_VERSION:
        raise CodecError(f"unknown record format version {body[0]} (corrupt or newer)")
    try:
        return msgspec.msgpack.decode(body[1:], type=typ)
    except msgspec.DecodeError as exc:  # a valid checksum over a wrong shape: a bug or newer
        raise CodecError(f"undecodable payload: {exc}") from exc
