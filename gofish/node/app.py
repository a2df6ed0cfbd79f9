"""The node: wires the command table, the state machine, the log and the client server.

Ownership: one event loop owns all state. `propose` hands a write to the log; the log calls
`apply` for each committed entry in log order; `apply` runs the state machine and then tells
the dispatcher which keys changed (WATCH, blocked clients). Active expiry: ``hz`` times a
second the node proposes the deletion of keys whose time has passed (``gofish.expire``, which
deletes a key only if it is still expired at the entry's time); nothing else deletes them.
"""

from __future__ import annotations

import logging
import time

import anyio

from gofish.node.commands import register_all
from gofish.node.commands.pubsub import PubSub
from gofish.node.config import Config
from gofish.node.dispatch import Dispatcher
from gofish.node.local import LocalLog
from gofish.reply import Reply
from gofish.statemachine.entry import FORMAT_VERSION, Command
from gofish.statemachine.machine import StateMachine
from gofish.statemachine.registry import CommandTable, load_datatypes

log = logging.getLogger(__name__)

EXPIRE_BATCH = 200


class Node:
    def __init__(self, config: Config) -> None:
        config.validate()
        self.config = config
        self.table = CommandTable()
        self.datatypes = load_datatypes(self.table)
        register_all(self.table)
        self.sm = StateMachine(self.table, config.partitions)
        self.log = LocalLog(self.apply)
        self.pubsub = PubSub()
        self.dispatcher = Dispatcher(self)
        self.started = time.time()
        self.server: object | None = None
        self.port = config.port
        self.expired_keys = 0

    def propose(self, cmd: Command) -> Reply:
        return self.log.propose(cmd)

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
        """Propose the deletion of up to EXPIRE_BATCH expired keys; returns how many."""
        now = int(time.time() * 1000)
        keys = self.sm.ks.expired_keys(now, EXPIRE_BATCH)
        if keys:
            d = self.dispatcher
            cmd = Command(FORMAT_VERSION, 0, 0, d.next_time_ms(), 0, [[b"gofish.expire", *keys]])
            self.propose(cmd)
            self.expired_keys += len(keys)
        return len(keys)

    async def run(self, *, task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve clients until cancelled. Reports the bound port through ``task_status``."""
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
        log.info("gofish ready to accept connections on %s:%d", cfg.bind, server.port)
        task_status.started(server.port)
        try:
            while True:
                await anyio.sleep(1 / max(1, cfg.hz))
                while self.expire_cycle() >= EXPIRE_BATCH:
                    await anyio.sleep(0)
        finally:
            server.close()
