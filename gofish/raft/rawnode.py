"""`RawNode`: the driver-facing API of one Raft node, and the `Ready` hand-off."""

from __future__ import annotations

from dataclasses import dataclass, field

from gofish.raft import leader
from gofish.raft.config import Config
from gofish.raft.messages import (
    ConfChange,
    Message,
    ReadState,
    SoftState,
    StateRole,
    encode_conf_change,
)
from gofish.raft.raft import Raft
from gofish.raft.storage import Storage
from gofish.raft.types import ConfState, Entry, HardState, Snapshot


@dataclass
class Ready:
    """What the node needs done. The driver must, in this order:

    1. **Persist** ``snapshot`` (``storage.apply_snapshot``), then ``entries``
       (``storage.append``, which truncates any conflicting suffix), then ``hard_state``
       (``storage.set_hard_state``); fsync if ``must_sync``.
    2. **Send** ``messages``. Several depend on step 1 (a vote response on the persisted
       vote, an APPEND_RESP on the persisted entries), so never send them before it.
    3. **Apply** ``committed_entries`` in order (and restore ``snapshot`` into the state
       machine first). For a CONF_CHANGE entry, decode its data with
       `decode_conf_change` and call `RawNode.apply_conf_change`; persist the returned
       `ConfState` together with the applied index. Entries here are always already
       persisted: they never come from this Ready's ``entries``.
    4. Call `RawNode.advance` with this Ready.

    Serve ``read_states`` once the state machine has applied ``ReadState.index``.

    ``soft_state``/``hard_state`` are None when unchanged since the previous Ready.
    """

    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    committed_entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    read_states: list[ReadState] = field(default_factory=list)
    must_sync: bool = False


@dataclass
class Status:
    id: int
    term: int
    vote: int
    commit: int
    applied: int
    role: StateRole
    leader: int
    conf_state: ConfState
    #: leader only: {node id: (match, next)}; empty on other roles
    progress: dict[int, tuple[int, int]]
    lead_transferee: int = 0
    last_index: int = 0


class RawNode:
    """One Raft node without I/O. Not thread-safe: one owner calls everything.

    Inputs: `tick` (the clock), `step` (peer messages), `propose`, `propose_conf_change`,
    `read_index`, `transfer_leader`, `campaign`, `report_unreachable`,
    `report_snapshot`. Outputs: `ready` when `has_ready`, acknowledged with `advance`.
    On construction the node restores its hard state, membership and log from
    ``storage``; ``config.applied`` tells it what the state machine already applied.
    """

    def __init__(self, config: Config, storage: Storage) -> None:
        self.raft = Raft(config, storage)
        self._prev_soft = self._soft_state()
        self._prev_hard = self.raft.persisted_hard_state

    # --- properties -----------------------------------------------------------------------
    @property
    def id(self) -> int:
        return self.raft.id

    @property
    def term(self) -> int:
        return self.raft.term

    @property
    def role(self) -> StateRole:
        return self.raft.role

    @property
    def leader_id(self) -> int:
        return self.raft.lead

    @property
    def commit_index(self) -> int:
        return self.raft.log.committed

    @property
    def applied_index(self) -> int:
        return self.raft.log.applied

    @property
    def last_index(self) -> int:
        return self.raft.log.last_index()

    # --- inputs ---------------------------------------------------------------------------
    def tick(self) -> None:
        """Advance the logical clock by one tick."""
        self.raft.tick()

    def step(self, msg: Message) -> None:
        """Feed a message from a peer. Raises ValueError if it is not addressed to us."""
        self.raft.step(msg)

    def propose(self, data: bytes) -> int:
        """Append ``data`` as a new entry; returns its index (it may still be lost if
        leadership changes before it commits). Raises `ProposalDroppedError` unless this
        node is the leader and no leadership transfer is in progress."""
        return self.raft.propose(data)

    def propose_conf_change(self, cc: ConfChange) -> int:
        """Propose a membership change; returns its entry index. Raises
        `ProposalDroppedError` when not leader or while an earlier change is not yet
        applied, ValueError if it would leave no voter. The change takes effect when the
        committed entry is applied (`apply_conf_change`)."""
        return self.raft.propose_conf_change(cc, encode_conf_change(cc))

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        """Apply a committed CONF_CHANGE entry; returns the new membership to persist."""
        return self.raft.apply_conf_change(cc)

    def read_index(self, ctx: bytes) -> None:
        """Request a linearizable read point for ``ctx`` (unique, non-empty); the answer
        arrives as a `ReadState` in a later Ready (see `Raft.read_index`)."""
        self.raft.read_index(ctx)

    def transfer_leader(self, to: int) -> None:
        """Hand leadership to voter ``to`` (a follower forwards the request). Proposals are
        refused until it completes or is aborted after ``election_tick`` ticks."""
        self.raft.transfer_leader(to)

    def campaign(self) -> None:
        """Start an election now (a pre-vote first when enabled). With
        ``read_only_lease_based``, refused while this node is in lease (it heard from the
        leader, or restarted, within ``election_tick`` ticks): see `Raft.campaign`."""
        self.raft.campaign()

    def report_unreachable(self, id: int) -> None:
        """The transport failed to deliver to ``id``: stop streaming, probe again."""
        self.raft.report_unreachable(id)

    def report_snapshot(self, id: int, failed: bool) -> None:
        """The transport finished sending a snapshot to ``id``."""
        self.raft.report_snapshot(id, failed)

    # --- outputs --------------------------------------------------------------------------
    def _soft_state(self) -> SoftState:
        return SoftState(leader=self.raft.lead, role=self.raft.role)

    def has_ready(self) -> bool:
        """True if `ready` has work to hand out. O(1): compares plain fields and flags."""
        r = self.raft
        if r.msgs or r.append_pending or r.read_states:
            return True
        ps, ph = self._prev_soft, self._prev_hard
        if r.lead != ps.leader or r.role != ps.role:
            return True
        log = r.log
        if r.term != ph.term or r.vote != ph.vote or log.committed != ph.commit:
            return True
        u = log.unstable
        if len(u.entries) > u.offset_in_progress - u.offset:
            return True  # entries not yet handed out for persisting
        if u.snapshot is not None and not u.snapshot_in_progress:
            return True
        return log.has_next_committed()

    def ready(self) -> Ready:
        """Collect the pending work; ownership of it passes to the caller."""
        r = self.raft
        if r.append_pending:
            leader.flush_appends(r)
        ps, ph = self._prev_soft, self._prev_hard
        log = r.log
        ss: SoftState | None = None
        if r.lead != ps.leader or r.role != ps.role:
            ss = self._prev_soft = self._soft_state()
        hs: HardState | None = None
        if r.term != ph.term or r.vote != ph.vote or log.committed != ph.commit:
            hs = self._prev_hard = r.hard_state()
        u = log.unstable
        rd = Ready(
            soft_state=ss,
            hard_state=hs,
            entries=u.next_entries(),
            messages=r.msgs,
            committed_entries=log.next_committed(),
            snapshot=u.next_snapshot(),
            read_states=r.read_states,
        )
        rd.must_sync = bool(
            rd.entries
            or rd.snapshot is not None
            or (hs is not None and (hs.term != ph.term or hs.vote != ph.vote))
        )
        r.msgs = []
        r.read_states = []
        u.accept_in_progress()
        if rd.committed_entries:
            log.accept_applying(rd.committed_entries[-1].index)
        return rd

    def advance(self, rd: Ready) -> None:
        """Everything in ``rd`` was persisted, sent and applied."""
        log = self.raft.log
        if rd.snapshot is not None:
            log.stable_snap_to(rd.snapshot.metadata.index)
            log.applied_to(rd.snapshot.metadata.index)
        if rd.entries:
            last = rd.entries[-1]
            log.stable_to(last.index, last.term)
        if rd.committed_entries:
            log.applied_to(rd.committed_entries[-1].index)
        self.raft.on_persisted()

    def status(self) -> Status:
        r = self.raft
        progress: dict[int, tuple[int, int]] = {}
        if r.role == StateRole.LEADER:
            progress = {n: (pr.match, pr.next) for n, pr in sorted(r.trk.progress.items())}
        return Status(
            id=r.id,
            term=r.term,
            vote=r.vote,
            commit=r.log.committed,
            applied=r.log.applied,
            role=r.role,
            leader=r.lead,
            conf_state=r.conf_state(),
            progress=progress,
            lead_transferee=r.lead_transferee,
            last_index=r.log.last_index(),
        )
