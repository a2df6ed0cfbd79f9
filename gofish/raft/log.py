"""Raft's view of its log: the persisted part (read through `Storage`) plus the unstable
tail (entries and possibly a snapshot not yet handed to the driver for persisting).

Invariants:
- every index below ``unstable.offset`` is in storage (or compacted into its snapshot);
  storage may still hold stale entries at or above ``unstable.offset`` until the driver
  appends the unstable tail, so those are never read from storage;
- ``applied <= applying <= committed <= last_index()``;
- committed entries are handed out for applying only once persisted
  (``index <= stable_last_index()``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

from gofish.raft.storage import CompactedError, Storage, UnavailableError
from gofish.raft.types import Entry, EntryType, Snapshot

#: Approximate encoded overhead of one entry, added to ``len(data)`` for size limits.
ENTRY_OVERHEAD = 16

def entry_size(e: Entry) -> int:
    return len(e.data) + ENTRY_OVERHEAD


def entries_size(ents: Sequence[Entry]) -> int:
    """The sum of `entry_size` over ``ents``."""
    return sum([len(e.data) for e in ents]) + ENTRY_OVERHEAD * len(ents)


def limit_size(ents: list[Entry], max_bytes: int | None) -> list[Entry]:
    """The longest prefix of ``ents`` within ``max_bytes`` (always at least one entry)."""
    if max_bytes is None or len(ents) <= 1:
        return ents
    return limit_size_total(ents, max_bytes)[0]


def limit_size_total(ents: list[Entry], max_bytes: int | None) -> tuple[list[Entry], int]:
    """`limit_size`, and the total `entry_size` of the prefix returned (one pass over the
    data lengths; a bisection when the limit cuts)."""
    n = len(ents)
    if n <= 1:
        return ents, (len(ents[0].data) + ENTRY_OVERHEAD if n else 0)
    sizes = [len(e.data) for e in ents]
    total = sum(sizes) + ENTRY_OVERHEAD * n
    if max_bytes is None or total <= max_bytes:
        return ents, total
    # Cumulative sizes are increasing: bisect for the number of entries that fit.
    cum = list(accumulate(sizes))
    k = max(1, bisect_right(range(n), max_bytes, key=lambda i: cum[i] + ENTRY_OVERHEAD * (i + 1)))
    return ents[:k], cum[k - 1] + ENTRY_OVERHEAD * k


class Unstable:
    """Entries and a snapshot not yet persisted. ``[offset, offset_in_progress)`` and the
    snapshot (when ``snapshot_in_progress``) have been handed out in a Ready but not yet
    acknowledged by ``advance``."""

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.offset_in_progress = offset
        self.entries: list[Entry] = []
        self.snapshot: Snapshot | None = None
        self.snapshot_in_progress = False

    def maybe_last_index(self) -> int | None:
        if self.entries:
            return self.offset + len(self.entries) - 1
        if self.snapshot is not None:
            return self.snapshot.metadata.index
        return None

    def maybe_first_index(self) -> int | None:
        if self.snapshot is not None:
            return self.snapshot.metadata.index + 1
        return None

    def maybe_term(self, i: int) -> int | None:
        if i < self.offset:
            if self.snapshot is not None and self.snapshot.metadata.index == i:
                return self.snapshot.metadata.term
            return None
        last = self.maybe_last_index()
        if last is None or i > last:
            return None
        return self.entries[i - self.offset].term

    def next_entries(self) -> list[Entry]:
        """Entries not yet handed out for persisting."""
        return self.entries[self.offset_in_progress - self.offset :]

    def next_snapshot(self) -> Snapshot | None:
        if self.snapshot is None or self.snapshot_in_progress:
            return None
        return self.snapshot

    def accept_in_progress(self) -> None:
        if self.entries:
            self.offset_in_progress = self.offset + len(self.entries)
        if self.snapshot is not None:
            self.snapshot_in_progress = True

    def stable_to(self, index: int, term: int) -> None:
        """Entries up to ``index`` (with ``term``) are persisted; ignored if they were
        replaced meanwhile."""
        t = self.maybe_term(index)
        if t is None or t != term or index < self.offset:
            return
        self.entries = self.entries[index + 1 - self.offset :]
        self.offset = index + 1
        self.offset_in_progress = max(self.offset_in_progress, self.offset)

    def stable_snap_to(self, index: int) -> None:
        if self.snapshot is not None and self.snapshot.metadata.index == index:
            self.snapshot = None
            self.snapshot_in_progress = False

    def restore(self, snap: Snapshot) -> None:
        self.offset = snap.metadata.index + 1
        self.offset_in_progress = self.offset
        self.entries = []
        self.snapshot = snap
        self.snapshot_in_progress = False

    def truncate_and_append(self, ents: list[Entry]) -> None:
        after = ents[0].index
        if after == self.offset + len(self.entries):
            self.entries.extend(ents)
        elif after <= self.offset:
            # Replaces the whole unstable tail (and shadows storage from ``after`` on).
            self.offset = after
            self.offset_in_progress = after
            self.entries = list(ents)
        else:
            self.entries = self.entries[: after - self.offset] + list(ents)
            self.offset_in_progress = min(self.offset_in_progress, after)


class RaftLog:
    def __init__(self, storage: Storage, applied: int = 0) -> None:
        self.storage = storage
        first = storage.first_index()
        last = storage.last_index()
        self.unstable = Unstable(last + 1)
        self.committed = first - 1
        self.applying = first - 1
        self.applied = first - 1
        if applied:
            self.applied = self.applying = max(applied, first - 1)

    # --- indexes and terms ----------------------------------------------------------------
    def first_index(self) -> int:
        snap = self.unstable.snapshot
        if snap is not None:
            return snap.metadata.index + 1
        return self.storage.first_index()

    def last_index(self) -> int:
        u = self.unstable
        if u.entries:
            return u.offset + len(u.entries) - 1
        if u.snapshot is not None:
            return u.snapshot.metadata.index
        return self.storage.last_index()

    def stable_last_index(self) -> int:
        """The last index known persisted (entries handed out but not yet acknowledged by
        ``advance`` do not count)."""
        if self.unstable.snapshot is not None:
            return self.unstable.snapshot.metadata.index - 1  # nothing usable until persisted
        return self.unstable.offset - 1

    def term(self, i: int) -> int:
        """Term of entry ``i``; 0 if ``i`` is beyond the log. Raises `CompactedError` if
        ``i`` is below ``first_index() - 1``."""
        u = self.unstable
        k = i - u.offset
        if 0 <= k < len(u.entries):
            return u.entries[k].term  # the common case: the unstable tail
        t = u.maybe_term(i)
        if t is not None:
            return t
        if i < self.first_index() - 1:
            raise CompactedError(i)
        if i > self.last_index():
            return 0
        try:
            return self.storage.term(i)
        except UnavailableError:
            return 0

    def term_or_zero(self, i: int) -> int:
        try:
            return self.term(i)
        except CompactedError:
            return 0

    def last_term(self) -> int:
        return self.term(self.last_index())

    def match_term(self, i: int, term: int) -> bool:
        try:
            return self.term(i) == term
        except CompactedError:
            return False

    def is_up_to_date(self, last_index: int, term: int) -> bool:
        """Is a log ending at (``last_index``, ``term``) at least as up to date as ours?"""
        lt = self.last_term()
        return term > lt or (term == lt and last_index >= self.last_index())

    # --- reading entries ------------------------------------------------------------------
    def slice(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        """Entries ``[lo, hi)``; raises `CompactedError` if ``lo < first_index()``."""
        if lo < self.first_index():
            raise CompactedError(lo)
        hi = min(hi, self.last_index() + 1)
        if lo >= hi:
            return []
        off = self.unstable.offset
        if lo >= off:
            return limit_size(self.unstable.entries[lo - off : hi - off], max_bytes)
        stored = self.storage.entries(lo, min(hi, off), max_bytes)
        if len(stored) < min(hi, off) - lo:
            return stored  # size-limited
        ents = list(stored)
        if hi > off:
            ents.extend(self.unstable.entries[: hi - off])
        return limit_size(ents, max_bytes)

    def entries_from(self, lo: int, max_bytes: int | None = None) -> list[Entry]:
        if lo > self.last_index():
            return []
        return self.slice(lo, self.last_index() + 1, max_bytes)

    def entries_to_send(self, lo: int, max_bytes: int | None) -> tuple[list[Entry], int]:
        """`entries_from` and the total `entry_size` of what it returns. Raises
        `CompactedError` like `slice`."""
        u = self.unstable
        if lo >= u.offset:  # only the unstable tail (every index below offset is stable)
            return limit_size_total(u.entries[lo - u.offset :], max_bytes)
        ents = self.entries_from(lo, max_bytes)
        return ents, entries_size(ents)

    def snapshot(self) -> Snapshot:
        if self.unstable.snapshot is not None:
            return self.unstable.snapshot
        return self.storage.snapshot()

    # --- changing the log -----------------------------------------------------------------
    def append_new(self, term: int, type_: EntryType, data: bytes) -> int:
        """Append one new entry after the last (the leader's proposal path); returns its
        index."""
        u = self.unstable
        if u.entries:
            index = u.offset + len(u.entries)
            u.entries.append(Entry(term, index, type_, data))
            return index
        return self.append([Entry(term, self.last_index() + 1, type_, data)])

    def append(self, ents: list[Entry]) -> int:
        if not ents:
            return self.last_index()
        after = ents[0].index - 1
        if after < self.committed:
            raise RuntimeError(f"append after {after} is below committed {self.committed}")
        self.unstable.truncate_and_append(ents)
        return self.last_index()

    def find_conflict(self, ents: list[Entry] | tuple[Entry, ...]) -> int:
        """Index of the first entry of ``ents`` that is new or conflicts, else 0.

        Every entry that overlaps our log is compared by term; the first one past our last
        index is new (no lookup needed for it or the rest)."""
        last = self.last_index()
        for e in ents:
            if e.index > last or not self.match_term(e.index, e.term):
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The largest index <= ``index`` whose term is <= ``term``, with its term
        (term 0 if it is compacted)."""
        while index > 0:
            try:
                t = self.term(index)
            except CompactedError:
                return index, 0
            if t <= term:
                return index, t
            index -= 1
        return 0, 0

    def maybe_append(
        self, index: int, log_term: int, committed: int, ents: tuple[Entry, ...]
    ) -> int | None:
        """Follower side of APPEND: the new last index on success, None on mismatch."""
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(ents)
        ci = self.find_conflict(ents)
        if ci:
            if ci <= self.committed:
                raise RuntimeError(f"entry {ci} conflicts with committed {self.committed}")
            self.append(list(ents[ci - index - 1 :]))
        self.commit_to(min(committed, last_new))
        return last_new

    def commit_to(self, index: int) -> None:
        if index > self.committed:
            if index > self.last_index():
                raise RuntimeError(f"commit {index} beyond last index {self.last_index()}")
            self.committed = index

    def maybe_commit(self, index: int, term: int) -> bool:
        if index > self.committed and self.term_or_zero(index) == term:
            self.commit_to(index)
            return True
        return False

    def restore(self, snap: Snapshot) -> None:
        self.committed = snap.metadata.index
        self.unstable.restore(snap)

    # --- handing out to the driver --------------------------------------------------------
    def has_next_committed(self) -> bool:
        u = self.unstable
        if u.snapshot is not None:
            return False
        hi = min(self.committed, u.offset - 1)  # u.offset - 1: the stable last index
        return hi > self.applying and hi > self.storage.first_index() - 1

    def next_committed(self, max_bytes: int | None = None) -> list[Entry]:
        if not self.has_next_committed():
            return []
        lo = max(self.applying + 1, self.first_index())
        hi = min(self.committed, self.stable_last_index()) + 1
        return self.slice(lo, hi, max_bytes)

    def accept_applying(self, index: int) -> None:
        self.applying = max(self.applying, index)

    def applied_to(self, index: int) -> None:
        if index > self.applied:
            self.applied = index
            self.applying = max(self.applying, index)

    def stable_to(self, index: int, term: int) -> None:
        self.unstable.stable_to(index, term)

    def stable_snap_to(self, index: int) -> None:
        self.unstable.stable_snap_to(index)
