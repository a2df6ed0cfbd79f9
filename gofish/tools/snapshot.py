"""``gofish-snapshot``: list, inspect, verify, create and restore checkpoints offline.

    gofish-snapshot list DIR [--newest]
    gofish-snapshot inspect DIR [NAME] [--json]
    gofish-snapshot verify DIR [NAME] [--load]
    gofish-snapshot create DIR [--until-index N | --until-time T] [--partitions P]
    gofish-snapshot restore SRC DIR [--checkpoint NAME] [--until-index N | --until-time T]
                                    [--voters IDS] [--learners IDS]

``DIR``/``SRC`` is a node's data directory (its ``--dir``), or for ``list``, ``inspect``,
``verify`` and ``restore`` also one checkpoint's directory (a backup made by
``tools/backup.sh``). ``NAME`` is ``<index>-<term>`` or just the index; default: the
newest sound checkpoint.

- ``list``: every sound checkpoint, newest first: name, index, term, creation time, files,
  bytes, keys, membership; skipped ones (damaged, interrupted) on stderr. ``--newest``
  prints only the newest one's directory path (scripts use it).
- ``inspect``: one checkpoint's manifest and, per partition, keys, keys with an expiry,
  file bytes and key counts by type (the files are decoded, one partition at a time).
- ``verify``: checksums of every file (``--load``: also decode everything); exit 1 on any
  problem.
- ``create``: rebuild the state offline (checkpoint + log, `gofish.tools.offline`) to the
  commit index (or ``--until-*``) and write a checkpoint of it into ``DIR/checkpoints`` with
  the membership and member records as of that index. The node must be stopped (a running
  node takes checkpoints itself: BGSAVE).
- ``restore``: make a fresh data directory ``DIR`` that a node starts from: a checkpoint
  (rewritten from the decoded state, so it is checked end to end) plus a Raft log that
  starts right after it (its snapshot metadata is the checkpoint's index, term and
  membership, ``hard_state`` term = the checkpoint's term, commit = its index). With
  ``--until-index``/``--until-time`` the state is first rebuilt from ``SRC``'s checkpoint
  and log to that point (point-in-time restore). ``--voters``/``--learners`` replace the
  membership (e.g. ``--voters 1`` to start a cluster's backup as a single node with node id
  1); every node of a new cluster needs its own restore of the same source with the same
  membership. ``DIR`` must not exist or be empty; it is built beside it and renamed into
  place, so a failed restore leaves nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from gofish.log.rocksdb import RocksDBStorage
from gofish.progress import Progress
from gofish.raft import ConfState, HardState, Snapshot, SnapshotMetadata
from gofish.snapshot import (
    CheckpointError,
    Manifest,
    checkpoint_path,
    checkpoints_dir,
    fsync_dir,
    list_checkpoints,
    load_checkpoint,
    verify_checkpoint,
    write_checkpoint,
)
from gofish.snapshot.codec import read_partition_file
from gofish.snapshot.manifest import MANIFEST_NAME, decode_manifest, partition_file
from gofish.tools.console import ToolError, human_bytes, parse_time, show_time
from gofish.tools.dump import member_view
from gofish.tools.offline import (
    Rebuilt,
    data_source,
    new_machine,
    open_log,
    parse_ids,
    rebuild,
    start_from,
)
from gofish.tools.verify import Report, verify_checkpoints

PROG = "gofish-snapshot"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="List, inspect, verify, create and "
                                "restore gofish checkpoints offline.")
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="list the sound checkpoints, newest first")
    ls.add_argument("dir")
    ls.add_argument("--newest", action="store_true",
                    help="print only the newest checkpoint's directory")
    ins = sub.add_parser("inspect", help="per-partition contents of one checkpoint")
    ins.add_argument("dir")
    ins.add_argument("name", nargs="?", help="INDEX-TERM or INDEX (default: the newest)")
    ins.add_argument("--json", action="store_true", help="print JSON")
    ver = sub.add_parser("verify", help="verify checkpoint checksums")
    ver.add_argument("dir")
    ver.add_argument("name", nargs="?", help="INDEX-TERM or INDEX (default: all)")
    ver.add_argument("--load", action="store_true", help="also decode every file")
    cr = sub.add_parser("create", help="write a checkpoint offline from checkpoint + log")
    cr.add_argument("dir")
    _until(cr)
    cr.add_argument("--partitions", type=int, metavar="P",
                    help="partition count when there is no checkpoint (default 64)")
    rs = sub.add_parser("restore", help="make a fresh data directory from a checkpoint")
    rs.add_argument("src", help="a data directory, or a checkpoint directory (a backup)")
    rs.add_argument("dest", help="the new data directory (must not exist or be empty)")
    rs.add_argument("--checkpoint", metavar="NAME", help="INDEX-TERM or INDEX (default: the "
                    "newest; not with --until-*)")
    _until(rs)
    rs.add_argument("--voters", metavar="IDS", help="replace the membership's voters (1,2,3)")
    rs.add_argument("--learners", metavar="IDS", help="replace the membership's learners")
    rs.add_argument("--partitions", type=int, metavar="P",
                    help="partition count when there is no checkpoint (default 64)")
    return p


def _until(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--until-index", type=int, metavar="N", help="the state after entry N")
    g.add_argument("--until-time", metavar="T", help="the state as of time T (ms since the "
                   "epoch or ISO 8601)")


# --- selection ------------------------------------------------------------------------------
def select(cps: list[Manifest], name: str | None) -> Manifest:
    """The checkpoint called ``name`` (``I-T`` or ``I``), or the newest; `ToolError`."""
    if not cps:
        raise ToolError("no sound checkpoint found")
    if name is None:
        return cps[0]
    for m in cps:
        if name in (m.dirname, str(m.index)):
            return m
    raise ToolError(f"no sound checkpoint {name} (have: "
                    f"{', '.join(m.dirname for m in cps[:10])})")


# --- list / inspect / verify ----------------------------------------------------------------
def cmd_list(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with data_source(args.dir) as d:
        notes: list[str] = []
        cps = list_checkpoints(d, deep=True, problems=notes)
        for n in notes:
            err.write(f"skipped  {n}\n")
        if args.newest:
            if not cps:
                raise ToolError(f"{args.dir}: no sound checkpoint")
            path = checkpoint_path(d, cps[0])
            out.write(f"{path.resolve()}\n")
            return 0
        out.write(f"{'NAME':<16} {'INDEX':>10} {'TERM':>6} {'CREATED':<24} {'FILES':>5} "
                  f"{'BYTES':>10} {'KEYS':>10}  MEMBERS\n")
        for m in cps:
            size = sum(f.size for f in m.files)
            members = f"voters={','.join(map(str, m.voters))}"
            if m.learners:
                members += f" learners={','.join(map(str, m.learners))}"
            out.write(f"{m.dirname:<16} {m.index:>10} {m.term:>6} {show_time(m.created_ms):<24} "
                      f"{len(m.files):>5} {size:>10} {m.keys:>10}  {members}\n")
    return 0


def inspect(dir: Path, m: Manifest) -> dict[str, Any]:
    """What ``inspect`` shows of checkpoint ``m`` (files decoded one at a time)."""
    problems = verify_checkpoint(dir, m)
    if problems:
        raise ToolError("; ".join(problems))
    table = new_machine(1).table
    path = checkpoint_path(dir, m)
    parts = []
    totals: Counter[str] = Counter()
    for k in range(m.partitions):
        info = m.file(partition_file(k))
        assert info is not None
        try:
            data, expires, _, _ = read_partition_file(path / info.name, k, table)
        except CheckpointError as exc:
            raise ToolError(f"checkpoint {m.dirname}: {exc}") from None
        types: Counter[str] = Counter(table.types[type(v)].name for v in data.values())
        totals.update(types)
        parts.append({"partition": k, "keys": len(data), "expiring": len(expires),
                      "bytes": info.size, "types": dict(sorted(types.items()))})
    state = m.file("state.zst")
    return {
        "name": m.dirname, "index": m.index, "term": m.term, "format": m.format,
        "created_ms": m.created_ms, "voters": list(m.voters), "learners": list(m.learners),
        "members": {str(n): member_view(r) for n, r in m.members.items()},
        "partitions": m.partitions, "keys": m.keys, "types": dict(sorted(totals.items())),
        "bytes": sum(f.size for f in m.files), "state_bytes": state.size if state else 0,
        "per_partition": parts,
    }


def cmd_inspect(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with data_source(args.dir) as d:
        info = inspect(d, select(list_checkpoints(d, deep=False), args.name))
    if args.json:
        out.write(json.dumps(info, indent=1) + "\n")
        return 0
    out.write(f"checkpoint {info['name']}: index {info['index']} term {info['term']}, "
              f"format {info['format']}, created {show_time(info['created_ms'])}\n")
    out.write(f"membership: voters {info['voters']} learners {info['learners']}\n")
    for n, rec in info["members"].items():
        desc = " ".join(f"{k}={v}" for k, v in rec.items())
        out.write(f"  member {n}: {desc}\n")
    out.write(f"{info['keys']} keys in {info['partitions']} partitions, "
              f"{human_bytes(info['bytes'])} ({info['bytes']} bytes; machine-wide state "
              f"{info['state_bytes']} bytes); types: "
              + (", ".join(f"{t} {c}" for t, c in info["types"].items()) or "none") + "\n")
    out.write(f"{'PART':>4} {'KEYS':>9} {'EXPIRING':>9} {'BYTES':>10}  TYPES\n")
    for p in info["per_partition"]:
        types = ", ".join(f"{t} {c}" for t, c in p["types"].items())
        out.write(f"{p['partition']:>4} {p['keys']:>9} {p['expiring']:>9} {p['bytes']:>10}  "
                  f"{types}\n")
    return 0


def cmd_verify(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    report = Report()
    with data_source(args.dir) as d:
        if args.name is None:
            cps = verify_checkpoints(d, report)
            if not cps and not report.problems:
                report.problems.append("no checkpoint found")
        else:
            cps = _verify_named(d, args.name, report)
        if args.load:
            for m in cps:
                try:
                    load_checkpoint(d, m, new_machine(m.partitions))
                    report.ok.append(f"checkpoint {m.dirname}: every file decodes")
                except CheckpointError as exc:
                    report.problems.append(f"checkpoint {m.dirname}: {exc}")
    for line in report.ok:
        out.write(f"ok       {line}\n")
    for line in report.warnings:
        out.write(f"warning  {line}\n")
    for line in report.problems:
        out.write(f"PROBLEM  {line}\n")
    return 0 if report.sound else 1


def _verify_named(d: Path, name: str, report: Report) -> list[Manifest]:
    root = checkpoints_dir(d)
    names = [name] if "-" in name else sorted(
        (n for n in (os.listdir(root) if root.is_dir() else [])
         if n.split("-")[0] == name and not n.startswith(".")), reverse=True)
    if not names or not (root / names[0]).is_dir():
        report.problems.append(f"no checkpoint {name}")
        return []
    try:
        m = decode_manifest((root / names[0] / MANIFEST_NAME).read_bytes())
    except (OSError, CheckpointError) as exc:
        report.problems.append(f"checkpoint {names[0]}: manifest: {exc}")
        return []
    problems = verify_checkpoint(d, m)
    if problems:
        report.problems.extend(f"checkpoint {p}" for p in problems)
        return []
    report.ok.append(f"checkpoint {m.dirname}: {len(m.files)} files, checksums match")
    return [m]


# --- create / restore -----------------------------------------------------------------------
def _rebuild(src: Path, args: argparse.Namespace, until_ms: int | None) -> Rebuilt:
    bars = Progress("loading checkpoint"), Progress("replaying log")
    try:
        with open_log(src) as store:
            return rebuild(src, store, until_index=args.until_index, until_ms=until_ms,
                           partitions=args.partitions, load_progress=bars[0],
                           replay_progress=bars[1])
    finally:
        for b in bars:
            b.close()


def cmd_create(args: argparse.Namespace, until_ms: int | None, out: TextIO,
               err: TextIO) -> int:
    d = Path(args.dir)
    if (d / MANIFEST_NAME).exists():
        raise ToolError(f"{d} is a checkpoint, not a data directory")
    if not d.is_dir():
        raise ToolError(f"{d}: no such directory")
    rb = _rebuild(d, args, until_ms)
    if rb.index == 0:
        raise ToolError("nothing to checkpoint: no committed entry and no checkpoint")
    bar = Progress("writing checkpoint")
    try:
        m = write_checkpoint(d, rb.index, rb.term, rb.conf_state, rb.members(), rb.machine,
                             progress=bar)
    finally:
        bar.close()
    out.write(f"{checkpoint_path(d, m)}\n")
    err.write(f"{PROG}: checkpoint {m.dirname}: {m.keys} keys, started from "
              f"{rb.checkpoint.dirname if rb.checkpoint else 'an empty machine'} + "
              f"{rb.replayed} log entries\n")
    return 0


def write_data_dir(dest: Path, rb: Rebuilt, conf: ConfState, members: dict[int, bytes]) -> \
        Manifest:
    """Write checkpoint + a Raft log starting right after it into the new directory
    ``dest`` (built beside it, renamed into place)."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ToolError(f"{dest} exists and is not empty: restore needs a fresh directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.restore-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        bar = Progress("writing checkpoint")
        try:
            m = write_checkpoint(tmp, rb.index, rb.term, conf, members, rb.machine,
                                 progress=bar)
        finally:
            bar.close()
        with RocksDBStorage(tmp / "raft") as st:
            snap = Snapshot(metadata=SnapshotMetadata(rb.index, rb.term, conf),
                            data=m.dirname.encode())
            st.save(HardState(term=rb.term, vote=0, commit=rb.index), snapshot=snap,
                    members=members, applied=rb.index)
            st.sync()
        fsync_dir(tmp)
        if dest.exists():
            dest.rmdir()
        os.rename(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return m


def cmd_restore(args: argparse.Namespace, until_ms: int | None, out: TextIO,
                err: TextIO) -> int:
    if args.checkpoint is not None and (args.until_index is not None or until_ms is not None):
        raise ToolError("--checkpoint and --until-index/--until-time exclude each other")
    dest = Path(args.dest)
    with data_source(args.src) as src:
        if args.until_index is not None or until_ms is not None:
            rb = _rebuild(src, args, until_ms)
        else:
            m = select(list_checkpoints(src, deep=True), args.checkpoint)
            bar = Progress("loading checkpoint")
            try:
                rb = start_from(src, m, m.partitions, None, progress=bar)
            finally:
                bar.close()
    if rb.index == 0:
        raise ToolError("nothing to restore: the state is empty at index 0")
    conf = rb.conf_state
    if args.voters is not None or args.learners is not None:
        try:
            voters = parse_ids(args.voters) if args.voters is not None else conf.voters
            learners = parse_ids(args.learners) if args.learners is not None else ()
        except ValueError as exc:
            raise ToolError(f"--voters/--learners: {exc}") from None
        if not voters:
            raise ToolError("--voters: a cluster needs at least one voter")
        conf = ConfState(voters=voters, learners=tuple(n for n in learners if n not in voters))
    rb.conf_state = conf
    members = rb.members()
    m = write_data_dir(dest, rb, conf, members)
    out.write(f"{dest}\n")
    err.write(f"{PROG}: restored the state at index {m.index} term {m.term} ({m.keys} keys) "
              f"into {dest}: start a node with --dir {dest}; membership voters "
              f"{list(conf.voters)} learners {list(conf.learners)}\n")
    if len(conf.voters) + len(conf.learners) > 1:
        err.write(f"{PROG}: a cluster of several members: restore the same source with the "
                  "same membership into each member's data directory\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``gofish-snapshot``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    until_ms: int | None = None
    if getattr(args, "until_time", None) is not None:
        try:
            until_ms = parse_time(args.until_time)
        except ValueError as exc:
            parser.error(str(exc))
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s")
    logging.getLogger("gofish.snapshot").setLevel(logging.ERROR)
    out, err = sys.stdout, sys.stderr
    try:
        if args.command == "list":
            return cmd_list(args, out, err)
        if args.command == "inspect":
            return cmd_inspect(args, out, err)
        if args.command == "verify":
            return cmd_verify(args, out, err)
        if args.command == "create":
            return cmd_create(args, until_ms, out, err)
        return cmd_restore(args, until_ms, out, err)
    except ToolError as exc:
        err.write(f"{PROG}: error: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
