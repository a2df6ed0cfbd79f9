"""`SyncThread`: the one worker thread that fsyncs the Raft log for the driver.

``run_in_executor`` costs a concurrent future, an asyncio future and their chaining per
call; the driver syncs hundreds of times a second, so it uses this instead: `request` puts a
token in a queue, the thread runs ``fn`` (which releases the GIL while it waits for the disk)
and reports ``done(result, error)`` on the loop with ``call_soon_threadsafe``. At most one
request is outstanding at a time (the driver's ``_syncing`` flag): requests are not merged
or counted. `stop` ends the thread after the request it is running, if any.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Done = Callable[[int, "BaseException | None"], None]


class SyncThread:
    def __init__(self, fn: Callable[[], int], loop: asyncio.AbstractEventLoop, done: Done) -> None:
        self._fn = fn
        self._loop = loop
        self._done = done
        self._queue: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="gofish-fsync", daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Run ``fn`` once more in the thread; ``done`` reports on the loop."""
        self._queue.put(True)

    def stop(self) -> None:
        """End the thread (after a running ``fn``) and wait for it; idempotent."""
        if self._thread.is_alive():
            self._queue.put(False)
            self._thread.join()

    def _run(self) -> None:
        while self._queue.get():
            result, error = 0, None
            try:
                result = self._fn()
            except BaseException as exc:  # reported to the driver, which fails
                error = exc
            try:
                self._loop.call_soon_threadsafe(self._done, result, error)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                log.debug("sync finished after the event loop closed")
                return
