"""Randomized deterministic simulator for gofish's Raft core, with invariant checks.

Rules of the simulation (the contract the tests rely on):

- **Deterministic.** Everything random comes from one ``random.Random(seed)``; nothing reads a
  clock, and nothing iterates a ``set`` where order matters. A seed replays exactly, and a
  `Violation` names the one command that replays it.
- **A step is one event**: deliver a message, tick the clock, propose, read, crash, restart,
  partition, heal, transfer leadership, change membership, campaign. After the event every
  node affected drains its `Ready`s through the driver below, then `Cluster.check_step` runs.
- **Driver order per Ready** (the node's): persist (snapshot, entries, hard state) into the
  node's durable `MemoryStorage`; send the messages; apply the snapshot and committed entries
  to the state machine; serve ReadIndex reads whose index is applied; ``advance``. A leader
  sends its APPENDs/heartbeats before persisting half of the time (replication in parallel
  with its own fsync, which ARCHITECTURE.md allows).
- **Durability.** Only what the driver wrote into the storage survives a crash. A crash may
  strike between ``ready()`` and persisting (the Ready is lost) or between persisting and
  sending. The state machine is volatile; its durable image is the storage's snapshot, so a
  restarted node gets ``Config.applied = snapshot index`` and rebuilds from the snapshot and
  the log. Nodes periodically snapshot at their applied index and compact their log.
- **The state machine is an append-log of unique write tokens** (``b"<proposer>.<seq>"``), so
  the checker knows the one global write order and can judge reads.
- **Network**: drops, duplicates, delays and reorders messages, partitions links (also
  one-way); messages to a crashed node are lost on delivery.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from gofish.log.memory import MemoryStorage
from gofish.raft import (
    ConfChange,
    ConfChangeType,
    Config,
    Message,
    MessageType,
    ProposalDroppedError,
    RawNode,
    StateRole,
    decode_conf_change,
)
from gofish.raft.storage import CompactedError
from gofish.raft.types import ConfState, Entry, EntryType

from .simcheck import Checker, Network, Violation, decode_sm, encode_sm, replay_command, term_of


@dataclass
class SimOptions:
    """One simulation run. Probabilities are per step (events) or per message (network)."""

    seed: int
    nodes: int = 3
    steps: int = 2000
    bugs: frozenset[str] = frozenset()
    drop: float = 0.03
    dup: float = 0.02
    reorder: float = 0.25
    #: Event weights (relative).
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    #: Probability of a crash inside the driver, per Ready, before / after persisting.
    crash_in_ready: float = 0.0007
    #: Check the whole log invariants (False only for the benchmark).
    checks: bool = True
    #: After the run, heal, restart everyone and require a write to commit everywhere.
    settle: bool = True
    #: Each node snapshots and compacts every N applied entries, N drawn from this range.
    snap_every: tuple[int, int] = (15, 60)
    #: 0: drawn per seed from `MSG_SIZES` (small sizes split appends, as a slow link does).
    max_size_per_msg: int = 0
    #: 0: drawn per seed from `INFLIGHT_LIMITS`.
    max_inflight_msgs: int = 0
    #: (pre_vote, check_quorum); None: (True, True) for most seeds, any mix for the rest
    #: (safety must not depend on them; without them leaders change far more often).
    election: tuple[bool, bool] | None = None
    #: Leader-lease reads (``read_only_lease_based``); None: drawn per seed (1 in 5). Lease
    #: seeds tick every node together (no clock drift: `tick_one` is off).
    lease: bool | None = None
    #: Probability of cutting a newly elected leader off at once (leaves uncommitted
    #: tails of many terms behind: the ingredient of Raft's "figure 8").
    isolate_new_leader: float = 0.15


MSG_SIZES = (1, 64, 512, 4096, 1 << 20)
INFLIGHT_LIMITS = (1, 2, 8, 64, 256)

DEFAULT_WEIGHTS: dict[str, float] = {
    "deliver": 60.0,
    "tick": 12.0,
    "tick_one": 2.0,
    "propose": 10.0,
    "read": 5.0,
    "drop": 1.0,
    "partition": 0.5,
    "heal": 2.0,
    "isolate": 0.5,
    "crash": 0.4,
    "restart": 2.0,
    "transfer": 0.3,
    "conf_change": 0.6,
    "campaign": 0.2,
}


# --- cluster driver ---------------------------------------------------------------------------


@dataclass(eq=False)
class SimNode:
    """One simulated server: durable storage plus (while up) a RawNode and a state machine."""

    id: int
    storage: MemoryStorage
    #: Membership passed to Config when the storage holds none (bootstrap).
    boot: ConfState
    snap_every: int
    raw: RawNode | None = None
    sm: list[bytes] = field(default_factory=list)
    applied: int = 0
    conf: ConfState = ConfState()
    incarnation: int = 0
    #: ReadIndex answers waiting for the state machine: (index, ctx).
    reads: list[tuple[int, bytes]] = field(default_factory=list)
    #: Last term in which this node was seen leading (leader completeness checked once).
    led_term: int = -1
    prefix: bytes = b""


class Cluster:
    """A simulated cluster for one `SimOptions` run; `run` executes it, raising `Violation`."""

    def __init__(self, opts: SimOptions) -> None:
        self.opts = opts
        self.rng = random.Random(opts.seed)
        self.step_no = 0
        self.checker = Checker(self.where)
        self.checks = opts.checks
        self.crash_in_ready = opts.crash_in_ready
        self.net: Network[Message] = Network(
            self.rng, drop=opts.drop, dup=opts.dup, reorder=opts.reorder, on_drop=self._dropped
        )
        self.nodes: dict[int, SimNode] = {}
        self.max_size_per_msg = opts.max_size_per_msg or self.rng.choice(MSG_SIZES)
        self.max_inflight_msgs = opts.max_inflight_msgs or self.rng.choice(INFLIGHT_LIMITS)
        self.election = opts.election or (
            (True, True) if self.rng.random() < 0.6
            else (self.rng.random() < 0.5, self.rng.random() < 0.5)
        )
        #: Reports to the sender for messages dropped or delivered: (sender, to, kind).
        self._reports: list[tuple[int, int, int]] = []
        self.all_ids = tuple(range(1, opts.nodes + 2))  # the last id joins later
        self.seq = 0
        self._last_leader = (0, 0)
        self.stats: dict[str, int] = dict.fromkeys(
            ("crashes", "ready_crashes", "snapshots_made", "snapshots_installed",
             "conf_changes", "elections", "acked"), 0
        )
        self.lease = (self.rng.random() < 0.2) if opts.lease is None else opts.lease
        weights = dict(opts.weights)
        if self.lease and self.election[1]:
            weights["tick_one"] = 0.0
        else:
            self.lease = False  # the lease needs check_quorum
        names = [k for k, w in weights.items() if w > 0]
        total = sum(weights[k] for k in names)
        acc = 0.0
        self._events: list[tuple[float, Callable[[], None]]] = []
        for k in names:
            acc += weights[k] / total
            self._events.append((acc, getattr(self, "ev_" + k)))
        voters = ConfState(voters=self.all_ids[:-1])
        for i in voters.voters:
            self._new_node(i, voters)

    # --- bookkeeping ----------------------------------------------------------------------
    def where(self) -> str:
        o = self.opts
        std = SimOptions(seed=o.seed, nodes=o.nodes, steps=o.steps, bugs=o.bugs)
        if o == std:
            how = replay_command(o.seed, o.nodes, o.steps, o.bugs)
        else:
            diff = {k: v for k, v in vars(o).items() if vars(std)[k] != v}
            how = f"run_simulation(SimOptions(seed={o.seed}, nodes={o.nodes}, " + ", ".join(
                f"{k}={v!r}" for k, v in diff.items() if k not in ("seed", "nodes")) + "))"
        return f"at step {self.step_no} (seed {o.seed}, {o.nodes} nodes)\nreplay: {how}"

    def _new_node(self, nid: int, boot: ConfState) -> SimNode:
        n = SimNode(nid, MemoryStorage(), boot, snap_every=self.rng.randint(*self.opts.snap_every))
        n.prefix = b"%d." % nid
        self.nodes[nid] = n
        self._boot(n)
        return n

    def _boot(self, n: SimNode) -> None:
        st = n.storage
        snap = st.snapshot()
        _, cs = st.initial_state()
        n.incarnation += 1
        n.conf = cs if (cs.voters or cs.learners) else n.boot
        n.reads = []
        n.led_term = -1
        if snap.is_empty:
            n.sm, n.applied = [], 0
        else:
            n.sm, n.applied = decode_sm(snap.data), snap.metadata.index
            if self.checks:
                self.checker.snapshot(n.id, n.applied, snap.metadata.term, n.sm)
        cfg = Config(
            n.id, voters=n.boot.voters, learners=n.boot.learners, applied=n.applied,
            seed=self.opts.seed * 1000 + n.incarnation, test_bugs=self.opts.bugs,
            max_size_per_msg=self.max_size_per_msg,
            max_inflight_msgs=self.max_inflight_msgs,
            pre_vote=self.election[0], check_quorum=self.election[1],
            read_only_lease_based=self.lease,
        )
        n.raw = RawNode(cfg, st)

    def live(self) -> list[SimNode]:
        return [n for n in self.nodes.values() if n.raw is not None]

    def leader(self) -> SimNode | None:
        """The live leader with the highest term, if any."""
        best: SimNode | None = None
        for n in self.nodes.values():
            raw = n.raw
            if raw is not None and raw.role == StateRole.LEADER and (
                best is None or raw.term > best.raw.term  # type: ignore[union-attr]
            ):
                best = n
        return best

    # --- the driver -----------------------------------------------------------------------
    def drain(self, n: SimNode) -> None:
        """Run the driver over ``n``'s Readys until it has none (or crashes)."""
        for _ in range(1000):
            raw = n.raw
            if raw is None or not raw.has_ready():
                return
            self._handle_ready(n, raw)
        raise Violation("driver", f"node {n.id} still has a Ready after 1000", self.where())

    def _handle_ready(self, n: SimNode, raw: RawNode) -> None:
        rd = raw.ready()
        rng = self.rng
        messages = rd.messages
        if messages and raw.role == StateRole.LEADER and rng.random() < 0.5:
            # A leader may replicate in parallel with its own fsync (it counts itself
            # toward a quorum only once persisted): its APPENDs go out before the disk write.
            early = [m for m in messages if m.type in _LEADER_EARLY]
            messages = [m for m in messages if m.type not in _LEADER_EARLY]
            for m in early:
                self.net.send(m)
        p_crash = self.crash_in_ready
        if p_crash and rng.random() < p_crash:
            self.stats["ready_crashes"] += 1
            self.crash(n)  # the Ready is lost: nothing of it was persisted
            return
        st = n.storage
        checks = self.checks
        snap = rd.snapshot
        if snap is not None and not snap.is_empty:
            st.apply_snapshot(snap)
        if rd.entries:
            ents = rd.entries
            if checks:
                try:
                    prev: int | None = st.term(ents[0].index - 1)
                except CompactedError:
                    prev = None
                st.append(list(ents))
                self.checker.persisted(n.id, ents, prev)
            else:
                st.append(list(ents))
        hs = rd.hard_state
        if hs is not None:
            old_commit = st.hard_state.commit
            st.set_hard_state(hs)
            if checks:
                self.checker.hard_state(n.id, hs.term, hs.vote)
                self.checker.committed(n.id, hs.commit, term_of(st))
                if hs.commit > old_commit and raw.role == StateRole.LEADER:
                    self.checker.leader_commit(n.id, hs.term, hs.commit, st.term(hs.commit))
        if p_crash and rng.random() < p_crash:
            self.stats["ready_crashes"] += 1
            self.crash(n)  # persisted, but the messages were never sent
            return
        send = self.net.send
        if checks:
            for m in messages:
                if m.type in _DURABLE_ACKS:
                    self._check_durable_ack(n, m)
                send(m)
        else:
            for m in messages:
                send(m)
        if snap is not None and not snap.is_empty:
            self.stats["snapshots_installed"] += 1
            n.sm = decode_sm(snap.data)
            n.applied = snap.metadata.index
            n.conf = snap.metadata.conf_state
            if checks:
                self.checker.snapshot(n.id, n.applied, snap.metadata.term, n.sm)
        if rd.committed_entries:
            self._apply(n, raw, rd.committed_entries)
        if rd.read_states:
            n.reads.extend((rs.index, rs.request_ctx) for rs in rd.read_states)
        if n.reads:
            self._serve_reads(n)
        raw.advance(rd)
        if n.applied - st.snapshot().metadata.index >= n.snap_every:
            self.stats["snapshots_made"] += 1
            st.create_snapshot(n.applied, n.conf, encode_sm(n.sm))
            st.set_conf_state(n.conf)
            upto = n.applied - rng.randrange(8)
            if upto >= st.first_index():
                st.compact(upto)

    def _check_durable_ack(self, n: SimNode, m: Message) -> None:
        """A granted vote and an accepted APPEND promise what is already on disk."""
        st = n.storage
        if m.reject:
            return
        if m.type == MessageType.VOTE_RESP:
            hs = st.hard_state
            if hs.term != m.term or hs.vote != m.to:
                self.checker.fail("durable ack", f"node {n.id} grants its term {m.term} vote "
                                  f"to {m.to} but its disk holds term {hs.term} vote {hs.vote}")
        elif m.index > st.last_index():
            self.checker.fail("durable ack", f"node {n.id} acknowledges index {m.index} but "
                              f"its disk log ends at {st.last_index()}")

    def _apply(self, n: SimNode, raw: RawNode, entries: list[Entry]) -> None:
        """Apply committed entries to ``n``'s state machine; a write the node itself
        proposed is acknowledged (to its client) when applied here."""
        checker = self.checker if self.checks else None
        sm = n.sm
        prefix = n.prefix
        acked = 0
        conf_change = EntryType.CONF_CHANGE
        for e in entries:
            if e.type == conf_change:
                if e.data:
                    n.conf = raw.apply_conf_change(decode_conf_change(e.data))
                    self.stats["conf_changes"] += 1
            elif e.data:
                sm.append(e.data)
                if e.data.startswith(prefix):
                    acked += 1
                    self.checker.write_acked(len(sm))
            if checker is not None:
                checker.applied(n.id, n.applied, e, len(sm))
            n.applied = e.index
        self.stats["acked"] += acked

    def _serve_reads(self, n: SimNode) -> None:
        keep = []
        for index, ctx in n.reads:
            if index <= n.applied:
                self.checker.read_served(n.id, ctx, len(n.sm))
            else:
                keep.append((index, ctx))
        n.reads = keep

    def _dropped(self, m: Message) -> None:
        if m.type == MessageType.SNAPSHOT:
            self._reports.append((m.from_, m.to, 1))
        elif not self.net.linked(m.from_, m.to):
            self._reports.append((m.from_, m.to, 2))

    def _flush_reports(self) -> None:
        for _ in range(100):
            if not self._reports:
                return
            reports, self._reports = self._reports, []
            for frm, to, kind in reports:
                n = self.nodes.get(frm)
                if n is None or n.raw is None:
                    continue
                if kind == 2:
                    n.raw.report_unreachable(to)
                else:
                    n.raw.report_snapshot(to, kind == 1)
                self.drain(n)

    # --- checks -------------------------------------------------------------------------
    def check_step(self) -> None:
        """The per-step checks that are not fed by the driver: election safety and leader
        completeness of every live leader."""
        checker = self.checker
        for n in self.nodes.values():
            raw = n.raw
            if raw is not None and raw.role == StateRole.LEADER:
                t = raw.term
                checker.leader(n.id, t)
                if n.led_term != t:
                    n.led_term = t
                    self.stats["elections"] += 1
                    st = n.storage
                    checker.leader_complete(
                        n.id, t, term_of(st), st.snapshot().metadata.index
                    )

    # --- events ---------------------------------------------------------------------------
    def step(self) -> None:
        """One random event, then the per-step checks."""
        self.step_no += 1
        r = self.rng.random()
        for bound, ev in self._events:
            if r < bound:
                ev()
                break
        else:
            self._events[-1][1]()
        if self._reports:
            self._flush_reports()
        if self.opts.isolate_new_leader:
            lead = self.leader()
            if lead is not None and lead.raw is not None:
                key = (lead.id, lead.raw.term)
                if key != self._last_leader:
                    self._last_leader = key
                    if self.rng.random() < self.opts.isolate_new_leader:
                        self.isolate(lead)
        if self.checks:
            self.check_step()

    def run(self) -> None:
        """All steps, then (if ``settle``) the liveness epilogue."""
        for _ in range(self.opts.steps):
            self.step()
        if self.opts.settle:
            self.settle()

    def deliver(self, m: Message) -> None:
        dst = self.nodes.get(m.to)
        if dst is None or dst.raw is None:
            self._dropped(m)
            return
        if m.type == MessageType.SNAPSHOT:
            self._reports.append((m.from_, m.to, 0))
        dst.raw.step(m)
        self.drain(dst)

    def ev_deliver(self) -> None:
        """Deliver a few messages: more when many are in flight, so that queueing delay
        stays well below an election timeout (a tick produces about two per peer)."""
        rng = self.rng
        for _ in range(rng.randint(1, 2 + len(self.net.flight) // 8)):
            m = self.net.pop()
            if m is not None:
                if rng.random() < 0.02:  # the wire format must round-trip
                    m = _MSG_DECODER.decode(_MSG_ENCODER.encode(m))
                self.deliver(m)

    def ev_tick(self) -> None:
        for n in self.nodes.values():
            self.tick(n)

    def ev_tick_one(self) -> None:
        live = self.live()
        if live:
            self.tick(self.rng.choice(live))

    def _client_node(self) -> SimNode | None:
        """Mostly the leader, sometimes any live node."""
        lead = self.leader()
        if lead is not None and self.rng.random() < 0.8:
            return lead
        live = self.live()
        return self.rng.choice(live) if live else None

    def ev_propose(self) -> None:
        n = self._client_node()
        if n is not None:
            self.propose(n, self.rng.randint(1, 3))

    def ev_read(self) -> None:
        n = self._client_node()
        if n is not None:
            self.read(n)

    def ev_drop(self) -> None:
        self.net.drop_random()

    def ev_partition(self) -> None:
        ids = list(self.nodes)
        self.rng.shuffle(ids)
        k = self.rng.randint(1, max(1, len(ids) // 2))
        if self.rng.random() < 0.2:
            self.net.cut_one_way(ids[0], ids[1])
        else:
            self.net.partition(set(ids[:k]), set(ids[k:]))

    def ev_isolate(self) -> None:
        lead = self.leader()
        if lead is not None:
            self.isolate(lead)

    def isolate(self, n: SimNode) -> None:
        """Cut ``n`` off from every other node (until the next heal)."""
        self.net.partition({n.id}, set(self.nodes) - {n.id})

    def ev_heal(self) -> None:
        self.net.heal()

    def ev_crash(self) -> None:
        """Crash a node while fewer than a minority are down (crashes inside the driver
        strike at any time)."""
        live = self.live()
        if len(self.nodes) - len(live) < (self.opts.nodes - 1) // 2:
            self.crash(self.rng.choice(live))

    def ev_restart(self) -> None:
        down = [n for n in self.nodes.values() if n.raw is None]
        if down:
            self.restart(self.rng.choice(down))

    def ev_transfer(self) -> None:
        lead = self.leader()
        if lead is not None:
            others = [i for i in lead.conf.voters if i != lead.id]
            if others:
                self.transfer(lead, self.rng.choice(others))

    def ev_campaign(self) -> None:
        live = self.live()
        if live:
            self.campaign(self.rng.choice(live))

    def ev_conf_change(self) -> None:
        """Add a learner, promote it, remove a voter (possibly the leader), re-add."""
        lead = self.leader()
        if lead is None:
            return
        voters, learners = lead.conf.voters, lead.conf.learners
        outside = [i for i in self.all_ids if i not in voters and i not in learners]
        rng = self.rng
        if learners and rng.random() < 0.7:
            cc = ConfChange(ConfChangeType.ADD_NODE, rng.choice(learners))
        elif len(voters) > self.opts.nodes or (
            len(voters) == self.opts.nodes and rng.random() < 0.3
        ):
            cc = ConfChange(ConfChangeType.REMOVE_NODE, rng.choice(voters))
        elif outside:
            cc = ConfChange(ConfChangeType.ADD_LEARNER, rng.choice(outside))
        else:
            return
        self.change_conf(lead, cc)

    # --- actions on one node (the hypothesis machine calls these too) ----------------------
    def tick(self, n: SimNode) -> None:
        if n.raw is not None:
            n.raw.tick()
            self.drain(n)

    def propose(self, n: SimNode, count: int = 1) -> None:
        """``count`` new writes proposed at ``n`` (stops at the first dropped one)."""
        raw = n.raw
        if raw is None:
            return
        for _ in range(count):
            self.seq += 1
            try:
                raw.propose(n.prefix + b"%d" % self.seq)
            except ProposalDroppedError:
                break
        self.drain(n)

    def read(self, n: SimNode) -> None:
        """A ReadIndex request at ``n``; served when its ReadState's index is applied."""
        if n.raw is None:
            return
        self.seq += 1
        ctx = b"r%d" % self.seq
        self.checker.read_issued(ctx)
        try:
            n.raw.read_index(ctx)
        except ProposalDroppedError:
            return
        self.drain(n)

    def crash(self, n: SimNode) -> None:
        """Lose everything volatile: the RawNode, the state machine, pending reads."""
        self.stats["crashes"] += 1
        n.raw = None
        n.sm = []
        n.reads = []

    def restart(self, n: SimNode) -> None:
        if n.raw is None:
            self._boot(n)

    def transfer(self, n: SimNode, to: int) -> None:
        if n.raw is not None:
            n.raw.transfer_leader(to)
            self.drain(n)

    def campaign(self, n: SimNode) -> None:
        if n.raw is not None:
            n.raw.campaign()
            self.drain(n)

    def change_conf(self, n: SimNode, cc: ConfChange) -> None:
        if n.raw is None:
            return
        if cc.node_id not in self.nodes:
            self._new_node(cc.node_id, ConfState())
        try:
            n.raw.propose_conf_change(cc)
        except ProposalDroppedError:
            return
        self.drain(n)

    # --- liveness epilogue ------------------------------------------------------------------
    def settle(self, rounds: int = 1000) -> None:
        """Heal the network, restart every node, stop injecting faults, and require that a
        fresh write gets applied on every member of the leader's configuration."""
        self.net.heal()
        self.net.drop = self.net.dup = self.net.reorder = 0.0
        self.crash_in_ready = 0.0
        for n in self.nodes.values():
            if n.raw is None:
                self._boot(n)
        proposed_at = -1
        for r in range(rounds):
            self.step_no += 1
            self.ev_tick()
            for _ in range(5000):
                m = self.net.pop()
                if m is None:
                    break
                self.deliver(m)
                self._flush_reports()
            self.check_step()
            lead = self.leader()
            if lead is None or lead.raw is None:
                continue
            members = lead.conf.voters + lead.conf.learners
            if proposed_at >= 0 and all(
                any(t.startswith(b"s.") for t in self.nodes[i].sm[-5:])
                for i in members
                if i in self.nodes
            ):
                return
            if proposed_at < 0 or r - proposed_at > 30:
                try:
                    lead.raw.propose(b"s.%d" % r)
                    proposed_at = r
                except ProposalDroppedError:
                    pass
                self.drain(lead)
        self.checker.fail("liveness", f"no write applied on all members in {rounds} "
                          f"fault-free rounds after healing:\n{self.describe()}")

    def describe(self) -> str:
        """One line per node: role, term, commit, applied, membership, leader's progress."""
        lines = []
        for n in self.nodes.values():
            if n.raw is None:
                lines.append(f"  node {n.id}: down")
                continue
            s = n.raw.status()
            lines.append(
                f"  node {n.id}: {s.role.name} term {s.term} vote {s.vote} leader {s.leader} "
                f"commit {s.commit} applied {n.applied} last {s.last_index} "
                f"voters {s.conf_state.voters} learners {s.conf_state.learners}"
                + (f" progress {s.progress}" if s.progress else "")
            )
        return "\n".join(lines)


_DURABLE_ACKS = frozenset({MessageType.VOTE_RESP, MessageType.APPEND_RESP})
_LEADER_EARLY = frozenset({MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT})
_MSG_ENCODER = msgspec.msgpack.Encoder()
_MSG_DECODER = msgspec.msgpack.Decoder(Message)


def nodes_for(seed: int) -> int:
    """The cluster size a seed runs with by default: 3 for 3 seeds out of 5, else 5."""
    return 5 if seed % 5 in (1, 3) else 3


def run_simulation(opts: SimOptions) -> Cluster:
    """Run one simulation; raises `Violation` (whose text names the replay command)."""
    cluster = Cluster(opts)
    cluster.run()
    return cluster
