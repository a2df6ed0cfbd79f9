"""The Raft state machine of one node (no I/O): roles, elections, replication, reads.

Rules this module keeps (the numbers refer to the Raft paper, §5 unless noted):

- Terms: any message with a higher term makes the node a follower of that term, except
  PRE_VOTE requests and granted PRE_VOTE_RESPs (pre-vote never changes terms), and
  VOTE/PRE_VOTE requests that arrive while the node is *in lease* (check_quorum on and a
  leader heard from within ``election_tick``, or, with lease reads, restarted fewer than
  ``election_tick`` ticks ago: `Raft.in_lease`); those are ignored unless they belong to a
  leader-transfer election. Messages with a lower term are dropped; a stale APPEND or
  HEARTBEAT is answered with our term so a deposed leader steps down.
- Elections: a follower campaigns after a randomized timeout in
  ``[election_tick, 2*election_tick)``; with pre-vote it first polls the voters at
  ``term+1`` without changing its term and campaigns for real only with a quorum of
  pre-votes. A vote is granted only to a candidate whose log is at least as up to date
  (§5.4.1). A node that is not a voter (learner, removed, unknown) never campaigns, nor
  does a node with committed-but-unapplied conf changes.
- Replication: a new leader appends an empty entry of its term; an index is committed when
  a quorum of voters has it *and* it is of the leader's current term (§5.4.2). The
  leader's own log counts only once persisted (`Raft.on_persisted`). A proposal is
  appended at once but reaches followers with the next `RawNode.ready`, batched with every
  other proposal made since (`leader.flush_appends`).
- Check quorum: a leader that has not heard from a quorum of voters within
  ``election_tick`` ticks steps down.
- Reads: see `Raft.read_index`.
- Membership: single-server changes take effect when the driver *applies* the committed
  CONF_CHANGE entry (`Raft.apply_conf_change`); only one may be pending (proposed but not
  applied) at a time. A leader that removes (or demotes) itself steps down when it applies
  the change, i.e. after it is committed.
"""

from __future__ import annotations

import random
from typing import Any

from gofish.raft import leader
from gofish.raft.config import Config
from gofish.raft.log import RaftLog
from gofish.raft.messages import (
    CAMPAIGN_TRANSFER,
    ConfChange,
    ConfChangeType,
    Message,
    MessageType,
    ProposalDroppedError,
    ReadState,
    StateRole,
    encode_conf_change,
)
from gofish.raft.progress import ProgressState, ProgressTracker
from gofish.raft.readonly import ReadOnly
from gofish.raft.storage import CompactedError, Storage
from gofish.raft.types import ConfState, Entry, EntryType, HardState, Snapshot

MT = MessageType

# Enum members bound to module names: looking a member up on its Enum class costs
# ~100 ns in Python 3.11, and the per-message paths do it many times.
_APPEND = MT.APPEND
_APPEND_RESP = MT.APPEND_RESP
_CANDIDATE = StateRole.CANDIDATE
_CONF_CHANGE = EntryType.CONF_CHANGE
_FOLLOWER = StateRole.FOLLOWER
_HEARTBEAT = MT.HEARTBEAT
_HEARTBEAT_RESP = MT.HEARTBEAT_RESP
_LEADER = StateRole.LEADER
_NORMAL = EntryType.NORMAL
_PRE_CANDIDATE = StateRole.PRE_CANDIDATE
_PRE_VOTE = MT.PRE_VOTE
_PRE_VOTE_RESP = MT.PRE_VOTE_RESP
_PROPOSE = MT.PROPOSE
_PR_REPLICATE = ProgressState.REPLICATE
_PR_SNAPSHOT = ProgressState.SNAPSHOT
_READ_INDEX = MT.READ_INDEX
_READ_INDEX_RESP = MT.READ_INDEX_RESP
_SNAPSHOT = MT.SNAPSHOT
_TIMEOUT_NOW = MT.TIMEOUT_NOW
_TRANSFER_LEADER = MT.TRANSFER_LEADER
_VOTE = MT.VOTE
_VOTE_RESP = MT.VOTE_RESP

_RESP_TO_VOTE = {_VOTE: _VOTE_RESP, _PRE_VOTE: _PRE_VOTE_RESP}
#: Message types by handling: votes; what a leader sends; requests forwarded with term 0.
_VOTES = frozenset({_VOTE, _PRE_VOTE})
_FROM_LEADER = frozenset({_APPEND, _HEARTBEAT, _SNAPSHOT})
_FORWARDED = frozenset({_PROPOSE, _READ_INDEX, _TRANSFER_LEADER})


class Raft:
    def __init__(self, cfg: Config, storage: Storage) -> None:
        cfg.validate()
        self.cfg = cfg
        self.id = cfg.id
        self.bugs = cfg.test_bugs
        self.log = RaftLog(storage)
        hs, cs = storage.initial_state()
        self.persisted_hard_state = hs  # what storage holds; RawNode diffs against it
        #: Lease reads: a node restarted from a non-empty log may have acknowledged a
        #: leader's heartbeat just before it went down, and has forgotten when. It keeps
        #: the promise behind that acknowledgement (no vote, no campaign except by leader
        #: transfer) for its first ``election_tick`` ticks (see `in_lease`).
        self.boot_lease = cfg.read_only_lease_based and not (
            storage.last_index() == 0 and hs == HardState()
        )
        self.bootstrap_index = 0
        if not cs.voters and not cs.learners:
            cs = ConfState(voters=tuple(cfg.voters), learners=tuple(cfg.learners))
            if storage.last_index() == 0 and hs == HardState() and (cs.voters or cs.learners):
                hs = self._bootstrap(cs)
        self.trk = ProgressTracker(cfg.max_inflight_msgs, cfg.max_inflight_bytes)
        self.term = hs.term
        self.vote = hs.vote
        self.lead = 0
        self.role = _FOLLOWER
        self.msgs: list[Message] = []
        #: Leader: entries were appended that followers have not been sent yet; the next
        #: `RawNode.ready` sends them (`leader.flush_appends`), batched.
        self.append_pending = False
        #: Leader: the commit index moved since the last `flush_appends`, which tells
        #: the followers (in the APPEND it sends each anyway, or an empty one).
        self.commit_pending = False
        self.read_states: list[ReadState] = []
        self.read_only = ReadOnly()
        self.pending_reads: list[tuple[bytes, int]] = []  # (ctx, origin) before term commit
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.ticks = 0  # monotonic tick counter (the leader lease clock)
        self.rng = random.Random(f"{cfg.seed}/{cfg.id}")
        self.randomized_election_timeout = cfg.election_tick
        self.lead_transferee = 0
        self.timeout_now_sent = False  # this term: lease reads are off after a transfer
        self.pending_conf_index = 0
        if hs.commit:
            if hs.commit > self.log.last_index():
                raise ValueError(
                    f"hard state commit {hs.commit} beyond last index {self.log.last_index()}"
                )
            self.log.commit_to(hs.commit)
        if cfg.applied:
            if cfg.applied > self.log.committed:
                raise ValueError(f"applied {cfg.applied} beyond commit {self.log.committed}")
            self.log.applied_to(cfg.applied)
        self._load_conf_state(cs)
        self.become_follower(self.term, 0)

    def _bootstrap(self, cs: ConfState) -> HardState:
        """A brand-new node (empty storage) writes its initial membership into the log as
        committed CONF_CHANGE entries of term 1 (one per member, sorted), as etcd raft does.
        Every founding member writes the same entries, and a node that joins later and
        replays the log from index 1 learns the founding membership from them."""
        changes = [ConfChange(ConfChangeType.ADD_NODE, v) for v in sorted(cs.voters)]
        changes += [ConfChange(ConfChangeType.ADD_LEARNER, v) for v in sorted(cs.learners)]
        ents = [
            Entry(term=1, index=i + 1, type=_CONF_CHANGE, data=encode_conf_change(cc))
            for i, cc in enumerate(changes)
        ]
        self.log.append(ents)
        self.bootstrap_index = len(ents)
        return HardState(term=1, vote=0, commit=len(ents))

    # --- small helpers --------------------------------------------------------------------
    def _send(self, type_: MessageType, to: int, term: int | None = None, **kw: Any) -> None:
        if term is None:
            term = 0 if type_ in _FORWARDED else self.term
        self.msgs.append(Message(type=type_, to=to, from_=self.id, term=term, **kw))

    def hard_state(self) -> HardState:
        return HardState(term=self.term, vote=self.vote, commit=self.log.committed)

    def conf_state(self) -> ConfState:
        return ConfState(
            voters=tuple(sorted(self.trk.voters)), learners=tuple(sorted(self.trk.learners))
        )

    def promotable(self) -> bool:
        return self.id in self.trk.voters and self.log.unstable.snapshot is None

    def _load_conf_state(self, cs: ConfState) -> None:
        self.trk.voters = set(cs.voters)
        self.trk.learners = set(cs.learners)
        nxt = self.log.last_index() + 1
        self.trk.progress = {}
        for n in sorted(self.trk.voters | self.trk.learners):
            pr = self.trk.new_progress(nxt, n in self.trk.learners)
            if n == self.id:
                pr.match = self.log.stable_last_index()
            self.trk.progress[n] = pr

    def _reset_randomized_election_timeout(self) -> None:
        e = self.cfg.election_tick
        self.randomized_election_timeout = self.rng.randrange(e, 2 * e)

    def in_lease(self) -> bool:
        """True while this node must not help elect a new leader (other than by a leader
        transfer): it heard from the leader within ``election_tick`` ticks (check quorum),
        or, with lease reads, it restarted fewer than ``election_tick`` ticks ago and may
        have acknowledged a heartbeat just before (``boot_lease``)."""
        if not self.cfg.check_quorum:
            return False
        e = self.cfg.election_tick
        if self.lead != 0 and self.election_elapsed < e:
            return True
        return self.boot_lease and self.ticks < e

    # --- role changes ---------------------------------------------------------------------
    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = 0
        self.lead = 0
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self._reset_randomized_election_timeout()
        self.lead_transferee = 0
        self.timeout_now_sent = False
        self.append_pending = self.commit_pending = False
        self.trk.reset_votes()
        nxt = self.log.last_index() + 1
        for n, old in list(self.trk.progress.items()):
            pr = self.trk.new_progress(nxt, old.is_learner)
            if n == self.id:
                pr.match = self.log.stable_last_index()
                pr.recent_active = True
            self.trk.progress[n] = pr
        self.pending_conf_index = 0
        self.read_only = ReadOnly()
        self.pending_reads = []

    def become_follower(self, term: int, lead: int) -> None:
        self._reset(term)
        self.lead = lead
        self.role = _FOLLOWER

    def become_pre_candidate(self) -> None:
        if self.role == _LEADER:
            raise RuntimeError("leader cannot become pre-candidate")
        self.trk.reset_votes()
        self.lead = 0
        self.role = _PRE_CANDIDATE

    def become_candidate(self) -> None:
        if self.role == _LEADER:
            raise RuntimeError("leader cannot become candidate")
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = _CANDIDATE

    def become_leader(self) -> None:
        if self.role == _FOLLOWER:
            raise RuntimeError("follower cannot become leader")
        self._reset(self.term)
        self.lead = self.id
        self.role = _LEADER
        me = self.trk.progress[self.id]
        me.become_replicate()
        me.match = self.log.stable_last_index()
        me.recent_active = True
        self.pending_conf_index = self.log.last_index()
        leader.append_entries(self, [Entry(term=self.term, index=0)])

    # --- ticks ----------------------------------------------------------------------------
    def tick(self) -> None:
        self.ticks += 1
        if self.role == _LEADER:
            self._tick_heartbeat()
        else:
            self.election_elapsed += 1
            if self.promotable() and self.election_elapsed >= self.randomized_election_timeout:
                self.election_elapsed = 0
                self.hup()

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.cfg.election_tick:
            self.election_elapsed = 0
            if self.cfg.check_quorum:
                self.trk.progress[self.id].recent_active = True
                active = self.trk.quorum_active()
                for n, pr in self.trk.progress.items():
                    if n != self.id:
                        pr.recent_active = False
                if not active:
                    self.become_follower(self.term, 0)
                    return
            self.lead_transferee = 0  # a transfer not done within election_tick is aborted
        if self.heartbeat_elapsed >= self.cfg.heartbeat_tick:
            self.heartbeat_elapsed = 0
            leader.bcast_heartbeat(self)

    # --- elections ------------------------------------------------------------------------
    def has_unapplied_conf_changes(self) -> bool:
        # The bootstrap entries are already in effect (they built the initial membership).
        lo = max(self.log.applied, self.bootstrap_index) + 1
        hi = self.log.committed + 1
        if lo >= hi:
            return False
        try:
            ents = self.log.slice(lo, hi)
        except CompactedError:
            return False
        return any(e.type == _CONF_CHANGE for e in ents)

    def campaign(self) -> None:
        """An election asked for by the driver (`RawNode.campaign`), if allowed.

        With lease reads, a node in lease (`in_lease`) refuses: its own vote would break
        the promise its heartbeat acknowledgement gave the leader, whose lease may still
        be serving reads (use a leader transfer instead). A sole voter has no one to
        break a promise to and always may.
        """
        if self.cfg.read_only_lease_based and self.trk.voters != {self.id} and self.in_lease():
            return
        self.hup()

    def hup(self, transfer: bool = False) -> None:
        """Start an election (with pre-vote unless ``transfer``), if allowed."""
        if self.role == _LEADER or not self.promotable():
            return
        if self.has_unapplied_conf_changes():
            return
        if transfer or not self.cfg.pre_vote:
            self._campaign(pre=False, transfer=transfer)
        else:
            self._campaign(pre=True, transfer=False)

    def _campaign(self, pre: bool, transfer: bool) -> None:
        if pre:
            self.become_pre_candidate()
            vote_type, term = _PRE_VOTE, self.term + 1
        else:
            self.become_candidate()
            vote_type, term = _VOTE, self.term
        self.trk.record_vote(self.id, True)
        if self._tally_won():
            return
        ctx = CAMPAIGN_TRANSFER if transfer else b""
        last = self.log.last_index()
        last_term = self.log.last_term()
        for n in sorted(self.trk.voters):
            if n != self.id:
                self._send(vote_type, n, term=term, index=last, log_term=last_term, context=ctx)

    def _tally_won(self) -> bool:
        """Act on the vote count; True if the election ended (won or lost)."""
        _, _, result = self.trk.tally()
        if result == "won":
            if self.role == _PRE_CANDIDATE:
                self._campaign(pre=False, transfer=False)
            else:
                self.become_leader()
                leader.bcast_append(self)
            return True
        if result == "lost":
            self.become_follower(self.term, 0)
            return True
        return False

    def _handle_vote(self, m: Message) -> None:
        can_vote = (
            self.vote == m.from_
            or (self.vote == 0 and self.lead == 0)
            or (m.type == _PRE_VOTE and m.term > self.term)
        )
        up_to_date = "vote-ignores-log" in self.bugs or self.log.is_up_to_date(m.index, m.log_term)
        if can_vote and up_to_date:
            self._send(_RESP_TO_VOTE[m.type], m.from_, term=m.term)
            if m.type == _VOTE:
                self.election_elapsed = 0
                self.vote = m.from_
        else:
            self._send(_RESP_TO_VOTE[m.type], m.from_, term=self.term, reject=True)

    # --- step -----------------------------------------------------------------------------
    def step(self, m: Message) -> None:
        if m.to != self.id:
            raise ValueError(f"message to {m.to} stepped into node {self.id}")
        if m.from_ == self.id:
            return
        if m.term == 0:
            pass  # forwarded request (PROPOSE, READ_INDEX, TRANSFER_LEADER)
        elif m.term > self.term:
            if (
                m.type in _VOTES
                and m.context != CAMPAIGN_TRANSFER
                and self.in_lease()
            ):
                return
            if m.type == _PRE_VOTE or (m.type == _PRE_VOTE_RESP and not m.reject):
                pass
            elif m.type in _FROM_LEADER:
                self.become_follower(m.term, m.from_)
            else:
                self.become_follower(m.term, 0)
        elif m.term < self.term:
            if (self.cfg.check_quorum or self.cfg.pre_vote) and m.type in (
                _HEARTBEAT,
                _APPEND,
            ):
                self._send(_APPEND_RESP, m.from_)
            elif m.type == _PRE_VOTE:
                self._send(_PRE_VOTE_RESP, m.from_, term=self.term, reject=True)
            return
        if m.type in _VOTES:
            self._handle_vote(m)
        elif self.role == _LEADER:
            leader.step_leader(self, m)
        elif self.role == _FOLLOWER:
            self._step_follower(m)
        else:
            self._step_candidate(m)

    def _step_follower(self, m: Message) -> None:
        if m.type in _FROM_LEADER:
            self.election_elapsed = 0
            self.lead = m.from_
            self._handle_from_leader(m)
        elif m.type == _TIMEOUT_NOW:
            self.hup(transfer=True)
        elif m.type == _READ_INDEX_RESP:
            self.read_states.append(ReadState(index=m.index, request_ctx=m.context))
        # PROPOSE / READ_INDEX / TRANSFER_LEADER from peers are for leaders only: dropped.

    def _step_candidate(self, m: Message) -> None:
        if m.type in _FROM_LEADER:
            self.become_follower(m.term, m.from_)
            self._handle_from_leader(m)
        elif (m.type == _PRE_VOTE_RESP and self.role == _PRE_CANDIDATE) or (
            m.type == _VOTE_RESP and self.role == _CANDIDATE
        ):
            self.trk.record_vote(m.from_, not m.reject)
            self._tally_won()

    def _handle_from_leader(self, m: Message) -> None:
        if m.type == _APPEND:
            self._handle_append(m)
        elif m.type == _HEARTBEAT:
            self.log.commit_to(m.commit)
            self._send(_HEARTBEAT_RESP, m.from_, context=m.context, index=m.index)
        elif m.snapshot is not None:
            restored = self.restore(m.snapshot)
            idx = self.log.last_index() if restored else self.log.committed
            self._send(_APPEND_RESP, m.from_, index=idx)

    def _handle_append(self, m: Message) -> None:
        if m.index < self.log.committed:
            self._send(_APPEND_RESP, m.from_, index=self.log.committed)
            return
        last_new = self.log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if last_new is not None:
            self._send(_APPEND_RESP, m.from_, index=last_new)
            return
        hint = min(m.index, self.log.last_index())
        hint, hint_term = self.log.find_conflict_by_term(hint, m.log_term)
        self._send(
            _APPEND_RESP,
            m.from_,
            index=m.index,
            reject=True,
            reject_hint=hint,
            log_term=hint_term,
        )

    def restore(self, snap: Snapshot) -> bool:
        """Follower side of SNAPSHOT: True if the log was replaced by ``snap``."""
        meta = snap.metadata
        if meta.index <= self.log.committed:
            return False
        # A snapshot whose membership lacks us is still accepted: we may have been re-added
        # after it was taken, and the log after it re-adds us when applied.
        if self.log.match_term(meta.index, meta.term):
            self.log.commit_to(meta.index)  # we already have it: fast-forward
            return False
        self.log.restore(snap)
        self._load_conf_state(meta.conf_state)
        return True

    def committed_in_current_term(self) -> bool:
        return self.log.term_or_zero(self.log.committed) == self.term

    # --- client-facing operations -----------------------------------------------------------
    def on_persisted(self) -> None:
        """Called from advance after the driver persisted entries."""
        leader.on_persisted(self)

    def propose(self, data: bytes, type_: EntryType = _NORMAL) -> int:
        if self.role != _LEADER or self.lead_transferee or self.id not in self.trk.progress:
            if self.role != _LEADER:
                raise ProposalDroppedError("not the leader")
            if self.lead_transferee:
                raise ProposalDroppedError("leadership transfer in progress")
            raise ProposalDroppedError("leader was removed from the cluster")
        last = self.log.append_new(self.term, type_, data)
        self.append_pending = True  # sent, batched with its neighbours, by the next ready()
        return last

    def propose_conf_change(self, cc: ConfChange, data: bytes) -> int:
        if self.role != _LEADER:
            raise ProposalDroppedError("not the leader")
        if self.pending_conf_index > self.log.applied:
            raise ProposalDroppedError("a conf change is still pending")
        voters = set(self.trk.voters)
        if cc.type == ConfChangeType.ADD_NODE:
            voters.add(cc.node_id)
        else:
            voters.discard(cc.node_id)
        if not voters:
            raise ValueError("conf change would remove all voters")
        idx = self.propose(data, _CONF_CHANGE)
        self.pending_conf_index = idx
        return idx

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        n = cc.node_id
        nxt = self.log.last_index() + 1
        if cc.type == ConfChangeType.REMOVE_NODE:
            self.trk.voters.discard(n)
            self.trk.learners.discard(n)
            self.trk.progress.pop(n, None)
        else:
            learner = cc.type == ConfChangeType.ADD_LEARNER
            (self.trk.learners if learner else self.trk.voters).add(n)
            (self.trk.voters if learner else self.trk.learners).discard(n)
            pr = self.trk.progress.get(n)
            if pr is None:
                pr = self.trk.new_progress(nxt, learner)
                pr.recent_active = True  # give it a chance before check-quorum counts it
                self.trk.progress[n] = pr
                if self.role == _LEADER:
                    leader.send_append(self, n)  # start probing the new member now
            pr.is_learner = learner
        if self.role == _LEADER:
            if self.id not in self.trk.voters:
                self.become_follower(self.term, 0)
            else:
                if self.lead_transferee and self.lead_transferee not in self.trk.voters:
                    self.lead_transferee = 0
                if leader.maybe_commit(self):
                    leader.bcast_append(self)
                else:
                    for m in self.trk.sorted_ids():
                        if m != self.id:
                            leader.maybe_send_append(self, m, send_if_empty=False)
        elif self.role != _FOLLOWER and self.id not in self.trk.voters:
            self.become_follower(self.term, 0)
        return self.conf_state()

    def read_index(self, ctx: bytes) -> None:
        """Ask for a linearizable read point; the answer is a `ReadState` (on this node).

        The leader answers with its commit index once (a) it has committed an entry of its
        own term (queued until then) and (b) leadership is confirmed: by a quorum echoing a
        heartbeat carrying ``ctx`` (batched with every earlier request), or, with
        ``read_only_lease_based``, by a valid lease (see `Config`). A follower forwards the
        request to its leader. Requests are dropped silently when no leader is known or
        leadership changes before they are answered: callers retry after a timeout.
        """
        if not ctx:
            raise ValueError("read_index context must be non-empty")
        if self.role == _LEADER:
            leader.read_index_from(self, ctx, self.id)
        elif self.lead:
            self._send(_READ_INDEX, self.lead, context=ctx)

    def transfer_leader(self, to: int) -> None:
        if self.role != _LEADER:
            if self.lead and self.lead != self.id:
                self._send(_TRANSFER_LEADER, self.lead, index=to)
            return
        if to not in self.trk.voters or to == self.id:
            return
        if self.lead_transferee:
            if self.lead_transferee == to:
                return
            self.lead_transferee = 0
        self.election_elapsed = 0
        self.lead_transferee = to
        if self.trk.progress[to].match == self.log.last_index():
            leader.send_timeout_now(self, to)
        else:
            leader.send_append(self, to)

    def report_unreachable(self, node: int) -> None:
        pr = self.trk.progress.get(node)
        if (
            self.role == _LEADER
            and pr is not None
            and (pr.state == _PR_REPLICATE)
        ):
            pr.become_probe()

    def report_snapshot(self, node: int, failed: bool) -> None:
        pr = self.trk.progress.get(node)
        if self.role != _LEADER or pr is None or pr.state != _PR_SNAPSHOT:
            return
        if failed:
            pr.pending_snapshot = 0
        pr.become_probe()
        pr.paused = True  # wait for an APPEND_RESP or heartbeat response before resending
