"""The durable Raft log: the storage protocol on RocksDB (ADR 0006).

Layout: one RocksDB with column family ``log`` (8-byte big-endian index → checksummed
entry record, see `gofish.log.codec`) and ``meta`` (checksummed records: ``format``,
``hard_state``, ``conf_state``, ``applied``, ``log_start`` — index and term of the last
compacted entry — and ``snapshot`` metadata). It answers the same reads and takes the same
writes as `gofish.log.memory.MemoryStorage`, so the driver can use either.

Rules:

- **Index**: ``first_index() - 1`` is ``log_start`` (the compaction point, whose term is
  kept); entries ``first_index() .. last_index()`` are all present, no gaps. The terms of
  all of them are cached in memory, so ``term``/``first_index``/``last_index`` never touch
  RocksDB; ``entries`` reads RocksDB and verifies every record's checksum, index and term.
- **Writes** (``append``, ``set_hard_state``, ``set_conf_state``, ``set_applied``,
  ``apply_snapshot``, ``create_snapshot``, ``compact``, or all of a Ready at once with
  ``save``) are each one atomic WriteBatch, written with explicit WriteOptions (WAL on,
  no sync). They are visible to reads at once and survive a crash of the process (the WAL
  write reached the OS), but not of the machine until a `sync` covers them.
- **Durability**: ``sync()`` flushes and fsyncs the WAL (``flush_wal(True)``). It blocks
  and releases the GIL, so the driver runs it in a worker thread
  (``anyio.to_thread.run_sync(storage.sync)``) while the loop keeps writing; it covers
  every write completed before it started and returns that write's seq. ``written_seq``,
  ``synced_seq`` and ``synced_index`` say what is durable (`gofish.log.durability`).
  Never ``write(batch, sync=True)``: it holds the GIL through the fsync.
- **Open**: every entry from ``first_index`` on is read and verified. The first bad one
  (checksum mismatch, truncated record, a gap in the indexes, a term going backwards) is
  where the log is cut, and what was cut is logged — unless it is at or below the
  persisted commit index (``HardState.commit``), where `CorruptLogError` stops the node
  rather than let it serve wrong data. A damaged meta record is always `CorruptLogError`.

Not thread-safe except ``sync``, the durability properties and ``statistics``, which any
thread may call while the owner writes. Close only after outstanding syncs return.
"""

from __future__ import annotations

import logging
import os
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, TypeVar

import msgspec
from rocksdict import DBRecoveryMode, Options, Rdict, ReadOptions, WriteBatch, WriteOptions

from gofish.log.codec import (
    KEY_END,
    CodecError,
    decode_entry,
    decode_meta,
    encode_entry,
    encode_meta,
    index_key,
)
from gofish.log.durability import Durability, SyncFailedError, SyncPoint
from gofish.log.recovery import CorruptLogError, Cut, recover
from gofish.raft.log import entry_size
from gofish.raft.storage import CompactedError, StorageError, UnavailableError
from gofish.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMetadata

__all__ = [
    "CorruptLogError",
    "LogStatistics",
    "RocksDBStorage",
    "SyncFailedError",
    "SyncPoint",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Version of the store as a whole (column families, meta keys); bump on incompatible change.
STORE_FORMAT: Final = 1
#: A snapshot's ``data`` is kept in the meta record; past this size a warning is logged
#: (it should be a reference to the checkpoint, not the image).
SNAPSHOT_DATA_WARN: Final = 64 * 1024

_CF_LOG: Final = "log"
_CF_META: Final = "meta"
_K_FORMAT: Final = b"format"
_K_HARD_STATE: Final = b"hard_state"
_K_CONF_STATE: Final = b"conf_state"
_K_APPLIED: Final = b"applied"
_K_LOG_START: Final = b"log_start"
_K_SNAPSHOT: Final = b"snapshot"
_K_MEMBERS: Final = b"members"
#: memtable size of the log column family
LOG_WRITE_BUFFER: Final = 16 << 20
_KEY_ZERO: Final = index_key(0)


class _LogStart(msgspec.Struct, array_like=True, frozen=True):
    """The compaction point: the last entry no longer stored, and its term."""

    index: int = 0
    term: int = 0


@dataclass(frozen=True, slots=True)
class LogStatistics:
    first_index: int
    last_index: int
    written_seq: int
    synced_seq: int
    synced_index: int
    entries_written: int
    bytes_written: int
    syncs: int
    sync_seconds_total: float
    sync_seconds_max: float
    #: (first, last) index of the tail cut when the store was opened; None if none was cut
    cut_on_open: tuple[int, int] | None


def _options() -> Options:
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    # Recover the WAL up to the first damaged record: a consistent prefix of the writes.
    opts.set_wal_recovery_mode(DBRecoveryMode.point_in_time())
    opts.set_paranoid_checks(True)
    opts.set_keep_log_file_num(4)  # RocksDB's own info LOG files
    return opts


class RocksDBStorage:
    """The Raft storage protocol on RocksDB at ``path`` (created if missing).

    Opening recovers as the module docstring says; it raises `CorruptLogError` on damage
    at or below the commit index, and RocksDB's error if the directory is in use.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        cf_opts = {_CF_LOG: Options(raw_mode=True), _CF_META: Options(raw_mode=True)}
        # Smaller memtables than RocksDB's 64 MB: the log is read back from the entry cache
        # and compacted behind checkpoints, so a big memtable only costs resident memory.
        cf_opts[_CF_LOG].set_write_buffer_size(LOG_WRITE_BUFFER)
        cf_opts[_CF_META].set_write_buffer_size(1 << 20)
        self._db = Rdict(self.path, _options(), column_families=cf_opts)
        self._log = self._db.get_column_family(_CF_LOG)
        self._meta = self._db.get_column_family(_CF_META)
        self._h_log = self._db.get_column_family_handle(_CF_LOG)
        self._h_meta = self._db.get_column_family_handle(_CF_META)
        # Passed to every write: a view created before set_write_options keeps old ones.
        self._wo = WriteOptions()
        self._wo.sync = False
        # rocksdict's stub calls disable_wal a method; at run time it is a property.
        self._wo.disable_wal = False  # type: ignore[method-assign,assignment]
        self._closed = False
        self._entries_written = 0
        self._bytes_written = 0
        #: (first, last) index of the tail cut while opening, if any
        self.cut_on_open: tuple[int, int] | None = None
        # Caches of the meta records (filled by _load_meta) and of the log's terms:
        # _terms[i] is the term of index _offset + i; _terms[0] is the compaction point's.
        self._hard_state: HardState
        self._conf_state: ConfState
        self._applied: int
        self._snapshot: Snapshot
        self._members: dict[int, bytes]
        self._offset: int
        self._terms: array[int]
        try:
            start = self._load_meta()
            found = recover(self.path, self._log, start.index, start.term, self._hard_state.commit)
            if found.cut is not None:
                self._cut_tail(found.cut)
            self._offset, self._terms = start.index, found.terms
            self._db.flush_wal(True)  # whatever recovery replayed or cut is now durable
        except BaseException:
            self.close()
            raise
        self._dur = Durability(self.last_index())

    # --- protocol -------------------------------------------------------------------------
    def initial_state(self) -> tuple[HardState, ConfState]:
        return self._hard_state, self._conf_state

    def first_index(self) -> int:
        return self._offset + 1

    def last_index(self) -> int:
        return self._offset + len(self._terms) - 1

    def term(self, index: int) -> int:
        """Term of ``index`` for ``first_index()-1 .. last_index()``, from memory."""
        if index < self._offset:
            raise CompactedError(index)
        i = index - self._offset
        if i >= len(self._terms):
            raise UnavailableError(index)
        return self._terms[i]

    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        """Entries ``[lo, hi)``: the first one always, then as many as fit in ``max_bytes``
        (each counts `gofish.raft.log.entry_size`: ``len(data) + 16``). Every record is
        verified; a damaged or missing one raises `CorruptLogError`. Raises
        `CompactedError` if ``lo < first_index()``, `UnavailableError` if
        ``hi > last_index() + 1``."""
        if lo <= self._offset:
            raise CompactedError(lo)
        if hi > self.last_index() + 1:
            raise UnavailableError(hi)
        if lo >= hi:
            return []
        if hi - lo == 1:
            key = index_key(lo)
            return [self._verified(lo, key, self._log.get(key))]
        ro = ReadOptions()
        ro.set_iterate_upper_bound(index_key(hi))
        it = self._log.iter(ro)
        try:
            it.seek(index_key(lo))
            out: list[Entry] = []
            size = 0
            for index in range(lo, hi):
                key = index_key(index)
                if not it.valid() or it.key() != key:
                    self._verified(index, key, None)  # raises: missing
                e = self._verified(index, key, it.value())
                if max_bytes is not None:
                    size += entry_size(e)
                    if size > max_bytes and out:
                        break
                out.append(e)
                it.next()
            return out
        finally:
            del it

    def snapshot(self) -> Snapshot:
        return self._snapshot

    # --- other reads ----------------------------------------------------------------------
    @property
    def hard_state(self) -> HardState:
        return self._hard_state

    @property
    def conf_state(self) -> ConfState:
        return self._conf_state

    def members(self) -> dict[int, bytes]:
        """The node's per-member records (opaque to the log: the node keeps each member's
        address there), as last saved with ``save(members=...)``."""
        return dict(self._members)

    def applied_index(self) -> int:
        """The applied index last recorded with `set_applied` (0 if never)."""
        return self._applied

    # --- writes (the driver's side) -------------------------------------------------------
    def append(self, entries: Sequence[Entry]) -> None:
        """Append, truncating any conflicting suffix (``entries[0].index`` may be <= last).
        Entries at or below the compaction point are skipped; a gap after the last index
        raises `UnavailableError`. Not durable until a `sync` covers it."""
        self.save(entries=entries)

    def set_hard_state(self, hs: HardState) -> None:
        self.save(hard_state=hs)

    def set_conf_state(self, cs: ConfState) -> None:
        self.save(conf_state=cs)

    def set_applied(self, index: int) -> None:
        """Record the state machine's applied index (with `save` it can share a batch)."""
        self.save(applied=index)

    def apply_snapshot(self, snap: Snapshot) -> None:
        """Replace the log with ``snap``: all entries go, the compaction point and the
        membership become the snapshot's. Ignored if not newer than the compaction point."""
        self.save(snapshot=snap)

    def save(
        self,
        hard_state: HardState | None = None,
        entries: Sequence[Entry] = (),
        snapshot: Snapshot | None = None,
        *,
        conf_state: ConfState | None = None,
        applied: int | None = None,
        members: dict[int, bytes] | None = None,
    ) -> int:
        """Write a Ready's worth in one atomic batch, in the order snapshot, entries, hard
        state (then membership, applied index and member records). Each part means what its
        single method means; ``members`` replaces the whole `members` record. Returns the
        write's seq (the latest seq if there was nothing to write)."""
        self._check_open()
        batch = WriteBatch(raw_mode=True)
        low: int | None = None
        offset, last = self._offset, self.last_index()
        snap = snapshot if snapshot is not None and snapshot.metadata.index > offset else None
        if snap is not None:
            md = snap.metadata
            if len(snap.data) > SNAPSHOT_DATA_WARN:
                logger.warning(
                    "snapshot %d carries %d bytes of data into the log metadata; "
                    "keep the image in a file and pass a reference",
                    md.index,
                    len(snap.data),
                )
            batch.delete_range(_KEY_ZERO, KEY_END, self._h_log)
            self._put_meta(batch, _K_LOG_START, _LogStart(md.index, md.term))
            self._put_meta(batch, _K_SNAPSHOT, snap)
            self._put_meta(batch, _K_CONF_STATE, md.conf_state)
            offset = last = md.index
            low = 1
        ents = self._plan_append(entries, offset, last)
        nbytes = 0
        if ents:
            h_log = self._h_log
            for e in ents:
                key = e.index.to_bytes(8, "big")  # index_key(e.index)
                value = encode_entry(e, key)
                nbytes += len(value)
                batch.put(key, value, h_log)
            if last > ents[-1].index:
                batch.delete_range(index_key(ents[-1].index + 1), index_key(last + 1), self._h_log)
            if ents[0].index <= last:
                low = ents[0].index if low is None else min(low, ents[0].index)
        if hard_state is not None:
            self._put_meta(batch, _K_HARD_STATE, hard_state)
        if conf_state is not None:
            self._put_meta(batch, _K_CONF_STATE, conf_state)
        if applied is not None:
            self._put_meta(batch, _K_APPLIED, applied)
        if members is not None:
            self._put_meta(batch, _K_MEMBERS, members)
        if batch.is_empty():
            return self._dur.written.seq
        self._write(batch)
        # The write succeeded: now the caches follow.
        if snap is not None:
            self._offset = snap.metadata.index
            self._terms = array("Q", [snap.metadata.term])
            self._snapshot = snap
            self._conf_state = snap.metadata.conf_state
        if ents:
            del self._terms[ents[0].index - self._offset :]
            self._terms.extend(e.term for e in ents)
            self._entries_written += len(ents)
            self._bytes_written += nbytes
        if hard_state is not None:
            self._hard_state = hard_state
        if conf_state is not None:
            self._conf_state = conf_state
        if applied is not None:
            self._applied = applied
        if members is not None:
            self._members = dict(members)
        return self._dur.wrote(self.last_index(), low)

    def create_snapshot(self, index: int, conf_state: ConfState | None, data: bytes) -> Snapshot:
        """Record snapshot metadata as of ``index`` (<= last index; its term must still be
        known). ``data`` is stored in the meta record: pass a small reference (e.g. the
        checkpoint's manifest name), not the image. Returns the current snapshot, which is
        the old one if ``index`` is not newer. The log is not compacted (see `compact`)."""
        self._check_open()
        if index <= self._snapshot.metadata.index:
            return self._snapshot
        if index > self.last_index():
            raise UnavailableError(index)
        meta = SnapshotMetadata(
            index=index,
            term=self.term(index),
            conf_state=conf_state if conf_state is not None else self._conf_state,
        )
        snap = Snapshot(metadata=meta, data=data)
        batch = WriteBatch(raw_mode=True)
        self._put_meta(batch, _K_SNAPSHOT, snap)
        self._write(batch)
        self._snapshot = snap
        self._dur.wrote(self.last_index(), None)
        return snap

    def compact(self, index: int) -> None:
        """Discard entries up to and including ``index`` (<= last index); its term is kept
        as the new compaction point, recorded in the same batch as the ``delete_range``
        over keys ``[0, index + 1)``. Ignored if ``index`` is already compacted."""
        self._check_open()
        if index <= self._offset:
            return
        if index > self.last_index():
            raise UnavailableError(index)
        term = self.term(index)
        batch = WriteBatch(raw_mode=True)
        self._put_meta(batch, _K_LOG_START, _LogStart(index, term))
        batch.delete_range(_KEY_ZERO, index_key(index + 1), self._h_log)
        self._write(batch)
        del self._terms[: index - self._offset]
        self._offset = index
        self._dur.wrote(self.last_index(), None)

    # --- durability -----------------------------------------------------------------------
    def sync(self) -> int:
        """Make every write completed before this call durable: ``flush_wal(True)``.

        Blocks (about half a millisecond on an idle disk) and releases the GIL: call it in
        a worker thread. Thread-safe; concurrent syncs are fine. Returns the seq of the
        last write it covers. If the fsync fails it raises, and so does every later write
        and sync (`SyncFailedError`): the node must restart and recover."""
        self._check_open()
        point = self._dur.begin()
        t0 = time.perf_counter()
        try:
            self._db.flush_wal(True)
        except BaseException as exc:
            self._dur.fail(exc)
            raise
        self._dur.done(point, time.perf_counter() - t0)
        return point.seq

    @property
    def written_seq(self) -> int:
        """Seq of the latest write (0 before the first since opening)."""
        return self._dur.written.seq

    @property
    def synced_seq(self) -> int:
        """Seq of the latest write a completed sync covers."""
        return self._dur.synced.seq

    @property
    def needs_sync(self) -> bool:
        """True if some write is not yet covered by a completed sync."""
        return self._dur.written.seq > self._dur.synced.seq

    @property
    def synced_index(self) -> int:
        """Highest i such that entries up to i, as the log holds them now, are durable."""
        return self._dur.synced_index

    def statistics(self) -> LogStatistics:
        d = self._dur
        return LogStatistics(
            first_index=self.first_index(),
            last_index=self.last_index(),
            written_seq=d.written.seq,
            synced_seq=d.synced.seq,
            synced_index=d.synced_index,
            entries_written=self._entries_written,
            bytes_written=self._bytes_written,
            syncs=d.syncs,
            sync_seconds_total=d.sync_seconds_total,
            sync_seconds_max=d.sync_seconds_max,
            cut_on_open=self.cut_on_open,
        )

    # --- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        """Close the database (idempotent). RocksDB flushes its memtables; the WAL was
        already written, so unsynced writes survive a clean close."""
        if self._closed:
            return
        self._closed = True
        self._log.close()
        self._meta.close()
        # Every view and handle keeps RocksDB open (and its LOCK held): drop them all.
        del self._h_log, self._h_meta, self._log, self._meta
        self._db.close()
        del self._db

    def __enter__(self) -> RocksDBStorage:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- internals ------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"log storage {self.path} is closed")

    def _write(self, batch: WriteBatch) -> None:
        self._dur.check()
        self._db.write(batch, self._wo)

    def _put_meta(self, batch: WriteBatch, key: bytes, obj: Any) -> None:
        batch.put(key, encode_meta(key, obj), self._h_meta)

    @staticmethod
    def _plan_append(entries: Sequence[Entry], offset: int, last: int) -> Sequence[Entry]:
        """The part of ``entries`` to write over a log (offset, last): empty if all of it
        is compacted; `UnavailableError` on a gap after ``last``; ValueError if the
        entries are not consecutive."""
        if not entries or entries[-1].index <= offset:
            return ()
        if entries[0].index <= offset:
            entries = entries[offset + 1 - entries[0].index :]
        start = entries[0].index
        if start > last + 1:
            raise UnavailableError(f"missing log entry [last: {last}, append at: {start}]")
        for i, e in enumerate(entries):
            if e.index != start + i:
                raise ValueError(f"entries not consecutive: {e.index} where {start + i} belongs")
        return entries

    def _verified(self, index: int, key: bytes, value: bytes | None) -> Entry:
        """The entry at ``index`` from its record, or `CorruptLogError`."""
        if value is None:
            raise CorruptLogError(self.path, "missing from the log", index=index)
        try:
            e = decode_entry(key, value)
        except CodecError as exc:
            raise CorruptLogError(self.path, str(exc), index=index) from None
        cached = self._terms[index - self._offset]
        if e.term != cached:
            raise CorruptLogError(
                self.path, f"term {e.term} on disk, {cached} in the index", index=index
            )
        return e

    def _get_meta(self, key: bytes, typ: type[T], default: T) -> T:
        value = self._meta.get(key)
        if value is None:
            return default
        try:
            return decode_meta(key, value, typ)
        except CodecError as exc:
            raise CorruptLogError(self.path, str(exc), record=key.decode()) from None

    def _load_meta(self) -> _LogStart:
        """Fill the meta caches; return the compaction point."""
        fmt = self._get_meta(_K_FORMAT, int, 0)
        if fmt == 0:
            if _has_keys(self._meta) or _has_keys(self._log):
                raise CorruptLogError(self.path, "missing (the store has data)", record="format")
            batch = WriteBatch(raw_mode=True)
            self._put_meta(batch, _K_FORMAT, STORE_FORMAT)
            self._db.write(batch, self._wo)
        elif fmt != STORE_FORMAT:
            raise CorruptLogError(self.path, f"unknown store format {fmt}", record="format")
        self._hard_state = self._get_meta(_K_HARD_STATE, HardState, HardState())
        self._conf_state = self._get_meta(_K_CONF_STATE, ConfState, ConfState())
        self._applied = self._get_meta(_K_APPLIED, int, 0)
        self._snapshot = self._get_meta(_K_SNAPSHOT, Snapshot, Snapshot())
        self._members = self._get_meta(_K_MEMBERS, dict[int, bytes], {})
        return self._get_meta(_K_LOG_START, _LogStart, _LogStart())

    def _cut_tail(self, cut: Cut) -> None:
        """Delete every log record from ``cut.first`` on, and say so."""
        logger.warning(
            "%s: cutting the log tail, records %d..%d: entry %d: %s",
            self.path,
            cut.first,
            cut.last,
            cut.first,
            cut.reason,
        )
        self.cut_on_open = (cut.first, cut.last)
        batch = WriteBatch(raw_mode=True)
        batch.delete_range(index_key(cut.first), KEY_END, self._h_log)
        self._db.write(batch, self._wo)


def _has_keys(view: Rdict) -> bool:
    it = view.iter(ReadOptions())
    it.seek_to_first()
    return bool(it.valid())
