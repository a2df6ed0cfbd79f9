"""The node: wires the command table, the state machine, the Raft log and the client server.

Ownership: one event loop owns all state. `propose` hands a write to the Raft driver
(`gofish.node.driver`) and returns a future of its reply; the driver calls `apply` for each
committed entry in log order; `apply` runs the state machine and then tells the dispatcher
which keys changed (WATCH, blocked clients). Without ``--cluster`` the node is a one-member
cluster on the same path, its log in ``<dir>/raft``. With ``--cluster`` (or ``--peer-port``)
it also runs the peer transport (`gofish.node.transport`) on ``--bind``:``--peer-port``,
authenticated with the secret in ``--cluster-secret-file``.

Start-up (`run`): the client port opens first, then the peer port; while the driver opens
and replays the log, commands without the ``loading`` flag get ``-LOADING`` (the dispatcher
checks ``Dispatcher.loading``); then ``ready to accept connections`` is logged. A node that
applies its own removal from the cluster stops serving and `run` returns.

Active expiry: ``hz`` times a second the leader proposes the deletion of keys whose time has
passed (``gofish.expire``, which deletes a key only if it is still expired at the entry's
time); nothing else deletes them. One such proposal is in flight at a time.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import time
from typing import Any

import anyio
import anyio.abc

from gofish.node.checkpoints import Checkpoints, LoadingProgress, loading_reporter
from gofish.node.commands import register_all
from gofish.node.commands.pubsub import PubSub
from gofish.node.config import Config, ConfigError
from gofish.node.dispatch import Dispatcher
from gofish.node.driver import DriverSettings, NodeRemovedError, RaftDriver
from gofish.node.membership import parse_cluster
from gofish.node.transport import PeerTransport, load_cluster_secret
from gofish.statemachine.entry import FORMAT_VERSION, Command
from gofish.statemachine.machine import StateMachine
from gofish.statemachine.registry import CommandTable, load_datatypes

log = logging.getLogger(__name__)

EXPIRE_BATCH = 200


def _test_bugs() -> frozenset[str]:
    """Bugs planted for testing the fault suite's checker (``GOFISH_TEST_BUGS=a,b``); an
    unknown name is a configuration error. Logged loudly: never for production."""
    from gofish.node.driver_types import DRIVER_TEST_BUGS
    from gofish.raft.config import KNOWN_TEST_BUGS

    names = frozenset(b for b in os.environ.get("GOFISH_TEST_BUGS", "").split(",") if b)
    unknown = names - DRIVER_TEST_BUGS - KNOWN_TEST_BUGS
    if unknown:
        raise ConfigError(f"GOFISH_TEST_BUGS: unknown {sorted(unknown)}")
    if names:
        log.warning("TEST BUGS PLANTED (GOFISH_TEST_BUGS): %s: this node is wrong on purpose",
                    ",".join(sorted(names)))
    return names


class Node:
    def __init__(self, config: Config, settings: DriverSettings | None = None) -> None:
        config.validate()
        self.config = config
        self.table = CommandTable()
        self.datatypes = load_datatypes(self.table)
        register_all(self.table)
        self.sm = StateMachine(self.table, config.partitions)
        try:
            peers = parse_cluster(config.cluster)
        except ValueError as exc:
            raise ConfigError(f"cluster: {exc}") from None
        if peers and config.node_id not in peers and not config.join:
            raise ConfigError(f"node id {config.node_id} is not in --cluster (use --join to "
                              "add a new node to an existing cluster)")
        if settings is None:
            settings = DriverSettings(
                node_id=config.node_id,
                voters=tuple(sorted(peers)) or (config.node_id,),
                join=config.join,
                test_bugs=_test_bugs(),
            )
        peers.pop(config.node_id, None)
        self.checkpoints = Checkpoints(self)
        self.loading_progress = LoadingProgress()
        self.pubsub = PubSub()
        self.dispatcher = Dispatcher(self)
        self.dispatcher.loading = True
        self.driver = RaftDriver(
            os.path.join(config.dir, "raft"),
            self.dispatcher.apply,  # compiled: every entry on every node
            fsync_policy=lambda: config.appendfsync,
            settings=settings,
            peers=peers,
            checkpoints=self.checkpoints,
        )
        self.driver.replay_progress = loading_reporter(self.loading_progress)
        self.transport: PeerTransport | None = None
        if peers or config.peer_port or config.join:
            if not config.cluster_secret_file:
                raise ConfigError("a cluster node needs --cluster-secret-file")
            try:
                secret = load_cluster_secret(config.cluster_secret_file)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cluster secret: {exc}") from None
            drv = self.driver
            self.transport = PeerTransport(
                settings.node_id, {}, secret, drv.step, bind=config.bind,
                port=config.peer_port, on_peer_state=drv.peer_state,
                on_snapshot_status=drv.snapshot_status,
            )
            drv.transport = self.transport
        # internal requests (active expiry) are a client of their own
        self._client = random.getrandbits(63) | 1
        self._seq = itertools.count(1)
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

    @property
    def last_save(self) -> float:
        """When the last checkpoint finished (LASTSAVE), or the start time before one."""
        return self.checkpoints.last_save

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
            cmd = Command(FORMAT_VERSION, self._client, next(self._seq), d.next_time_ms(), 0,
                          [[b"gofish.expire", *keys]])
            self._expiring = self.propose(cmd)
            self._expiring.add_done_callback(self._count_expired)
        return len(keys)

    def _count_expired(self, fut: asyncio.Future[Any]) -> None:
        """The expiry entry was applied: count the keys it deleted (INFO expired_keys)."""
        if not fut.cancelled() and type(fut.result()) is int:
            self.expired_keys += fut.result()

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
            if self.transport is not None:
                await self.transport.start()
                log.info("node %d: peer port %s:%d", self.driver.id, cfg.bind,
                         self.transport.port)
            await self.driver.start()
            await self.driver.wait_serving()
            self.dispatcher.loading = False
            log.info("gofish ready to accept connections on %s:%d", cfg.bind, server.port)
            self.checkpoints.start_schedule()
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._expire_loop)
                exc = await self.driver.wait_failed()
                tg.cancel_scope.cancel()
            if isinstance(exc, NodeRemovedError):
                return
            raise RuntimeError("the Raft log failed; restart to recover") from exc
        finally:
            self.checkpoints.stop_schedule()
            self.dispatcher.loading = True
            server.close()
            with anyio.CancelScope(shield=True):
                if self.transport is not None:
                    await self.transport.close()
                await self.driver.aclose()
