"""The hash commands, every option and error path.

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

from gofish.reply import Double, ErrorReply, Map, NullArray  # noqa: E402
from gofish.statemachine.args import format_float  # noqa: E402

BACKENDS = ["engine", "redis", "gofish"]


# --- backends (same helper in test_sets.py) ----------------------------------------------------
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
NOT_FLOAT = Err(b"ERR value is not a valid float")


def pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    assert len(flat) % 2 == 0
    return dict(zip(flat[::2], flat[1::2], strict=True))


# --- HSET / HMSET / HSETNX / HGET / HMGET --------------------------------------------------------
def test_hset_counts_new_fields_only(c: Any) -> None:
    assert c("HSET", "h", "a", "1") == 1
    assert c("HSET", "h", "a", "2") == 0
    assert c("HSET", "h", "a", "3", "b", "4", "c", "5", "b", "6") == 2
    assert c("HGET", "h", "a") == b"3"
    assert c("HGET", "h", "b") == b"6"  # the last pair for a field wins
    assert c("HGET", "h", "nope") is None
    assert c("HGET", "nokey", "a") is None
    assert c("HSET", "h", "", "") == 1
    assert c("HGET", "h", "") == b""


def test_hset_hmset_need_pairs(c: Any) -> None:
    assert c("HSET", "h", "a") == Err(b"ERR wrong number of arguments for 'hset' command")
    assert c("HSET", "h", "a", "1", "b") == Err(
        b"ERR wrong number of arguments for 'hset' command"
    )
    assert c("HMSET", "h", "a") == Err(b"ERR wrong number of arguments for 'hmset' command")
    assert c("HMSET", "h", "a", "1", "b") == Err(
        b"ERR wrong number of arguments for 'hmset' command"
    )
    assert c("HLEN", "h") == 0


def test_hmset_replies_ok(c: Any) -> None:
    assert c("HMSET", "h", "a", "1", "b", "2") == b"OK"
    assert c("HMSET", "h", "a", "3") == b"OK"
    assert c("HMGET", "h", "a", "b") == [b"3", b"2"]


def test_hsetnx(c: Any) -> None:
    assert c("HSETNX", "h", "a", "1") == 1
    assert c("HSETNX", "h", "a", "2") == 0
    assert c("HSETNX", "h", "b", "3") == 1
    assert c("HGETALL", "h") == [b"a", b"1", b"b", b"3"]


def test_hmget(c: Any) -> None:
    c("HSET", "h", "a", "1", "b", "2")
    assert c("HMGET", "h", "b", "x", "a", "a") == [b"2", None, b"1", b"1"]
    assert c("HMGET", "nokey", "a", "b") == [None, None]


# --- HDEL / HLEN / HSTRLEN / HEXISTS -------------------------------------------------------------
def test_hdel_counts_and_deletes_empty_hash(c: Any) -> None:
    c("HSET", "h", "a", "1", "b", "2", "c", "3")
    assert c("HDEL", "h", "a", "x", "a") == 1
    assert c("HDEL", "nokey", "a") == 0
    assert c("HLEN", "h") == 2
    assert c("HDEL", "h", "b", "c") == 2
    assert c("HLEN", "h") == 0
    # The key is gone: it can now hold a set without WRONGTYPE.
    assert c("SADD", "h", "x") == 1


def test_hlen_hstrlen_hexists(c: Any) -> None:
    c("HSET", "h", "a", "hello", "n", "-12", "e", "")
    assert c("HLEN", "h") == 3
    assert c("HLEN", "nokey") == 0
    assert c("HSTRLEN", "h", "a") == 5
    assert c("HSTRLEN", "h", "n") == 3
    assert c("HSTRLEN", "h", "e") == 0
    assert c("HSTRLEN", "h", "x") == 0
    assert c("HSTRLEN", "nokey", "a") == 0
    assert c("HEXISTS", "h", "a") == 1
    assert c("HEXISTS", "h", "x") == 0
    assert c("HEXISTS", "nokey", "a") == 0


# --- HKEYS / HVALS / HGETALL -------------------------------------------------------------------
def test_whole_hash_replies_keep_insertion_order(c: Any) -> None:
    # A small (listpack) hash keeps insertion order in Redis; an update keeps the field's place.
    c("HSET", "h", "z", "1", "a", "2", "m", "3")
    c("HSET", "h", "a", "20")
    c("HDEL", "h", "z")
    c("HSET", "h", "b", "4")
    assert c("HKEYS", "h") == [b"a", b"m", b"b"]
    assert c("HVALS", "h") == [b"20", b"3", b"4"]
    assert c("HGETALL", "h") == [b"a", b"20", b"m", b"3", b"b", b"4"]
    assert c("HKEYS", "nokey") == []
    assert c("HVALS", "nokey") == []
    assert c("HGETALL", "nokey") == []


def test_large_hash_returns_everything(c: Any) -> None:
    n = 300
    args: list[Any] = ["HSET", "big"]
    for i in range(n):
        args += [f"f{i}", "v" * (i % 100)]
    assert c(*args) == n
    assert sorted(c("HKEYS", "big")) == sorted(f"f{i}".encode() for i in range(n))
    assert pairs(c("HGETALL", "big")) == {f"f{i}".encode(): b"v" * (i % 100) for i in range(n)}


# --- HINCRBY ---------------------------------------------------------------------------------
def test_hincrby(c: Any) -> None:
    assert c("HINCRBY", "h", "n", "5") == 5
    assert c("HINCRBY", "h", "n", "-7") == -2
    assert c("HINCRBY", "h", "n", "0") == -2
    assert c("HGET", "h", "n") == b"-2"
    c("HSET", "h", "max", "9223372036854775807", "min", "-9223372036854775808")
    assert c("HINCRBY", "h", "max", "0") == 9223372036854775807
    assert c("HINCRBY", "h", "max", "-1") == 9223372036854775806
    assert c("HINCRBY", "h", "min", "1") == -9223372036854775807


@pytest.mark.parametrize("stored", [b"abc", b"1.5", b" 1", b"1 ", b"+1", b"01", b"",
                                    b"9223372036854775808", b"0x10"])
def test_hincrby_stored_value_not_integer(c: Any, stored: bytes) -> None:
    c("HSET", "h", "f", stored)
    assert c("HINCRBY", "h", "f", "1") == Err(b"ERR hash value is not an integer")
    assert c("HGET", "h", "f") == stored


def test_hincrby_overflow(c: Any) -> None:
    overflow = Err(b"ERR increment or decrement would overflow")
    c("HSET", "h", "max", "9223372036854775807", "min", "-9223372036854775808")
    assert c("HINCRBY", "h", "max", "1") == overflow
    assert c("HINCRBY", "h", "min", "-1") == overflow
    assert c("HINCRBY", "h", "min", "-9223372036854775808") == overflow
    assert c("HGET", "h", "max") == b"9223372036854775807"


@pytest.mark.parametrize("incr", ["x", "1.0", "", " 1", "9223372036854775808", "+1"])
def test_hincrby_bad_increment(c: Any, incr: str) -> None:
    assert c("HINCRBY", "h", "f", incr) == NOT_INT
    assert c("HLEN", "h") == 0


# --- HINCRBYFLOAT -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "start, incr, result",
    [
        (None, "2.5", b"2.5"),
        (None, "0", b"0"),
        (None, "-0", b"0"),
        (None, "0x10", b"16"),
        (None, "1e3", b"1000"),
        (None, ".5", b"0.5"),
        (None, "5.", b"5"),
        (b"2.5", "1e-20", b"2.5"),  # below the 17 printed decimals
        (b"0.1", "0.2", b"0.3"),  # long double arithmetic, %.17Lf, trailing zeros removed
        (b"0.3", "1.23e-15", b"0.30000000000000123"),
        (b"10.50", "0.1", b"10.6"),
        (b"5", "-5", b"0"),
        (b"-1", "0.5", b"-0.5"),
        (b"9223372036854775807", "1", b"9223372036854775808"),
        (b"0x10", "1", b"17"),  # the stored value is parsed with strtold too
        (b"1e400", "-1e400", b"0"),  # beyond a double, within a long double
        (b"3.0e3", "1.5", b"3001.5"),
    ],
)
def test_hincrbyfloat_values(c: Any, start: bytes | None, incr: str, result: bytes) -> None:
    if start is not None:
        c("HSET", "h", "f", start)
    assert c("HINCRBYFLOAT", "h", "f", incr) == result
    assert c("HGET", "h", "f") == result


def test_hincrbyfloat_huge_result(c: Any) -> None:
    got = c("HINCRBYFLOAT", "h", "f", "1e400")
    assert got[:25] == b"1000000000000000000028188"
    assert len(got) == 401
    assert c("HINCRBYFLOAT", "h", "f", "-1e400") == b"0"


@pytest.mark.parametrize("stored", [b"abc", b" 1", b"1 ", b"", b"nan", b"1e5000", b"0x"])
def test_hincrbyfloat_stored_value_not_float(c: Any, stored: bytes) -> None:
    c("HSET", "h", "f", stored)
    assert c("HINCRBYFLOAT", "h", "f", "1") == Err(b"ERR hash value is not a float")
    assert c("HGET", "h", "f") == stored


def test_hincrbyfloat_errors(c: Any) -> None:
    nan_inf = Err(b"ERR increment would produce NaN or Infinity")
    for bad in ("x", "nan", " 1", "1 ", "", "1e5000", "1.2.3"):
        assert c("HINCRBYFLOAT", "h", "f", bad) == NOT_FLOAT, bad
    for inf in ("inf", "-inf", "+infinity", "INF"):
        assert c("HINCRBYFLOAT", "h", "f", inf) == Err(b"ERR value is NaN or Infinity"), inf
    assert c("HLEN", "h") == 0
    c("HSET", "h", "i", "inf", "big", "1e4932")
    assert c("HINCRBYFLOAT", "h", "i", "1") == nan_inf
    assert c("HINCRBYFLOAT", "h", "big", "1e4932") == nan_inf
    assert c("HGET", "h", "big") == b"1e4932"


# --- HRANDFIELD --------------------------------------------------------------------------------
def test_hrandfield_single(c: Any) -> None:
    assert c("HRANDFIELD", "nokey") is None
    c("HSET", "h", "a", "1", "b", "2", "c", "3")
    seen = {c("HRANDFIELD", "h") for _ in range(200)}
    assert seen == {b"a", b"b", b"c"}


def test_hrandfield_count(c: Any) -> None:
    c("HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5")
    every = {b"a", b"b", b"c", b"d", b"e"}
    for count in (1, 2, 4):
        got = c("HRANDFIELD", "h", count)
        assert len(got) == count and len(set(got)) == count and set(got) <= every
    assert sorted(c("HRANDFIELD", "h", 5)) == sorted(every)
    assert sorted(c("HRANDFIELD", "h", 100)) == sorted(every)
    assert c("HRANDFIELD", "h", 0) == []
    assert c("HRANDFIELD", "nokey", 3) == []
    assert c("HRANDFIELD", "nokey", -3, "WITHVALUES") == []
    assert c("HLEN", "h") == 5  # nothing removed


def test_hrandfield_negative_count_repeats(c: Any) -> None:
    c("HSET", "h", "a", "1", "b", "2")
    got = c("HRANDFIELD", "h", -500)
    assert len(got) == 500 and set(got) == {b"a", b"b"}
    assert len(c("HRANDFIELD", "h", -1)) == 1


def test_hrandfield_withvalues(c: Any) -> None:
    fields = {b"a": b"1", b"b": b"2", b"c": b"3"}
    c("HSET", "h", *[x for kv in fields.items() for x in kv])
    got = c("HRANDFIELD", "h", 2, "withvalues")
    assert len(got) == 4 and got[0] != got[2]
    assert all(fields[f] == v for f, v in zip(got[::2], got[1::2], strict=True))
    assert pairs(c("HRANDFIELD", "h", 3, "WITHVALUES")) == fields
    assert pairs(c("HRANDFIELD", "h", 10, "WITHVALUES")) == fields
    got = c("HRANDFIELD", "h", -50, "WITHVALUES")
    assert len(got) == 100
    assert all(fields[f] == v for f, v in zip(got[::2], got[1::2], strict=True))
    assert c("HRANDFIELD", "h", 0, "WITHVALUES") == []


def test_hrandfield_errors(c: Any) -> None:
    c("HSET", "h", "a", "1")
    assert c("HRANDFIELD", "h", "x") == NOT_INT
    assert c("HRANDFIELD", "h", "x", "foo") == NOT_INT  # count is parsed first
    assert c("HRANDFIELD", "h", "1.5") == NOT_INT
    assert c("HRANDFIELD", "h", "9223372036854775808") == NOT_INT
    assert c("HRANDFIELD", "h", "-9223372036854775808") == Err(
        b"ERR value is out of range, value must between -9223372036854775807 and "
        b"9223372036854775807"
    )
    assert c("HRANDFIELD", "h", "1", "withvalue") == SYNTAX
    assert c("HRANDFIELD", "h", "1", "withvalues", "x") == SYNTAX
    assert c("HRANDFIELD", "nokey", "1", "foo") == SYNTAX
    out_of_range = Err(b"ERR value is out of range")
    assert c("HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES") == out_of_range
    assert c("HRANDFIELD", "nokey", "-9223372036854775807", "WITHVALUES") == out_of_range
    assert c("HRANDFIELD", "nokey", "-4611686018427387903", "WITHVALUES") == []
    assert c("HRANDFIELD", "nokey", "-4611686018427387904", "WITHVALUESX") == SYNTAX


# --- HSCAN -------------------------------------------------------------------------------------
def test_hscan_returns_everything_at_once(c: Any) -> None:
    c("HSET", "h", "a", "1", "b", "2", "c", "3")
    assert c("HSCAN", "h", "0") == [b"0", [b"a", b"1", b"b", b"2", b"c", b"3"]]
    assert c("HSCAN", "h", "0", "COUNT", "1") == [b"0", [b"a", b"1", b"b", b"2", b"c", b"3"]]
    assert c("HSCAN", "h", "0", "MATCH", "[ac]") == [b"0", [b"a", b"1", b"c", b"3"]]
    assert c("HSCAN", "h", "0", "match", "*", "count", "100") == [
        b"0", [b"a", b"1", b"b", b"2", b"c", b"3"],
    ]
    assert c("HSCAN", "h", "0", "MATCH", "z*") == [b"0", []]
    assert c("HSCAN", "h", "0", "MATCH", "x", "MATCH", "b") == [b"0", [b"b", b"2"]]
    assert c("HSCAN", "nokey", "0") == [b"0", []]


def test_hscan_large_hash_collects_every_field(c: Any) -> None:
    n = 1000
    args: list[Any] = ["HSET", "big"]
    for i in range(n):
        args += [f"f{i}", str(i)]
    c(*args)
    got: dict[bytes, bytes] = {}
    cursor = b"0"
    for _ in range(n):  # bounded: Redis pages, gofish answers at once
        cursor, items = c("HSCAN", "big", cursor, "COUNT", "100")
        got.update(pairs(items))
        if cursor == b"0":
            break
    assert got == {f"f{i}".encode(): str(i).encode() for i in range(n)}


def test_hscan_errors(c: Any) -> None:
    c("HSET", "h", "a", "1")
    c("SADD", "s", "x")
    assert c("HSCAN", "h", "x") == Err(b"ERR invalid cursor")
    assert c("HSCAN", "nokey", "x") == Err(b"ERR invalid cursor")
    assert c("HSCAN", "s", "x") == Err(b"ERR invalid cursor")  # before the type check
    assert c("HSCAN", "s", "0", "COUNT", "0") == WRONGTYPE
    assert c("HSCAN", "h", "0", "COUNT", "0") == SYNTAX
    assert c("HSCAN", "h", "0", "COUNT", "-1") == SYNTAX
    assert c("HSCAN", "h", "0", "COUNT", "x") == NOT_INT
    assert c("HSCAN", "h", "0", "MATCH") == SYNTAX
    assert c("HSCAN", "h", "0", "TYPE", "string") == SYNTAX
    assert c("HSCAN", "h", "0", "FOO", "1") == SYNTAX
    # Options are only parsed when the key exists.
    assert c("HSCAN", "nokey", "0", "COUNT", "0") == [b"0", []]
    assert c("HSCAN", "nokey", "0", "MATCH") == [b"0", []]


# --- WRONGTYPE ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ("HSET", "k", "f", "v"), ("HMSET", "k", "f", "v"), ("HSETNX", "k", "f", "v"),
        ("HGET", "k", "f"), ("HMGET", "k", "f"), ("HDEL", "k", "f"), ("HLEN", "k"),
        ("HSTRLEN", "k", "f"), ("HEXISTS", "k", "f"), ("HKEYS", "k"), ("HVALS", "k"),
        ("HGETALL", "k"), ("HINCRBY", "k", "f", "1"), ("HINCRBYFLOAT", "k", "f", "1"),
        ("HRANDFIELD", "k"), ("HRANDFIELD", "k", "1"), ("HRANDFIELD", "k", "-1", "WITHVALUES"),
        ("HSCAN", "k", "0"),
    ],
)
def test_wrongtype(c: Any, argv: tuple[str, ...]) -> None:
    c("SADD", "k", "member")
    assert c(*argv) == WRONGTYPE
    assert c("SMEMBERS", "k") == [b"member"]


@pytest.mark.parametrize(
    "argv",
    [("HSET",), ("HSET", "h"), ("HSET", "h", "f"), ("HSETNX", "h", "f"), ("HGET", "h"),
     ("HMGET", "h"), ("HDEL", "h"), ("HLEN",), ("HSTRLEN", "h"), ("HEXISTS", "h", "f", "x"),
     ("HKEYS", "h", "x"), ("HVALS",), ("HGETALL", "h", "x"), ("HINCRBY", "h", "f"),
     ("HINCRBYFLOAT", "h", "f", "1", "2"), ("HRANDFIELD",), ("HSCAN", "h"), ("HMSET", "h")],
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
        client.call([b"HSET", b"h", b"a", b"1"])
        assert client.call([b"HGETALL", b"h"]) == b"%1\r\n$1\r\na\r\n$1\r\n1\r\n"
        assert client.call([b"HGETALL", b"nokey"]) == b"%0\r\n"
        assert client.call([b"HRANDFIELD", b"h", b"1", b"WITHVALUES"]) == (
            b"*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"
        )
        assert client.call([b"HRANDFIELD", b"nokey"]) == b"_\r\n"
    finally:
        client.close()


def test_reply_types_engine() -> None:
    e = Engine()
    e.run("HSET", "h", "a", "1", "b", "2")
    got = e.run("HGETALL", "h")
    assert type(got) is Map and list(got) == [(b"a", b"1"), (b"b", b"2")]
    empty = e.run("HGETALL", "nokey")
    assert type(empty) is Map and not empty


# --- engine-level contracts: checks, TTL, type spec ----------------------------------------------
def test_checks_refuse_before_the_log() -> None:
    e = Engine()
    for argv in (("HSET", "h", "a", "1", "b"), ("HMSET", "h", "a", "1", "b"),
                 ("HINCRBY", "h", "f", "x"), ("HINCRBYFLOAT", "h", "f", "x"),
                 ("HINCRBYFLOAT", "h", "f", "inf")):
        assert isinstance(e.run(*argv), ErrorReply)
    assert e.seq == 0  # nothing was proposed


def test_write_keeps_ttl() -> None:
    e = Engine(clock_ms=1_000)
    e.run("HSET", "h", "a", "1")
    ks = e.sm.ks
    ks.set_expire(b"h", 5_000)
    for argv in (("HSET", "h", "b", "2"), ("HSETNX", "h", "c", "3"), ("HDEL", "h", "c"),
                 ("HINCRBY", "h", "n", "1"), ("HINCRBYFLOAT", "h", "x", "1.5")):
        e.run(*argv)
        assert ks.get_expire(b"h") == 5_000, argv
    e.clock_ms = 5_001
    assert e.run("HGET", "h", "a") is None
    assert e.run("HSET", "h", "a", "1") == 1  # the expired hash was dropped at apply
    assert ks.get_expire(b"h") is None


def test_dirty_reports_changes_only() -> None:
    e = Engine()
    ks = e.sm.ks
    e.run("HSET", "h", "a", "1")
    ks.dirty.clear()
    e.run("HDEL", "h", "zz")
    e.run("HSETNX", "h", "a", "2")
    assert ks.dirty == []
    e.run("HSET", "h", "a", "2")
    assert ks.dirty == [b"h"]


def test_type_spec() -> None:
    e = Engine()
    spec = e.table.types_by_name["hash"]
    assert spec.pytype is dict
    small = {b"f%d" % i: b"v" for i in range(128)}
    assert spec.encoding(small) == "listpack"
    assert spec.encoding({**small, b"x": b"v"}) == "hashtable"
    assert spec.encoding({b"f": b"v" * 64}) == "listpack"
    assert spec.encoding({b"f": b"v" * 65}) == "hashtable"
    assert spec.encoding({b"f" * 65: b"v"}) == "hashtable"
    h = {b"b": b"1", b"a": b"2", b"": b""}
    data = msgspec.msgpack.decode(msgspec.msgpack.encode(spec.dump(h)))
    back = spec.load(data)
    assert back == h and list(back) == list(h)
    assert spec.dump(h) == spec.dump(back)
    dup = spec.copy(h)
    dup[b"a"] = b"changed"
    assert h[b"a"] == b"2"


def test_loaded_hash_serves_commands() -> None:
    e = Engine()
    e.run("HSET", "h", "a", "1", "b", "2")
    ks = e.sm.ks
    spec = e.table.types_by_name["hash"]
    ks.set(b"h", spec.load(spec.dump(ks.get(b"h"))))
    assert e.run("HINCRBY", "h", "a", "5") == 6
    assert plain(e.run("HGETALL", "h")) == [b"a", b"6", b"b", b"2"]


def test_command_specs() -> None:
    e = Engine()
    flags = {
        "hset": {"write", "denyoom", "fast"}, "hsetnx": {"write", "denyoom", "fast"},
        "hmset": {"write", "denyoom", "fast"}, "hincrby": {"write", "denyoom", "fast"},
        "hincrbyfloat": {"write", "denyoom", "fast"}, "hdel": {"write", "fast"},
        "hget": {"readonly", "fast"}, "hmget": {"readonly", "fast"},
        "hlen": {"readonly", "fast"}, "hstrlen": {"readonly", "fast"},
        "hexists": {"readonly", "fast"}, "hkeys": {"readonly"}, "hvals": {"readonly"},
        "hgetall": {"readonly"}, "hrandfield": {"readonly"}, "hscan": {"readonly"},
    }
    for name, want in flags.items():
        spec = e.table.lookup(name.encode())
        assert spec is not None and spec.flags == want, name
        assert (spec.first_key, spec.last_key, spec.step) == (1, 1, 1)
        assert spec.group == "hash" and spec.summary and spec.complexity
        assert spec.keys([name.encode(), b"k", b"f", b"v"]) == [b"k"]
