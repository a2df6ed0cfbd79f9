"""The Raft driver: runs a `RawNode` over the durable RocksDB log in the node's event loop.

A node without ``--cluster`` is a one-member cluster on this same code path: every write is
proposed, persisted, committed by its own vote and applied from the log (ADR 0007).

Rules:

- **Ownership.** One event loop owns the driver, the `RawNode` and the store. Only
  ``storage.sync`` runs elsewhere (a dedicated worker thread: it releases the GIL). Nothing
  here blocks the loop on a disk flush. Raft reads the log through `CachedLog`, which
  answers for the entries just saved from memory.
- **One Ready per loop iteration.** `propose`, `step` and ticks only *schedule* Ready
  processing (``call_soon``, coalesced), so every proposal made during one loop iteration
  (many clients' writes) lands in one Ready, one write batch and one fsync: group commit.
- **Ready order** (ARCHITECTURE.md, `gofish.raft.Ready`): (1) save snapshot, entries and
  hard state in one unsynced batch (``storage.save``); (2) apply the Ready's committed
  entries in log order — they were persisted *and synced* (under ``always``) before the
  `RawNode` handed them out, so this does not wait for the new entries' fsync; (3) once the
  Ready is durable, send its messages and `RawNode.advance`. A Ready that must be durable
  waits for a sync started after its save; later Readies may be saved meanwhile (pipelined),
  but they are completed (messages, advance) strictly in order. The leader's own APPEND and
  HEARTBEAT messages go out right after the save (Raft allows a leader to replicate before its
  own fsync; it counts itself toward a quorum only after `advance`).
- **appendfsync** (read live from the config at each Ready): ``always`` — a Ready with
  ``must_sync`` is durable only after a covering ``storage.sync()``; ``everysec`` — a timer
  syncs once a second, nothing waits; ``no`` — never synced explicitly (the OS decides). Under
  every policy a change of term or vote waits for a sync: elections are rare and a vote
  forgotten by a crash can elect two leaders. Every save reaches the OS before it counts, so
  all policies survive a crash of the process (kill -9); only ``always`` survives power loss.
- **Replies.** `propose` returns a future resolved with the reply of the entry's apply. It
  never raises and is never cancelled by the driver; failures are error replies whose
  prefix says what happened (`gofish.node.driver_types`).
- **Restart.** `start` opens the store (in a worker thread), replays every committed entry
  through ``apply`` in chunks, yielding to the loop between them (clients meanwhile get
  LOADING from the dispatcher), then starts the `RawNode` with ``applied`` = the replayed
  index. A sole voter campaigns at once; it is *serving* once it has applied the first entry
  of its own term, so everything it acknowledged before a crash is visible again. A member
  of a larger cluster serves as soon as it runs: its reads go through read points
  (`gofish.node.reads`) and its writes through the leader, so it never answers from a state
  older than what was acknowledged.
- **Proposals are requests** identified by ``(client, seq)`` (ADR 0009). A follower
  forwards them to the leader (PROPOSE, batched per loop iteration); the leader appends
  them. Whoever proposed waits for the *local* apply of an entry with that id and answers
  with its reply (apply is deterministic: the leader's reply is the same). When the leader
  changes, or the link to it comes back, every unanswered proposal is sent again: the state
  machine applies a request once and answers a duplicate with the first reply.
- **Membership** (`gofish.node.membership`): a new store is founded with bootstrap entries;
  conf changes carry the new member's address; the leader promotes caught-up learners; a
  node that applies its own removal stops (`NodeRemovedError`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import anyio.abc

from gofish.errors import LOADING
from gofish.log.rocksdb import RocksDBStorage
from gofish.node import driver_members, driver_requests
from gofish.node.driver_types import (
    CLUSTERDOWN,
    EARLY,
    UNCONFIRMED,
    Apply,
    CheckpointHooks,
    DriverSettings,
    DriverStatistics,
    NodeRemovedError,
    Proposal,
    Stage,
    Transport,
    settle,
)
from gofish.node.entry_cache import CachedLog
from gofish.node.membership import (
    AddressBook,
    bootstrap_entries,
)
from gofish.node.reads import ReadPoints
from gofish.node.replay import replay_log
from gofish.node.sync_thread import SyncThread
from gofish.raft import (
    ConfChangeType,
    Config,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    ProposalDroppedError,
    RawNode,
    Ready,
    Snapshot,
    SoftState,
    StateRole,
)
from gofish.raft.config import KNOWN_TEST_BUGS
from gofish.reply import OK, ErrorReply
from gofish.statemachine.entry import Command, decode_commands, encode_batch, encode_command

__all__ = [
    "CLUSTERDOWN",
    "DriverSettings",
    "DriverStatistics",
    "NodeRemovedError",
    "RaftDriver",
    "Transport",
    "UNCONFIRMED",
]

_LEADER = StateRole.LEADER
_PROPOSE = MessageType.PROPOSE
_NORMAL = EntryType.NORMAL
#: at most this many missed ticks are run after a stall (more would change nothing)
_MAX_CATCH_UP_TICKS = 64

log = logging.getLogger(__name__)


class RaftDriver:
    """Drives one Raft node: see the module docstring for the rules.

    ``apply`` is called for every committed command entry in log order, on the loop, and its
    return value is the reply of the proposal that made the entry. ``fsync_policy`` returns
    ``"always"``, ``"everysec"`` or ``"no"`` (read at every Ready, so it can change live).
    ``peers`` are member addresses given on the command line (they override stored ones).
    Construction does no I/O; `start` opens the store under ``path``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        apply: Apply,
        *,
        fsync_policy: Callable[[], str] = lambda: "always",
        settings: DriverSettings | None = None,
        transport: Transport | None = None,
        peers: dict[int, tuple[str, int]] | None = None,
        checkpoints: CheckpointHooks | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.settings = settings or DriverSettings()
        self.id = self.settings.node_id
        self.transport = transport
        self._apply_cb = apply
        self._policy = fsync_policy
        self._peer_overrides = dict(peers or {})
        self.checkpoints = checkpoints
        #: called with (entries replayed, entries to replay) during the start-up replay
        self.replay_progress: Callable[[int, int], None] | None = None
        self.storage: RocksDBStorage | None = None
        self._log: CachedLog | None = None  # what Raft reads and the driver writes through
        self._rn: RawNode | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sync_thread: SyncThread | None = None
        #: index of the last entry applied (by the replay or from Readies)
        self.applied_index = 0
        #: member addresses and promotion flags (`gofish.node.membership`)
        self.book = AddressBook()
        # proposals waiting for their apply, by request id (client, seq), oldest first
        self._pending: dict[tuple[int, int], Proposal] = {}
        # this node's own appends (as leader) by index: their apply needs no decoding
        self._local: dict[int, Proposal | list[Proposal]] = {}
        # new proposals of this loop turn (leader): one batch entry at the next Ready
        self._batch: list[Proposal] = []
        # proposals that could not leave the node yet (no reachable leader)
        self._awaiting: collections.deque[Proposal] = collections.deque()
        self._forward: list[Entry] = []  # entries to forward to the leader this iteration
        self._known_leader = 0
        self._cut_off_since = 0.0  # loop time since when no leader was reachable (0: one is)
        self._local_reads = "local-reads" in self.settings.test_bugs
        self.reads = ReadPoints(self, self.settings.read_timeout)
        self._conf_waiters: dict[bytes, tuple[asyncio.Future[Any], float]] = {}
        self._transfer_waiters: list[tuple[int, asyncio.Future[Any], float]] = []
        self._applied_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._stages: collections.deque[Stage] = collections.deque()
        self._saved_hs = HardState()
        self._scheduled = False
        self._syncing = False
        self._tick_handle: asyncio.TimerHandle | None = None
        self._everysec_handle: asyncio.TimerHandle | None = None
        self._next_tick = 0.0
        self._lead_index = 0  # first index of this node's current leadership
        self._serving = False
        #: a read of any consistency may run at once: this node serves, leads, and is the
        #: only voter (`_refresh_sole_leader`); the dispatcher reads it for every read
        self.sole_leader = False
        self._closed = False
        self.removed = False
        self._failure: BaseException | None = None
        self._serving_or_failed: anyio.Event | None = None
        self._failed_event: anyio.Event | None = None
        # statistics
        self._readies = 0
        self._ticks = 0
        self._proposals = 0
        self._forwarded = 0
        self._resent = 0
        self._entries_applied = 0
        self._ready_seconds_max = 0.0
        self._tick_lag_max = 0.0
        self._replayed = 0
        self._replay_seconds = 0.0

    # --- state, for INFO and the node -------------------------------------------------------
    @property
    def loading(self) -> bool:
        """True until the node serves: the store is opening, replaying, or (sole voter) not
        yet leader with its own term's first entry applied."""
        return not self._serving

    @property
    def is_leader(self) -> bool:
        rn = self._rn
        return rn is not None and rn.raft.role == _LEADER

    @property
    def sole_voter(self) -> bool:
        """This node is the only voter (reads need no read point once it serves)."""
        rn = self._rn
        if rn is None:
            return False
        voters = rn.raft.trk.voters  # asked once per batch of reads: no set built
        return len(voters) == 1 and self.id in voters

    @property
    def role(self) -> str:
        rn = self._rn
        if rn is None:
            return "loading"
        return rn.raft.role.name.lower().replace("_", "-")

    @property
    def leader_id(self) -> int:
        return self._rn.leader_id if self._rn is not None else 0

    @property
    def term(self) -> int:
        if self._rn is not None:
            return self._rn.term
        return self.storage.hard_state.term if self.storage is not None else 0

    @property
    def commit_index(self) -> int:
        if self._rn is not None:
            return self._rn.commit_index
        return self.storage.hard_state.commit if self.storage is not None else 0

    def first_index(self) -> int:
        return self.storage.first_index() if self.storage is not None else 1

    def last_index(self) -> int:
        if self._rn is not None:
            return self._rn.last_index
        return self.storage.last_index() if self.storage is not None else 0

    @property
    def members(self) -> ConfState:
        if self._rn is not None:
            return self._rn.raft.conf_state()
        return self.storage.conf_state if self.storage is not None else ConfState()

    def statistics(self) -> DriverStatistics:
        st = self.storage.statistics() if self.storage is not None else None
        return DriverStatistics(
            readies=self._readies,
            proposals=self._proposals,
            entries_applied=self._entries_applied,
            syncs=st.syncs if st is not None else 0,
            sync_seconds_total=st.sync_seconds_total if st is not None else 0.0,
            sync_seconds_max=st.sync_seconds_max if st is not None else 0.0,
            waiting_readies=len(self._stages),
            pending_proposals=len(self._pending) + len(self._awaiting),
            ready_seconds_max=self._ready_seconds_max,
            tick_lag_max=self._tick_lag_max,
            replayed_entries=self._replayed,
            replay_seconds=self._replay_seconds,
            forwarded=self._forwarded,
            resent=self._resent,
            read_requests=self.reads.requests,
        )

    def now(self) -> float:
        loop = self._loop or asyncio.get_running_loop()
        return loop.time()

    # --- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the store (founding the membership of an empty one), replay the committed
        log through ``apply``, start Raft.

        Returns once the `RawNode` runs (see `wait_serving` for when clients may be served).
        Raises `gofish.log.rocksdb.CorruptLogError` on a damaged log, RocksDB's error if the
        directory is in use, `NodeRemovedError` if this node was removed from its cluster.
        """
        self._loop = asyncio.get_running_loop()
        self._serving_or_failed = anyio.Event()
        self._failed_event = anyio.Event()
        os.makedirs(self.path, exist_ok=True)
        self.storage = st = await anyio.to_thread.run_sync(RocksDBStorage, self.path)
        s = self.settings
        fresh = st.last_index() == 0 and st.hard_state == HardState() and not (
            st.conf_state.voters or st.conf_state.learners)
        if fresh and not s.join and s.voters:
            boot = bootstrap_entries(s.voters)
            st.save(HardState(term=1, vote=0, commit=len(boot)), boot)
            log.info("founded a cluster of %d voter(s): %s", len(boot),
                     ",".join(map(str, sorted(set(s.voters)))))
        self._saved_hs = st.hard_state
        self.book = AddressBook.from_records(st.members())
        await self._replay()
        cs = st.conf_state
        if (cs.voters or cs.learners) and self.id not in cs.voters + cs.learners:
            raise NodeRemovedError(f"node {self.id} is not a member of its cluster (removed)")
        self.book.override(self._peer_overrides)
        if self.book.records() != st.members():
            st.save(members=self.book.records())
        if self.transport is not None:
            for n, _ in self.book.members.items():
                addr = self.book.addr(n)
                if n != self.id and addr is not None:
                    self.transport.add_peer(n, addr)
        cfg = Config(
            id=self.id,
            voters=() if s.join else s.voters,
            election_tick=s.election_tick,
            heartbeat_tick=s.heartbeat_tick,
            applied=self.applied_index,
            check_quorum=True,
            read_only_lease_based=True,
            seed=int.from_bytes(os.urandom(4), "big"),
            test_bugs=s.test_bugs & KNOWN_TEST_BUGS,
        )
        self._log = CachedLog(st)
        if self.checkpoints is not None:
            self._log.snapshot = self._snapshot_for_peer
        self._rn = RawNode(cfg, self._log)
        self._sync_thread = SyncThread(st.sync, self._loop, self._sync_done)
        if self._rn.raft.conf_state().voters == (self.id,):
            self._rn.campaign()  # alone: no need to wait for an election timeout
        else:
            self._set_serving()  # reads and writes go through the leader (module rules)
        self._next_tick = self._loop.time() + s.tick_interval
        self._tick_handle = self._loop.call_at(self._next_tick, self._on_tick)
        self._everysec_handle = self._loop.call_later(s.everysec_interval, self._on_everysec)
        self._schedule()

    async def wait_serving(self) -> None:
        """Return once the node may serve clients; raise the failure if it failed first."""
        assert self._serving_or_failed is not None, "start() first"
        await self._serving_or_failed.wait()
        if self._failure is not None:
            raise self._failure

    async def wait_failed(self) -> BaseException:
        """Wait until the driver fails (a storage error, an undecodable entry, this node's
        removal); return why."""
        assert self._failed_event is not None, "start() first"
        await self._failed_event.wait()
        assert self._failure is not None
        return self._failure

    async def aclose(self) -> None:
        """Stop: fail what waits (UNCONFIRMED), let a running sync finish, sync once more
        (every policy: a clean stop loses nothing), close the store. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.sole_leader = False
        for h in (self._tick_handle, self._everysec_handle):
            if h is not None:
                h.cancel()
        driver_requests.fail_waiting(self, ErrorReply(UNCONFIRMED))
        st = self.storage
        if self._sync_thread is not None:
            # waits for a running sync; the thread's last report finds the driver closed
            await anyio.to_thread.run_sync(self._sync_thread.stop)
        if st is not None:
            if self._failure is None and self._sync_thread is not None:
                try:
                    await anyio.to_thread.run_sync(st.sync)
                except Exception:
                    log.exception("final sync of the Raft log failed")
            st.close()

    # --- replay -----------------------------------------------------------------------------
    async def _replay(self) -> None:
        st = self.storage
        assert st is not None
        after = 0
        if self.checkpoints is not None:
            compacted = st.first_index() - 1
            after = await anyio.to_thread.run_sync(self.checkpoints.restore, compacted)
            if after:
                self.applied_index = after
        done = await replay_log(st, self._apply_cb, self.settings, self.book, after,
                                self.replay_progress)
        self.applied_index = done.applied_index
        self._replayed = done.entries
        self._replay_seconds = done.seconds

    # --- proposals --------------------------------------------------------------------------
    def propose(self, cmd: Command) -> asyncio.Future[Any]:
        """Propose ``cmd``; the future resolves with its apply's reply, or with an error
        reply: LOADING (not started), CLUSTERDOWN or UNCONFIRMED (`driver_types`).
        ``(cmd.client, cmd.seq)`` must identify the request uniquely."""
        loop = self._loop or asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        rn = self._rn
        if rn is None or self._closed or self._failure is not None:
            fut.set_result(ErrorReply(LOADING if rn is None and not self._closed
                                      else CLUSTERDOWN))
            return fut
        now = loop.time()
        p = Proposal(fut, cmd, now + self.settings.proposal_timeout)
        self._proposals += 1
        raft = rn.raft
        if raft.role == _LEADER and not raft.lead_transferee:
            p.data = encode_command(cmd)
            p.sent, p.index = True, -1  # -1: in this turn's batch, not appended yet
            self._batch.append(p)  # appended by the next Ready (`_flush_batch`)
            self._pending[(cmd.client, cmd.seq)] = p
            if not self._scheduled:
                self._schedule()
        elif self._submit(p):
            self._pending[(cmd.client, cmd.seq)] = p
        else:
            p.deadline = now + self.settings.leader_wait
            self._awaiting.append(p)
        return fut

    def _submit(self, p: Proposal) -> bool:
        """Append ``p`` (leader) or forward it to a reachable leader; False if neither."""
        rn = self._rn
        assert rn is not None
        raft = rn.raft
        if not p.data:
            p.data = encode_command(p.cmd)
        if raft.role == _LEADER:
            if raft.lead_transferee:
                return False
            try:
                index = raft.propose(p.data)  # RawNode.propose without the hop: every write
            except ProposalDroppedError:
                return False
            p.term, p.index, p.sent = raft.term, index, True
            self._local[index] = p
            self._schedule()
            return True
        lead = raft.lead
        if lead and lead != self.id and self.transport is not None \
                and self.transport.is_connected(lead):
            p.index, p.sent = 0, True
            self._forward.append(Entry(0, 0, _NORMAL, p.data))
            self._forwarded += 1
            self._schedule()
            return True
        return False

    def _flush_batch(self) -> None:
        """Append this turn's new proposals as batch entries (`DriverSettings.batch_max`);
        if leadership went away since they were made, submit them as a follower would."""
        ps, self._batch = self._batch, []
        rn = self._rn
        assert rn is not None
        raft = rn.raft
        limit, max_bytes = self.settings.batch_max, self.settings.batch_max_bytes
        i, n = 0, len(ps)
        while i < n and raft.role == _LEADER and not raft.lead_transferee:
            j, size = i + 1, len(ps[i].data)
            while j < n and j - i < limit and size < max_bytes:
                size += len(ps[j].data)
                j += 1
            part = ps[i:j]
            data = part[0].data if j - i == 1 else encode_batch([p.data for p in part])
            try:
                index = raft.propose(data)
            except ProposalDroppedError:
                break
            term = raft.term
            for p in part:
                p.term, p.index = term, index
            self._local[index] = part[0] if j - i == 1 else part
            i = j
        if i < n:
            self._resubmit_batch(ps[i:])

    def _resubmit_batch(self, ps: list[Proposal]) -> None:
        now = self.now()
        for p in ps:
            p.sent, p.index = False, 0
            if not self._submit(p):
                self._pending.pop((p.cmd.client, p.cmd.seq), None)
                p.deadline = now + self.settings.leader_wait
                self._awaiting.append(p)

    def wait_applied(self, index: int) -> asyncio.Future[None]:
        """A future done once every entry up to ``index`` is applied (cancelled if the
        driver stops first)."""
        loop = self._loop or asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if self.applied_index >= index:
            fut.set_result(None)
        else:
            self._applied_waiters.append((index, fut))
        return fut

    # --- reads ------------------------------------------------------------------------------
    def read_point(self, mode: str) -> asyncio.Future[Any] | None:
        """When may a read with consistency ``mode`` (linearizable|lease|stale) run? None:
        now. Else a future resolved with None once it may, or with an error reply
        (`gofish.node.reads`)."""
        rn = self._rn
        if mode == "stale":
            return None
        if self._serving and rn is not None and rn.raft.role == _LEADER and self.sole_voter:
            return None
        if self._local_reads:
            return None  # a planted bug (DRIVER_TEST_BUGS)
        loop = self._loop or asyncio.get_running_loop()
        if rn is None or self._closed or self._failure is not None:
            fut: asyncio.Future[Any] = loop.create_future()
            fut.set_result(ErrorReply(LOADING if rn is None else CLUSTERDOWN))
            return fut
        return self.reads.wait(loop, mode == "lease")

    def _refresh_sole_leader(self) -> None:
        """Recompute `sole_leader`: after anything that may change whether this node serves,
        leads, or is the only voter (serving begins, a role change, a message from a peer, a
        membership change, a snapshot, failing, closing)."""
        rn = self._rn
        self.sole_leader = (
            self._serving and rn is not None and not self._closed and self._failure is None
            and rn.raft.role == _LEADER and self.sole_voter
        )

    def request_read_index(self, ctx: bytes) -> None:
        rn = self._rn
        if rn is not None and not self._closed:
            rn.read_index(ctx)
            self._schedule()

    # --- checkpoints (gofish.node.checkpoints) ----------------------------------------------
    def term_at(self, index: int) -> int:
        """The term of log entry ``index`` (raises if it is compacted away or unknown)."""
        assert self.storage is not None
        return self.storage.term(index)

    def checkpointed(self, index: int, dirname: str, tail: int) -> None:
        """A checkpoint of the state after ``index`` is durable: record it as the log's
        snapshot point and delete the entries up to ``index - tail``."""
        st = self.storage
        if st is None or self._closed:
            return
        st.create_snapshot(index, self.members, dirname.encode())
        cut = min(index - tail, index)
        if cut > st.first_index() - 1:
            st.compact(cut)
            log.info("log compacted up to entry %d (checkpoint %s)", cut, dirname)

    def _snapshot_for_peer(self) -> Snapshot:
        """Raft's storage `snapshot()` for a follower behind the log: the checkpoint's files
        in the data (the store itself keeps only the checkpoint's name)."""
        st, hooks = self.storage, self.checkpoints
        assert st is not None and hooks is not None
        snap = st.snapshot()
        if snap.is_empty:
            return snap
        return Snapshot(metadata=snap.metadata, data=hooks.snapshot_data(snap))

    def _install(self, snap: Snapshot) -> Snapshot:
        """A snapshot from the leader: load its checkpoint into the state machine; the
        store records only its name. Raises if there is nothing to install it with."""
        hooks = self.checkpoints
        if hooks is None:
            raise RuntimeError("received a snapshot but this node keeps no checkpoints")
        manifest = hooks.install(snap)
        md = snap.metadata
        self.applied_index = md.index
        self.book = AddressBook.from_records(dict(manifest.members))
        self.book.override(self._peer_overrides)
        tr = self.transport
        if tr is not None:
            for n in self.book.members:
                addr = self.book.addr(n)
                if n != self.id and addr is not None:
                    tr.add_peer(n, addr)
        assert self.storage is not None
        self.storage.save(members=self.book.records())
        log.info("installed the leader's snapshot at entry %d (term %d)", md.index, md.term)
        return Snapshot(metadata=md, data=manifest.dirname.encode())

    # --- membership (gofish.node.driver_members) ---------------------------------------------
    def change_member(self, kind: ConfChangeType, node: int, addr: str = "") -> asyncio.Future[Any]:
        """Propose a membership change; the future resolves with +OK once it is applied
        here, or an error reply. ADD_LEARNER with an address: the leader promotes it once
        caught up."""
        return driver_members.change_member(self, kind, node, addr)

    def transfer_leader(self, to: int) -> asyncio.Future[Any]:
        """Hand leadership to voter ``to``; resolves +OK once it leads (as seen here)."""
        return driver_members.transfer_leader(self, to)

    def peers(self) -> list[tuple[int, str, str, int, int, bool]]:
        """Every other member: (id, address, voter|learner, match, lag, connected). Match
        and lag are known on the leader only (0 elsewhere)."""
        return driver_members.peers(self)

    # --- peers ------------------------------------------------------------------------------
    def step(self, msg: Message) -> None:
        """Feed a message from a peer (the transport calls this for each one)."""
        rn = self._rn
        if rn is None or self._closed:
            return
        try:
            rn.step(msg)
        except ValueError as exc:
            log.warning("dropped a Raft message: %s", exc)
            return
        if self.sole_leader:  # a higher term or a snapshot may have ended it
            self._refresh_sole_leader()
        self._schedule()

    def peer_state(self, peer: int, up: bool) -> None:
        """The transport's connection to ``peer`` came up or went down (down: Raft stops
        streaming to it and probes again; up to the leader: resend what waits)."""
        rn = self._rn
        if rn is None or self._closed:
            return
        if not up:
            rn.report_unreachable(peer)
        elif peer == rn.raft.lead:
            driver_requests.resubmit(self)
            self.reads.resend()
        self._schedule()

    def snapshot_status(self, peer: int, failed: bool) -> None:
        """The transport finished sending a SNAPSHOT message to ``peer``."""
        if self._rn is not None and not self._closed:
            self._rn.report_snapshot(peer, failed)
            self._schedule()

    # --- the Ready loop ---------------------------------------------------------------------
    def _schedule(self) -> None:
        if not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_soon(self._on_ready)

    def _on_ready(self) -> None:
        """Handle the pending Ready and, when it was completed at once (nothing to wait
        for), the one its `advance` produced (typically: the entries it just committed)."""
        self._scheduled = False
        rn = self._rn
        if rn is None or self._closed:
            return
        if self._batch:
            self._flush_batch()
        if self._forward:
            driver_requests.flush_forward(self)
        t0 = time.perf_counter()
        for _ in range(2):
            if self._failure is not None or not rn.has_ready():
                break
            self._readies += 1
            try:
                self._handle_ready(rn.ready())
            except Exception as exc:
                self._fail(exc)
            if self._stages:
                break
        dt = time.perf_counter() - t0
        if dt > self._ready_seconds_max:
            self._ready_seconds_max = dt

    def _handle_ready(self, rd: Ready) -> None:
        st = self._log
        rn = self._rn
        assert st is not None and rn is not None
        snap = rd.snapshot
        if snap is not None:
            snap = self._install(snap)
        hs = rd.hard_state
        # (1) persist, unsynced
        seq = st.save(hs, rd.entries, snap) if hs is not None or rd.entries or snap else 0
        vote_changed = False
        if hs is not None:
            prev = self._saved_hs
            vote_changed = hs.term != prev.term or hs.vote != prev.vote
            self._saved_hs = hs
        if rd.soft_state is not None:
            self._on_soft_state(rd.soft_state)
        # (2) apply what is committed: persisted and, under "always", synced already
        if rd.committed_entries:
            self._apply_entries(rd.committed_entries)
        for rs in rd.read_states:
            self.reads.answered(rs.request_ctx, rs.index)
        # (3) send and advance once durable, in Ready order
        wait = rd.must_sync and (vote_changed or self._policy() == "always")
        if not wait and not self._stages:
            if rd.messages and self.transport is not None:
                self.transport.send(rd.messages)
            rn.advance(rd)
        else:
            later = rd.messages
            if later and not vote_changed and self.transport is not None:
                early = [m for m in later if m.type in EARLY]
                if early:
                    self.transport.send(early)
                    later = [m for m in later if m.type not in EARLY]
            self._stages.append(Stage(rd, seq if wait else 0, later))
            if wait:
                self._start_sync()
        if rn.has_ready():
            self._schedule()

    def _complete(self, stage: Stage) -> None:
        rn = self._rn
        assert rn is not None
        if stage.messages and self.transport is not None:
            self.transport.send(stage.messages)
        rn.advance(stage.ready)

    def _on_soft_state(self, ss: SoftState) -> None:
        rn = self._rn
        assert rn is not None
        self._refresh_sole_leader()
        if ss.role == _LEADER and ss.leader == self.id:
            self._lead_index = rn.last_index  # the new term's first (empty) entry
            log.info("became the Raft leader (term %d)", rn.term)
        if ss.leader != self._known_leader:
            self._known_leader = ss.leader
            if ss.leader:
                log.info("node %d leads (term %d)", ss.leader, rn.term)
                driver_requests.resubmit(self)
                self.reads.resend()
        if self._transfer_waiters and ss.leader:
            keep = []
            for to, fut, deadline in self._transfer_waiters:
                if to == ss.leader:
                    settle(fut, OK)
                else:
                    keep.append((to, fut, deadline))
            self._transfer_waiters = keep

    # --- applying ---------------------------------------------------------------------------
    def _apply_entries(self, ents: list[Entry]) -> None:
        local = self._local
        pending = self._pending
        apply = self._apply_cb
        for e in ents:
            if e.type:
                driver_members.apply_conf_change(self, e)
            elif e.data:
                p = local.pop(e.index, None) if local else None
                if type(p) is Proposal and p.term == e.term:
                    cmds: Sequence[Command] = (p.cmd,)
                elif type(p) is list and p[0].term == e.term:
                    cmds = [q.cmd for q in p]
                else:
                    cmds = decode_commands(e.data)
                for cmd in cmds:
                    reply = apply(cmd)
                    if pending:
                        q = pending.pop((cmd.client, cmd.seq), None)
                        if q is not None and not q.future.done():  # settle(), inlined
                            q.future.set_result(reply)
            self.applied_index = e.index
        self._entries_applied += len(ents)
        if self._applied_waiters:
            self._wake_applied()
        if not self._serving and self._lead_index and self.applied_index >= self._lead_index:
            self._set_serving()

    def _wake_applied(self) -> None:
        applied = self.applied_index
        keep = []
        for index, fut in self._applied_waiters:
            if index <= applied:
                settle(fut, None)
            else:
                keep.append((index, fut))
        self._applied_waiters = keep

    def _set_serving(self) -> None:
        self._serving = True
        self._refresh_sole_leader()
        if self._serving_or_failed is not None:
            self._serving_or_failed.set()

    # --- durability -------------------------------------------------------------------------
    def _start_sync(self) -> None:
        if self._syncing or self._closed or self._failure is not None:
            return
        assert self._sync_thread is not None
        self._syncing = True
        self._sync_thread.request()

    def _sync_done(self, _seq: int, exc: BaseException | None) -> None:
        self._syncing = False
        if self._closed:
            return
        if exc is not None:
            self._fail(exc)
            return
        st = self.storage
        assert st is not None
        synced = st.synced_seq
        stages = self._stages
        try:
            while stages and stages[0].seq <= synced:
                self._complete(stages.popleft())
        except Exception as e:
            self._fail(e)
            return
        if stages:
            self._start_sync()  # the next waiting Ready was saved after this sync began
        rn = self._rn
        if rn is not None and rn.has_ready():
            self._schedule()

    def _on_everysec(self) -> None:
        if self._closed:
            return
        assert self._loop is not None
        self._everysec_handle = self._loop.call_later(
            self.settings.everysec_interval, self._on_everysec
        )
        st = self.storage
        if st is not None and self._policy() == "everysec" and st.needs_sync:
            self._start_sync()

    # --- time -------------------------------------------------------------------------------
    def _on_tick(self) -> None:
        if self._closed:
            return
        loop = self._loop
        assert loop is not None
        lag = loop.time() - self._next_tick
        if lag > self._tick_lag_max:
            self._tick_lag_max = lag
        self.catch_up_ticks()
        self._tick_handle = loop.call_at(self._next_tick, self._on_tick)

    def catch_up_ticks(self) -> None:
        """Run every tick that is due by the clock. After a stall (a paused process) that
        is many at once, so timeouts and the leader lease see the time that passed: a
        leader resumed after a pause does not take its lease for still valid."""
        loop, rn = self._loop, self._rn
        if loop is None or rn is None or self._closed:
            return
        now = loop.time()
        interval = self.settings.tick_interval
        n = 0
        while self._next_tick <= now and n < _MAX_CATCH_UP_TICKS:
            self._next_tick += interval
            rn.tick()
            n += 1
        if self._next_tick <= now:  # very far behind: the ticks run cover every timeout
            self._next_tick = now + interval
        if not n:
            return
        driver_requests.expire(self, now)
        self._ticks += n
        if self.is_leader and self._ticks % 5 < n:
            driver_members.promote_caught_up(self)
        if rn.has_ready() or self._forward:
            self._schedule()

    # --- failure ----------------------------------------------------------------------------
    def _fail(self, exc: BaseException) -> None:
        """The log can no longer be trusted (a failed fsync, an undecodable entry), or this
        node was removed: stop serving; the node must restart and recover from what is
        durable."""
        if self._failure is not None or self._closed:
            return
        if isinstance(exc, NodeRemovedError):
            log.warning("%s", exc)
        else:
            log.critical("the Raft driver failed: %r", exc, exc_info=exc)
        self._failure = exc
        self.sole_leader = False
        driver_requests.fail_waiting(self, ErrorReply(UNCONFIRMED))
        if self._serving_or_failed is not None:
            self._serving_or_failed.set()
        if self._failed_event is not None:
            self._failed_event.set()
