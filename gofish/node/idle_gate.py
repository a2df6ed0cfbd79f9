"""`IdleGate`: the queue that lets WATCH's EXEC check and propose with nothing in flight.

EXEC must check its watched keys at a moment when every entry in the log has been applied,
and its transaction must be the next entry after that moment. So a callback registered with
`wait` runs once the log is idle, and every proposal made after it was registered is held
(`hold`) until it has run; then the held proposals go out in their order. Items run strictly
first in, first out: a held proposal never overtakes a callback registered before it, nor the
other way round. Anything still waiting at its deadline fails (`expire`): a callback is called
with False, a held proposal gets CLUSTERDOWN.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import Any

from gofish.node.driver_types import CLUSTERDOWN, settle
from gofish.reply import ErrorReply
from gofish.statemachine.entry import Command

log = logging.getLogger(__name__)

Propose = Callable[[Command, "asyncio.Future[Any]"], None]


class _Item:
    __slots__ = ("deadline", "cmd", "future", "fn")

    def __init__(
        self,
        deadline: float,
        cmd: Command | None = None,
        future: asyncio.Future[Any] | None = None,
        fn: Callable[[bool], None] | None = None,
    ) -> None:
        self.deadline = deadline
        self.cmd = cmd
        self.future = future
        self.fn = fn


class IdleGate:
    """``propose`` puts a command into the log at once; ``idle`` says whether every logged
    entry is applied. While a callback runs, `bypass` is True: what it proposes goes
    straight to the log."""

    def __init__(self, propose: Propose, idle: Callable[[], bool]) -> None:
        self._propose = propose
        self._idle = idle
        self._items: collections.deque[_Item] = collections.deque()
        self.bypass = False

    def __bool__(self) -> bool:
        return bool(self._items)

    def hold(self, cmd: Command, fut: asyncio.Future[Any], deadline: float) -> None:
        self._items.append(_Item(deadline, cmd, fut))

    def wait(self, fn: Callable[[bool], None], deadline: float) -> None:
        """Run ``fn(True)`` at the next idle moment after everything queued before it."""
        if not self._items and self._idle():
            self._run(fn, True)
        else:
            self._items.append(_Item(deadline, fn=fn))

    def drain(self) -> None:
        """Run and propose what is no longer blocked (call after every apply)."""
        items = self._items
        while items:
            it = items[0]
            if it.fn is not None:
                if not self._idle():
                    return
                items.popleft()
                self._run(it.fn, True)
            else:
                items.popleft()
                assert it.cmd is not None and it.future is not None
                if not it.future.done():
                    self._propose(it.cmd, it.future)

    def expire(self, now: float) -> None:
        items = self._items
        while items and items[0].deadline <= now:
            self._fail(items.popleft())
        if items:
            self.drain()

    def fail_all(self) -> None:
        items, self._items = self._items, collections.deque()
        for it in items:
            self._fail(it)

    def _fail(self, it: _Item) -> None:
        if it.fn is not None:
            self._run(it.fn, False)
        elif it.future is not None:
            settle(it.future, ErrorReply(CLUSTERDOWN))

    def _run(self, fn: Callable[[bool], None], ok: bool) -> None:
        self.bypass = True
        try:
            fn(ok)
        except Exception:
            log.exception("a callback waiting for an idle log failed")
        finally:
            self.bypass = False
