"""`CachedLog`: the Raft storage protocol over `RocksDBStorage`, with the newest entries in
memory.

Right after the driver saves entries, Raft asks for them again: as committed entries to
apply (and, on a leader, to send to followers). Reading them back from RocksDB costs a read
and a checksum verification per entry for data the driver had in hand a moment ago. This
wrapper keeps the tail it saved (at most ``max_entries`` entries and about ``max_bytes`` of
data) and answers `entries` from it when the whole range is there; everything else (terms,
indexes, older entries) comes from the store.

Rules: the cache always equals the store for the indexes it covers — every write goes
through `save`, which writes the store first and then mirrors exactly what the store did
(append, truncation of a conflicting suffix, replacement by a snapshot). Not thread-safe,
like the store it wraps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gofish.log.rocksdb import RocksDBStorage
from gofish.raft.log import entries_size, entry_size, limit_size
from gofish.raft.types import ConfState, Entry, HardState, Snapshot


class CachedLog:
    def __init__(
        self, store: RocksDBStorage, max_entries: int = 8192, max_bytes: int = 16 << 20
    ) -> None:
        self.store = store
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._first = store.last_index() + 1  # index of _ents[0]
        self._ents: list[Entry] = []
        self._bytes = 0
        self.hits = 0
        self.misses = 0
        # The store answers these directly (bound methods: no extra call layer).
        self.initial_state: Callable[[], tuple[HardState, ConfState]] = store.initial_state
        self.term: Callable[[int], int] = store.term
        self.first_index: Callable[[], int] = store.first_index
        self.last_index: Callable[[], int] = store.last_index
        self.snapshot: Callable[[], Snapshot] = store.snapshot

    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        """As `RocksDBStorage.entries`; from memory when ``[lo, hi)`` is all cached."""
        first = self._first
        if first <= lo < hi <= first + len(self._ents):
            self.hits += 1
            return limit_size(self._ents[lo - first : hi - first], max_bytes)
        self.misses += 1
        return self.store.entries(lo, hi, max_bytes)

    def save(
        self,
        hard_state: HardState | None = None,
        entries: Sequence[Entry] = (),
        snapshot: Snapshot | None = None,
        *,
        conf_state: ConfState | None = None,
        members: dict[int, bytes] | None = None,
    ) -> int:
        """`RocksDBStorage.save`, then the same change to the cached tail."""
        seq = self.store.save(hard_state, entries, snapshot, conf_state=conf_state,
                              members=members)
        if snapshot is not None and snapshot.metadata.index >= self._first - 1:
            self._reset(snapshot.metadata.index + 1)
        if entries:
            self._mirror(entries)
        return seq

    def _reset(self, first: int) -> None:
        self._first = first
        self._ents = []
        self._bytes = 0

    def _mirror(self, entries: Sequence[Entry]) -> None:
        store_first = self.store.first_index()
        if entries[-1].index < store_first:
            return  # all compacted: the store skipped them
        if entries[0].index < store_first:
            entries = entries[store_first - entries[0].index :]
        start = entries[0].index
        end = self._first + len(self._ents)
        if start < self._first or start > end:
            self._reset(start)  # replaces everything cached (or follows a gap we lack)
        elif start < end:  # a conflicting suffix was truncated
            cut = start - self._first
            self._bytes -= entries_size(self._ents[cut:])
            del self._ents[cut:]
        self._ents.extend(entries)
        self._bytes += entries_size(entries)
        if len(self._ents) > self.max_entries or self._bytes > self.max_bytes:
            self._trim()

    def _trim(self) -> None:
        """Drop the older half (at least enough to get under both limits)."""
        ents = self._ents
        keep_n = min(len(ents) // 2, self.max_entries // 2)
        drop = len(ents) - keep_n
        dropped = entries_size(ents[:drop])
        while self._bytes - dropped > self.max_bytes // 2 and drop < len(ents):
            dropped += entry_size(ents[drop])
            drop += 1
        del ents[:drop]
        self._bytes -= dropped
        self._first += drop
