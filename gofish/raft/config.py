"""Configuration of one Raft node."""

from __future__ import annotations

from dataclasses import dataclass

#: Names accepted in `Config.test_bugs` (planted bugs for testing the simulator's checks).
KNOWN_TEST_BUGS = frozenset({"vote-ignores-log", "commit-any-term", "stale-read-index"})


@dataclass
class Config:
    """Settings of one Raft node. All durations are in ticks (`RawNode.tick` calls).

    ``voters``/``learners`` bootstrap the membership only when the storage holds none
    (``storage.initial_state()`` returns an empty `ConfState`); afterwards membership comes
    from storage and conf changes.

    ``read_only_lease_based`` serves `RawNode.read_index` from the leader's commit index
    without a heartbeat round while the leader holds a lease (requires ``check_quorum``).
    The lease lasts ``lease_ticks`` (default ``election_tick - 2``) leader ticks counted
    from the *sending* of the newest heartbeat a quorum has acknowledged. It is safe while
    ``lease_ticks * (slowest leader tick period) <= (election_tick - 1) * (fastest follower
    tick period)``: a follower that received a heartbeat refuses votes for ``election_tick``
    of its own ticks, the first of which may come right after the receipt. With the
    defaults (10 and 8) the tick clocks of two nodes may differ in rate by up to 12.5%.
    To keep that promise a node with lease reads on also refuses votes and
    `RawNode.campaign` for its first ``election_tick`` ticks after restarting from a
    non-empty log (it may have acknowledged a heartbeat just before going down), and
    refuses `RawNode.campaign` while in lease (its own vote counts too); a leader
    transfer is never blocked.

    ``seed`` makes the randomized election timeout deterministic: the generator is
    ``random.Random(f"{seed}/{id}")``, so nodes sharing a seed still draw different
    timeouts.

    ``test_bugs`` plants known-wrong behaviour for testing the simulator; never set it in
    production (see `KNOWN_TEST_BUGS`).
    """

    id: int
    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()
    election_tick: int = 10
    heartbeat_tick: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    max_inflight_msgs: int = 256
    max_size_per_msg: int = 1 << 20
    read_only_lease_based: bool = False
    applied: int = 0
    seed: int = 0
    test_bugs: frozenset[str] = frozenset()
    #: Cap on the bytes of entry data in flight to one follower (0 = no cap).
    max_inflight_bytes: int = 0
    #: Leader lease length in ticks; 0 means ``election_tick - 2`` (at least 1).
    lease_ticks: int = 0

    def validate(self) -> None:
        """Raises ValueError on an inconsistent configuration."""
        if self.id <= 0:
            raise ValueError("id must be positive")
        if self.heartbeat_tick <= 0:
            raise ValueError("heartbeat_tick must be positive")
        if self.election_tick <= self.heartbeat_tick:
            raise ValueError("election_tick must be greater than heartbeat_tick")
        if self.max_inflight_msgs <= 0:
            raise ValueError("max_inflight_msgs must be positive")
        if self.read_only_lease_based and not self.check_quorum:
            raise ValueError("read_only_lease_based requires check_quorum")
        if set(self.voters) & set(self.learners):
            raise ValueError("a node cannot be both voter and learner")
        if self.lease_ticks < 0 or self.lease_ticks >= self.election_tick:
            raise ValueError("lease_ticks must be in [0, election_tick)")
        unknown = self.test_bugs - KNOWN_TEST_BUGS
        if unknown:
            raise ValueError(f"unknown test bugs: {sorted(unknown)}")

    @property
    def effective_lease_ticks(self) -> int:
        return self.lease_ticks or max(1, self.election_tick - 2)
