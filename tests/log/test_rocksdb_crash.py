"""Crash and corruption behaviour of the RocksDB Raft log.

- A child process writes with the driver's pattern (unsynced batches on one thread,
  ``sync()`` looping on another, reporting ``synced_index`` after each) and is killed with
  SIGKILL mid-stream; the reopened log must hold every entry a completed sync covered,
  intact, and a valid tail.
- Damage written directly with rocksdict into a closed store: beyond the commit index it
  is cut on open; at or below it, opening raises `CorruptLogError`.
"""

from __future__ import annotations

import logging
import random
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rocksdict import Options, Rdict

from gofish.log.codec import encode_entry, index_key
from gofish.log.rocksdb import CorruptLogError, RocksDBStorage
from gofish.raft.types import Entry, HardState

REPO = Path(__file__).resolve().parents[2]

CHILD = r"""
import sys, threading
from gofish.log.rocksdb import RocksDBStorage
from gofish.raft.types import Entry, HardState

def payload(index, term):
    return (b"%d:%d:" % (index, term)).ljust(100, b".")

path, batch = sys.argv[1], int(sys.argv[2])
s = RocksDBStorage(path)
hs = s.initial_state()[0]
term = hs.term + 1
# A new leader's entries overwrite our uncommitted tail (a conflicting append).
start = max(hs.commit + 1, s.last_index() - 5, s.first_index())
print("start", start, term, flush=True)
stop = threading.Event()

def syncer():
    while not stop.is_set():
        s.sync()
        print(s.synced_index, flush=True)

t = threading.Thread(target=syncer, daemon=True)
t.start()
i = start
for n in range(100_000):  # bounded; the parent kills us long before the end
    ents = [Entry(term=term, index=j, data=payload(j, term)) for j in range(i, i + batch)]
    commit = max(hs.commit, min(s.synced_index, i - 1))  # only durable entries commit
    s.save(HardState(term=term, vote=1, commit=commit), ents)
    i += batch
    if n % 64 == 63 and commit - 500 > s.first_index():
        s.compact(commit - 500)
stop.set()
t.join()
print("done", flush=True)
sys.stdin.read()
"""


def payload(index: int, term: int) -> bytes:
    return (b"%d:%d:" % (index, term)).ljust(100, b".")


def run_and_kill(path: Path, batch: int, reports: int) -> tuple[int, int, int]:
    """Run the child until it has reported ``reports`` syncs, SIGKILL it; returns
    (first index it wrote, its term, the highest synced index it reported)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(batch)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        head = proc.stdout.readline().split()
        assert head[0] == "start", head
        start, term = int(head[1]), int(head[2])
        synced = 0
        for seen, line in enumerate(proc.stdout, 1):  # bounded: the child's loop is bounded
            assert line != "done\n", "the child finished before it was killed"
            synced = max(synced, int(line))
            if seen >= reports and synced >= start:
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return start, term, synced


@pytest.mark.parametrize("batch", [1, 16])
def test_killed_writer_keeps_every_synced_entry(tmp_path: Path, batch: int) -> None:
    rng = random.Random(batch)
    path = tmp_path / "db"
    for _round in range(4):
        start, term, synced = run_and_kill(path, batch, reports=rng.randint(10, 80))
        with RocksDBStorage(path) as s:
            hs = s.initial_state()[0]
            first, last = s.first_index(), s.last_index()
            assert last >= synced, f"synced {synced} but the log ends at {last}"
            assert hs.commit <= last
            ents = s.entries(first, last + 1)  # every record verified on the way
            assert [e.index for e in ents] == list(range(first, last + 1))
            for e in ents:
                assert e.data == payload(e.index, e.term)
                if start <= e.index <= synced:
                    assert e.term == term  # this round's entries, not older ones
            assert [e.term for e in ents] == sorted(e.term for e in ents)


# --- damage written directly into a closed store -------------------------------------------
def edit_log(path: Path, fn: Callable[[Rdict], None]) -> None:
    """Run ``fn`` on the raw ``log`` column family of the (closed) store at ``path``."""
    cfs = {"log": Options(raw_mode=True), "meta": Options(raw_mode=True)}
    db = Rdict(str(path), Options(raw_mode=True), column_families=cfs)
    log = db.get_column_family("log")
    try:
        fn(log)
    finally:
        log.close()
        del log
        db.close()
        del db


def record(log: Rdict, index: int) -> bytes:
    value = log.get(index_key(index))
    assert isinstance(value, bytes)
    return value


def flip_byte(index: int, at: int = 20) -> Callable[[Rdict], None]:
    def fn(log: Rdict) -> None:
        v = record(log, index)
        log[index_key(index)] = v[:at] + bytes([v[at] ^ 0x40]) + v[at + 1 :]

    return fn


def tear(index: int, keep: int) -> Callable[[Rdict], None]:
    def fn(log: Rdict) -> None:
        log[index_key(index)] = record(log, index)[:keep]

    return fn


def drop(index: int) -> Callable[[Rdict], None]:
    def fn(log: Rdict) -> None:
        del log[index_key(index)]

    return fn


def put_entry(index: int, e: Entry) -> Callable[[Rdict], None]:
    def fn(log: Rdict) -> None:
        log[index_key(index)] = encode_entry(e)

    return fn


def make_log(path: Path, last: int = 20, commit: int = 10) -> list[Entry]:
    ents = [
        Entry(term=1 + i // 8, index=i, data=payload(i, 1 + i // 8)) for i in range(1, last + 1)
    ]
    with RocksDBStorage(path) as s:
        s.save(HardState(term=3, vote=1, commit=commit), ents)
        s.sync()
    return ents


@pytest.mark.parametrize(
    ("damage", "cut_from", "reason"),
    [
        (flip_byte(15), 15, "checksum mismatch"),
        (flip_byte(11, at=5), 11, "checksum mismatch"),  # in the term: first after commit
        (flip_byte(20, at=len(payload(20, 3)) + 16), 20, "checksum mismatch"),  # the crc
        (tear(20, keep=50), 20, "truncated record: 50 bytes, its header announces 118"),
        (tear(16, keep=7), 16, "truncated record: 7 bytes"),
        (drop(16), 16, "missing (the next record is 17)"),
        (put_entry(18, Entry(term=1, index=18)), 18, "below the previous"),
        (put_entry(18, Entry(term=3, index=17)), 18, "checksum mismatch"),  # wrong key
    ],
)
def test_damage_beyond_commit_is_cut(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[Rdict], None],
    cut_from: int,
    reason: str,
) -> None:
    ents = make_log(tmp_path)
    edit_log(tmp_path, damage)
    with caplog.at_level(logging.WARNING, logger="gofish.log.rocksdb"):
        s = RocksDBStorage(tmp_path)
    with s:
        assert s.last_index() == cut_from - 1
        assert s.cut_on_open == (cut_from, 20)
        assert s.entries(1, cut_from) == ents[: cut_from - 1]
        assert s.initial_state()[0].commit == 10
        s.append([Entry(term=4, index=cut_from, data=b"new")])
    assert f"cutting the log tail, records {cut_from}..20" in caplog.text
    assert reason in caplog.text
    with RocksDBStorage(tmp_path) as s:  # the cut was durable and the log is whole again
        assert s.cut_on_open is None
        assert s.last_index() == cut_from
        assert s.entries(cut_from, cut_from + 1) == [Entry(term=4, index=cut_from, data=b"new")]


@pytest.mark.parametrize(
    ("damage", "index", "reason"),
    [
        (flip_byte(10), 10, "checksum mismatch"),  # exactly at the commit index
        (flip_byte(7), 7, "checksum mismatch"),
        (flip_byte(1, at=1), 1, "checksum mismatch"),  # the entry type byte
        (tear(4, keep=30), 4, "truncated record"),
        (drop(9), 9, "missing (the next record is 10)"),
        (put_entry(5, Entry(term=0, index=5)), 5, "below the previous"),
    ],
)
def test_damage_at_or_below_commit_stops_the_node(
    tmp_path: Path, damage: Callable[[Rdict], None], index: int, reason: str
) -> None:
    make_log(tmp_path)
    edit_log(tmp_path, damage)
    with pytest.raises(CorruptLogError) as ei:
        RocksDBStorage(tmp_path)
    assert ei.value.index == index
    assert reason in ei.value.reason
    assert "commit index 10" in str(ei.value)
    # Nothing was cut: the node stays down until someone repairs or replaces the store.
    with pytest.raises(CorruptLogError):
        RocksDBStorage(tmp_path)


def test_log_ending_below_commit_stops_the_node(tmp_path: Path) -> None:
    make_log(tmp_path, last=20, commit=20)
    edit_log(tmp_path, drop(20))
    with pytest.raises(CorruptLogError, match="the log ends at 19 but the commit index is 20"):
        RocksDBStorage(tmp_path)


def test_damage_after_compaction_point(tmp_path: Path) -> None:
    """The scan starts at the compaction point; stale keys below it are not looked at."""
    make_log(tmp_path)
    with RocksDBStorage(tmp_path) as s:
        s.compact(8)
    edit_log(tmp_path, put_entry(3, Entry(term=9, index=99)))  # garbage below first index
    edit_log(tmp_path, flip_byte(9))
    with pytest.raises(CorruptLogError) as ei:
        RocksDBStorage(tmp_path)
    assert ei.value.index == 9


def test_entries_verifies_every_read(tmp_path: Path) -> None:
    make_log(tmp_path)
    with RocksDBStorage(tmp_path) as s:
        log = s._log  # damage behind the open store's back
        v = record(log, 5)
        log[index_key(5)] = v[:-1] + bytes([v[-1] ^ 1])
        for lo, hi in [(1, 10), (5, 6), (4, 21)]:
            with pytest.raises(CorruptLogError, match="entry 5: checksum mismatch"):
                s.entries(lo, hi)
        assert len(s.entries(1, 5)) == 4
        del log[index_key(7)]
        with pytest.raises(CorruptLogError, match="entry 7: missing"):
            s.entries(6, 9)
        with pytest.raises(CorruptLogError, match="entry 7: missing"):
            s.entries(7, 8)
        log[index_key(8)] = encode_entry(Entry(term=2, index=8))
        log[index_key(6)] = encode_entry(Entry(term=9, index=6))
        with pytest.raises(CorruptLogError, match="entry 6: term 9 on disk, 1 in the index"):
            s.entries(6, 7)
        assert s.entries(8, 9) == [Entry(term=2, index=8)]
        del log
