"""Read points: when a read may run against this node's state (`gofish.node.driver`).

Consistency levels (the ``read-consistency`` setting, per connection ``READCONSISTENCY``):

- ``linearizable`` (default): Raft's ReadIndex. The leader confirms it still leads with a
  heartbeat round and names its commit index; a follower asks the leader for it. The read
  runs once this node has applied up to that index, so it reflects every write acknowledged
  anywhere before the read arrived.
- ``lease``: the same, but the leader answers from its lease (a quorum acknowledged a
  heartbeat recently, `gofish.raft.Config`) without a round trip. Safe while clocks run at
  about the same rate; the driver first catches up every tick it owes (a node that was
  paused sees its lease as expired).
- ``stale``: this node's state as it is; no wait.

Rules:

- **Batching.** Every read asked for while a request is being prepared shares it: one
  ReadIndex per mode per event-loop iteration, however many clients ask. A read point
  requested after a read arrived is valid for it, so callers may share one point among all
  the commands of one received batch.
- **Failure.** A request unanswered within ``read_timeout`` (no leader, no quorum) fails with
  ``CLUSTERDOWN``; a read never falls back to stale data. Requests are re-sent when the
  leader changes (Raft drops them silently then).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gofish.node.driver_types import CLUSTERDOWN, settle
from gofish.raft import READ_QUORUM
from gofish.reply import ErrorReply

if TYPE_CHECKING:
    from gofish.node.driver import RaftDriver


class _Request:
    __slots__ = ("ctx", "futures", "deadline")

    def __init__(self, ctx: bytes, futures: list[asyncio.Future[Any]], deadline: float) -> None:
        self.ctx = ctx
        self.futures = futures
        self.deadline = deadline


class ReadPoints:
    """The driver's ReadIndex requests (see the module rules)."""

    def __init__(self, driver: RaftDriver, read_timeout: float) -> None:
        self._d = driver
        self._timeout = read_timeout
        self._next: dict[bool, list[asyncio.Future[Any]]] = {}
        self._inflight: dict[bytes, _Request] = {}
        self._ids = itertools.count(1)
        self._scheduled = False
        self.requests = 0

    def __len__(self) -> int:
        return len(self._inflight) + len(self._next)

    def wait(self, loop: asyncio.AbstractEventLoop, lease: bool) -> asyncio.Future[Any]:
        """A future resolved with None once a read may run, or with an error reply."""
        fut: asyncio.Future[Any] = loop.create_future()
        batch = self._next.get(lease)
        if batch is None:
            batch = self._next[lease] = []
        batch.append(fut)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self._scheduled = False
        batches, self._next = self._next, {}
        d = self._d
        now = d.now()
        for lease, futures in batches.items():
            if lease:
                d.catch_up_ticks()
            ctx = (b"L" if lease else READ_QUORUM) + next(self._ids).to_bytes(8, "big")
            req = _Request(ctx, futures, now + self._timeout)
            self._inflight[ctx] = req
            self.requests += 1
            d.request_read_index(ctx)

    def answered(self, ctx: bytes, index: int) -> None:
        """A `ReadState` arrived: release the request's reads once ``index`` is applied."""
        req = self._inflight.pop(ctx, None)
        if req is None:
            return
        w = self._d.wait_applied(index)
        if w.done():
            _release(req.futures, w)
        else:
            w.add_done_callback(_releaser(req.futures))

    def resend(self) -> None:
        """The leader changed: ask again for every request still unanswered."""
        for req in self._inflight.values():
            self._d.request_read_index(req.ctx)

    def expire(self, now: float) -> None:
        if not self._inflight:
            return
        late = [ctx for ctx, r in self._inflight.items() if r.deadline <= now]
        for ctx in late:
            self._fail(self._inflight.pop(ctx).futures)

    def fail_all(self) -> None:
        reqs, self._inflight = self._inflight, {}
        for r in reqs.values():
            self._fail(r.futures)
        nxt, self._next = self._next, {}
        for futures in nxt.values():
            self._fail(futures)

    @staticmethod
    def _fail(futures: list[asyncio.Future[Any]]) -> None:
        for f in futures:
            settle(f, ErrorReply(CLUSTERDOWN))


def _release(futures: list[asyncio.Future[Any]], w: asyncio.Future[None]) -> None:
    value: Any = ErrorReply(CLUSTERDOWN) if w.cancelled() else None
    for f in futures:
        settle(f, value)


def _releaser(futures: list[asyncio.Future[Any]]) -> Callable[[asyncio.Future[None]], None]:
    return lambda w: _release(futures, w)
