"""Checkpoints (gofish.snapshot): round trips of every data type, damage detection, the
directory rules (incomplete writes, newest sound wins, pruning) and copy-on-write capture."""

from __future__ import annotations

import importlib.util
import os
import random
import threading
from pathlib import Path
from typing import Any

import pytest

from gofish.raft.types import ConfState
from gofish.reply import ErrorReply
from gofish.snapshot import (
    CheckpointCapture,
    CheckpointError,
    CheckpointWriter,
    CorruptCheckpoint,
    IncompatibleCheckpoint,
    Manifest,
    capture_partition,
    checkpoint_path,
    checkpoints_dir,
    list_checkpoints,
    load_checkpoint,
    load_latest,
    pack_checkpoint,
    partitions_touched,
    prune_checkpoints,
    unpack_checkpoint,
    verify_checkpoint,
    write_checkpoint,
)
from gofish.snapshot import codec as codec_mod
from gofish.snapshot.manifest import (
    MANIFEST_NAME,
    STATE_NAME,
    decode_manifest,
    encode_manifest,
    partition_file,
)
from gofish.statemachine.entry import FORMAT_VERSION, Command
from gofish.statemachine.machine import StateMachine
from gofish.statemachine.registry import CommandTable, load_datatypes


def _example_plugin() -> Any:
    """The example plugin's module, loaded from its file: not through sys.path, where its
    build metadata would make the plugin look installed to every later entry-point lookup
    in this process (tests/node/test_plugin.py checks it is absent)."""
    init = Path(__file__).resolve().parents[1] / "plugin_example" / "gofish_tally" / "__init__.py"
    spec = importlib.util.spec_from_file_location("gofish_tally", init)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gofish_tally = _example_plugin()

T0 = 1_700_000_000_000
CS = ConfState(voters=(1, 2, 3), learners=(4,))
MEMBERS = {1: b"127.0.0.1:7001", 2: b"127.0.0.1:7002"}


BUILTIN = ["generic", "strings", "hashes", "lists", "sets", "zsets"]


def make_table(plugin: bool = True) -> CommandTable:
    """The built-in types, plus the example plugin's ``tally`` type if ``plugin``."""
    table = CommandTable()
    load_datatypes(table, BUILTIN)
    if plugin:
        gofish_tally.register(table)
    return table


TABLE = make_table()


class Driver:
    """Applies entries to a machine as the node does: a client id, a seq, the logged time."""

    def __init__(self, partitions: int = 8, table: CommandTable = TABLE) -> None:
        self.sm = StateMachine(table, partitions)
        self.seqs: dict[int, int] = {}
        self.now = T0

    def apply(self, client: int, *argvs: list[bytes], multi: bool = False) -> Any:
        seq = self.seqs.get(client, 0) + 1
        self.seqs[client] = seq
        self.now += 7
        cmd = Command(FORMAT_VERSION, client, seq, self.now, seq * 7919 + client,
                      [list(a) for a in argvs], multi=multi)
        return self.sm.apply(cmd)


def _b(*args: object) -> list[bytes]:
    return [a if isinstance(a, bytes) else str(a).encode() for a in args]


def random_command(rnd: random.Random, now: int) -> list[bytes]:
    """A random write (or read) over a small key space, so types and keys collide."""
    k = f"k{rnd.randrange(40)}"
    o = f"k{rnd.randrange(40)}"
    m = f"m{rnd.randrange(12)}"
    v = rnd.choice([b"", b"x", b"12", b"-3", b"\x00\xff" * rnd.randrange(1, 40), b"v" * 70])
    choices = [
        _b("SET", k, v), _b("APPEND", k, v), _b("INCR", k), _b("SETRANGE", k, 3, v),
        _b("MSET", k, v, o, b"y"), _b("GETDEL", k),
        _b("HSET", k, m, v), _b("HSET", k, m, 1, "f" + m, v), _b("HDEL", k, m),
        _b("HINCRBY", k, m, 5),
        _b("LPUSH", k, v, m), _b("RPUSH", k, m), _b("LPOP", k), _b("LTRIM", k, 1, -2),
        _b("SADD", k, m, v), _b("SREM", k, m), _b("SPOP", k), _b("SMOVE", k, o, m),
        _b("ZADD", k, rnd.choice(["1.5", "-inf", "inf", "0", "-0", "3e10"]), m),
        _b("ZINCRBY", k, 2, m), _b("ZREM", k, m), _b("ZPOPMIN", k),
        _b("ZUNIONSTORE", o, 2, k, o),
        _b("PEXPIREAT", k, now + rnd.randrange(-50, 5000)), _b("PERSIST", k),
        _b("DEL", k), _b("RENAME", k, o), _b("COPY", k, o), _b("SUNIONSTORE", o, k, o),
        _b("TALLY.ADD", k, m, rnd.randrange(1, 9)),
        _b("GET", k), _b("HGETALL", k),
    ]
    return rnd.choice(choices)


def run_random(d: Driver, rnd: random.Random, n: int) -> list[Any]:
    replies = []
    for _ in range(n):
        client = rnd.randrange(1, 6)
        if rnd.random() < 0.1:
            argvs = [random_command(rnd, d.now) for _ in range(rnd.randrange(1, 4))]
            replies.append(d.apply(client, *argvs, multi=True))
        else:
            replies.append(d.apply(client, random_command(rnd, d.now)))
        if rnd.random() < 0.05 and d.seqs.get(client):  # a retry: answered from the cache
            seq = d.seqs[client]
            cmd = Command(FORMAT_VERSION, client, seq, d.now, 0, [[b"INCR", b"never"]])
            replies.append(d.sm.apply(cmd))
    return replies


def seed_every_type(d: Driver) -> None:
    """One key of every type (with an expiry on some) that random commands never touch."""
    d.apply(9, _b("SET", "t:string", "v"), _b("HSET", "t:hash", "f", "v", "g", "w"),
            _b("RPUSH", "t:list", "a", "b"), _b("SADD", "t:set", "3", "1", "2"),
            _b("ZADD", "t:zset", "2", "b", "1", "a"), _b("TALLY.ADD", "t:tally", "x", 2),
            _b("PEXPIREAT", "t:hash", T0 + 10**9), multi=True)


def assert_same_state(a: StateMachine, b: StateMachine) -> None:
    """Same keys in the same order, same types and dumped values, same expiries, same
    machine-wide state."""
    assert len(a.ks.partitions) == len(b.ks.partitions)
    for pa, pb in zip(a.ks.partitions, b.ks.partitions, strict=True):
        assert list(pa.data) == list(pb.data)
        for key, va in pa.data.items():
            vb = pb.data[key]
            assert type(va) is type(vb)
            spec = a.table.types[type(va)]
            assert spec.dump(va) == spec.dump(vb), key
            assert spec.encoding(va) == spec.encoding(vb), key
        assert pa.expires == pb.expires
    assert a.export_state() == b.export_state()


def fill(d: Driver, seed: int = 1, n: int = 1500) -> None:
    run_random(d, random.Random(seed), n)


# --- round trips ----------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_round_trip_random_commands_then_both_go_on_identically(tmp_path: Path, seed: int) -> None:
    a = Driver()
    seed_every_type(a)
    rnd = random.Random(seed)
    run_random(a, rnd, 1500)
    types_held = {a.sm.table.types[type(v)].name
                  for p in a.sm.ks.partitions for v in p.data.values()}
    assert types_held == {"string", "hash", "list", "set", "zset", "tally"}
    assert a.sm.ks.expires_count() > 0
    assert len(a.sm.sessions) == 6  # clients 1..5 and 9
    m = write_checkpoint(tmp_path, 1500, 2, CS, MEMBERS, a.sm)
    assert m.keys == a.sm.ks.dbsize()
    assert set(m.types) == types_held

    b = Driver()
    load_checkpoint(tmp_path, m, b.sm)
    assert_same_state(a.sm, b.sm)

    # the restored machine continues exactly as the original: same replies, same state
    b.seqs, b.now = dict(a.seqs), a.now
    later = random.Random(seed + 100)
    state = later.getstate()
    ra = run_random(a, later, 800)
    later.setstate(state)
    rb = run_random(b, later, 800)
    assert ra == rb
    assert_same_state(a.sm, b.sm)


def test_round_trip_expiries_orphans_big_values_and_batches(tmp_path: Path) -> None:
    d = Driver(partitions=2)
    ks = d.sm.ks
    ks.begin(T0, 1, applying=True)
    for i in range(codec_mod.BATCH_KEYS * 2 + 17):  # several batches in each partition
        ks.set(b"s%d" % i, b"%d" % i)
        if i % 3 == 0:
            ks.set_expire(b"s%d" % i, T0 + i)
    d.apply(1, _b("HSET", "bighash", *[x for i in range(40_000) for x in (f"f{i}", i)]))
    d.apply(1, _b("RPUSH", "biglist", *range(50_000)))
    d.apply(1, _b("SET", "bigstring", "x" * (3 * codec_mod.BATCH_BYTES)))
    d.apply(1, _b("ZADD", "z", "-0", "neg0", "inf", "top"))
    p = ks.partition_of(b"ghost")
    p.expires[b"ghost"] = T0 + 5  # an expiry without a key (orphan)
    m = write_checkpoint(tmp_path, 7, 1, CS, MEMBERS, d.sm)
    e = Driver(partitions=2)
    load_checkpoint(tmp_path, m, e.sm)
    assert_same_state(d.sm, e.sm)
    assert e.sm.ks.partition_of(b"ghost").expires[b"ghost"] == T0 + 5


def test_progress_counts_every_key(tmp_path: Path) -> None:
    d = Driver()
    fill(d)
    seen: list[tuple[int, int]] = []
    m = write_checkpoint(tmp_path, 1, 1, CS, {}, d.sm, progress=lambda a, b: seen.append((a, b)))
    assert seen[-1] == (m.keys, m.keys)
    assert all(x[0] < y[0] for x, y in zip(seen, seen[1:], strict=False))
    loaded: list[tuple[int, int]] = []
    load_checkpoint(tmp_path, m, Driver().sm, progress=lambda a, b: loaded.append((a, b)))
    assert loaded[-1] == (m.keys, m.keys)


def test_manifest_records_membership_and_files(tmp_path: Path) -> None:
    d = Driver()
    fill(d)
    m = write_checkpoint(tmp_path, 42, 5, CS, MEMBERS, d.sm)
    assert (m.index, m.term, m.voters, m.learners, m.members) == (42, 5, (1, 2, 3), (4,), MEMBERS)
    assert m.partitions == 8
    assert [f.name for f in m.files] == [STATE_NAME] + [partition_file(k) for k in range(8)]
    path = checkpoint_path(tmp_path, m)
    assert path == tmp_path / "checkpoints" / "42-5"
    assert sorted(os.listdir(path)) == sorted([MANIFEST_NAME] + [f.name for f in m.files])
    for f in m.files:
        assert (path / f.name).stat().st_size == f.size
    assert decode_manifest((path / MANIFEST_NAME).read_bytes()) == m
    assert list_checkpoints(tmp_path) == [m]
    assert verify_checkpoint(tmp_path, m) == []


def test_plugin_type_missing_at_load_and_unregistered_type_at_write(tmp_path: Path) -> None:
    d = Driver()
    d.apply(1, _b("TALLY.ADD", "t", "a", 3))
    d.apply(1, _b("SET", "s", "v"))
    m = write_checkpoint(tmp_path, 3, 1, CS, {}, d.sm)
    assert "tally" in m.types
    plain = StateMachine(make_table(plugin=False), 8)
    with pytest.raises(IncompatibleCheckpoint, match="tally"):
        load_checkpoint(tmp_path, m, plain)
    assert plain.ks.dbsize() == 0

    class Alien:
        pass

    d.sm.ks.partition_of(b"alien").data[b"alien"] = Alien()
    with pytest.raises(CheckpointError, match="Alien"):
        write_checkpoint(tmp_path, 4, 1, CS, {}, d.sm)
    with pytest.raises(CheckpointError, match="Alien"):
        capture_partition(d.sm.ks.partition_of(b"alien"), d.sm.table)
    assert [x.index for x in list_checkpoints(tmp_path)] == [3]
    assert [n for n in os.listdir(checkpoints_dir(tmp_path)) if n.startswith(".tmp")] == []


def test_partition_count_must_match(tmp_path: Path) -> None:
    d = Driver(partitions=8)
    fill(d)
    m = write_checkpoint(tmp_path, 1, 1, CS, {}, d.sm)
    with pytest.raises(IncompatibleCheckpoint, match="8 partitions"):
        load_checkpoint(tmp_path, m, Driver(partitions=16).sm)


# --- damage ---------------------------------------------------------------------------------
def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("victim", ["p3.zst", STATE_NAME, MANIFEST_NAME])
def test_corrupt_byte_is_detected_and_state_untouched(tmp_path: Path, victim: str) -> None:
    d = Driver()
    fill(d)
    m = write_checkpoint(tmp_path, 9, 1, CS, {}, d.sm)
    _flip(checkpoint_path(tmp_path, m) / victim, 5)

    problems = verify_checkpoint(tmp_path, m)
    assert problems and all(p.startswith("9-1: ") for p in problems)
    expected = "manifest" if victim == MANIFEST_NAME else f"{victim}: checksum mismatch"
    assert expected in problems[0]
    notes: list[str] = []
    assert list_checkpoints(tmp_path, problems=notes) == []
    assert len(notes) == 1 and notes[0].startswith("9-1:")

    e = Driver()
    e.apply(1, _b("SET", "mine", "keep"))
    before = e.sm.export_state()
    with pytest.raises(CorruptCheckpoint, match="9-1"):
        load_checkpoint(tmp_path, m, e.sm)
    assert e.sm.export_state() == before
    assert e.sm.ks.dbsize() == 1


def test_truncated_or_missing_file_seen_without_deep_verify(tmp_path: Path) -> None:
    d = Driver()
    fill(d)
    m = write_checkpoint(tmp_path, 9, 1, CS, {}, d.sm)
    p = checkpoint_path(tmp_path, m) / "p1.zst"
    p.write_bytes(p.read_bytes()[:-3])
    notes: list[str] = []
    assert list_checkpoints(tmp_path, deep=False, problems=notes) == []
    assert "p1.zst" in notes[0] and "the manifest says" in notes[0]
    p.unlink()
    assert "p1.zst: missing" in verify_checkpoint(tmp_path, m)[0]


def test_sound_checksum_over_bad_content_is_corrupt_and_changes_nothing(tmp_path: Path) -> None:
    d = Driver()
    fill(d)
    with CheckpointWriter(tmp_path, 5, 1, CS, {}, table=TABLE, partitions=8) as w:
        w.add_state({"entries_applied": "not a number"})
        for p in d.sm.ks.partitions:
            w.add_partition(p.index, capture_partition(p, TABLE))
        m = w.finish()
    assert verify_checkpoint(tmp_path, m) == []
    e = Driver()
    e.apply(1, _b("SET", "mine", "keep"))
    with pytest.raises(CorruptCheckpoint, match="entries_applied"):
        load_checkpoint(tmp_path, m, e.sm)
    assert e.sm.ks.dbsize() == 1 and e.sm.entries_applied == 1


def test_manifest_codec_rejects_damage() -> None:
    m = Manifest(index=3, term=2, partitions=4, voters=(1,))
    blob = encode_manifest(m)
    assert decode_manifest(blob) == m
    with pytest.raises(CorruptCheckpoint, match="magic"):
        decode_manifest(b"XXXX" + blob[4:])
    with pytest.raises(CorruptCheckpoint, match="truncated"):
        decode_manifest(blob[:5])
    for i in range(4, len(blob)):
        bad = bytearray(blob)
        bad[i] ^= 1
        with pytest.raises(CheckpointError):
            decode_manifest(bytes(bad))


# --- the directory --------------------------------------------------------------------------
def test_incomplete_checkpoints_are_ignored(tmp_path: Path) -> None:
    d = Driver()
    fill(d)
    good = write_checkpoint(tmp_path, 10, 1, CS, {}, d.sm)
    # a crash in the middle of a write: a .tmp- directory of another process
    w = CheckpointWriter(tmp_path, 20, 1, CS, {}, table=TABLE, partitions=8)
    w.add_state(d.sm.export_state())
    w.add_partition(0, capture_partition(d.sm.ks.partitions[0], TABLE))
    root = checkpoints_dir(tmp_path)
    os.rename(w.path, root / ".tmp-20-1-999999999-abcd")
    # a final name without a manifest (only possible by outside meddling)
    (root / "30-1").mkdir()
    notes: list[str] = []
    assert list_checkpoints(tmp_path, problems=notes) == [good]
    assert any("tmp-20-1" in n and "incomplete" in n for n in notes)
    assert any(n.startswith("30-1: no manifest") for n in notes)
    e = Driver()
    assert load_latest(tmp_path, e.sm) == good
    assert_same_state(d.sm, e.sm)


def test_writer_refuses_to_finish_incomplete_and_abort_cleans_up(tmp_path: Path) -> None:
    d = Driver()
    w = CheckpointWriter(tmp_path, 1, 1, CS, {}, table=TABLE, partitions=8)
    w.add_state(d.sm.export_state())
    with pytest.raises(CheckpointError, match="p0.zst"):
        w.finish()
    with pytest.raises(CheckpointError, match="twice"):
        w.add_state(d.sm.export_state())
    w.abort()
    assert not w.path.exists()
    assert list_checkpoints(tmp_path) == []


def test_newest_sound_checkpoint_wins(tmp_path: Path) -> None:
    d = Driver()
    machines = []
    for i, index in enumerate((10, 20, 30)):
        fill(d, seed=i, n=300)
        write_checkpoint(tmp_path, index, 1 + i, CS, {}, d.sm)
        snap = Driver()
        load_checkpoint(tmp_path, list_checkpoints(tmp_path)[0], snap.sm)
        machines.append(snap.sm)
    assert [m.index for m in list_checkpoints(tmp_path)] == [30, 20, 10]
    _flip(checkpoints_dir(tmp_path) / "30-3" / "p2.zst", 40)
    assert [m.index for m in list_checkpoints(tmp_path, deep=False)] == [30, 20, 10]
    assert [m.index for m in list_checkpoints(tmp_path)] == [20, 10]
    e = Driver()
    m = load_latest(tmp_path, e.sm)
    assert m is not None and m.index == 20
    assert_same_state(machines[1], e.sm)
    # a log compacted past 20 cannot use checkpoint 20 or 10
    assert load_latest(tmp_path, Driver().sm, min_index=25) is None


def test_same_index_twice_keeps_the_sound_one_and_replaces_a_damaged_one(tmp_path: Path) -> None:
    d = Driver()
    fill(d)
    first = write_checkpoint(tmp_path, 5, 1, CS, {}, d.sm)
    again = write_checkpoint(tmp_path, 5, 1, CS, {}, d.sm)
    assert again == first  # kept: same created_ms
    _flip(checkpoint_path(tmp_path, first) / "p0.zst", 9)
    third = write_checkpoint(tmp_path, 5, 1, CS, {}, d.sm)
    assert verify_checkpoint(tmp_path, third) == []
    assert [n for n in os.listdir(checkpoints_dir(tmp_path))] == ["5-1"]


def test_prune_keeps_the_newest_sound_ones(tmp_path: Path) -> None:
    d = Driver()
    fill(d, n=200)
    for index in (10, 20, 30, 40, 50):
        write_checkpoint(tmp_path, index, 1, CS, {}, d.sm)
    root = checkpoints_dir(tmp_path)
    (root / ".tmp-60-1-999999999-abcd").mkdir()  # an interrupted write of a dead process
    _flip(root / "50-1" / "p1.zst", 3)  # newest damaged: kept for inspection
    _flip(root / "20-1" / "p1.zst", 3)  # an old damaged one: deleted
    removed = prune_checkpoints(tmp_path, keep=2)
    assert sorted(removed) == [".tmp-60-1-999999999-abcd", "10-1", "20-1"]
    assert sorted(os.listdir(root)) == ["30-1", "40-1", "50-1"]
    assert [m.index for m in list_checkpoints(tmp_path)] == [40, 30]
    assert prune_checkpoints(tmp_path, keep=2) == []


# --- copy-on-write capture while apply goes on ------------------------------------------
def test_partitions_touched() -> None:
    sm = Driver().sm
    ks = sm.ks

    def cmd(*argvs: list[bytes]) -> Command:
        return Command(FORMAT_VERSION, 1, 1, T0, 0, list(argvs), multi=len(argvs) > 1)

    assert partitions_touched(sm, cmd(_b("SET", "a", 1))) == {ks.partition_index(b"a")}
    assert partitions_touched(sm, cmd(_b("MSET", "a", 1, "b", 2), _b("GET", "c"))) == {
        ks.partition_index(b"a"), ks.partition_index(b"b"), ks.partition_index(b"c")}
    assert partitions_touched(sm, cmd(_b("ZUNIONSTORE", "d", 2, "x", "y"))) == {
        ks.partition_index(k) for k in (b"d", b"x", b"y")}
    assert partitions_touched(sm, cmd(_b("FLUSHALL"))) is None
    assert partitions_touched(sm, cmd(_b("DBSIZE"), _b("NOSUCH", "k"))) == set()


def test_capture_while_applying_gives_the_state_at_the_capture_index(tmp_path: Path) -> None:
    """Two replicas apply the same log; one checkpoints at entry 1500 while it goes on
    applying (capturing partitions lazily, writing them in a thread), the other stops at
    1500. The checkpoint equals the stopped replica."""
    live, stopped = Driver(), Driver()
    rnd_live, rnd_stopped = random.Random(7), random.Random(7)
    run_random(live, rnd_live, 1500)
    run_random(stopped, rnd_stopped, 1500)
    assert_same_state(live.sm, stopped.sm)

    capture = CheckpointCapture(live.sm, 1500)
    writer = CheckpointWriter(tmp_path, 1500, 1, CS, MEMBERS, table=TABLE, partitions=8,
                              expected_keys=capture.expected_keys)
    snaps: list[Any] = []
    cv = threading.Condition()

    def work() -> None:
        writer.add_state(capture.state)
        for _ in range(8):
            with cv:
                cv.wait_for(lambda: bool(snaps))
                snap = snaps.pop(0)
            writer.add_partition(snap.index, snap)

    worker = threading.Thread(target=work)
    worker.start()
    rnd = random.Random(99)
    for i in range(600):  # apply goes on, mutating values in place
        client = rnd.randrange(1, 6)
        argv = random_command(rnd, live.now)
        seq = live.seqs.get(client, 0) + 1
        live.seqs[client] = seq
        live.now += 7
        cmd = Command(FORMAT_VERSION, client, seq, live.now, seq, [argv])
        taken = capture.before_apply(cmd)
        if i % 75 == 0:  # the loop is idle now and then
            nxt = capture.capture_next()
            if nxt is not None:
                taken.append(nxt)
        if taken:
            with cv:
                snaps.extend(taken)
                cv.notify()
        live.sm.apply(cmd)
    while not capture.done:
        with cv:
            snap = capture.capture_next()
            assert snap is not None
            snaps.append(snap)
            cv.notify()
    worker.join(timeout=60)
    assert not worker.is_alive()
    m = writer.finish()
    assert m.keys == capture.expected_keys

    restored = Driver()
    load_checkpoint(tmp_path, m, restored.sm)
    assert_same_state(stopped.sm, restored.sm)
    assert live.sm.export_state() != restored.sm.export_state()  # the live one moved on


def test_capture_copies_mutable_values() -> None:
    d = Driver()
    d.apply(1, _b("RPUSH", "l", "a"))
    d.apply(1, _b("HSET", "h", "f", "1"))
    d.apply(1, _b("SET", "s", "x"))
    snaps = {k: capture_partition(d.sm.ks.partition_of(k), TABLE) for k in (b"l", b"h", b"s")}
    d.apply(1, _b("RPUSH", "l", "b"))
    d.apply(1, _b("HSET", "h", "g", "2"))
    d.apply(1, _b("SET", "s", "y"))
    assert list(snaps[b"l"].data[b"l"]) == [b"a"]
    assert snaps[b"h"].data[b"h"] == {b"f": b"1"}
    assert snaps[b"s"].data[b"s"] == b"x"
    assert d.apply(1, _b("LRANGE", "l", 0, -1)) == [b"a", b"b"]


def test_error_replies_survive_in_the_session_cache(tmp_path: Path) -> None:
    d = Driver()
    d.apply(1, _b("SET", "k", "v"))
    err = d.apply(1, _b("LPUSH", "k", "x"))
    assert isinstance(err, ErrorReply)
    m = write_checkpoint(tmp_path, 2, 1, CS, {}, d.sm)
    e = Driver()
    load_checkpoint(tmp_path, m, e.sm)
    retry = Command(FORMAT_VERSION, 1, 2, d.now, 0, [_b("LPUSH", "k", "x")])
    assert e.sm.apply(retry) == err
    assert e.sm.sessions.duplicates == 1


def test_pack_and_unpack_carry_a_checkpoint_to_another_directory(tmp_path: Path) -> None:
    """What a Raft snapshot install does: the leader packs its checkpoint directory, the
    follower writes it under its own directory, then verifies and loads it."""
    d = Driver()
    fill(d)
    src, dst = tmp_path / "leader", tmp_path / "follower"
    m = write_checkpoint(src, 40, 3, CS, MEMBERS, d.sm)
    data = pack_checkpoint(checkpoint_path(src, m))
    path = unpack_checkpoint(dst, data, 40, 3)
    assert path == checkpoints_dir(dst) / "40-3"
    [got] = list_checkpoints(dst)
    assert got == m and verify_checkpoint(dst, got) == []
    e = Driver()
    load_checkpoint(dst, got, e.sm)
    assert_same_state(d.sm, e.sm)
    # a sound copy is kept; a damaged one is replaced by the leader's
    assert unpack_checkpoint(dst, data, 40, 3) == path
    _flip(path / "p1.zst", 5)
    assert verify_checkpoint(dst, got) != []
    unpack_checkpoint(dst, data, 40, 3)
    assert verify_checkpoint(dst, got) == []
    assert sorted(os.listdir(checkpoints_dir(dst))) == ["40-3"]  # no temporary left


@pytest.mark.parametrize("data", [b"\x00garbage", b"\x81\xa3../\xc4\x01x", b"\x81\xa0\xc4\x01x"])
def test_unpack_refuses_what_is_not_a_packed_checkpoint(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(ValueError):
        unpack_checkpoint(tmp_path, data, 7, 1)
    assert not checkpoints_dir(tmp_path).exists() or not os.listdir(checkpoints_dir(tmp_path))
