"""MULTI, EXEC, DISCARD, WATCH, UNWATCH.

An EXEC that contains a write is proposed as ONE log entry holding all its data commands
(reads included, so they see the transaction's own writes at apply, atomically, on every
node). Node commands inside a transaction (PING, ECHO, ...) run locally at EXEC time. A write
whose ``check`` fails is not put in the entry; its slot gets the error, as Redis replies
syntax errors inside EXEC's array. Queueing rejects unknown commands and wrong arity, which
abort the transaction (EXECABORT), as Redis does.

WATCH: the session is marked dirty by the apply of any change to a watched key. The check
happens at EXEC when every earlier proposal has been applied, so no write ordered before the
EXEC in the log can be missed (with the local log that is always the case at once).
"""

from __future__ import annotations

import time
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
    dirty = s.watch_dirty
    d.unwatch(s)
    if dirty:
        return NullArray
    return run_transaction(d, s, queued)


def run_transaction(d: Dispatcher, s: Session, queued: list[tuple[CommandSpec, list[bytes]]]) -> Any:
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
    if has_write:
        results = d.node.propose(d.make_command(s, data_argvs, True))
        for slot, r in zip(data_slots, results, strict=True):
            replies[slot] = r
    elif data_argvs:
        now = int(time.time() * 1000)
        ks = d.sm.ks
        ks.in_multi = True
        try:
            for slot, (spec, argv) in zip(data_slots, (queued[j] for j in data_slots), strict=True):
                replies[slot] = d.sm.read(spec, argv, now)
        finally:
            ks.in_multi = False
    return replies


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
