"""``gofish-replay DIR``: rebuild a node's state offline from its data directory, print its
log, dump its keyspace, verify it.

    gofish-replay DIR [--until-index N | --until-time T] [--partition K] [--print]
                      [--from-index M] [--dump FILE] [--verify] [--partitions P]

The state is the newest sound checkpoint at or below the target plus the committed log
entries after it, applied by the server's own state machine (`gofish.tools.offline`); the
target is the commit index, ``--until-index N``, or ``--until-time T`` (the last entry
before the first command stamped later than T; T in milliseconds since the epoch or ISO
8601). DIR may also be one checkpoint's directory (a backup): then its state is the one.

- ``--print``: the log entries from the log's first index (or ``--from-index``) to the
  target, one per line, to stdout: index, term, kind (``cmd``, ``conf``, ``noop``), the
  command's client id, sequence number and time, its commands with their arguments quoted
  and escaped (`gofish.tools.console`), conf changes with their member.
- ``--dump FILE`` (``-``: stdout): the keyspace as JSON lines sorted by key
  (`gofish.tools.dump`); ``--partition K`` limits it (and ``--print``) to partition K.
- ``--verify``: checksums of checkpoints and log, and that replaying the log from an older
  checkpoint reproduces every newer one (`gofish.tools.verify`); exit status 1 if not.

A summary goes to stderr, as does a progress bar when stderr is a terminal. Exit status: 0
done, 1 an error or a failed verification (the message says which), 2 bad usage. The log of
a running node is never opened: the tool says so and how to proceed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import TextIO

from gofish.progress import Progress
from gofish.raft import Entry, EntryType
from gofish.snapshot.codec import partitions_touched
from gofish.statemachine.entry import Command
from gofish.tools.console import ToolError, parse_time, show_time
from gofish.tools.dump import show_entry, write_dump
from gofish.tools.offline import (
    Rebuilt,
    data_source,
    entry_commands,
    iter_entries,
    open_log,
    rebuild,
)
from gofish.tools.verify import verify_dir

PROG = "gofish-replay"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Rebuild a gofish node's state offline from its data directory "
                    "(newest checkpoint + committed log), print the log, dump the keyspace, "
                    "verify checkpoints and log.")
    p.add_argument("dir", help="the node's data directory (its --dir), or a checkpoint "
                               "directory (a backup)")
    until = p.add_mutually_exclusive_group()
    until.add_argument("--until-index", type=int, metavar="N",
                       help="stop after log entry N (default: the commit index)")
    until.add_argument("--until-time", metavar="T",
                       help="stop before the first command stamped later than T "
                            "(ms since the epoch, or ISO 8601, UTC unless an offset is given)")
    p.add_argument("--partition", type=int, metavar="K",
                   help="dump (and print) only partition K")
    p.add_argument("--print", action="store_true", dest="print_entries",
                   help="print the log entries readably to stdout")
    p.add_argument("--from-index", type=int, metavar="M",
                   help="with --print: start at entry M (default: the log's first)")
    p.add_argument("--dump", metavar="FILE",
                   help="write the keyspace as JSON lines sorted by key ('-': stdout)")
    p.add_argument("--verify", action="store_true",
                   help="verify checksums and that replay reproduces every checkpoint")
    p.add_argument("--partitions", type=int, metavar="P",
                   help="partition count when there is no checkpoint (default 64)")
    return p


def _bar(label: str) -> Progress:
    return Progress(label)


def _printer(rb: Rebuilt, out: TextIO, partition: int | None) -> Callable[[Entry], None]:
    def show(e: Entry) -> None:
        cmds: list[Command] | None = None
        if e.type == EntryType.NORMAL and e.data:
            try:
                cmds = entry_commands(e)
            except ToolError:
                cmds = None
            if partition is not None and cmds is not None:
                for cmd in cmds:
                    touched = partitions_touched(rb.machine, cmd)
                    if touched is None or partition in touched:
                        break
                else:
                    return
        elif partition is not None and e.type == EntryType.NORMAL:
            return  # no-ops touch no partition
        out.write(show_entry(e, cmds) + "\n")
    return show


def _summary(rb: Rebuilt, err: TextIO, until_ms: int | None) -> None:
    cp = rb.checkpoint
    start = f"checkpoint {cp.dirname}" if cp is not None else "an empty machine"
    ks = rb.machine.ks
    err.write(f"{PROG}: started from {start}, replayed {rb.replayed} log entries\n")
    when = f" (as of {show_time(until_ms)})" if until_ms is not None else ""
    err.write(f"{PROG}: state at index {rb.index} term {rb.term}{when}: {ks.dbsize()} keys in "
              f"{len(ks.partitions)} partitions; voters {list(rb.conf_state.voters)} "
              f"learners {list(rb.conf_state.learners)}\n")


def _verify(args: argparse.Namespace, err: TextIO) -> bool:
    bar = _bar("verifying: replaying log")
    try:
        with data_source(args.dir) as d:
            report = verify_dir(d, partitions=args.partitions, progress=bar)
    finally:
        bar.close()
    for line in report.ok:
        err.write(f"ok       {line}\n")
    for line in report.warnings:
        err.write(f"warning  {line}\n")
    for line in report.problems:
        err.write(f"PROBLEM  {line}\n")
    err.write(f"{PROG}: verification {'passed' if report.sound else 'FAILED'}\n")
    return report.sound


def run(args: argparse.Namespace, until_ms: int | None, out: TextIO, err: TextIO) -> int:
    sound = True
    if args.verify:
        sound = _verify(args, err)
        if args.dump is None and not args.print_entries:
            return 0 if sound else 1
    load_bar, replay_bar = _bar("loading checkpoint"), _bar("replaying log")
    with data_source(args.dir) as d, open_log(d) as store:
        try:
            rb = rebuild(d, store, until_index=args.until_index, until_ms=until_ms,
                         partitions=args.partitions, load_progress=load_bar,
                         replay_progress=replay_bar)
        finally:
            load_bar.close()
            replay_bar.close()
        nparts = len(rb.machine.ks.partitions)
        if args.partition is not None and not 0 <= args.partition < nparts:
            raise ToolError(f"--partition {args.partition}: the state has partitions "
                            f"0..{nparts - 1}")
        if args.print_entries and store is not None:
            lo = max(store.first_index(), args.from_index or 1)
            show = _printer(rb, out, args.partition)
            for e in iter_entries(store, lo, min(rb.index, store.last_index())):
                show(e)
    if args.dump is not None:
        if args.dump == "-":
            write_dump(rb.machine, out, args.partition)
        else:
            with open(args.dump, "w", encoding="utf-8") as f:
                n = write_dump(rb.machine, f, args.partition)
            err.write(f"{PROG}: wrote {n} keys to {args.dump}\n")
    _summary(rb, err, until_ms)
    return 0 if sound else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``gofish-replay``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    until_ms: int | None = None
    if args.until_time is not None:
        try:
            until_ms = parse_time(args.until_time)
        except ValueError as exc:
            parser.error(str(exc))
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s")
    # the tools report damaged checkpoints themselves
    logging.getLogger("gofish.snapshot").setLevel(logging.ERROR)
    try:
        return run(args, until_ms, sys.stdout, sys.stderr)
    except ToolError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
