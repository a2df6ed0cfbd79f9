"""Client command dispatch: from a parsed command to a reply.

Rules:

- The `CommandSpec` decides everything before a handler runs: unknown command, NOAUTH,
  arity, MULTI queueing, subscribe-mode restrictions, then one of three paths:
  node commands (connection/server: run here with the session), reads (run against the
  state machine at once) and writes (``check`` → propose → apply → reply).
- A write's syntax errors are found by ``check`` before proposing and never reach the log.
- While the node loads its log (``loading``), commands without the ``loading`` flag get
  ``-LOADING``.
- Per connection, commands run strictly in order: when one cannot finish at once (a write
  waiting for its commit, a blocked BLPOP) the rest of that connection's pipeline waits for
  it, so a read always sees the connection's own earlier writes. Pipelined writes are not
  proposed one by one: a run of plain (non-blocking, non-node) writes in one received batch
  is proposed at once as one *pipeline group* entry (`gofish.statemachine.entry`; at most
  `GROUP_MAX` commands and `GROUP_MAX_BYTES` of arguments, then the next group); they apply
  in log order and their replies are sent in command order. A command of the run refused
  before proposing (arity, syntax) gets its error in its place and stays out of the group.
- A write's reply is the future `Node.propose` returns, resolved by the apply (or with an
  error reply when the log could not take it, see `gofish.node.driver`).
- Reads wait for a read point (`gofish.node.reads`) unless the connection's consistency is
  ``stale``: one per received batch of commands, shared by every read in it (a point
  requested after a read arrived is valid for it), so a pipeline of GETs costs one ReadIndex.
- Every write is a request ``(client, seq)``: ``client`` is random per connection, ``seq``
  counts its writes, and ``acked`` (the oldest seq still awaiting its reply) lets the state
  machine forget replies it will not be asked for again (`gofish.statemachine.sessions`).
- After every apply the node looks at the keys it changed (``Keyspace.dirty``): sessions
  watching them are marked dirty (their EXEC aborts), clients blocked on them retry.
- A blocked client is woken by the apply of a change to one of its keys and proposes its
  command again; if another client took the element first it blocks again (same deadline).
  A timeout or CLIENT UNBLOCK that comes while such a retry is in flight waits for it: if
  the retry served the client, that reply wins (the element was taken in the log).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from gofish import errors
from gofish.errors import CommandError
from gofish.net.server import NO_REPLY  # a node handler that wrote its replies itself
from gofish.reply import QUEUED, ErrorReply, NullArray, Reply
from gofish.statemachine.entry import FORMAT_VERSION, GROUP_VERSION, Command
from gofish.statemachine.registry import CommandSpec, CommandTable, WouldBlock

if TYPE_CHECKING:
    from gofish.net.server import Connection
    from gofish.node.app import Node

log = logging.getLogger(__name__)
_getrandbits = random.getrandbits

# Commands that run immediately inside MULTI instead of being queued (as Redis).
_MULTI_IMMEDIATE = frozenset({"exec", "discard", "multi", "watch", "quit", "reset"})
# Commands a client may send before authenticating.
_NO_AUTH = frozenset({"auth", "hello", "quit", "reset"})
# Commands allowed in RESP2 subscribe mode.
_SUBSCRIBE_OK = frozenset(
    {"subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ping", "quit", "reset"}
)


_NO_POINT = object()
#: `dispatch` put a write into the caller's pipeline group instead of proposing it
_GROUPED = object()
#: a pipeline group holds at most this many commands and arguments of this total size
GROUP_MAX = 256
GROUP_MAX_BYTES = 1 << 20


class _Part:
    """The ``k``-th of the ``n`` replies of a pipeline group's future."""

    __slots__ = ("future", "k", "n")

    def __init__(self, future: asyncio.Future[Any], k: int, n: int) -> None:
        self.future = future
        self.k = k
        self.n = n


class Session:
    """Per-connection state the dispatcher keeps (the connection's ``session`` slot)."""

    __slots__ = (
        "conn", "id", "authed", "multi", "multi_error", "watched", "watch_dirty",
        "channels", "patterns", "seq", "waiter", "lib_name", "lib_ver", "closed",
        "client", "outstanding", "consistency", "barrier", "barrier_mode", "watch_from",
    )

    def __init__(self, conn: Connection, authed: bool) -> None:
        self.conn = conn
        self.id: int = conn.id
        self.authed = authed
        self.multi: list[tuple[CommandSpec, list[bytes]]] | None = None
        self.multi_error = False
        self.watched: set[bytes] = set()
        self.watch_dirty = False
        #: entries the state machine had applied when the first watched key was watched
        self.watch_from = 0
        self.channels: dict[bytes, None] = {}
        self.patterns: dict[bytes, None] = {}
        self.seq = 0
        self.waiter: Waiter | None = None
        self.lib_name = b""
        self.lib_ver = b""
        self.closed = False
        #: the request-id client of this connection's writes (random: unique cluster-wide)
        self.client = random.getrandbits(63) | 1
        #: seqs of this connection's writes still waiting for their reply, oldest first
        self.outstanding: dict[int, asyncio.Future[Any] | None] = {}
        #: READCONSISTENCY of this connection; None: the server's read-consistency
        self.consistency: str | None = None
        #: the read point of the batch being executed (`_NO_POINT`: none asked for yet)
        self.barrier: Any = _NO_POINT
        self.barrier_mode = ""

    @property
    def subscriptions(self) -> int:
        return len(self.channels) + len(self.patterns)


class Waiter:
    """A client blocked on keys (BLPOP and friends). ``parked``: listed under its keys;
    ``retrying``: its command was proposed again and the apply's answer is awaited;
    ``ending``: the reply to send if that retry blocks again (timeout, CLIENT UNBLOCK)."""

    __slots__ = ("session", "argv", "keys", "future", "timer", "timeout_reply", "parked",
                 "retrying", "ending")

    def __init__(
        self,
        session: Session,
        argv: list[bytes],
        keys: list[bytes],
        future: asyncio.Future[Any],
        timeout_reply: object,
    ) -> None:
        self.session = session
        self.argv = argv
        self.keys = keys
        self.future = future
        self.timer: asyncio.TimerHandle | None = None
        self.timeout_reply = timeout_reply
        self.parked = False
        self.retrying = False
        self.ending: object | None = None


NodeHandler = Callable[["Dispatcher", Session, list[bytes]], Any]


class Dispatcher:
    """Implements `gofish.net.server.ClientHandler` for a node."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.table: CommandTable = node.table
        self.commands = node.table.commands
        self._by_name = node.table.by_name
        self.sm = node.sm
        self._checkpoints: Any = node.checkpoints  # `apply` asks it on every entry
        self.sessions: dict[int, Session] = {}
        self.watchers: dict[bytes, set[Session]] = {}
        self.blocked: dict[bytes, list[Waiter]] = {}
        self.blocked_clients = 0
        self._last_time_ms = 0
        self.stats_commands = 0
        self.stats_rejected = 0
        #: set by the node while it loads its log: commands without ``loading`` are refused
        self.loading = False
        # name (lower and upper case) -> is a plain write (see `_plain_write`)
        self._plain: dict[bytes, bool] = {}
        for name, spec in self.commands.items():
            plain = spec.is_write and not spec.is_blocking and not spec.is_node
            self._plain[name] = self._plain[name.upper()] = plain

    # --- ClientHandler ----------------------------------------------------------------------
    def connected(self, conn: Connection) -> None:
        s = Session(conn, authed=not self.node.config.requirepass)
        conn.session = s
        self.sessions[s.id] = s

    def disconnected(self, conn: Connection) -> None:
        s = cast("Session | None", conn.session)
        if s is None:
            return
        s.closed = True
        self.sessions.pop(s.id, None)
        self.unwatch(s)
        self.node.pubsub.drop(s)
        w = s.waiter
        if w is not None:
            # A retry in flight may still take an element in the log: its reply is lost.
            w.future.cancel()
            self._end(w, None)

    def execute(self, conn: Connection, commands: list[list[bytes]]) -> Awaitable[None] | None:
        s: Session = conn.session  # type: ignore[assignment]  # set in `connected`
        s.barrier = _NO_POINT
        reply = conn.reply
        last = len(commands) - 1
        for i, argv in enumerate(commands):
            if i < last and s.multi is None and self._plain_write(argv):  # a pipeline group
                return self._finish(s, None, commands, i)
            res = self.dispatch(s, argv)
            if type(res) is asyncio.Future:
                if i + 1 == len(commands):
                    return res  # the last command: the server queues its reply
                return self._finish(s, res, commands, i + 1)
            if res is not NO_REPLY:
                reply(res)
            if conn.closing:  # QUIT, CLIENT KILL: nothing after it runs
                break
        return None

    async def _finish(
        self, s: Session, pending: asyncio.Future[Any] | None, commands: list[list[bytes]],
        start: int,
    ) -> None:
        """The rest of a batch once a command could not finish at once: ``pending`` (the
        future of ``commands[start - 1]``), or, if None, a run of plain writes at ``start``
        (proposed as a pipeline group). Replies go out in command order."""
        conn = s.conn
        slots: list[Any] = []
        i = start
        if pending is not None:
            slots.append(pending)
        else:
            i = self._propose_ahead(s, commands, start, slots)
        n = len(commands)
        while slots:
            for res in slots:
                if type(res) is asyncio.Future:
                    res = await res
                elif type(res) is _Part:
                    replies = await res.future
                    # an error for the whole group (CLUSTERDOWN...) is every command's reply
                    ok = type(replies) is list and len(replies) == res.n
                    res = replies[res.k] if ok else replies
                if res is not NO_REPLY:
                    conn.reply(res)
            slots.clear()
            while i < n and not conn.closing:
                argv = commands[i]
                if s.multi is None and self._plain_write(argv):
                    i = self._propose_ahead(s, commands, i, slots)  # takes at least argv
                    break
                res = self.dispatch(s, argv)
                i += 1
                if type(res) is asyncio.Future:
                    slots.append(res)
                    break
                if res is not NO_REPLY:
                    conn.reply(res)

    def _propose_ahead(
        self, s: Session, commands: list[list[bytes]], i: int, slots: list[Any]
    ) -> int:
        """Dispatch the plain writes from ``commands[i]`` on as one pipeline group (a single
        one as a plain entry), their replies (or refusals) into ``slots``; stop at anything
        else or when the group is full. Returns the index of the first not dispatched."""
        n = len(commands)
        group: list[list[bytes]] = []
        at: list[int] = []  # the slot of each grouped command
        size = 0
        while i < n and s.multi is None and not s.conn.closing:
            argv = commands[i]
            if not self._plain_write(argv):
                break
            res = self.dispatch(s, argv, group)
            i += 1
            if res is _GROUPED:
                at.append(len(slots))
                slots.append(None)
                size += sum(map(len, argv))
                if len(group) >= GROUP_MAX or size >= GROUP_MAX_BYTES:
                    break
            else:
                slots.append(res)  # refused before proposing
        if group:
            cmd = self.make_command(s, group, False)
            fut = self.track(s, cmd, self.node.driver.propose(cmd))
            if len(group) == 1:
                slots[at[0]] = fut
            else:
                m = len(group)
                for k, slot in enumerate(at):
                    slots[slot] = _Part(fut, k, m)
        return i

    def _plain_write(self, argv: list[bytes]) -> bool:
        """A write that is not blocking and not a node command (so not EXEC either)."""
        plain = self._plain.get(argv[0])
        if plain is not None:
            return plain
        spec = self.commands.get(argv[0].lower())
        return spec is not None and spec.is_write and not spec.is_blocking and not spec.is_node

    # --- dispatch ------------------------------------------------------------------------
    def dispatch(
        self, s: Session, argv: list[bytes], group: list[list[bytes]] | None = None
    ) -> Any:
        """Run one command for session ``s``; returns a reply, NO_REPLY or a Future. With
        ``group``, a write that passes its checks is appended to it instead of being
        proposed (the caller proposes the group), and the result is ``_GROUPED``."""
        self.stats_commands += 1
        spec = self._by_name.get(argv[0])
        if spec is None:
            spec = self.commands.get(argv[0].lower())
            if spec is None:
                return self._reject(s, errors.unknown_command(argv[0], argv[1:]))
        name = spec.name
        if not s.authed and name not in _NO_AUTH:
            return self._reject(s, errors.NOAUTH)
        arity = spec.arity  # spec.arity_ok(len(argv)), inlined: every command
        if (len(argv) != arity) if arity >= 0 else (len(argv) < -arity):
            return self._reject(s, errors.wrong_arity(name))
        if self.loading and "loading" not in spec.flags:
            return self._reject(s, errors.LOADING)
        if s.multi is not None and name not in _MULTI_IMMEDIATE:
            s.multi.append((spec, argv))
            return QUEUED
        if (s.channels or s.patterns) and s.conn.proto == 2 and name not in _SUBSCRIBE_OK:
            return ErrorReply(errors.not_allowed_in_subscribe(name))
        if spec.is_node:
            return spec.handler(self, s, argv)
        if spec.is_write:
            return self.write(s, spec, argv, group)
        drv = self.node.driver
        if not drv.sole_leader:  # else any consistency reads now
            mode = s.consistency or self.node.config.read_consistency
            if mode != "stale":
                point = s.barrier
                if point is _NO_POINT or s.barrier_mode != mode:
                    point = s.barrier = drv.read_point(mode)
                    s.barrier_mode = mode
                if point is not None:
                    if not point.done():
                        out: asyncio.Future[Any] = point.get_loop().create_future()
                        point.add_done_callback(partial(self._read_at, spec, argv, out))
                        return out
                    if point.result() is not None:
                        return point.result()
        return self.sm.read(spec, argv, int(time.time() * 1000))

    def _read_at(
        self, spec: CommandSpec, argv: list[bytes], out: asyncio.Future[Any],
        point: asyncio.Future[Any],
    ) -> None:
        if out.done():
            return
        err = point.result()
        if err is not None:
            out.set_result(err)
            return
        try:
            out.set_result(self.sm.read(spec, argv, int(time.time() * 1000)))
        except Exception as exc:  # reported by the server, which closes the connection
            out.set_exception(exc)

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

    def make_command(
        self,
        s: Session,
        argvs: list[list[bytes]],
        multi: bool,
        watch: tuple[list[bytes], int] | None = None,
    ) -> Command:
        """A new request of session ``s``; `track` must see its future."""
        s.seq += 1
        seq = s.seq
        out = s.outstanding
        while out:  # forget the oldest requests whose replies are in
            first = next(iter(out))
            fut = out[first]
            if fut is None or not fut.done():
                break
            del out[first]
        out[seq] = None
        keys, since = watch if watch is not None else ([], 0)
        v = GROUP_VERSION if len(argvs) > 1 and not multi else FORMAT_VERSION
        return Command(v, s.client, seq, self.next_time_ms(), _getrandbits(64), argvs, multi,
                       next(iter(out)), keys, since)

    @staticmethod
    def track(s: Session, cmd: Command, fut: asyncio.Future[Any]) -> asyncio.Future[Any]:
        """Remember ``fut`` as the reply of ``cmd``: once it is done, the next `make_command`
        forgets ``cmd`` as outstanding (no callback per request)."""
        s.outstanding[cmd.seq] = fut
        return fut

    def write(
        self, s: Session, spec: CommandSpec, argv: list[bytes],
        group: list[list[bytes]] | None = None,
    ) -> Any:
        """Check and propose; returns an error reply or the future of the apply's reply (or,
        with ``group``, append ``argv`` to it: see `dispatch`). Only a ``blocking`` spec may
        answer `WouldBlock` at apply: its future is chained so the client is parked
        instead."""
        if spec.check is not None:
            try:
                spec.check(argv)
            except CommandError as exc:
                return ErrorReply(exc.message)
        if group is not None:
            group.append(argv)
            return _GROUPED
        cmd = self.make_command(s, [argv], False)
        fut = self.track(s, cmd, self.node.driver.propose(cmd))
        if spec.is_blocking:
            out: asyncio.Future[Any] = fut.get_loop().create_future()
            fut.add_done_callback(partial(self._first_attempt, s, argv, out))
            return out
        return fut

    def _first_attempt(
        self, s: Session, argv: list[bytes], out: asyncio.Future[Any], fut: asyncio.Future[Any]
    ) -> None:
        if out.done():
            return
        res = fut.result()
        if type(res) is not WouldBlock:
            out.set_result(res)
        elif s.closed:
            out.cancel()
        else:
            self._block(s, argv, res, out)

    # --- apply, and after it: WATCH and blocked clients --------------------------------------
    def apply(self, cmd: Command) -> Reply:
        """Apply the committed entry ``cmd`` to the node's state machine (the driver's apply
        callback, for every entry on every node): a running checkpoint capture sees it first;
        the keys it changed go to `keys_changed` when a client watches or waits on keys."""
        checkpoints = self._checkpoints
        if checkpoints.capture is not None:
            checkpoints.before_apply(cmd)
        reply = self.sm.apply(cmd)
        ks = self.sm.ks
        if ks.dirty:
            if self.watchers or self.blocked:
                keys = ks.dirty
                ks.dirty = []
                self.keys_changed(keys)
            else:
                ks.dirty.clear()
        return reply

    def keys_changed(self, keys: list[bytes]) -> None:
        """Called by `apply` with the keys an entry changed."""
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
                        self._unpark(w)
                        loop.call_soon(self._retry, w)

    def watch(self, s: Session, keys: list[bytes]) -> None:
        if not s.watched:
            s.watch_from = self.sm.entries_applied
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
    def _block(
        self, s: Session, argv: list[bytes], wb: WouldBlock, fut: asyncio.Future[Any]
    ) -> None:
        w = Waiter(s, argv, wb.keys, fut, wb.timeout_reply)
        if wb.timeout > 0:
            w.timer = fut.get_loop().call_later(wb.timeout, self._timed_out, w)
        s.waiter = w
        self.blocked_clients += 1
        self._park(w)

    def _park(self, w: Waiter) -> None:
        for key in w.keys:
            self.blocked.setdefault(key, []).append(w)
        w.parked = True

    def _unpark(self, w: Waiter) -> None:
        """Remove ``w`` from every key list (it stays the session's waiter)."""
        if not w.parked:
            return
        w.parked = False
        for key in w.keys:
            waiters = self.blocked.get(key)
            if waiters is not None:
                try:
                    waiters.remove(w)
                except ValueError:
                    pass
                if not waiters:
                    del self.blocked[key]

    def _end(self, w: Waiter, reply: object) -> None:
        """Forget ``w`` and answer its client with ``reply``."""
        self._unpark(w)
        if w.timer is not None:
            w.timer.cancel()
            w.timer = None
        if w.session.waiter is w:
            w.session.waiter = None
            self.blocked_clients -= 1
        if not w.future.done():
            w.future.set_result(reply)

    def _retry(self, w: Waiter) -> None:
        if w.session.waiter is not w or w.future.done():
            return
        w.retrying = True
        cmd = self.make_command(w.session, [w.argv], False)
        fut = self.track(w.session, cmd, self.node.propose(cmd))
        fut.add_done_callback(partial(self._retried, w))

    def _retried(self, w: Waiter, fut: asyncio.Future[Any]) -> None:
        w.retrying = False
        if w.session.waiter is not w:
            return  # disconnected meanwhile
        res = fut.result()
        if type(res) is WouldBlock:
            if w.ending is not None:
                self._end(w, w.ending)
            else:
                self._park(w)
            return
        self._end(w, res)

    def _timed_out(self, w: Waiter) -> None:
        w.timer = None
        if w.retrying:
            w.ending = w.timeout_reply
        else:
            self._end(w, w.timeout_reply)

    def unblock_client(self, s: Session, with_error: bool) -> bool:
        """CLIENT UNBLOCK: end a blocked command with its timeout reply or an error."""
        w = s.waiter
        if w is None:
            return False
        reply = (
            ErrorReply(b"UNBLOCKED client unblocked via CLIENT UNBLOCK")
            if with_error
            else w.timeout_reply
        )
        if w.retrying:
            w.ending = reply
        else:
            self._end(w, reply)
        return True


__all__ = ["Dispatcher", "Session", "NO_REPLY", "NullArray"]
