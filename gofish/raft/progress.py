"""The leader's view of each follower: replication progress and flow control.

A `Progress` is in one of three states:

- PROBE: the leader does not know where the follower's log matches. It sends one APPEND
  at a time (``paused`` after sending) and waits for the answer or the next heartbeat
  response; rejections move ``next`` back (using the follower's hint).
- REPLICATE: the follower is known to match up to ``match``; the leader streams APPENDs
  optimistically (``next`` advances on send) while the `Inflights` window has room.
- SNAPSHOT: the leader sent a snapshot at ``pending_snapshot`` and sends nothing else until
  `RawNode.report_snapshot` or an APPEND_RESP shows it arrived.
"""

from __future__ import annotations

import enum
from collections import deque


class ProgressState(enum.IntEnum):
    PROBE = 0
    REPLICATE = 1
    SNAPSHOT = 2


# Enum members bound to module names: looking a member up on its Enum class costs
# ~100 ns in Python 3.11, and the per-message paths do it many times.
_PROBE = ProgressState.PROBE
_REPLICATE = ProgressState.REPLICATE
_SNAPSHOT = ProgressState.SNAPSHOT


class Inflights:
    """APPENDs sent but not yet acknowledged, as (last index, bytes) in sending order."""

    def __init__(self, max_count: int, max_bytes: int = 0) -> None:
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.items: deque[tuple[int, int]] = deque()
        self.bytes = 0

    def add(self, index: int, size: int) -> None:
        self.items.append((index, size))
        self.bytes += size

    def free_le(self, index: int) -> None:
        while self.items and self.items[0][0] <= index:
            self.bytes -= self.items.popleft()[1]

    def free_first(self) -> None:
        if self.items:
            self.bytes -= self.items.popleft()[1]

    def full(self) -> bool:
        if len(self.items) >= self.max_count:
            return True
        return bool(self.max_bytes) and self.bytes >= self.max_bytes

    def reset(self) -> None:
        self.items.clear()
        self.bytes = 0


class Progress:
    def __init__(
        self, next_: int, max_inflight: int, max_inflight_bytes: int, is_learner: bool = False
    ) -> None:
        self.match = 0
        self.next = next_
        self.state = _PROBE
        self.paused = False  # PROBE: an APPEND is outstanding
        self.pending_snapshot = 0
        self.recent_active = False
        self.is_learner = is_learner
        self.inflights = Inflights(max_inflight, max_inflight_bytes)
        self.lease_acked = -1  # leader tick of the newest acknowledged heartbeat
        self.sent_commit = 0  # the commit index the last APPEND to it carried

    def _reset_state(self, state: ProgressState) -> None:
        self.paused = False
        self.pending_snapshot = 0
        self.state = state
        self.inflights.reset()

    def become_probe(self) -> None:
        if self.state == _SNAPSHOT:
            pending = self.pending_snapshot
            self._reset_state(_PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._reset_state(_PROBE)
            self.next = self.match + 1

    def become_replicate(self) -> None:
        self._reset_state(_REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, index: int) -> None:
        self._reset_state(_SNAPSHOT)
        self.pending_snapshot = index

    def sent_entries(self, last_index: int | None, size: int) -> None:
        """Record an APPEND carrying entries up to ``last_index`` (None: no entries)."""
        if self.state == _REPLICATE:
            if last_index is not None:
                self.next = last_index + 1
                self.inflights.add(last_index, size)
        elif self.state == _PROBE:
            self.paused = True

    def maybe_update(self, n: int) -> bool:
        """The follower matches up to ``n``; False if this is stale news."""
        updated = False
        if self.match < n:
            self.match = n
            updated = True
            self.paused = False
        self.next = max(self.next, n + 1)
        return updated

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """An APPEND at ``rejected`` was refused; False if the refusal is stale."""
        if self.state == _REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.paused = False
        return True

    def is_paused(self) -> bool:
        if self.state == _PROBE:
            return self.paused
        if self.state == _REPLICATE:
            return self.inflights.full()
        return True

    def __repr__(self) -> str:
        return (
            f"Progress(match={self.match}, next={self.next}, state={self.state.name}, "
            f"paused={self.paused}, learner={self.is_learner})"
        )


class ProgressTracker:
    """Membership (voters, learners) and a `Progress` for every member, self included."""

    def __init__(self, max_inflight: int, max_inflight_bytes: int = 0) -> None:
        self.voters: set[int] = set()
        self.learners: set[int] = set()
        self.progress: dict[int, Progress] = {}
        self.votes: dict[int, bool] = {}
        self.max_inflight = max_inflight
        self.max_inflight_bytes = max_inflight_bytes

    def quorum(self) -> int:
        return len(self.voters) // 2 + 1

    def is_singleton(self) -> bool:
        return len(self.voters) == 1

    def sorted_ids(self) -> list[int]:
        return sorted(self.progress)

    def new_progress(self, next_: int, is_learner: bool) -> Progress:
        return Progress(next_, self.max_inflight, self.max_inflight_bytes, is_learner)

    def committed(self) -> int:
        """The largest index a quorum of voters has matched."""
        if not self.voters:
            return 0
        progress = self.progress
        matches = sorted([progress[v].match for v in self.voters], reverse=True)
        return matches[self.quorum() - 1]

    def quorum_value(self, values: dict[int, int]) -> int:
        """The largest value that a quorum of voters has reached (missing voters: -1)."""
        vals = sorted((values.get(v, -1) for v in self.voters), reverse=True)
        return vals[self.quorum() - 1] if vals else -1

    def quorum_active(self) -> bool:
        return sum(1 for v in self.voters if self.progress[v].recent_active) >= self.quorum()

    # --- votes ----------------------------------------------------------------------------
    def reset_votes(self) -> None:
        self.votes = {}

    def record_vote(self, node: int, granted: bool) -> None:
        self.votes.setdefault(node, granted)

    def tally(self) -> tuple[int, int, str]:
        """(granted, rejected, result) with result in {"won", "lost", "pending"}."""
        granted = sum(1 for v in self.voters if self.votes.get(v) is True)
        rejected = sum(1 for v in self.voters if self.votes.get(v) is False)
        if granted >= self.quorum():
            return granted, rejected, "won"
        if rejected > len(self.voters) - self.quorum():
            return granted, rejected, "lost"
        return granted, rejected, "pending"
