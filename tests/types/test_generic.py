"""Generic key commands: gofish compared with a real Redis 7.0 server, command by command.

Scripts run on gofish (each side in ``SIDES``: the in-process `sm_harness.Engine`, and the live
server once it answers) and on conftest's reference ``redis-server``; the replies must match
(TTL-like replies within a second). Expiry arithmetic, SCAN's partition cursor,
cross-partition RENAME/COPY and ``gofish.expire`` are tested on the engine alone with a fixed
clock.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import hiredis
import pytest
from sm_harness import Engine

from gofish.reply import ErrorReply, Map, Status
from gofish.statemachine.entry import FORMAT_VERSION, Command
from gofish.statemachine.machine import StateMachine
from gofish.statemachine.registry import CommandTable, TypeSpec, load_datatypes

T0 = 1_800_000_000_000  # a fixed clock (ms) for engine-only tests


# --- the two sides of every comparison (same helper in test_strings.py / test_generic.py) ---
# "engine" runs commands through `sm_harness.Engine` (the dispatcher's path without sockets);
# add "gofish" once the live server answers: the same scripts then run through a socket
# against the gofish process of conftest's ``gofish`` fixture.
SIDES = ["engine", "gofish"]


class RespClient:
    """A minimal synchronous RESP client (hiredis parser)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = hiredis.Reader()

    def run(self, *args: bytes | str | int) -> Any:
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        out = [b"*%d\r\n" % len(argv)]
        for a in argv:
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        while True:
            reply = self.reader.gets()
            if reply is not False:
                return normalize(reply)
            data = self.sock.recv(1 << 16)
            if not data:
                raise ConnectionError("the server closed the connection")
            self.reader.feed(data)

    def close(self) -> None:
        self.sock.close()


def normalize(reply: Any) -> Any:
    """One shape for both sides: errors as ("error", bytes), maps flattened, statuses bytes."""
    if isinstance(reply, hiredis.ReplyError):
        return ("error", str(reply).encode())
    if isinstance(reply, ErrorReply):
        return ("error", bytes(reply))
    if isinstance(reply, Map):
        flat: list[Any] = []
        for k, v in reply:
            flat += [normalize(k), normalize(v)]
        return flat
    if isinstance(reply, list | tuple):
        return [normalize(x) for x in reply]
    if isinstance(reply, Status):
        return bytes(reply)
    return reply


class FakeList(list[bytes]):
    """A non-string value for the engine side (registered under a test-only type name)."""


def make_engine(clock_ms: int | None = None, partitions: int = 8) -> Engine:
    e = Engine(partitions=partitions, clock_ms=clock_ms)
    e.table.add_type(TypeSpec("testtype", FakeList, lambda v: "testenc", FakeList, list,
                              FakeList))
    return e


class Pair:
    """Runs each command on gofish and on a real Redis 7.0 and asserts identical replies."""

    TIME_CMDS = {b"TTL": 1, b"PTTL": 1000, b"EXPIRETIME": 1, b"PEXPIRETIME": 1000}

    def __init__(self, ref: RespClient, live: RespClient | None) -> None:
        self.ref = ref
        self.live = live
        ref.run("FLUSHALL")
        if live is not None:
            live.run("FLUSHALL")
        self.e = make_engine()

    def ours(self, *args: bytes | str | int) -> Any:
        if self.live is not None:
            return self.live.run(*args)
        reply = normalize(self.e.run(*args))
        return b"list" if reply == b"testtype" else reply  # our stand-in for a list

    def wrongtype(self, key: str | bytes) -> None:
        """Make ``key`` hold a non-string on both sides (a list, or a stand-in for one)."""
        for side in (self.ref, self.live):
            if side is not None:
                side.run("DEL", key)
                side.run("RPUSH", key, "x")
        if self.live is None:
            self.e.sm.ks.set(key.encode() if isinstance(key, str) else key, FakeList([b"x"]))

    def __call__(self, *args: bytes | str | int, sort: bool = False) -> Any:
        ours = self.ours(*args)
        theirs = self.ref.run(*args)
        if sort:
            ours, theirs = sorted(ours), sorted(theirs)
        name = (args[0].encode() if isinstance(args[0], str) else bytes(args[0])).upper()
        tol = self.TIME_CMDS.get(name)
        if tol is not None and isinstance(ours, int) and isinstance(theirs, int) and ours > 0:
            assert abs(ours - theirs) <= tol, (args, ours, theirs)
        else:
            assert ours == theirs, (args, ours, theirs)
        return ours


@pytest.fixture(params=SIDES)
def pair(request: pytest.FixtureRequest, redis_ref: Any) -> Iterator[Pair]:
    ref = RespClient(redis_ref.port)
    live = RespClient(request.getfixturevalue("gofish").port) if request.param == "gofish" else None
    yield Pair(ref, live)
    ref.close()
    if live is not None:
        live.close()


# --- DEL UNLINK EXISTS TOUCH TYPE ------------------------------------------------------------
@pytest.mark.parametrize("cmd", ["DEL", "UNLINK"])
def test_del_unlink(pair: Pair, cmd: str) -> None:
    pair("MSET", "a", "1", "b", "2", "c", "3")
    pair.wrongtype("l")
    assert pair(cmd, "a", "missing", "a", "l") == 2
    pair("EXISTS", "a", "b", "c", "l")
    pair(cmd, "b", "c")
    pair(cmd, "b")
    pair("DBSIZE")
    pair(cmd)


def test_exists_touch_type(pair: Pair) -> None:
    pair("SET", "a", "1")
    pair.wrongtype("l")
    for cmd in ("EXISTS", "TOUCH"):
        pair(cmd, "a")
        pair(cmd, "a", "a", "a")
        pair(cmd, "a", "nope", "l")
        pair(cmd)
    pair("TYPE", "a")
    pair("TYPE", "l")
    pair("TYPE", "nope")
    pair("TYPE")
    pair("TYPE", "a", "b")


# --- EXPIRE family ---------------------------------------------------------------------------
EXPIRE_OPTION_SETS: list[list[str]] = [
    [], ["NX"], ["XX"], ["GT"], ["LT"], ["nx"], ["XX", "GT"], ["XX", "LT"], ["GT", "XX"],
    ["NX", "XX"], ["NX", "GT"], ["LT", "NX"], ["GT", "LT"], ["FOO"], ["NX", "FOO"],
    ["XX", "XX"], ["GT", "GT"],
]
EXPIRE_ARGS = [
    ("EXPIRE", "50"), ("EXPIRE", "200"), ("PEXPIRE", "150000"),
    ("EXPIREAT", "4000000000"), ("PEXPIREAT", "4000000000000"), ("EXPIRE", "0"),
    ("EXPIRE", "-5"), ("EXPIREAT", "1"), ("PEXPIREAT", "0"), ("PEXPIRE", "-1"),
]


@pytest.mark.parametrize("start", ["missing", "persistent", "ttl100"])
def test_expire_options_match_redis(pair: Pair, start: str) -> None:
    for opts in EXPIRE_OPTION_SETS:
        for cmd, when in EXPIRE_ARGS:
            pair("DEL", "k")
            if start == "persistent":
                pair("SET", "k", "v")
            elif start == "ttl100":
                pair("SET", "k", "v", "EX", "100")
            pair(cmd, "k", when, *opts)
            pair("EXISTS", "k")
            pair("TTL", "k")


@pytest.mark.parametrize("cmd", ["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"])
def test_expire_argument_errors(pair: Pair, cmd: str) -> None:
    pair("SET", "k", "v")
    for when in ["abc", "1.5", "", " 1", "9223372036854775807", "-9223372036854775808",
                 "9223372036854775", "9223372036854776", "-9223372036854775",
                 "-9223372036854776", "9223372036854775808"]:
        pair("SET", "k", "v")
        pair(cmd, "k", when)
        pair("EXISTS", "k")
        pair(cmd, "missing", when)
    pair(cmd, "k")
    pair(cmd, "missing", "abc", "FOO")  # option errors come before the number
    pair(cmd, "k", "100", "NX", "XX")
    pair(cmd, "k", "100", "a\r\nb")  # newlines in the echoed option become spaces


def test_ttl_family_and_persist(pair: Pair) -> None:
    for cmd in ("TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"):
        pair(cmd, "missing")
        pair("SET", "p", "v")
        pair(cmd, "p")
    pair("SET", "t", "v", "EXAT", "4000000000")
    pair("EXPIRETIME", "t")
    pair("PEXPIRETIME", "t")
    pair("PEXPIREAT", "t", "4000000000499")
    pair("EXPIRETIME", "t")  # rounds to the nearest second, as Redis
    pair("PEXPIREAT", "t", "4000000000500")
    pair("EXPIRETIME", "t")
    pair("PERSIST", "t")
    pair("PERSIST", "t")
    pair("PERSIST", "missing")
    pair("TTL", "t")
    pair.wrongtype("l")
    pair("EXPIRE", "l", "100")
    pair("TTL", "l")
    pair("PERSIST", "l")
    pair("TTL", "l")
    pair("TTL")
    pair("PERSIST")


def test_expire_arithmetic_on_the_entry_clock() -> None:
    e = make_engine(clock_ms=T0)
    e.run("SET", "k", "v")
    assert e.run("EXPIRE", "k", 10) == 1
    assert e.run("PEXPIRETIME", "k") == T0 + 10_000
    assert e.run("PEXPIRE", "k", 1499) == 1
    assert e.run("TTL", "k") == 1  # (1499 + 500) // 1000
    assert e.run("PEXPIRE", "k", 1500) == 1
    assert e.run("TTL", "k") == 2
    assert e.run("EXPIREAT", "k", T0 // 1000 + 60) == 1
    assert e.run("PTTL", "k") == 60_000
    assert e.run("EXPIRETIME", "k") == T0 // 1000 + 60
    # GT / LT against the current expiry
    assert e.run("PEXPIREAT", "k", T0 + 60_000, "GT") == 0  # equal is not greater
    assert e.run("PEXPIREAT", "k", T0 + 60_001, "GT") == 1
    assert e.run("PEXPIREAT", "k", T0 + 60_001, "LT") == 0
    assert e.run("PEXPIREAT", "k", T0 + 30_000, "LT") == 1
    assert e.run("PEXPIRETIME", "k") == T0 + 30_000
    assert e.run("EXPIRE", "k", 100, "NX") == 0
    assert e.run("PERSIST", "k") == 1
    assert e.run("EXPIRE", "k", 100, "XX") == 0
    assert e.run("EXPIRE", "k", 100, "GT") == 0  # no expiry counts as infinite
    assert e.run("EXPIRE", "k", 100, "LT") == 1
    assert e.run("EXPIRE", "k", 50, "NX") == 0
    # a time at or before now deletes the key and replies 1
    assert e.run("PEXPIREAT", "k", T0) == 1
    assert e.run("EXISTS", "k") == 0
    e.run("SET", "k", "v")
    assert e.run("PEXPIREAT", "k", T0 + 1) == 1
    assert e.run("EXISTS", "k") == 1
    e.clock_ms = T0 + 1
    assert e.run("EXISTS", "k") == 1  # expired only when now > at
    e.clock_ms = T0 + 2
    assert e.run("EXISTS", "k") == 0
    assert e.run("TTL", "k") == -2


def test_expire_overflow_depends_on_the_entry_clock() -> None:
    e = make_engine(clock_ms=T0)
    e.run("SET", "k", "v")
    limit = (1 << 63) - 1 - T0
    assert e.run("PEXPIRE", "k", limit) == 1
    assert e.run("PEXPIRE", "k", limit + 1) == ErrorReply(
        b"ERR invalid expire time in 'pexpire' command")
    assert e.run("PEXPIREAT", "k", (1 << 63) - 1) == 1
    assert e.run("expire", "k", 9223372036854775808) == ErrorReply(
        b"ERR value is not an integer or out of range")


def test_relative_expiry_is_identical_on_every_node() -> None:
    """EXPIRE's absolute time comes from the entry, not from the applying node's clock."""
    def build() -> StateMachine:
        table = CommandTable()
        load_datatypes(table)
        return StateMachine(table, 4)

    a, b = build(), build()
    for sm in (a, b):
        sm.apply(Command(FORMAT_VERSION, 1, 1, T0, 1, [[b"SET", b"k", b"v"]]))
        sm.apply(Command(FORMAT_VERSION, 1, 2, T0 + 5, 2, [[b"EXPIRE", b"k", b"30"]]))
        sm.apply(Command(FORMAT_VERSION, 1, 3, T0 + 9, 3, [[b"COPY", b"k", b"c"]]))
    for sm in (a, b):
        assert sm.ks.partition_of(b"k").expires[b"k"] == T0 + 5 + 30_000
        assert sm.ks.partition_of(b"c").expires[b"c"] == T0 + 5 + 30_000


# --- gofish.expire ---------------------------------------------------------------------------
def test_internal_expire_deletes_only_keys_expired_at_the_entry_time() -> None:
    e = make_engine(clock_ms=T0)
    e.run("SET", "gone", "v", "PX", 100)
    e.run("SET", "later", "v", "PX", 10_000)
    e.run("SET", "forever", "v")
    e.run("SET", "extended", "v", "PX", 100)
    e.clock_ms = T0 + 50
    e.run("PEXPIRE", "extended", 10_000)  # extended after the leader looked
    ks = e.sm.ks
    assert ks.dbsize() == 4
    e.clock_ms = T0 + 101
    ks.dirty.clear()
    reply = e.run("gofish.expire", "gone", "later", "forever", "extended", "missing")
    assert reply == 1
    assert ks.dbsize() == 3
    assert ks.dirty == [b"gone"]
    assert e.run("gofish.expire", "gone") == 0
    spec = e.table.lookup(b"gofish.expire")
    assert spec is not None and {"write", "internal"} <= spec.flags
    assert spec.keys([b"gofish.expire", b"a", b"b"]) == [b"a", b"b"]


def test_reads_hide_expired_keys_and_never_delete_them() -> None:
    e = make_engine(clock_ms=T0)
    e.run("SET", "k", "v", "PX", 10)
    e.run("SET", "other", "v")
    e.clock_ms = T0 + 11
    assert e.run("EXISTS", "k") == 0
    assert e.run("KEYS", "*") == [b"other"]
    assert e.run("SCAN", 0, "COUNT", 1000) == [b"0", [b"other"]]
    assert e.run("RANDOMKEY") == b"other"
    assert e.run("DBSIZE") == 2  # Redis's DBSIZE also counts keys not yet expired by the log
    assert e.run("TYPE", "k") == Status(b"none")
    assert e.run("DEL", "k") == 0  # the write removes it, but it did not exist for the client
    assert e.run("DBSIZE") == 1


# --- RENAME RENAMENX -------------------------------------------------------------------------
@pytest.mark.parametrize("cmd", ["RENAME", "RENAMENX"])
def test_rename(pair: Pair, cmd: str) -> None:
    pair(cmd, "missing", "x")
    pair(cmd, "missing", "missing")
    pair("SET", "a", "1")
    pair(cmd, "a", "a")
    pair("GET", "a")
    pair(cmd, "a", "b")
    pair("MGET", "a", "b")
    pair("SET", "c", "3", "EX", "100")
    pair(cmd, "c", "d")
    pair("TTL", "d")  # the TTL moves with the key
    pair("SET", "e", "5")
    pair(cmd, "e", "d")  # onto a key with a TTL: the TTL does not survive (RENAME)
    pair("TTL", "d")
    pair("GET", "d")
    pair.wrongtype("l")
    pair(cmd, "l", "m")
    pair("TYPE", "m")
    pair("SET", "n", "x")
    pair(cmd, "n", "m")
    pair("TYPE", "m")
    pair(cmd, "a")


def test_rename_across_partitions_keeps_value_and_ttl() -> None:
    e = make_engine(clock_ms=T0, partitions=16)
    ks = e.sm.ks
    src = b"src"
    dst = next(b"dst%d" % i for i in range(1000)
               if ks.partition_index(b"dst%d" % i) != ks.partition_index(src))
    e.run("SET", src, "v", "PX", 5000)
    assert e.run("RENAME", src, dst) == b"OK"
    assert src not in ks.partition_of(src).data
    assert ks.partition_of(dst).data[dst] == b"v"
    assert ks.partition_of(dst).expires[dst] == T0 + 5000
    assert src not in ks.partition_of(src).expires
    assert e.run("RENAMENX", dst, src) == 1
    assert e.run("PEXPIRETIME", src) == T0 + 5000


# --- COPY ------------------------------------------------------------------------------------
def test_copy(pair: Pair) -> None:
    pair("COPY", "missing", "x")
    pair("SET", "a", "1", "EX", "100")
    pair("COPY", "a", "b")
    pair("TTL", "b")  # the TTL is copied
    pair("GET", "b")
    pair("SET", "c", "3")
    pair("COPY", "c", "b")
    pair("COPY", "c", "b", "REPLACE")
    pair("TTL", "b")
    pair("GET", "b")
    pair("COPY", "c", "b", "DB", "0", "REPLACE")
    pair("COPY", "c", "z", "db", "0")
    pair.wrongtype("l")
    pair("COPY", "l", "l2")
    pair("TYPE", "l2")
    for opts in (["DB", "-1"], ["DB", "16"], ["DB", "x"], ["DB", "1.5"],
                 ["DB", "99999999999"], ["DB"], ["FOO"], ["REPLACE", "FOO"], ["REPLACE", "DB"]):
        pair("COPY", "c", "new", *opts)
        pair("COPY", "missing", "new", *opts)
    pair("COPY", "c", "c")
    pair("COPY", "missing", "missing")
    pair("COPY", "c", "c", "DB", "0")
    pair("EXISTS", "new")
    pair("COPY", "c")


def test_copy_only_database_zero_exists() -> None:
    e = make_engine()
    e.run("SET", "a", "1")
    out_of_range = ErrorReply(b"ERR DB index is out of range")
    for db in ("1", "15", "-1", "2147483647"):
        assert e.run("COPY", "a", "b", "DB", db) == out_of_range
        assert e.run("COPY", "missing", "b", "DB", db) == out_of_range
    assert e.run("COPY", "a", "a", "DB", "5") == out_of_range  # Redis: copies to db 5
    assert e.run("COPY", "a", "b", "DB", "0") == 1
    assert e.run("COPY", "a", "b", "DB", "2147483648") == ErrorReply(
        b"ERR value is out of range, value must between -2147483648 and 2147483647")


def test_copy_is_deep_and_crosses_partitions() -> None:
    e = make_engine(clock_ms=T0, partitions=16)
    ks = e.sm.ks
    ks.set(b"src", FakeList([b"a"]))
    ks.set_expire(b"src", T0 + 999)
    dst = next(b"d%d" % i for i in range(1000)
               if ks.partition_index(b"d%d" % i) != ks.partition_index(b"src"))
    assert e.run("COPY", "src", dst) == 1
    copied = ks.get(dst)
    assert copied == [b"a"] and copied is not ks.get(b"src") and type(copied) is FakeList
    copied.append(b"b")
    assert ks.get(b"src") == [b"a"]
    assert ks.partition_of(dst).expires[dst] == T0 + 999


# --- KEYS SCAN RANDOMKEY DBSIZE FLUSH ---------------------------------------------------------
def test_keys(pair: Pair) -> None:
    pair("MSET", "hello", "1", "hallo", "2", "hxllo", "3", "hllo", "4", "heeeello", "5",
         "a*b", "6", "a?b", "7", "foo:{tag}:1", "8")
    pair.wrongtype("h-list")
    for pattern in ["*", "h?llo", "h*llo", "h[ae]llo", "h[^e]llo", "h[a-b]llo", "a\\*b",
                    "a?b", "*{tag}*", "nomatch", "", "h*", "[", "*o"]:
        pair("KEYS", pattern, sort=True)
    pair("KEYS")


def test_scan_errors(pair: Pair) -> None:
    pair("SET", "a", "1")
    for args in (["abc"], ["0", "COUNT", "0"], ["0", "COUNT", "abc"], ["0", "COUNT", "-1"],
                 ["0", "TYPE"], ["0", "MATCH"], ["0", "FOO", "bar"], ["18446744073709551616"],
                 ["1.5"]):
        pair("SCAN", *args)
    pair("SCAN")


def test_scan_returns_every_key_once_by_partitions() -> None:
    e = make_engine(partitions=16)
    keys = {b"key:%d" % i for i in range(300)}
    for k in keys:
        e.sm.ks.set(k, b"v")
    seen: list[bytes] = []
    cursor = b"0"
    calls = 0
    while True:
        calls += 1
        assert calls <= 17  # bounded: at least one partition per call
        reply = e.run("SCAN", cursor, "COUNT", 5)
        assert isinstance(reply, list)
        cursor, batch = reply
        assert len(batch) >= 5 or cursor == b"0"  # whole partitions until COUNT is reached
        seen += batch
        if cursor == b"0":
            break
    assert sorted(seen) == sorted(keys)
    one = e.run("SCAN", 0, "COUNT", 1000)
    assert isinstance(one, list) and one[0] == b"0" and sorted(one[1]) == sorted(keys)
    assert e.run("SCAN", 16) == [b"0", []]
    assert e.run("SCAN", 10**15) == [b"0", []]


def test_scan_cursor_is_the_next_partition() -> None:
    e = make_engine(partitions=8)
    ks = e.sm.ks
    by_part: dict[int, list[bytes]] = {}
    for i in range(64):
        k = b"k%d" % i
        ks.set(k, b"v")
        by_part.setdefault(ks.partition_index(k), []).append(k)
    for start in range(8):
        expected: list[bytes] = []
        index = start
        while index < 8 and not expected:  # empty partitions are skipped over
            expected += by_part.get(index, [])
            index += 1
        cursor = b"%d" % (index if index < 8 else 0)
        assert e.run("SCAN", start, "COUNT", 1) == [cursor, expected]


def test_scan_keys_present_throughout_are_returned_despite_changes() -> None:
    e = make_engine(partitions=8)
    stable = [b"s%d" % i for i in range(50)]
    for k in stable:
        e.run("SET", k, "v")
    seen: set[bytes] = set()
    cursor = b"0"
    for step in range(100):  # bounded
        reply = e.run("SCAN", cursor, "COUNT", 3)
        assert isinstance(reply, list)
        cursor, batch = reply
        seen.update(batch)
        e.run("SET", b"new%d" % step, "v")  # keys added meanwhile may or may not show up
        e.run("DEL", b"new%d" % (step - 1))
        if cursor == b"0":
            break
    assert set(stable) <= seen


def test_scan_match_and_type() -> None:
    e = make_engine(partitions=4)
    e.run("MSET", "user:1", "a", "user:2", "b", "item:1", "c")
    e.sm.ks.set(b"user:list", FakeList([b"x"]))
    def full(*opts: str) -> list[bytes]:
        reply = e.run("SCAN", 0, "COUNT", 100, *opts)
        assert isinstance(reply, list) and reply[0] == b"0"
        return sorted(reply[1])
    assert full("MATCH", "user:*") == [b"user:1", b"user:2", b"user:list"]
    assert full("TYPE", "string") == [b"item:1", b"user:1", b"user:2"]
    assert full("TYPE", "STRING", "MATCH", "user:?") == [b"user:1", b"user:2"]
    assert full("TYPE", "testtype") == [b"user:list"]
    assert full("TYPE", "hash") == []
    assert full("MATCH", "nomatch") == []


def test_randomkey_dbsize_flush(pair: Pair) -> None:
    pair("RANDOMKEY")
    pair("DBSIZE")
    pair("SET", "only", "1")
    pair("RANDOMKEY")
    pair("MSET", "a", "1", "b", "2")
    pair("DBSIZE")
    for args in (["FOO"], ["ASYNC", "SYNC"], ["sync", "x"]):
        pair("FLUSHDB", *args)
        pair("FLUSHALL", *args)
    pair("DBSIZE")
    pair("FLUSHDB", "ASYNC")
    pair("DBSIZE")
    pair("MSET", "a", "1", "b", "2")
    pair("FLUSHALL", "sync")
    pair("DBSIZE")
    pair("SET", "a", "1")
    pair("FLUSHDB")
    pair("FLUSHALL")
    pair("FLUSHALL", "async")
    pair("DBSIZE", "x")
    pair("RANDOMKEY", "x")


def test_randomkey_picks_live_keys() -> None:
    e = make_engine(clock_ms=T0)
    keys = {b"r%d" % i for i in range(20)}
    for k in keys:
        e.run("SET", k, "v")
    e.run("SET", "dying", "v", "PX", 1)
    e.clock_ms = T0 + 5
    picks = {e.run("RANDOMKEY") for _ in range(200)}
    assert picks <= keys and len(picks) > 5


# --- OBJECT ----------------------------------------------------------------------------------
def test_object(pair: Pair) -> None:
    pair("SET", "s", "hello")
    pair("SET", "i", "12")
    pair("SET", "big", "10000")
    for sub in ("ENCODING", "REFCOUNT", "IDLETIME", "FREQ", "encoding"):
        pair("OBJECT", sub, "s")
        pair("OBJECT", sub, "missing")
        pair("OBJECT", sub)
        pair("OBJECT", sub, "s", "extra")
    pair("OBJECT", "REFCOUNT", "i")
    pair("OBJECT", "REFCOUNT", "big")
    pair("OBJECT", "HELP")
    pair("OBJECT", "help")
    pair("OBJECT", "HELP", "x")
    pair("OBJECT", "NOPE", "s")
    pair("OBJECT", "NOPE")
    pair("OBJECT")


def test_object_spec_routes_the_key() -> None:
    e = make_engine()
    spec = e.table.lookup(b"OBJECT")
    assert spec is not None and not spec.is_write
    assert spec.keys([b"OBJECT", b"ENCODING", b"k"]) == [b"k"]
    assert spec.keys([b"OBJECT", b"HELP"]) == []
    assert {s.name for s in spec.subcommands} == {
        "object|encoding", "object|freq", "object|idletime", "object|refcount", "object|help"}
    e.sm.ks.set(b"l", FakeList([b"x"]))
    assert e.run("OBJECT", "ENCODING", "l") == b"testenc"
    assert e.run("OBJECT", "IDLETIME", "l") == 0
    assert e.run("OBJECT", "REFCOUNT", "l") == 1


def test_generic_specs() -> None:
    e = make_engine()
    writes = ["del", "unlink", "expire", "pexpire", "expireat", "pexpireat", "persist",
              "rename", "renamenx", "copy", "flushdb", "flushall", "gofish.expire"]
    reads = ["exists", "type", "ttl", "pttl", "expiretime", "pexpiretime", "touch", "keys",
             "scan", "randomkey", "dbsize"]
    for name in writes:
        s = e.table.lookup(name.encode())
        assert s is not None and s.is_write and s.summary, name
    for name in reads:
        s = e.table.lookup(name.encode())
        assert s is not None and "readonly" in s.flags and s.summary, name
    rename = e.table.lookup(b"rename")
    assert rename is not None and rename.keys([b"RENAME", b"a", b"b"]) == [b"a", b"b"]
    keys = e.table.lookup(b"keys")
    assert keys is not None and keys.keys([b"KEYS", b"*"]) == []
