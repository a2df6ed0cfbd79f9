"""The node: wires the command table, the state machine, the Raft log and the client server.

Ownership: one event loop owns all state. `propose` hands a write to the Raft driver
(`gofish.node.driver`) and returns a future of its reply; the driver calls `apply` for each
committed entry in log order; `apply` runs the state machine and then tells the dispatcher
which keys changed (WATCH, blocked clients). Without ``--cluster`` the node is a one-member
cluster on the same path, its log in ``<dir>/raft``.

Start-up (`run`): the client port opens first; while the driver opens and replays the log,
commands without the ``loading`` flag get ``-LOADING`` (the dispatcher checks
``Dispatcher.loading``); then ``ready to accept connections`` is logged.

Active expiry: ``hz`` times a second the leader proposes the deletion of keys whose time has
passed (``gofish.expire``, which deletes a key only if it is still expired at the entry's
time); nothing else deletes them. One such proposal is in flight at a time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc

from gofish.node.commands import register_all
from gofish.node.commands.pubsub import PubSub
from gofish.node.config import Config
from gofish.node.dispatch import Dispatcher
from gofish.node.driver import DriverSettings, RaftDriver
from gofish.reply import Reply
from gofish.statemachine.entry import FORMAT_VERSION, Command
from gofish.statemachine.machine import StateMachine
from gofish.statemachine.registry import CommandTable, load_datatypes

log = logging.getLogger(__name__)

EXPIRE_BATCH = 200


class Node:
    def __init__(self, config: Config, settings: DriverSettings | None = None) -> None:
        config.validate()
        self.config = config
        self.table = CommandTable()
        self.datatypes = load_datatypes(self.table)
        register_all(self.table)
        self.sm = StateMachine(self.table, config.partitions)
        self.driver = RaftDriver(
            os.path.join(config.dir, "raft"),
            self.apply,
            fsync_policy=lambda: config.appendfsync,
            settings=settings,
        )
        self.pubsub = PubSub()
        self.dispatcher = Dispatcher(self)
        self.dispatcher.loading = True
        self.started = time.time()
        self.server: object | None = None
        self.port = config.port
        self.expired_keys = 0
        self._expiring: asyncio.Future[Any] | None = None

    @property
    def loading(self) -> bool:
        return self.dispatcher.loading

    def propose(self, cmd: Command) -> asyncio.Future[Any]:
        """Propose ``cmd``; the future resolves with its apply's reply (or an error reply,
        see `gofish.node.driver`)."""
        return self.driver.propose(cmd)

    def when_idle(self, fn: Callable[[bool], None]) -> None:
        """See `RaftDriver.when_idle`."""
        self.driver.when_idle(fn)

    def apply(self, cmd: Command) -> Reply:
        reply = self.sm.apply(cmd)
        ks = self.sm.ks
        if ks.dirty:
            d = self.dispatcher
            if d.watchers or d.blocked:
                keys = ks.dirty
                ks.dirty = []
                d.keys_changed(keys)
            else:
                ks.dirty.clear()
        return reply

    def expire_cycle(self) -> int:
        """On the leader, propose the deletion of up to EXPIRE_BATCH expired keys unless an
        earlier such proposal is still in flight; returns how many keys it proposed."""
        if self.loading or not self.driver.is_leader:
            return 0
        if self._expiring is not None and not self._expiring.done():
            return 0
        now = int(time.time() * 1000)
        keys = self.sm.ks.expired_keys(now, EXPIRE_BATCH)
        if keys:
            d = self.dispatcher
            cmd = Command(FORMAT_VERSION, 0, 0, d.next_time_ms(), 0, [[b"gofish.expire", *keys]])
            self._expiring = self.propose(cmd)
            self.expired_keys += len(keys)
        return len(keys)

    async def _expire_loop(self) -> None:
        while True:
            await anyio.sleep(1 / max(1, self.config.hz))
            while self.expire_cycle() >= EXPIRE_BATCH and self._expiring is not None:
                await self._expiring  # a full batch: go on once it is applied

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve clients until cancelled (or the log fails: then raise its error). Reports
        the bound port through ``task_status`` as soon as the port is open, before the log
        is loaded."""
        from gofish.net.server import start_server

        cfg = self.config
        server = await start_server(
            self.dispatcher,
            cfg.bind,
            cfg.port,
            maxclients=cfg.maxclients,
            proto_max_bulk_len=cfg.proto_max_bulk_len,
            client_query_buffer_limit=cfg.client_query_buffer_limit,
        )
        self.server = server
        self.port = server.port
        log.info("listening on %s:%d; loading the log from %s", cfg.bind, server.port,
                 self.driver.path)
        task_status.started(server.port)
        try:
            await self.driver.start()
            await self.driver.wait_serving()
            self.dispatcher.loading = False
            log.info("gofish ready to accept connections on %s:%d", cfg.bind, server.port)
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._expire_loop)
                exc = await self.driver.wait_failed()
                tg.cancel_scope.cancel()
            raise RuntimeError("the Raft log failed; restart to recover") from exc
        finally:
            self.dispatcher.loading = True
            server.close()
            with anyio.CancelScope(shield=True):
                await self.driver.aclose()
