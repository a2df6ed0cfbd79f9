"""MULTI, EXEC, DISCARD, WATCH, UNWATCH.

An EXEC that contains a write is proposed as ONE log entry holding all its data commands
(reads included, so they see the transaction's own writes at apply, atomically, on every
node). Node commands inside a transaction (PING, ECHO, ...) run locally at EXEC time. A write
whose ``check`` fails is not put in the entry; its slot gets the error, as Redis replies
syntax errors inside EXEC's array. Queueing rejects unknown commands and wrong arity, which
abort the transaction (EXECABORT), as Redis does.

A transaction with a write replies with a future: the apply of its entry fills the reply
slots of its data commands (or, if the log could not take it, the future resolves with that
error reply instead of an array).

WATCH: the session is marked dirty by the local apply of any change to a watched key; a dirty
session's EXEC fails at once (null array). Otherwise the transaction's entry carries the
watched keys and how many entries the state machine had applied when the first of them was
watched, and the state machine checks at apply, identically on every node, that none of them
was modified since (`gofish.statemachine.machine`): a write ordered before the transaction in
the log is never missed, wherever it came from. Such a transaction goes through the log
even when it only reads.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from gofish import errors
from gofish.errors import CommandError
from gofish.reply import OK, ErrorReply, NullArray, Reply
from gofish.statemachine.registry import CommandSpec, CommandTable, command

if TYPE_CHECKING:
    from gofish.node.dispatch import Dispatcher, Session


def multi(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    if s.multi is not None:
        return ErrorReply(errors.MULTI_NESTED)
    s.multi = []
    s.multi_error = False
    return OK


def discard(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    if s.multi is None:
        return ErrorReply(errors.DISCARD_WITHOUT_MULTI)
    s.multi = None
    s.multi_error = False
    d.unwatch(s)
    return OK


def exec_(d: Dispatcher, s: Session, argv: list[bytes]) -> Any:
    if s.multi is None:
        return ErrorReply(errors.EXEC_WITHOUT_MULTI)
    queued = s.multi
    s.multi = None
    if s.multi_error:
        s.multi_error = False
        d.unwatch(s)
        return ErrorReply(errors.EXECABORT)
    if not s.watched:
        s.watch_dirty = False
        return run_transaction(d, s, queued)
    dirty = s.watch_dirty
    watch = (sorted(s.watched), s.watch_from)
    d.unwatch(s)
    if dirty:
        return NullArray
    return run_transaction(d, s, queued, watch)


def run_transaction(
    d: Dispatcher,
    s: Session,
    queued: list[tuple[CommandSpec, list[bytes]]],
    watch: tuple[list[bytes], int] | None = None,
) -> Any:
    """Run an EXEC's commands: node commands here, data commands as one log entry when any
    of them writes or keys are watched (a future of the reply array), else as reads at once
    (the array)."""
    replies: list[Any] = [None] * len(queued)
    data_slots: list[int] = []
    data_argvs: list[list[bytes]] = []
    has_write = False
    for i, (spec, argv) in enumerate(queued):
        if "node" in spec.flags:
            continue
        if spec.is_write:
            if spec.check is not None:
                try:
                    spec.check(argv)
                except CommandError as exc:
                    replies[i] = ErrorReply(exc.message)
                    continue
            has_write = True
        data_slots.append(i)
        data_argvs.append(argv)
    for i, (spec, argv) in enumerate(queued):
        if "node" in spec.flags:
            replies[i] = spec.handler(d, s, argv)
    if data_argvs and not has_write:
        # Reads only: at once, unless linearizability needs a read point (cluster) or keys
        # are watched: then through the log, which is linearizable by construction.
        mode = s.consistency or d.node.config.read_consistency
        has_write = watch is not None or (mode != "stale" and not d.node.driver.sole_voter)
    if has_write:
        cmd = d.make_command(s, data_argvs, True, watch)
        fut = d.track(s, cmd, d.node.propose(cmd))
        out: asyncio.Future[Any] = fut.get_loop().create_future()
        fut.add_done_callback(partial(_fill, out, replies, data_slots))
        return out
    if data_argvs:
        now = int(time.time() * 1000)
        ks = d.sm.ks
        ks.in_multi = True
        try:
            for slot, (spec, argv) in zip(data_slots, (queued[j] for j in data_slots), strict=True):
                replies[slot] = d.sm.read(spec, argv, now)
        finally:
            ks.in_multi = False
    return replies


def _fill(
    out: asyncio.Future[Any], replies: list[Any], slots: list[int], fut: asyncio.Future[Any]
) -> None:
    """The transaction's entry was applied: its replies go into their slots."""
    if out.done():
        return
    results = fut.result()
    if type(results) is not list:  # a watched key changed (null array), or an error reply
        out.set_result(results)
        return
    for slot, r in zip(slots, results, strict=True):
        replies[slot] = r
    out.set_result(replies)


def watch(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    if s.multi is not None:
        return ErrorReply(errors.WATCH_IN_MULTI)
    d.watch(s, argv[1:])
    return OK


def unwatch(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    d.unwatch(s)
    return OK


def register(table: CommandTable) -> None:
    g = "transactions"
    table.add(
        command("multi", 1, "node noscript loading stale fast allow_busy", group=g, since="1.2.0",
                summary="Start a transaction block", complexity="O(1)")(multi),
        command("exec", 1, "node noscript loading stale skip_slowlog", group=g, since="1.2.0",
                summary="Execute all commands issued after MULTI",
                complexity="Depends on commands in the transaction")(exec_),
        command("discard", 1, "node noscript loading stale fast allow_busy", group=g,
                since="2.0.0", summary="Discard all commands issued after MULTI",
                complexity="O(N), when N is the number of queued commands")(discard),
        command("watch", -2, "node noscript loading stale fast allow_busy", (1, -1, 1), group=g,
                since="2.2.0",
                summary="Watch the given keys to determine execution of the MULTI/EXEC block",
                complexity="O(1) for every key.")(watch),
        command("unwatch", 1, "node noscript loading stale fast allow_busy", group=g,
                since="2.2.0", summary="Forget about all watched keys",
                complexity="O(1)")(unwatch),
    )
