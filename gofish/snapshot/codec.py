"""Checkpoint files: one partition's keys, values and expiry times; the machine-wide state;
and the event-loop side of taking a checkpoint (`capture_partition`, `CheckpointCapture`).

Rules (ADR 0010):

- A partition file ``p<k>.zst`` is one zstd frame (level `ZSTD_LEVEL`, content checksum on)
  of records, each ``length (8 bytes, big-endian) || msgpack``: first a `PartHeader`, then
  `Batch` records until the header's key count is reached, then the end of the stream.
  Anything else (a short record, a key too many or too few, bytes after the last batch) is
  `CorruptCheckpoint`.
- A `Batch` is columnar: ``keys``, one type byte per key (``kinds``, an index into the batch's
  own ``names``: data type names as `TypeSpec.name`), ``values`` as the type's
  `TypeSpec.dump` gives them, and the batch positions and times of the keys that have an
  expiry. Keys appear in the partition's dict order and are restored in that order (SCAN,
  KEYS and RANDOMKEY depend on it). A batch holds at most `BATCH_KEYS` keys and about
  `BATCH_BYTES` of values (one larger value gets a batch of its own), so neither writing
  nor reading ever builds one object for a whole partition.
- Every value goes through its type's registry entry: ``dump`` to write, ``load`` to read.
  A value whose Python type has no `TypeSpec` cannot be written (`CheckpointError` naming
  the key and type); a type name the loading table does not know is
  `IncompatibleCheckpoint` (load the plugin that provides it).
- Expiry times of keys absent from the partition's data ("orphans": the keyspace never
  makes them, but they would change a later ``SET ... KEEPTTL``) travel in the header, so
  a restored partition equals the original. The ``expires`` dict is restored in key order,
  not its original order: no apply depends on that order (only the leader's choice of
  which expired keys to propose first).
- The state file ``state.zst`` is one zstd frame of one record: a `StateRecord` holding
  `StateMachine.export_state`'s data.

Copy-on-write: `capture_partition` runs on the event loop and costs a C-level copy of the
partition's two dicts and a C-level scan of the values' types; only if some value is not
``bytes``, a Python pass replaces each such (mutable) value by ``TypeSpec.copy(v)`` (the
copy COPY makes: O(elements) of that value). So the snapshot shares nothing mutable with
the live partition and can be encoded in a thread while apply goes on. Strings are
immutable ``bytes`` and are shared, not copied.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import IO, Any, BinaryIO, Final, cast

import msgspec
import zstandard

from gofish.snapshot.manifest import (
    FORMAT_VERSION,
    CheckpointError,
    CorruptCheckpoint,
    FileInfo,
    IncompatibleCheckpoint,
)
from gofish.statemachine.entry import Command
from gofish.statemachine.keyspace import Partition
from gofish.statemachine.machine import StateMachine
from gofish.statemachine.registry import CommandTable, TypeSpec

#: zstd compression level of every checkpoint file.
ZSTD_LEVEL: Final = 3
#: Most keys in one batch record.
BATCH_KEYS: Final = 4096
#: About the most value bytes in one batch (collections count ~32 bytes per element).
BATCH_BYTES: Final = 1 << 20
#: Bytes of compressed output collected before it is written to the file.
WRITE_CHUNK: Final = 1 << 20
#: Bytes read from a file at a time.
READ_CHUNK: Final = 1 << 20

_LEN = struct.Struct(">Q")
#: value types shared (not copied) by snapshots: immutable
_IMMUTABLE: Final = frozenset((bytes,))

#: progress callback: ``(keys done, keys in total)``
Progress = Callable[[int, int], None]


class PartHeader(msgspec.Struct, array_like=True, frozen=True):
    """First record of a partition file: format, partition index, number of keys, and the
    expiry times of keys the partition's data does not hold."""

    format: int
    partition: int
    keys: int
    orphans: list[tuple[bytes, int]] = []


class Batch(msgspec.Struct, array_like=True, frozen=True):
    """Consecutive keys of a partition (see the module rules)."""

    keys: list[bytes]
    kinds: bytes
    names: list[str]
    values: list[Any]
    exp_idx: list[int] = []
    exp_at: list[int] = []


class StateRecord(msgspec.Struct, array_like=True, frozen=True):
    """The one record of ``state.zst``."""

    format: int
    state: Any


# --- the loop side --------------------------------------------------------------------------
class PartitionSnapshot:
    """One partition's keys as of one log index, owned by whoever encodes it: nothing else
    may change ``data``, ``expires`` or the values in them (see `capture_partition`)."""

    __slots__ = ("index", "data", "expires")

    def __init__(self, index: int, data: dict[bytes, Any], expires: dict[bytes, int]) -> None:
        self.index = index
        self.data = data
        self.expires = expires

    def __len__(self) -> int:
        return len(self.data)


def capture_partition(p: Partition, table: CommandTable, *, copy: bool = True) -> PartitionSnapshot:
    """A snapshot of ``p`` that later changes of ``p`` cannot touch (see the module notes).

    With ``copy=False`` the snapshot *is* the live partition: only for a caller that changes
    nothing until the snapshot is encoded (a synchronous checkpoint). Raises
    `CheckpointError` for a value whose type no `TypeSpec` describes.
    """
    if not copy:
        return PartitionSnapshot(p.index, p.data, p.expires)
    data = p.data.copy()
    if not set(map(type, data.values())) - _IMMUTABLE:  # C speed: the usual all-strings case
        return PartitionSnapshot(p.index, data, p.expires.copy())
    types = table.types
    for key, v in data.items():  # overwriting values does not resize the dict
        if type(v) is not bytes:
            spec = types.get(type(v))
            if spec is None:
                raise _untyped(p.index, key, v)
            data[key] = spec.copy(v)
    return PartitionSnapshot(p.index, data, p.expires.copy())


def _untyped(k: int, key: bytes, v: object) -> CheckpointError:
    return CheckpointError(
        f"partition {k}: key {key[:64]!r} holds a {type(v).__module__}.{type(v).__qualname__}, "
        "a type no loaded data type registers: cannot checkpoint it"
    )


# --- copy-on-write capture of a whole machine (event loop side) ----------------------------
def partitions_touched(machine: StateMachine, cmd: Command) -> set[int] | None:
    """The partitions applying ``cmd`` may change, or None for "any of them".

    Every key argument of every command counts (a read inside MULTI deletes an expired key
    it looks at); a keyless write (FLUSHALL) is None; a keyless read (KEYS, SCAN, DBSIZE)
    and an unknown command change nothing. Relies on the `CommandSpec` key positions, as
    routing does."""
    table = machine.table
    ks = machine.ks
    out: set[int] = set()
    for argv in cmd.argvs:
        spec = table.lookup(argv[0]) if argv else None
        if spec is None or spec.is_node:
            continue
        try:
            keys = spec.keys(argv)
        except Exception:  # a malformed argv: cannot tell, assume the worst
            return None
        if not keys:
            if not spec.is_write:
                continue
            return None
        for key in keys:
            out.add(ks.partition_index(key))
    return out


class CheckpointCapture:
    """Loop-side half of a checkpoint taken after entry ``index`` while apply goes on.

    Construct it right after entry ``index`` was applied: it takes the machine-wide state
    (``state``) then. Before applying each later command entry call `before_apply` (other
    entries, conf changes and empty ones, change no partition); when the loop has time call
    `capture_next`. Each returns partition snapshots to hand to a
    `CheckpointWriter` (in a worker thread). ``done`` when every partition was captured.
    Each capture costs one `capture_partition` on the loop (see `gofish.snapshot.codec`).
    """

    def __init__(self, machine: StateMachine, index: int) -> None:
        self.machine = machine
        self.index = index
        self.state: dict[str, Any] = machine.export_state()
        self.expected_keys = machine.ks.dbsize()
        self._pending = dict.fromkeys(range(len(machine.ks.partitions)))

    @property
    def done(self) -> bool:
        return not self._pending

    def pending(self) -> int:
        """Partitions not captured yet."""
        return len(self._pending)

    def _take(self, k: int) -> PartitionSnapshot:
        del self._pending[k]
        m = self.machine
        return capture_partition(m.ks.partitions[k], m.table)

    def before_apply(self, cmd: Command) -> list[PartitionSnapshot]:
        """Capture the not yet captured partitions ``cmd`` may change (all of them if it
        cannot be told); call it before ``machine.apply(cmd)``."""
        if not self._pending:
            return []
        touched = partitions_touched(self.machine, cmd)
        if touched is None:
            return [self._take(k) for k in list(self._pending)]
        return [self._take(k) for k in sorted(touched) if k in self._pending]

    def capture_next(self) -> PartitionSnapshot | None:
        """Capture one more partition (lowest index first); None when all are captured."""
        if not self._pending:
            return None
        return self._take(next(iter(self._pending)))


# --- writing --------------------------------------------------------------------------------
class _Out:
    """zstd-compresses what it is given into a file, counting size and CRC-32 of the file."""

    def __init__(self, f: BinaryIO, level: int) -> None:
        self._f = f
        self._z = zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()
        self._pending: list[bytes] = []
        self._pending_size = 0
        self.size = 0
        self.crc = 0

    def record(self, payload: bytes) -> None:
        out = self._z.compress(_LEN.pack(len(payload)))
        if out:
            self._emit(out)
        out = self._z.compress(payload)
        if out:
            self._emit(out)

    def _emit(self, out: bytes) -> None:
        self._pending.append(out)
        self._pending_size += len(out)
        if self._pending_size >= WRITE_CHUNK:
            self._write()

    def _write(self) -> None:
        chunk = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        self._f.write(chunk)
        self.size += len(chunk)
        self.crc = zlib.crc32(chunk, self.crc)

    def close(self) -> None:
        self._emit(self._z.flush())
        self._write()


def _weight(v: Any) -> int:
    if type(v) is bytes:
        return len(v)
    try:
        return 32 * len(v) + 32
    except TypeError:
        return 1024


def _records(
    snap: PartitionSnapshot, table: CommandTable, encoder: msgspec.msgpack.Encoder
) -> Iterator[tuple[bytes, Batch]]:
    """The snapshot's keys as encoded `Batch` records (and the batches), in dict order."""
    data = snap.data
    expires = snap.expires
    types = table.types
    str_spec = types.get(bytes)
    keys = list(data)
    values = list(data.values())  # the same order as keys
    for start in range(0, len(keys), BATCH_KEYS):
        chunk = keys[start : start + BATCH_KEYS]
        vals = values[start : start + BATCH_KEYS]
        kinds_seen = set(map(type, vals))
        if str_spec is not None and len(kinds_seen) == 1 and bytes in kinds_seen:
            # the common case, only strings: one batch unless the strings are large
            b = _batch(chunk, bytes(len(chunk)), [str_spec.name],
                       list(map(str_spec.dump, vals)), expires)
            payload = encoder.encode(b)
            if len(payload) <= 4 * BATCH_BYTES or len(chunk) == 1:
                yield payload, b
                continue
        for b in _mixed(snap.index, chunk, vals, types, expires):
            yield encoder.encode(b), b


def _mixed(
    k: int, keys: list[bytes], vals: list[Any], types: dict[type, TypeSpec],
    expires: dict[bytes, int],
) -> Iterator[Batch]:
    """Batches of keys of any types, cut by `BATCH_BYTES`."""
    bkeys: list[bytes] = []
    bvals: list[Any] = []
    kinds = bytearray()
    names: list[str] = []
    index_of: dict[type, int] = {}
    weight = 0
    for key, v in zip(keys, vals, strict=True):
        t = type(v)
        w = _weight(v)
        if bkeys and weight + w > BATCH_BYTES:
            yield _batch(bkeys, bytes(kinds), names, bvals, expires)
            bkeys, bvals, kinds, names, index_of, weight = [], [], bytearray(), [], {}, 0
        i = index_of.get(t)
        if i is None:
            spec = types.get(t)
            if spec is None:
                raise _untyped(k, key, v)
            i = index_of[t] = len(names)
            names.append(spec.name)
        bkeys.append(key)
        bvals.append(types[t].dump(v))
        kinds.append(i)
        weight += w
    if bkeys:
        yield _batch(bkeys, bytes(kinds), names, bvals, expires)


def _batch(keys: list[bytes], kinds: bytes, names: list[str], values: list[Any],
           expires: dict[bytes, int]) -> Batch:
    if not expires:
        return Batch(keys, kinds, names, values)
    idx = [i for i, key in enumerate(keys) if key in expires]
    return Batch(keys, kinds, names, values, idx, [expires[keys[i]] for i in idx])


def write_partition_file(
    path: str | os.PathLike[str],
    snap: PartitionSnapshot,
    table: CommandTable,
    *,
    level: int = ZSTD_LEVEL,
    on_keys: Callable[[int], None] | None = None,
) -> tuple[FileInfo, set[str]]:
    """Write ``snap`` as a new partition file at ``path`` (which must not exist), fsync it,
    and return its `FileInfo` (name: the path's base name) and the set of type names it
    holds. ``on_keys(n)`` is called after each batch of ``n`` keys. Raises
    `CheckpointError` for an unregistered value type (the partial file is left for the
    caller to remove)."""
    data = snap.data
    expires = snap.expires
    orphans = [(key, at) for key, at in expires.items() if key not in data] if expires else []
    encoder = msgspec.msgpack.Encoder()
    names: set[str] = set()
    with open(path, "xb") as f:
        out = _Out(f, level)
        out.record(encoder.encode(PartHeader(FORMAT_VERSION, snap.index, len(data), orphans)))
        for payload, b in _records(snap, table, encoder):
            out.record(payload)
            names.update(b.names)
            if on_keys is not None:
                on_keys(len(b.keys))
        out.close()
        f.flush()
        os.fsync(f.fileno())
    return FileInfo(os.path.basename(path), out.size, out.crc, len(data)), names


def write_state_file(
    path: str | os.PathLike[str], state: Any, *, level: int = ZSTD_LEVEL
) -> FileInfo:
    """Write ``state`` (msgpack-able data, e.g. `StateMachine.export_state`) as a new state
    file at ``path``, fsync it, and return its `FileInfo`."""
    with open(path, "xb") as f:
        out = _Out(f, level)
        out.record(msgspec.msgpack.encode(StateRecord(FORMAT_VERSION, state)))
        out.close()
        f.flush()
        os.fsync(f.fileno())
    return FileInfo(os.path.basename(path), out.size, out.crc, 0)


# --- reading --------------------------------------------------------------------------------
class _In:
    """A raw file reader that counts the size and CRC-32 of what was read."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.size = 0
        self.crc = 0

    def read(self, n: int = -1) -> bytes:
        b = self._f.read(n)
        self.size += len(b)
        self.crc = zlib.crc32(b, self.crc)
        return b


class _Records:
    """Length-prefixed records of a decompressed stream."""

    def __init__(self, f: BinaryIO, what: str) -> None:
        self.raw = _In(f)
        self._z = zstandard.ZstdDecompressor().stream_reader(
            cast("IO[bytes]", self.raw), read_size=READ_CHUNK, closefd=False
        )  # it only calls read(size)
        self._what = what

    def _exact(self, n: int) -> bytes:
        parts = []
        left = n
        while left:
            b = self._z.read(min(left, 1 << 24))
            if not b:
                break
            parts.append(b)
            left -= len(b)
        got = b"".join(parts) if len(parts) != 1 else parts[0]
        if len(got) != n:
            raise CorruptCheckpoint(f"{self._what}: truncated (a record is cut short)")
        return got

    def next(self) -> bytes:
        (n,) = _LEN.unpack(self._exact(_LEN.size))
        return self._exact(n)

    def expect_end(self) -> None:
        """Raise unless the decompressed stream ends here; then read the raw file to its
        end (so ``raw`` has counted every byte)."""
        if self._z.read(1):
            raise CorruptCheckpoint(f"{self._what}: data after the last record")
        while self.raw.read(READ_CHUNK):
            pass


def _decode(decoder: msgspec.msgpack.Decoder[Any], payload: bytes, what: str) -> Any:
    try:
        return decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise CorruptCheckpoint(f"{what}: undecodable record: {exc}") from exc


def read_partition_file(
    path: str | os.PathLike[str],
    k: int,
    table: CommandTable,
    *,
    on_keys: Callable[[int], None] | None = None,
) -> tuple[dict[bytes, Any], dict[bytes, int], int, int]:
    """Decode partition ``k``'s file: ``(data, expires, file size, file CRC-32)``, values
    rebuilt by their types' ``load``. Raises `CorruptCheckpoint` for anything malformed
    (including zstd errors), `IncompatibleCheckpoint` for a type ``table`` lacks. The
    caller compares size and CRC with the manifest."""
    what = f"partition file p{k}"
    try:
        with open(path, "rb") as f:
            recs = _Records(f, what)
            head: PartHeader = _decode(msgspec.msgpack.Decoder(PartHeader), recs.next(), what)
            if head.format != FORMAT_VERSION:
                raise IncompatibleCheckpoint(f"{what}: format {head.format}")
            if head.partition != k:
                raise CorruptCheckpoint(f"{what} holds partition {head.partition}")
            data: dict[bytes, Any] = {}
            expires: dict[bytes, int] = {}
            batch_decoder = msgspec.msgpack.Decoder(Batch)
            count = 0
            while count < head.keys:
                b: Batch = _decode(batch_decoder, recs.next(), what)
                _load_batch(b, table, data, expires, what)
                count += len(b.keys)
                if on_keys is not None:
                    on_keys(len(b.keys))
            recs.expect_end()
    except zstandard.ZstdError as exc:
        raise CorruptCheckpoint(f"{what}: {exc}") from exc
    if count != head.keys or len(data) != head.keys:
        raise CorruptCheckpoint(
            f"{what}: {len(data)} distinct keys in {count} entries, its header says {head.keys}"
        )
    for key, at in head.orphans:
        if key in data or key in expires:
            raise CorruptCheckpoint(f"{what}: orphan expiry of key {key[:64]!r} is not one")
        expires[key] = at
    return data, expires, recs.raw.size, recs.raw.crc


def _load_batch(b: Batch, table: CommandTable, data: dict[bytes, Any],
                expires: dict[bytes, int], what: str) -> None:
    n = len(b.keys)
    if len(b.kinds) != n or len(b.values) != n or len(b.exp_idx) != len(b.exp_at) or not n:
        raise CorruptCheckpoint(f"{what}: batch columns of different lengths")
    specs = []
    for name in b.names:
        spec = table.types_by_name.get(name)
        if spec is None:
            raise IncompatibleCheckpoint(
                f"{what} holds values of type {name!r}, which no loaded data type registers "
                "(install and load the plugin that provides it)"
            )
        specs.append(spec)
    try:
        if len(specs) == 1 and b.kinds.count(0) == n:
            data.update(zip(b.keys, map(specs[0].load, b.values), strict=True))
        else:
            for key, kind, v in zip(b.keys, b.kinds, b.values, strict=True):
                if kind >= len(specs):
                    raise CorruptCheckpoint(f"{what}: type index {kind} out of range")
                data[key] = specs[kind].load(v)
    except CheckpointError:
        raise
    except Exception as exc:  # a type's load refusing its input: damaged or a plugin bug
        raise CorruptCheckpoint(
            f"{what}: a value of type {'/'.join(b.names)} does not load: {exc!r}"
        ) from exc
    keys = b.keys
    for i, at in zip(b.exp_idx, b.exp_at, strict=True):
        if not 0 <= i < n:
            raise CorruptCheckpoint(f"{what}: expiry of key position {i} out of range")
        expires[keys[i]] = at


def read_state_file(path: str | os.PathLike[str]) -> tuple[Any, int, int]:
    """Decode the state file: ``(state, file size, file CRC-32)``; `CorruptCheckpoint` for
    anything malformed."""
    what = "state file"
    try:
        with open(path, "rb") as f:
            recs = _Records(f, what)
            rec: StateRecord = _decode(msgspec.msgpack.Decoder(StateRecord), recs.next(), what)
            recs.expect_end()
    except zstandard.ZstdError as exc:
        raise CorruptCheckpoint(f"{what}: {exc}") from exc
    if rec.format != FORMAT_VERSION:
        raise IncompatibleCheckpoint(f"{what}: format {rec.format}")
    return rec.state, recs.raw.size, recs.raw.crc


def file_crc(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(size, CRC-32)`` of a file's bytes, read in chunks."""
    size = 0
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(READ_CHUNK):
            size += len(chunk)
            crc = zlib.crc32(chunk, crc)
    return size, crc
