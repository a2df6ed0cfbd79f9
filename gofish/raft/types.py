"""Raft's records: log entries, hard state, membership, snapshots.

Plain msgspec Structs so the peer transport can encode them (msgpack) without pickle. This
module, like all of `gofish.raft`, imports nothing else of gofish and no I/O library.
"""

from __future__ import annotations

import enum

import msgspec


class EntryType(enum.IntEnum):
    NORMAL = 0
    CONF_CHANGE = 1


class Entry(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """One log entry. ``data`` is opaque to Raft (the state machine's command bytes);
    a leader's no-op is a NORMAL entry with empty ``data``.

    ``gc=False``: an entry holds only ints and bytes and is immutable, so it can never be
    part of a reference cycle; untracked, the millions of entries a log keeps in memory
    cost the cyclic garbage collector nothing."""

    term: int
    index: int
    type: EntryType = EntryType.NORMAL
    data: bytes = b""


class HardState(msgspec.Struct, array_like=True, frozen=True):
    """What must be durable before any message that depends on it is sent."""

    term: int = 0
    vote: int = 0
    commit: int = 0


class ConfState(msgspec.Struct, array_like=True, frozen=True):
    """Membership: voting members and non-voting learners (node ids)."""

    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()


class SnapshotMetadata(msgspec.Struct, array_like=True, frozen=True):
    index: int = 0
    term: int = 0
    conf_state: ConfState = ConfState()


class Snapshot(msgspec.Struct, array_like=True, frozen=True):
    """A state-machine image as of ``metadata.index``. ``data`` is opaque to Raft: the driver
    may keep the real bytes elsewhere and put only a reference here."""

    metadata: SnapshotMetadata = SnapshotMetadata()
    data: bytes = b""

    @property
    def is_empty(self) -> bool:
        return self.metadata.index == 0
