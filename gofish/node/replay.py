"""Rebuilding the state machine at start-up: replay the committed log through ``apply``.

The state machine starts from the newest checkpoint (or empty) and every committed entry
after it, up to the store's persisted commit index, is applied in order, in chunks; the event
loop is yielded between chunks so clients get ``-LOADING`` meanwhile. Conf-change
entries rebuild the membership; if the store's membership record lags behind the log (a
crash between committing a change and recording it) the rebuilt one is saved.

Entries after the persisted commit index are not applied here: the `RawNode` commits them
(or a new leader replaces them) and the driver applies them through Readies as usual.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio

from gofish.log.rocksdb import RocksDBStorage
from gofish.node.driver_types import DriverSettings
from gofish.node.membership import AddressBook, fold_conf_change
from gofish.raft import ConfState, decode_conf_change
from gofish.statemachine.entry import Command, decode_commands

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Replayed:
    #: the last index applied (the store's commit index)
    applied_index: int
    #: entries replayed (commands, conf changes and empty entries)
    entries: int
    seconds: float


async def replay_log(
    store: RocksDBStorage,
    apply: Callable[[Command], Any],
    settings: DriverSettings,
    book: AddressBook | None = None,
    after: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Replayed:
    """Apply every committed entry of ``store`` after index ``after`` (the checkpoint the
    state machine was loaded from; 0: none) in order (see the module docstring); conf
    changes also update ``book`` (member addresses). Raises ValueError on an entry that is
    not a command, `gofish.log.rocksdb.CorruptLogError` on a damaged one, RuntimeError if
    the log was compacted past ``after`` (entries the state machine lacks are gone).
    ``progress(entries done, entries in total)`` after each chunk."""
    commit = store.hard_state.commit
    if store.first_index() > after + 1:
        raise RuntimeError(f"the log starts at entry {store.first_index()}, but the state "
                           f"machine was loaded only up to entry {after}: a checkpoint is "
                           "missing or damaged")
    first = lo = after + 1
    total = max(0, commit - lo + 1)
    # Each change sets one node's role, so folding the changes after the checkpoint over
    # the recorded membership (which may include some of them already) ends right.
    cs = store.conf_state if after else ConfState()
    t0 = last_report = time.monotonic()
    chunk = settings.replay_chunk
    if total > chunk:
        log.info("replaying %d log entries", total)
    while lo <= commit:
        for e in store.entries(lo, min(commit + 1, lo + chunk)):
            if e.type:
                cc = decode_conf_change(e.data)
                cs = fold_conf_change(cs, cc)
                if book is not None:
                    book.fold(cc)
            elif e.data:
                for cmd in decode_commands(e.data):
                    apply(cmd)
            lo = e.index + 1
        if progress is not None:
            progress(lo - first, total)
        now = time.monotonic()
        if now - last_report >= settings.replay_log_interval:
            last_report = now
            log.info("replaying the log: %d of %d entries (%d%%)", lo - first, total,
                     (lo - first) * 100 // total)
        await anyio.sleep(0)  # let the loop answer clients (LOADING)
    seconds = time.monotonic() - t0
    if total > chunk:
        log.info("replayed %d log entries in %.2f s", total, seconds)
    if (cs.voters or cs.learners) and cs != store.conf_state:
        store.save(conf_state=cs)
    return Replayed(applied_index=max(lo - 1, after), entries=total, seconds=seconds)
