"""The RocksDB Raft log: protocol conformance (the same cases against MemoryStorage and
RocksDBStorage), a differential state machine between the two, persistence across reopen,
the record codec, and the group-commit bookkeeping."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from gofish.log import codec
from gofish.log.durability import Durability, SyncFailedError
from gofish.log.memory import MemoryStorage
from gofish.log.rocksdb import CorruptLogError, RocksDBStorage
from gofish.raft.storage import CompactedError, StorageError, UnavailableError
from gofish.raft.types import ConfState, Entry, EntryType, HardState, Snapshot, SnapshotMetadata

Store = MemoryStorage | RocksDBStorage


def E(index: int, term: int, data: bytes = b"") -> Entry:  # noqa: N802
    return Entry(term=term, index=index, data=data)


def snap(index: int, term: int, voters: tuple[int, ...] = (1,), data: bytes = b"") -> Snapshot:
    md = SnapshotMetadata(index=index, term=term, conf_state=ConfState(voters=voters))
    return Snapshot(metadata=md, data=data)


def fill(s: Store, ents: list[Entry]) -> Store:
    """Make ``s`` hold ``ents``, where ents[0] is the compaction point (etcd's dummy entry)."""
    if ents[0].index > 0:
        s.apply_snapshot(snap(ents[0].index, ents[0].term))
    s.append(ents[1:])
    return s


@pytest.fixture(params=["memory", "rocksdb"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    opened: list[RocksDBStorage] = []

    def new() -> Store:
        if request.param == "memory":
            return MemoryStorage()
        s = RocksDBStorage(tmp_path / f"db{len(opened)}")
        opened.append(s)
        return s

    yield new
    for s in opened:
        s.close()


def contents(s: Store) -> list[tuple[int, int]]:
    """(index, term) from the compaction point to the last entry, read both ways."""
    first, last = s.first_index(), s.last_index()
    ents = s.entries(first, last + 1) if last >= first else []
    assert [e.term for e in ents] == [s.term(i) for i in range(first, last + 1)]
    return [(first - 1, s.term(first - 1))] + [(e.index, e.term) for e in ents]


BASE = [E(3, 3), E(4, 4), E(5, 5)]


# --- protocol conformance ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("index", "want"),
    [(2, CompactedError), (3, 3), (4, 4), (5, 5), (6, UnavailableError)],
)
def test_term(make: Callable[[], Store], index: int, want: Any) -> None:
    s = fill(make(), BASE)
    if isinstance(want, int):
        assert s.term(index) == want
    else:
        with pytest.raises(want):
            s.term(index)


ENTS6 = [E(3, 3), E(4, 4, b"a" * 10), E(5, 5, b"b" * 10), E(6, 6, b"c" * 10)]


@pytest.mark.parametrize(
    ("lo", "hi", "max_bytes", "want"),
    [
        (2, 6, None, CompactedError),
        (3, 4, None, CompactedError),
        (4, 5, None, [4]),
        (4, 7, None, [4, 5, 6]),
        (5, 5, None, []),
        (6, 5, None, []),
        (4, 8, None, UnavailableError),
        (7, 8, None, UnavailableError),
        (4, 7, 0, [4]),  # at least one entry, however small the limit
        (4, 7, 26, [4]),  # each entry counts len(data) + 16 = 26
        (4, 7, 51, [4]),
        (4, 7, 52, [4, 5]),
        (4, 7, 77, [4, 5]),
        (4, 7, 78, [4, 5, 6]),
        (4, 7, 10**9, [4, 5, 6]),
        (5, 7, 30, [5]),
    ],
)
def test_entries(
    make: Callable[[], Store], lo: int, hi: int, max_bytes: int | None, want: Any
) -> None:
    s = fill(make(), ENTS6)
    if isinstance(want, list):
        got = s.entries(lo, hi, max_bytes)
        assert [e.index for e in got] == want
        assert got == [e for e in ENTS6 if e.index in want]
    else:
        with pytest.raises(want):
            s.entries(lo, hi, max_bytes)


def test_first_last_index(make: Callable[[], Store]) -> None:
    s = make()
    assert (s.first_index(), s.last_index()) == (1, 0)
    assert s.term(0) == 0
    fill(s, BASE)
    assert (s.first_index(), s.last_index()) == (4, 5)
    s.append([E(6, 5)])
    assert s.last_index() == 6
    s.compact(4)
    assert (s.first_index(), s.last_index()) == (5, 6)


@pytest.mark.parametrize(
    ("index", "want"),
    [
        (2, [(3, 3), (4, 4), (5, 5)]),
        (3, [(3, 3), (4, 4), (5, 5)]),
        (4, [(4, 4), (5, 5)]),
        (5, [(5, 5)]),
        (6, UnavailableError),
    ],
)
def test_compact(make: Callable[[], Store], index: int, want: Any) -> None:
    s = fill(make(), BASE)
    if isinstance(want, list):
        s.compact(index)
        assert contents(s) == want
        with pytest.raises(CompactedError):
            s.entries(want[0][0], s.last_index() + 1)
    else:
        with pytest.raises(want):
            s.compact(index)
        assert contents(s) == [(3, 3), (4, 4), (5, 5)]


@pytest.mark.parametrize(
    ("new", "want"),
    [
        ([E(3, 3), E(4, 4), E(5, 5)], [(3, 3), (4, 4), (5, 5)]),
        ([E(3, 3), E(4, 6), E(5, 6)], [(3, 3), (4, 6), (5, 6)]),
        ([E(3, 3), E(4, 4), E(5, 5), E(6, 5)], [(3, 3), (4, 4), (5, 5), (6, 5)]),
        # entries at or below the compaction point are skipped
        ([E(2, 3), E(3, 3), E(4, 5)], [(3, 3), (4, 5)]),
        ([E(1, 1), E(2, 2)], [(3, 3), (4, 4), (5, 5)]),
        # a conflicting suffix is truncated
        ([E(4, 5)], [(3, 3), (4, 5)]),
        ([E(5, 6)], [(3, 3), (4, 4), (5, 6)]),
        ([E(6, 5)], [(3, 3), (4, 4), (5, 5), (6, 5)]),
        ([], [(3, 3), (4, 4), (5, 5)]),
        ([E(7, 5)], UnavailableError),  # a gap
    ],
)
def test_append(make: Callable[[], Store], new: list[Entry], want: Any) -> None:
    s = fill(make(), BASE)
    if isinstance(want, list):
        s.append(new)
        assert contents(s) == want
    else:
        with pytest.raises(want):
            s.append(new)
        assert contents(s) == [(3, 3), (4, 4), (5, 5)]


def test_append_truncation_removes_data(make: Callable[[], Store]) -> None:
    s = make()
    s.append([E(i, 1, b"old%d" % i) for i in range(1, 11)])
    s.append([E(4, 2, b"new4"), E(5, 2, b"new5")])
    assert s.last_index() == 5
    assert [e.data for e in s.entries(1, 6)] == [b"old1", b"old2", b"old3", b"new4", b"new5"]
    with pytest.raises(UnavailableError):
        s.entries(1, 7)
    s.append([E(6, 2, b"new6")])
    assert s.entries(6, 7) == [E(6, 2, b"new6")]


def test_apply_snapshot(make: Callable[[], Store]) -> None:
    s = make()
    s.append([E(i, 1) for i in range(1, 8)])
    s.apply_snapshot(snap(4, 4, voters=(1, 2, 3), data=b"ref"))
    assert (s.first_index(), s.last_index(), s.term(4)) == (5, 4, 4)
    assert s.snapshot() == snap(4, 4, voters=(1, 2, 3), data=b"ref")
    assert s.initial_state()[1] == ConfState(voters=(1, 2, 3))
    with pytest.raises(CompactedError):
        s.entries(4, 5)
    s.apply_snapshot(snap(3, 3))  # older than the compaction point: ignored
    assert s.snapshot().metadata.index == 4
    s.append([E(5, 4), E(6, 4)])
    assert contents(s) == [(4, 4), (5, 4), (6, 4)]
    s.apply_snapshot(snap(10, 5))
    assert contents(s) == [(10, 5)]


def test_create_snapshot(make: Callable[[], Store]) -> None:
    s = fill(make(), BASE)
    s.set_conf_state(ConfState(voters=(1, 2)))
    got = s.create_snapshot(4, None, b"manifest-4")
    assert got == Snapshot(SnapshotMetadata(4, 4, ConfState(voters=(1, 2))), b"manifest-4")
    assert s.snapshot() == got
    assert s.create_snapshot(3, None, b"x") == got  # not newer: the current one
    with pytest.raises(UnavailableError):
        s.create_snapshot(6, None, b"x")
    got5 = s.create_snapshot(5, ConfState(voters=(7,)), b"m5")
    assert got5.metadata == SnapshotMetadata(5, 5, ConfState(voters=(7,)))
    assert contents(s) == [(3, 3), (4, 4), (5, 5)]  # creating does not compact


def test_hard_and_conf_state(make: Callable[[], Store]) -> None:
    s = make()
    assert s.initial_state() == (HardState(), ConfState())
    s.set_hard_state(HardState(term=3, vote=2, commit=0))
    s.set_conf_state(ConfState(voters=(1, 2, 3), learners=(4,)))
    assert s.initial_state() == (HardState(3, 2, 0), ConfState((1, 2, 3), (4,)))


def test_entry_types_and_data_round_trip(make: Callable[[], Store]) -> None:
    ents = [
        Entry(term=1, index=1),
        Entry(term=1, index=2, type=EntryType.CONF_CHANGE, data=b"\x00\xff" * 100),
        Entry(term=2, index=3, data=bytes(range(256)) * 40),
    ]
    s = make()
    s.append(ents)
    assert s.entries(1, 4) == ents
    assert s.entries(2, 3) == ents[1:2]


# --- differential: MemoryStorage is the model ----------------------------------------------
class Differential(RuleBasedStateMachine):
    """Random writes applied to both implementations; every read must agree, across
    reopens of the RocksDB store."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory(prefix="gofish-log-")
        self.path = Path(self.tmp.name) / "db"
        self.model = MemoryStorage()
        self.real = RocksDBStorage(self.path)
        self.term = 1

    def teardown(self) -> None:
        self.real.close()
        self.tmp.cleanup()

    def both(self, op: Callable[[Store], Any]) -> None:
        outcomes = []
        for s in (self.model, self.real):
            try:
                outcomes.append(("ok", op(s)))
            except StorageError as exc:
                outcomes.append(("err", type(exc)))
        assert outcomes[0] == outcomes[1]

    @rule(back=st.integers(0, 6), n=st.integers(0, 5), bump=st.booleans(), size=st.integers(0, 40))
    def append(self, back: int, n: int, bump: bool, size: int) -> None:
        if bump:
            self.term += 1
        start = max(1, self.model.last_index() + 1 - back)
        ents = [E(i, self.term, bytes([i % 251]) * size) for i in range(start, start + n)]
        self.both(lambda s: s.append(ents))

    @rule(gap=st.integers(2, 3))
    def append_gap(self, gap: int) -> None:
        e = E(self.model.last_index() + gap, self.term)
        self.both(lambda s: s.append([e]))

    @rule(back=st.integers(-1, 8))
    def compact(self, back: int) -> None:
        i = self.model.last_index() - back
        self.both(lambda s: s.compact(i))

    @rule(ahead=st.integers(-3, 5), voters=st.sampled_from([(1,), (1, 2, 3)]))
    def apply_snapshot(self, ahead: int, voters: tuple[int, ...]) -> None:
        self.term += 1
        sn = snap(max(0, self.model.last_index() + ahead), self.term, voters, b"ref")
        self.both(lambda s: s.apply_snapshot(sn))

    @rule(back=st.integers(-1, 4))
    def create_snapshot(self, back: int) -> None:
        i = self.model.last_index() - back
        self.both(lambda s: s.create_snapshot(i, None, b"m%d" % i))

    @rule(commit_back=st.integers(0, 3))
    def hard_state(self, commit_back: int) -> None:
        # commit stays within the log (as Raft guarantees), else reopening must refuse
        commit = max(self.model.first_index() - 1, self.model.last_index() - commit_back)
        hs = HardState(term=self.term, vote=1, commit=commit)
        self.both(lambda s: s.set_hard_state(hs))

    @precondition(lambda self: self.model.hard_state.commit <= self.model.last_index())
    @rule(sync=st.booleans())
    def reopen(self, sync: bool) -> None:
        if sync:
            self.real.sync()
        self.real.close()
        self.real = RocksDBStorage(self.path)
        assert self.real.cut_on_open is None  # a clean history leaves nothing to cut

    @rule(lo=st.integers(-2, 8), n=st.integers(0, 9), max_bytes=st.none() | st.integers(0, 200))
    def read(self, lo: int, n: int, max_bytes: int | None) -> None:
        start = self.model.first_index() + lo
        self.both(lambda s: s.entries(start, start + n, max_bytes))
        self.both(lambda s: s.term(start))

    @invariant()
    def same_state(self) -> None:
        m, r = self.model, self.real
        assert (m.first_index(), m.last_index()) == (r.first_index(), r.last_index())
        assert contents(m) == contents(r)
        assert m.snapshot() == r.snapshot()
        assert m.initial_state() == r.initial_state()


Differential.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestDifferential = Differential.TestCase


# --- RocksDB only: persistence -------------------------------------------------------------
def test_reopen_keeps_everything(tmp_path: Path) -> None:
    with RocksDBStorage(tmp_path) as s:
        s.append([E(i, 1 + i // 5, b"d%d" % i) for i in range(1, 21)])
        s.set_hard_state(HardState(term=5, vote=3, commit=15))
        s.set_conf_state(ConfState(voters=(1, 2, 3), learners=(9,)))
        s.set_applied(12)
        s.create_snapshot(10, None, b"checkpoint-10")
        s.compact(8)
        before = (contents(s), s.snapshot(), s.initial_state(), s.entries(9, 21))
        # no sync: a clean close keeps unsynced writes (the WAL reached the OS)
    with RocksDBStorage(tmp_path) as s:
        assert (contents(s), s.snapshot(), s.initial_state(), s.entries(9, 21)) == before
        assert s.applied_index() == 12
        assert (s.first_index(), s.last_index(), s.term(8)) == (9, 20, 2)
        assert s.cut_on_open is None


def test_reopen_after_snapshot_and_truncation(tmp_path: Path) -> None:
    with RocksDBStorage(tmp_path) as s:
        s.append([E(i, 1) for i in range(1, 30)])
        s.apply_snapshot(snap(40, 3, voters=(1, 2)))
        s.append([E(41, 3), E(42, 3), E(43, 3)])
        s.append([E(42, 4)])
        s.sync()
    with RocksDBStorage(tmp_path) as s:
        assert s.cut_on_open is None  # the truncated 43 is gone, not cut on open
        assert contents(s) == [(40, 3), (41, 3), (42, 4)]
        s.append([E(43, 4), E(44, 4), E(45, 4)])
        s.append([E(44, 4)])  # a same-term overwrite leaves no stale 45 behind
    with RocksDBStorage(tmp_path) as s:
        assert s.cut_on_open is None
        assert contents(s) == [(40, 3), (41, 3), (42, 4), (43, 4), (44, 4)]
        assert s.initial_state()[1] == ConfState(voters=(1, 2))
        assert s.snapshot() == snap(40, 3, voters=(1, 2))


def test_save_writes_one_ready(tmp_path: Path) -> None:
    with RocksDBStorage(tmp_path) as s:
        seq0 = s.written_seq
        seq = s.save(HardState(2, 1, 0), [E(1, 2), E(2, 2)], conf_state=ConfState((1,)), applied=0)
        assert seq == seq0 + 1 == s.written_seq
        assert s.save() == seq  # nothing to write: no new seq
        seq2 = s.save(HardState(3, 1, 2), [E(3, 3)], snap(2, 2, voters=(1, 2)))
        assert seq2 == seq + 1
        # snapshot first, then the entries on top of it
        assert contents(s) == [(2, 2), (3, 3)]
    with RocksDBStorage(tmp_path) as s:
        assert contents(s) == [(2, 2), (3, 3)]
        assert s.initial_state() == (HardState(3, 1, 2), ConfState(voters=(1, 2)))


def test_append_rejects_non_consecutive(tmp_path: Path) -> None:
    with RocksDBStorage(tmp_path) as s:
        with pytest.raises(ValueError, match="not consecutive"):
            s.append([E(1, 1), E(3, 1)])
        assert s.last_index() == 0


def test_closed_storage_refuses(tmp_path: Path) -> None:
    s = RocksDBStorage(tmp_path)
    s.close()
    s.close()  # idempotent
    with pytest.raises(StorageError, match="closed"):
        s.append([E(1, 1)])
    with pytest.raises(StorageError, match="closed"):
        s.sync()


def test_second_open_of_same_directory_fails(tmp_path: Path) -> None:
    with RocksDBStorage(tmp_path), pytest.raises(Exception, match="lock"):
        RocksDBStorage(tmp_path)


def test_large_entries_and_max_bytes(tmp_path: Path) -> None:
    with RocksDBStorage(tmp_path) as s:
        big = [E(i, 1, bytes([i]) * 100_000) for i in range(1, 11)]
        s.append(big)
        assert s.entries(1, 11, max_bytes=250_000) == big[:2]
        assert s.entries(1, 11, max_bytes=1) == big[:1]
        assert s.entries(1, 11) == big
        assert s.statistics().bytes_written > 1_000_000


# --- group commit bookkeeping --------------------------------------------------------------
def test_sync_covers_earlier_writes(tmp_path: Path) -> None:
    with RocksDBStorage(tmp_path) as s:
        assert (s.written_seq, s.synced_seq, s.needs_sync) == (0, 0, False)
        s.append([E(1, 1), E(2, 1)])
        s.set_hard_state(HardState(1, 1, 0))
        assert (s.written_seq, s.synced_seq, s.needs_sync) == (2, 0, True)
        assert s.synced_index == 0
        assert s.sync() == 2
        assert (s.synced_seq, s.needs_sync, s.synced_index) == (2, False, 2)
        s.append([E(3, 1)])
        assert s.synced_index == 2
        st_ = s.statistics()
        assert (st_.syncs, st_.entries_written, st_.written_seq, st_.synced_seq) == (1, 3, 3, 2)


def test_synced_index_drops_on_overwrite_until_synced(tmp_path: Path) -> None:
    with RocksDBStorage(tmp_path) as s:
        s.append([E(i, 1) for i in range(1, 11)])
        s.sync()
        assert s.synced_index == 10
        s.append([E(6, 2)])  # overwrites 6, removes 7..10
        assert s.synced_index == 5
        s.append([E(7, 2), E(8, 2)])
        assert s.synced_index == 5
        s.sync()
        assert s.synced_index == 8
        s.apply_snapshot(snap(20, 3))
        assert s.synced_index == 0  # the durable log is still the old one
        s.sync()
        assert s.synced_index == 20


def test_reopened_store_is_synced(tmp_path: Path) -> None:
    with RocksDBStorage(tmp_path) as s:
        s.append([E(i, 1) for i in range(1, 6)])
    with RocksDBStorage(tmp_path) as s:
        assert (s.synced_index, s.needs_sync) == (5, False)


def test_sync_in_a_worker_thread_while_the_loop_writes(tmp_path: Path) -> None:
    """The driver's pattern: unsynced writes on the loop, flush_wal(True) in a thread."""

    async def main(s: RocksDBStorage) -> list[tuple[int, int]]:
        covered: list[tuple[int, int]] = []
        for batch in range(50):
            base = batch * 20 + 1
            seq = s.save(entries=[E(i, 1, b"x" * 100) for i in range(base, base + 20)])
            got = await anyio.to_thread.run_sync(s.sync)
            assert got >= seq
            covered.append((got, s.synced_index))
        return covered

    with RocksDBStorage(tmp_path) as s:
        covered = anyio.run(main, s)
        assert covered[-1] == (50, 1000)
        assert [c[0] for c in covered] == sorted(c[0] for c in covered)


def test_concurrent_syncs_never_go_backwards(tmp_path: Path) -> None:
    with RocksDBStorage(tmp_path) as s:
        stop = threading.Event()
        errors: list[BaseException] = []

        def syncer() -> None:
            try:
                for _ in range(10_000):
                    if stop.is_set():
                        return
                    before = s.synced_seq
                    s.sync()
                    assert s.synced_seq >= before
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=syncer) for _ in range(2)]
        for t in threads:
            t.start()
        for i in range(1, 2001):
            s.append([E(i, 1, b"y" * 50)])
        stop.set()
        for t in threads:
            t.join()
        assert not errors
        final = s.sync()
        assert final == s.written_seq == 2000
        assert s.synced_index == 2000


class _FailingDB:
    def __init__(self, real: Any) -> None:
        self.real = real

    def flush_wal(self, sync: bool = True) -> None:
        raise OSError(5, "Input/output error")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_failed_sync_poisons_the_store(tmp_path: Path) -> None:
    s = RocksDBStorage(tmp_path)
    real = s._db
    s._db = _FailingDB(real)  # type: ignore[assignment]
    s.append([E(1, 1)])
    with pytest.raises(OSError, match="Input/output"):
        s.sync()
    with pytest.raises(SyncFailedError):
        s.sync()
    with pytest.raises(SyncFailedError):
        s.append([E(2, 1)])
    assert s.synced_seq == 0
    s._db = real
    s.close()


def test_durability_merges_overwrite_records_conservatively() -> None:
    d = Durability(last_index=1000)
    for low in range(100, 300, 2):  # 100 overwrites at rising indexes, none synced
        d.wrote(low, low)
    assert d.synced_index == 99
    assert len(d._lows) <= 64
    p = d.begin()
    d.done(p, 0.001)
    assert d.synced_index == 298
    d.wrote(400, None)
    d.wrote(50, 50)  # a lower overwrite replaces the records above it
    assert d.synced_index == 49
    assert d._lows == [(d.written.seq, 50)]


# --- the record codec ----------------------------------------------------------------------
def test_entry_record_layout() -> None:
    e = Entry(term=7, index=9, type=EntryType.CONF_CHANGE, data=b"abc")
    rec = codec.encode_entry(e)
    assert rec[:14] == bytes([1, 1]) + (7).to_bytes(8, "big") + (3).to_bytes(4, "big")
    assert rec[14:17] == b"abc" and len(rec) == 21
    assert codec.decode_entry(codec.index_key(9), rec) == e
    assert codec.entry_term(codec.index_key(9), rec) == 7


def _flip(b: bytes, at: int) -> bytes:
    return b[:at] + bytes([b[at] ^ 0x01]) + b[at + 1 :]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda r: r[:10], "truncated record: 10 bytes, shorter than"),
        (lambda r: r[:-3], "truncated record: 20 bytes, its header announces 23"),
        (lambda r: r + b"\0", "record too long"),
        (lambda r: _flip(r, 15), "checksum mismatch"),
        (lambda r: _flip(r, 3), "checksum mismatch"),  # the term
        (lambda r: _flip(r, len(r) - 1), "checksum mismatch"),  # the checksum itself
        (lambda r: b"\x02" + r[1:], "unknown record format version 2"),
        (lambda r: b"", "truncated record: 0 bytes"),
    ],
)
def test_entry_record_damage_is_named(damage: Callable[[bytes], bytes], message: str) -> None:
    key = codec.index_key(5)
    rec = codec.encode_entry(Entry(term=2, index=5, data=b"hello"))
    with pytest.raises(codec.CodecError, match=message):
        codec.decode_entry(key, damage(rec))


def test_entry_record_is_bound_to_its_key() -> None:
    rec = codec.encode_entry(Entry(term=2, index=5, data=b"hello"))
    with pytest.raises(codec.CodecError, match="checksum mismatch"):
        codec.decode_entry(codec.index_key(6), rec)


def test_unknown_entry_type_with_valid_checksum() -> None:
    import struct
    import zlib

    key = codec.index_key(1)
    head = struct.pack(">BBQI", 1, 9, 1, 0)
    rec = head + struct.pack(">I", zlib.crc32(head, zlib.crc32(key)))
    with pytest.raises(codec.CodecError, match="unknown entry type 9"):
        codec.decode_entry(key, rec)


def test_meta_records() -> None:
    k = b"hard_state"
    rec = codec.encode_meta(k, HardState(3, 2, 1))
    assert codec.decode_meta(k, rec, HardState) == HardState(3, 2, 1)
    with pytest.raises(codec.CodecError, match="checksum mismatch"):
        codec.decode_meta(k, _flip(rec, 2), HardState)
    with pytest.raises(codec.CodecError, match="checksum mismatch"):
        codec.decode_meta(b"conf_state", rec, HardState)
    with pytest.raises(codec.CodecError, match="truncated"):
        codec.decode_meta(k, rec[:3], HardState)
    with pytest.raises(codec.CodecError, match="undecodable"):
        codec.decode_meta(k, codec.encode_meta(k, "text"), HardState)


def test_keys_sort_by_index() -> None:
    idx = [0, 1, 255, 256, 65_535, 2**32, 2**63]
    assert sorted(codec.index_key(i) for i in idx) == [codec.index_key(i) for i in idx]
    assert all(codec.key_index(codec.index_key(i)) == i for i in idx)
    assert all(codec.index_key(i) < codec.KEY_END for i in (0, codec.MAX_INDEX))
    with pytest.raises(codec.CodecError, match="malformed log key"):
        codec.key_index(b"\x01")


def test_corrupt_meta_record_stops_the_open(tmp_path: Path) -> None:
    from rocksdict import Options, Rdict

    with RocksDBStorage(tmp_path) as s:
        s.set_hard_state(HardState(1, 1, 0))
    cfs = {"log": Options(raw_mode=True), "meta": Options(raw_mode=True)}
    db = Rdict(str(tmp_path), Options(raw_mode=True), column_families=cfs)
    meta = db.get_column_family("meta")
    value = meta.get(b"hard_state")
    assert isinstance(value, bytes)
    meta[b"hard_state"] = _flip(value, 1)
    meta.close()
    del meta
    db.close()
    del db
    with pytest.raises(CorruptLogError, match="meta record 'hard_state': checksum") as ei:
        RocksDBStorage(tmp_path)
    assert ei.value.record == "hard_state" and ei.value.index is None


# --- with the real Raft core ----------------------------------------------------------------
def _drive(node: Any, s: RocksDBStorage, applied: list[bytes]) -> None:
    """A minimal single-node driver: persist (one batch) and sync, apply, advance."""
    from gofish.raft.messages import decode_conf_change

    for _ in range(100):  # bounded; a single node settles in a few Readies
        if not node.has_ready():
            return
        rd = node.ready()
        s.save(rd.hard_state, rd.entries, rd.snapshot)
        if rd.must_sync or s.needs_sync:
            s.sync()
        conf = None
        for e in rd.committed_entries:
            if e.type == EntryType.CONF_CHANGE:
                conf = node.apply_conf_change(decode_conf_change(e.data))
            else:
                applied.append(e.data)
        if rd.committed_entries:
            s.save(conf_state=conf, applied=rd.committed_entries[-1].index)
        node.advance(rd)
    raise AssertionError("the node never settled")


def test_raft_core_runs_on_rocksdb_across_restart(tmp_path: Path) -> None:
    from gofish.raft.config import Config
    from gofish.raft.rawnode import RawNode

    applied: list[bytes] = []
    with RocksDBStorage(tmp_path) as s:
        node = RawNode(Config(id=1, voters=(1,)), s)
        node.campaign()
        _drive(node, s, applied)
        for i in range(10):
            node.propose(b"cmd%d" % i)
            _drive(node, s, applied)
        assert applied[-10:] == [b"cmd%d" % i for i in range(10)]
        commit, term = node.status().commit, node.status().term
        assert s.initial_state()[0].commit == commit == s.last_index()
    with RocksDBStorage(tmp_path) as s:
        node = RawNode(Config(id=1, voters=(1,), applied=s.applied_index()), s)
        assert (node.status().commit, node.status().term) == (commit, term)
        assert s.initial_state()[1] == ConfState(voters=(1,))
        node.campaign()
        _drive(node, s, applied)
        node.propose(b"after")
        _drive(node, s, applied)
        assert applied[-1] == b"after"
        assert node.status().term == term + 1
        assert [e.data for e in s.entries(commit + 1, s.last_index() + 1)] == [b"", b"after"]


def test_member_records_are_saved_with_the_batch_and_survive_reopen(tmp_path: Path) -> None:
    with RocksDBStorage(tmp_path) as s:
        assert s.members() == {}
        s.save(HardState(term=1, commit=0), [E(1, 1, b"x")], members={2: b"a", 3: b"b"})
        s.save(members={2: b"a2"})  # replaces the whole record
        assert s.members() == {2: b"a2"}
        s.sync()
    with RocksDBStorage(tmp_path) as s:
        assert s.members() == {2: b"a2"}
        assert s.last_index() == 1
