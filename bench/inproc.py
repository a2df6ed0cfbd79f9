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
        [--nodes 3 [--via leader|follower]]

``--nodes 3`` runs a whole cluster in this process: three nodes on the one loop, talking
over their real (authenticated, loopback TCP) peer transports, the clients on the leader or
a follower. The figures then are the CPU of all three nodes per request (what the cluster
costs, without the scheduling noise of three processes on two cores) and the number of
Raft entries per request (how well requests were batched).
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
sys.path.insert(0, str(ROOT / "tests"))

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


def _configs(args: argparse.Namespace, data_dir: str) -> list[Config]:
    if args.nodes == 1:
        return [Config(dir=data_dir, port=0, appendfsync=args.appendfsync)]
    from procs import free_port  # tests/procs.py: ports reserved for this process

    os.makedirs(data_dir)
    secret = os.path.join(data_dir, "cluster.secret")
    with open(secret, "w") as f:
        f.write(os.urandom(32).hex())
    os.chmod(secret, 0o600)
    peer_ports = [free_port() for _ in range(args.nodes)]
    spec = ",".join(f"{i + 1}=127.0.0.1:{p}" for i, p in enumerate(peer_ports))
    return [
        Config(dir=os.path.join(data_dir, f"node{i + 1}"), port=0, appendfsync=args.appendfsync,
               node_id=i + 1, peer_port=p, cluster=spec, cluster_secret_file=secret)
        for i, p in enumerate(peer_ports)
    ]


async def _ready(nodes: list[Node], via: str) -> Node:
    """Wait (at most 30 s) for a leader and every node serving; the node the clients talk
    to."""
    with anyio.fail_after(30):
        while True:
            leaders = [n for n in nodes if n.driver.is_leader]
            if len(leaders) == 1 and not any(n.dispatcher.loading for n in nodes):
                break
            await anyio.sleep(0.01)
        for n in nodes:
            await n.driver.wait_serving()
    if via == "leader":
        return leaders[0]
    return next(n for n in nodes if n is not leaders[0])


async def _run(args: argparse.Namespace, data_dir: str) -> list[float]:
    nodes = [Node(cfg) for cfg in _configs(args, data_dir)]
    results: list[float] = []
    async with anyio.create_task_group() as tg:
        for node in nodes:
            await tg.start(node.run)
        node = await _ready(nodes, args.via)
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
        entries: list[float] = []
        for rep in range(args.repeat):
            batches = make(rep * n_rounds * per_round)
            e0 = node.driver.commit_index
            t0 = time.process_time()
            await bench.rounds(conns, batches)
            results.append((time.process_time() - t0) / (n_rounds * per_round) * 1e6)
            entries.append((node.driver.commit_index - e0) / (n_rounds * per_round))
        tg.cancel_scope.cancel()
    if args.nodes > 1 and args.test != "get":
        print(f"Raft entries per request: median {statistics.median(entries):.3f} "
              f"(runs: {', '.join(f'{e:.3f}' for e in entries)})")
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
    ap.add_argument("--nodes", type=int, default=1, choices=(1, 3, 5),
                    help="3 or 5: a whole cluster in this process")
    ap.add_argument("--via", default="leader", choices=("leader", "follower"),
                    help="the node the clients talk to (with --nodes)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gofish-inproc-") as tmp:
        res = anyio.run(_run, args, os.path.join(tmp, "data"), backend_options={"use_uvloop": True})
    where = f", {args.nodes} nodes via the {args.via}" if args.nodes > 1 else ""
    print(f"{args.test.upper()} -P {args.pipeline} (appendfsync {args.appendfsync}{where}): "
          f"median {statistics.median(res):.2f} µs CPU/request "
          f"(runs: {', '.join(f'{r:.2f}' for r in res)})")


if __name__ == "__main__":
    main()
