"""``gofish-replay --verify``: is everything in a data directory sound and consistent?

Checks, in order (each finding is a line of the report; any problem fails the check):

1. **Checkpoints**: every file's size and CRC-32 against its manifest
   (`gofish.snapshot.list_checkpoints` with ``deep``). An interrupted write of another
   process (a ``.tmp-`` directory) is a warning, not a problem: a running node may be
   writing it.
2. **Log**: opening verifies every entry's checksum (`gofish.tools.offline.open_log`); a
   damaged tail above the commit index (which a restarting node cuts) and damage at or
   below it are problems. Every entry is then read again and its payload decoded (a command
   or a conf change).
3. **Replay**: starting from an empty machine if the log starts at index 1, else from the
   oldest checkpoint the log can continue, the committed entries are applied in order; at
   each newer checkpoint's index the replayed machine must equal that checkpoint (every
   partition, the machine-wide state, the term of the entry, the membership). Replay goes
   on to the commit index; an internal error of the state machine is a problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from gofish.log.rocksdb import CorruptLogError, RocksDBStorage
from gofish.raft import ConfState, EntryType, decode_conf_change
from gofish.snapshot import CheckpointError, Manifest, list_checkpoints, load_checkpoint
from gofish.statemachine.machine import StateMachine
from gofish.tools.console import ToolError
from gofish.tools.dump import differences
from gofish.tools.offline import (
    DEFAULT_PARTITIONS,
    LogInUse,
    ProgressFn,
    entry_commands,
    iter_entries,
    new_machine,
    open_log,
    start_from,
)

#: Problems listed per kind before the rest is summarised.
MAX_LISTED = 20


@dataclass
class Report:
    ok: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        return not self.problems


def verify_checkpoints(dir: str | os.PathLike[str], report: Report) -> list[Manifest]:
    """Step 1; returns the sound checkpoints, newest first."""
    notes: list[str] = []
    cps = list_checkpoints(dir, deep=True, problems=notes)
    for n in notes:
        (report.warnings if "interrupted write" in n else report.problems).append(
            f"checkpoint {n}")
    for m in cps:
        report.ok.append(f"checkpoint {m.dirname}: {len(m.files)} files, {m.keys} keys, "
                         "checksums match")
    return cps


def _verify_entries(store: RocksDBStorage, report: Report) -> None:
    first, last = store.first_index(), store.last_index()
    bad = 0
    lo = first
    while lo <= last:
        try:
            for e in iter_entries(store, lo, last):
                lo = e.index + 1
                try:
                    if e.type == EntryType.CONF_CHANGE:
                        decode_conf_change(e.data)
                    elif e.data:
                        entry_commands(e)
                except (ToolError, ValueError) as exc:
                    bad += 1
                    if bad <= MAX_LISTED:
                        report.problems.append(f"log entry {e.index}: undecodable: {exc}")
        except CorruptLogError as exc:
            bad += 1
            if bad <= MAX_LISTED:
                report.problems.append(f"log: {exc}")
            lo += 1
    if bad > MAX_LISTED:
        report.problems.append(f"log: {bad - MAX_LISTED} more damaged entries")
    if not bad:
        report.ok.append(f"log entries {first}..{last}: checksums match, payloads decode")


def _compare(dir: str | os.PathLike[str], m: Manifest, store: RocksDBStorage,
             replayed_conf: ConfState, rb_machine: StateMachine, report: Report) -> None:
    name = f"checkpoint {m.dirname}"
    found: list[str] = []
    term = store.term(m.index)
    if term != m.term:
        found.append(f"the log's entry {m.index} has term {term}")
    if (tuple(m.voters), tuple(m.learners)) != (replayed_conf.voters, replayed_conf.learners):
        found.append(f"membership voters={list(m.voters)} learners={list(m.learners)}, the log "
                     f"gives voters={list(replayed_conf.voters)} "
                     f"learners={list(replayed_conf.learners)}")
    other = new_machine(m.partitions)
    try:
        load_checkpoint(dir, m, other)
    except CheckpointError as exc:
        report.problems.append(f"{name}: does not load: {exc}")
        return
    found += differences(other, rb_machine, labels=("checkpoint", "log"))
    if found:
        report.problems.append(f"{name}: replaying the log does not reproduce it: "
                               + "; ".join(found))
    else:
        report.ok.append(f"{name}: equals the state replayed from the log")


def verify_dir(dir: str | os.PathLike[str], *, partitions: int | None = None,
               progress: ProgressFn | None = None) -> Report:
    """Run every check on the data directory ``dir`` (see the module docstring);
    ``progress(done, total)`` follows the replay."""
    report = Report()
    cps = verify_checkpoints(dir, report)
    try:
        with open_log(dir) as store:
            if store is None:
                report.warnings.append("no Raft log here: only the checkpoints were checked")
                return report
            _verify_log(dir, store, cps, partitions, report, progress)
    except LogInUse:
        raise
    except ToolError as exc:
        report.problems.append(str(exc))
    return report


def _verify_log(dir: str | os.PathLike[str], store: RocksDBStorage, cps: list[Manifest],
                partitions: int | None, report: Report,
                bar: ProgressFn | None) -> None:
    if store.cut_on_open is not None:
        a, b = store.cut_on_open
        report.problems.append(f"log: records {a}..{b} above the commit index are damaged "
                               "(a restarting node cuts them)")
    _verify_entries(store, report)
    if report.problems:
        return  # replay would stop at the damage; the findings so far say enough
    first, commit = store.first_index(), store.hard_state.commit
    usable = sorted((m for m in cps if first - 1 <= m.index), key=lambda m: m.index)
    for m in cps:
        if m.index < first - 1:
            report.warnings.append(f"checkpoint {m.dirname}: older than the log (compacted "
                                   f"up to {first - 1}): not checked by replay")
    start: Manifest | None = None
    if first > 1:
        if not usable:
            report.problems.append(f"the log starts after index {first - 1} and no checkpoint "
                                   "at or after it exists: the state cannot be rebuilt")
            return
        start = usable.pop(0)
    parts = partitions or (cps[0].partitions if cps else DEFAULT_PARTITIONS)
    rb = start_from(dir, start, parts, store)
    for m in usable:
        if m.index > commit:
            report.warnings.append(f"checkpoint {m.dirname}: above the log's commit index "
                                   f"{commit}: not checked by replay")
            continue
        if m.index > rb.index:
            rb.replay_to(store, m.index, progress=bar)
        _compare(dir, m, store, rb.conf_state, rb.machine, report)
    if commit > rb.index:
        rb.replay_to(store, commit, progress=bar)
    errors = rb.machine.internal_errors
    if errors:
        report.problems.append(f"replay: {errors} internal errors of the state machine "
                               "(see the log output)")
    else:
        frm = f"checkpoint {start.dirname}" if start is not None else "an empty machine"
        report.ok.append(f"replayed {rb.replayed} entries from {frm} to the commit index "
                         f"{commit}")
