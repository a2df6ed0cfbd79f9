"""The Raft driver's vocabulary: its error replies, settings, statistics, the transport it
talks to, and the small records it keeps per proposal and per Ready (`gofish.node.driver`).

Error replies a proposal's future may resolve with, by prefix (ADR 0007, ADR 0009):

- ``LOADING``: the driver has not started (the log is still being opened or replayed);
- ``CLUSTERDOWN``: the command never left this node — no reachable leader within
  ``leader_wait``, the node stops, or an EXEC's WATCH check could not find an idle moment in
  time; not applied;
- ``TIMEOUT``: the outcome is unknown — the command was proposed (here or, forwarded, at
  the leader) but its apply was not seen within ``proposal_timeout`` or the node stopped
  first; it may have been applied. Retrying it is safe only as the same request (same client
  id and seq): the state machine applies a request once (`gofish.statemachine.sessions`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from gofish import errors
from gofish.raft import Message, MessageType, Ready, Snapshot
from gofish.statemachine.entry import Command

#: The error replies of a write that did not complete (meanings in gofish.errors).
CLUSTERDOWN: Final = errors.CLUSTERDOWN
UNCONFIRMED: Final = errors.UNCONFIRMED


class NodeRemovedError(Exception):
    """This node is no longer a member of its cluster: it must stop serving."""

#: Messages a leader may send before its own fsync.
EARLY = frozenset({MessageType.APPEND, MessageType.HEARTBEAT})

Apply = Callable[[Command], Any]


class Transport(Protocol):
    """The peer transport, as the driver uses it (none when the node is alone)."""

    def send(self, messages: Iterable[Message]) -> None:
        """Queue ``messages`` for their peers; never blocks, never raises on a dead peer.
        The transport hands every message it receives to `RaftDriver.step`."""
        ...

    def add_peer(self, node_id: int, addr: tuple[str, int]) -> None: ...

    def remove_peer(self, node_id: int) -> None: ...

    def is_connected(self, node_id: int) -> bool: ...


class CheckpointHooks(Protocol):
    """What the driver needs of the node's checkpoints (`gofish.node.checkpoints`)."""

    def restore(self, min_index: int) -> int:
        """Load the newest checkpoint at or after ``min_index``; its index (0: none)."""
        ...

    def snapshot_data(self, snap: Snapshot) -> bytes:
        """The bytes a Raft snapshot to a follower carries, for the checkpoint ``snap``
        refers to (its data holds the checkpoint's directory name)."""
        ...

    def install(self, snap: Snapshot) -> Any:
        """Write, verify and load the checkpoint a received Raft snapshot carries."""
        ...


@dataclass(frozen=True)
class DriverSettings:
    """Timing and identity of one driver. Durations in seconds; ticks as in `Config`.

    The election timeout is randomized in ``[election_tick, 2 * election_tick)`` ticks: with
    the defaults 0.5–1.0 s, so a failover takes about a second; heartbeats every 0.1 s.
    """

    node_id: int = 1
    #: founding voters: bootstrap the membership of an empty store (not with ``join``)
    voters: tuple[int, ...] = (1,)
    #: a new node waiting to be added (``RAFT ADD``): it founds nothing
    join: bool = False
    tick_interval: float = 0.05
    election_tick: int = 10
    heartbeat_tick: int = 2
    #: how long a proposal may wait for its apply before it fails with UNCONFIRMED
    proposal_timeout: float = 10.0
    #: how long a proposal made while no leader is known waits for one (then CLUSTERDOWN)
    leader_wait: float = 2.0
    #: how long a read waits for its read point (ReadIndex) before CLUSTERDOWN
    read_timeout: float = 2.0
    #: seconds between the background syncs of ``appendfsync everysec``
    everysec_interval: float = 1.0
    #: entries per chunk of the restart replay (the loop is yielded between chunks)
    replay_chunk: int = 1024
    #: seconds between progress lines of a long replay
    replay_log_interval: float = 1.0
    #: requests proposed in one loop turn go into batch entries of at most this many requests
    #: and (about) this many bytes (`gofish.statemachine.entry`); 1 turns batching off
    batch_max: int = 256
    batch_max_bytes: int = 1 << 20
    #: planted bugs, for testing that the fault suite's checker catches them (never set in
    #: production; the server reads them from ``GOFISH_TEST_BUGS``): see `DRIVER_TEST_BUGS`
    test_bugs: frozenset[str] = frozenset()


#: ``local-reads``: linearizable and lease reads are served from local state without a read
#: point (stale reads after a failover or a pause). The Raft core's planted bugs
#: (`gofish.raft.config.KNOWN_TEST_BUGS`) are passed through to it.
DRIVER_TEST_BUGS = frozenset({"local-reads"})


@dataclass(frozen=True, slots=True)
class DriverStatistics:
    readies: int
    proposals: int
    entries_applied: int
    #: completed syncs of the log and the time they took (from the store)
    syncs: int
    sync_seconds_total: float
    sync_seconds_max: float
    #: Readies saved and waiting for a sync right now
    waiting_readies: int
    pending_proposals: int
    #: longest time one Ready took on the loop (save + apply + send + advance)
    ready_seconds_max: float
    #: longest delay of a tick timer behind its schedule: the loop's worst stall
    tick_lag_max: float
    replayed_entries: int
    replay_seconds: float
    #: proposals forwarded to the leader, and proposals sent again after a leader change
    forwarded: int = 0
    resent: int = 0
    #: ReadIndex requests made (each serves a batch of reads)
    read_requests: int = 0


class Proposal:
    """A command waiting for its apply. ``term``/``index``: where this node (as leader)
    last appended it, 0 if it was forwarded; ``sent``: it left the node at least once."""

    __slots__ = ("term", "index", "future", "cmd", "deadline", "sent", "data")

    def __init__(self, future: asyncio.Future[Any], cmd: Command, deadline: float):
        self.term = 0
        self.index = 0
        self.future = future
        self.cmd = cmd
        self.deadline = deadline
        self.sent = False
        self.data = b""


class Stage:
    """A saved Ready waiting to be completed (messages sent, advanced) in order."""

    __slots__ = ("ready", "seq", "messages")

    def __init__(self, ready: Ready, seq: int, messages: list[Message]) -> None:
        self.ready = ready
        self.seq = seq  # the save's seq a sync must cover first; 0: nothing to wait for
        self.messages = messages


def settle(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)
