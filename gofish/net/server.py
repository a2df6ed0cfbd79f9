"""The client protocol server: one asyncio `Protocol` (`Connection`) per client connection.

It only moves bytes: input goes through a `RequestParser`, complete commands go to the
`ClientHandler` the server was started with, and the replies the handler queues with
`Connection.reply` go back out. It knows nothing about commands.

Rules, per connection:

1. Each read is parsed into all its complete commands (at most `BATCH_LIMIT` per call) and
   handed to ``handler.execute(conn, commands)`` in one call.
2. If ``execute`` returns None, every reply it queued is written with ONE ``transport.write``
   (so a pipeline costs one write per read).
3. If it returns an awaitable, reading is paused and ``execute`` is not called again for this
   connection until the awaitable is done; then the queued replies are written, reading
   resumes, and commands already buffered are processed. Commands of one connection are thus
   executed in order; different connections interleave freely. A bare `asyncio.Future` (not
   a task, not a coroutine) is the reply of the last command: the server queues its result
   (unless it is `NO_REPLY`) before writing, which saves the handler a callback per request.
4. Malformed input: the replies of the commands before it are written, then the
   ``-ERR Protocol error: ...`` reply, then the connection is closed. More unparsed input than
   the query buffer limit closes the connection without a reply. Other clients are unaffected.
5. While the transport's output buffer is above its high-water mark, or while `pause` is in
   force, no input is read and no buffered command is executed.
6. After `Connection.close_after_reply` (QUIT) no further command of that connection runs; the
   queued replies are written and the connection is closed.

`ClientHandler.disconnected` is called once for every connection `ClientHandler.connected` was
called for, when the connection is lost, even if an awaitable of it is still pending (its
replies are then dropped).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable
from typing import Any, Protocol, cast

from gofish.errors import MAX_CLIENTS, ProtocolError
from gofish.net.resp import (
    CRLF,
    DEFAULT_PROTO_MAX_BULK_LEN,
    DEFAULT_QUERY_BUFFER_LIMIT,
    NULLS,
    QueryBufferLimitError,
    RequestParser,
    write_reply,
)
from gofish.reply import OK, Status

__all__ = [
    "BATCH_LIMIT", "NO_REPLY", "ClientHandler", "ClientServer", "Connection", "start_server",
]

log = logging.getLogger(__name__)

BATCH_LIMIT = 1024
OUTPUT_HIGH_WATER = 64 << 20
OUTPUT_LOW_WATER = 16 << 20

_P_HANDLER = 1  # an awaitable returned by execute is pending
_P_WRITE = 2  # the transport's output buffer is above the high-water mark
_P_USER = 4  # Connection.pause()
_P_BACKLOG = 8  # buffered commands are waiting for the next loop iteration

_BULK_HDR = [b"$%d\r\n" % i for i in range(1024)]


class _NoReply:
    """The result of a reply future whose command wrote its replies itself (SUBSCRIBE)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_REPLY"


NO_REPLY = _NoReply()
_OK_LINE = b"+OK\r\n"
_FUTURE = asyncio.Future


class ClientHandler(Protocol):
    """What the server calls; implemented by the command dispatcher."""

    def connected(self, conn: Connection) -> None:
        """A client connected (not called for clients refused by maxclients)."""

    def disconnected(self, conn: Connection) -> None:
        """The connection is gone (closed by either side); called once per `connected`."""

    def execute(self, conn: Connection, commands: list[list[bytes]]) -> Awaitable[None] | None:
        """Run *commands* (non-empty argv lists, in order), queueing replies with
        ``conn.reply``. Return None when done, an awaitable that completes when the last
        reply is queued, or a bare `asyncio.Future` whose result is the last command's reply
        (or `NO_REPLY`), every earlier reply being queued already. Stop at a command after
        which ``conn.closing`` is true (QUIT)."""


class Connection(asyncio.Protocol):
    """One client connection: its identity, reply buffer, flow control and CLIENT LIST stats.

    Attributes the handler may read or set: ``name`` (CLIENT SETNAME), ``proto`` (2 or 3, set
    by HELLO; applies to replies queued after the change), ``session`` (the handler's own
    per-connection state). Read-only: ``id`` (from 1, increasing per server), ``addr`` and
    ``laddr`` (``ip:port``; ``[ip]:port`` for IPv6; ``path:0`` on a unix socket), ``fd``,
    ``created`` and ``last_interaction`` (``time.time()``), ``tot_cmds``, ``net_writes``,
    ``closing`` (true once the connection will take no more commands: QUIT, error, close).
    """

    __slots__ = (
        "id", "addr", "laddr", "fd", "created", "name", "proto", "last_interaction", "session",
        "tot_cmds", "net_writes", "_server", "_handler", "_parser", "_transport", "_out",
        "_pauses", "_reading_paused", "closing", "_closed", "_registered", "_pending",
        "_last_argv", "_cmd_name",
    )

    def __init__(self, server: ClientServer) -> None:
        self._server = server
        self._handler = server._handler
        self._parser = RequestParser(
            proto_max_bulk_len=server.proto_max_bulk_len,
            query_buffer_limit=server.client_query_buffer_limit,
        )
        self._transport: Any = None
        self._out: list[bytes] = []
        self._pauses = 0
        self._reading_paused = False  # the transport's reading is paused (see `_pause`)
        #: no more commands will run (QUIT, error, close; also true once closed); the
        #: handler reads it, only the connection sets it
        self.closing = False
        self._closed = False  # the transport is closed or closing: nothing more is written
        self._registered = False
        self._pending: asyncio.Future[Any] | None = None
        self._last_argv: list[bytes] | None = None
        self._cmd_name: tuple[list[bytes] | None, str] | None = None
        self.id = 0
        self.addr = ""
        self.laddr = ""
        self.fd = -1
        self.created = self.last_interaction = time.time()
        self.name: bytes | None = None
        self.proto = 2
        self.session: object | None = None
        self.tot_cmds = 0
        self.net_writes = 0

    # --- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        server = self._server
        if len(server.connections) >= server.maxclients or server._closing:
            transport.write(b"-" + MAX_CLIENTS + CRLF)  # type: ignore[attr-defined]
            transport.close()
            self._closed = self.closing = True
            return
        self.id = server._new_id()
        self.addr = _format_addr(transport.get_extra_info("peername"))
        self.laddr = _format_addr(transport.get_extra_info("sockname"))
        if self.addr == "?:0":  # unix socket clients have no name of their own
            self.addr = self.laddr
        sock = transport.get_extra_info("socket")
        self.fd = sock.fileno() if sock is not None else -1
        transport.set_write_buffer_limits(  # type: ignore[attr-defined]
            high=server.output_high_water, low=server.output_low_water
        )
        server.connections[self.id] = self
        self._registered = True
        self._handler.connected(self)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.last_interaction = time.time()
        try:
            self._parser.feed(data)
        except QueryBufferLimitError:
            log.warning("closing client %d (%s): query buffer limit reached", self.id, self.addr)
            self.close()
            return
        if not self._pauses:
            self._process()
        elif not self._reading_paused and not self._closed:
            self._transport.pause_reading()  # input while paused: now stop reading
            self._reading_paused = True

    def eof_received(self) -> bool | None:
        if self._pending is not None and not self._closed:
            self.closing = True  # deliver the pending replies, then close
            return True
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = self.closing = True
        self._out.clear()
        pending = self._pending
        if pending is not None:
            self._pending = None
            pending.remove_done_callback(self._handler_done)
            pending.remove_done_callback(self._reply_done)
            self._server._owned.discard(pending)
        if self._registered:
            self._registered = False
            server = self._server
            server.connections.pop(self.id, None)
            try:
                self._handler.disconnected(self)
            finally:
                server._connection_gone()

    def pause_writing(self) -> None:
        self._pause(_P_WRITE)

    def resume_writing(self) -> None:
        self._unpause(_P_WRITE)

    # --- the handler's interface -------------------------------------------------------------

    def reply(self, value: Any) -> None:
        """Queue one reply, encoded in ``self.proto``; written when the batch is done."""
        t = type(value)
        out = self._out
        if t is bytes:
            n = len(value)
            out.append(_BULK_HDR[n] if n < 1024 else b"$%d\r\n" % n)
            out.append(value)
            out.append(CRLF)
        elif t is Status and value is OK:
            out.append(_OK_LINE)
        elif value is None:
            out.append(NULLS[self.proto])
        else:
            write_reply(out, value, self.proto)

    def write_now(self, value: Any) -> None:
        """Queue *value* after any replies already queued and write them all now (pub/sub
        messages, replies completed outside ``execute``)."""
        if self._closed:
            return
        write_reply(self._out, value, self.proto)
        self.flush()

    def flush(self) -> None:
        """Write the queued replies with one ``transport.write``."""
        out = self._out
        if out:
            data = b"".join(out)
            out.clear()
            if not self._closed:
                self._transport.write(data)
                self.net_writes += 1

    def close_after_reply(self) -> None:
        """Run no further command; close once the replies queued so far are written (QUIT).

        Inside ``execute`` (or its awaitable) the close happens when the batch is done;
        elsewhere, on the next loop iteration."""
        if self.closing:
            return
        self.closing = True
        asyncio.get_running_loop().call_soon(self._finish_if_idle)

    def close(self) -> None:
        """Close now, dropping unwritten replies (CLIENT KILL)."""
        if not self._closed:
            self._closed = self.closing = True
            self._out.clear()
            self._transport.abort()

    def pause(self) -> None:
        """Stop reading and executing this client's commands until `resume`."""
        self._pause(_P_USER)

    def resume(self) -> None:
        self._unpause(_P_USER)

    @property
    def qbuf(self) -> int:
        """Received bytes not yet parsed into commands."""
        return self._parser.pending

    @property
    def obl(self) -> int:
        """Reply bytes queued or not yet taken by the kernel."""
        queued = sum(map(len, self._out))
        if self._transport is None or self._closed:
            return queued
        return queued + int(self._transport.get_write_buffer_size())

    @property
    def cmd(self) -> str:
        """The name of the last command received, lower case, ``NULL`` if none; the handler
        may set a better one (``client|list``) for that command."""
        last = self._last_argv
        named = self._cmd_name
        if named is not None and named[0] is last:
            return named[1]
        if last is None:
            return "NULL"
        return last[0].decode("utf-8", "replace").lower()

    @cmd.setter
    def cmd(self, name: str) -> None:
        self._cmd_name = (self._last_argv, name)

    @property
    def auth_required(self) -> bool:
        """Apply Redis's input limits for unauthenticated clients (set by the handler)."""
        return self._parser.auth_required

    @auth_required.setter
    def auth_required(self, value: bool) -> None:
        self._parser.auth_required = value

    @property
    def server(self) -> ClientServer:
        return self._server

    def __repr__(self) -> str:
        return f"<Connection id={self.id} addr={self.addr}>"

    # --- internals ----------------------------------------------------------------------------

    def _process(self) -> None:
        """Execute the buffered commands, one batch at a time (a full batch yields to the
        event loop before the next one)."""
        parser = self._parser
        while True:
            try:
                cmds = parser.next_batch(BATCH_LIMIT)
            except ProtocolError as e:
                log.info("client %d (%s): protocol error: %s", self.id, self.addr, e.detail)
                self._out.append(b"-" + e.message + CRLF)
                self.closing = True
                self._finish()
                return
            if not cmds:
                return
            self.tot_cmds += len(cmds)
            self._last_argv = cmds[-1]
            try:
                result = self._handler.execute(self, cmds)
            except Exception:
                log.exception("client %d (%s): handler failed", self.id, self.addr)
                self.closing = True
                self._finish()
                return
            if result is not None:
                self._await(result)
                return
            out = self._out
            if out:
                data = b"".join(out)
                out.clear()
                if not self._closed:
                    self._transport.write(data)
                    self.net_writes += 1
            if self.closing:
                self._finish()
                return
            if len(cmds) >= BATCH_LIMIT:
                self._pause(_P_BACKLOG)
                asyncio.get_running_loop().call_soon(self._unpause, _P_BACKLOG, False)
                return
            if not parser.failed:
                return

    def _await(self, result: Awaitable[None]) -> None:
        if type(result) is _FUTURE:  # the last command's reply
            fut: asyncio.Future[Any] = result
            fut.add_done_callback(self._reply_done)
        else:
            if asyncio.iscoroutine(result):
                fut = asyncio.get_running_loop().create_task(result)
                self._server._owned.add(fut)  # cancelled by close()
            else:
                fut = asyncio.ensure_future(result)
            fut.add_done_callback(self._handler_done)
        self._pending = fut
        self._pause(_P_HANDLER)

    def _reply_done(self, fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is None and not self._closed:
            res = fut.result()
            if res is not NO_REPLY:
                self.reply(res)
        self._handler_done(fut)

    def _handler_done(self, fut: asyncio.Future[Any]) -> None:
        self._pending = None
        self._server._owned.discard(fut)
        if not fut.cancelled() and fut.exception() is not None:
            log.error(
                "client %d (%s): handler failed", self.id, self.addr, exc_info=fut.exception()
            )
            self.closing = True
        if self._closed:
            return
        self.flush()
        if self.closing:
            self._finish()
            return
        self._unpause(_P_HANDLER, soon=False)

    def _finish_if_idle(self) -> None:
        if self._pending is None:  # else _handler_done finishes
            self._finish()

    def _finish(self) -> None:
        self.flush()
        if not self._closed:
            self._closed = self.closing = True
            self._transport.close()

    def _pause(self, bit: int) -> None:
        """Run no command until every paused ``bit`` is cleared. The transport stops reading
        only once input arrives meanwhile (`data_received`): a client waiting for its reply
        sends nothing, and its write costs no pause and resume of the transport."""
        self._pauses |= bit

    def _unpause(self, bit: int, soon: bool = True) -> None:
        if not self._pauses & bit:
            return
        self._pauses &= ~bit
        if self._pauses or self._closed:
            return
        if self._reading_paused:
            self._reading_paused = False
            self._transport.resume_reading()
        if self._parser.drained:
            return  # nothing buffered to run (the common case after a reply)
        if soon:
            asyncio.get_running_loop().call_soon(self._continue)
        else:
            self._process()

    def _continue(self) -> None:
        if not self._pauses and not self.closing:
            self._process()


def _format_addr(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if isinstance(addr, (str, bytes)) and addr:
        path = addr.decode() if isinstance(addr, bytes) else addr
        return f"{path}:0"
    return "?:0"


class ClientServer:
    """A running client server (see `start_server`). ``connections`` maps id → `Connection`."""

    def __init__(
        self,
        handler: ClientHandler,
        *,
        maxclients: int,
        proto_max_bulk_len: int,
        client_query_buffer_limit: int,
        output_high_water: int,
        output_low_water: int,
    ) -> None:
        self._handler = handler
        self.maxclients = maxclients
        self.proto_max_bulk_len = proto_max_bulk_len
        self.client_query_buffer_limit = client_query_buffer_limit
        self.output_high_water = output_high_water
        self.output_low_water = output_low_water
        self.connections: dict[int, Connection] = {}
        self.port = 0
        self.unix_path: str | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._last_id = 0
        self._closing = False
        #: handler tasks the server created (from coroutines): `close` cancels them
        self._owned: set[asyncio.Future[Any]] = set()
        self._all_gone: asyncio.Event | None = None

    def _new_id(self) -> int:
        self._last_id += 1
        return self._last_id

    def _connection_gone(self) -> None:
        if self._all_gone is not None and not self.connections:
            self._all_gone.set()

    def close(self) -> None:
        """Stop listening and close every connection now; handler tasks it started are
        cancelled (awaitables that were plain futures are left alone)."""
        if self._closing:
            return
        self._closing = True
        for srv in self._servers:
            srv.close()
        for conn in list(self.connections.values()):
            conn.close()
        for fut in list(self._owned):
            fut.cancel()

    async def wait_closed(self) -> None:
        """Wait until `close` has finished: listeners closed and every connection lost."""
        if self.connections:
            self._all_gone = asyncio.Event()
            if self.connections:
                await self._all_gone.wait()
        for srv in self._servers:
            await srv.wait_closed()
        if self.unix_path is not None:
            try:
                os.unlink(self.unix_path)
            except FileNotFoundError:
                pass
            self.unix_path = None


async def start_server(
    handler: ClientHandler,
    host: str,
    port: int,
    *,
    maxclients: int = 10000,
    proto_max_bulk_len: int = DEFAULT_PROTO_MAX_BULK_LEN,
    client_query_buffer_limit: int = DEFAULT_QUERY_BUFFER_LIMIT,
    unixsocket: str | None = None,
    unixsocketperm: int | None = None,
    output_high_water: int = OUTPUT_HIGH_WATER,
    output_low_water: int = OUTPUT_LOW_WATER,
    backlog: int = 511,
) -> ClientServer:
    """Listen on *host*:*port* (port 0 picks a free port: see ``.port``) and, if given, on
    the unix socket *unixsocket*; serve every client with *handler*."""
    server = ClientServer(
        handler,
        maxclients=maxclients,
        proto_max_bulk_len=proto_max_bulk_len,
        client_query_buffer_limit=client_query_buffer_limit,
        output_high_water=output_high_water,
        output_low_water=output_low_water,
    )
    loop = asyncio.get_running_loop()
    tcp = await loop.create_server(
        lambda: Connection(server), host, port, backlog=backlog, reuse_address=True
    )
    server._servers.append(tcp)
    # typeshed says a tuple, uvloop gives a list: compiled code checks the declared type
    server.port = cast(Any, tcp).sockets[0].getsockname()[1]
    if unixsocket is not None:
        if os.path.exists(unixsocket):
            os.unlink(unixsocket)
        unix = await loop.create_unix_server(
            lambda: Connection(server), unixsocket, backlog=backlog
        )
        if unixsocketperm is not None:
            os.chmod(unixsocket, unixsocketperm)
        server._servers.append(unix)
        server.unix_path = unixsocket
    return server

