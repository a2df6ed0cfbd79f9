"""The set commands, every option and error path, and the determinism of SPOP.

Each behaviour test runs against every backend in ``BACKENDS``: the in-process `Engine`
(the dispatcher's path without sockets) and a real redis-server 7.0, so every expectation
written here is checked to be Redis's own behaviour. Replies are compared in RESP2 shape
(hiredis's parse of the wire; errors as `Err`). Add ``"gofish"`` to ``BACKENDS`` once the live
server answers: the same tests then run through a socket against a gofish process.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hiredis
import msgspec
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diff.rawclient import RawClient  # noqa: E402
from sm_harness import Engine  # noqa: E402

from gofish.reply import Double, ErrorReply, Map, NullArray, SetReply  # noqa: E402
from gofish.statemachine.args import format_float  # noqa: E402
from gofish.statemachine.types.set_model import SetValue  # noqa: E402

BACKENDS = ["engine", "redis", "gofish"]


# --- backends (same helper in test_hashes.py) --------------------------------------------------
@dataclass(frozen=True)
class Err:
    msg: bytes


def plain(x: Any) -> Any:
    """A reply as hiredis parses its RESP2 encoding; errors become `Err`."""
    if isinstance(x, ErrorReply):
        return Err(bytes(x))
    if isinstance(x, hiredis.ReplyError):
        return Err(str(x).encode())
    if isinstance(x, Map):
        return [plain(e) for pair in x for e in pair]
    if isinstance(x, (list, tuple)):
        return [plain(e) for e in x]
    if x is NullArray:
        return None
    if isinstance(x, Double):
        return format_float(x)
    if isinstance(x, bytes):
        return bytes(x)
    return x


class EngineBackend:
    def __init__(self) -> None:
        self.engine = Engine()

    def __call__(self, *args: Any) -> Any:
        return plain(self.engine.run(*args))


class ServerBackend:
    def __init__(self, port: int) -> None:
        self.client = RawClient(port)
        assert self("FLUSHALL") == b"OK"

    def __call__(self, *args: Any) -> Any:
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        reader = hiredis.Reader()
        reader.feed(self.client.call(argv))
        return plain(reader.gets())


@pytest.fixture(params=BACKENDS)
def c(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "engine":
        yield EngineBackend()
        return
    srv = request.getfixturevalue("redis_ref" if request.param == "redis" else "gofish")
    backend = ServerBackend(srv.port)
    yield backend
    backend.client.close()


WRONGTYPE = Err(b"WRONGTYPE Operation against a key holding the wrong kind of value")
SYNTAX = Err(b"ERR syntax error")
NOT_INT = Err(b"ERR value is not an integer or out of range")
POSITIVE = Err(b"ERR value is out of range, must be positive")


def members(c: Any, key: str) -> list[bytes]:
    got = c("SMEMBERS", key)
    assert isinstance(got, list)
    return sorted(got)


def gone(c: Any, key: str) -> bool:
    """True if ``key`` does not exist (a hash can be created there without WRONGTYPE)."""
    if c("HSETNX", key, "probe", "1") != 1:
        return False
    c("HDEL", key, "probe")
    return True


# --- SADD / SREM / SCARD / SISMEMBER / SMISMEMBER -------------------------------------------------
def test_sadd_srem_scard(c: Any) -> None:
    assert c("SADD", "s", "a") == 1
    assert c("SADD", "s", "a") == 0
    assert c("SADD", "s", "b", "c", "b", "a", "") == 3
    assert c("SCARD", "s") == 4
    assert c("SCARD", "nokey") == 0
    assert c("SREM", "s", "a", "zz", "a") == 1
    assert c("SREM", "nokey", "a") == 0
    assert members(c, "s") == [b"", b"b", b"c"]
    assert c("SREM", "s", "b", "c", "") == 3
    assert c("SCARD", "s") == 0
    assert gone(c, "s")


def test_sismember_smismember(c: Any) -> None:
    c("SADD", "s", "a", "b")
    assert c("SISMEMBER", "s", "a") == 1
    assert c("SISMEMBER", "s", "x") == 0
    assert c("SISMEMBER", "nokey", "a") == 0
    assert c("SMISMEMBER", "s", "a", "x", "b", "a") == [1, 0, 1, 1]
    assert c("SMISMEMBER", "nokey", "a", "b") == [0, 0]


# --- SMEMBERS ----------------------------------------------------------------------------------
def test_smembers_intset_is_sorted(c: Any) -> None:
    # Redis lists an intset in numeric order; gofish does the same for intset-shaped sets.
    c("SADD", "s", "100", "-5", "9223372036854775807", "0", "-9223372036854775808", "7")
    assert c("SMEMBERS", "s") == [
        b"-9223372036854775808", b"-5", b"0", b"7", b"100", b"9223372036854775807",
    ]
    assert c("SMEMBERS", "nokey") == []


def test_smembers_strings_and_large(c: Any) -> None:
    c("SADD", "s", "b", "a", "1")
    assert members(c, "s") == [b"1", b"a", b"b"]
    big = [str(i).encode() for i in range(600)]
    c("SADD", "big", *big)
    assert sorted(c("SMEMBERS", "big")) == sorted(big)


# --- SPOP --------------------------------------------------------------------------------------
def test_spop_single(c: Any) -> None:
    assert c("SPOP", "nokey") is None
    c("SADD", "s", "a", "b", "c")
    popped = [c("SPOP", "s") for _ in range(3)]
    assert sorted(popped) == [b"a", b"b", b"c"]
    assert c("SPOP", "s") is None
    assert gone(c, "s")


def test_spop_count(c: Any) -> None:
    everything = {str(i).encode() for i in range(20)} | {b"x"}
    c("SADD", "s", *everything)
    got = c("SPOP", "s", 5)
    assert len(got) == 5 and len(set(got)) == 5 and set(got) <= everything
    left = set(members(c, "s"))
    assert left == everything - set(got)
    got2 = c("SPOP", "s", 15)
    assert len(set(got2)) == 15 and set(got2) <= left
    assert c("SCARD", "s") == 1
    assert c("SPOP", "s", 0) == []
    last = c("SPOP", "s", 10)
    assert set(got) | set(got2) | set(last) == everything
    assert gone(c, "s")
    assert c("SPOP", "nokey", 3) == []
    assert c("SPOP", "nokey", 0) == []


def test_spop_count_whole_set(c: Any) -> None:
    c("SADD", "s", "3", "1", "2")
    assert c("SPOP", "s", 3) == [b"1", b"2", b"3"]  # an intset, sorted as Redis lists it
    assert gone(c, "s")


def test_spop_errors(c: Any) -> None:
    c("SADD", "s", "a")
    assert c("SPOP", "s", "1", "2") == SYNTAX
    assert c("SPOP", "s", "x", "2") == SYNTAX
    assert c("SPOP", "s", "-1") == POSITIVE
    assert c("SPOP", "s", "x") == POSITIVE
    assert c("SPOP", "s", "1.5") == POSITIVE
    assert c("SPOP", "s", "9223372036854775808") == POSITIVE
    assert c("SPOP", "nokey", "-1") == POSITIVE
    assert c("SCARD", "s") == 1


# --- SRANDMEMBER -------------------------------------------------------------------------------
def test_srandmember(c: Any) -> None:
    assert c("SRANDMEMBER", "nokey") is None
    assert c("SRANDMEMBER", "nokey", 5) == []
    assert c("SRANDMEMBER", "nokey", -5) == []
    everything = {b"a", b"b", b"c", b"d", b"e"}
    c("SADD", "s", *everything)
    assert {c("SRANDMEMBER", "s") for _ in range(200)} == everything
    for count in (1, 3, 4):
        got = c("SRANDMEMBER", "s", count)
        assert len(got) == count and len(set(got)) == count and set(got) <= everything
    assert sorted(c("SRANDMEMBER", "s", 5)) == sorted(everything)
    assert sorted(c("SRANDMEMBER", "s", 50)) == sorted(everything)
    assert c("SRANDMEMBER", "s", 0) == []
    got = c("SRANDMEMBER", "s", -300)
    assert len(got) == 300 and set(got) == everything
    assert c("SCARD", "s") == 5  # nothing removed


def test_srandmember_errors(c: Any) -> None:
    c("SADD", "s", "a")
    assert c("SRANDMEMBER", "s", "1", "2") == SYNTAX
    assert c("SRANDMEMBER", "s", "x", "2") == SYNTAX
    assert c("SRANDMEMBER", "s", "x") == NOT_INT
    assert c("SRANDMEMBER", "nokey", "x") == NOT_INT
    assert c("SRANDMEMBER", "s", "9223372036854775808") == NOT_INT
    assert c("SRANDMEMBER", "s", "-9223372036854775808") == Err(
        b"ERR value is out of range, value must between -9223372036854775807 and "
        b"9223372036854775807"
    )


# --- SMOVE -------------------------------------------------------------------------------------
def test_smove(c: Any) -> None:
    c("SADD", "src", "a", "b")
    c("SADD", "dst", "x")
    assert c("SMOVE", "src", "dst", "a") == 1
    assert members(c, "src") == [b"b"]
    assert members(c, "dst") == [b"a", b"x"]
    assert c("SMOVE", "src", "dst", "zz") == 0
    c("SADD", "dst", "b")
    assert c("SMOVE", "src", "dst", "b") == 1  # already in dst: still moved out of src
    assert gone(c, "src")
    assert members(c, "dst") == [b"a", b"b", b"x"]
    assert c("SMOVE", "dst", "new", "x") == 1
    assert members(c, "new") == [b"x"]
    assert c("SMOVE", "nokey", "dst", "a") == 0


def test_smove_same_key(c: Any) -> None:
    c("SADD", "s", "a")
    assert c("SMOVE", "s", "s", "a") == 1
    assert c("SMOVE", "s", "s", "b") == 0
    assert members(c, "s") == [b"a"]


def test_smove_wrongtype(c: Any) -> None:
    c("SADD", "s", "a")
    c("HSET", "h", "f", "v")
    assert c("SMOVE", "nokey", "h", "a") == 0  # a missing source wins over the type check
    assert c("SMOVE", "h", "s", "a") == WRONGTYPE
    assert c("SMOVE", "h", "nokey", "a") == WRONGTYPE
    assert c("SMOVE", "s", "h", "a") == WRONGTYPE
    assert c("SMOVE", "s", "h", "zz") == WRONGTYPE
    assert members(c, "s") == [b"a"]


# --- SINTER / SUNION / SDIFF and their STORE forms ------------------------------------------------
@pytest.fixture
def abc(c: Any) -> Any:
    c("SADD", "a", "1", "2", "3", "4", "x")
    c("SADD", "b", "2", "3", "5", "x", "y")
    c("SADD", "c", "3", "x", "z")
    c("HSET", "h", "f", "v")
    return c


def test_sinter(abc: Any) -> None:
    c = abc
    assert sorted(c("SINTER", "a", "b")) == [b"2", b"3", b"x"]
    assert sorted(c("SINTER", "a", "b", "c")) == [b"3", b"x"]
    assert sorted(c("SINTER", "a")) == [b"1", b"2", b"3", b"4", b"x"]
    assert sorted(c("SINTER", "a", "a")) == [b"1", b"2", b"3", b"4", b"x"]
    assert c("SINTER", "a", "nokey") == []
    assert c("SINTER", "nokey") == []


def test_sunion(abc: Any) -> None:
    c = abc
    assert sorted(c("SUNION", "a", "b")) == [b"1", b"2", b"3", b"4", b"5", b"x", b"y"]
    assert sorted(c("SUNION", "c", "nokey")) == [b"3", b"x", b"z"]
    assert c("SUNION", "nokey") == []


def test_sdiff(abc: Any) -> None:
    c = abc
    assert sorted(c("SDIFF", "a", "b")) == [b"1", b"4"]
    assert sorted(c("SDIFF", "a", "b", "c")) == [b"1", b"4"]
    assert sorted(c("SDIFF", "b", "a")) == [b"5", b"y"]
    assert sorted(c("SDIFF", "a", "nokey")) == [b"1", b"2", b"3", b"4", b"x"]
    assert c("SDIFF", "a", "a") == []
    assert c("SDIFF", "nokey", "a") == []


def test_algebra_intset_replies_sorted(c: Any) -> None:
    c("SADD", "p", "30", "10", "20", "-1")
    c("SADD", "q", "20", "-1", "30", "40")
    assert c("SINTER", "p", "q") == [b"-1", b"20", b"30"]
    assert c("SUNION", "q", "p") == [b"-1", b"10", b"20", b"30", b"40"]
    assert c("SDIFF", "q", "p") == [b"40"]


def test_store_forms(abc: Any) -> None:
    c = abc
    assert c("SINTERSTORE", "d", "a", "b") == 3
    assert members(c, "d") == [b"2", b"3", b"x"]
    assert c("SUNIONSTORE", "d", "a", "c") == 6
    assert members(c, "d") == [b"1", b"2", b"3", b"4", b"x", b"z"]
    assert c("SDIFFSTORE", "d", "a", "b") == 2
    assert members(c, "d") == [b"1", b"4"]
    # The destination may be an operand.
    assert c("SUNIONSTORE", "a", "a", "c") == 6
    assert members(c, "a") == [b"1", b"2", b"3", b"4", b"x", b"z"]
    # A destination of another type is replaced.
    assert c("SINTERSTORE", "h", "b", "c") == 2
    assert members(c, "h") == [b"3", b"x"]


def test_store_empty_result_deletes_destination(abc: Any) -> None:
    c = abc
    c("SADD", "d", "old")
    assert c("SINTERSTORE", "d", "a", "nokey") == 0
    assert gone(c, "d")
    c("SADD", "d", "old")
    assert c("SDIFFSTORE", "d", "a", "a") == 0
    assert gone(c, "d")
    c("SADD", "d", "old")
    assert c("SUNIONSTORE", "d", "nokey") == 0
    assert gone(c, "d")
    # Even a destination of another type.
    assert c("SDIFFSTORE", "h", "nokey") == 0
    assert gone(c, "h")


@pytest.mark.parametrize("name", ["SINTER", "SUNION", "SDIFF"])
def test_algebra_wrongtype_anywhere(abc: Any, name: str) -> None:
    c = abc
    assert c(name, "a", "h") == WRONGTYPE
    assert c(name, "h", "a") == WRONGTYPE
    assert c(name, "nokey", "h") == WRONGTYPE  # every key is checked, even after a missing one
    assert c(name + "STORE", "d", "nokey", "h") == WRONGTYPE
    assert c(name + "STORE", "a", "b", "h") == WRONGTYPE
    assert members(c, "a") == [b"1", b"2", b"3", b"4", b"x"]  # unchanged


# --- SINTERCARD --------------------------------------------------------------------------------
def test_sintercard(abc: Any) -> None:
    c = abc
    assert c("SINTERCARD", "2", "a", "b") == 3
    assert c("SINTERCARD", "1", "a") == 5
    assert c("SINTERCARD", "3", "a", "b", "c") == 2
    assert c("SINTERCARD", "2", "a", "nokey") == 0
    assert c("SINTERCARD", "2", "a", "b", "LIMIT", "2") == 2
    assert c("SINTERCARD", "2", "a", "b", "limit", "0") == 3
    assert c("SINTERCARD", "2", "a", "b", "LIMIT", "10") == 3
    assert c("SINTERCARD", "2", "a", "b", "LIMIT", "1", "LIMIT", "3") == 3
    assert c("SINTERCARD", "1", "LIMIT") == 0  # numkeys 1: "LIMIT" is the key


def test_sintercard_errors(abc: Any) -> None:
    c = abc
    numkeys = Err(b"ERR numkeys should be greater than 0")
    assert c("SINTERCARD", "0", "a") == numkeys
    assert c("SINTERCARD", "-1", "a") == numkeys
    assert c("SINTERCARD", "x", "a") == numkeys
    assert c("SINTERCARD", "99999999999999999999", "a") == numkeys
    assert c("SINTERCARD", "2", "a") == Err(
        b"ERR Number of keys can't be greater than number of args"
    )
    assert c("SINTERCARD", "1", "a", "LIMIT") == SYNTAX
    assert c("SINTERCARD", "1", "a", "FOO", "1") == SYNTAX
    limit = Err(b"ERR LIMIT can't be negative")
    assert c("SINTERCARD", "1", "a", "LIMIT", "-1") == limit
    assert c("SINTERCARD", "1", "a", "LIMIT", "x") == limit
    assert c("SINTERCARD", "1", "nokey", "LIMIT", "-1") == limit
    assert c("SINTERCARD", "2", "a", "h") == WRONGTYPE
    assert c("SINTERCARD", "2", "nokey", "h") == WRONGTYPE
    assert c("SINTERCARD", "2", "h", "nokey") == WRONGTYPE


# --- SSCAN -------------------------------------------------------------------------------------
def test_sscan(c: Any) -> None:
    c("SADD", "i", "3", "1", "2")
    assert c("SSCAN", "i", "0") == [b"0", [b"1", b"2", b"3"]]
    assert c("SSCAN", "i", "0", "COUNT", "1") == [b"0", [b"1", b"2", b"3"]]
    assert c("SSCAN", "i", "0", "MATCH", "[12]") == [b"0", [b"1", b"2"]]
    c("SADD", "s", "apple", "avocado", "banana")
    cursor, got = c("SSCAN", "s", "0", "MATCH", "a*", "COUNT", "100")
    assert cursor == b"0" and sorted(got) == [b"apple", b"avocado"]
    assert c("SSCAN", "nokey", "0") == [b"0", []]


def test_sscan_large_set_collects_every_member(c: Any) -> None:
    want = {b"m%d" % i for i in range(1000)}
    c("SADD", "big", *want)
    got: set[bytes] = set()
    cursor = b"0"
    for _ in range(1000):  # bounded: Redis pages, gofish answers at once
        cursor, items = c("SSCAN", "big", cursor)
        got.update(items)
        if cursor == b"0":
            break
    assert got == want


def test_sscan_errors(c: Any) -> None:
    c("SADD", "s", "a")
    c("HSET", "h", "f", "v")
    assert c("SSCAN", "s", "x") == Err(b"ERR invalid cursor")
    assert c("SSCAN", "h", "x") == Err(b"ERR invalid cursor")
    assert c("SSCAN", "h", "0") == WRONGTYPE
    assert c("SSCAN", "s", "0", "COUNT", "0") == SYNTAX
    assert c("SSCAN", "s", "0", "COUNT", "x") == NOT_INT
    assert c("SSCAN", "s", "0", "MATCH") == SYNTAX
    assert c("SSCAN", "s", "0", "TYPE", "set") == SYNTAX
    assert c("SSCAN", "nokey", "0", "COUNT", "0") == [b"0", []]


# --- WRONGTYPE and arity -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [("SADD", "k", "m"), ("SREM", "k", "m"), ("SMEMBERS", "k"), ("SISMEMBER", "k", "m"),
     ("SMISMEMBER", "k", "m"), ("SCARD", "k"), ("SPOP", "k"), ("SPOP", "k", "1"),
     ("SPOP", "k", "0"), ("SRANDMEMBER", "k"), ("SRANDMEMBER", "k", "-1"),
     ("SRANDMEMBER", "k", "0"), ("SMOVE", "k", "s", "m"), ("SINTER", "k"),
     ("SINTERCARD", "1", "k"), ("SUNION", "k"), ("SDIFF", "k"), ("SINTERSTORE", "d", "k"),
     ("SUNIONSTORE", "d", "k"), ("SDIFFSTORE", "d", "k"), ("SSCAN", "k", "0")],
)
def test_wrongtype(c: Any, argv: tuple[str, ...]) -> None:
    c("HSET", "k", "f", "v")
    assert c(*argv) == WRONGTYPE
    assert c("HGETALL", "k") == [b"f", b"v"]


@pytest.mark.parametrize(
    "argv",
    [("SADD", "s"), ("SREM", "s"), ("SMEMBERS",), ("SMEMBERS", "s", "x"), ("SISMEMBER", "s"),
     ("SMISMEMBER", "s"), ("SCARD",), ("SPOP",), ("SRANDMEMBER",), ("SMOVE", "a", "b"),
     ("SINTER",), ("SINTERCARD", "1"), ("SUNION",), ("SDIFF",), ("SINTERSTORE", "d"),
     ("SUNIONSTORE", "d"), ("SDIFFSTORE", "d"), ("SSCAN", "s")],
)
def test_arity(c: Any, argv: tuple[str, ...]) -> None:
    name = argv[0].lower().encode()
    assert c(*argv) == Err(b"ERR wrong number of arguments for '" + name + b"' command")


# --- RESP3 shapes (exact bytes on a real server, reply types in the engine) ---------------------
def test_resp3_shapes_redis(redis_ref: Any) -> None:
    client = RawClient(redis_ref.port)
    try:
        client.call([b"FLUSHALL"])
        client.call([b"HELLO", b"3"])
        client.call([b"SADD", b"s", b"1"])
        assert client.call([b"SMEMBERS", b"s"]) == b"~1\r\n$1\r\n1\r\n"
        assert client.call([b"SMEMBERS", b"nokey"]) == b"~0\r\n"
        assert client.call([b"SINTER", b"s"]) == b"~1\r\n$1\r\n1\r\n"
        assert client.call([b"SUNION", b"s"]) == b"~1\r\n$1\r\n1\r\n"
        assert client.call([b"SDIFF", b"s"]) == b"~1\r\n$1\r\n1\r\n"
        assert client.call([b"SRANDMEMBER", b"s", b"5"]) == b"*1\r\n$1\r\n1\r\n"
        assert client.call([b"SPOP", b"nokey", b"2"]) == b"~0\r\n"
        assert client.call([b"SPOP", b"s", b"2"]) == b"~1\r\n$1\r\n1\r\n"
    finally:
        client.close()


def test_reply_types_engine() -> None:
    e = Engine()
    e.run("SADD", "s", "1", "2", "3")
    for argv in (("SMEMBERS", "s"), ("SMEMBERS", "nokey"), ("SINTER", "s"), ("SUNION", "s"),
                 ("SDIFF", "s"), ("SPOP", "nokey", "2"), ("SPOP", "s", "1"),
                 ("SPOP", "s", "0"), ("SPOP", "s", "5")):
        assert type(e.run(*argv)) is SetReply, argv
    e.run("SADD", "s", "1", "2", "3")
    for argv in (("SRANDMEMBER", "s", "5"), ("SRANDMEMBER", "s", "2"),
                 ("SRANDMEMBER", "s", "-2"), ("SMISMEMBER", "s", "1")):
        assert type(e.run(*argv)) is list, argv


# --- determinism -------------------------------------------------------------------------------
def _reload_sets(e: Engine) -> int:
    """Rebuild every set of ``e`` from a msgpack round trip of its dump (a checkpoint restore)."""
    spec = e.table.types_by_name["set"]
    n = 0
    for p in e.sm.ks.partitions:
        for key, value in list(p.data.items()):
            if type(value) is SetValue:
                p.data[key] = spec.load(msgspec.msgpack.decode(msgspec.msgpack.encode(
                    spec.dump(value))))
                n += 1
    return n


def _script() -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for k in range(4):
        out.append(("SADD", f"s{k}", *[f"m{k}-{i}" for i in range(50)], *range(10)))
    for round_ in range(30):
        k = round_ % 4
        out.append(("SREM", f"s{k}", f"m{k}-{round_}", str(round_ % 10)))
        out.append(("SPOP", f"s{k}"))
        out.append(("SADD", f"s{k}", f"new{round_}", f"m{k}-{round_}"))
        out.append(("SPOP", f"s{(k + 1) % 4}", "3"))
        out.append(("SMOVE", f"s{k}", f"s{(k + 2) % 4}", f"m{k}-{round_ + 5}"))
        out.append(("SUNIONSTORE", "u", f"s{k}", f"s{(k + 1) % 4}"))
        out.append(("SPOP", "u", "4"))
        out.append(("SINTERSTORE", "i", "u", f"s{k}"))
        out.append(("SDIFFSTORE", "d", f"s{k}", "i"))
        out.append(("SPOP", "d"))
        out.append(("SPOP", "i", "2"))
    return out


def test_spop_is_deterministic_across_nodes_and_checkpoints() -> None:
    script = _script()
    a, b = Engine(partitions=8), Engine(partitions=4)
    replies_a: list[Any] = []
    replies_b: list[Any] = []
    reloads = 0
    for step, argv in enumerate(script):
        replies_a.append(plain(a.run(*argv)))
        if step % 37 == 20:
            reloads += _reload_sets(b)  # node b restarts from a checkpoint now and then
        replies_b.append(plain(b.run(*argv)))
    assert reloads > 0
    assert replies_a == replies_b
    spops = [r for argv, r in zip(script, replies_a, strict=True) if argv[0] == "SPOP"]
    assert any(spops) and len({repr(r) for r in spops}) > 10  # real picks, not a constant
    for key in ("s0", "s1", "s2", "s3", "u", "i", "d"):
        va, vb = a.sm.ks.get(key.encode()), b.sm.ks.get(key.encode())
        assert (va.items if va else None) == (vb.items if vb else None), key


def test_spop_depends_on_the_entry_seed() -> None:
    picks = set()
    for seed_offset in range(5):
        e = Engine()
        e.seq = seed_offset * 1000  # a different log position: a different seed
        e.run("SADD", "s", *[f"m{i}" for i in range(100)])
        picks.add(tuple(plain(e.run("SPOP", "s", "5"))))
    assert len(picks) > 1


# --- the model ---------------------------------------------------------------------------------
def test_set_value_invariants() -> None:
    s = SetValue([b"a", b"b", b"c", b"a"])
    assert s.items == [b"a", b"b", b"c"] and len(s) == 3
    assert s.remove(b"a") and not s.remove(b"a")
    assert s.items == [b"c", b"b"]  # the last member took the freed slot
    assert s.add(b"d") and not s.add(b"d")
    assert s.pop_at(1) == b"b"
    assert s.items == [b"c", b"d"]
    assert s.pop_at(1) == b"d" and s.pop_at(0) == b"c"
    assert s.items == [] and s.pos == {}
    s = SetValue(b"m%d" % i for i in range(50))
    for i in range(0, 50, 3):
        s.remove(b"m%d" % i)
    assert all(s.pos[m] == i for i, m in enumerate(s.items))
    assert len(s.pos) == len(s.items) and b"m1" in s and b"m0" not in s


def test_set_type_spec() -> None:
    e = Engine()
    spec = e.table.types_by_name["set"]
    assert spec.pytype is SetValue
    s = SetValue([b"z", b"y", b"x", b"w"])
    s.remove(b"z")
    data = msgspec.msgpack.decode(msgspec.msgpack.encode(spec.dump(s)))
    back = spec.load(data)
    assert back.items == s.items == [b"w", b"y", b"x"]
    assert back.pos == {b"w": 0, b"y": 1, b"x": 2}
    dup = spec.copy(s)
    dup.add(b"new")
    assert b"new" not in s and len(s.items) == 3
    with pytest.raises(ValueError):
        spec.load([b"a", b"a"])
    enc = spec.encoding
    assert enc(SetValue([b"1", b"-2", b"9223372036854775807"])) == "intset"
    assert enc(SetValue(str(i).encode() for i in range(512))) == "intset"
    assert enc(SetValue(str(i).encode() for i in range(513))) == "hashtable"
    for odd in (b"a", b"-0", b"+1", b"01", b" 1", b"9223372036854775808", b""):
        assert enc(SetValue([b"1", odd])) == "hashtable", odd


def test_checks_refuse_before_the_log() -> None:
    e = Engine()
    for argv in (("SPOP", "s", "-1"), ("SPOP", "s", "x"), ("SPOP", "s", "1", "2")):
        assert isinstance(e.run(*argv), ErrorReply)
    assert e.seq == 0  # nothing was proposed


def test_stores_clear_ttl_and_writes_keep_it() -> None:
    e = Engine(clock_ms=1_000)
    ks = e.sm.ks
    e.run("SADD", "s", "a", "b", "c")
    e.run("SADD", "d", "x")
    ks.set_expire(b"s", 9_000)
    ks.set_expire(b"d", 9_000)
    for argv in (("SADD", "s", "z"), ("SREM", "s", "z"), ("SPOP", "s"), ("SMOVE", "s", "t", "zz")):
        e.run(*argv)
        assert ks.get_expire(b"s") == 9_000, argv
    e.run("SUNIONSTORE", "d", "s")
    assert ks.get_expire(b"d") is None


def test_dirty_reports_changes_only() -> None:
    e = Engine()
    ks = e.sm.ks
    e.run("SADD", "s", "a")
    ks.dirty.clear()
    e.run("SADD", "s", "a")
    e.run("SREM", "s", "zz")
    e.run("SMOVE", "s", "t", "zz")
    e.run("SPOP", "s", "0")
    assert ks.dirty == []
    e.run("SADD", "s", "b")
    assert ks.dirty == [b"s"]


def test_command_specs() -> None:
    e = Engine()
    spec = e.table.lookup(b"sintercard")
    assert spec is not None and "movablekeys" in spec.flags
    assert spec.keys([b"sintercard", b"2", b"a", b"b", b"LIMIT", b"1"]) == [b"a", b"b"]
    assert spec.keys([b"sintercard", b"x", b"a"]) == []
    assert spec.keys([b"sintercard", b"5", b"a"]) == []
    smove = e.table.lookup(b"smove")
    assert smove is not None and smove.keys([b"smove", b"a", b"b", b"m"]) == [b"a", b"b"]
    store = e.table.lookup(b"sunionstore")
    assert store is not None and store.keys([b"sunionstore", b"d", b"a", b"b"]) == [
        b"d", b"a", b"b",
    ]
    flags = {
        "sadd": {"write", "denyoom", "fast"}, "srem": {"write", "fast"},
        "spop": {"write", "fast"}, "smove": {"write", "fast"},
        "sinterstore": {"write", "denyoom"}, "sunionstore": {"write", "denyoom"},
        "sdiffstore": {"write", "denyoom"}, "smembers": {"readonly"},
        "sismember": {"readonly", "fast"}, "smismember": {"readonly", "fast"},
        "scard": {"readonly", "fast"}, "srandmember": {"readonly"}, "sinter": {"readonly"},
        "sunion": {"readonly"}, "sdiff": {"readonly"}, "sscan": {"readonly"},
        "sintercard": {"readonly", "movablekeys"},
    }
    for name, want in flags.items():
        s = e.table.lookup(name.encode())
        assert s is not None and s.flags == want and s.group == "set", name
        assert s.summary and s.complexity
