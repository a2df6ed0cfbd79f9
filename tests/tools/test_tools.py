"""Offline tools (gofish.tools): gofish-replay and gofish-snapshot on data directories built
here by driving a RocksDBStorage and a StateMachine directly, and backup.sh / restore.sh
against a live gofish server."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from procs import gofish_server

from gofish.log.rocksdb import RocksDBStorage
from gofish.node.membership import MemberInfo, encode_member
from gofish.progress import Progress
from gofish.raft import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    encode_conf_change,
)
from gofish.snapshot import (
    checkpoint_path,
    list_checkpoints,
    load_latest,
    write_checkpoint,
)
from gofish.statemachine.entry import (
    FORMAT_VERSION,
    GROUP_VERSION,
    Command,
    encode_batch,
    encode_command,
)
from gofish.statemachine.machine import StateMachine
from gofish.statemachine.registry import CommandTable, load_datatypes
from gofish.tools import replay as replay_tool
from gofish.tools import snapshot as snapshot_tool
from gofish.tools.console import quote, show_argv
from gofish.tools.dump import dump_records

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000_000
PARTS = 8
MEMBERS = {1: encode_member(MemberInfo("127.0.0.1:7001"))}


def _b(*args: object) -> list[bytes]:
    return [a if isinstance(a, bytes) else str(a).encode() for a in args]


def records(sm: StateMachine, partition: int | None = None) -> list[dict[str, Any]]:
    """What a JSON dump of ``sm`` must hold (round-tripped through JSON)."""
    return [json.loads(json.dumps(r)) for r in dump_records(sm, partition)]


class Builder:
    """A data directory made the way a node makes it: log entries appended to RocksDB,
    commands applied to a state machine in log order, checkpoints written in between."""

    def __init__(self, dir: Path, partitions: int = PARTS) -> None:
        self.dir = dir
        self.st = RocksDBStorage(dir / "raft")
        table = CommandTable()
        load_datatypes(table)
        self.sm = StateMachine(table, partitions)
        self.index = 0
        self.term = 1
        self.seq = 0
        self.states: dict[int, list[dict[str, Any]]] = {}
        self.times: dict[int, int] = {}
        self.checkpoints: list[str] = []
        cc = ConfChange(ConfChangeType.ADD_NODE, 1)
        self._append(Entry(1, 1, EntryType.CONF_CHANGE, encode_conf_change(cc)))
        self.term = 2
        self._append(Entry(2, 2))  # the leader's no-op

    def _append(self, e: Entry) -> None:
        self.st.save(entries=[e])
        self.index = e.index
        self.states[e.index] = records(self.sm)

    def cmd(self, *argvs: list[bytes], multi: bool = False) -> Any:
        self.seq += 1
        t = T0 + (self.index + 1) * 1000
        v = GROUP_VERSION if len(argvs) > 1 and not multi else FORMAT_VERSION  # a group
        cmd = Command(v, 77, self.seq, t, self.seq * 31, [list(a) for a in argvs], multi=multi)
        reply = self.sm.apply(cmd)
        self.sm.ks.dirty.clear()
        self.times[self.index + 1] = t
        self._append(Entry(self.term, self.index + 1, EntryType.NORMAL, encode_command(cmd)))
        return reply

    def batch(self, *argvs: list[bytes]) -> None:
        """One batch entry with a request per argv (as the leader writes a loop turn's)."""
        t = T0 + (self.index + 1) * 1000
        cmds = []
        for a in argvs:
            self.seq += 1
            cmds.append(Command(FORMAT_VERSION, 77, self.seq, t, self.seq * 31, [list(a)]))
        for c in cmds:
            self.sm.apply(c)
        self.sm.ks.dirty.clear()
        self.times[self.index + 1] = t
        data = encode_batch([encode_command(c) for c in cmds])
        self._append(Entry(self.term, self.index + 1, EntryType.NORMAL, data))

    def checkpoint(self) -> str:
        m = write_checkpoint(self.dir, self.index, self.term, ConfState((1,)), MEMBERS, self.sm)
        self.checkpoints.append(m.dirname)
        return m.dirname

    def close(self, uncommitted: int = 0) -> None:
        commit = self.index
        for _ in range(uncommitted):  # appended, never committed: never applied
            cmd = Command(FORMAT_VERSION, 77, 10_000, T0, 0, [_b("SET", "uncommitted", "x")])
            self.st.save(entries=[Entry(self.term, self.index + 1, data=encode_command(cmd))])
            self.index += 1
        self.st.save(HardState(self.term, 1, commit), members=MEMBERS,
                      conf_state=ConfState((1,)))
        self.st.sync()
        self.st.close()
        self.index = commit


def build(dir: Path) -> Builder:
    """Entries 1..~28 with checkpoints at two points and one uncommitted entry at the end."""
    b = Builder(dir)
    b.cmd(_b("SET", "a", "1"))
    b.cmd(_b("SET", "b", "hello"))
    b.cmd(_b("HSET", "h", "f1", "v1", "f2", "v2"))
    b.cmd(_b("RPUSH", "l", "x", "y", "z"))
    b.cmd(_b("SADD", "s", "m1", "m2"))
    b.cmd(_b("ZADD", "z", "1", "one", "2", "two", "-inf", "low"))
    b.cmd(_b("SET", b"bin\x00key", b"\x00\xff\x1b[31m"))
    b.cmd(_b("PEXPIREAT", "a", T0 + 10**9))
    b.cmd(_b("INCR", "counter"))
    b.checkpoint()  # first checkpoint
    b.cmd(_b("DEL", "b"))
    b.cmd(_b("SET", "a", "2", "KEEPTTL"))
    b.cmd(_b("HDEL", "h", "f1"))
    b.cmd(_b("LPOP", "l"))
    b.cmd(_b("INCR", "counter"), _b("SET", "c", "3"), multi=True)
    b.cmd(_b("INCR", "counter"), _b("SET", "g", "4"))  # a pipeline group
    b.batch(_b("SET", "x1", "1"), _b("SET", "x2", "2"))  # a batch entry: two requests
    for i in range(6):
        b.cmd(_b("SET", f"k{i}", i))
    b.checkpoint()  # second checkpoint
    b.cmd(_b("SREM", "s", "m1"))
    b.cmd(_b("ZINCRBY", "z", "5", "one"))
    b.cmd(_b("SET", "late", "v"))
    b.close(uncommitted=1)
    return b


@pytest.fixture
def built(tmp_path: Path) -> Builder:
    return build(tmp_path / "node")


def run_main(main: Any, argv: list[str], capsys: pytest.CaptureFixture[str]) -> \
        tuple[int, str, str]:
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def read_dump(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line]


# --- gofish-replay --------------------------------------------------------------------------
def test_dump_equals_the_keyspace(built: Builder, capsys: pytest.CaptureFixture[str],
                                  tmp_path: Path) -> None:
    out = tmp_path / "dump.jsonl"
    rc, _, err = run_main(replay_tool.main, [str(built.dir), "--dump", str(out)], capsys)
    assert rc == 0, err
    dump = read_dump(out.read_text())
    assert dump == records(built.sm)
    by_key = {json.dumps(r["key"]): r for r in dump}
    assert by_key['"a"'] == {"key": "a", "type": "string", "value": "2",
                             "expire_ms": T0 + 10**9}
    assert by_key['"h"']["value"] == {"f2": "v2"}
    assert by_key['"l"']["value"] == ["y", "z"]
    assert by_key['"s"']["value"] == ["m2"]
    assert by_key['"z"']["value"] == [["low", "-inf"], ["two", 2.0], ["one", 6.0]]
    assert by_key['"counter"']["value"] == "3"  # the last INCR came in a pipeline group
    assert by_key['"g"']["value"] == "4"
    assert '"b"' not in by_key and '"uncommitted"' not in by_key
    # text (even with control characters: JSON escapes them) stays text; the rest is base64
    assert by_key[json.dumps("bin\x00key")]["value"] == {"b64": "AP8bWzMxbQ=="}
    assert "started from checkpoint" in err and f"index {built.index}" in err


def test_keys_sorted_by_bytes(built: Builder, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_main(replay_tool.main, [str(built.dir), "--dump", "-"], capsys)
    assert rc == 0
    keys = [r["key"] for r in read_dump(out)]
    raw = [k.encode() if isinstance(k, str) else base64.b64decode(k["b64"]) for k in keys]
    assert raw == sorted(raw) and len(raw) == len(records(built.sm))


@pytest.mark.parametrize("offset", [-1, 0, 2, None])
def test_until_index(built: Builder, capsys: pytest.CaptureFixture[str],
                     offset: int | None) -> None:
    first_cp = int(built.checkpoints[0].split("-")[0])
    n = built.index if offset is None else first_cp + offset
    rc, out, err = run_main(replay_tool.main,
                            [str(built.dir), "--until-index", str(n), "--dump", "-"], capsys)
    assert rc == 0, err
    assert read_dump(out) == built.states[n]
    assert f"state at index {n} term" in err


def test_until_index_past_commit_is_refused(built: Builder,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_main(replay_tool.main,
                          [str(built.dir), "--until-index", str(built.index + 1)], capsys)
    assert rc == 1 and "not committed" in err


def test_until_time(built: Builder, capsys: pytest.CaptureFixture[str]) -> None:
    n = int(built.checkpoints[1].split("-")[0]) + 2
    t = built.times[n] + 500  # between entry n and n+1
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t // 1000)) + f".{t % 1000:03d}Z"
    for spec in (str(t), iso):
        rc, out, err = run_main(replay_tool.main,
                                [str(built.dir), "--until-time", spec, "--dump", "-"], capsys)
        assert rc == 0, err
        assert read_dump(out) == built.states[n]


def test_print_shows_the_entries_safely(built: Builder,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_main(replay_tool.main, [str(built.dir), "--print"], capsys)
    assert rc == 0, err
    lines = out.splitlines()
    assert [int(line.split()[0]) for line in lines] == list(range(1, built.index + 1))
    assert lines[0] == "1 term=1 conf add_node 1"
    assert lines[1] == "2 term=2 noop"
    assert "SET a 1" in lines[2] and "client=0x4d seq=1 time=2023-11-14T22:13:23.000Z" in lines[2]
    assert 'SET "bin\\x00key" "\\x00\\xff\\x1b[31m"' in out
    assert "MULTI [INCR counter; SET c 3]" in out
    assert "PIPELINE [INCR counter; SET g 4]" in out
    assert re.search(r"batch of 2: client=0x4d seq=\d+ .*SET x1 1 \| client=0x4d .*SET x2 2", out)
    assert "\x1b" not in out and "\x00" not in out
    assert "uncommitted" not in out


def test_print_from_and_partition_filter(built: Builder,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    k = built.sm.ks.partition_index(b"counter")
    rc, out, _ = run_main(replay_tool.main, [str(built.dir), "--print", "--from-index", "5",
                                             "--partition", str(k), "--dump", "-"], capsys)
    assert rc == 0
    printed = [line for line in out.splitlines() if not line.startswith("{")]
    assert printed and all(int(line.split()[0]) >= 5 for line in printed)
    assert any("INCR counter" in line for line in printed)
    for line in printed:
        if " cmd " in line and "MULTI" not in line and "PIPELINE" not in line:
            key = line.split("  ", 1)[1].split()[1].strip('"').encode()
            assert built.sm.ks.partition_index(key) == k
    dump = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert dump == records(built.sm, k) and dump
    assert len(dump) < len(records(built.sm))


def test_verify_passes_on_a_sound_directory(built: Builder,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_main(replay_tool.main, [str(built.dir), "--verify"], capsys)
    assert rc == 0, err
    for name in built.checkpoints:
        assert f"checkpoint {name}: equals the state replayed from the log" in err
    assert "verification passed" in err and "PROBLEM" not in err


def _flip_file(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x40
    path.write_bytes(bytes(data))


def test_verify_detects_a_flipped_checkpoint_byte(built: Builder,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    cp = built.dir / "checkpoints" / built.checkpoints[1]
    victim = max(cp.glob("p*.zst"), key=lambda p: p.stat().st_size)
    _flip_file(victim, victim.stat().st_size // 2)
    rc, _, err = run_main(replay_tool.main, [str(built.dir), "--verify"], capsys)
    assert rc == 1
    assert f"PROBLEM  checkpoint {built.checkpoints[1]}: {victim.name}: checksum mismatch" in err
    rc, out, _ = run_main(snapshot_tool.main, ["verify", str(built.dir)], capsys)
    assert rc == 1 and "checksum mismatch" in out
    # the state is still rebuilt, from the older checkpoint
    rc, out, err = run_main(replay_tool.main, [str(built.dir), "--dump", "-"], capsys)
    assert rc == 0 and read_dump(out) == records(built.sm)
    assert f"started from checkpoint {built.checkpoints[0]}" in err


def _damage_log_record(raft: Path, index: int) -> None:
    from rocksdict import Options, Rdict

    cfs = {"log": Options(raw_mode=True), "meta": Options(raw_mode=True)}
    db = Rdict(str(raft), Options(raw_mode=True), column_families=cfs)
    log = db.get_column_family("log")
    key = index.to_bytes(8, "big")
    value = log.get(key)
    assert isinstance(value, bytes)
    log[key] = value[:20] + bytes([value[20] ^ 0x01]) + value[21:]
    log.close()
    del log
    db.close()
    del db


def test_verify_detects_a_flipped_log_entry(built: Builder,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _damage_log_record(built.dir / "raft", built.index - 1)  # committed
    before = {p.name: p.stat().st_mtime_ns for p in (built.dir / "raft").iterdir()}
    rc, _, err = run_main(replay_tool.main, [str(built.dir), "--verify"], capsys)
    assert rc == 1
    assert "damaged at or below its commit index" in err and "checksum mismatch" in err
    assert f"entry {built.index - 1}" in err
    rc, _, err = run_main(replay_tool.main, [str(built.dir)], capsys)
    assert rc == 1 and "checksum mismatch" in err
    after = {p.name: p.stat().st_mtime_ns for p in (built.dir / "raft").iterdir()}
    assert after == before  # nothing written there, and no private copy left behind
    assert sorted(p.name for p in built.dir.iterdir()) == ["checkpoints", "raft"]


def test_verify_reports_a_damaged_tail_above_commit(built: Builder,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _damage_log_record(built.dir / "raft", built.index + 1)  # the uncommitted entry
    rc, _, err = run_main(replay_tool.main, [str(built.dir), "--verify"], capsys)
    assert rc == 1 and "above the commit index are damaged" in err
    with RocksDBStorage(built.dir / "raft") as st:  # the source was not cut by the tool
        assert st.cut_on_open == (built.index + 1, built.index + 1)


def test_verify_detects_a_checkpoint_the_log_does_not_reproduce(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b = Builder(tmp_path / "node")
    b.cmd(_b("SET", "x", "1"))
    b.checkpoint()
    b.cmd(_b("SET", "y", "2"))
    b.sm.ks.partition_of(b"y").data[b"y"] = b"forged"  # a replica that diverged
    b.checkpoint()
    b.cmd(_b("SET", "z", "3"))
    b.close()
    rc, _, err = run_main(replay_tool.main, [str(b.dir), "--verify"], capsys)
    assert rc == 1
    assert f"checkpoint {b.checkpoints[1]}: replaying the log does not reproduce it" in err
    assert 'key "y": checkpoint string "forged", log string "2"' in err


def test_a_running_node_s_log_is_not_opened(built: Builder,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = ("import sys\nfrom gofish.log.rocksdb import RocksDBStorage\n"
            f"st = RocksDBStorage({str(built.dir / 'raft')!r})\n"
            "print('open', flush=True)\nsys.stdin.readline()\nst.close()\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"open\n"
        rc, _, err = run_main(replay_tool.main, [str(built.dir)], capsys)
        assert rc == 1 and "in use by a running gofish node" in err
        rc, _, err = run_main(snapshot_tool.main, ["create", str(built.dir)], capsys)
        assert rc == 1 and "in use by a running gofish node" in err
    finally:
        holder.communicate(b"\n", timeout=30)


def test_module_runs_as_a_script(built: Builder) -> None:
    proc = subprocess.run([sys.executable, "-m", "gofish.tools.replay", str(built.dir),
                           "--until-index", "3", "--dump", "-"], capture_output=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert read_dump(proc.stdout.decode()) == built.states[3]


# --- gofish-snapshot ------------------------------------------------------------------------
def test_snapshot_list_inspect_verify(built: Builder,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_main(snapshot_tool.main, ["list", str(built.dir)], capsys)
    assert rc == 0
    rows = out.splitlines()[1:]
    assert [r.split()[0] for r in rows] == built.checkpoints[::-1]
    newest = list_checkpoints(built.dir)[0]
    assert rows[0].split()[6] == str(newest.keys) and "voters=1" in rows[0]
    rc, out, _ = run_main(snapshot_tool.main, ["list", str(built.dir), "--newest"], capsys)
    assert out.strip() == str(checkpoint_path(built.dir, newest).resolve())
    rc, out, _ = run_main(snapshot_tool.main, ["inspect", str(built.dir), "--json"], capsys)
    info = json.loads(out)
    assert info["name"] == newest.dirname and info["partitions"] == PARTS
    assert sum(p["keys"] for p in info["per_partition"]) == newest.keys
    assert info["types"] == {"hash": 1, "list": 1, "set": 1, "string": 13, "zset": 1}
    assert sum(p["expiring"] for p in info["per_partition"]) == 1
    assert info["members"] == {"1": {"addr": "127.0.0.1:7001", "promote": False}}
    rc, out, _ = run_main(snapshot_tool.main,
                          ["inspect", str(built.dir), built.checkpoints[0].split("-")[0]],
                          capsys)
    assert rc == 0 and f"checkpoint {built.checkpoints[0]}:" in out and "PART" in out
    rc, out, _ = run_main(snapshot_tool.main, ["verify", str(built.dir), "--load"], capsys)
    assert rc == 0 and out.count("every file decodes") == 2
    rc, out, _ = run_main(snapshot_tool.main, ["verify", str(built.dir), "9999"], capsys)
    assert rc == 1 and "no checkpoint 9999" in out


def _machine(partitions: int = PARTS) -> StateMachine:
    table = CommandTable()
    load_datatypes(table)
    return StateMachine(table, partitions)


def test_snapshot_create_at_the_commit_index(built: Builder,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_main(snapshot_tool.main, ["create", str(built.dir)], capsys)
    assert rc == 0, err
    m = list_checkpoints(built.dir)[0]
    assert (m.index, m.term) == (built.index, built.term)
    assert out.strip() == str(checkpoint_path(built.dir, m))
    assert m.voters == (1,) and m.members == MEMBERS
    sm = _machine()
    assert load_latest(built.dir, sm) == m
    assert records(sm) == records(built.sm)
    assert sm.export_state() == built.sm.export_state()


def _check_restored(dest: Path, index: int, term: int, voters: tuple[int, ...],
                    expected: list[dict[str, Any]]) -> None:
    with RocksDBStorage(dest / "raft") as st:
        assert st.first_index() == index + 1 and st.last_index() == index
        md = st.snapshot().metadata
        assert (md.index, md.term, md.conf_state) == (index, term, ConfState(voters))
        assert st.snapshot().data == f"{index}-{term}".encode()
        assert st.hard_state == HardState(term, 0, index)
        assert st.conf_state == ConfState(voters)
        assert st.applied_index() == index
    sm = _machine()
    m = load_latest(dest, sm)
    assert m is not None and (m.index, m.term, m.voters) == (index, term, voters)
    assert records(sm) == expected


def test_restore_round_trip(built: Builder, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "restored"
    rc, _, err = run_main(snapshot_tool.main, ["restore", str(built.dir), str(dest)], capsys)
    assert rc == 0, err
    index, term = (int(x) for x in built.checkpoints[1].split("-"))
    _check_restored(dest, index, term, (1,), built.states[index])
    with RocksDBStorage(dest / "raft") as st:
        assert st.members() == MEMBERS
    # the restored directory replays like any other
    rc, out, _ = run_main(replay_tool.main, [str(dest), "--dump", "-", "--verify"], capsys)
    assert rc == 0 and read_dump(out) == built.states[index]
    # a non-empty destination is refused
    rc, _, err = run_main(snapshot_tool.main, ["restore", str(built.dir), str(dest)], capsys)
    assert rc == 1 and "not empty" in err


def test_restore_from_a_backup_copy_with_new_membership(
        built: Builder, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    backup = tmp_path / "backup-copy"
    shutil.copytree(built.dir / "checkpoints" / built.checkpoints[0], backup)
    rc, out, _ = run_main(snapshot_tool.main, ["verify", str(backup)], capsys)
    assert rc == 0 and "checksums match" in out
    dest = tmp_path / "single"
    rc, _, err = run_main(snapshot_tool.main,
                          ["restore", str(backup), str(dest), "--voters", "5"], capsys)
    assert rc == 0, err
    index, term = (int(x) for x in built.checkpoints[0].split("-"))
    _check_restored(dest, index, term, (5,), built.states[index])
    with RocksDBStorage(dest / "raft") as st:
        assert st.members() == {}  # member 1's record does not belong to the new cluster


def test_point_in_time_restore(built: Builder, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    n = int(built.checkpoints[0].split("-")[0]) + 3
    dest = tmp_path / "pitr"
    rc, _, err = run_main(snapshot_tool.main,
                          ["restore", str(built.dir), str(dest), "--until-index", str(n)], capsys)
    assert rc == 0, err
    _check_restored(dest, n, built.term, (1,), built.states[n])
    t = built.times[n + 2] + 1
    dest2 = tmp_path / "pitr-time"
    rc, _, err = run_main(snapshot_tool.main,
                          ["restore", str(built.dir), str(dest2), "--until-time", str(t)], capsys)
    assert rc == 0, err
    _check_restored(dest2, n + 2, built.term, (1,), built.states[n + 2])


def test_log_without_checkpoints_and_partition_count(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b = Builder(tmp_path / "node", partitions=4)
    b.cmd(_b("SET", "only", "log"))
    b.close()
    rc, out, err = run_main(replay_tool.main,
                            [str(b.dir), "--partitions", "4", "--dump", "-"], capsys)
    assert rc == 0 and read_dump(out) == records(b.sm)
    assert "an empty machine" in err and "4 partitions" in err
    rc, _, err = run_main(replay_tool.main, [str(b.dir), "--partition", "64"], capsys)
    assert rc == 1 and "partitions 0..63" in err


# --- console helpers ------------------------------------------------------------------------
def test_quoting_is_safe() -> None:
    assert quote(b'a"b\\c\n\x1b') == '"a\\"b\\\\c\\n\\x1b"'
    assert show_argv([b"SET", b"key", b"two words"]) == 'SET key "two words"'
    long = show_argv([b"SET", b"k", b"x" * 500])
    assert long.endswith("…(+404 bytes)") and len(long) < 130
    many = show_argv([b"MSET"] + [b"k"] * 100)
    assert many.endswith("…(+77 args)")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal() -> None:
    tty, pipe = _Tty(), io.StringIO()
    for stream in (tty, pipe):
        bar = Progress("replaying", stream)
        bar(5, 10)
        bar(10, 10)
        bar.close()
    assert "replaying [" in tty.getvalue() and "100% 10/10" in tty.getvalue()
    assert pipe.getvalue() == ""


# --- backup.sh / restore.sh against a live server -------------------------------------------
@pytest.fixture
def tool_env() -> dict[str, str]:
    py = sys.executable
    return {**os.environ, "GOFISH_SNAPSHOT": f"{py} -m gofish.tools.snapshot",
            "BACKUP_TIMEOUT": "60"}


def contents(c: Any) -> dict[bytes, Any]:
    """Every key of a live server with its type and value (read per type)."""
    out: dict[bytes, Any] = {}
    for k in c.scan_iter():
        t = c.type(k)
        read = {b"string": c.get, b"hash": c.hgetall, b"list": lambda k: c.lrange(k, 0, -1),
                b"set": c.smembers, b"zset": lambda k: c.zrange(k, 0, -1, withscores=True)}[t]
        out[k] = (t, read(k))
    return out


def test_backup_and_restore_scripts_with_a_live_server(
        tmp_path: Path, tool_env: dict[str, str]) -> None:
    import redis

    data = tmp_path / "live"
    data.mkdir()
    with gofish_server(data_dir=str(data)) as srv:
        c = redis.Redis(host=srv.host, port=srv.port, socket_timeout=10)
        c.set("s", "v")
        c.hset("h", mapping={"f": "1", "g": "2"})
        c.rpush("l", "a", "b")
        c.sadd("set", "x")
        c.zadd("z", {"m": 1.5})
        c.set("exp", "e", px=3_600_000)
        for i in range(200):
            c.set(f"k{i}", i)
        expected = contents(c)
        ttl = c.pttl("exp")
        dest = tmp_path / "backup"
        proc = subprocess.run(["bash", str(ROOT / "tools" / "backup.sh"),
                               f"{srv.host}:{srv.port}", str(dest)], env=tool_env,
                              capture_output=True, timeout=120, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
        c.set("after-backup", "not in it")
        final = contents(c)
        c.close()
    assert (dest / "manifest").is_file() and not Path(f"{dest}.tmp").exists()
    # the node's own data directory (its checkpoint and log), read offline once it stopped:
    # its checkpoint is what replaying its log gives, and the state is the last one
    proc = subprocess.run([sys.executable, "-m", "gofish.tools.replay", str(data), "--verify",
                           "--dump", "-"], capture_output=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"equals the state replayed from the log" in proc.stderr
    dumped = {r["key"] for r in read_dump(proc.stdout.decode())}
    assert dumped == {k.decode() for k in final}
    newdir = tmp_path / "restored"
    proc = subprocess.run(["bash", str(ROOT / "tools" / "restore.sh"), str(dest), str(newdir)],
                          env=tool_env, capture_output=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr.decode()
    with gofish_server(data_dir=str(newdir)) as srv:
        c = redis.Redis(host=srv.host, port=srv.port, socket_timeout=10)
        try:
            assert contents(c) == expected
            assert 0 < c.pttl("exp") <= ttl
            c.set("new", "write")  # the restored node takes writes
            assert c.get("new") == b"write"
        finally:
            c.close()


def test_a_compacted_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """As a node leaves it: the log compacted up to its first checkpoint."""
    b = Builder(tmp_path / "node")
    for i in range(5):
        b.cmd(_b("SET", f"a{i}", i))
    first = b.checkpoint()
    b.cmd(_b("SET", "b", "1"))
    b.cmd(_b("INCR", "b"))
    second = b.checkpoint()
    b.cmd(_b("DEL", "a0"))
    compacted = int(first.split("-")[0])
    b.st.compact(compacted)
    b.close()
    rc, out, err = run_main(replay_tool.main, [str(b.dir), "--dump", "-"], capsys)
    assert rc == 0 and read_dump(out) == records(b.sm)
    assert f"started from checkpoint {second}" in err
    n = compacted + 1
    rc, out, err = run_main(replay_tool.main,
                            [str(b.dir), "--until-index", str(n), "--dump", "-"], capsys)
    assert rc == 0 and read_dump(out) == b.states[n] and f"checkpoint {first}" in err
    rc, _, err = run_main(replay_tool.main, [str(b.dir), "--until-index", "3"], capsys)
    assert rc == 1 and f"the log starts after index {compacted} (compacted)" in err
    rc, _, err = run_main(replay_tool.main,
                          [str(b.dir), "--until-time", str(b.times[3])], capsys)
    assert rc == 1 and "cannot be rebuilt" in err
    rc, _, err = run_main(replay_tool.main, [str(b.dir), "--verify"], capsys)
    assert rc == 0, err
    assert f"checkpoint {second}: equals the state replayed from the log" in err
    assert f"from checkpoint {first} to the commit index" in err
    rc, out, _ = run_main(replay_tool.main, [str(b.dir), "--print"], capsys)
    assert int(out.split()[0]) == compacted + 1
