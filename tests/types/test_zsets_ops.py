"""Sorted set pops (ZPOPMIN/MAX, BZPOPMIN/MAX, ZMPOP, BZMPOP), algebra (ZUNION, ZINTER, ZDIFF,
their STORE forms, ZINTERCARD), ZRANDMEMBER, ZSCAN, encodings and the RESP3 reply shapes.

Every test runs on the engine, on a real Redis 7.0 and on the live gofish (see
``zset_backends.py``), so each expectation is checked to be Redis's own behaviour.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import zset_backends as zb
from sm_harness import Engine
from zset_backends import (
    NOT_INT,
    POSITIVE,
    SYNTAX,
    WRONGTYPE,
    Err,
    arity,
    zr,
)

from gofish.statemachine.types.zset_model import ZSET_TYPE, ZSet, strtod

c, c3, abcde = zb.c, zb.c3, zb.abcde  # fixtures


# --- pops ------------------------------------------------------------------------------------
def test_zpopmin_zpopmax(abcde: Any) -> None:
    c = abcde
    assert c("ZPOPMIN", "z") == [b"a", b"1"]
    assert c("ZPOPMAX", "z") == [b"e", b"5"]
    assert c("ZPOPMIN", "z", 2) == [b"b", b"2", b"c", b"3"]
    assert c("ZPOPMIN", "z", 0) == []
    assert c("ZPOPMAX", "z", 10) == [b"d", b"4"]
    assert c("EXISTS", "z") == 0
    assert c("ZPOPMIN", "z") == []
    assert c("ZPOPMAX", "z", 3) == []
    assert c("ZPOPMIN", "z", -1) == POSITIVE
    assert c("ZPOPMIN", "z", "x") == POSITIVE
    assert c("ZPOPMAX", "z", 1, 2) == SYNTAX
    c("SET", "s", "v")
    assert c("ZPOPMIN", "s") == WRONGTYPE
    assert c("ZPOPMAX", "s", 0) == WRONGTYPE


def test_bzpopmin_bzpopmax(c: Any) -> None:
    c("ZADD", "z1", 1, "a", 2, "b")
    c("ZADD", "z2", 5, "x")
    assert c("BZPOPMIN", "nokey", "z2", "z1", 0) == [b"z2", b"x", b"5"]
    assert c("EXISTS", "z2") == 0
    assert c("BZPOPMAX", "nokey", "z2", "z1", "0.5") == [b"z1", b"b", b"2"]
    assert c("BZPOPMIN", "z1", 1) == [b"z1", b"a", b"1"]
    assert c("BZPOPMIN", "z1", "nokey", 0) is None  # times out (engine: would block)
    c("SET", "s", "v")
    c("ZADD", "z3", 1, "a")
    assert c("BZPOPMIN", "nokey", "s", "z3", 0) == WRONGTYPE
    assert c("BZPOPMIN", "z3", "s", 0) == [b"z3", b"a", b"1"]
    assert c("BZPOPMIN", "z", -1) == Err(b"ERR timeout is negative")
    assert c("BZPOPMIN", "z", "x") == Err(b"ERR timeout is not a float or out of range")
    assert c("BZPOPMAX", "z") == arity("bzpopmax")


def test_zmpop(c: Any) -> None:
    c("ZADD", "z1", 1, "a", 2, "b", 3, "c")
    c("ZADD", "z2", 9, "x")
    assert c("ZMPOP", 2, "nokey", "z1", "MIN") == [b"z1", [[b"a", b"1"]]]
    assert c("ZMPOP", 2, "z1", "z2", "max", "COUNT", 5) == [b"z1", [[b"c", b"3"], [b"b", b"2"]]]
    assert c("EXISTS", "z1") == 0
    assert c("ZMPOP", 1, "z2", "MIN", "count", 1) == [b"z2", [[b"x", b"9"]]]
    assert c("ZMPOP", 2, "z1", "z2", "MIN") is None
    c("SET", "s", "v")
    assert c("ZMPOP", 1, "s", "MIN") == WRONGTYPE
    numkeys = Err(b"ERR numkeys should be greater than 0")
    count = Err(b"ERR count should be greater than 0")
    assert c("ZMPOP", 0, "z", "MIN") == numkeys
    assert c("ZMPOP", -1, "z", "MIN") == numkeys
    assert c("ZMPOP", "x", "z", "MIN") == numkeys
    assert c("ZMPOP", 2, "z", "MIN") == SYNTAX
    assert c("ZMPOP", 5, "z", "MIN") == SYNTAX
    assert c("ZMPOP", 1, "z", "MID") == SYNTAX
    assert c("ZMPOP", 1, "z", "MIN", "COUNT", 0) == count
    assert c("ZMPOP", 1, "z", "MIN", "COUNT", -1) == count
    assert c("ZMPOP", 1, "z", "MIN", "COUNT", "x") == count
    assert c("ZMPOP", 1, "z", "MIN", "COUNT") == SYNTAX
    assert c("ZMPOP", 1, "z", "MIN", "COUNT", 1, "COUNT", 2) == SYNTAX
    assert c("ZMPOP", 1, "z", "MIN", "FOO") == SYNTAX
    assert c("ZMPOP", 1, "z") == arity("zmpop")


def test_bzmpop(c: Any) -> None:
    c("ZADD", "z1", 1, "a", 2, "b")
    assert c("BZMPOP", 0, 2, "nokey", "z1", "MAX", "COUNT", 3) == [
        b"z1", [[b"b", b"2"], [b"a", b"1"]]]
    assert c("BZMPOP", 0, 1, "z1", "MIN") is None  # times out (engine: would block)
    assert c("BZMPOP", -1, 1, "z", "MIN") == Err(b"ERR timeout is negative")
    assert c("BZMPOP", "x", 1, "z", "MIN") == Err(b"ERR timeout is not a float or out of range")
    assert c("BZMPOP", "x", 0, "z", "MIN") == Err(b"ERR numkeys should be greater than 0")
    assert c("BZMPOP", "x", 1, "z", "MID") == SYNTAX  # the timeout is parsed last
    assert c("BZMPOP", 0, 0, "z", "MIN") == Err(b"ERR numkeys should be greater than 0")
    assert c("BZMPOP", 0, 1, "z", "MIN", "COUNT", 0) == Err(b"ERR count should be greater than 0")
    assert c("BZMPOP", 0, 1, "z") == arity("bzmpop")
    c("SET", "s", "v")
    assert c("BZMPOP", 0, 1, "s", "MIN") == WRONGTYPE


# --- algebra ---------------------------------------------------------------------------------
@pytest.fixture
def sets3(c: Any) -> Any:
    c("ZADD", "a", 1, "x", 2, "y", 3, "z")
    c("ZADD", "b", 10, "y", 20, "z", 30, "w")
    c("SADD", "s", "x", "w", "v")
    return c


def test_zunion(sets3: Any) -> None:
    c = sets3
    assert c("ZUNION", 2, "a", "b") == [b"x", b"y", b"z", b"w"]
    assert c("ZUNION", 2, "a", "b", "WITHSCORES") == [
        b"x", b"1", b"y", b"12", b"z", b"23", b"w", b"30"]
    assert c("ZUNION", 2, "a", "b", "AGGREGATE", "MIN", "WITHSCORES") == [
        b"x", b"1", b"y", b"2", b"z", b"3", b"w", b"30"]
    assert c("ZUNION", 2, "a", "b", "AGGREGATE", "max", "WEIGHTS", 2, "0.5", "WITHSCORES") == [
        b"x", b"2", b"y", b"5", b"z", b"10", b"w", b"15"]
    assert c("ZUNION", 3, "a", "s", "nokey", "WITHSCORES") == [
        b"v", b"1", b"w", b"1", b"x", b"2", b"y", b"2", b"z", b"3"]
    assert c("ZUNION", 1, "a", "WITHSCORES", "WITHSCORES") == [
        b"x", b"1", b"y", b"2", b"z", b"3"]
    assert c("ZUNION", 1, "nokey") == []


def test_zinter_zintercard(sets3: Any) -> None:
    c = sets3
    assert c("ZINTER", 2, "a", "b", "WITHSCORES") == [b"y", b"12", b"z", b"23"]
    assert c("ZINTER", 2, "a", "b", "WEIGHTS", 1, -1, "AGGREGATE", "SUM", "WITHSCORES") == [
        b"z", b"-17", b"y", b"-8"]
    assert c("ZINTER", 2, "a", "s", "WITHSCORES") == [b"x", b"2"]
    assert c("ZINTER", 2, "a", "nokey") == []
    assert c("ZINTER", 3, "a", "b", "s") == []
    assert c("ZINTERCARD", 2, "a", "b") == 2
    assert c("ZINTERCARD", 2, "a", "b", "LIMIT", 1) == 1
    assert c("ZINTERCARD", 2, "a", "b", "LIMIT", 0) == 2
    assert c("ZINTERCARD", 2, "a", "b", "LIMIT", 5, "LIMIT", 1) == 1
    assert c("ZINTERCARD", 2, "b", "s") == 1
    assert c("ZINTERCARD", 1, "nokey") == 0
    limit = Err(b"ERR LIMIT can't be negative")
    assert c("ZINTERCARD", 1, "a", "LIMIT", -1) == limit
    assert c("ZINTERCARD", 1, "a", "LIMIT", "x") == limit
    assert c("ZINTERCARD", 1, "a", "LIMIT") == SYNTAX
    assert c("ZINTERCARD", 1, "a", "WITHSCORES") == SYNTAX
    assert c("ZINTERCARD", 1, "a", "WEIGHTS", 1) == SYNTAX
    assert c("ZINTERCARD", 0, "a") == Err(
        b"ERR at least 1 input key is needed for 'zintercard' command")
    assert c("ZINTERCARD", "x", "a") == NOT_INT


def test_zdiff(sets3: Any) -> None:
    c = sets3
    assert c("ZDIFF", 2, "a", "b", "WITHSCORES") == [b"x", b"1"]
    assert c("ZDIFF", 3, "b", "nokey", "s", "WITHSCORES") == [b"y", b"10", b"z", b"20"]
    assert c("ZDIFF", 1, "s") == [b"v", b"w", b"x"]
    assert c("ZDIFF", 2, "nokey", "a") == []
    assert c("ZDIFF", 2, "a", "a") == []
    assert c("ZDIFF", 1, "a", "WEIGHTS", 1) == SYNTAX
    assert c("ZDIFF", 1, "a", "AGGREGATE", "SUM") == SYNTAX
    assert c("ZDIFFSTORE", "d", 1, "a", "WEIGHTS", 1) == SYNTAX


def test_algebra_store(sets3: Any) -> None:
    c = sets3
    assert c("ZUNIONSTORE", "d", 2, "a", "b", "WEIGHTS", 1, 2) == 4
    assert zr(c, "d") == [b"x", b"1", b"y", b"22", b"z", b"43", b"w", b"60"]
    assert c("ZINTERSTORE", "d", 2, "a", "b", "AGGREGATE", "MAX") == 2
    assert zr(c, "d") == [b"y", b"10", b"z", b"20"]
    assert c("ZDIFFSTORE", "d", 2, "b", "a") == 1
    assert zr(c, "d") == [b"w", b"30"]
    assert c("ZINTERSTORE", "d", 2, "a", "nokey") == 0
    assert c("EXISTS", "d") == 0
    c("SET", "str", "v")
    assert c("ZUNIONSTORE", "str", 1, "s") == 3  # replaces a key of any type; sets score 1
    assert zr(c, "str") == [b"v", b"1", b"w", b"1", b"x", b"1"]
    assert c("ZDIFFSTORE", "str", 1, "nokey") == 0
    assert c("EXISTS", "str") == 0
    assert c("ZUNIONSTORE", "a", 2, "a", "a") == 3  # destination among the sources
    assert zr(c, "a") == [b"x", b"2", b"y", b"4", b"z", b"6"]
    assert c("ZUNIONSTORE", "d", 1, "a", "WITHSCORES") == SYNTAX
    assert c("ZUNIONSTORE", "d", 0, "a") == Err(
        b"ERR at least 1 input key is needed for 'zunionstore' command")
    assert c("ZINTERSTORE", "d", 3, "a") == SYNTAX
    assert c("ZDIFFSTORE", "d", "x", "a") == NOT_INT
    assert c("ZUNIONSTORE", "d", 1) == arity("zunionstore")


def test_algebra_errors(sets3: Any) -> None:
    c = sets3
    for name in ("ZUNION", "ZINTER", "ZDIFF"):
        assert c(name, 0, "a") == Err(
            b"ERR at least 1 input key is needed for '" + name.lower().encode() + b"' command")
        assert c(name, -1, "a") == c(name, 0, "a")
        assert c(name, "x", "a") == NOT_INT
        assert c(name, 2, "a") == SYNTAX
        assert c(name, 1, "a", "FOO") == SYNTAX
    assert c("ZUNION", 1, "a", "WEIGHTS") == SYNTAX
    assert c("ZUNION", 1, "a", "WEIGHTS", "x") == Err(b"ERR weight value is not a float")
    assert c("ZUNION", 1, "a", "WEIGHTS", "nan") == Err(b"ERR weight value is not a float")
    assert c("ZUNION", 1, "a", "WEIGHTS", "1e400") == Err(b"ERR weight value is not a float")
    assert c("ZUNION", 1, "a", "WEIGHTS", 1, 2) == SYNTAX
    assert c("ZUNION", 2, "a", "b", "WEIGHTS", 1) == SYNTAX
    assert c("ZUNION", 1, "a", "AGGREGATE", "avg") == SYNTAX
    assert c("ZUNION", 1, "a", "AGGREGATE") == SYNTAX
    c("SET", "str", "v")
    c("RPUSH", "list", "v")
    assert c("ZUNION", 2, "a", "str") == WRONGTYPE
    assert c("ZINTER", 2, "list", "a") == WRONGTYPE
    assert c("ZDIFF", 2, "a", "str") == WRONGTYPE
    assert c("ZINTERCARD", 1, "str") == WRONGTYPE
    assert c("ZUNION", 1, "str", "FOO") == WRONGTYPE  # key types are checked before options
    assert c("ZUNIONSTORE", "d", 1, "str") == WRONGTYPE
    assert c("ZUNIONSTORE", "d", 1, "str", "WITHSCORES") == WRONGTYPE
    assert c("ZINTERSTORE", "d", 1, "list", "WEIGHTS", "x") == WRONGTYPE
    assert c("ZUNIONSTORE", "a", 1, "list") == WRONGTYPE
    assert c("ZCARD", "a") == 3


def test_algebra_float_rules(c: Any) -> None:
    # Sources are summed smallest first, as Redis does: rounding depends on that order.
    c("ZADD", "big", "1e16", "m", 1, "x1", 1, "x2")
    c("ZADD", "s1", 1, "m")
    c("ZADD", "s2", 1, "m")
    want = [b"x1", b"1", b"x2", b"1", b"m", b"10000000000000002"]
    assert c("ZUNION", 3, "big", "s1", "s2", "WITHSCORES") == want
    assert c("ZUNION", 3, "s1", "big", "s2", "WITHSCORES") == want
    assert c("ZINTER", 3, "big", "s1", "s2", "WITHSCORES") == [b"m", b"10000000000000002"]
    # inf + -inf is 0; 0 * inf is 0; a -0 score stays -0 in a reply, 0 once stored.
    c("ZADD", "p", "inf", "a", 0, "b")
    c("ZADD", "n", "-inf", "a", 1, "b")
    assert c("ZUNION", 2, "p", "n", "WITHSCORES") == [b"a", b"0", b"b", b"1"]
    assert c("ZINTER", 2, "p", "n", "AGGREGATE", "MIN", "WITHSCORES") == [
        b"a", b"-inf", b"b", b"0"]
    assert c("ZUNION", 1, "p", "WEIGHTS", 0, "WITHSCORES") == [b"a", b"0", b"b", b"0"]
    assert c("ZINTER", 2, "p", "p", "WEIGHTS", 1, 0, "WITHSCORES") == [b"a", b"0", b"b", b"0"]
    assert c("ZINTER", 2, "p", "p", "WEIGHTS", 1, 0, "AGGREGATE", "MIN", "WITHSCORES") == [
        b"b", b"0", b"a", b"inf"]
    assert c("ZUNION", 1, "p", "WEIGHTS", -1, "WITHSCORES") == [b"a", b"-inf", b"b", b"-0"]
    assert c("ZUNIONSTORE", "d", 1, "p", "WEIGHTS", -1) == 2
    assert zr(c, "d") == [b"a", b"-inf", b"b", b"0"]


# --- ZRANDMEMBER -----------------------------------------------------------------------------
def test_zrandmember(abcde: Any) -> None:
    c = abcde
    scores = {b"a": b"1", b"b": b"2", b"c": b"3", b"d": b"4", b"e": b"5"}
    assert c("ZRANDMEMBER", "z") in scores
    assert c("ZRANDMEMBER", "nokey") is None
    assert c("ZRANDMEMBER", "nokey", 3) == []
    assert c("ZRANDMEMBER", "nokey", 3, "WITHSCORES") == []
    assert c("ZRANDMEMBER", "z", 0) == []
    assert c("ZRANDMEMBER", "z", 0, "WITHSCORES") == []
    for n in (1, 2, 4, 5, 9):
        got = c("ZRANDMEMBER", "z", n)
        assert len(got) == min(n, 5) and len(set(got)) == len(got) and set(got) <= set(scores)
        flat = c("ZRANDMEMBER", "z", n, "withscores")
        pairs = list(zip(flat[::2], flat[1::2], strict=True))
        assert len(pairs) == min(n, 5) and all(scores[m] == s for m, s in pairs)
        assert len({m for m, _ in pairs}) == len(pairs)
    for n in (-1, -3, -12):
        got = c("ZRANDMEMBER", "z", n)
        assert len(got) == -n and set(got) <= set(scores)
        flat = c("ZRANDMEMBER", "z", n, "WITHSCORES")
        assert len(flat) == -2 * n
        assert all(scores[m] == s for m, s in zip(flat[::2], flat[1::2], strict=True))
    assert c("ZRANDMEMBER", "z", "x") == NOT_INT
    assert c("ZRANDMEMBER", "z", 1, "FOO") == SYNTAX
    assert c("ZRANDMEMBER", "z", 1, "WITHSCORES", "x") == SYNTAX
    assert c("ZRANDMEMBER", "z", "-9223372036854775808") == Err(
        b"ERR value is out of range, value must between -9223372036854775807 and "
        b"9223372036854775807")
    assert c("ZRANDMEMBER", "z", "-4611686018427387904", "WITHSCORES") == Err(
        b"ERR value is out of range")
    assert c("ZRANDMEMBER", "z", "4611686018427387904", "WITHSCORES") == Err(
        b"ERR value is out of range")
    assert len(c("ZRANDMEMBER", "z", "9223372036854775807")) == 5
    c("SET", "s", "v")
    assert c("ZRANDMEMBER", "s") == WRONGTYPE
    assert c("ZRANDMEMBER", "s", 0) == WRONGTYPE


# --- ZSCAN -----------------------------------------------------------------------------------
def test_zscan(c: Any) -> None:
    c("ZADD", "z", 1, "a", "2.5", "b", "1e17", "c", "-inf", "d", "0.1", "ab", "-0", "e")
    whole = [b"d", b"-inf", b"e", b"0", b"ab", b"0.10000000000000001", b"a", b"1",
             b"b", b"2.5", b"c", b"100000000000000000"]
    assert c("ZSCAN", "z", 0) == [b"0", whole]
    assert c("ZSCAN", "z", 5, "COUNT", 1) == [b"0", whole]
    assert c("ZSCAN", "z", 0, "MATCH", "a*") == [b"0", [b"ab", b"0.10000000000000001", b"a", b"1"]]
    assert c("ZSCAN", "z", 0, "MATCH", "zz") == [b"0", []]
    assert c("ZSCAN", "nokey", 0) == [b"0", []]
    assert c("ZSCAN", "nokey", 0, "FOO") == [b"0", []]  # options are parsed after the lookup
    assert c("ZSCAN", "z", "x") == Err(b"ERR invalid cursor")
    assert c("ZSCAN", "z", 0, "COUNT", 0) == SYNTAX
    assert c("ZSCAN", "z", 0, "COUNT", "x") == NOT_INT
    assert c("ZSCAN", "z", 0, "MATCH") == SYNTAX
    assert c("ZSCAN", "z", 0, "TYPE", "zset") == SYNTAX
    c("SET", "s", "v")
    assert c("ZSCAN", "s", 0) == WRONGTYPE


def test_zscan_skiplist_formats_scores_as_doubles(c: Any) -> None:
    c("ZADD", "z", "1e17", "c", 3, "x" * 65)  # a 65-byte member: skiplist from the start
    assert c("OBJECT", "ENCODING", "z") == b"skiplist"
    assert c("ZSCAN", "z", 0, "MATCH", "c") == [b"0", [b"c", b"1e+17"]]


# --- encodings and the value type ------------------------------------------------------------
def test_object_encoding(c: Any) -> None:
    for i in range(128):
        c("ZADD", "z", i, f"m{i}")
    assert c("OBJECT", "ENCODING", "z") == b"listpack"
    c("ZADD", "z", 128, "m128")
    assert c("OBJECT", "ENCODING", "z") == b"skiplist"
    c("ZREMRANGEBYRANK", "z", 0, 120)
    assert c("OBJECT", "ENCODING", "z") == b"skiplist"  # never converted back
    assert c("ZUNIONSTORE", "d", 1, "z") == 8
    assert c("OBJECT", "ENCODING", "d") == b"listpack"  # a fresh result is re-encoded
    c("ZADD", "y", 1, "x" * 64)
    assert c("OBJECT", "ENCODING", "y") == b"listpack"
    c("ZADD", "y", 1, "x" * 65)
    assert c("OBJECT", "ENCODING", "y") == b"skiplist"
    pairs = [a for i in range(129) for a in (1, "same")]  # 129 pairs, one member
    c("ZADD", "w", *pairs)
    assert c("ZCARD", "w") == 1
    assert c("OBJECT", "ENCODING", "w") == b"listpack"
    c("ZADD", "w2", 1, "x" * 65, 2, "short")
    c("ZREM", "w2", "x" * 65)
    assert c("OBJECT", "ENCODING", "w2") == b"skiplist"
    c("ZRANGESTORE", "v", "y", 0, 0)
    assert c("OBJECT", "ENCODING", "v") == b"listpack"
    c("COPY", "z", "zc")
    assert c("OBJECT", "ENCODING", "zc") == b"skiplist"


def test_negative_zero_follows_the_encoding(c: Any) -> None:
    # A listpack stores -0 as the integer 0; a skiplist keeps -0.
    c("ZADD", "z", "-0", "z" * 65)  # skiplist from the first member
    c("ZADD", "z", *[a for i in range(200) for a in ("-0", f"m{i:03d}")])
    assert c("ZSCORE", "z", "m000") == b"-0"
    assert c("ZINCRBY", "z", "-0", "m000") == b"-0"
    assert c("ZRANGESTORE", "d1", "z", 0, -1) == 201  # sized up front: a skiplist
    assert [c("ZSCORE", "d1", m) for m in ("m000", "m199")] == [b"-0", b"-0"]
    assert c("ZRANGESTORE", "d2", "z", "-inf", "+inf", "BYSCORE") == 201  # listpack first
    assert [c("ZSCORE", "d2", m) for m in ("m000", "m127", "m128", "m199")] == [
        b"0", b"0", b"-0", b"-0"]
    assert c("ZRANGESTORE", "d3", "z", "-", "+", "BYLEX") == 201
    assert [c("ZSCORE", "d3", m) for m in ("m127", "m128")] == [b"0", b"-0"]
    assert c("ZRANGESTORE", "d4", "z", 0, 10) == 11
    assert c("ZSCORE", "d4", "m000") == b"0"
    assert c("ZUNIONSTORE", "d5", 2, "z", "z", "WEIGHTS", 1, 0) == 201
    assert c("ZSCORE", "d5", "m000") == b"-0"
    assert c("ZUNIONSTORE", "d6", 1, "d4", "WEIGHTS", -1) == 11
    assert c("ZSCORE", "d6", "m000") == b"0"
    c("ZADD", "n", *[a for i in range(129) for a in (i, f"m{i:03d}")])
    c("ZADD", "n", "-0", "new")
    assert c("ZSCORE", "n", "new") == b"-0"


def test_dump_load_copy_roundtrip() -> None:
    e = Engine()
    e.run("ZADD", "z", 3, "c", 1, "a", 1, b"\x00", "-inf", "n", "0.1", "x" * 70)
    z = e.sm.ks.get(b"z")
    data = ZSET_TYPE.dump(z)
    assert data == [1, b"n", float("-inf"), b"x" * 70, 0.1, b"\x00", 1.0, b"a", 1.0, b"c", 3.0]
    encoded = msgspec.msgpack.encode(data)
    back = ZSET_TYPE.load(msgspec.msgpack.decode(encoded))
    assert type(back) is ZSet
    assert list(back.order) == list(z.order) and back.scores == z.scores and back.big == z.big
    assert msgspec.msgpack.encode(ZSET_TYPE.dump(back)) == encoded
    copy = ZSET_TYPE.copy(z)
    copy.insert(b"new", 9.0)
    assert b"new" not in z.scores and len(z.order) == 5
    assert ZSET_TYPE.encoding(z) == "skiplist"
    assert ZSET_TYPE.encoding(ZSET_TYPE.load([0, b"a", 1.0])) == "listpack"


def test_strtod_matches_c() -> None:
    assert strtod(b"  1.5e3xyz") == (1500.0, 7, False)
    assert strtod(b"0x") == (0.0, 1, False)
    assert strtod(b"infinity") == (float("inf"), 8, False)
    assert strtod(b"-infinit")[:2] == (float("-inf"), 4)
    assert strtod(b"1e") == (1.0, 1, False)
    assert strtod(b"1e+") == (1.0, 1, False)
    assert strtod(b"1e400") == (float("inf"), 5, True)
    assert strtod(b"1e-400") == (0.0, 6, True)
    assert strtod(b"0e-400") == (0.0, 6, False)
    assert strtod(b"-0x1.8p1") == (-3.0, 8, False)
    assert strtod(b"0x1p99999") == (float("inf"), 9, True)
    assert strtod(b"") == (0.0, 0, False)
    assert strtod(b"  ") == (0.0, 0, False)
    assert strtod(b"nan(abc)")[1] == 8


# --- RESP3 shapes ----------------------------------------------------------------------------
def test_resp3_shapes(c3: Any) -> None:
    c = c3
    c("ZADD", "z", 1, "a", "2.5", "b", 3, "c")
    assert c("ZRANGE", "z", 0, 1, "WITHSCORES") == [[b"a", 1.0], [b"b", 2.5]]
    assert c("ZRANGEBYSCORE", "z", 3, 3, "WITHSCORES") == [[b"c", 3.0]]
    assert c("ZREVRANGE", "z", 0, 0, "WITHSCORES") == [[b"c", 3.0]]
    assert c("ZRANGE", "z", 0, 1) == [b"a", b"b"]
    assert c("ZUNION", 1, "z", "WITHSCORES") == [[b"a", 1.0], [b"b", 2.5], [b"c", 3.0]]
    assert c("ZINTER", 1, "z", "WITHSCORES") == [[b"a", 1.0], [b"b", 2.5], [b"c", 3.0]]
    assert c("ZDIFF", 1, "z", "WITHSCORES") == [[b"a", 1.0], [b"b", 2.5], [b"c", 3.0]]
    assert c("ZSCORE", "z", "b") == 2.5
    assert c("ZSCORE", "z", "x") is None
    assert c("ZMSCORE", "z", "a", "x") == [1.0, None]
    assert c("ZINCRBY", "z", 1, "a") == 2.0
    assert c("ZADD", "z", "INCR", 1, "a") == 3.0
    assert c("ZADD", "z", "NX", "INCR", 1, "a") is None
    assert c("ZSCAN", "z", 0) == [b"0", [b"b", b"2.5", b"a", b"3", b"c", b"3"]]
    assert c("ZPOPMIN", "z") == [b"b", 2.5]
    assert c("ZPOPMIN", "z", 1) == [[b"a", 3.0]]
    assert c("ZPOPMAX", "z", 0) == []
    assert c("ZPOPMIN", "nokey") == []
    c("ZADD", "z", 1, "a", 2, "b")
    assert c("BZPOPMAX", "z", 0) == [b"z", b"c", 3.0]
    assert c("ZMPOP", 1, "z", "MIN") == [b"z", [[b"a", 1.0]]]
    assert c("BZMPOP", 0, 1, "z", "MIN", "COUNT", 2) == [b"z", [[b"b", 2.0]]]
    assert c("ZMPOP", 1, "z", "MIN") is None
    assert c("BZPOPMIN", "z", 0) is None
    c("ZADD", "one", 7, "m")
    assert c("ZRANDMEMBER", "one", 1, "WITHSCORES") == [[b"m", 7.0]]
    assert c("ZRANDMEMBER", "one", -2, "WITHSCORES") == [[b"m", 7.0], [b"m", 7.0]]
    assert c("ZRANDMEMBER", "nokey") is None
    assert c("ZADD", "one", "-inf", "n") == 1
    assert c("ZRANGE", "one", 0, 0, "WITHSCORES") == [[b"n", float("-inf")]]
