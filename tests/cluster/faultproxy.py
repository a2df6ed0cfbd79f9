"""A fault-injecting TCP proxy for cluster tests: one listening port per directed link.

A *link* ``(src, dst)`` is the path node ``src`` uses to dial node ``dst``: the test gives
``src`` the proxy's port for that link as ``dst``'s address, and the proxy forwards every
connection accepted there to ``dst``'s real peer port. gofish sends on the connection it
dialed and receives on the ones its peers dialed (``gofish.node.transport`` rule 1), so
cutting ``(src, dst)`` stops exactly the messages from ``src`` to ``dst``.

Rules:

1. **Threads.** The proxy runs its own asyncio loop in a daemon thread. `start` and `stop`
   and every control method are called from ordinary (sync) test code; each control call
   waits for the loop to have carried it out (bounded by ``control_timeout``) before it
   returns, so after ``cut(1, 2)`` returns no byte moves on that link any more.
2. **Cutting.** ``cut(src, dst)`` aborts (RST) every open connection of the link and,
   until ``heal``, accepts each new connection and immediately aborts it (accept-then-
   close: the dialer sees a reset at once rather than a connect timeout, like a peer
   whose port is open but who drops everyone). ``isolate(node)`` cuts every link from or
   to ``node``; ``partition(group, group, ...)`` every link between groups; ``heal_all``
   heals every link.
3. **Forwarding.** While a link is up, bytes are copied both ways unchanged. If the target
   refuses or does not answer within ``connect_timeout`` seconds, the accepted connection
   is closed. When either side closes, both are closed. (So a dialer whose target is not
   listening yet sees "connected, then closed" rather than "connection refused": gofish
   logs that as a handshake protocol error while a cluster starts.)
4. **Bounds.** Loopback only: the proxy listens on 127.0.0.1 and forwards to the target
   given per link (tests pass 127.0.0.1). Every loop ends: copy loops end at EOF or when
   the connection is aborted; `stop` closes every server and connection and joins the
   thread within ``control_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["FaultProxy", "LinkStats"]

T = TypeVar("T")
Link = tuple[int, int]
_READ = 64 * 1024


@dataclass
class LinkStats:
    """Counters of one link, read with `FaultProxy.stats`."""

    accepted: int = 0  # connections accepted while the link was up
    refused: int = 0  # connections accepted and aborted while it was cut
    aborted: int = 0  # open connections aborted by a cut
    bytes_forwarded: int = 0  # both directions


@dataclass
class _LinkState:
    target: tuple[str, int]
    server: asyncio.Server | None = None
    port: int = 0
    cut: bool = False
    conns: set[asyncio.Task[None]] = field(default_factory=set)
    writers: set[asyncio.StreamWriter] = field(default_factory=set)
    stats: LinkStats = field(default_factory=LinkStats)


def _abort(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    if not transport.is_closing():
        transport.abort()


class FaultProxy:
    """Directed-link TCP proxy with cut/heal controls. Use as a context manager or call
    `start` / `stop`."""

    def __init__(self, *, connect_timeout: float = 2.0, control_timeout: float = 10.0) -> None:
        self.connect_timeout = connect_timeout
        self.control_timeout = control_timeout
        self._links: dict[Link, _LinkState] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        """Start the loop thread; returns self."""
        if self._thread is not None:
            raise RuntimeError("proxy already started")
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="faultproxy", daemon=True)
        self._thread.start()
        if not ready.wait(self.control_timeout):
            raise RuntimeError("fault proxy loop did not start")
        return self

    def stop(self) -> None:
        """Close every listener and connection and stop the loop thread. Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self._call(self._close_all())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(self.control_timeout)
            self._loop = None
            self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- controls ---------------------------------------------------------------------------
    def add_link(self, src: int, dst: int, target: tuple[str, int]) -> int:
        """Listen for link ``src → dst`` forwarding to ``target``; returns the proxy port."""
        return self._call(self._add_link((src, dst), target))

    def port(self, src: int, dst: int) -> int:
        """The proxy port of link ``src → dst``."""
        return self._links[(src, dst)].port

    def links(self) -> list[Link]:
        return sorted(self._links)

    def cut(self, src: int, dst: int) -> None:
        """Stop link ``src → dst``: abort its connections and refuse new ones until healed."""
        self._call(self._set_cut([(src, dst)], True))

    def heal(self, src: int, dst: int) -> None:
        """Let link ``src → dst`` carry connections again (existing dialers reconnect)."""
        self._call(self._set_cut([(src, dst)], False))

    def isolate(self, node: int) -> None:
        """Cut every link from or to ``node``."""
        links = [ln for ln in self._links if node in ln]
        self._call(self._set_cut(links, True))

    def partition(self, *groups: Iterable[int]) -> None:
        """Cut every link between nodes of different ``groups`` (links within a group, and
        of nodes in no group, are left as they are)."""
        where = {n: g for g, members in enumerate(groups) for n in members}
        links = [
            (a, b) for a, b in self._links
            if a in where and b in where and where[a] != where[b]
        ]
        self._call(self._set_cut(links, True))

    def heal_all(self) -> None:
        """Heal every link."""
        self._call(self._set_cut(list(self._links), False))

    def is_cut(self, src: int, dst: int) -> bool:
        return self._links[(src, dst)].cut

    def stats(self, src: int, dst: int) -> LinkStats:
        """A copy of the counters of link ``src → dst``."""
        s = self._links[(src, dst)].stats
        return LinkStats(s.accepted, s.refused, s.aborted, s.bytes_forwarded)

    def open_connections(self, src: int, dst: int) -> int:
        """How many connections link ``src → dst`` currently forwards."""
        return self._call(self._count((src, dst)))

    # --- internals (run in the loop) ----------------------------------------------------------
    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError("proxy not started")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(self.control_timeout)

    async def _count(self, link: Link) -> int:
        return len(self._links[link].conns)

    async def _add_link(self, link: Link, target: tuple[str, int]) -> int:
        if link in self._links:
            raise ValueError(f"link {link} already exists")
        state = _LinkState(target)

        async def on_accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(state, reader, writer)

        state.server = await asyncio.start_server(on_accept, "127.0.0.1", 0)
        state.port = int(state.server.sockets[0].getsockname()[1])
        self._links[link] = state
        return state.port

    async def _set_cut(self, links: list[Link], cut: bool) -> None:
        for link in links:
            state = self._links[link]
            state.cut = cut
            if cut:
                for w in list(state.writers):
                    _abort(w)
                state.stats.aborted += len(state.conns)

    async def _serve(
        self, state: _LinkState, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if state.cut:
            state.stats.refused += 1
            _abort(writer)
            return
        task = asyncio.current_task()
        assert task is not None
        state.conns.add(task)
        state.writers.add(writer)
        up_writer: asyncio.StreamWriter | None = None
        try:
            try:
                async with asyncio.timeout(self.connect_timeout):
                    up_reader, up_writer = await asyncio.open_connection(*state.target)
            except (OSError, TimeoutError):
                return
            if state.cut:  # cut while we were connecting
                return
            state.writers.add(up_writer)
            state.stats.accepted += 1
            a = asyncio.create_task(self._pipe(state, reader, up_writer))
            b = asyncio.create_task(self._pipe(state, up_reader, writer))
            await asyncio.wait({a, b}, return_when=asyncio.FIRST_COMPLETED)
            for t in (a, b):
                t.cancel()
            await asyncio.gather(a, b, return_exceptions=True)
        finally:
            state.conns.discard(task)
            state.writers.discard(writer)
            _abort(writer)
            if up_writer is not None:
                state.writers.discard(up_writer)
                _abort(up_writer)

    async def _pipe(
        self, state: _LinkState, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Copy until EOF, an error, or cancellation."""
        with contextlib.suppress(OSError, ConnectionError):
            while not state.cut:
                data = await reader.read(_READ)
                if not data or state.cut:
                    return
                writer.write(data)
                state.stats.bytes_forwarded += len(data)
                await writer.drain()

    async def _close_all(self) -> None:
        for state in self._links.values():
            if state.server is not None:
                state.server.close()
            state.cut = True
            for w in list(state.writers):
                _abort(w)
        tasks = [t for s in self._links.values() for t in s.conns]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self.control_timeout / 2)
        for state in self._links.values():
            if state.server is not None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await state.server.wait_closed()
