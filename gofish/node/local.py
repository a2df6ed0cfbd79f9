"""The log of a node without a cluster: propose → append → commit → apply, in one step.

Every write goes through the same path as in a cluster: the command is encoded as a log
entry, appended to a Raft storage (`gofish.log.memory.MemoryStorage`), committed (a single
member is its own majority) and applied; the reply comes from the apply. Because nothing here
waits for a disk or a peer, `propose` completes synchronously. The durable RocksDB log and the
Raft driver of the cluster replace this class behind the same two methods.

The in-memory log keeps only the last ``keep`` entries: without a durable log there is no
restart replay to serve, and an unbounded log would grow with every write.
"""

from __future__ import annotations

from collections.abc import Callable

from gofish.log.memory import MemoryStorage
from gofish.raft.types import Entry, HardState
from gofish.reply import Reply
from gofish.statemachine.entry import Command, encode_command

Apply = Callable[[Command], Reply]


class LocalLog:
    TERM = 1

    def __init__(self, apply: Apply, keep: int = 10_000) -> None:
        self.storage = MemoryStorage()
        self._apply = apply
        self._keep = keep
        self.commit_index = 0
        self.applied_index = 0
        self.storage.set_hard_state(HardState(term=self.TERM, vote=1, commit=0))

    @property
    def inflight(self) -> int:
        """Proposed entries not yet applied (always 0 here: proposals complete at once)."""
        return self.commit_index - self.applied_index

    def propose(self, cmd: Command) -> Reply:
        """Append ``cmd`` to the log, commit and apply it; returns the apply's reply."""
        index = self.commit_index + 1
        self.storage.append([Entry(term=self.TERM, index=index, data=encode_command(cmd))])
        self.commit_index = index
        reply = self._apply(cmd)
        self.applied_index = index
        if index - self.storage.first_index() >= 2 * self._keep:
            self.storage.compact(index - self._keep)
        return reply

    def last_index(self) -> int:
        return self.storage.last_index()

    def first_index(self) -> int:
        return self.storage.first_index()
