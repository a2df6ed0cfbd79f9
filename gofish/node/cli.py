"""The ``gofish`` command: ``gofish server ...`` (and, with the cluster, ``gofish cluster ...``)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import anyio

from gofish.node.config import APPENDFSYNC, Config, ConfigError


def _server_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("server", help="run a gofish server")
    p.add_argument("--config", help="config file (Redis 'name value' lines)")
    p.add_argument("--port", type=int, help="client port (default 6379)")
    p.add_argument("--bind", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--dir", help="data directory (default ./data)")
    p.add_argument("--appendfsync", choices=APPENDFSYNC, help="log fsync policy (default always)")
    p.add_argument("--requirepass", help="password clients must AUTH with")
    p.add_argument("--partitions", type=int, help="number of keyspace partitions (default 64)")
    p.add_argument("--maxclients", type=int, help="maximum number of clients (default 10000)")
    p.add_argument("--loglevel", choices=("debug", "verbose", "notice", "warning"))


def build_config(args: argparse.Namespace) -> Config:
    cfg = Config()
    if args.config:
        cfg.load_file(args.config)
    for name in ("port", "bind", "dir", "appendfsync", "requirepass", "partitions",
                 "maxclients", "loglevel"):
        value = getattr(args, name)
        if value is not None:
            cfg.set(name, str(value), startup=True)
    cfg.validate()
    return cfg


async def _serve(cfg: Config) -> None:
    from gofish.node.app import Node

    node = Node(cfg)
    async with anyio.create_task_group() as tg:
        await tg.start(node.run)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                logging.getLogger("gofish").info("shutting down")
                tg.cancel_scope.cancel()
                break


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="gofish", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _server_parser(sub)
    args = parser.parse_args(argv)
    try:
        cfg = build_config(args)
    except (ConfigError, OSError) as exc:
        print(f"gofish: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    level = {"debug": logging.DEBUG, "verbose": logging.INFO, "notice": logging.INFO,
             "warning": logging.WARNING}[cfg.loglevel]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        anyio.run(_serve, cfg, backend_options={"use_uvloop": True})
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
