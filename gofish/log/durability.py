"""Which writes a completed sync made durable: the group-commit bookkeeping of the log.

Rules:

- Every write to the store gets the next sequence number (``seq``, 1, 2, ...) once RocksDB
  has accepted it, together with the log's last index after it.
- A sync first *captures* the latest (seq, last index) under the lock, then flushes and
  fsyncs the WAL, then marks the captured point synced. RocksDB's WAL is one ordered file,
  so a sync covers every write that completed before it started; writes that race with it
  are not counted (they may be durable, but nobody relies on it).
- ``synced_index`` is the highest index i such that entries 1..i *as the log holds them
  now* survive a crash. A write that overwrites or truncates entries (a conflicting
  append, a snapshot that replaces the log) lowers it until a sync covers that write:
  it records its ``low`` (first index it changed) and ``synced_index`` is
  ``min(synced last index, min(low of writes after the synced seq) - 1)``. Plain appends
  beyond the last index need no record: they are above the synced last index anyway.
- A failed sync poisons the tracker: the page cache may have dropped the dirty pages, so
  a later "successful" fsync would prove nothing (the PostgreSQL fsync lesson). Every
  later write and sync raises `SyncFailedError`; the node must restart and recover.

Thread-safety: `wrote` is called by the owner of the store (the event loop); `begin`/
`done`/`fail` by whichever thread runs the sync; all take one short lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from gofish.raft.storage import StorageError

#: Pending overwrite records kept before the oldest two are merged (conservatively).
_MAX_LOWS = 64


class SyncFailedError(StorageError):
    """An fsync of the log failed earlier; nothing written since can be trusted durable."""


@dataclass(frozen=True, slots=True)
class SyncPoint:
    """A position in the write history: write ``seq`` left the log ending at ``last_index``."""

    seq: int
    last_index: int


class Durability:
    def __init__(self, last_index: int) -> None:
        """Start with everything up to ``last_index`` durable (the store was just synced)."""
        self._lock = threading.Lock()
        self._written = SyncPoint(0, last_index)
        self._synced = self._written
        # (seq, low) of overwriting writes not yet synced; lows strictly increase.
        self._lows: list[tuple[int, int]] = []
        self._failed: BaseException | None = None
        self.syncs = 0
        self.sync_seconds_total = 0.0
        self.sync_seconds_max = 0.0

    def check(self) -> None:
        """Raise `SyncFailedError` if a sync has failed."""
        if self._failed is not None:
            raise SyncFailedError(f"an earlier log sync failed: {self._failed!r}")

    def wrote(self, last_index: int, low: int | None) -> int:
        """Record a completed write; ``low`` is the first index it overwrote or removed
        (None for a plain append). Returns the write's seq."""
        with self._lock:
            seq = self._written.seq + 1
            self._written = SyncPoint(seq, last_index)
            if low is not None:
                while self._lows and self._lows[-1][1] >= low:
                    self._lows.pop()
                self._lows.append((seq, low))
                if len(self._lows) > _MAX_LOWS:
                    # Merging keeps the smaller low with the newer seq: reports less as
                    # durable for a while, never more.
                    (_, low0), (seq1, _) = self._lows[0], self._lows[1]
                    self._lows[0:2] = [(seq1, low0)]
            return seq

    def begin(self) -> SyncPoint:
        """Capture what a sync starting now covers."""
        with self._lock:
            self.check()
            return self._written

    def done(self, point: SyncPoint, seconds: float) -> None:
        """The sync that captured ``point`` completed."""
        with self._lock:
            self.syncs += 1
            self.sync_seconds_total += seconds
            self.sync_seconds_max = max(self.sync_seconds_max, seconds)
            if point.seq > self._synced.seq:
                self._synced = point
                self._lows = [x for x in self._lows if x[0] > point.seq]

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            if self._failed is None:
                self._failed = exc

    @property
    def written(self) -> SyncPoint:
        return self._written

    @property
    def synced(self) -> SyncPoint:
        return self._synced

    @property
    def synced_index(self) -> int:
        with self._lock:
            index = self._synced.last_index
            if self._lows:
                index = min(index, self._lows[0][1] - 1)
            return max(index, 0)
