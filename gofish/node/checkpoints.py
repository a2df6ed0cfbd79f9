"""Checkpoints of a running node: when they are taken, taking them while apply goes on,
compacting the log behind them, restarting from them and installing them from the leader.

Rules (ADR 0010 for the format, `gofish.snapshot`):

- **One at a time.** `begin` captures the state after the last applied entry I: the
  machine-wide state at once, then each partition just before a later apply would change it
  (`Dispatcher.apply` calls `before_apply`) or, one per loop turn, when the loop has time. A single
  worker thread encodes, compresses and fsyncs them (`CheckpointWriter`); the loop only
  copies (`gofish.snapshot.codec.capture_partition`).
- **Compaction.** Once the checkpoint at I is durable the log records it as its snapshot
  point (`RocksDBStorage.create_snapshot`, data = the checkpoint's directory name) and
  deletes the entries up to ``I - checkpoint-log-tail`` (a lagging follower within the tail
  still catches up from the log); older checkpoints are pruned (the newest two are kept).
- **When.** The ``save`` setting, Redis's ``seconds changes`` pairs: a checkpoint is due once
  ``seconds`` have passed since the last one and at least ``changes`` entries were applied
  since (an apscheduler job checks every second). ``SAVE`` waits for one, ``BGSAVE`` starts
  one, ``LASTSAVE`` is the time the last one finished.
- **Restart** (`restore`): the newest checkpoint that loads, not older than the log's
  compaction point; the driver replays the log after it.
- **Install** (`install`, a follower behind the leader's log): the leader sends the
  checkpoint's files in one Raft snapshot (`snapshot_data`, chunked by the transport); the
  follower writes them as a checkpoint, verifies every checksum, then replaces its state.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from gofish.progress import Progress
from gofish.raft import Snapshot
from gofish.snapshot import (
    CheckpointCapture,
    CheckpointWriter,
    Manifest,
    PartitionSnapshot,
    checkpoints_dir,
    list_checkpoints,
    load_checkpoint,
    load_latest,
    pack_checkpoint,
    prune_checkpoints,
    unpack_checkpoint,
)
from gofish.statemachine.entry import Command

if TYPE_CHECKING:
    from gofish.node.app import Node

log = logging.getLogger(__name__)

#: checkpoints kept
KEEP = 2



def parse_save(spec: str) -> list[tuple[int, int]]:
    """``"3600 1 300 100"`` → [(3600, 1), (300, 100)]; ``""`` → [] (no automatic saves).
    Raises ValueError when malformed."""
    nums = [int(x) for x in spec.split()]
    if len(nums) % 2 or any(n < 0 for n in nums):
        raise ValueError("save: expected pairs of 'seconds changes'")
    return list(zip(nums[::2], nums[1::2], strict=True))


class Checkpoints:
    """The node's checkpoints (see the module rules)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.dir = node.config.dir
        self.capture: CheckpointCapture | None = None
        self._queue: queue.SimpleQueue[PartitionSnapshot | None] = queue.SimpleQueue()
        self._done: asyncio.Future[bool] | None = None
        self._scheduler: Any = None
        self._packed: tuple[int, bytes] | None = None
        # statistics (INFO persistence)
        self.last_save = time.time()
        self.last_status = "ok"
        self.last_seconds = -1.0
        self.started_at = 0.0
        self.saves = 0
        self.applied_at_start = 0
        self.applied_at_last = 0
        self.last_index = 0
        self.last_dirname = ""

    # --- status -----------------------------------------------------------------------------
    @property
    def in_progress(self) -> bool:
        return self._done is not None and not self._done.done()

    def changes_since(self) -> int:
        return max(0, self.node.driver.applied_index - self.applied_at_last)

    # --- schedule ---------------------------------------------------------------------------
    def start_schedule(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        sched = AsyncIOScheduler(event_loop=asyncio.get_running_loop())
        sched.add_job(self._check_due, "interval", seconds=1, id="gofish-save",
                      max_instances=1, coalesce=True)
        sched.start()
        self._scheduler = sched

    def stop_schedule(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    async def _check_due(self) -> None:
        # A coroutine function: the AsyncIOScheduler runs those on the event loop. A plain
        # function would run in the loop's thread pool, where `begin` has no loop.
        if self.in_progress or self.node.loading:
            return
        try:
            rules = parse_save(self.node.config.save)
        except ValueError:
            return
        elapsed = time.time() - self.last_save
        changes = self.changes_since()
        if any(elapsed >= secs and changes >= n and changes > 0 for secs, n in rules):
            self.begin()

    # --- taking one -------------------------------------------------------------------------
    def begin(self) -> asyncio.Future[bool]:
        """Start a checkpoint of the state after the last applied entry (or return the
        running one's future). It resolves True once durable and the log compacted."""
        if self._done is not None and not self._done.done():
            return self._done
        node = self.node
        drv = node.driver
        loop = asyncio.get_running_loop()
        self._done = done = loop.create_future()
        index = drv.applied_index
        try:
            term = drv.term_at(index)
        except Exception as exc:  # compacted past it: nothing new to checkpoint
            log.info("no checkpoint: entry %d unavailable (%s)", index, exc)
            done.set_result(False)
            return done
        cap = CheckpointCapture(node.sm, index)
        writer = CheckpointWriter(
            self.dir, index, term, drv.members, drv.book.records(),
            table=node.table, partitions=len(node.sm.ks.partitions),
            expected_keys=cap.expected_keys,
            progress=_bar_or_log("writing checkpoint", f"checkpoint {index}-{term}"),
        )
        self.capture = cap
        self.started_at = time.time()
        self._queue = queue.SimpleQueue()
        self.applied_at_start = index
        log.info("checkpoint of entry %d (term %d) started: %d keys", index, term,
                 cap.expected_keys)
        thread = threading.Thread(target=self._write, args=(writer, cap.state, self._queue,
                                                             loop, done),
                                  name="gofish-checkpoint", daemon=True)
        thread.start()
        loop.create_task(self._capture_rest(cap))
        return done

    def before_apply(self, cmd: Command) -> None:
        """`Dispatcher.apply` calls this before every command entry while a capture runs."""
        cap = self.capture
        if cap is None:
            return
        for snap in cap.before_apply(cmd):
            self._queue.put(snap)
        if cap.done:
            self._captured()

    async def _capture_rest(self, cap: CheckpointCapture) -> None:
        while self.capture is cap and not cap.done:
            snap = cap.capture_next()
            if snap is not None:
                self._queue.put(snap)
            await anyio.sleep(0)  # one partition per loop turn
        if self.capture is cap:
            self._captured()

    def _captured(self) -> None:
        self.capture = None
        self._queue.put(None)

    def _write(self, writer: CheckpointWriter, state: Any,
               q: queue.SimpleQueue[PartitionSnapshot | None],
               loop: asyncio.AbstractEventLoop, done: asyncio.Future[bool]) -> None:
        """Worker thread: encode what the loop captured, then finish."""
        try:
            writer.add_state(state)
            while (snap := q.get()) is not None:
                writer.add_partition(snap.index, snap)
            manifest: Manifest | BaseException = writer.finish()
        except BaseException as exc:
            writer.abort()
            manifest = exc
        else:
            try:  # here, not on the loop: it reads and checks every file it keeps
                prune_checkpoints(self.dir, keep=KEEP)
            except Exception:
                log.exception("pruning old checkpoints failed")
        try:
            loop.call_soon_threadsafe(self._finished, manifest, done)
        except RuntimeError:
            pass  # the loop is closed

    def _finished(self, result: Manifest | BaseException, done: asyncio.Future[bool]) -> None:
        self.last_seconds = time.time() - self.started_at
        if isinstance(result, BaseException):
            self.last_status = "err"
            log.error("checkpoint failed: %s", result)
            if not done.done():
                done.set_result(False)
            return
        drv = self.node.driver
        try:
            drv.checkpointed(result.index, result.dirname,
                             self.node.config.checkpoint_log_tail)
        except Exception:
            log.exception("compacting the log behind checkpoint %s failed", result.dirname)
        self.last_status = "ok"
        self.last_save = time.time()
        self.saves += 1
        self.applied_at_last = result.index
        self.last_index = result.index
        self.last_dirname = result.dirname
        log.info("checkpoint %s done in %.2f s: %d keys", result.dirname, self.last_seconds,
                 result.keys)
        if not done.done():
            done.set_result(True)

    # --- restart and install (called by the driver) -----------------------------------------
    def restore(self, min_index: int) -> int:
        """Load the newest checkpoint at or after ``min_index`` into the state machine;
        return its index (0: none, the machine stays empty)."""
        bar = Progress("loading checkpoint")
        loading = self.node.loading_progress

        def progress(done: int, total: int) -> None:
            loading.update("checkpoint", done, total)
            bar(done, total)

        m = load_latest(self.dir, self.node.sm, min_index=min_index, progress=progress)
        if m is None:
            return 0
        log.info("loaded checkpoint %s: %d keys", m.dirname, m.keys)
        self._set_loaded(m)
        return m.index

    def _set_loaded(self, m: Manifest) -> None:
        self.applied_at_last = self.last_index = m.index
        self.last_dirname = m.dirname
        self.last_save = m.created_ms / 1000

    def snapshot_data(self, snap: Snapshot) -> bytes:
        """The files of the checkpoint ``snap`` refers to, packed for a Raft snapshot."""
        index = snap.metadata.index
        if self._packed is not None and self._packed[0] == index:
            return self._packed[1]
        data = pack_checkpoint(checkpoints_dir(self.dir) / snap.data.decode())
        self._packed = (index, data)
        return data

    def install(self, snap: Snapshot) -> Manifest:
        """Write the checkpoint a Raft snapshot carries, verify it, load it. Raises on a
        damaged or foreign one (the state machine is then unchanged)."""
        md = snap.metadata
        unpack_checkpoint(self.dir, snap.data, md.index, md.term)
        for m in list_checkpoints(self.dir, deep=False):
            if m.index == md.index and m.term == md.term:
                load_checkpoint(self.dir, m, self.node.sm)
                self._set_loaded(m)
                d = self.node.dispatcher  # every key may have changed
                if d.watchers or d.blocked:
                    d.keys_changed([*d.watchers, *d.blocked])
                log.info("installed checkpoint %s from the leader: %d keys", m.dirname, m.keys)
                return m
        raise ValueError(f"snapshot {md.index}-{md.term}: no valid checkpoint after writing it")


class LoadingProgress:
    """What a loading node has done so far (INFO persistence ``loading_*``): the checkpoint's
    keys, then the log's entries. Written by the loading code (a worker thread for the
    checkpoint), read by INFO; plain attribute stores."""

    def __init__(self) -> None:
        self.started = time.time()
        self.phase = ""
        self.done = 0
        self.total = 0

    def update(self, phase: str, done: int, total: int) -> None:
        self.phase, self.done, self.total = phase, done, total

    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 0.0

    def eta_seconds(self) -> int:
        """Seconds left in the current phase at its rate so far (0 when unknown)."""
        elapsed = time.time() - self.started
        if not self.done or not self.total or elapsed <= 0:
            return 0
        return int((self.total - self.done) * elapsed / self.done)


def loading_reporter(progress: LoadingProgress) -> Callable[[int, int], None]:
    """The start-up replay's progress: into INFO, and as a bar on a terminal."""
    bar = Progress("replaying the log")

    def report(done: int, total: int) -> None:
        progress.update("log", done, total)
        bar(done, total)

    return report


def _bar_or_log(label: str, what: str) -> Callable[[int, int], None]:
    """A bar on a terminal, else a log line a second (a checkpoint runs in the background)."""
    bar = Progress(label)
    return bar if bar.enabled else _progress_logger(what)


def _progress_logger(what: str, every: float = 1.0) -> Callable[[int, int], None]:
    """Progress as log lines, at most one per ``every`` seconds (thread-safe enough: a
    lost update only delays a line)."""
    last = [time.monotonic()]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every:
            last[0] = now
            log.info("%s: %d of %d keys (%d%%)", what, done, total,
                     done * 100 // total if total else 100)

    return show
