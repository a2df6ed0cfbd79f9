"""Sorted sets beyond the reply: blocking (`WouldBlock`, MULTI), ``check`` keeping syntax
errors out of the log, ``keys_of``, the command table against Redis's COMMAND INFO, replica
agreement; a hypothesis test running random command sequences on the engine and on Redis 7.0,
comparing every reply in RESP2 and RESP3; and redis-py against the live gofish.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from diff.rawclient import RawClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sm_harness import Engine
from zset_backends import EngineBackend, ServerBackend, argv_of

from gofish.errors import CommandError
from gofish.reply import NullArray
from gofish.statemachine.entry import FORMAT_VERSION, Command
from gofish.statemachine.registry import WouldBlock
from gofish.statemachine.types.zset_model import ZSET_TYPE

EXAMPLES = int(os.environ.get("GOFISH_DIFF_EXAMPLES", "40"))


# --- engine only: blocking, MULTI, check, keys ------------------------------------------------
def _multi(e: Engine, *cmds: tuple[Any, ...]) -> Any:
    argvs = [argv_of(cmd) for cmd in cmds]
    e.seq += 1
    return e.sm.apply(Command(FORMAT_VERSION, 1, e.seq, e.now(), 99, argvs, multi=True))


def test_blocking_forms_would_block_without_changes() -> None:
    e = Engine()
    e.run("ZADD", "z", 1, "a")
    got = e.run("BZPOPMIN", "k1", "k2", "2.5")
    assert isinstance(got, WouldBlock)
    assert got.keys == [b"k1", b"k2"] and got.timeout == 2.5 and got.timeout_reply is NullArray
    got = e.run("BZMPOP", "0", 2, "k1", "k2", "MAX", "COUNT", 3)
    assert isinstance(got, WouldBlock)
    assert got.keys == [b"k1", b"k2"] and got.timeout == 0 and got.timeout_reply is NullArray
    got = e.run("BZPOPMAX", "k1", "z", 0)
    assert got == [b"z", b"a", 1.0]
    assert e.run("EXISTS", "z") == 0


def test_blocking_forms_in_multi_reply_the_timeout_reply() -> None:
    e = Engine()
    e.run("ZADD", "z", 1, "a")
    replies = _multi(e, ("BZPOPMIN", "nokey", "0"), ("BZMPOP", "0", 1, "nokey", "MIN"),
                     ("BZPOPMAX", "z", "0"))
    assert replies[0] is NullArray and replies[1] is NullArray
    assert replies[2] == [b"z", b"a", 1.0]


def test_blocking_in_multi_on_servers(request: pytest.FixtureRequest) -> None:
    for fixture in ("redis_ref", "gofish"):
        client = RawClient(request.getfixturevalue(fixture).port)
        try:
            client.call([b"FLUSHALL"])
            client.call([b"MULTI"])
            client.call([b"BZPOPMIN", b"nokey", b"0"])
            client.call([b"BZMPOP", b"0", b"1", b"nokey", b"MIN"])
            assert client.call([b"EXEC"]) == b"*2\r\n*-1\r\n*-1\r\n", fixture
        finally:
            client.close()


WRITE_ERRORS = [
    ("ZADD", "z", "NX", "XX", 1, "a"), ("ZADD", "z", "x", "a"), ("ZADD", "z", 1, "a", 2),
    ("ZADD", "z", "INCR", 1, "a", 2, "b"), ("ZINCRBY", "z", "x", "a"),
    ("ZREMRANGEBYRANK", "z", "x", 1), ("ZREMRANGEBYSCORE", "z", "x", 1),
    ("ZREMRANGEBYLEX", "z", "x", "+"), ("ZPOPMIN", "z", -1), ("ZPOPMAX", "z", 1, 2),
    ("BZPOPMIN", "z", "x"), ("BZPOPMAX", "z", -1), ("ZMPOP", 0, "z", "MIN"),
    ("ZMPOP", 1, "z", "MID"), ("BZMPOP", "x", 1, "z", "MIN"),
    ("BZMPOP", 0, 1, "z", "MIN", "COUNT", 0),
    ("ZRANGESTORE", "d", "z", 0, 1, "WITHSCORES"), ("ZRANGESTORE", "d", "z", "x", 1, "BYSCORE"),
    ("ZUNIONSTORE", "d", 0, "z"), ("ZDIFFSTORE", "d", "x", "z"), ("ZUNIONSTORE", "d", 2, "z"),
]


@pytest.mark.parametrize("cmd", WRITE_ERRORS, ids=lambda cmd: " ".join(map(str, cmd)))
def test_write_syntax_errors_are_caught_by_check(cmd: tuple[Any, ...]) -> None:
    e = Engine()
    spec = e.table.lookup(argv_of(cmd)[0])
    assert spec is not None and spec.is_write and spec.check is not None
    with pytest.raises(CommandError):
        spec.check(argv_of(cmd))


def test_store_option_errors_come_after_the_type_check() -> None:
    # Redis looks the sources up before parsing the options: check() lets them through and
    # the apply refuses them (WRONGTYPE first), changing nothing.
    e = Engine()
    e.run("SET", "str", "v")
    e.run("ZADD", "d", 1, "x")
    spec = e.table.lookup(b"ZINTERSTORE")
    assert spec is not None and spec.check is not None
    spec.check(argv_of(("ZINTERSTORE", "d", 1, "str", "WEIGHTS", "x")))
    assert e.run("ZINTERSTORE", "d", 1, "str", "WEIGHTS", "x") == (
        b"WRONGTYPE Operation against a key holding the wrong kind of value")
    assert e.run("ZINTERSTORE", "d", 1, "d", "WEIGHTS", "x") == b"ERR weight value is not a float"
    assert e.run("ZUNIONSTORE", "d", 1, "d", "WITHSCORES") == b"ERR syntax error"
    assert e.run("ZRANGE", "d", 0, -1, "WITHSCORES") == [(b"x", 1.0)]


def test_keys_of_movable_commands() -> None:
    e = Engine()

    def keys(*args: Any) -> list[bytes]:
        argv = argv_of(args)
        spec = e.table.lookup(argv[0])
        assert spec is not None
        return spec.keys(argv)

    assert keys("ZUNIONSTORE", "d", 2, "a", "b", "WEIGHTS", 1, 2) == [b"d", b"a", b"b"]
    assert keys("ZDIFFSTORE", "d", "x", "a") == [b"d"]
    assert keys("ZINTERSTORE", "d", 5, "a") == [b"d"]
    assert keys("ZUNION", 2, "a", "b", "WITHSCORES") == [b"a", b"b"]
    assert keys("ZINTERCARD", 1, "a", "LIMIT", 1) == [b"a"]
    assert keys("ZDIFF", 0, "a") == []
    assert keys("ZMPOP", 2, "a", "b", "MIN") == [b"a", b"b"]
    assert keys("BZMPOP", 0, 1, "a", "MIN") == [b"a"]
    assert keys("BZMPOP", 0, 9, "a", "MIN") == []
    assert keys("BZPOPMIN", "a", "b", 0) == [b"a", b"b"]
    assert keys("ZRANGESTORE", "d", "s", 0, 1) == [b"d", b"s"]
    assert keys("ZADD", "k", 1, "m") == [b"k"]


def test_command_specs_match_redis(r_ref: Any) -> None:
    e = Engine()
    names = [n for n, spec in e.table.commands.items() if spec.group == "sorted-set"]
    assert len(names) == 35
    conn = r_ref.connection_pool.get_connection()
    try:
        conn.send_command("COMMAND", "INFO", *names)
        infos = conn.read_response()
    finally:
        r_ref.connection_pool.release(conn)
    for info in infos:
        spec = e.table.commands[info[0]]
        flags = {f.decode() for f in info[2]}
        assert spec.arity == info[1], spec.name
        assert spec.flags == flags, spec.name
        assert (spec.first_key, spec.last_key, spec.step) == tuple(info[3:6]), spec.name


def test_zadd_replicas_agree() -> None:
    # Apply is a pure function of the log: two machines given the same entries agree exactly.
    cmds = [("ZADD", "z", 3, "c", 1, "a"), ("ZINCRBY", "z", 2, "a"), ("ZRANDMEMBER", "z", -3),
            ("ZUNIONSTORE", "u", 2, "z", "z"), ("ZPOPMIN", "u"), ("ZADD", "z", "GT", 0, "c")]
    engines = [Engine(clock_ms=1000), Engine(clock_ms=1000)]
    replies = [[e.run(*cmd) for cmd in cmds] for e in engines]
    assert replies[0] == replies[1]
    dumps = [
        {k: ZSET_TYPE.dump(v) for p in e.sm.ks.partitions for k, v in p.data.items()}
        for e in engines
    ]
    assert dumps[0] == dumps[1] and set(dumps[0]) == {b"z", b"u"}


# --- differential: random sequences, engine vs Redis, RESP2 and RESP3 -------------------------
_KEYS = [b"k1", b"k2", b"str", b"set"]
_MEMBERS = [b"a", b"b", b"c", b"aa", b"", b"\x00", b"z", b"L" * 65]
_SCORES = [b"0", b"1", b"-1", b"2.5", b"inf", b"-inf", b"1e17", b"0.1", b"-0", b"x", b"nan",
           b"(1", b"0x10", b"3"]
_BOUNDS = [b"-inf", b"+inf", b"0", b"1", b"(1", b"2.5", b"(2.5", b"-1", b"x", b"", b"(", b"3"]
_LEX = [b"-", b"+", b"[a", b"(a", b"[b", b"(c", b"[", b"(", b"a", b"[aa", b"[z"]
_INTS = [b"0", b"1", b"2", b"-1", b"-2", b"5", b"x"]

k = st.sampled_from(_KEYS)
m = st.sampled_from(_MEMBERS)
sc = st.sampled_from(_SCORES)
bd = st.sampled_from(_BOUNDS)
lx = st.sampled_from(_LEX)
n = st.sampled_from(_INTS)
flag = st.sampled_from([b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR"])


def _c(*parts: Any) -> st.SearchStrategy[list[bytes]]:
    return st.tuples(*(p if isinstance(p, st.SearchStrategy) else st.just(p) for p in parts)).map(
        list)


def _opt(*parts: Any) -> st.SearchStrategy[list[bytes]]:
    return st.one_of(st.just([]), _c(*parts))


def _join(*strats: st.SearchStrategy[list[bytes]]) -> st.SearchStrategy[list[bytes]]:
    return st.tuples(*strats).map(lambda parts: [a for p in parts for a in p])


_range_opts = st.lists(st.sampled_from([[b"REV"], [b"WITHSCORES"], [b"BYSCORE"], [b"BYLEX"],
                                        [b"LIMIT", b"1", b"2"], [b"LIMIT", b"0", b"-1"]]),
                       max_size=3).map(lambda ls: [a for x in ls for a in x])
_keys = st.lists(k, min_size=1, max_size=3)
_numkeys = _keys.map(lambda ks: [str(len(ks)).encode(), *ks])
_algebra_opts = st.lists(st.sampled_from([[b"AGGREGATE", b"MIN"], [b"AGGREGATE", b"MAX"],
                                          [b"AGGREGATE", b"SUM"], [b"WITHSCORES"],
                                          [b"WEIGHTS", b"2"], [b"WEIGHTS", b"-1", b"0.5"],
                                          [b"WEIGHTS", b"0"], [b"WEIGHTS", b"inf", b"-inf"]]),
                         max_size=2).map(lambda ls: [a for x in ls for a in x])

COMMANDS = st.one_of(
    _join(_c(b"ZADD", k), st.lists(flag, max_size=2),
          st.lists(_c(sc, m), min_size=1, max_size=3).map(lambda ps: [a for p in ps for a in p])),
    _c(b"ZADD", k, st.sampled_from([b"0"]), m),
    _c(b"ZINCRBY", k, sc, m), _c(b"ZREM", k, m, m), _c(b"ZCARD", k), _c(b"ZSCORE", k, m),
    _c(b"ZMSCORE", k, m, m), _c(b"ZRANK", k, m), _c(b"ZREVRANK", k, m), _c(b"ZCOUNT", k, bd, bd),
    _c(b"ZLEXCOUNT", k, lx, lx),
    _join(_c(b"ZRANGE", k), st.one_of(_c(n, n), _c(bd, bd), _c(lx, lx)), _range_opts),
    _join(_c(b"ZRANGESTORE", k, k), st.one_of(_c(n, n), _c(bd, bd), _c(lx, lx)), _range_opts),
    _join(_c(st.sampled_from([b"ZRANGEBYSCORE", b"ZREVRANGEBYSCORE"]), k, bd, bd),
          _opt(b"WITHSCORES"), _opt(b"LIMIT", n, n)),
    _join(_c(st.sampled_from([b"ZRANGEBYLEX", b"ZREVRANGEBYLEX"]), k, lx, lx),
          _opt(b"LIMIT", n, n)),
    _join(_c(b"ZREVRANGE", k, n, n), _opt(b"WITHSCORES")),
    _c(b"ZREMRANGEBYRANK", k, n, n), _c(b"ZREMRANGEBYSCORE", k, bd, bd),
    _c(b"ZREMRANGEBYLEX", k, lx, lx),
    _join(_c(st.sampled_from([b"ZPOPMIN", b"ZPOPMAX"]), k), _opt(n)),
    _join(_c(st.sampled_from([b"ZUNION", b"ZINTER", b"ZDIFF"])), _numkeys, _algebra_opts),
    _join(_c(st.sampled_from([b"ZUNIONSTORE", b"ZINTERSTORE", b"ZDIFFSTORE"]), k), _numkeys,
          _algebra_opts),
    _join(_c(b"ZINTERCARD"), _numkeys, _opt(b"LIMIT", n)),
    _join(_c(b"ZMPOP"), _numkeys, _c(st.sampled_from([b"MIN", b"MAX", b"MID"])),
          _opt(b"COUNT", n)),
    _join(_c(b"ZSCAN", k, b"0"), _opt(b"MATCH", st.sampled_from([b"a*", b"*", b"?"]))),
    _c(b"ZRANDMEMBER", k, st.sampled_from([b"200", b"0", b"x"]), b"WITHSCORES"),
    _join(_c(st.sampled_from([b"BZPOPMIN", b"BZPOPMAX"])), st.lists(k, min_size=1, max_size=2),
          _c(st.sampled_from([b"0", b"-1", b"x"]))),
    _join(_c(b"BZMPOP", b"0"), _numkeys, _c(st.sampled_from([b"MIN", b"MAX"])),
          _opt(b"COUNT", n)),
    st.integers(120, 135).map(
        lambda size: [b"ZADD", b"k1", *[a for i in range(size) for a in (b"%d" % i, b"m%d" % i)]]),
    _c(b"OBJECT", b"ENCODING", k), _c(b"TYPE", k),
)


def _unordered(argv: list[bytes]) -> bool:
    return argv[0].upper() == b"ZRANDMEMBER"


def _pairs(flat: list[bytes]) -> set[tuple[bytes, bytes]]:
    return set(zip(flat[::2], flat[1::2], strict=True))


def _scan_all(ref: ServerBackend, argv: list[bytes], first: list[Any]) -> Any:
    """Redis scans a skiplist set with a real cursor: follow it to the end (gofish answers
    everything at once, as for a listpack)."""
    seen = _pairs(first[1])
    cursor = first[0]
    for _ in range(10_000):
        if cursor == b"0":
            return seen
        reply = ref(argv[0], argv[1], cursor, *argv[3:])
        cursor = reply[0]
        seen |= _pairs(reply[1])
    raise AssertionError("ZSCAN did not finish")


def _canon(x: Any) -> Any:
    if isinstance(x, list):
        return sorted(repr(_canon(e)) for e in x)
    return x


@pytest.mark.timeout(600)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(script=st.lists(COMMANDS, min_size=1, max_size=25))
def test_differential_against_redis(redis_ref: Any, script: list[list[bytes]]) -> None:
    for proto in (2, 3):
        e = EngineBackend(proto)
        ref = ServerBackend("redis", redis_ref.port, proto)
        try:
            for setup in (("SET", "str", "v"), ("SADD", "set", "a", "q")):
                e(*setup)
                ref(*setup)
            for argv in script:
                got, want = e(*argv), ref(*argv)
                if argv[0] == b"ZSCAN" and isinstance(want, list) and want[0] != b"0":
                    got, want = _pairs(got[1]), _scan_all(ref, argv, want)
                elif _unordered(argv):
                    got, want = _canon(got), _canon(want)
                assert got == want, (proto, argv)
        finally:
            ref.close()


# --- through redis-py against the live gofish, next to Redis ------------------------------
def test_redis_py_client(r: Any, r_ref: Any) -> None:
    for client in (r, r_ref):
        assert client.zadd("z", {"a": 1, "b": 2.5, "c": 3}) == 3
        assert client.zadd("z", {"a": 5}, xx=True, ch=True) == 1
        assert client.zincrby("z", 0.5, "b") == 3.0
        assert client.zrange("z", 0, -1, withscores=True) == [
            (b"b", 3.0), (b"c", 3.0), (b"a", 5.0)]
        assert client.zrangebyscore("z", "(3", "+inf") == [b"a"]
        assert client.zscore("z", "a") == 5.0
        assert client.zunionstore("u", {"z": 2}) == 3
        assert client.zpopmax("u") == [(b"a", 10.0)]
        assert client.bzpopmin(["nokey", "u"], timeout=1) == (b"u", b"b", 6.0)
        assert client.bzpopmin(["nokey"], timeout=0.01) is None
        assert client.zmscore("z", ["a", "zz"]) == [5.0, None]
        assert client.zscan("z") == (0, [(b"b", 3.0), (b"c", 3.0), (b"a", 5.0)])
