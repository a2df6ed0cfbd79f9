"""Offline access to a node's data directory, and rebuilding its state machine.

A data directory ``DIR`` holds the Raft log in ``DIR/raft`` (RocksDB, `RocksDBStorage`) and
checkpoints in ``DIR/checkpoints/<index>-<term>/`` (`gofish.snapshot`). A node restarts as:
newest sound checkpoint (index I) + the committed log entries I+1..commit applied in order;
`rebuild` does the same, optionally stopping earlier.

Rules:

- **The source is never written.** `open_log` takes the lock RocksDB itself takes on
  ``DIR/raft/LOCK`` (an fcntl write lock): if a running node holds it, `LogInUse` says so.
  Holding the lock, it copies the database into a private directory (SST and blob files,
  which RocksDB never changes, are hard-linked when the file system allows; the WAL,
  MANIFEST and the rest are copied), releases the lock, and opens a `RocksDBStorage` on the
  copy. Opening verifies every entry's checksum; a torn tail above the commit index is cut
  in the copy only and reported in ``cut_on_open``; damage at or below the commit index is
  `CorruptLogError`. The copy is deleted on exit.
- **Same apply as the node.** Entries go through `StateMachine.apply` exactly as the Raft
  driver applies them: conf-change entries change the membership, empty entries (a
  leader's no-op) nothing, every other entry is a `Command`. The membership is folded from
  the checkpoint's (or the empty one) by Raft's rule, member records by
  `gofish.node.membership.AddressBook`.
- **Which checkpoint.** The newest sound checkpoint whose index is at most the target and
  from which the log can continue (index >= the log's first index - 1); with no log, the
  target must be a checkpoint's index. Without a usable checkpoint the log must start at
  index 1.
- The partition count is the checkpoint's; starting from an empty machine it is the newest
  checkpoint's, else the caller's (``--partitions``, default 64).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from gofish.log.rocksdb import CorruptLogError, RocksDBStorage
from gofish.node.membership import AddressBook, fold_conf_change
from gofish.raft import (
    ConfState,
    Entry,
    EntryType,
    decode_conf_change,
)
from gofish.snapshot import (
    CheckpointError,
    Manifest,
    list_checkpoints,
    load_checkpoint,
)
from gofish.snapshot.manifest import MANIFEST_NAME, decode_manifest
from gofish.statemachine.entry import Command, decode_commands
from gofish.statemachine.machine import StateMachine
from gofish.statemachine.registry import CommandTable, load_datatypes
from gofish.tools.console import ToolError

#: Default partition count (the server's default) when nothing says otherwise.
DEFAULT_PARTITIONS: Final = 64
#: Entries read from the log at a time.
CHUNK: Final = 1024
#: Subdirectory of a data directory that holds the Raft log.
RAFT: Final = "raft"

#: ``progress(done, total)``
ProgressFn = Callable[[int, int], None]


class LogInUse(ToolError):
    """The log is open in a running node."""


def new_machine(partitions: int = DEFAULT_PARTITIONS) -> StateMachine:
    """An empty state machine with every installed data type, as the node builds it (node
    commands are not needed offline: they never reach the log)."""
    table = CommandTable()
    load_datatypes(table)
    return StateMachine(table, partitions)


# --- sources --------------------------------------------------------------------------------
@contextlib.contextmanager
def data_source(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A data directory for ``path``: ``path`` itself, or, if ``path`` is one checkpoint's
    directory (it holds a ``manifest``: e.g. a copy made by ``tools/backup.sh``), a
    temporary data directory whose ``checkpoints/<index>-<term>`` links to it."""
    p = Path(path)
    if not p.exists():
        raise ToolError(f"{p}: no such directory")
    if not (p / MANIFEST_NAME).is_file():
        yield p
        return
    try:
        m = decode_manifest((p / MANIFEST_NAME).read_bytes())
    except (OSError, CheckpointError) as exc:
        raise ToolError(f"{p}: not a usable checkpoint: {exc}") from None
    tmp = Path(tempfile.mkdtemp(prefix="gofish-cp-"))
    try:
        (tmp / "checkpoints").mkdir()
        (tmp / "checkpoints" / m.dirname).symlink_to(p.resolve(), target_is_directory=True)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _lock_holder_message(raft: Path) -> str:
    return (f"{raft} is in use by a running gofish node (RocksDB holds its LOCK). The offline "
            "tools never open a live log: stop the node, or take a checkpoint with BGSAVE "
            "(tools/backup.sh) and use that, or copy the data directory while the node is "
            "stopped and point the tool at the copy")


def _copy_db(src: Path, dst: Path) -> None:
    dst.mkdir()
    for entry in os.scandir(src):
        name = entry.name
        if name == "LOCK" or name.startswith("LOG") or not entry.is_file():
            continue  # RocksDB's lock and its info logs
        target = dst / name
        if name.endswith((".sst", ".blob")):
            try:
                os.link(entry.path, target)
                continue
            except OSError:
                pass  # another file system: copy
        shutil.copy2(entry.path, target)


def _private_copy(raft: Path) -> Path:
    """A copy of the database at ``raft`` in a new temporary directory (same file system
    when possible, for hard links); raises `LogInUse` if a node holds it."""
    lock = raft / "LOCK"
    fd = -1
    try:
        if lock.exists():
            fd = os.open(lock, os.O_RDWR)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES):
                    raise LogInUse(_lock_holder_message(raft)) from None
                raise
        try:
            parent = Path(tempfile.mkdtemp(prefix=".gofish-tool-", dir=raft.parent))
        except OSError:  # a read-only data directory: copy elsewhere
            parent = Path(tempfile.mkdtemp(prefix="gofish-tool-"))
        try:
            _copy_db(raft, parent / RAFT)
        except BaseException:
            shutil.rmtree(parent, ignore_errors=True)
            raise
        return parent
    finally:
        if fd >= 0:
            os.close(fd)  # releases the lock


@contextlib.contextmanager
def open_log(dir: str | os.PathLike[str]) -> Iterator[RocksDBStorage | None]:
    """The Raft log of the data directory ``dir`` (see the module rules), or None if it has
    none. Raises `LogInUse`, or `ToolError` for a damaged log."""
    raft = Path(dir) / RAFT
    if not (raft / "CURRENT").is_file():
        yield None
        return
    tmp = _private_copy(raft)
    try:
        try:
            store = RocksDBStorage(tmp / RAFT)
        except CorruptLogError as exc:
            raise ToolError(f"{raft}: the log is damaged at or below its commit index: {exc}")\
                from None
        try:
            yield store
        finally:
            store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- reading entries ------------------------------------------------------------------------
def iter_entries(store: RocksDBStorage, lo: int, hi: int) -> Iterator[Entry]:
    """Entries ``lo..hi`` (inclusive) in order, read `CHUNK` at a time, checksums verified."""
    while lo <= hi:
        ents = store.entries(lo, min(hi + 1, lo + CHUNK))
        yield from ents
        lo = ents[-1].index + 1


def entry_commands(e: Entry) -> list[Command]:
    """The requests a normal, non-empty entry holds (several for a batch entry); `ToolError`
    naming the entry if it does not decode."""
    try:
        return decode_commands(e.data)
    except ValueError as exc:
        raise ToolError(f"log entry {e.index} (term {e.term}): {exc}") from None


def index_at_time(store: RocksDBStorage, until_ms: int, commit: int) -> int:
    """The last index before the first committed command entry stamped later than
    ``until_ms`` (``commit`` if there is none): the state "as of" that time. Entries without
    a time (conf changes, no-ops) before it count as before."""
    first = store.first_index()
    for e in iter_entries(store, first, commit):
        if e.type == EntryType.NORMAL and e.data and entry_commands(e)[0].time_ms > until_ms:
            return e.index - 1
    return commit


# --- rebuilding -----------------------------------------------------------------------------
@dataclass
class Rebuilt:
    """A state machine rebuilt to ``index`` (of ``term``), with the membership then."""

    machine: StateMachine
    index: int
    term: int
    conf_state: ConfState
    book: AddressBook
    #: the checkpoint it started from (None: from an empty machine at index 0)
    checkpoint: Manifest | None
    replayed: int = 0
    #: member records found in the log's meta record, for addresses the entries lack
    fallback_members: dict[int, bytes] = field(default_factory=dict)

    def members(self) -> dict[int, bytes]:
        """Member records of the current membership (`AddressBook.records`); a member the
        folded records know no address of takes the log's record if it has one."""
        ids = set(self.conf_state.voters) | set(self.conf_state.learners)
        recs = {n: r for n, r in self.book.records().items() if n in ids}
        for n in ids:
            fb = self.fallback_members.get(n)
            if fb is not None and (n not in recs or self.book.addr(n) is None):
                recs[n] = fb
        return dict(sorted(recs.items()))

    def apply_entry(self, e: Entry) -> None:
        """Apply one log entry as the driver does."""
        if e.type == EntryType.CONF_CHANGE:
            cc = decode_conf_change(e.data)
            self.conf_state = fold_conf_change(self.conf_state, cc)
            self.book.fold(cc)
        elif e.data:
            for cmd in entry_commands(e):
                self.machine.apply(cmd)
            self.machine.ks.dirty.clear()  # the node hands these to WATCH/blocked clients
        self.index = e.index
        self.term = e.term
        self.replayed += 1

    def replay_to(self, store: RocksDBStorage, hi: int, *,
                  on_entry: Callable[[Entry], None] | None = None,
                  progress: ProgressFn | None = None) -> None:
        """Apply entries ``index+1 .. hi``; ``on_entry`` sees each before it is applied."""
        lo = self.index + 1
        total = max(0, hi - lo + 1)
        for e in iter_entries(store, lo, hi):
            if on_entry is not None:
                on_entry(e)
            self.apply_entry(e)
            if progress is not None and (e.index - lo) % 256 == 255:
                progress(e.index - lo + 1, total)
        if progress is not None and total:
            progress(total, total)


def start_from(dir: str | os.PathLike[str], m: Manifest | None, partitions: int,
               store: RocksDBStorage | None, *,
               progress: ProgressFn | None = None) -> Rebuilt:
    """A `Rebuilt` at checkpoint ``m`` (loaded), or an empty machine at index 0."""
    fallback = store.members() if store is not None else {}
    if m is None:
        return Rebuilt(new_machine(partitions), 0, 0, ConfState(), AddressBook(), None,
                       fallback_members=fallback)
    machine = new_machine(m.partitions)
    try:
        load_checkpoint(dir, m, machine, progress=progress)
    except CheckpointError as exc:
        raise ToolError(f"checkpoint {m.dirname}: {exc}") from None
    return Rebuilt(machine, m.index, m.term, ConfState(m.voters, m.learners),
                   AddressBook.from_records(dict(m.members)), m, fallback_members=fallback)


def pick_checkpoint(checkpoints: list[Manifest], target: int | None,
                    store: RocksDBStorage | None) -> Manifest | None:
    """The checkpoint to start from for ``target`` (see the module rules); None: start
    from an empty machine. `ToolError` if neither works."""
    floor = store.first_index() - 1 if store is not None else None
    for m in checkpoints:  # newest first
        if target is not None and m.index > target:
            continue
        if floor is None:
            if target is None or m.index == target:
                return m
            break
        if m.index >= floor:
            return m
        break
    if store is not None and store.first_index() == 1:
        return None
    if store is None:
        if not checkpoints:
            raise ToolError("no Raft log and no sound checkpoint here: nothing to rebuild from")
        raise ToolError(f"index {target} is not a checkpoint's index, and there is no Raft log "
                        "to replay from one")
    raise ToolError(
        f"the log starts after index {store.first_index() - 1} (compacted) and no sound "
        f"checkpoint at or after that index" + (f" and at or below {target}" if target else "")
        + " exists: the state cannot be rebuilt"
    )


def rebuild(dir: str | os.PathLike[str], store: RocksDBStorage | None, *,
            until_index: int | None = None, until_ms: int | None = None,
            partitions: int | None = None,
            on_entry: Callable[[Entry], None] | None = None,
            load_progress: ProgressFn | None = None,
            replay_progress: ProgressFn | None = None,
            problems: list[str] | None = None) -> Rebuilt:
    """The state after the committed entry ``until_index`` (or as of ``until_ms``, or the
    commit index), rebuilt from ``dir``'s checkpoints and ``store`` (see the module rules).
    ``problems`` collects checkpoints that were skipped as damaged."""
    cps = list_checkpoints(dir, deep=True, problems=problems)
    commit = store.hard_state.commit if store is not None else 0
    newest = cps[0].index if cps else 0
    target: int | None = until_index
    if until_ms is not None:
        if store is None:
            raise ToolError("--until-time needs the Raft log (this directory has none)")
        target = index_at_time(store, until_ms, commit)
        if target == store.first_index() - 1 > 0 and not any(
                m.index == target and m.created_ms <= until_ms for m in cps):
            raise ToolError(f"the log was compacted up to index {target}, whose time is not "
                            f"known to be at or before {until_ms}: the state as of that time "
                            "cannot be rebuilt")
    if target is not None and target > max(commit, newest):
        raise ToolError(f"index {target} is not committed (commit index {commit}"
                        + (f", newest checkpoint {newest}" if cps else "") + ")")
    m = pick_checkpoint(cps, target, store)
    parts = partitions if partitions is not None else (cps[0].partitions if cps
                                                       else DEFAULT_PARTITIONS)
    rb = start_from(dir, m, parts, store, progress=load_progress)
    if store is not None:
        hi = target if target is not None else max(commit, rb.index)
        if hi > rb.index:
            rb.replay_to(store, hi, on_entry=on_entry, progress=replay_progress)
    return rb


def parse_ids(text: str) -> tuple[int, ...]:
    """``1,2,3`` → (1, 2, 3); ValueError if malformed."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if part:
            n = int(part)
            if not 1 <= n < 2**63:
                raise ValueError(f"node id out of range: {n}")
            out.append(n)
    return tuple(sorted(set(out)))
