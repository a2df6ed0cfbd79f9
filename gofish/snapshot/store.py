"""Checkpoint directories: write, list, verify, load and prune them. Synchronous file I/O; no
event loop (the node runs these in worker threads).

Rules (ADR 0010):

- A checkpoint of the state machine after log entry ``index`` (of ``term``) lives in
  ``<dir>/checkpoints/<index>-<term>/``: ``manifest``, ``state.zst`` (`StateMachine.
  export_state`) and ``p<k>.zst`` for every partition k (`gofish.snapshot.codec`).
- It is built in ``checkpoints/.tmp-<index>-<term>-<pid>-<random>/``: every file is written
  and fsynced, the manifest last, the directory fsynced, then renamed to its final name and
  ``checkpoints/`` fsynced. So a final name always holds a complete checkpoint (barring
  later damage), and a ``.tmp-`` directory is an interrupted write that readers ignore.
- If the final name exists already (the same index and term checkpointed twice: by Raft's
  state machine safety the same state) and it verifies, it is kept and the new copy thrown
  away; a damaged one is replaced.
- Nothing trusts a checkpoint it has not checked: `load_checkpoint` verifies every file's
  size and CRC-32 against the manifest, then decodes everything into new objects, and only
  then replaces the machine's state. On any problem it raises `CorruptCheckpoint` (or
  `IncompatibleCheckpoint`) and the machine is unchanged.
- Deleting is a rename to a ``.tmp-`` name first, then removal: a crash never leaves a
  half-deleted directory under a final name.
- A Raft snapshot carries one checkpoint directory's files packed in one msgpack map
  (`pack_checkpoint`); the receiver writes them the same way a new checkpoint is written
  (`unpack_checkpoint`: temporary directory, fsync, rename) and only then verifies and loads.

Taking a checkpoint while apply goes on (the node): `CheckpointCapture` (in
`gofish.snapshot.codec`, with the rest of the event-loop side) captures the machine-wide
state at once, then each partition (`capture_partition`, a copy-on-write-safe snapshot) at
the latest just before the first later entry that touches that partition
(`partitions_touched`), or earlier when the loop is idle. Every capture thus shows the state
after ``index``. A worker thread gives the snapshots to a `CheckpointWriter` (encoding,
compression and fsync happen there) and calls ``finish``.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import msgspec

from gofish.snapshot.codec import (
    ZSTD_LEVEL,
    PartitionSnapshot,
    Progress,
    capture_partition,
    file_crc,
    read_partition_file,
    read_state_file,
    write_partition_file,
    write_state_file,
)
from gofish.snapshot.manifest import (
    MANIFEST_NAME,
    STATE_NAME,
    CheckpointError,
    CorruptCheckpoint,
    FileInfo,
    IncompatibleCheckpoint,
    Manifest,
    decode_manifest,
    encode_manifest,
    partition_file,
)
from gofish.statemachine.machine import StateMachine
from gofish.statemachine.registry import CommandTable

log = logging.getLogger(__name__)

#: Name of the directory under the node's data directory that holds the checkpoints.
CHECKPOINTS = "checkpoints"
_TMP = ".tmp-"
_FINAL = re.compile(r"^(\d+)-(\d+)$")


class Membership(Protocol):
    """What a checkpoint records of the membership (`gofish.raft.types.ConfState` fits)."""

    @property
    def voters(self) -> Iterable[int]: ...

    @property
    def learners(self) -> Iterable[int]: ...


def checkpoints_dir(dir: str | os.PathLike[str]) -> Path:
    """``<dir>/checkpoints``."""
    return Path(dir) / CHECKPOINTS


def checkpoint_path(dir: str | os.PathLike[str], manifest: Manifest) -> Path:
    """The directory of the checkpoint ``manifest`` describes."""
    return checkpoints_dir(dir) / manifest.dirname


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (creations, renames) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_PACK = msgspec.msgpack.Encoder()
_UNPACK = msgspec.msgpack.Decoder(dict[str, bytes])


def pack_checkpoint(path: Path) -> bytes:
    """The files of the checkpoint directory ``path`` as one msgpack map name → bytes (the
    data of a Raft snapshot)."""
    return _PACK.encode({p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()})


def unpack_checkpoint(dir: str | os.PathLike[str], data: bytes, index: int, term: int) -> Path:
    """Write the files `pack_checkpoint` packed as checkpoint ``index``-``term`` under
    ``dir`` (a temporary directory, every file fsynced, renamed, the parent fsynced); an
    existing directory of that name is kept if it verifies, else replaced. Returns its
    path; the caller verifies and loads it. Raises ValueError on data that is not such a
    pack."""
    try:
        files = _UNPACK.decode(data)
    except msgspec.DecodeError as exc:
        raise ValueError(f"snapshot {index}-{term}: not a packed checkpoint: {exc}") from None
    for name in files:
        if "/" in name or name.startswith(".") or not name:
            raise ValueError(f"snapshot {index}-{term}: bad file name {name!r}")
    root = checkpoints_dir(dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{index}-{term}"
    if final.exists():
        if _existing(final) is not None:
            return final
        log.warning("replacing damaged checkpoint %s with the leader's", final.name)
        _remove(final)
    tmp = root / f".tmp-{index}-{term}-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        for name, content in files.items():
            with open(tmp / name, "wb") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
        fsync_dir(tmp)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(root)
    return final


def _ours(tmp_name: str) -> bool:
    """Was the ``.tmp-...-<pid>-<random>`` directory made by this process?"""
    parts = tmp_name.rsplit("-", 2)
    return len(parts) == 3 and parts[1] == str(os.getpid())


def _remove(path: Path) -> None:
    """Remove a directory tree, renaming it to a ``.tmp-`` name first (see the rules)."""
    if not path.name.startswith(_TMP):
        doomed = path.with_name(f"{_TMP}del-{path.name}-{os.getpid()}-{secrets.token_hex(4)}")
        os.rename(path, doomed)
        fsync_dir(path.parent)
        path = doomed
    shutil.rmtree(path)


# --- writing --------------------------------------------------------------------------------
class CheckpointWriter:
    """Builds one checkpoint, a partition at a time.

    ``add_state`` once and ``add_partition`` once per partition, in any order, then
    ``finish``; ``abort`` (or leaving a ``with`` block by an exception) removes the partial
    checkpoint. ``add_partition`` calls for different partitions may run in different
    threads at once; a snapshot handed over belongs to the writer from then on.
    ``progress(keys done, keys in total)`` is called after each batch (total: the
    ``expected_keys`` given, or the keys seen so far if more).
    """

    def __init__(
        self,
        dir: str | os.PathLike[str],
        index: int,
        term: int,
        conf_state: Membership,
        members: Mapping[int, bytes],
        *,
        table: CommandTable,
        partitions: int,
        expected_keys: int = 0,
        progress: Progress | None = None,
        level: int = ZSTD_LEVEL,
    ) -> None:
        if index < 0 or term < 0 or partitions < 1:
            raise ValueError("checkpoint: bad index, term or partition count")
        self.index = index
        self.term = term
        self._voters = tuple(sorted(conf_state.voters))
        self._learners = tuple(sorted(conf_state.learners))
        self._members = dict(sorted(members.items()))
        self._table = table
        self._partitions = partitions
        self._expected = expected_keys
        self._progress = progress
        self._level = level
        self._root = checkpoints_dir(dir)
        if not self._root.is_dir():
            self._root.mkdir(parents=True, exist_ok=True)
            fsync_dir(self._root.parent)
        self.path = self._root / f"{_TMP}{index}-{term}-{os.getpid()}-{secrets.token_hex(4)}"
        self.path.mkdir()
        self._lock = threading.Lock()
        self._files: dict[str, FileInfo] = {}
        self._types: set[str] = set()
        self._done_keys = 0
        self._closed = False

    def __enter__(self) -> CheckpointWriter:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if et is not None:
            self.abort()

    def _claim(self, name: str) -> None:
        with self._lock:
            if self._closed:
                raise CheckpointError("checkpoint writer already finished or aborted")
            if name in self._files:
                raise CheckpointError(f"checkpoint: {name} added twice")
            self._files[name] = FileInfo(name, -1, 0)  # reserved

    def add_state(self, state: Any) -> FileInfo:
        """Write the machine-wide state (`StateMachine.export_state`, taken at ``index``)."""
        self._claim(STATE_NAME)
        info = write_state_file(self.path / STATE_NAME, state, level=self._level)
        with self._lock:
            self._files[STATE_NAME] = info
        return info

    def add_partition(self, k: int, snap: PartitionSnapshot) -> FileInfo:
        """Encode, compress and write partition ``k`` from ``snap`` (taken at ``index``);
        blocking, run it in a worker thread. Raises `CheckpointError` for a value of an
        unregistered type."""
        if not 0 <= k < self._partitions or snap.index != k:
            raise ValueError(f"checkpoint: partition {k} (snapshot of {snap.index}) out of range")
        name = partition_file(k)
        self._claim(name)
        info, types = write_partition_file(
            self.path / name, snap, self._table, level=self._level, on_keys=self._on_keys
        )
        with self._lock:
            self._files[name] = info
            self._types |= types
        return info

    def _on_keys(self, n: int) -> None:
        with self._lock:
            self._done_keys += n
            done = self._done_keys
        if self._progress is not None:
            self._progress(done, max(done, self._expected))

    def finish(self) -> Manifest:
        """Write the manifest, make everything durable and give the checkpoint its final
        name; returns the manifest. Raises `CheckpointError` if a file is missing."""
        with self._lock:
            if self._closed:
                raise CheckpointError("checkpoint writer already finished or aborted")
            names = [STATE_NAME] + [partition_file(k) for k in range(self._partitions)]
            missing = [n for n in names if n not in self._files or self._files[n].size < 0]
            if missing:
                raise CheckpointError(f"checkpoint not complete: {', '.join(missing[:5])} missing")
            self._closed = True
            files = tuple(self._files[n] for n in names)
        manifest = Manifest(
            index=self.index,
            term=self.term,
            voters=self._voters,
            learners=self._learners,
            members=self._members,
            partitions=self._partitions,
            types=tuple(sorted(self._types)),
            keys=sum(f.keys for f in files),
            created_ms=int(time.time() * 1000),
            files=files,
        )
        with open(self.path / MANIFEST_NAME, "xb") as f:
            f.write(encode_manifest(manifest))
            f.flush()
            os.fsync(f.fileno())
        fsync_dir(self.path)
        final = self._root / manifest.dirname
        if final.exists():
            kept = _existing(final)
            if kept is not None:
                log.info("checkpoint %s exists already and verifies: keeping it", final.name)
                shutil.rmtree(self.path)
                self.path = final
                return kept
            log.warning("replacing damaged checkpoint %s", final.name)
            _remove(final)
        os.rename(self.path, final)
        fsync_dir(self._root)
        self.path = final
        return manifest

    def abort(self) -> None:
        """Throw the partial checkpoint away (nothing if already finished)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        shutil.rmtree(self.path, ignore_errors=True)


def _existing(path: Path) -> Manifest | None:
    """The manifest of the checkpoint at ``path`` if it is complete and verifies."""
    try:
        m = decode_manifest((path / MANIFEST_NAME).read_bytes())
    except (OSError, CheckpointError):
        return None
    if m.dirname != path.name or _verify_dir(path, m):
        return None
    return m


def write_checkpoint(
    dir: str | os.PathLike[str],
    index: int,
    term: int,
    conf_state: Membership,
    members: Mapping[int, bytes],
    machine: StateMachine,
    *,
    progress: Progress | None = None,
    level: int = ZSTD_LEVEL,
) -> Manifest:
    """Checkpoint ``machine`` as it is now, which must be its state after entry ``index``.

    Synchronous: ``machine`` must not change until it returns (it is read without copies).
    ``members``: the node's member records (opaque bytes by node id)."""
    ks = machine.ks
    with CheckpointWriter(
        dir, index, term, conf_state, members, table=machine.table,
        partitions=len(ks.partitions), expected_keys=ks.dbsize(), progress=progress,
        level=level,
    ) as w:
        w.add_state(machine.export_state())
        for p in ks.partitions:
            w.add_partition(p.index, capture_partition(p, machine.table, copy=False))
        return w.finish()


# --- reading --------------------------------------------------------------------------------
def _expected_names(m: Manifest) -> list[str]:
    return [STATE_NAME] + [partition_file(k) for k in range(m.partitions)]


def _verify_dir(path: Path, m: Manifest, *, deep: bool = True) -> list[str]:
    problems = []
    listed = [f.name for f in m.files]
    if sorted(listed) != sorted(_expected_names(m)):
        problems.append("manifest does not list exactly the state file and one file per "
                        f"partition ({len(listed)} files for {m.partitions} partitions)")
    for f in m.files:
        p = path / f.name
        try:
            if deep:
                size, crc = file_crc(p)
            else:
                size, crc = p.stat().st_size, f.crc32
        except FileNotFoundError:
            problems.append(f"{f.name}: missing")
            continue
        except OSError as exc:
            problems.append(f"{f.name}: unreadable ({exc})")
            continue
        if size != f.size:
            problems.append(f"{f.name}: {size} bytes, the manifest says {f.size}")
        elif crc != f.crc32:
            problems.append(f"{f.name}: checksum mismatch (manifest {f.crc32:#010x}, "
                            f"file {crc:#010x})")
    return problems


def verify_checkpoint(dir: str | os.PathLike[str], manifest: Manifest) -> list[str]:
    """Problems of the checkpoint ``manifest`` describes: its manifest file missing or not
    this one, a file missing, or a size or CRC-32 that differs. Empty: it is sound."""
    path = checkpoint_path(dir, manifest)
    try:
        on_disk = decode_manifest((path / MANIFEST_NAME).read_bytes())
    except FileNotFoundError:
        return [f"{manifest.dirname}: no manifest (directory missing or write interrupted)"]
    except (OSError, CheckpointError) as exc:
        return [f"{manifest.dirname}: manifest: {exc}"]
    if on_disk != manifest:
        return [f"{manifest.dirname}: the manifest on disk is another one"]
    return [f"{manifest.dirname}: {p}" for p in _verify_dir(path, manifest)]


def list_checkpoints(
    dir: str | os.PathLike[str], *, deep: bool = True, problems: list[str] | None = None
) -> list[Manifest]:
    """The complete checkpoints under ``dir``, newest (highest index, then term) first.

    A directory that is not one (an interrupted ``.tmp-`` write of another process, a
    missing or damaged manifest, a missing or wrong-sized file, with ``deep`` a CRC-32 that
    differs) is skipped, logged as a warning and described in ``problems`` if given.
    Without ``deep`` only sizes are checked (`load_checkpoint` checks the rest)."""
    root = checkpoints_dir(dir)
    found: list[Manifest] = []
    notes: list[str] = []
    try:
        entries = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    for name in entries:
        path = root / name
        if name.startswith(_TMP):
            if not _ours(name) and not name.startswith(f"{_TMP}del-"):
                notes.append(f"{name}: incomplete (an interrupted write), ignored")
            continue
        if not _FINAL.match(name) or not path.is_dir():
            notes.append(f"{name}: not a checkpoint directory, ignored")
            continue
        try:
            m = decode_manifest((path / MANIFEST_NAME).read_bytes())
        except FileNotFoundError:
            notes.append(f"{name}: no manifest (incomplete), ignored")
            continue
        except (OSError, CheckpointError) as exc:
            notes.append(f"{name}: manifest: {exc}; ignored")
            continue
        if m.dirname != name:
            notes.append(f"{name}: holds the manifest of {m.dirname}; ignored")
            continue
        bad = _verify_dir(path, m, deep=deep)
        if bad:
            notes.append(f"{name}: {'; '.join(bad)}; ignored")
            continue
        found.append(m)
    for note in notes:
        log.warning("checkpoint %s", note)
    if problems is not None:
        problems.extend(notes)
    found.sort(key=lambda m: (m.index, m.term), reverse=True)
    return found


def load_checkpoint(
    dir: str | os.PathLike[str],
    manifest: Manifest,
    machine: StateMachine,
    *,
    progress: Progress | None = None,
) -> None:
    """Replace ``machine``'s state (partitions and `StateMachine.export_state`'s part) with
    the checkpoint ``manifest`` describes.

    Verifies every file's size and CRC-32 first, then decodes everything into new objects,
    then installs them. Raises `CorruptCheckpoint` (damage) or `IncompatibleCheckpoint`
    (another partition count, a newer format, a data type ``machine.table`` lacks), with
    ``machine`` unchanged. ``progress(keys loaded, keys in total)`` after each batch."""
    problems = verify_checkpoint(dir, manifest)
    if problems:
        raise CorruptCheckpoint("; ".join(problems))
    ks = machine.ks
    if manifest.partitions != len(ks.partitions):
        raise IncompatibleCheckpoint(
            f"checkpoint {manifest.dirname} has {manifest.partitions} partitions, this "
            f"machine {len(ks.partitions)}"
        )
    missing = [t for t in manifest.types if t not in machine.table.types_by_name]
    if missing:
        raise IncompatibleCheckpoint(
            f"checkpoint {manifest.dirname} holds values of data types {', '.join(missing)}, "
            "which no loaded plugin registers"
        )
    path = checkpoint_path(dir, manifest)
    done = 0
    total = manifest.keys

    def on_keys(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, max(done, total))

    loaded: list[tuple[dict[bytes, Any], dict[bytes, int]]] = []
    for k in range(manifest.partitions):
        info = manifest.file(partition_file(k))
        assert info is not None  # verify_checkpoint checked the list
        data, expires, size, crc = read_partition_file(
            path / info.name, k, machine.table, on_keys=on_keys
        )
        _same(info, size, crc, manifest)
        loaded.append((data, expires))
    info = manifest.file(STATE_NAME)
    assert info is not None
    state, size, crc = read_state_file(path / STATE_NAME)
    _same(info, size, crc, manifest)
    try:
        machine.restore_state(state)
    except ValueError as exc:
        raise CorruptCheckpoint(f"checkpoint {manifest.dirname}: {exc}") from exc
    for p, (data, expires) in zip(ks.partitions, loaded, strict=True):
        p.data = data
        p.expires = expires


def _same(info: FileInfo, size: int, crc: int, m: Manifest) -> None:
    if size != info.size or crc != info.crc32:
        raise CorruptCheckpoint(
            f"checkpoint {m.dirname}: {info.name} changed while it was loaded"
        )


def load_latest(
    dir: str | os.PathLike[str],
    machine: StateMachine,
    *,
    min_index: int = 0,
    progress: Progress | None = None,
) -> Manifest | None:
    """Load the newest checkpoint with ``index >= min_index`` that loads; None if there is
    none (``machine`` unchanged). A damaged one is logged and the next older one tried.

    ``min_index``: the caller's log must hold every entry after the checkpoint, so pass the
    index of the last entry the log has compacted away. `IncompatibleCheckpoint` is raised,
    not skipped (an older checkpoint would not do better)."""
    for m in list_checkpoints(dir, deep=False):
        if m.index < min_index:
            break
        try:
            load_checkpoint(dir, m, machine, progress=progress)
        except CorruptCheckpoint as exc:
            log.warning("checkpoint %s not loaded: %s", m.dirname, exc)
            continue
        return m
    return None


def prune_checkpoints(dir: str | os.PathLike[str], keep: int = 2) -> list[str]:
    """Delete all but the ``keep`` newest sound checkpoints (fully verified), damaged ones
    older than the oldest kept, and ``.tmp-`` directories of other processes (interrupted
    writes). Damaged checkpoints newer than that are left for inspection. Returns the
    names deleted."""
    if keep < 1:
        raise ValueError("keep at least one checkpoint")
    root = checkpoints_dir(dir)
    if not root.is_dir():
        return []
    sound = list_checkpoints(dir, deep=True)
    kept = {m.dirname for m in sound[:keep]}
    oldest = min(((m.index, m.term) for m in sound[:keep]), default=None)
    removed: list[str] = []
    for name in sorted(os.listdir(root)):
        path = root / name
        if name.startswith(_TMP):
            doomed = not _ours(name)
        else:
            match = _FINAL.match(name)
            if match is None or name in kept or oldest is None:
                continue
            doomed = (int(match[1]), int(match[2])) < oldest
        if doomed:
            try:
                if path.is_dir():
                    _remove(path)
                else:
                    path.unlink()
            except FileNotFoundError:
                continue
            removed.append(name)
    if removed:
        fsync_dir(root)
        log.info("pruned checkpoints: %s", ", ".join(removed))
    return removed
