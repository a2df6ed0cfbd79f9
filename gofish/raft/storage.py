"""The storage protocol Raft reads its log through (in the style of etcd raft's Storage).

Raft only reads through it; the driver writes (append, hard state, snapshot) between
``Ready`` and ``advance`` following the ordering rules on `gofish.raft.Ready`.
`gofish.log.memory.MemoryStorage` implements it for tests and the single node;
`gofish.log.rocksdb` for real.

Index conventions: ``first_index()`` is the first index still available as an entry;
``first_index() - 1`` is the index of the last compacted entry (its term is still known,
via ``term``, because it is the snapshot's index). ``last_index()`` is the last entry.
"""

from __future__ import annotations

from typing import Protocol

from gofish.raft.types import ConfState, Entry, HardState, Snapshot


class StorageError(Exception):
    """Base of the named storage errors."""


class CompactedError(StorageError):
    """The requested index is below ``first_index()``: it was compacted into a snapshot."""


class UnavailableError(StorageError):
    """The requested index is above ``last_index()``."""


class SnapshotTemporarilyUnavailableError(StorageError):
    """A snapshot is being prepared; ask again later."""


class Storage(Protocol):
    def initial_state(self) -> tuple[HardState, ConfState]:
        """The persisted hard state and membership, read once when a node starts."""
        ...

    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        """Entries in ``[lo, hi)``; at least one entry if any is in range, then as many as
        fit in ``max_bytes`` of data. Raises `CompactedError` / `UnavailableError`."""
        ...

    def term(self, index: int) -> int:
        """Term of the entry at ``index``; valid for ``first_index()-1 .. last_index()``."""
        ...

    def first_index(self) -> int: ...

    def last_index(self) -> int: ...

    def snapshot(self) -> Snapshot:
        """The most recent snapshot (may raise `SnapshotTemporarilyUnavailableError`)."""
        ...
