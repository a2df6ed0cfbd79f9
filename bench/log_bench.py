"""RocksDB Raft log: durable entries/s with group commit, and the event-loop stall of fsync.

    .venv/bin/python bench/log_bench.py [--entries N] [--size BYTES] [--dir DIR]

1. **Durable throughput** (100-byte entries, batches of 1/16/256), two drivers:
   - *pipelined*: the loop writes unsynced batches (`RocksDBStorage.save`) without waiting;
     a syncer task keeps one ``sync()`` (``flush_wal(True)``) running in a worker thread;
     the clock stops when ``synced_index`` reaches the last entry. Each sync covers every
     batch written before it started (group commit).
   - *closed loop*: write one batch, sync it in a thread, wait, repeat (one fsync per batch).
2. **Event-loop stall**: a ticker task sleeps 1 ms at a time and records the longest gap
   between its wake-ups while the loop drives rounds of (16-entry batch + fsync) with
   (a) ``write(batch, sync=True)`` in a worker thread, (b) the same on the loop itself,
   (c) an unsynced write on the loop + ``sync()`` in a worker thread.
3. **Open** (the full verifying scan) and **read** (``entries`` in chunks of 256) speed.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
from rocksdict import Options, Rdict, WriteBatch, WriteOptions

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gofish.log.codec import encode_entry, index_key  # noqa: E402
from gofish.log.rocksdb import RocksDBStorage  # noqa: E402
from gofish.raft.types import Entry  # noqa: E402


def batches(n: int, batch: int, size: int, first: int = 1) -> list[list[Entry]]:
    data = b"x" * size
    return [
        [Entry(term=1, index=j, data=data) for j in range(i, min(i + batch, first + n))]
        for i in range(first, first + n, batch)
    ]


async def pipelined(s: RocksDBStorage, work: list[list[Entry]]) -> tuple[float, int]:
    """Seconds until every entry is durable, and the number of syncs it took."""
    target = work[-1][-1].index
    syncs = 0

    async def syncer() -> None:
        nonlocal syncs
        while s.synced_index < target:
            if s.needs_sync:
                await anyio.to_thread.run_sync(s.sync)
                syncs += 1
            else:
                await anyio.sleep(0)

    t0 = time.perf_counter()
    async with anyio.create_task_group() as tg:
        tg.start_soon(syncer)
        for ents in work:
            s.save(entries=ents)
            await anyio.sleep(0)  # a driver yields between Readies
    return time.perf_counter() - t0, syncs


async def closed_loop(s: RocksDBStorage, work: list[list[Entry]]) -> float:
    t0 = time.perf_counter()
    for ents in work:
        s.save(entries=ents)
        await anyio.to_thread.run_sync(s.sync)
    return time.perf_counter() - t0


def throughput(base: Path, n: int, size: int) -> None:
    print(f"== durable throughput, {size}-byte entries ==")
    for batch in (1, 16, 256):
        with RocksDBStorage(base / f"pipe{batch}") as s:
            secs, syncs = anyio.run(pipelined, s, batches(n, batch, size))
            st = s.statistics()
        print(
            f"pipelined   batch {batch:>3}: {n / secs:>9,.0f} durable entries/s "
            f"({n} entries, {syncs} syncs, {n / max(syncs, 1):,.0f} entries/sync, "
            f"sync mean {st.sync_seconds_total / max(st.syncs, 1) * 1e3:.2f} ms, "
            f"max {st.sync_seconds_max * 1e3:.1f} ms)"
        )
    for batch in (1, 16, 256):
        m = min(n, 2000 * batch)
        with RocksDBStorage(base / f"closed{batch}") as s:
            secs = anyio.run(closed_loop, s, batches(m, batch, size))
        print(
            f"closed loop batch {batch:>3}: {m / secs:>9,.0f} durable entries/s "
            f"({m // batch} write+fsync rounds, {secs / (m / batch) * 1e3:.2f} ms/round)"
        )


async def with_ticker(work: Callable[[], Awaitable[None]]) -> tuple[float, float, int]:
    """Run ``work`` beside a 1 ms ticker; (max gap ms, p99 gap ms, ticks)."""
    gaps: list[float] = []
    done = anyio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await anyio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await anyio.sleep(0.01)
        await work()
        done.set()
    gaps.sort()
    p99 = gaps[int(len(gaps) * 0.99)] if gaps else 0.0
    return (gaps[-1] if gaps else 0.0) * 1e3, p99 * 1e3, len(gaps)


#: (name, max gap ms, p99 gap ms, ticks, seconds)
Run = tuple[str, float, float, int, float]


def synced_write_runs(path: Path, work: list[list[Entry]]) -> list[Run]:
    """The (a) and (b) runs, on a plain rocksdict database with a ``log`` column family."""
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    db = Rdict(str(path), opts, column_families={"log": Options(raw_mode=True)})
    handle = db.get_column_family_handle("log")
    wo_sync = WriteOptions()
    wo_sync.sync = True

    def synced_write(ents: list[Entry]) -> None:
        wb = WriteBatch(raw_mode=True)
        for e in ents:
            wb.put(index_key(e.index), encode_entry(e), handle)
        db.write(wb, wo_sync)

    async def in_thread() -> None:
        for ents in work:
            await anyio.to_thread.run_sync(synced_write, ents)

    async def on_loop() -> None:
        for ents in work:
            synced_write(ents)
            await anyio.sleep(0)

    results: list[Run] = []
    for name, fn in [
        ("write(sync=True) in a worker thread", in_thread),
        ("write(sync=True) on the loop", on_loop),
    ]:
        t0 = time.perf_counter()
        mx, p99, ticks = anyio.run(with_ticker, fn)
        results.append((name, mx, p99, ticks, time.perf_counter() - t0))
    db.close()
    return results


def stall(base: Path, rounds: int, size: int) -> None:
    print(f"== event-loop stall: {rounds} rounds of (16 x {size}-byte entries + fsync) ==")
    work = batches(rounds * 16, 16, size)
    results = synced_write_runs(base / "stall-raw", work)
    with RocksDBStorage(base / "stall-log") as s:

        async def flush_in_thread() -> None:
            for ents in work:
                s.save(entries=ents)
                await anyio.to_thread.run_sync(s.sync)

        t0 = time.perf_counter()
        mx, p99, ticks = anyio.run(with_ticker, flush_in_thread)
        name = "unsynced write + flush_wal(True) in a worker thread"
        results.append((name, mx, p99, ticks, time.perf_counter() - t0))
    for name, mx, p99, ticks, secs in results:
        print(
            f"{name:<52}: max gap {mx:6.1f} ms, p99 {p99:5.1f} ms, "
            f"{ticks} ticks in {secs:.2f} s ({secs / rounds * 1e3:.2f} ms/round)"
        )


def open_and_read(base: Path, n: int, size: int) -> None:
    print("== open (verifying scan) and read ==")
    path = base / "open"
    with RocksDBStorage(path) as s:
        for ents in batches(n, 256, size):
            s.save(entries=ents)
        s.sync()
    t0 = time.perf_counter()
    s = RocksDBStorage(path)
    t_open = time.perf_counter() - t0
    with s:
        t0 = time.perf_counter()
        got = 0
        for lo in range(1, n + 1, 256):
            got += len(s.entries(lo, min(lo + 256, n + 1)))
        t_read = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(1, n + 1):
            s.term(i)
        t_term = time.perf_counter() - t0
    print(f"open with {n} entries: {t_open:.2f} s ({n / t_open:,.0f} entries/s verified)")
    print(f"entries() in chunks of 256: {got / t_read:,.0f} entries/s verified")
    print(f"term(): {t_term / n * 1e9:.0f} ns per call (in-memory)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=200_000, help="entries per throughput run")
    ap.add_argument("--size", type=int, default=100, help="bytes of data per entry")
    ap.add_argument("--rounds", type=int, default=300, help="fsync rounds in the stall test")
    ap.add_argument("--dir", default=None, help="where to put the databases (default: a tmp dir)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="gofish-log-bench-") as tmp:
        base = Path(tmp)
        throughput(base, args.entries, args.size)
        stall(base, args.rounds, args.size)
        open_and_read(base, args.entries, args.size)


if __name__ == "__main__":
    main()
