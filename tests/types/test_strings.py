"""String commands: gofish compared with a real Redis 7.0 server, command by command.

Every script below runs on gofish (each side in ``SIDES``: the in-process `sm_harness.Engine`,
i.e. the dispatcher's path of arity, ``check``, apply or read, and the live server once it
answers) and on conftest's reference ``redis-server``; the replies must be identical (TTL-like
replies within a second). Behaviour that needs a fixed clock (expiry arithmetic) is tested on
the engine alone with ``clock_ms`` set.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from typing import Any

import hiredis
import pytest
from sm_harness import Engine

from gofish.reply import ErrorReply, Map, Status
from gofish.statemachine.args import to_int
from gofish.statemachine.entry import FORMAT_VERSION, Command
from gofish.statemachine.longdouble import (
    LongDouble,
    add,
    format_human,
    parse_long_double,
)
from gofish.statemachine.machine import StateMachine
from gofish.statemachine.registry import CommandTable, TypeSpec, load_datatypes
from gofish.statemachine.types import strings_range

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


def err(msg: str) -> tuple[str, bytes]:
    return ("error", msg.encode())


# --- GET / SET -----------------------------------------------------------------------------
def test_get_set_basics(pair: Pair) -> None:
    assert pair("GET", "k") is None
    assert pair("SET", "k", "v") == b"OK"
    assert pair("GET", "k") == b"v"
    pair("SET", "k", b"\x00\xff binary \r\n")
    pair("GET", "k")
    pair("SET", "", "empty key")
    pair("GET", "")
    pair("SET", "k", "")
    pair("GET", "k")
    pair.wrongtype("w")
    assert pair("GET", "w") == err("WRONGTYPE Operation against a key holding the wrong kind "
                                   "of value")
    pair("SET", "w", "now a string")
    pair("GET", "w")
    pair("GET")
    pair("GET", "a", "b")
    pair("SET", "k")


SET_OPTIONS: list[list[str]] = [
    ["NX"], ["XX"], ["GET"], ["KEEPTTL"], ["EX", "100"], ["PX", "100000"],
    ["EXAT", "4000000000"], ["PXAT", "4000000000123"],
]


@pytest.mark.parametrize("start", ["missing", "plain", "with_ttl", "wrongtype"])
def test_set_all_option_combinations(pair: Pair, start: str) -> None:
    for mask in range(1 << len(SET_OPTIONS)):
        chosen = [opt for i, opt in enumerate(SET_OPTIONS) if mask >> i & 1]
        for order in (chosen, chosen[::-1]):
            args = [a for opt in order for a in opt]
            pair("DEL", "k")
            if start == "plain":
                pair("SET", "k", "old")
            elif start == "with_ttl":
                pair("SET", "k", "old", "EX", "5000")
            elif start == "wrongtype":
                pair.wrongtype("k")
            pair("SET", "k", "new", *args)
            pair("TYPE", "k")
            if start != "wrongtype":
                pair("GET", "k")
            pair("TTL", "k")
            if any(o[0].endswith("AT") for o in order):
                pair("PEXPIRETIME", "k")


@pytest.mark.parametrize("args", [
    ["EX", "0"], ["EX", "-1"], ["PX", "0"], ["PX", "-5"], ["EXAT", "0"], ["PXAT", "-1"],
    ["EX", "abc"], ["PX", "1.5"], ["EX", ""], ["EX", "9223372036854775"],
    ["EX", "9223372036854775807"], ["PX", "9223372036854775807"],
    ["EX", "9223372036854775808"], ["EXAT", "9223372036854775"],
    ["PXAT", "9223372036854775807"], ["EX", "10", "PX", "10"], ["PX", "1", "EXAT", "1"],
    ["NX", "XX"], ["XX", "NX"], ["KEEPTTL", "EX", "10"], ["EX", "10", "KEEPTTL"],
    ["EX"], ["PXAT"], ["FOO"], ["PERSIST"], ["EX", "10", "EX", "20"], ["NX", "NX"],
    ["GET", "GET"], ["KEEPTTL", "KEEPTTL"], ["ex", "10"], ["nx", "get"], ["EXAT", "1"],
    ["PXAT", "1", "GET"], ["EX", "-1", "FOO"], ["FOO", "EX", "-1"],
])
def test_set_option_errors_and_edges(pair: Pair, args: list[str]) -> None:
    pair("SET", "k", "old")
    pair("SET", "k", "v", *args)
    pair("GET", "k")
    pair("TTL", "k")
    pair.wrongtype("w")
    pair("SET", "w", "v", *args)


def test_set_get_option_on_wrong_type_changes_nothing(pair: Pair) -> None:
    pair.wrongtype("w")
    pair("SET", "w", "v", "GET")
    pair("TYPE", "w")
    pair("SET", "w", "v")  # plain SET overwrites any type
    pair("GET", "w")


def test_set_expiry_is_computed_from_the_entry_clock() -> None:
    e = make_engine(clock_ms=T0)
    e.run("SET", "a", "v", "EX", 10)
    e.run("SET", "b", "v", "PX", 2500)
    e.run("SET", "c", "v", "EXAT", T0 // 1000 + 7)
    e.run("SET", "d", "v", "PXAT", T0 + 1234)
    assert e.run("PEXPIRETIME", "a") == T0 + 10_000
    assert e.run("PEXPIRETIME", "b") == T0 + 2500
    assert e.run("PEXPIRETIME", "c") == T0 + 7000
    assert e.run("PEXPIRETIME", "d") == T0 + 1234
    e.run("SET", "a", "w", "KEEPTTL")
    assert e.run("PEXPIRETIME", "a") == T0 + 10_000
    e.run("SET", "a", "x")
    assert e.run("PTTL", "a") == -1
    e.clock_ms = T0 + 2500
    assert e.run("GET", "b") == b"v"  # expires when now > at
    e.clock_ms = T0 + 2501
    assert e.run("GET", "b") is None
    # SET ... PXAT in the past stores a key that is already invisible
    assert e.run("SET", "p", "v", "PXAT", T0) == b"OK"
    assert e.run("GET", "p") is None
    assert e.run("SET", "p", "v", "NX") == b"OK"


def test_set_relative_expiry_overflow_uses_entry_time() -> None:
    e = make_engine(clock_ms=T0)
    limit = (1 << 63) - 1 - T0
    assert e.run("SET", "k", "v", "PX", limit) == b"OK"
    assert e.run("SET", "k", "v", "PX", limit + 1) == ErrorReply(
        b"ERR invalid expire time in 'set' command")


# --- SETNX SETEX PSETEX GETSET GETDEL -------------------------------------------------------
def test_setnx(pair: Pair) -> None:
    assert pair("SETNX", "k", "a") == 1
    assert pair("SETNX", "k", "b") == 0
    pair("GET", "k")
    pair.wrongtype("w")
    pair("SETNX", "w", "x")
    pair("SETNX", "k")


@pytest.mark.parametrize("cmd", ["SETEX", "PSETEX"])
def test_setex_psetex(pair: Pair, cmd: str) -> None:
    pair(cmd, "k", "100000", "v")
    pair("GET", "k")
    pair("TTL", "k")
    for bad in ["0", "-1", "abc", "1.5", "9223372036854775807", "9223372036854775808", ""]:
        pair(cmd, "k", bad, "v")
    pair(cmd, "k", "10")
    pair(cmd, "k", "10", "v", "extra")
    pair.wrongtype("w")
    pair(cmd, "w", "1000", "v")
    pair("GET", "w")


def test_getset(pair: Pair) -> None:
    pair("GETSET", "k", "a")
    pair("SET", "k", "b", "EX", "100")
    pair("GETSET", "k", "c")
    pair("TTL", "k")  # GETSET clears the TTL
    pair("GET", "k")
    pair.wrongtype("w")
    pair("GETSET", "w", "x")
    pair("TYPE", "w")


def test_getdel(pair: Pair) -> None:
    pair("GETDEL", "k")
    pair("SET", "k", "v")
    pair("GETDEL", "k")
    pair("EXISTS", "k")
    pair.wrongtype("w")
    pair("GETDEL", "w")
    pair("EXISTS", "w")
    pair("GETDEL", "a", "b")


# --- GETEX ---------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    [], ["EX", "100"], ["PX", "100000"], ["EXAT", "4000000000"], ["PXAT", "4000000000123"],
    ["PERSIST"], ["EX", "0"], ["EX", "-1"], ["PX", "abc"], ["EXAT", "1"], ["PXAT", "1"],
    ["EX", "9223372036854775807"], ["PX", "9223372036854775807"], ["EX", "1", "PX", "1"],
    ["PERSIST", "EX", "1"], ["EX", "1", "PERSIST"], ["PERSIST", "PERSIST"], ["KEEPTTL"],
    ["NX"], ["GET"], ["EX"], ["FOO"], ["EX", "10", "EX", "20"], ["persist"],
])
def test_getex(pair: Pair, args: list[str]) -> None:
    for start in ("missing", "plain", "with_ttl", "wrongtype"):
        pair("DEL", "k")
        if start == "plain":
            pair("SET", "k", "v")
        elif start == "with_ttl":
            pair("SET", "k", "v", "EX", "5000")
        elif start == "wrongtype":
            pair.wrongtype("k")
        pair("GETEX", "k", *args)
        pair("EXISTS", "k")
        pair("TTL", "k")


def test_getex_times_come_from_the_entry_clock() -> None:
    e = make_engine(clock_ms=T0)
    e.run("SET", "k", "v")
    assert e.run("GETEX", "k", "PX", 500) == b"v"
    assert e.run("PEXPIRETIME", "k") == T0 + 500
    assert e.run("GETEX", "k", "PERSIST") == b"v"
    assert e.run("PTTL", "k") == -1
    assert e.run("GETEX", "k", "PXAT", T0) == b"v"  # now <= at: deleted at once
    assert e.run("EXISTS", "k") == 0
    e.run("SET", "k", "v")
    assert e.run("GETEX", "k", "PXAT", T0 + 1) == b"v"
    assert e.run("PTTL", "k") == 1


# --- MGET MSET MSETNX ------------------------------------------------------------------------
def test_mget_mset_msetnx(pair: Pair) -> None:
    pair("MSET", "a", "1", "b", "2", "a", "3")
    pair("MGET", "a", "b", "c", "a")
    pair.wrongtype("w")
    pair("MGET", "a", "w", "b")
    pair("MSET", "a")
    pair("MSET", "a", "1", "b")
    pair("MSETNX", "a", "1", "b")
    pair("MSETNX", "x", "1", "y", "2")
    pair("MSETNX", "x", "1", "z", "2")
    pair("MGET", "x", "y", "z")
    pair("MSETNX", "w", "1")
    pair("MSETNX", "p", "1", "p", "2")
    pair("GET", "p")
    pair("SET", "t", "1", "EX", "100")
    pair("MSET", "t", "2")
    pair("TTL", "t")
    pair("MGET")


# --- APPEND STRLEN GETRANGE SUBSTR SETRANGE --------------------------------------------------
def test_append_strlen(pair: Pair) -> None:
    pair("APPEND", "k", "hello")
    pair("APPEND", "k", " world")
    pair("APPEND", "k", "")
    pair("GET", "k")
    pair("STRLEN", "k")
    pair("STRLEN", "missing")
    pair("SET", "n", "12345")
    pair("STRLEN", "n")
    pair("APPEND", "n", "6")
    pair("INCR", "n")
    pair("SET", "t", "x", "EX", "100")
    pair("APPEND", "t", "y")
    pair("TTL", "t")  # APPEND keeps the TTL
    pair.wrongtype("w")
    pair("APPEND", "w", "x")
    pair("STRLEN", "w")
    pair("APPEND", "k")


def test_append_and_setrange_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    assert strings_range.MAX_STRING == 512 * 1024 * 1024  # Redis's proto-max-bulk-len
    monkeypatch.setattr(strings_range, "MAX_STRING", 10)  # same code path, small memory
    too_long = ErrorReply(b"ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    e = make_engine()
    e.run("SET", "k", "123456789")
    assert e.run("APPEND", "k", "xy") == too_long
    assert e.run("GET", "k") == b"123456789"
    assert e.run("SETRANGE", "k", 9, "ab") == too_long
    assert e.run("SETRANGE", "k", 100, "") == 9
    assert e.run("SETRANGE", "new", 10, "a") == too_long
    assert e.run("EXISTS", "new") == 0
    assert e.run("APPEND", "k", "x") == 10
    assert e.run("SETRANGE", "k", 9, "z") == 10
    assert e.run("GET", "k") == b"123456789z"


@pytest.mark.parametrize("value", ["Hello World", "", "1234567", "x"])
def test_getrange_substr(pair: Pair, value: str) -> None:
    pair("SET", "k", value)
    points = ["0", "1", "-1", "-2", "3", "-5", "100", "-100", "5", "10", "11",
              "9223372036854775807", "-9223372036854775808"]
    for cmd in ("GETRANGE", "SUBSTR"):
        for s in points:
            for t in points:
                pair(cmd, "k", s, t)
        pair(cmd, "missing", "0", "-1")
        pair(cmd, "k", "a", "1")
        pair(cmd, "k", "0", "1.5")
        pair(cmd, "k", "0")
    pair.wrongtype("w")
    pair("GETRANGE", "w", "0", "-1")
    pair("GETRANGE", "w", "x", "-1")


def test_setrange(pair: Pair) -> None:
    pair("SETRANGE", "k", "0", "")
    pair("EXISTS", "k")
    pair("SETRANGE", "k", "5", "abc")
    pair("GET", "k")
    pair("SETRANGE", "k", "1", "ZZ")
    pair("SETRANGE", "k", "7", "1234")
    pair("SETRANGE", "k", "20", "")
    pair("GET", "k")
    pair("SETRANGE", "k", "-1", "x")
    pair("SETRANGE", "k", "abc", "x")
    pair("SETRANGE", "k", "536870911", "xx")
    pair("SETRANGE", "k", "536870912", "")
    pair("SETRANGE", "nokey", "536870912", "")
    pair("SETRANGE", "nokey", "536870912", "x")
    pair("SET", "n", "100")
    pair("SETRANGE", "n", "1", "5")
    pair("INCR", "n")
    pair("SET", "t", "x", "EX", "100")
    pair("SETRANGE", "t", "0", "y")
    pair("TTL", "t")
    pair.wrongtype("w")
    pair("SETRANGE", "w", "0", "x")
    pair("SETRANGE", "w", "0", "")
    pair("SETRANGE", "w", "-1", "x")
    pair("SETRANGE", "k", "1")


# --- INCR DECR INCRBY DECRBY ---------------------------------------------------------------
def test_incr_family(pair: Pair) -> None:
    pair("INCR", "k")
    pair("INCRBY", "k", "41")
    pair("DECR", "k")
    pair("DECRBY", "k", "-10")
    pair("GET", "k")
    for v in ["9223372036854775807", "-9223372036854775808", "abc", "1.5", " 1", "+1", "01",
              "-0", "", "18446744073709551616", "0", "1_0", "00", "\t1", "1\x00"]:
        pair("SET", "n", v)
        pair("INCR", "n")
        pair("DECR", "n")
        pair("INCRBY", "n", "-9223372036854775808")
        pair("DECRBY", "n", "9223372036854775807")
        pair("GET", "n")
    for bad in ["abc", "1.0", "", "9223372036854775808", " 1", "+5", "0x10"]:
        pair("INCRBY", "k", bad)
        pair("DECRBY", "k", bad)
    pair("DECRBY", "k", "-9223372036854775808")
    pair("DECRBY", "missing", "-9223372036854775808")
    pair("SET", "t", "5", "EX", "100")
    pair("INCR", "t")
    pair("TTL", "t")  # INCR keeps the TTL
    pair.wrongtype("w")
    pair("INCR", "w")
    pair("INCRBY", "w", "abc")  # a malformed increment is refused before the type check
    pair("DECRBY", "w", "-9223372036854775808")
    pair("INCR")
    pair("INCRBY", "k")


def test_incr_accepts_exactly_the_canonical_64_bit_integers() -> None:
    """INCR's fast parse agrees with args.to_int (Redis's string2ll) on odd inputs."""
    rnd = random.Random(3)
    e = make_engine()
    samples = [b"0", b"-0", b"00", b"+1", b"1_0", b"\t1", "\u0661".encode(), b"-",
               b"9223372036854775807", b"-9223372036854775808", b"9223372036854775808"]
    samples += [bytes(rnd.choice(b"0123456789-+ _\t") for _ in range(rnd.randint(0, 6)))
                for _ in range(3000)]
    for v in samples:
        e.sm.ks.set(b"z", v)
        n = to_int(v)
        want = n if n is not None else ErrorReply(b"ERR value is not an integer or out of range")
        assert e.run("INCRBY", "z", 0) == want, v


# --- INCRBYFLOAT -----------------------------------------------------------------------------
FLOAT_CASES: list[tuple[str | None, str]] = [
    ("10.5", "0.1"), ("10.6", "5.0e3"), ("0", "3.0e3"), (None, "3.0e3"), ("5010.6", "-10.6"),
    (None, "1"), (None, "-1"), (None, "0.1"), ("0.1", "0.2"), ("1", "-1"), ("0", "-0"),
    (None, "-0.0"), ("-0", "0"), ("1", "1e-20"), ("0", "-1e-30"), ("1e308", "1e308"),
    ("1e4932", "1"), ("1.18973149535723176502e+4932", "0"), ("1e4933", "0"),
    ("1.18973149535723176502e+4932", "1e4931"), ("1", "1e-4940"), ("1", "1e-5000"),
    ("0", "3.6451995318824746025e-4951"), ("0", "1.8225997659412373012e-4951"),
    ("0", "1.8225997659412373013e-4951"), ("1", "1e5000"), ("1", "inf"), ("1", "-inf"),
    ("1", "+inf"), ("1", "Infinity"), ("1", "nan"), ("1", "NaN"), ("inf", "1"),
    ("inf", "-inf"), ("1", " 1"), ("1", "1 "), ("1", ""), ("1", "."), ("1", "-"), ("1", "1e"),
    ("1", "1e+"), ("1", "1.5e3x"), ("1", "0x10"), ("1", "0X1.8P1"), ("1", "0x"), ("1", "0x.8"),
    ("1", "0x1p-16446"), ("1", "0x1p16384"), ("1", "0x1p16383"), ("1", "-.5"), ("1", "5."),
    ("1", "+3"), ("1", "0e-99999"), ("1", "0e99999999999999999999"),
    ("1", "1e-99999999999999999999"), ("1", "1e99999999999999999999"),
    ("abc", "1"), ("", "1"), (" 1", "1"), ("1.5", "abc"), ("9223372036854775807", "1"),
    ("-9223372036854775808", "-0.5"), ("18446744073709551617", "1"),
    ("0.000003814697265625", "0"), ("0.000011444091796875", "0"), ("3", "1.0000000000000000001"),
    ("1", "0." + "0" * 4000 + "1"), ("1", "1" * 300), ("1", "1" * 5119), ("1", "1" * 5120),
    ("-1", "0.99999999999999999999"), ("123456789012345678901234567890", "0.5"),
    ("1", "1.5\x00zz"), ("1", "\x00"), ("1", "١"),
]


def test_incrbyfloat_matches_redis(pair: Pair) -> None:
    for cur, inc in FLOAT_CASES:
        pair("DEL", "f")
        if cur is not None:
            pair("SET", "f", cur)
        pair("INCRBYFLOAT", "f", inc)
        pair("GET", "f")


def _random_number(rnd: random.Random) -> str:
    kind = rnd.randrange(7)
    if kind == 0:
        return repr(rnd.uniform(-1e6, 1e6))
    if kind == 1:
        mant = rnd.randint(-(10 ** rnd.randint(1, 25)), 10 ** rnd.randint(1, 25))
        return f"{mant}e{rnd.randint(-5000, 5000)}"
    if kind == 2:
        return f"{rnd.uniform(-1000, 1000):.{rnd.randint(0, 30)}f}"
    if kind == 3:
        return f"0x{rnd.getrandbits(rnd.randint(1, 80)):x}p{rnd.randint(-16500, 16400)}"
    if kind == 4:
        return str(rnd.randint(-(2**63), 2**63 - 1))
    if kind == 5:
        return f"{rnd.choice('-+')}{rnd.randint(0, 99)}.{rnd.randint(0, 10**20)}"
    return f"{rnd.uniform(-1, 1)}e{rnd.randint(-20, 20)}"


def test_incrbyfloat_random_values_match_redis(pair: Pair) -> None:
    rnd = random.Random(20261126)
    for _ in range(1500):  # bounded
        cur = None if rnd.random() < 0.15 else _random_number(rnd)
        inc = _random_number(rnd)
        if cur is None:
            pair("DEL", "f")
        else:
            pair("SET", "f", cur)
        pair("INCRBYFLOAT", "f", inc)


def test_incrbyfloat_chains_match_redis(pair: Pair) -> None:
    """Results feed the next parse: rounding errors must accumulate exactly as in Redis."""
    rnd = random.Random(7)
    for _ in range(300):  # bounded
        pair("INCRBYFLOAT", "acc", f"{rnd.uniform(-3, 3):.{rnd.randint(1, 19)}f}")


def test_incrbyfloat_errors_and_ttl(pair: Pair) -> None:
    pair.wrongtype("w")
    pair("INCRBYFLOAT", "w", "1")
    pair("INCRBYFLOAT", "w", "abc")  # WRONGTYPE comes first in Redis
    pair("SET", "s", "abc")
    pair("INCRBYFLOAT", "s", "xyz")
    pair("SET", "t", "1.5", "EX", "100")
    pair("INCRBYFLOAT", "t", "1")
    pair("TTL", "t")  # kept
    pair("INCRBYFLOAT", "t")


def test_long_double_model_rounding() -> None:
    # 2**64 + 1 needs 65 bits: ties to even drops the 1, 2**64 + 3 rounds up to 2**64 + 4
    v = parse_long_double(str(2**64 + 1).encode())
    assert v is not None and v.m * 2**v.e == 2**64
    v = parse_long_double(str(2**64 + 3).encode())
    assert v is not None and v.m * 2**v.e == 2**64 + 4
    one = parse_long_double(b"1")
    tiny = parse_long_double(b"0x1p-64")
    assert one is not None and tiny is not None
    s = add(one, tiny)  # exactly half an ulp of 1: ties to even stays 1
    assert s is not None and format_human(s) == b"1"
    assert add(LongDouble(1, 0, 0), LongDouble(1, 0, 0)) == LongDouble(1, 0, 0)
    assert format_human(LongDouble(1, 0, 0)) == b"0"
    assert add(LongDouble(0, 0, 0, True), one) is None


# --- LCS -----------------------------------------------------------------------------------
LCS_PAIRS = [
    ("ohmytext", "mynewtext"), ("", ""), ("abc", ""), ("abcdef", "abcdef"),
    ("rosettacode", "raisethysword"), ("aaaa", "aa"), ("abcabcabc", "cbacbacba"),
    ("1234567890", "0987654321"), ("xyz", "abc"),
]


@pytest.mark.parametrize(("a", "b"), LCS_PAIRS)
def test_lcs(pair: Pair, a: str, b: str) -> None:
    pair("SET", "a", a)
    pair("SET", "b", b)
    for opts in ([], ["LEN"], ["IDX"], ["IDX", "WITHMATCHLEN"], ["IDX", "MINMATCHLEN", "2"],
                 ["IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"], ["IDX", "MINMATCHLEN", "-3"],
                 ["len"], ["idx", "withmatchlen"], ["WITHMATCHLEN"], ["MINMATCHLEN", "1"]):
        pair("LCS", "a", "b", *opts)
        pair("LCS", "b", "a", *opts)
    pair("LCS", "a", "missing")
    pair("LCS", "missing", "b", "IDX")


def test_lcs_random_matches_redis(pair: Pair) -> None:
    rnd = random.Random(99)
    for _ in range(60):  # bounded
        a = "".join(rnd.choice("abcd") for _ in range(rnd.randint(0, 60)))
        b = "".join(rnd.choice("abcd") for _ in range(rnd.randint(0, 60)))
        pair("MSET", "a", a, "b", b)
        for opts in ([], ["LEN"], ["IDX", "WITHMATCHLEN"], ["IDX", "MINMATCHLEN", "3"]):
            pair("LCS", "a", "b", *opts)


def test_lcs_errors(pair: Pair) -> None:
    pair("SET", "a", "abc")
    pair.wrongtype("w")
    pair("LCS", "a", "w")
    pair("LCS", "w", "a", "FOO")  # the type error comes before option errors
    pair("LCS", "a", "b", "LEN", "IDX")
    pair("LCS", "a", "b", "FOO")
    pair("LCS", "a", "b", "MINMATCHLEN")
    pair("LCS", "a", "b", "MINMATCHLEN", "x")
    pair("LCS", "a")


def test_lcs_memory_limit() -> None:
    e = make_engine()
    e.sm.ks.set(b"a", b"x" * 12000)
    e.sm.ks.set(b"b", b"y" * 12000)
    assert e.run("LCS", "a", "b", "LEN") == ErrorReply(
        b"ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")


def test_lcs_long_strings_are_fast_enough() -> None:
    rnd = random.Random(5)
    e = make_engine()
    a = bytes(rnd.choice(b"ACGT") for _ in range(3000))
    b = bytes(rnd.choice(b"ACGT") for _ in range(3000))
    e.sm.ks.set(b"a", a)
    e.sm.ks.set(b"b", b)
    n = e.run("LCS", "a", "b", "LEN")
    s = e.run("LCS", "a", "b")
    assert isinstance(n, int) and isinstance(s, bytes) and len(s) == n > 1500
    it = iter(a)
    assert all(c in it for c in s)  # a subsequence of a


# --- type, encoding, determinism ------------------------------------------------------------
def test_type_and_object_encoding(pair: Pair) -> None:
    for v in ["123", "-9223372036854775808", "9223372036854775808", "0123", "x" * 44,
              "x" * 45, "", "1.5", "12345678901234567890"]:
        pair("SET", "k", v)
        pair("TYPE", "k")
        pair("OBJECT", "ENCODING", "k")


def test_string_type_dump_load_copy() -> None:
    table = CommandTable()
    load_datatypes(table, ["strings"])
    spec = table.types_by_name["string"]
    assert spec.pytype is bytes
    assert spec.load(spec.dump(b"\x00abc")) == b"\x00abc"
    assert spec.copy(b"abc") == b"abc"
    with pytest.raises(TypeError):
        spec.load(12)


def test_apply_is_deterministic_across_nodes() -> None:
    """Two machines applying the same entries at different wall times end up identical."""
    def build() -> StateMachine:
        table = CommandTable()
        load_datatypes(table)
        return StateMachine(table, 16)

    entries = [
        [b"SET", b"a", b"1.1", b"EX", b"100"], [b"INCRBYFLOAT", b"a", b"2.2e-3"],
        [b"SETEX", b"b", b"50", b"v"], [b"GETEX", b"b", b"PX", b"777"],
        [b"INCRBYFLOAT", b"c", b"0x1p-70"], [b"APPEND", b"a", b"9"],
        [b"SETRANGE", b"d", b"3", b"x"],
    ]
    machines = [build(), build()]
    replies = []
    for sm in machines:
        out = []
        for seq, argv in enumerate(entries, 1):
            out.append(sm.apply(Command(FORMAT_VERSION, 1, seq, T0 + seq, seq * 31, [argv])))
        replies.append(out)
    assert replies[0] == replies[1]
    for p0, p1 in zip(machines[0].ks.partitions, machines[1].ks.partitions, strict=True):
        assert p0.data == p1.data and p0.expires == p1.expires
    assert machines[0].ks.partition_of(b"b").expires[b"b"] == T0 + 4 + 777


def test_command_specs() -> None:
    e = make_engine()
    spec = e.table.lookup(b"SET")
    assert spec is not None and spec.is_write and "denyoom" in spec.flags
    assert spec.group == "string" and spec.keys([b"SET", b"k", b"v"]) == [b"k"]
    mset = e.table.lookup(b"mset")
    assert mset is not None and mset.keys([b"MSET", b"a", b"1", b"b", b"2"]) == [b"a", b"b"]
    lcs = e.table.lookup(b"lcs")
    assert lcs is not None and lcs.keys([b"LCS", b"a", b"b", b"LEN"]) == [b"a", b"b"]
    for name in ["get", "mget", "strlen", "getrange", "substr", "lcs"]:
        s = e.table.lookup(name.encode())
        assert s is not None and "readonly" in s.flags and not s.is_write, name
    for name in ["set", "setnx", "setex", "psetex", "getset", "getdel", "getex", "mset",
                 "msetnx", "append", "setrange", "incr", "decr", "incrby", "decrby",
                 "incrbyfloat"]:
        s = e.table.lookup(name.encode())
        assert s is not None and s.is_write and s.summary and s.complexity, name

