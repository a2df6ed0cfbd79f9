"""The ``gofish`` command: ``gofish server ...`` (and, with the cluster, ``gofish cluster ...``)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import anyio

from gofish.node.cluster_cli import add_cluster_parser, run_cluster
from gofish.node.config import APPENDFSYNC, Config, ConfigError


def _server_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("server", help="run a gofish server")
    p.add_argument("--config", help="config file (Redis 'name value' lines)")
    p.add_argument("--port", type=int, help="client port (default 6379)")
    p.add_argument("--bind", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--dir", help="data directory (default ./data)")
    p.add_argument("--appendfsync", choices=APPENDFSYNC, help="log fsync policy (default always)")
    p.add_argument("--save", metavar="'SECONDS CHANGES ...'",
                   help="checkpoint after SECONDS if at least CHANGES writes, as Redis's save; "
                        "'' for none (default '3600 1 300 100 60 10000')")
    p.add_argument("--requirepass", help="password clients must AUTH with")
    p.add_argument("--partitions", type=int, help="number of keyspace partitions (default 64)")
    p.add_argument("--maxclients", type=int, help="maximum number of clients (default 10000)")
    p.add_argument("--loglevel", choices=("debug", "verbose", "notice", "warning"))
    c = p.add_argument_group("cluster")
    c.add_argument("--node-id", type=int, help="this node's id in the cluster (default 1)")
    c.add_argument("--peer-port", type=int, help="port for Raft traffic between nodes")
    c.add_argument("--cluster", metavar="ID=HOST:PORT,...",
                   help="the founding members and their peer addresses")
    c.add_argument("--cluster-secret-file", metavar="FILE",
                   help="file holding the secret every node of the cluster shares")
    c.add_argument("--join", action="store_true", default=None,
                   help="a new node, to be added to a running cluster with RAFT ADD")


def build_config(args: argparse.Namespace) -> Config:
    cfg = Config()
    if args.config:
        cfg.load_file(args.config)
    for name in ("port", "bind", "dir", "appendfsync", "save", "requirepass", "partitions",
                 "maxclients", "loglevel", "node_id", "peer_port", "cluster",
                 "cluster_secret_file", "join"):
        value = getattr(args, name)
        if value is not None:
            if isinstance(value, bool):
                value = "yes" if value else "no"
            cfg.set(name.replace("_", "-"), str(value), startup=True)
    cfg.validate()
    return cfg


async def _serve(cfg: Config) -> None:
    from gofish.node.app import Node

    node = Node(cfg)
    async with anyio.create_task_group() as tg:

        async def stop_on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    logging.getLogger("gofish").info("shutting down")
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(stop_on_signal)
        await node.run()
        tg.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="gofish", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _server_parser(sub)
    add_cluster_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "cluster":
        raise SystemExit(run_cluster(args))
    try:
        cfg = build_config(args)
    except (ConfigError, OSError) as exc:
        print(f"gofish: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    level = {"debug": logging.DEBUG, "verbose": logging.INFO, "notice": logging.INFO,
             "warning": logging.WARNING}[cfg.loglevel]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # its per-run lines are noise
    from gofish.node.driver_types import NodeRemovedError

    try:
        anyio.run(_serve, cfg, backend_options={"use_uvloop": True})
    except KeyboardInterrupt:
        pass
    except (ConfigError, NodeRemovedError) as exc:
        print(f"gofish: {exc}", file=sys.stderr)
        raise SystemExit(2 if isinstance(exc, ConfigError) else 1) from None


if __name__ == "__main__":
    main()
