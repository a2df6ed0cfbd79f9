"""Client command dispatch: from a parsed command to a reply.

Rules:

- The `CommandSpec` decides everything before a handler runs: unknown command, NOAUTH,
  arity, MULTI queueing, subscribe-mode restrictions, then one of three paths:
  node commands (connection/server: run here with the session), reads (run against the
  state machine at once) and writes (``check`` → propose → apply → reply).
- A write's syntax errors are found by ``check`` before proposing and never reach the log.
- Per connection, commands run strictly in order: when one cannot finish at once (a blocked
  BLPOP; later, a write waiting for its commit) the rest of that connection's pipeline waits
  for it, so a read always sees the connection's own earlier writes.
- After every apply the node looks at the keys it changed (``Keyspace.dirty``): sessions
  watching them are marked dirty (their EXEC aborts), clients blocked on them retry.
- A blocked client is woken by the apply of a change to one of its keys and proposes its
  command again; if another client took the element first it blocks again (same deadline).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from gofish import errors
from gofish.errors import CommandError
from gofish.reply import QUEUED, ErrorReply, NullArray, Reply
from gofish.statemachine.entry import FORMAT_VERSION, Command
from gofish.statemachine.registry import CommandSpec, CommandTable, WouldBlock

if TYPE_CHECKING:
    from gofish.net.server import Connection
    from gofish.node.app import Node

log = logging.getLogger(__name__)

# Commands that run immediately inside MULTI instead of being queued (as Redis).
_MULTI_IMMEDIATE = frozenset({"exec", "discard", "multi", "watch", "quit", "reset"})
# Commands a client may send before authenticating.
_NO_AUTH = frozenset({"auth", "hello", "quit", "reset"})
# Commands allowed in RESP2 subscribe mode.
_SUBSCRIBE_OK = frozenset(
    {"subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ping", "quit", "reset"}
)


class _NoReply:
    """A node handler that wrote its replies itself (SUBSCRIBE) returns this."""

    __slots__ = ()


NO_REPLY = _NoReply()


class Session:
    """Per-connection state the dispatcher keeps (the connection's ``session`` slot)."""

    __slots__ = (
        "conn", "id", "authed", "multi", "multi_error", "watched", "watch_dirty",
        "channels", "patterns", "seq", "waiter", "lib_name", "lib_ver", "closed",
    )

    def __init__(self, conn: Connection, authed: bool) -> None:
        self.conn = conn
        self.id: int = conn.id
        self.authed = authed
        self.multi: list[tuple[CommandSpec, list[bytes]]] | None = None
        self.multi_error = False
        self.watched: set[bytes] = set()
        self.watch_dirty = False
        self.channels: dict[bytes, None] = {}
        self.patterns: dict[bytes, None] = {}
        self.seq = 0
        self.waiter: Waiter | None = None
        self.lib_name = b""
        self.lib_ver = b""
        self.closed = False

    @property
    def subscriptions(self) -> int:
        return len(self.channels) + len(self.patterns)


class Waiter:
    """A client blocked on keys (BLPOP and friends)."""

    __slots__ = ("session", "argv", "keys", "future", "timer", "timeout_reply")

    def __init__(
        self,
        session: Session,
        argv: list[bytes],
        keys: list[bytes],
        future: asyncio.Future[Reply],
        timeout_reply: object,
    ) -> None:
        self.session = session
        self.argv = argv
        self.keys = keys
        self.future = future
        self.timer: asyncio.TimerHandle | None = None
        self.timeout_reply = timeout_reply


NodeHandler = Callable[["Dispatcher", Session, list[bytes]], Any]


class Dispatcher:
    """Implements `gofish.net.server.ClientHandler` for a node."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.table: CommandTable = node.table
        self.commands = node.table.commands
        self.sm = node.sm
        self.sessions: dict[int, Session] = {}
        self.watchers: dict[bytes, set[Session]] = {}
        self.blocked: dict[bytes, list[Waiter]] = {}
        self.blocked_clients = 0
        self._last_time_ms = 0
        self.stats_commands = 0
        self.stats_rejected = 0

    # --- ClientHandler ----------------------------------------------------------------------
    def connected(self, conn: Connection) -> None:
        s = Session(conn, authed=not self.node.config.requirepass)
        conn.session = s
        self.sessions[s.id] = s

    def disconnected(self, conn: Connection) -> None:
        s: Session | None = conn.session
        if s is None:
            return
        s.closed = True
        self.sessions.pop(s.id, None)
        self.unwatch(s)
        self.node.pubsub.drop(s)
        if s.waiter is not None:
            self._unblock(s.waiter)
            if not s.waiter.future.done():
                s.waiter.future.cancel()
            s.waiter = None

    def execute(self, conn: Connection, commands: list[list[bytes]]) -> Awaitable[None] | None:
        s: Session = conn.session
        reply = conn.reply
        for i, argv in enumerate(commands):
            res = self.dispatch(s, argv)
            if type(res) is asyncio.Future:
                return self._finish(s, res, commands, i + 1)
            if res is not NO_REPLY:
                reply(res)
            if conn.closing:  # QUIT, CLIENT KILL: nothing after it runs
                break
        return None

    async def _finish(
        self, s: Session, pending: asyncio.Future[Reply], commands: list[list[bytes]], start: int
    ) -> None:
        conn = s.conn
        conn.reply(await pending)
        for argv in commands[start:]:
            res = self.dispatch(s, argv)
            if type(res) is asyncio.Future:
                res = await res
            if res is not NO_REPLY:
                conn.reply(res)
            if conn.closing:
                break

    # --- dispatch ------------------------------------------------------------------------
    def dispatch(self, s: Session, argv: list[bytes]) -> Any:
        """Run one command for session ``s``; returns a reply, NO_REPLY or a Future."""
        self.stats_commands += 1
        spec = self.commands.get(argv[0])
        if spec is None:
            spec = self.commands.get(argv[0].lower())
            if spec is None:
                return self._reject(s, errors.unknown_command(argv[0], argv[1:]))
        name = spec.name
        if not s.authed and name not in _NO_AUTH:
            return self._reject(s, errors.NOAUTH)
        if not spec.arity_ok(len(argv)):
            return self._reject(s, errors.wrong_arity(name))
        if s.multi is not None and name not in _MULTI_IMMEDIATE:
            s.multi.append((spec, argv))
            return QUEUED
        if (s.channels or s.patterns) and s.conn.proto == 2 and name not in _SUBSCRIBE_OK:
            return ErrorReply(errors.not_allowed_in_subscribe(name))
        s.conn.cmd = name
        if "node" in spec.flags:
            return spec.handler(self, s, argv)
        if spec.is_write:
            return self.write(s, spec, argv)
        return self.sm.read(spec, argv, int(time.time() * 1000))

    def _reject(self, s: Session, message: bytes) -> ErrorReply:
        self.stats_rejected += 1
        if s.multi is not None:
            s.multi_error = True
        return ErrorReply(message)

    # --- writes ----------------------------------------------------------------------------
    def next_time_ms(self) -> int:
        """The clock stamped on the next entry: wall time, never going backwards."""
        now = int(time.time() * 1000)
        if now < self._last_time_ms:
            now = self._last_time_ms
        self._last_time_ms = now
        return now

    def make_command(self, s: Session, argvs: list[list[bytes]], multi: bool) -> Command:
        s.seq += 1
        return Command(
            FORMAT_VERSION, s.id, s.seq, self.next_time_ms(), random.getrandbits(64), argvs, multi
        )

    def write(self, s: Session, spec: CommandSpec, argv: list[bytes]) -> Any:
        if spec.check is not None:
            try:
                spec.check(argv)
            except CommandError as exc:
                return ErrorReply(exc.message)
        res = self.node.propose(self.make_command(s, [argv], False))
        if type(res) is WouldBlock:
            return self._block(s, argv, res)
        return res

    # --- after apply: WATCH and blocked clients ----------------------------------------------
    def keys_changed(self, keys: list[bytes]) -> None:
        """Called by the node after each apply with the keys the apply changed."""
        watchers = self.watchers
        if watchers:
            for key in keys:
                ss = watchers.get(key)
                if ss:
                    for s in ss:
                        s.watch_dirty = True
        blocked = self.blocked
        if blocked:
            loop = asyncio.get_running_loop()
            for key in keys:
                waiters = blocked.get(key)
                if waiters:
                    for w in list(waiters):
                        self._unblock(w)
                        loop.call_soon(self._retry, w)

    def watch(self, s: Session, keys: list[bytes]) -> None:
        for key in keys:
            if key not in s.watched:
                s.watched.add(key)
                self.watchers.setdefault(key, set()).add(s)

    def unwatch(self, s: Session) -> None:
        for key in s.watched:
            ss = self.watchers.get(key)
            if ss is not None:
                ss.discard(s)
                if not ss:
                    del self.watchers[key]
        s.watched.clear()
        s.watch_dirty = False

    # --- blocking ------------------------------------------------------------------------------
    def _block(self, s: Session, argv: list[bytes], wb: WouldBlock) -> asyncio.Future[Reply]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Reply] = loop.create_future()
        w = Waiter(s, argv, wb.keys, fut, wb.timeout_reply)
        if wb.timeout > 0:
            w.timer = loop.call_later(wb.timeout, self._timed_out, w)
        self._park(w)
        return fut

    def _park(self, w: Waiter) -> None:
        for key in w.keys:
            self.blocked.setdefault(key, []).append(w)
        w.session.waiter = w
        self.blocked_clients += 1

    def _unblock(self, w: Waiter) -> None:
        """Remove ``w`` from every key list (keeps its timer and future)."""
        if w.session.waiter is not w:
            return
        for key in w.keys:
            waiters = self.blocked.get(key)
            if waiters is not None:
                try:
                    waiters.remove(w)
                except ValueError:
                    pass
                if not waiters:
                    del self.blocked[key]
        w.session.waiter = None
        self.blocked_clients -= 1

    def _retry(self, w: Waiter) -> None:
        if w.future.done() or w.session.closed:
            return
        res = self.node.propose(self.make_command(w.session, [w.argv], False))
        if type(res) is WouldBlock:
            self._park(w)
            return
        if w.timer is not None:
            w.timer.cancel()
        w.future.set_result(res)

    def _timed_out(self, w: Waiter) -> None:
        self._unblock(w)
        if not w.future.done():
            w.future.set_result(w.timeout_reply)  # type: ignore[arg-type]

    def unblock_client(self, s: Session, with_error: bool) -> bool:
        """CLIENT UNBLOCK: end a blocked command with its timeout reply or an error."""
        w = s.waiter
        if w is None:
            return False
        self._unblock(w)
        if w.timer is not None:
            w.timer.cancel()
        if not w.future.done():
            w.future.set_result(
                ErrorReply(b"UNBLOCKED client unblocked via CLIENT UNBLOCK")
                if with_error
                else w.timeout_reply  # type: ignore[arg-type]
            )
        return True


__all__ = ["Dispatcher", "Session", "NO_REPLY", "NullArray"]
