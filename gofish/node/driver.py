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
  of its own term, so everything it acknowledged before a crash is visible again.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import anyio.abc

from gofish.errors import LOADING
from gofish.log.rocksdb import RocksDBStorage
from gofish.node.driver_types import (
    CLUSTERDOWN,
    EARLY,
    NOT_APPLIED,
    UNCONFIRMED,
    Apply,
    DriverSettings,
    DriverStatistics,
    Proposal,
    Stage,
    Transport,
    settle,
)
from gofish.node.entry_cache import CachedLog
from gofish.node.idle_gate import IdleGate
from gofish.node.replay import replay_log
from gofish.raft import (
    Config,
    ConfState,
    Entry,
    HardState,
    Message,
    ProposalDroppedError,
    RawNode,
    Ready,
    SoftState,
    StateRole,
    decode_conf_change,
)
from gofish.reply import ErrorReply
from gofish.statemachine.entry import Command, decode_command, encode_command

__all__ = [
    "CLUSTERDOWN",
    "DriverSettings",
    "DriverStatistics",
    "NOT_APPLIED",
    "RaftDriver",
    "Transport",
    "UNCONFIRMED",
]

log = logging.getLogger(__name__)


class RaftDriver:
    """Drives one Raft node: see the module docstring for the rules.

    ``apply`` is called for every committed command entry in log order, on the loop, and its
    return value is the reply of the proposal that made the entry. ``fsync_policy`` returns
    ``"always"``, ``"everysec"`` or ``"no"`` (read at every Ready, so it can change live).
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
    ) -> None:
        self.path = os.fspath(path)
        self.settings = settings or DriverSettings()
        self.id = self.settings.node_id
        self.transport = transport
        self._apply_cb = apply
        self._policy = fsync_policy
        self.storage: RocksDBStorage | None = None
        self._log: CachedLog | None = None  # what Raft reads and the driver writes through
        self._rn: RawNode | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        #: index of the last entry applied (by the replay or from Readies)
        self.applied_index = 0
        # proposals in the log waiting for their apply, by index (insertion = index order)
        self._pending: dict[int, Proposal] = {}
        # proposals waiting for a leader: (cmd, future, deadline)
        self._awaiting: collections.deque[tuple[Command, asyncio.Future[Any], float]] = (
            collections.deque()
        )
        self._gate = IdleGate(self._propose_into, self._log_applied)
        self._applied_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._stages: collections.deque[Stage] = collections.deque()
        self._saved_hs = HardState()
        self._scheduled = False
        self._syncing = False
        self._sync_future: asyncio.Future[int] | None = None
        self._tick_handle: asyncio.TimerHandle | None = None
        self._everysec_handle: asyncio.TimerHandle | None = None
        self._next_tick = 0.0
        self._lead_index = 0  # first index of this node's current leadership
        self._serving = False
        self._closed = False
        self._failure: BaseException | None = None
        self._serving_or_failed: anyio.Event | None = None
        self._failed_event: anyio.Event | None = None
        # statistics
        self._readies = 0
        self._proposals = 0
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
        return rn is not None and rn.raft.role == StateRole.LEADER

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
            pending_proposals=len(self._pending),
            ready_seconds_max=self._ready_seconds_max,
            tick_lag_max=self._tick_lag_max,
            replayed_entries=self._replayed,
            replay_seconds=self._replay_seconds,
        )

    # --- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the store, replay the committed log through ``apply``, start Raft.

        Returns once the `RawNode` runs (see `wait_serving` for when clients may be served).
        Raises `gofish.log.rocksdb.CorruptLogError` on a damaged log, RocksDB's error if the
        directory is in use.
        """
        self._loop = asyncio.get_running_loop()
        self._serving_or_failed = anyio.Event()
        self._failed_event = anyio.Event()
        os.makedirs(self.path, exist_ok=True)
        self.storage = await anyio.to_thread.run_sync(RocksDBStorage, self.path)
        self._saved_hs = self.storage.hard_state
        await self._replay()
        s = self.settings
        cfg = Config(
            id=self.id,
            voters=s.voters,
            election_tick=s.election_tick,
            heartbeat_tick=s.heartbeat_tick,
            applied=self.applied_index,
            seed=int.from_bytes(os.urandom(4), "big"),
        )
        self._log = CachedLog(self.storage)
        self._rn = RawNode(cfg, self._log)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gofish-fsync")
        if self._rn.raft.conf_state().voters == (self.id,):
            self._rn.campaign()  # alone: no need to wait for an election timeout
        elif not self._rn.raft.conf_state().voters:
            self._set_serving()
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
        """Wait until the driver fails (a storage error, an undecodable entry); return why."""
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
        for h in (self._tick_handle, self._everysec_handle):
            if h is not None:
                h.cancel()
        self._fail_waiting(ErrorReply(UNCONFIRMED))
        st = self.storage
        if self._sync_future is not None and not self._sync_future.done():
            try:
                await self._sync_future
            except Exception:
                pass
        if st is not None:
            if self._failure is None and self._executor is not None:
                try:
                    await asyncio.get_running_loop().run_in_executor(self._executor, st.sync)
                except Exception:
                    log.exception("final sync of the Raft log failed")
            st.close()
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    # --- replay -----------------------------------------------------------------------------
    async def _replay(self) -> None:
        st = self.storage
        assert st is not None
        done = await replay_log(st, self._apply_cb, self.settings)
        self.applied_index = done.applied_index
        self._replayed = done.entries
        self._replay_seconds = done.seconds

    # --- proposals --------------------------------------------------------------------------
    def propose(self, cmd: Command) -> asyncio.Future[Any]:
        """Propose ``cmd``; the future resolves with its apply's reply, or with an error
        reply: LOADING (not started), CLUSTERDOWN, NOT_APPLIED or UNCONFIRMED."""
        loop = self._loop or asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if self._gate and not self._gate.bypass:
            self._gate.hold(cmd, fut, loop.time() + self.settings.proposal_timeout)
        else:
            self._propose_into(cmd, fut)
        return fut

    def _propose_into(
        self, cmd: Command, fut: asyncio.Future[Any], deadline: float | None = None
    ) -> None:
        rn = self._rn
        if rn is None or self._closed:
            fut.set_result(ErrorReply(CLUSTERDOWN if self._closed else LOADING))
            return
        raft = rn.raft
        if raft.role != StateRole.LEADER or raft.lead_transferee:
            self._wait_for_leader(cmd, fut, deadline)
            return
        try:
            index = rn.propose(encode_command(cmd))
        except ProposalDroppedError:
            self._wait_for_leader(cmd, fut, deadline)
            return
        self._proposals += 1
        pending = self._pending
        old = pending.pop(index, None)
        if old is not None:  # our older entry at this index was truncated from our log
            settle(old.future, ErrorReply(UNCONFIRMED))
        assert self._loop is not None
        pending[index] = Proposal(raft.term, fut, cmd, self._loop.time()
                                   + self.settings.proposal_timeout)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._on_ready)

    def _wait_for_leader(
        self, cmd: Command, fut: asyncio.Future[Any], deadline: float | None
    ) -> None:
        rn = self._rn
        assert rn is not None and self._loop is not None
        if rn.leader_id and rn.leader_id != self.id:
            fut.set_result(ErrorReply(CLUSTERDOWN))  # forwarding to the leader: later
            return
        if deadline is None:
            deadline = self._loop.time() + self.settings.leader_wait
        self._awaiting.append((cmd, fut, deadline))

    def _flush_awaiting(self) -> None:
        awaiting, self._awaiting = self._awaiting, collections.deque()
        for cmd, fut, deadline in awaiting:
            if not fut.done():
                self._propose_into(cmd, fut, deadline)

    def wait_applied(self, index: int) -> asyncio.Future[None]:
        """A future done once every entry up to ``index`` is applied."""
        loop = self._loop or asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if self.applied_index >= index:
            fut.set_result(None)
        else:
            self._applied_waiters.append((index, fut))
        return fut

    def is_idle(self) -> bool:
        """True when every entry of the log is applied and nothing waits at the gate."""
        return not self._gate and self._log_applied()

    def _log_applied(self) -> bool:
        return self.applied_index >= self.last_index()

    def when_idle(self, fn: Callable[[bool], None]) -> None:
        """Call ``fn(True)`` at a moment when every entry in the log is applied (now, if it
        is). Proposals made after this call are held back until ``fn`` has run, so
        anything ``fn`` proposes lands in the log right after what it saw applied; they are
        then proposed in their order. ``fn(False)`` if that moment does not come within
        ``proposal_timeout`` (``fn`` should then not propose). See `IdleGate`.

        This is WATCH's EXEC check: no write can slip between the check and the
        transaction's entry."""
        loop = self._loop or asyncio.get_running_loop()
        self._gate.wait(fn, loop.time() + self.settings.proposal_timeout)

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
        self._schedule()

    def peer_state(self, peer: int, up: bool) -> None:
        """The transport's connection to ``peer`` came up or went down (down: Raft stops
        streaming to it and probes again)."""
        if not up and self._rn is not None and not self._closed:
            self._rn.report_unreachable(peer)
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
        if rd.snapshot is not None:
            raise RuntimeError("installing a snapshot needs checkpoints: not implemented yet")
        hs = rd.hard_state
        # (1) persist, unsynced
        seq = st.save(hs, rd.entries) if hs is not None or rd.entries else 0
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
        if ss.role == StateRole.LEADER:
            self._lead_index = rn.last_index  # the new term's first (empty) entry
            log.info("became the Raft leader (term %d)", rn.term)
            self._flush_awaiting()
        elif ss.leader and ss.leader != self.id:
            awaiting, self._awaiting = self._awaiting, collections.deque()
            for _, fut, _ in awaiting:
                settle(fut, ErrorReply(CLUSTERDOWN))
            if not self._serving:
                self._set_serving()

    # --- applying ---------------------------------------------------------------------------
    def _apply_entries(self, ents: list[Entry]) -> None:
        pending = self._pending
        apply = self._apply_cb
        for e in ents:
            p = pending.pop(e.index, None) if pending else None
            if e.type:
                self._apply_conf_change(e)
                reply: Any = None
            elif e.data:
                if p is not None and p.term == e.term:
                    reply = apply(p.cmd)
                else:
                    reply = apply(decode_command(e.data))
            else:
                reply = None
            self.applied_index = e.index
            if p is not None and not p.future.done():
                p.future.set_result(reply if p.term == e.term else ErrorReply(NOT_APPLIED))
        self._entries_applied += len(ents)
        if self._applied_waiters:
            self._wake_applied()
        if self._gate:
            self._gate.drain()
        if not self._serving and self._lead_index and self.applied_index >= self._lead_index:
            self._set_serving()

    def _apply_conf_change(self, e: Entry) -> None:
        rn, st = self._rn, self._log
        assert rn is not None and st is not None
        cs = rn.apply_conf_change(decode_conf_change(e.data))
        st.save(conf_state=cs)

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
        if self._serving_or_failed is not None:
            self._serving_or_failed.set()

    # --- durability -------------------------------------------------------------------------
    def _start_sync(self) -> None:
        if self._syncing or self._closed or self._failure is not None:
            return
        st, loop, ex = self.storage, self._loop, self._executor
        assert st is not None and loop is not None and ex is not None
        self._syncing = True
        self._sync_future = fut = loop.run_in_executor(ex, st.sync)
        fut.add_done_callback(self._sync_done)

    def _sync_done(self, fut: asyncio.Future[int]) -> None:
        self._syncing = False
        if self._closed or fut.cancelled():
            return
        exc = fut.exception()
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
        loop, rn = self._loop, self._rn
        assert loop is not None and rn is not None
        now = loop.time()
        lag = now - self._next_tick
        if lag > self._tick_lag_max:
            self._tick_lag_max = lag
        interval = self.settings.tick_interval
        self._next_tick += interval
        if self._next_tick <= now:  # fell behind: do not fire a burst of ticks
            self._next_tick = now + interval
        self._tick_handle = loop.call_at(self._next_tick, self._on_tick)
        rn.tick()
        self._expire(now)
        if rn.has_ready():
            self._schedule()

    def _expire(self, now: float) -> None:
        """Fail what waited too long (checked once a tick, oldest first)."""
        pending = self._pending
        while pending:
            index = next(iter(pending))
            p = pending[index]
            if p.deadline > now:
                break
            del pending[index]
            settle(p.future, ErrorReply(UNCONFIRMED))
        if self._awaiting and self.is_leader:
            self._flush_awaiting()  # e.g. a leadership transfer was aborted
        awaiting = self._awaiting
        while awaiting and awaiting[0][2] <= now:
            settle(awaiting.popleft()[1], ErrorReply(CLUSTERDOWN))
        if self._gate:
            self._gate.expire(now)

    # --- failure ----------------------------------------------------------------------------
    def _fail(self, exc: BaseException) -> None:
        """The log can no longer be trusted (a failed fsync, an undecodable entry): stop
        serving; the node must restart and recover from what is durable."""
        if self._failure is not None:
            return
        log.critical("the Raft driver failed: %r", exc, exc_info=exc)
        self._failure = exc
        self._fail_waiting(ErrorReply(UNCONFIRMED))
        if self._serving_or_failed is not None:
            self._serving_or_failed.set()
        if self._failed_event is not None:
            self._failed_event.set()

    def _fail_waiting(self, reply: ErrorReply) -> None:
        pending, self._pending = self._pending, {}
        for p in pending.values():
            settle(p.future, reply)
        awaiting, self._awaiting = self._awaiting, collections.deque()
        for _, fut, _ in awaiting:
            settle(fut, ErrorReply(CLUSTERDOWN))
        self._gate.fail_all()
        waiters, self._applied_waiters = self._applied_waiters, []
        for _, fut in waiters:
            if not fut.done():
                fut.cancel()
