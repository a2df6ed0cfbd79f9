"""Server commands run by the node: INFO, CONFIG, CLIENT, COMMAND, TIME, LASTSAVE, SHUTDOWN,
SWAPDB.

The larger ones live in sibling modules (``server_info``, ``server_config``, ``server_client``,
``server_command``); container commands (CONFIG, CLIENT, COMMAND) are one spec each whose
subcommands are specs too (``server_container``). This module registers them all.

- TIME answers the node's wall clock; LASTSAVE the time of the last checkpoint (the node's
  start time until checkpoints exist).
- SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] closes the caller's connection without a reply, as
  Redis does, and asks the node to stop: ``Node.shutdown()`` when the node has it, otherwise
  SIGTERM to this process (the CLI stops cleanly on it). SHUTDOWN ABORT answers that no
  shutdown is in progress (gofish's shutdown does not wait for replicas).
- SWAPDB is refused as Redis Cluster refuses it: gofish has one database.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import TYPE_CHECKING, Any

from gofish import errors
from gofish.node.commands import server_client, server_command, server_config, server_info
from gofish.node.dispatch import NO_REPLY
from gofish.reply import OK, ErrorReply, Reply, Status
from gofish.statemachine.registry import CommandTable, command

if TYPE_CHECKING:
    from gofish.node.dispatch import Dispatcher, Session

_SHUTDOWN_FLAGS = (b"nosave", b"save", b"now", b"force", b"abort")


def time_(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    now_us = time.time_ns() // 1000
    return [str(now_us // 1_000_000).encode(), str(now_us % 1_000_000).encode()]


def lastsave(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    return server_info.last_save_time(d)


_IN_PROGRESS = b"ERR Background save already in progress"


def save(d: Dispatcher, s: Session, argv: list[bytes]) -> Any:
    """A checkpoint now; +OK once it is durable (gofish.node.checkpoints)."""
    cp = d.node.checkpoints
    if cp.in_progress:
        return ErrorReply(_IN_PROGRESS)
    done = cp.begin()
    out: asyncio.Future[Any] = done.get_loop().create_future()

    def finished(f: asyncio.Future[bool]) -> None:
        if not out.done():
            out.set_result(OK if f.result() else ErrorReply(b"ERR checkpoint failed"))

    done.add_done_callback(finished)
    return out


def bgsave(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    if len(argv) > 2 or (len(argv) == 2 and argv[1].lower() != b"schedule"):
        return ErrorReply(errors.SYNTAX)
    cp = d.node.checkpoints
    if cp.in_progress:
        if len(argv) == 2:
            return Status(b"Background saving scheduled")
        return ErrorReply(_IN_PROGRESS)
    cp.begin()
    return Status(b"Background saving started")


def _stop_node(d: Dispatcher) -> None:
    hook = getattr(d.node, "shutdown", None)
    if callable(hook):
        hook()
    else:
        os.kill(os.getpid(), signal.SIGTERM)


def shutdown(d: Dispatcher, s: Session, argv: list[bytes]) -> Any:
    flags: set[bytes] = set()
    for arg in argv[1:]:
        low = arg.lower()
        if low not in _SHUTDOWN_FLAGS:
            return ErrorReply(errors.SYNTAX)
        flags.add(low)
    abort = b"abort" in flags
    if (abort and len(flags) > 1) or {b"save", b"nosave"} <= flags:
        return ErrorReply(errors.SYNTAX)
    if abort:
        return ErrorReply(b"ERR No shutdown in progress.")
    s.conn.close()
    try:
        asyncio.get_running_loop().call_soon(_stop_node, d)
    except RuntimeError:
        _stop_node(d)
    return NO_REPLY


def swapdb(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    return ErrorReply(b"ERR SWAPDB is not allowed in cluster mode")


def register(table: CommandTable) -> None:
    """Register the server commands."""
    g = "server"
    table.add(
        server_command.spec(),
        server_info.spec(),
        server_config.spec(),
        server_client.spec(),
        command("time", 1, "node loading stale fast", group=g, since="2.6.0",
                summary="Return the current server time", complexity="O(1)")(time_),
        command("save", 1, "node noscript admin", group=g, since="1.0.0",
                summary="Synchronously save the dataset to disk (a checkpoint)",
                complexity="O(N) where N is the total number of keys in all databases")(save),
        command("bgsave", -1, "node noscript admin", group=g, since="1.0.0",
                summary="Asynchronously save the dataset to disk (a checkpoint)",
                complexity="O(1)")(bgsave),
        command("lastsave", 1, "node loading stale fast @admin @dangerous", group=g, since="1.0.0",
                summary="Get the UNIX time stamp of the last successful save to disk",
                complexity="O(1)")(lastsave),
        command("shutdown", -1, "node admin noscript loading stale no_multi allow_busy",
                group=g, since="1.0.0",
                summary="Synchronously save the dataset to disk and then shut down the server",
                complexity="O(N) when saving, where N is the total number of keys in all "
                "databases when saving data, otherwise O(1)")(shutdown),
        command("swapdb", 3, "node write fast @keyspace @dangerous", group=g, since="4.0.0",
                summary="Swaps two Redis databases",
                complexity="O(N) where N is the count of clients watching or blocking on keys "
                "from both databases.")(swapdb),
    )
