"""CPU per request of gofish's own code, without sockets or a client on the same cores.

redis-benchmark shares this machine's two cores with the server and every request costs two
loopback syscalls, so CPU per request measured through it swings by tens of percent. This
runs a real gofish node (the whole `Node`: dispatcher, Raft driver, RocksDB log, state
machine) in this process on uvloop and feeds its `Connection` objects directly: a fake
transport takes the replies. One round = ``--clients`` connections each given ``--pipeline``
commands in one ``data_received``, then the loop runs until every connection has its
replies, which is what one epoll turn with that many ready clients does. The figure is the
process CPU time (all threads) per request, median of ``--repeat`` measurements; syscalls of
the fake transport are gone, so it is gofish's cost only, comparable across commits.

    .venv/bin/python bench/inproc.py [--test set|get|incr|lpush|sadd|hset] [--pipeline 1]
        [--clients 50] [--requests 100000] [--repeat 5] [--appendfsync no]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gofish.net.server import Connection  # noqa: E402
from gofish.node.app import Node  # noqa: E402
from gofish.node.config import Config  # noqa: E402


def _resp(*args: bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def _command(test: str, i: int) -> bytes:
    key = b"key:%06d" % (i % 100_000)
    if test == "set":
        return _resp(b"SET", key, b"xxx")
    if test == "get":
        return _resp(b"GET", key)
    if test == "incr":
        return _resp(b"INCR", b"counter:%d" % (i % 1000))
    if test == "lpush":
        return _resp(b"LPUSH", b"mylist", b"xxx")
    if test == "sadd":
        return _resp(b"SADD", b"myset", b"element:%d" % (i % 100_000))
    if test == "hset":
        return _resp(b"HSET", b"myhash", b"element:%d" % (i % 100_000), b"xxx")
    raise SystemExit(f"unknown test {test}")


class _Transport(asyncio.Transport):
    """Takes the replies; counts the writes of a round."""

    def __init__(self, bench: _Bench) -> None:
        super().__init__()
        self._bench = bench

    def write(self, data: Any) -> None:
        self._bench.wrote()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name in ("peername", "sockname") else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False


class _Bench:
    def __init__(self) -> None:
        self.left = 0
        self.done: asyncio.Event | None = None

    def wrote(self) -> None:
        self.left -= 1
        if self.left == 0 and self.done is not None:
            self.done.set()

    async def rounds(self, conns: list[Connection], batches: list[list[bytes]]) -> None:
        for batch in batches:
            self.done = asyncio.Event()
            self.left = len(conns)
            for conn, data in zip(conns, batch, strict=True):
                conn.data_received(data)
            if self.left:
                await self.done.wait()


async def _run(args: argparse.Namespace, data_dir: str) -> list[float]:
    cfg = Config(dir=data_dir, port=0, appendfsync=args.appendfsync)
    node = Node(cfg)
    results: list[float] = []
    async with anyio.create_task_group() as tg:
        await tg.start(node.run)
        await node.driver.wait_serving()
        while node.dispatcher.loading:
            await anyio.sleep(0.01)
        bench = _Bench()
        server: Any = node.server
        conns = []
        for _ in range(args.clients):
            conn = Connection(server)
            conn.connection_made(_Transport(bench))
            conns.append(conn)
        per_round = args.clients * args.pipeline
        n_rounds = max(1, args.requests // per_round)

        def make(offset: int) -> list[list[bytes]]:
            i = offset
            out = []
            for _ in range(n_rounds):
                row = []
                for _ in conns:
                    row.append(b"".join(_command(args.test, i + k) for k in range(args.pipeline)))
                    i += args.pipeline
                out.append(row)
            return out

        # warm up, and keys exist for reads
        await bench.rounds(conns, [[_command("set", r * args.clients + c) for c in range(len(conns))]
                                   for r in range(args.warmup // args.clients)])
        for rep in range(args.repeat):
            batches = make(rep * n_rounds * per_round)
            t0 = time.process_time()
            await bench.rounds(conns, batches)
            results.append((time.process_time() - t0) / (n_rounds * per_round) * 1e6)
        tg.cancel_scope.cancel()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--test", default="set")
    ap.add_argument("--pipeline", type=int, default=1)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=100_000, help="SETs before measuring")
    ap.add_argument("--appendfsync", default="no", choices=("no", "everysec", "always"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gofish-inproc-") as tmp:
        res = anyio.run(_run, args, os.path.join(tmp, "data"), backend_options={"use_uvloop": True})
    print(f"{args.test.upper()} -P {args.pipeline} (appendfsync {args.appendfsync}): "
          f"median {statistics.median(res):.2f} µs CPU/request "
          f"(runs: {', '.join(f'{r:.2f}' for r in res)})")


if __name__ == "__main__":
    main()
