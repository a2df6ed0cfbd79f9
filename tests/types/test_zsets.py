"""Sorted set commands on one key: ZADD, ZINCRBY, ZREM, ZCARD, ZSCORE, ZMSCORE, ZRANK,
ZREVRANK, ZCOUNT, ZLEXCOUNT, the ZRANGE family and ZREMRANGEBY*: every option and error path.

Every test runs on the engine, on a real Redis 7.0 and on the live gofish (see
``zset_backends.py``), so each expectation is checked to be Redis's own behaviour.
"""

from __future__ import annotations

from typing import Any

import zset_backends as zb
from zset_backends import (
    MINMAX_FLOAT,
    MINMAX_LEX,
    NAN,
    NOT_FLOAT,
    NOT_INT,
    SYNTAX,
    WRONGTYPE,
    Err,
    arity,
    zr,
)

c, c3, abcde = zb.c, zb.c3, zb.abcde  # fixtures


# --- ZADD ------------------------------------------------------------------------------------
def test_zadd_basic_and_update(c: Any) -> None:
    assert c("ZADD", "z", 1, "a") == 1
    assert c("ZADD", "z", 1, "a") == 0
    assert c("ZADD", "z", 2, "a") == 0
    assert c("ZADD", "z", 3, "b", 1.5, "c", 4, "b") == 2  # a repeated member: the last wins
    assert zr(c) == [b"c", b"1.5", b"a", b"2", b"b", b"4"]
    assert c("ZCARD", "z") == 3
    assert c("TYPE", "z") == b"zset"


def test_zadd_ties_order_by_member_bytes(c: Any) -> None:
    c("ZADD", "z", 0, "b", 0, "a", 0, "ab", 0, b"\xff", 0, b"\x00", 0, "", 0, "B")
    assert c("ZRANGE", "z", 0, -1) == [b"", b"\x00", b"B", b"a", b"ab", b"b", b"\xff"]


def test_zadd_nx_xx_ch(c: Any) -> None:
    c("ZADD", "z", 1, "a", 2, "b")
    assert c("ZADD", "z", "NX", 5, "a", 3, "c") == 1
    assert c("ZSCORE", "z", "a") == b"1"
    assert c("ZADD", "z", "XX", 5, "a", 4, "d") == 0
    assert c("ZSCORE", "z", "a") == b"5"
    assert c("ZSCORE", "z", "d") is None
    assert c("ZADD", "nokey", "XX", 1, "a") == 0
    assert c("EXISTS", "nokey") == 0
    assert c("ZADD", "z", "CH", 6, "a", 2, "b", 7, "e") == 2  # a changed, e added, b same
    assert c("ZADD", "z", "ch", "xx", 6, "a") == 0
    assert c("ZADD", "z", "NX", "NX", "CH", 9, "a", 9, "f") == 1


def test_zadd_gt_lt(c: Any) -> None:
    c("ZADD", "z", 5, "a")
    assert c("ZADD", "z", "GT", "CH", 4, "a") == 0
    assert c("ZADD", "z", "GT", "CH", 5, "a") == 0
    assert c("ZADD", "z", "GT", "CH", 6, "a") == 1
    assert c("ZADD", "z", "LT", "CH", 7, "a") == 0
    assert c("ZADD", "z", "LT", "CH", 1, "a") == 1
    assert c("ZADD", "z", "GT", 1, "new") == 1  # GT/LT never prevent adding
    assert c("ZADD", "z", "XX", "GT", 9, "a", 9, "other") == 0
    assert zr(c) == [b"new", b"1", b"a", b"9"]


def test_zadd_incr(c: Any) -> None:
    assert c("ZADD", "z", "INCR", 2, "a") == b"2"
    assert c("ZADD", "z", "INCR", "1.5", "a") == b"3.5"
    assert c("ZADD", "z", "NX", "INCR", 1, "a") is None
    assert c("ZADD", "z", "XX", "INCR", 1, "b") is None
    assert c("ZADD", "nokey", "XX", "INCR", 1, "b") is None
    assert c("EXISTS", "nokey") == 0
    assert c("ZADD", "z", "GT", "INCR", -1, "a") is None
    assert c("ZADD", "z", "LT", "INCR", -1, "a") == b"2.5"
    assert c("ZADD", "z", "INCR", 0, "a") == b"2.5"
    assert c("ZADD", "z", "CH", "INCR", 1, "a") == b"3.5"
    assert c("ZADD", "z", "INCR", "0.1", "f") == b"0.10000000000000001"
    assert c("ZADD", "z", "INCR", "-0", "g") == b"-0"  # the reply keeps the sign ...
    assert c("ZSCORE", "z", "g") == b"0"  # ... the stored score does not
    assert c("ZINCRBY", "z", "-0", "g") == b"0"


def test_zadd_nan_is_refused_and_changes_nothing(c: Any) -> None:
    c("ZADD", "z", "inf", "a")
    assert c("ZADD", "z", "INCR", "-inf", "a") == NAN
    assert c("ZINCRBY", "z", "-inf", "a") == NAN
    assert c("ZSCORE", "z", "a") == b"inf"
    assert c("ZADD", "z", "INCR", "inf", "a") == b"inf"


def test_zadd_score_grammar(c: Any) -> None:
    ok = {"0x10": b"16", "1e3": b"1000", ".5": b"0.5", "5.": b"5", "-0": b"0", "+1": b"1",
          "inf": b"inf", "+inf": b"inf", "-inf": b"-inf", "Infinity": b"inf", "-INF": b"-inf",
          "1e308": b"1e+308", "0x1p3": b"8", "0X1.8P1": b"3", "1e-310": b"9.9999999999999694e-311",
          "00012": b"12", "1E2": b"100"}
    for i, (arg, want) in enumerate(ok.items()):
        assert c("ZADD", "z", arg, f"m{i}") == 1, arg
        assert c("ZSCORE", "z", f"m{i}") == want, arg
    for bad in ["x", "nan", "NaN", "1e400", "-1e400", "1e-400", " 1", "1 ", "", "1x", "0x",
                "inf1", "--1", "1,5", "(1", "infinit", b"1\x00"]:
        assert c("ZADD", "z", bad, "q") == NOT_FLOAT, bad
    assert c("ZSCORE", "z", "q") is None


def test_zadd_errors(c: Any) -> None:
    assert c("ZADD", "z", 1) == arity("zadd")
    assert c("ZADD", "z") == arity("zadd")
    assert c("ZADD", "z", "NX", 1) == SYNTAX
    assert c("ZADD", "z", 1, "a", 2) == SYNTAX
    assert c("ZADD", "z", "NX", "XX") == SYNTAX
    assert c("ZADD", "z", "NX", "XX", 1, "a") == Err(
        b"ERR XX and NX options at the same time are not compatible")
    gt_lt = Err(b"ERR GT, LT, and/or NX options at the same time are not compatible")
    assert c("ZADD", "z", "GT", "LT", 1, "a") == gt_lt
    assert c("ZADD", "z", "NX", "GT", 1, "a") == gt_lt
    assert c("ZADD", "z", "LT", "NX", 1, "a") == gt_lt
    assert c("ZADD", "z", "INCR", 1, "a", 2, "b") == Err(
        b"ERR INCR option supports a single increment-element pair")
    assert c("ZADD", "z", "NX", "XX", "INCR", 1, "a", 2, "b") == Err(
        b"ERR XX and NX options at the same time are not compatible")
    assert c("ZADD", "z", "FOO", 1, "a") == SYNTAX  # FOO starts the pairs: 3 arguments
    assert c("ZADD", "z", 1, "a", "x", "b") == NOT_FLOAT
    assert c("EXISTS", "z") == 0
    c("SET", "s", "v")
    assert c("ZADD", "s", 1, "a") == WRONGTYPE
    assert c("ZADD", "s", "x", "a") == NOT_FLOAT  # arguments are checked before the key
    assert c("ZADD", "s", "XX", 1, "a") == WRONGTYPE


def test_zincrby(c: Any) -> None:
    assert c("ZINCRBY", "z", 5, "a") == b"5"
    assert c("ZINCRBY", "z", "-1.5", "a") == b"3.5"
    assert c("ZINCRBY", "z", "inf", "a") == b"inf"
    assert c("ZINCRBY", "z", "x", "a") == NOT_FLOAT
    assert c("ZINCRBY", "z", "NX", "a") == SYNTAX  # parsed like ZADD's options
    assert c("ZINCRBY", "z", 1) == arity("zincrby")
    c("SET", "s", "v")
    assert c("ZINCRBY", "s", 1, "a") == WRONGTYPE


# --- ZREM / ZCARD / ZSCORE / ZMSCORE / ZRANK ---------------------------------------------------
def test_zrem_zcard(c: Any) -> None:
    c("ZADD", "z", 1, "a", 2, "b", 3, "c")
    assert c("ZREM", "z", "a", "x", "a") == 1
    assert c("ZCARD", "z") == 2
    assert c("ZREM", "nokey", "a") == 0
    assert c("ZCARD", "nokey") == 0
    assert c("ZREM", "z", "b", "c") == 2
    assert c("EXISTS", "z") == 0
    assert c("ZREM", "z") == arity("zrem")
    c("SET", "s", "v")
    assert c("ZREM", "s", "a") == WRONGTYPE
    assert c("ZCARD", "s") == WRONGTYPE


def test_zscore_formats(c: Any) -> None:
    c("ZADD", "z", "0.1", "a", "1e100", "b", "-inf", "c", "123456789012345678", "d", "-0", "e",
      "2.5", "f", "1e17", "g", "-1e-5", "h")
    assert c("ZSCORE", "z", "a") == b"0.10000000000000001"
    assert c("ZSCORE", "z", "b") == b"1e+100"
    assert c("ZSCORE", "z", "c") == b"-inf"
    assert c("ZSCORE", "z", "d") == b"1.2345678901234568e+17"
    assert c("ZSCORE", "z", "e") == b"0"
    assert c("ZSCORE", "z", "f") == b"2.5"
    assert c("ZSCORE", "z", "g") == b"1e+17"
    assert c("ZSCORE", "z", "h") == b"-1.0000000000000001e-05"
    assert c("ZSCORE", "z", "x") is None
    assert c("ZSCORE", "nokey", "x") is None
    c("SET", "s", "v")
    assert c("ZSCORE", "s", "a") == WRONGTYPE


def test_zmscore(c: Any) -> None:
    c("ZADD", "z", 1, "a", 2, "b")
    assert c("ZMSCORE", "z", "a", "x", "b", "a") == [b"1", None, b"2", b"1"]
    assert c("ZMSCORE", "nokey", "a", "b") == [None, None]
    assert c("ZMSCORE", "z") == arity("zmscore")
    c("SET", "s", "v")
    assert c("ZMSCORE", "s", "a") == WRONGTYPE


def test_zrank_zrevrank(c: Any) -> None:
    c("ZADD", "z", 1, "a", 2, "b", 3, "c", 2, "bb")
    assert [c("ZRANK", "z", m) for m in ("a", "b", "bb", "c")] == [0, 1, 2, 3]
    assert [c("ZREVRANK", "z", m) for m in ("a", "b", "bb", "c")] == [3, 2, 1, 0]
    assert c("ZRANK", "z", "x") is None
    assert c("ZREVRANK", "nokey", "x") is None
    assert c("ZRANK", "z", "a", "WITHSCORE") == arity("zrank")  # 7.2 syntax, not in 7.0
    c("SET", "s", "v")
    assert c("ZRANK", "s", "a") == WRONGTYPE
    assert c("ZREVRANK", "s", "a") == WRONGTYPE


# --- ZCOUNT / ZLEXCOUNT ----------------------------------------------------------------------
def test_zcount_ranges(c: Any) -> None:
    c("ZADD", "z", "-inf", "n", 0, "a", 1, "b", "1.5", "c", 2, "d", 16, "h", "inf", "p")
    cases = {("-inf", "+inf"): 7, ("(-inf", "(+inf"): 5, ("1", "2"): 3, ("(1", "2"): 2,
             ("(1", "(2"): 1, ("2", "1"): 0, ("1", "(1"): 0, ("(1", "1"): 0, ("1", "1"): 1,
             ("(", "1"): 1, ("", "1"): 2, (" 1", "2"): 3, ("0x10", "inf"): 2,
             ("1e2000", "+inf"): 1, ("-1e2000", "-inf"): 1, ("(inf", "+inf"): 0,
             ("-inf", "(-inf"): 0, ("-INF", "INFINITY"): 7, ("(0x1", "2"): 2,
             (b"2\x00junk", "3"): 1, ("-0", "0"): 1}
    for (lo, hi), want in cases.items():
        assert c("ZCOUNT", "z", lo, hi) == want, (lo, hi)
    for lo, hi in [("x", "1"), ("1", "x"), ("(nan", "1"), ("nan", "1"), (" ", "1"), ("((1", "2"),
                   ("1 ", "2"), ("[1", "2")]:
        assert c("ZCOUNT", "z", lo, hi) == MINMAX_FLOAT, (lo, hi)
    assert c("ZCOUNT", "nokey", 0, 1) == 0
    c("SET", "s", "v")
    assert c("ZCOUNT", "s", 0, 1) == WRONGTYPE
    assert c("ZCOUNT", "s", "x", 1) == MINMAX_FLOAT


def test_zlexcount(c: Any) -> None:
    c("ZADD", "z", 0, "a", 0, "b", 0, "c", 0, "d", 0, "e", 0, "")
    cases = {("-", "+"): 6, ("[a", "[c"): 3, ("(a", "[c"): 2, ("(a", "(c"): 1, ("[b", "+"): 4,
             ("-", "(b"): 2, ("+", "-"): 0, ("-", "-"): 0, ("+", "+"): 0, ("[c", "[a"): 0,
             ("[c", "(c"): 0, ("[c", "[c"): 1, ("[", "[a"): 2, ("(", "+"): 5, ("[bb", "[cc"): 1}
    for (lo, hi), want in cases.items():
        assert c("ZLEXCOUNT", "z", lo, hi) == want, (lo, hi)
    for lo, hi in [("a", "+"), ("-", "c"), ("", "+"), ("+x", "+"), ("-", "-x"), ("{a", "+")]:
        assert c("ZLEXCOUNT", "z", lo, hi) == MINMAX_LEX, (lo, hi)
    assert c("ZLEXCOUNT", "nokey", "-", "+") == 0
    c("SET", "s", "v")
    assert c("ZLEXCOUNT", "s", "-", "+") == WRONGTYPE


def test_lex_commands_with_mixed_scores_follow_redis_walk(c: Any) -> None:
    # Lex ranges assume equal scores; with mixed scores Redis walks the set in score order.
    c("ZADD", "z", 1, "c", 2, "a", 3, "b", 4, "d", 5, "e")
    assert c("ZRANGEBYLEX", "z", "[b", "+") == [b"c", b"a", b"b", b"d", b"e"]
    assert c("ZRANGEBYLEX", "z", "-", "[c") == [b"c", b"a", b"b"]
    assert c("ZREVRANGEBYLEX", "z", "[d", "[b") == [b"d", b"b"]
    assert c("ZREVRANGEBYLEX", "z", "+", "[a") == [b"e", b"d", b"b", b"a", b"c"]
    assert c("ZRANGEBYLEX", "z", "-", "[c", "LIMIT", 3, 2) == []
    assert c("ZRANGEBYLEX", "z", "-", "[c", "LIMIT", 1, 5) == [b"a", b"b"]
    assert c("ZRANGEBYLEX", "z", "[c", "+", "LIMIT", 2, 5) == [b"b", b"d", b"e"]
    assert c("ZREVRANGEBYLEX", "z", "+", "[c", "LIMIT", 1, 5) == [b"d"]
    assert c("ZLEXCOUNT", "z", "-", "[c") == 3
    assert c("ZLEXCOUNT", "z", "[b", "+") == 5
    assert c("ZREMRANGEBYLEX", "z", "[a", "(d") == 3
    assert c("ZRANGE", "z", 0, -1) == [b"d", b"e"]
    c("ZADD", "y", 1, "c", 2, "a", 3, "b", 4, "d", 5, "a2")
    assert c("ZRANGEBYLEX", "y", "[b", "+") == []  # the last member is below the minimum
    assert c("ZREVRANGEBYLEX", "y", "[b", "[a") == []
    assert c("ZLEXCOUNT", "y", "[a", "[b") == 0


# --- ZRANGE family ---------------------------------------------------------------------------
def test_zrange_by_rank(abcde: Any) -> None:
    c = abcde
    assert c("ZRANGE", "z", 0, -1) == [b"a", b"b", b"c", b"d", b"e"]
    assert c("ZRANGE", "z", 1, 2, "WITHSCORES") == [b"b", b"2", b"c", b"3"]
    assert c("ZRANGE", "z", -2, 100) == [b"d", b"e"]
    assert c("ZRANGE", "z", -100, 0) == [b"a"]
    assert c("ZRANGE", "z", 3, 1) == []
    assert c("ZRANGE", "z", 5, 10) == []
    assert c("ZRANGE", "z", 0, -6) == []
    assert c("ZRANGE", "z", 0, 1, "REV") == [b"e", b"d"]
    assert c("ZRANGE", "z", -1, -1, "REV", "WITHSCORES") == [b"a", b"1"]
    assert c("ZREVRANGE", "z", 0, 1, "WITHSCORES") == [b"e", b"5", b"d", b"4"]
    assert c("ZREVRANGE", "z", 1, -2) == [b"d", b"c", b"b"]
    assert c("ZRANGE", "z", 0, -1, "LIMIT", 5, -1) == [b"a", b"b", b"c", b"d", b"e"]
    assert c("ZRANGE", "z", 0, 1, "withscores", "withscores") == [b"a", b"1", b"b", b"2"]
    assert c("ZRANGE", "nokey", 0, -1) == []


def test_zrange_by_score(abcde: Any) -> None:
    c = abcde
    assert c("ZRANGE", "z", 2, 4, "BYSCORE") == [b"b", b"c", b"d"]
    assert c("ZRANGE", "z", "(2", "+inf", "BYSCORE", "WITHSCORES") == [
        b"c", b"3", b"d", b"4", b"e", b"5"]
    assert c("ZRANGE", "z", 4, 2, "BYSCORE", "REV") == [b"d", b"c", b"b"]
    assert c("ZRANGE", "z", 2, 4, "BYSCORE", "REV") == []
    assert c("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", 1, 2) == [b"b", b"c"]
    assert c("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", 1, -1) == [
        b"b", b"c", b"d", b"e"]
    assert c("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", -1, 2) == []
    assert c("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", 5, 2) == []
    assert c("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", 1, 0) == []
    assert c("ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", 1, 2) == [b"d", b"c"]
    assert c("ZRANGE", "z", "(5", "(1", "BYSCORE", "REV", "LIMIT", 0, 10) == [
        b"d", b"c", b"b"]
    assert c("ZRANGEBYSCORE", "z", 2, "(4", "WITHSCORES") == [b"b", b"2", b"c", b"3"]
    assert c("ZRANGEBYSCORE", "z", 1, 5, "LIMIT", 3, 5, "WITHSCORES") == [
        b"d", b"4", b"e", b"5"]
    assert c("ZREVRANGEBYSCORE", "z", 4, 2) == [b"d", b"c", b"b"]
    assert c("ZREVRANGEBYSCORE", "z", "+inf", "-inf", "LIMIT", 2, 2, "WITHSCORES") == [
        b"c", b"3", b"b", b"2"]
    assert c("ZRANGE", "nokey", 0, 1, "BYSCORE") == []


def test_zrange_by_lex(c: Any) -> None:
    c("ZADD", "z", 0, "a", 0, "b", 0, "c", 0, "d", 0, "e")
    assert c("ZRANGE", "z", "[b", "(d", "BYLEX") == [b"b", b"c"]
    assert c("ZRANGE", "z", "(d", "[b", "BYLEX", "REV") == [b"c", b"b"]
    assert c("ZRANGE", "z", "-", "+", "BYLEX", "LIMIT", 1, 2) == [b"b", b"c"]
    assert c("ZRANGE", "z", "+", "-", "BYLEX", "REV", "LIMIT", 1, 2) == [b"d", b"c"]
    assert c("ZRANGE", "z", "-", "+", "BYLEX", "LIMIT", 0, -5) == [b"a", b"b", b"c", b"d", b"e"]
    assert c("ZRANGE", "z", "-", "+", "BYLEX", "LIMIT", -1, 1) == []
    assert c("ZRANGEBYLEX", "z", "[c", "+") == [b"c", b"d", b"e"]
    assert c("ZRANGEBYLEX", "z", "-", "+", "LIMIT", 4, 9) == [b"e"]
    assert c("ZREVRANGEBYLEX", "z", "+", "(c") == [b"e", b"d"]
    assert c("ZREVRANGEBYLEX", "z", "(e", "-", "LIMIT", 1, 1) == [b"c"]
    assert c("ZRANGEBYLEX", "nokey", "-", "+") == []


def test_zrange_errors(abcde: Any) -> None:
    c = abcde
    limit_err = Err(b"ERR syntax error, LIMIT is only supported in combination with either "
                    b"BYSCORE or BYLEX")
    bylex_err = Err(b"ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    assert c("ZRANGE", "z", 0, -1, "LIMIT", 0, 1) == limit_err
    assert c("ZRANGE", "z", 0, -1, "WITHSCORES", "LIMIT", 1, 2) == limit_err
    assert c("ZREVRANGE", "z", 0, -1, "LIMIT", 1, 1) == limit_err
    assert c("ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES") == bylex_err
    assert c("ZRANGEBYLEX", "z", "-", "+", "WITHSCORES") == bylex_err
    assert c("ZRANGE", "z", 0, 1, "BYLEX", "BYSCORE") == SYNTAX
    assert c("ZRANGE", "z", 0, 1, "BYSCORE", "BYSCORE") == SYNTAX
    assert c("ZRANGE", "z", 0, 1, "REV", "REV") == SYNTAX
    assert c("ZRANGE", "z", 0, 1, "LIMIT", 0) == SYNTAX
    assert c("ZRANGE", "z", 0, 1, "FOO") == SYNTAX
    assert c("ZRANGEBYSCORE", "z", 0, 1, "BYSCORE") == SYNTAX
    assert c("ZRANGEBYSCORE", "z", 0, 1, "REV") == SYNTAX
    assert c("ZRANGEBYSCORE", "z", 0, 1, "WITHSCORES", "LIMIT", 1) == SYNTAX
    assert c("ZREVRANGE", "z", 0, 1, "REV") == SYNTAX
    assert c("ZRANGE", "z", 0, 1, "BYSCORE", "LIMIT", 0, "x") == NOT_INT
    assert c("ZRANGE", "z", 0, 1, "BYSCORE", "LIMIT", "x", 1) == NOT_INT
    assert c("ZRANGE", "z", "x", 1) == NOT_INT
    assert c("ZRANGE", "z", 0, "1.5") == NOT_INT
    assert c("ZRANGE", "z", "x", 1, "BYSCORE") == MINMAX_FLOAT
    assert c("ZRANGE", "z", 1, "x", "BYSCORE", "REV") == MINMAX_FLOAT
    assert c("ZRANGE", "z", "x", "+", "BYLEX") == MINMAX_LEX
    assert c("ZRANGEBYSCORE", "z", "[1", 2) == MINMAX_FLOAT
    assert c("ZREVRANGEBYLEX", "z", "+", "a") == MINMAX_LEX
    assert c("ZRANGE", "z", 0) == arity("zrange")
    c("SET", "s", "v")
    assert c("ZRANGE", "s", 0, -1) == WRONGTYPE
    assert c("ZRANGE", "s", 0, -1, "FOO") == SYNTAX  # options are checked before the key
    assert c("ZRANGEBYLEX", "s", "-", "+") == WRONGTYPE


def test_zrangestore(abcde: Any) -> None:
    c = abcde
    assert c("ZRANGESTORE", "d", "z", 1, 2) == 2
    assert zr(c, "d") == [b"b", b"2", b"c", b"3"]
    assert c("ZRANGESTORE", "d", "z", "(1", 4, "BYSCORE", "LIMIT", 1, 5) == 2
    assert zr(c, "d") == [b"c", b"3", b"d", b"4"]
    assert c("ZRANGESTORE", "d", "z", 4, 1, "BYSCORE", "REV", "LIMIT", 0, 1) == 1
    assert zr(c, "d") == [b"d", b"4"]
    c("ZADD", "lex", 0, "a", 0, "b", 0, "c")
    assert c("ZRANGESTORE", "d", "lex", "(a", "+", "BYLEX") == 2
    assert zr(c, "d") == [b"b", b"0", b"c", b"0"]
    c("SET", "str", "v")
    assert c("ZRANGESTORE", "str", "z", 0, 0) == 1  # replaces a key of any type
    assert c("TYPE", "str") == b"zset"
    assert c("ZRANGESTORE", "d", "z", 10, 20) == 0  # empty result deletes the destination
    assert c("EXISTS", "d") == 0
    assert c("ZRANGESTORE", "str", "nokey", 0, -1) == 0
    assert c("EXISTS", "str") == 0
    assert c("ZRANGESTORE", "z", "z", 0, 1) == 2  # in place
    assert zr(c) == [b"a", b"1", b"b", b"2"]
    assert c("ZRANGESTORE", "d", "z", 0, -1, "WITHSCORES") == SYNTAX
    assert c("ZRANGESTORE", "d", "z", 0, -1, "LIMIT", 0, 1) == Err(
        b"ERR syntax error, LIMIT is only supported in combination with either BYSCORE or "
        b"BYLEX")
    assert c("ZRANGESTORE", "d", "z", "x", 1) == NOT_INT
    assert c("ZRANGESTORE", "d", "z", 0) == arity("zrangestore")
    c("SET", "s", "v")
    c("ZADD", "d", 1, "x")
    assert c("ZRANGESTORE", "d", "s", 0, -1) == WRONGTYPE
    assert zr(c, "d") == [b"x", b"1"]


# --- ZREMRANGEBY* --------------------------------------------------------------------------
def test_zremrangebyrank(abcde: Any) -> None:
    c = abcde
    assert c("ZREMRANGEBYRANK", "z", 1, 2) == 2
    assert c("ZRANGE", "z", 0, -1) == [b"a", b"d", b"e"]
    assert c("ZREMRANGEBYRANK", "z", -1, -1) == 1
    assert c("ZREMRANGEBYRANK", "z", 5, 10) == 0
    assert c("ZREMRANGEBYRANK", "z", 1, 0) == 0
    assert c("ZREMRANGEBYRANK", "z", "x", 1) == NOT_INT
    assert c("ZREMRANGEBYRANK", "nokey", 0, -1) == 0
    assert c("ZREMRANGEBYRANK", "z", -100, 100) == 2
    assert c("EXISTS", "z") == 0
    c("SET", "s", "v")
    assert c("ZREMRANGEBYRANK", "s", 0, 1) == WRONGTYPE


def test_zremrangebyscore(abcde: Any) -> None:
    c = abcde
    assert c("ZREMRANGEBYSCORE", "z", "(1", 3) == 2
    assert c("ZRANGE", "z", 0, -1) == [b"a", b"d", b"e"]
    assert c("ZREMRANGEBYSCORE", "z", 10, 1) == 0
    assert c("ZREMRANGEBYSCORE", "z", "x", 1) == MINMAX_FLOAT
    assert c("ZREMRANGEBYSCORE", "nokey", 0, 1) == 0
    assert c("ZREMRANGEBYSCORE", "z", "-inf", "+inf") == 3
    assert c("EXISTS", "z") == 0
    c("SET", "s", "v")
    assert c("ZREMRANGEBYSCORE", "s", 0, 1) == WRONGTYPE


def test_zremrangebylex(c: Any) -> None:
    c("ZADD", "z", 0, "a", 0, "b", 0, "c", 0, "d")
    assert c("ZREMRANGEBYLEX", "z", "(a", "[c") == 2
    assert c("ZRANGE", "z", 0, -1) == [b"a", b"d"]
    assert c("ZREMRANGEBYLEX", "z", "+", "-") == 0
    assert c("ZREMRANGEBYLEX", "z", "a", "+") == MINMAX_LEX
    assert c("ZREMRANGEBYLEX", "nokey", "-", "+") == 0
    assert c("ZREMRANGEBYLEX", "z", "-", "+") == 2
    assert c("EXISTS", "z") == 0
    c("SET", "s", "v")
    assert c("ZREMRANGEBYLEX", "s", "-", "+") == WRONGTYPE
