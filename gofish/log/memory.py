"""An in-memory implementation of the Raft storage protocol (etcd raft's MemoryStorage).

Used by Raft tests and the simulator, and as the log of a single node that has no durable
log. Index 0 is a dummy entry holding the snapshot's index and term, so ``term(first-1)``
always works.
"""

from __future__ import annotations

from gofish.raft.storage import CompactedError, UnavailableError
from gofish.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMetadata


class MemoryStorage:
    def __init__(self) -> None:
        self.hard_state = HardState()
        self.conf_state = ConfState()
        self._snapshot = Snapshot()
        # _ents[0] is a dummy whose index/term are the snapshot's.
        self._ents: list[Entry] = [Entry(term=0, index=0)]

    # --- protocol ---------------------------------------------------------------------
    def initial_state(self) -> tuple[HardState, ConfState]:
        return self.hard_state, self.conf_state

    def first_index(self) -> int:
        return self._ents[0].index + 1

    def last_index(self) -> int:
        return self._ents[0].index + len(self._ents) - 1

    def term(self, index: int) -> int:
        offset = self._ents[0].index
        if index < offset:
            raise CompactedError(index)
        if index - offset >= len(self._ents):
            raise UnavailableError(index)
        return self._ents[index - offset].term

    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        offset = self._ents[0].index
        if lo <= offset:
            raise CompactedError(lo)
        if hi > self.last_index() + 1:
            raise UnavailableError(hi)
        ents = self._ents[lo - offset : hi - offset]
        if max_bytes is None or len(ents) <= 1:
            return ents
        size = 0
        for i, e in enumerate(ents):
            size += len(e.data) + 16
            if size > max_bytes and i > 0:
                return ents[:i]
        return ents

    def snapshot(self) -> Snapshot:
        return self._snapshot

    # --- writes (the driver's side) -------------------------------------------------------
    def set_hard_state(self, hs: HardState) -> None:
        self.hard_state = hs

    def set_conf_state(self, cs: ConfState) -> None:
        self.conf_state = cs

    def append(self, entries: list[Entry]) -> None:
        """Append, truncating any conflicting suffix (entries[0].index may be <= last)."""
        if not entries:
            return
        first = self.first_index()
        if entries[-1].index < first:
            return  # all already compacted
        if entries[0].index < first:
            entries = entries[first - entries[0].index :]
        offset = entries[0].index - self._ents[0].index
        if offset > len(self._ents):
            raise UnavailableError(
                f"missing log entry [last: {self.last_index()}, append at: {entries[0].index}]"
            )
        del self._ents[offset:]
        self._ents.extend(entries)

    def apply_snapshot(self, snap: Snapshot) -> None:
        """Replace the log with ``snap`` (entries after it are discarded)."""
        if snap.metadata.index <= self._ents[0].index:
            return
        self._snapshot = snap
        self.conf_state = snap.metadata.conf_state
        self._ents = [Entry(term=snap.metadata.term, index=snap.metadata.index)]

    def create_snapshot(self, index: int, conf_state: ConfState | None, data: bytes) -> Snapshot:
        """Record a snapshot of the state machine as of ``index`` (<= last index)."""
        if index <= self._snapshot.metadata.index:
            return self._snapshot
        if index > self.last_index():
            raise UnavailableError(index)
        meta = SnapshotMetadata(
            index=index,
            term=self.term(index),
            conf_state=conf_state if conf_state is not None else self.conf_state,
        )
        self._snapshot = Snapshot(metadata=meta, data=data)
        return self._snapshot

    def compact(self, index: int) -> None:
        """Discard entries up to and including ``index`` (must be <= last index)."""
        offset = self._ents[0].index
        if index <= offset:
            return
        if index > self.last_index():
            raise UnavailableError(index)
        i = index - offset
        self._ents = [Entry(term=self._ents[i].term, index=index)] + self._ents[i + 1 :]
