"""The list type: every command, option and error path.

Three layers:

- Harness tests (`sm_harness.Engine`): the dispatcher's path without sockets; they also see
  what a client cannot (WouldBlock, the dirty-key report, state left unchanged, checks that
  keep bad commands out of the log).
- Differential tests against a real ``redis-server`` 7.0 started on a free port: the same
  scripts run on both and every reply is compared in its exact RESP2 shape (a null bulk and a
  null array differ). Blocking commands run inside MULTI there, where Redis never blocks.
- A hypothesis test feeding random list-command sequences to both.
- Live tests: the same scripts through a socket to a gofish process (the ``gofish``/``r``
  fixtures of conftest.py), and real blocking between clients (BLPOP woken by another
  client's LPUSH, timeouts, BLMOVE, BLMPOP, FIFO service, MULTI).
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from procs import ServerProc  # noqa: E402
from sm_harness import Engine  # noqa: E402

from gofish.errors import CommandError  # noqa: E402
from gofish.reply import ErrorReply, NullArray, Status  # noqa: E402
from gofish.statemachine.entry import FORMAT_VERSION, Command  # noqa: E402
from gofish.statemachine.registry import WouldBlock  # noqa: E402
from gofish.statemachine.types.lists_model import LIST_TYPE, ListValue  # noqa: E402

NOW = 1_700_000_000_000
WRONGTYPE = b"WRONGTYPE Operation against a key holding the wrong kind of value"
RANK_ZERO = (
    b"ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
    b"or use negative to start from the end of the list"
)


def err(msg: bytes) -> ErrorReply:
    return ErrorReply(msg)


@pytest.fixture
def e() -> Engine:
    return Engine(clock_ms=NOW)


def run_multi(eng: Engine, *cmds: tuple[Any, ...]) -> Any:
    """Apply one MULTI entry (the harness has no MULTI of its own)."""
    argvs = [[a if isinstance(a, bytes) else str(a).encode() for a in c] for c in cmds]
    eng.seq += 1
    return eng.sm.apply(Command(FORMAT_VERSION, 1, eng.seq, eng.now(), eng.seq, argvs, True))


def stored(eng: Engine, key: bytes) -> Any:
    """The raw stored value (no expiry logic), None if absent."""
    return eng.sm.ks.partition_of(key).data.get(key)


def put_string(eng: Engine, key: bytes) -> None:
    """A non-list value at ``key`` (WRONGTYPE tests; independent of the strings module)."""
    eng.sm.ks.set(key, b"string")


# --- pushes -----------------------------------------------------------------------------
def test_lpush_rpush_order_and_length(e: Engine) -> None:
    assert e.run("LPUSH", "l", "a", "b", "c") == 3
    assert e.run("RPUSH", "l", "x", "y") == 5
    assert e.run("LPUSH", "l", "h") == 6
    assert e.run("RPUSH", "l", "t") == 7
    assert e.run("LRANGE", "l", 0, -1) == [b"h", b"c", b"b", b"a", b"x", b"y", b"t"]
    assert type(stored(e, b"l")) is ListValue


def test_push_reports_modified_key(e: Engine) -> None:
    ks = e.sm.ks
    ks.dirty.clear()
    e.run("RPUSH", "l", "a")
    assert ks.dirty == [b"l"]
    ks.dirty.clear()
    e.run("LPUSH", "l", "b", "c")
    assert ks.dirty == [b"l"]


def test_pushx_only_existing(e: Engine) -> None:
    assert e.run("LPUSHX", "l", "a", "b") == 0
    assert e.run("RPUSHX", "l", "a") == 0
    assert stored(e, b"l") is None
    e.run("RPUSH", "l", "m")
    assert e.run("LPUSHX", "l", "a", "b") == 3
    assert e.run("RPUSHX", "l", "y", "z") == 5
    assert e.run("LRANGE", "l", 0, -1) == [b"b", b"a", b"m", b"y", b"z"]


def test_push_wrongtype(e: Engine) -> None:
    put_string(e, b"s")
    for cmd in ("LPUSH", "RPUSH", "LPUSHX", "RPUSHX"):
        assert e.run(cmd, "s", "a") == err(WRONGTYPE)
    assert stored(e, b"s") == b"string"


def test_push_arity(e: Engine) -> None:
    assert e.run("LPUSH", "l") == err(b"ERR wrong number of arguments for 'lpush' command")
    assert e.run("RPUSHX", "l") == err(b"ERR wrong number of arguments for 'rpushx' command")


def test_push_keeps_ttl(e: Engine) -> None:
    e.run("RPUSH", "l", "a")
    e.sm.ks.set_expire(b"l", NOW + 10_000)
    e.run("LPUSH", "l", "b")
    assert e.sm.ks.get_expire(b"l") == NOW + 10_000


def test_push_onto_expired_key_creates_new_list(e: Engine) -> None:
    e.run("RPUSH", "l", "old")
    e.sm.ks.set_expire(b"l", NOW - 1)
    assert e.run("LPUSHX", "l", "x") == 0
    assert e.run("RPUSH", "l", "new") == 1
    assert e.run("LRANGE", "l", 0, -1) == [b"new"]
    assert e.sm.ks.get_expire(b"l") is None


# --- pops -------------------------------------------------------------------------------
def test_pop_single(e: Engine) -> None:
    assert e.run("LPOP", "l") is None
    assert e.run("RPOP", "l") is None
    e.run("RPUSH", "l", "a", "b", "c")
    assert e.run("LPOP", "l") == b"a"
    assert e.run("RPOP", "l") == b"c"
    assert e.run("LPOP", "l") == b"b"
    assert stored(e, b"l") is None  # empty lists are deleted


def test_pop_with_count(e: Engine) -> None:
    e.run("RPUSH", "l", "a", "b", "c", "d", "e")
    assert e.run("LPOP", "l", 2) == [b"a", b"b"]
    assert e.run("RPOP", "l", 2) == [b"e", b"d"]
    assert e.run("LPOP", "l", 0) == []
    assert e.run("RPOP", "l", 0) == []
    assert e.run("RPOP", "l", 100) == [b"c"]
    assert stored(e, b"l") is None
    e.run("RPUSH", "l", "a", "b")
    assert e.run("LPOP", "l", 9223372036854775807) == [b"a", b"b"]


def test_pop_count_missing_key_is_null_array(e: Engine) -> None:
    assert e.run("LPOP", "nokey", 1) is NullArray
    assert e.run("RPOP", "nokey", 0) is NullArray


def test_pop_count_errors(e: Engine) -> None:
    positive = err(b"ERR value is out of range, must be positive")
    applied = e.sm.applied_commands
    assert e.run("LPOP", "l", -1) == positive
    assert e.run("RPOP", "l", "abc") == positive
    assert e.run("LPOP", "l", "9223372036854775808") == positive
    assert e.run("LPOP", "l", 1, 2) == err(b"ERR wrong number of arguments for 'lpop' command")
    assert e.run("RPOP", "l", 1, 2) == err(b"ERR wrong number of arguments for 'rpop' command")
    assert e.sm.applied_commands == applied  # refused before the log


def test_pop_wrongtype(e: Engine) -> None:
    put_string(e, b"s")
    assert e.run("LPOP", "s") == err(WRONGTYPE)
    assert e.run("RPOP", "s", 0) == err(WRONGTYPE)
    assert e.run("LPOP", "s", 3) == err(WRONGTYPE)


# --- LLEN / LRANGE / LINDEX -------------------------------------------------------------
def test_llen(e: Engine) -> None:
    assert e.run("LLEN", "l") == 0
    e.run("RPUSH", "l", "a", "b")
    assert e.run("LLEN", "l") == 2
    put_string(e, b"s")
    assert e.run("LLEN", "s") == err(WRONGTYPE)


@pytest.mark.parametrize(
    ("start", "stop", "expect"),
    [
        (0, -1, "abcdef"), (0, 2, "abc"), (1, 1, "b"), (-2, -1, "ef"), (-100, 100, "abcdef"),
        (4, 100, "ef"), (3, 2, ""), (6, 10, ""), (-1, -2, ""), (2, -3, "cd"), (0, 0, "a"),
        (5, -1, "f"), (-6, 0, "a"), (-7, -6, "a"), (1, 9223372036854775807, "bcdef"),
        (-9223372036854775808, 1, "ab"),
    ],
)
def test_lrange(e: Engine, start: int, stop: int, expect: str) -> None:
    e.run("RPUSH", "l", *"abcdef")
    assert e.run("LRANGE", "l", start, stop) == [c.encode() for c in expect]


def test_lrange_long_list_from_both_ends(e: Engine) -> None:
    items = [str(i).encode() for i in range(600)]
    e.run("RPUSH", "l", *items)
    assert e.run("LRANGE", "l", 0, 99) == items[:100]
    assert e.run("LRANGE", "l", 500, 599) == items[500:]
    assert e.run("LRANGE", "l", -50, -1) == items[-50:]
    assert e.run("LRANGE", "l", 100, 449) == items[100:450]


def test_lrange_errors(e: Engine) -> None:
    not_int = err(b"ERR value is not an integer or out of range")
    assert e.run("LRANGE", "nokey", "a", 1) == not_int
    assert e.run("LRANGE", "nokey", 0, "1.5") == not_int
    assert e.run("LRANGE", "nokey", 0, -1) == []
    put_string(e, b"s")
    assert e.run("LRANGE", "s", 0, -1) == err(WRONGTYPE)
    assert e.run("LRANGE", "s", "x", -1) == not_int  # numbers are parsed first


def test_lindex(e: Engine) -> None:
    e.run("RPUSH", "l", "a", "b", "c")
    assert e.run("LINDEX", "l", 0) == b"a"
    assert e.run("LINDEX", "l", 2) == b"c"
    assert e.run("LINDEX", "l", -1) == b"c"
    assert e.run("LINDEX", "l", -3) == b"a"
    assert e.run("LINDEX", "l", 3) is None
    assert e.run("LINDEX", "l", -4) is None
    assert e.run("LINDEX", "l", -9223372036854775808) is None
    assert e.run("LINDEX", "l", "x") == err(b"ERR value is not an integer or out of range")
    assert e.run("LINDEX", "nokey", "x") is None  # the key is looked up first
    put_string(e, b"s")
    assert e.run("LINDEX", "s", "x") == err(WRONGTYPE)


# --- LSET / LINSERT / LREM / LTRIM ------------------------------------------------------
def test_lset(e: Engine) -> None:
    e.run("RPUSH", "l", "a", "b", "c")
    assert e.run("LSET", "l", 0, "A") == Status(b"OK")
    assert e.run("LSET", "l", -1, "C") == Status(b"OK")
    assert e.run("LRANGE", "l", 0, -1) == [b"A", b"b", b"C"]
    assert e.run("LSET", "l", 3, "x") == err(b"ERR index out of range")
    assert e.run("LSET", "l", -4, "x") == err(b"ERR index out of range")
    assert e.run("LSET", "l", "x", "x") == err(b"ERR value is not an integer or out of range")
    assert e.run("LSET", "nokey", 0, "x") == err(b"ERR no such key")
    assert e.run("LSET", "nokey", "x", "x") == err(b"ERR no such key")
    put_string(e, b"s")
    assert e.run("LSET", "s", "x", "x") == err(WRONGTYPE)
    assert e.run("LRANGE", "l", 0, -1) == [b"A", b"b", b"C"]


def test_linsert(e: Engine) -> None:
    e.run("RPUSH", "l", "a", "b", "a")
    assert e.run("LINSERT", "l", "BEFORE", "a", "x") == 4
    assert e.run("LINSERT", "l", "after", "a", "y") == 5
    assert e.run("LINSERT", "l", "After", "b", "z") == 6
    assert e.run("LRANGE", "l", 0, -1) == [b"x", b"a", b"y", b"b", b"z", b"a"]
    assert e.run("LINSERT", "l", "before", "nope", "q") == -1
    assert e.run("LINSERT", "nokey", "before", "a", "q") == 0
    assert stored(e, b"nokey") is None


def test_linsert_errors(e: Engine) -> None:
    applied = e.sm.applied_commands
    assert e.run("LINSERT", "l", "middle", "a", "b") == err(b"ERR syntax error")
    assert e.sm.applied_commands == applied
    put_string(e, b"s")
    assert e.run("LINSERT", "s", "before", "a", "b") == err(WRONGTYPE)


def test_lrem(e: Engine) -> None:
    e.run("RPUSH", "l", *"axbxcxdx")
    assert e.run("LREM", "l", 2, "x") == 2
    assert e.run("LRANGE", "l", 0, -1) == [b"a", b"b", b"c", b"x", b"d", b"x"]
    assert e.run("LREM", "l", -1, "x") == 1
    assert e.run("LRANGE", "l", 0, -1) == [b"a", b"b", b"c", b"x", b"d"]
    assert e.run("LREM", "l", 0, "nope") == 0
    e.run("RPUSH", "l", "x", "x")
    assert e.run("LREM", "l", 0, "x") == 3
    assert e.run("LRANGE", "l", 0, -1) == [b"a", b"b", b"c", b"d"]
    assert e.run("LREM", "l", -100, "a") == 1
    assert e.run("LREM", "nokey", 1, "a") == 0


def test_lrem_negative_count_removes_from_tail(e: Engine) -> None:
    e.run("RPUSH", "l", *"xaxbxc")
    assert e.run("LREM", "l", -2, "x") == 2
    assert e.run("LRANGE", "l", 0, -1) == [b"x", b"a", b"b", b"c"]


def test_lrem_deletes_emptied_list(e: Engine) -> None:
    e.run("RPUSH", "l", "x", "x")
    assert e.run("LREM", "l", 0, "x") == 2
    assert stored(e, b"l") is None


def test_lrem_errors(e: Engine) -> None:
    applied = e.sm.applied_commands
    assert e.run("LREM", "l", "x", "a") == err(b"ERR value is not an integer or out of range")
    assert e.sm.applied_commands == applied
    put_string(e, b"s")
    assert e.run("LREM", "s", 0, "a") == err(WRONGTYPE)


@pytest.mark.parametrize(
    ("start", "stop", "expect"),
    [
        (0, -1, "abcdef"), (1, -2, "bcde"), (0, 0, "a"), (-1, -1, "f"), (2, 100, "cdef"),
        (-100, 1, "ab"), (4, 2, ""), (6, 9, ""), (0, 9223372036854775807, "abcdef"),
        (1, 4, "bcde"), (5, 5, "f"),
    ],
)
def test_ltrim(e: Engine, start: int, stop: int, expect: str) -> None:
    e.run("RPUSH", "l", *"abcdef")
    assert e.run("LTRIM", "l", start, stop) == Status(b"OK")
    assert e.run("LRANGE", "l", 0, -1) == [c.encode() for c in expect]
    if not expect:
        assert stored(e, b"l") is None


def test_ltrim_missing_and_errors(e: Engine) -> None:
    assert e.run("LTRIM", "nokey", 0, 1) == Status(b"OK")
    applied = e.sm.applied_commands
    not_int = err(b"ERR value is not an integer or out of range")
    assert e.run("LTRIM", "nokey", "a", 1) == not_int
    assert e.run("LTRIM", "nokey", 0, "9223372036854775808") == not_int
    assert e.sm.applied_commands == applied
    put_string(e, b"s")
    assert e.run("LTRIM", "s", 0, 1) == err(WRONGTYPE)


# --- LPOS ---------------------------------------------------------------------------------
def test_lpos(e: Engine) -> None:
    e.run("RPUSH", "l", *"abcabcab")  # a at 0, 3, 6
    assert e.run("LPOS", "l", "a") == 0
    assert e.run("LPOS", "l", "c") == 2
    assert e.run("LPOS", "l", "z") is None
    assert e.run("LPOS", "l", "a", "RANK", 2) == 3
    assert e.run("LPOS", "l", "a", "rank", 4) is None
    assert e.run("LPOS", "l", "a", "RANK", -1) == 6
    assert e.run("LPOS", "l", "a", "RANK", -3) == 0
    assert e.run("LPOS", "l", "a", "COUNT", 0) == [0, 3, 6]
    assert e.run("LPOS", "l", "a", "COUNT", 2) == [0, 3]
    assert e.run("LPOS", "l", "a", "COUNT", 2, "RANK", 2) == [3, 6]
    assert e.run("LPOS", "l", "a", "RANK", -1, "COUNT", 0) == [6, 3, 0]
    assert e.run("LPOS", "l", "a", "RANK", -2, "COUNT", 5) == [3, 0]
    assert e.run("LPOS", "l", "z", "COUNT", 2) == []
    assert e.run("LPOS", "l", "a", "MAXLEN", 3) == 0
    assert e.run("LPOS", "l", "a", "RANK", 2, "MAXLEN", 3) is None
    assert e.run("LPOS", "l", "a", "COUNT", 0, "MAXLEN", 4) == [0, 3]
    assert e.run("LPOS", "l", "a", "RANK", -1, "COUNT", 0, "MAXLEN", 2) == [6]
    assert e.run("LPOS", "l", "a", "MAXLEN", 0, "COUNT", 0) == [0, 3, 6]


def test_lpos_repeated_options_last_wins(e: Engine) -> None:
    e.run("RPUSH", "l", *"abcabcab")
    assert e.run("LPOS", "l", "a", "COUNT", 0, "COUNT", 1) == [0]
    assert e.run("LPOS", "l", "a", "RANK", 2, "RANK", 1) == 0


def test_lpos_rank_long_min_behaves_as_redis(e: Engine) -> None:
    # Redis negates LONG_MIN in C (it stays negative): every match from the tail qualifies and
    # a COUNT limit is never reached.
    e.run("RPUSH", "l", "a", "b", "c", "a")
    assert e.run("LPOS", "l", "a", "RANK", -9223372036854775808) == 3
    assert e.run("LPOS", "l", "a", "RANK", -9223372036854775808, "COUNT", 1) == [3, 0]
    assert e.run("LPOS", "l", "a", "RANK", 9223372036854775807) is None


def test_lpos_missing_key(e: Engine) -> None:
    assert e.run("LPOS", "nokey", "a") is None
    assert e.run("LPOS", "nokey", "a", "COUNT", 0) == []


def test_lpos_errors(e: Engine) -> None:
    assert e.run("LPOS", "l", "a", "RANK", 0) == err(RANK_ZERO)
    assert e.run("LPOS", "l", "a", "RANK", "x") == err(
        b"ERR value is not an integer or out of range"
    )
    assert e.run("LPOS", "l", "a", "COUNT", -1) == err(b"ERR COUNT can't be negative")
    assert e.run("LPOS", "l", "a", "COUNT", "x") == err(b"ERR COUNT can't be negative")
    assert e.run("LPOS", "l", "a", "MAXLEN", -1) == err(b"ERR MAXLEN can't be negative")
    assert e.run("LPOS", "l", "a", "MAXLEN", "x") == err(b"ERR MAXLEN can't be negative")
    assert e.run("LPOS", "l", "a", "RANK") == err(b"ERR syntax error")
    assert e.run("LPOS", "l", "a", "FOO", 1) == err(b"ERR syntax error")
    put_string(e, b"s")
    assert e.run("LPOS", "s", "a") == err(WRONGTYPE)
    assert e.run("LPOS", "s", "a", "RANK", 0) == err(RANK_ZERO)  # options first


# --- LMOVE / RPOPLPUSH --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("wfrom", "wto", "moved", "src", "dst"),
    [
        ("LEFT", "LEFT", b"a", "bc", "axy"),
        ("LEFT", "RIGHT", b"a", "bc", "xya"),
        ("right", "left", b"c", "ab", "cxy"),
        ("Right", "Right", b"c", "ab", "xyc"),
    ],
)
def test_lmove_directions(
    e: Engine, wfrom: str, wto: str, moved: bytes, src: str, dst: str
) -> None:
    e.run("RPUSH", "s1", "a", "b", "c")
    e.run("RPUSH", "d1", "x", "y")
    assert e.run("LMOVE", "s1", "d1", wfrom, wto) == moved
    assert e.run("LRANGE", "s1", 0, -1) == [c.encode() for c in src]
    assert e.run("LRANGE", "d1", 0, -1) == [c.encode() for c in dst]


def test_lmove_creates_destination_and_deletes_empty_source(e: Engine) -> None:
    e.run("RPUSH", "src", "only")
    e.sm.ks.set_expire(b"src", NOW + 5_000)
    assert e.run("LMOVE", "src", "{other}dst", "LEFT", "RIGHT") == b"only"
    assert stored(e, b"src") is None
    assert e.sm.ks.get_expire(b"src") is None
    assert e.run("LRANGE", "{other}dst", 0, -1) == [b"only"]


def test_lmove_same_key_rotates(e: Engine) -> None:
    e.run("RPUSH", "l", "a", "b", "c")
    assert e.run("LMOVE", "l", "l", "LEFT", "RIGHT") == b"a"
    assert e.run("LRANGE", "l", 0, -1) == [b"b", b"c", b"a"]
    assert e.run("RPOPLPUSH", "l", "l") == b"a"
    assert e.run("LRANGE", "l", 0, -1) == [b"a", b"b", b"c"]
    e.run("RPUSH", "one", "x")
    assert e.run("LMOVE", "one", "one", "RIGHT", "LEFT") == b"x"
    assert e.run("LRANGE", "one", 0, -1) == [b"x"]


def test_lmove_missing_source_and_types(e: Engine) -> None:
    put_string(e, b"s")
    assert e.run("LMOVE", "nokey", "s", "LEFT", "LEFT") is None  # dst type not checked
    assert e.run("LMOVE", "s", "d", "LEFT", "LEFT") == err(WRONGTYPE)
    e.run("RPUSH", "l", "a")
    assert e.run("LMOVE", "l", "s", "LEFT", "LEFT") == err(WRONGTYPE)
    assert e.run("RPOPLPUSH", "l", "s") == err(WRONGTYPE)
    assert e.run("LRANGE", "l", 0, -1) == [b"a"]  # nothing popped


def test_lmove_syntax(e: Engine) -> None:
    applied = e.sm.applied_commands
    assert e.run("LMOVE", "a", "b", "UP", "LEFT") == err(b"ERR syntax error")
    assert e.run("LMOVE", "a", "b", "LEFT", "DOWN") == err(b"ERR syntax error")
    assert e.sm.applied_commands == applied


def test_rpoplpush(e: Engine) -> None:
    e.run("RPUSH", "a", "1", "2", "3")
    assert e.run("RPOPLPUSH", "a", "b") == b"3"
    assert e.run("RPOPLPUSH", "a", "b") == b"2"
    assert e.run("LRANGE", "b", 0, -1) == [b"2", b"3"]
    assert e.run("RPOPLPUSH", "nokey", "b") is None


# --- LMPOP --------------------------------------------------------------------------------
def test_lmpop(e: Engine) -> None:
    e.run("RPUSH", "b", "1", "2", "3")
    assert e.run("LMPOP", 2, "a", "b", "LEFT") == [b"b", [b"1"]]
    assert e.run("LMPOP", 2, "a", "b", "right", "COUNT", 5) == [b"b", [b"3", b"2"]]
    assert stored(e, b"b") is None
    assert e.run("LMPOP", 2, "a", "b", "LEFT") is NullArray
    e.run("RPUSH", "a", "x", "y")
    e.run("RPUSH", "b", "z")
    assert e.run("LMPOP", 2, "a", "b", "LEFT", "count", 1) == [b"a", [b"x"]]


def test_lmpop_wrongtype_only_before_a_served_list(e: Engine) -> None:
    put_string(e, b"s")
    e.run("RPUSH", "l", "a", "b")
    assert e.run("LMPOP", 2, "nokey", "s", "LEFT") == err(WRONGTYPE)
    assert e.run("LMPOP", 2, "l", "s", "LEFT", "COUNT", 10) == [b"l", [b"a", b"b"]]


def test_lmpop_errors(e: Engine) -> None:
    numkeys = err(b"ERR numkeys should be greater than 0")
    count = err(b"ERR count should be greater than 0")
    syntax = err(b"ERR syntax error")
    applied = e.sm.applied_commands
    assert e.run("LMPOP", 0, "l", "LEFT") == numkeys
    assert e.run("LMPOP", -1, "l", "LEFT") == numkeys
    assert e.run("LMPOP", "x", "l", "LEFT") == numkeys
    assert e.run("LMPOP", 2, "l", "LEFT") == syntax
    assert e.run("LMPOP", 1, "l", "UP") == syntax
    assert e.run("LMPOP", 1, "l", "LEFT", "COUNT", 0) == count
    assert e.run("LMPOP", 1, "l", "LEFT", "COUNT", -1) == count
    assert e.run("LMPOP", 1, "l", "LEFT", "COUNT", "x") == count
    assert e.run("LMPOP", 1, "l", "LEFT", "COUNT", 1, "COUNT", 1) == syntax
    assert e.run("LMPOP", 1, "l", "LEFT", "COUNT") == syntax
    assert e.run("LMPOP", 1, "l", "LEFT", "FOO") == syntax
    assert e.run("LMPOP", 1, "l") == err(b"ERR wrong number of arguments for 'lmpop' command")
    assert e.sm.applied_commands == applied


def test_key_positions(e: Engine) -> None:
    t = e.table
    assert t.commands[b"blpop"].keys([b"BLPOP", b"a", b"b", b"0"]) == [b"a", b"b"]
    assert t.commands[b"lmove"].keys([b"LMOVE", b"a", b"b", b"LEFT", b"LEFT"]) == [b"a", b"b"]
    assert t.commands[b"lmpop"].keys([b"LMPOP", b"2", b"a", b"b", b"LEFT"]) == [b"a", b"b"]
    assert t.commands[b"lmpop"].keys([b"LMPOP", b"x", b"a", b"LEFT"]) == []
    argv = [b"BLMPOP", b"0", b"2", b"a", b"b", b"LEFT", b"COUNT", b"2"]
    assert t.commands[b"blmpop"].keys(argv) == [b"a", b"b"]
    assert t.commands[b"brpoplpush"].keys([b"BRPOPLPUSH", b"a", b"b", b"0"]) == [b"a", b"b"]


# --- blocking commands --------------------------------------------------------------------
def test_blocking_serve_like_nonblocking(e: Engine) -> None:
    e.run("RPUSH", "b", "1", "2", "3")
    assert e.run("BLPOP", "a", "b", 0) == [b"b", b"1"]
    assert e.run("BRPOP", "a", "b", "0.5") == [b"b", b"3"]
    e.run("RPUSH", "a", "x")
    assert e.run("BLMOVE", "a", "c", "LEFT", "RIGHT", 1) == b"x"
    assert stored(e, b"a") is None
    assert e.run("BRPOPLPUSH", "b", "c", 0) == b"2"
    assert e.run("LRANGE", "c", 0, -1) == [b"2", b"x"]
    assert e.run("BLMPOP", 0, 2, "a", "c", "RIGHT", "COUNT", 5) == [b"c", [b"x", b"2"]]
    assert stored(e, b"c") is None


def test_blocking_same_key_rotates(e: Engine) -> None:
    e.run("RPUSH", "l", "a", "b")
    assert e.run("BLMOVE", "l", "l", "RIGHT", "LEFT", 0) == b"b"
    assert e.run("LRANGE", "l", 0, -1) == [b"b", b"a"]


@pytest.mark.parametrize(
    ("cmd", "keys", "timeout", "reply"),
    [
        (("BLPOP", "a", "b", "0"), [b"a", b"b"], 0.0, NullArray),
        (("BLPOP", "a", "b", "a", "0"), [b"a", b"b"], 0.0, NullArray),
        (("BRPOP", "a", "2.5"), [b"a"], 2.5, NullArray),
        (("BLMOVE", "a", "d", "LEFT", "RIGHT", "1"), [b"a"], 1.0, NullArray),
        (("BRPOPLPUSH", "a", "d", "0.01"), [b"a"], 0.01, NullArray),
        (("BLMPOP", "3", "2", "a", "b", "LEFT", "COUNT", "2"), [b"a", b"b"], 3.0, NullArray),
        (("BLMPOP", "0", "2", "b", "b", "RIGHT"), [b"b"], 0.0, NullArray),
    ],
)
def test_blocking_returns_wouldblock_and_changes_nothing(
    e: Engine, cmd: tuple[str, ...], keys: list[bytes], timeout: float, reply: object
) -> None:
    e.run("RPUSH", "d", "keep")
    dirty_before = len(e.sm.ks.dirty)
    out = e.run(*cmd)
    assert isinstance(out, WouldBlock)
    assert out.keys == keys
    assert out.timeout == timeout
    assert out.timeout_reply is reply
    assert len(e.sm.ks.dirty) == dirty_before
    assert e.run("LRANGE", "d", 0, -1) == [b"keep"]
    assert stored(e, b"a") is None


def test_blocking_inside_multi_returns_timeout_reply(e: Engine) -> None:
    replies = run_multi(
        e,
        ("BLPOP", "a", "0"),
        ("BRPOP", "a", "b", "1"),
        ("BLMOVE", "a", "d", "LEFT", "LEFT", "0"),
        ("BRPOPLPUSH", "a", "d", "0"),
        ("BLMPOP", "0", "1", "a", "LEFT"),
        ("RPUSH", "a", "x", "y"),
        ("BLPOP", "a", "0"),
        ("BLMOVE", "a", "d", "LEFT", "LEFT", "0"),
        ("BLMPOP", "0", "1", "a", "LEFT"),
    )
    assert replies == [
        NullArray, NullArray, None, None, NullArray, 2, [b"a", b"x"], b"y", NullArray,
    ]
    assert e.run("LRANGE", "d", 0, -1) == [b"y"]


def test_blocking_wrongtype(e: Engine) -> None:
    put_string(e, b"s")
    e.run("RPUSH", "l", "a")
    assert e.run("BLPOP", "s", 0) == err(WRONGTYPE)
    assert e.run("BLPOP", "nokey", "s", 0) == err(WRONGTYPE)
    assert e.run("BRPOP", "l", "s", 0) == [b"l", b"a"]  # served before reaching s
    assert e.run("BLMOVE", "s", "d", "LEFT", "LEFT", 0) == err(WRONGTYPE)
    assert e.run("BLMPOP", 0, 1, "s", "LEFT") == err(WRONGTYPE)
    e.run("RPUSH", "l", "a")
    assert e.run("BLMOVE", "l", "s", "LEFT", "LEFT", 0) == err(WRONGTYPE)
    assert e.run("LLEN", "l") == 1


def test_blocking_argument_errors_never_reach_the_log(e: Engine) -> None:
    not_float = err(b"ERR timeout is not a float or out of range")
    negative = err(b"ERR timeout is negative")
    syntax = err(b"ERR syntax error")
    applied = e.sm.applied_commands
    assert e.run("BLPOP", "a", "abc") == not_float
    assert e.run("BRPOP", "a", "-1") == negative
    assert e.run("BLMOVE", "a", "b", "UP", "LEFT", "0") == syntax
    assert e.run("BLMOVE", "a", "b", "LEFT", "UP", "-1") == syntax
    assert e.run("BLMOVE", "a", "b", "LEFT", "RIGHT", "-1") == negative
    assert e.run("BLMOVE", "a", "b", "LEFT", "RIGHT", "x") == not_float
    assert e.run("BRPOPLPUSH", "a", "b", "x") == not_float
    assert e.run("BLMPOP", 0, 0, "a", "LEFT") == err(b"ERR numkeys should be greater than 0")
    assert e.run("BLMPOP", "x", 1, "a", "LEFT") == not_float
    assert e.run("BLMPOP", "x", 1, "a", "UP") == syntax  # syntax before timeout
    assert e.run("BLMPOP", -1, 2, "a", "LEFT") == syntax  # where missing before timeout
    assert e.run("BLMPOP", 0, 1, "a", "LEFT", "COUNT", 0) == err(
        b"ERR count should be greater than 0"
    )
    assert e.sm.applied_commands == applied


def test_command_flags(e: Engine) -> None:
    t = e.table.commands
    for name in (b"blpop", b"brpop", b"blmove", b"brpoplpush", b"blmpop"):
        assert t[name].is_write and t[name].is_blocking
    assert "movablekeys" in t[b"lmpop"].flags and t[b"lmpop"].keys_of is not None
    assert "movablekeys" in t[b"blmpop"].flags and t[b"blmpop"].keys_of is not None
    assert all(t[n].group == "list" for n in t if n in _LIST_COMMANDS)


# --- value type ---------------------------------------------------------------------------
def test_typespec(e: Engine) -> None:
    e.run("RPUSH", "l", "a", "b")
    v = stored(e, b"l")
    spec = e.table.type_of(v)
    assert spec is LIST_TYPE and spec.name == "list" and spec.pytype is ListValue
    assert e.sm.ks.type_name(v) == "list"
    assert spec.encoding(v) == "quicklist"  # Redis 7.0 answers quicklist for every list
    c = spec.copy(v)
    assert type(c) is ListValue and c == v and c is not v
    c.append(b"z")
    assert len(v) == 2
    dumped = spec.dump(v)
    assert dumped == [b"a", b"b"]
    loaded = spec.load(dumped)
    assert type(loaded) is ListValue and list(loaded) == [b"a", b"b"]
    with pytest.raises(ValueError):
        spec.load([b"a", 1])


def test_apply_is_deterministic_across_engines() -> None:
    script = [
        ("RPUSH", "l", *"abcdefg"), ("LMOVE", "l", "m", "LEFT", "RIGHT"), ("LREM", "l", -1, "g"),
        ("LINSERT", "l", "BEFORE", "d", "q"), ("LTRIM", "l", 1, -2), ("LPOP", "l", 2),
        ("BLMPOP", 0, 2, "x", "m", "RIGHT"),
    ]
    a, b = Engine(clock_ms=NOW), Engine(clock_ms=NOW)
    assert [a.run(*c) for c in script] == [b.run(*c) for c in script]
    for key in (b"l", b"m"):
        va, vb = stored(a, key), stored(b, key)
        assert (va is None and vb is None) or LIST_TYPE.dump(va) == LIST_TYPE.dump(vb)


_LIST_COMMANDS = {
    b"lpush", b"rpush", b"lpushx", b"rpushx", b"lpop", b"rpop", b"llen", b"lrange", b"lindex",
    b"lset", b"linsert", b"lrem", b"ltrim", b"lpos", b"lmove", b"rpoplpush", b"lmpop", b"blpop",
    b"brpop", b"blmove", b"brpoplpush", b"blmpop",
}


# --- differential tests against a real redis-server 7.0 ---------------------------------
class Resp2:
    """A minimal RESP2 client that keeps the reply's exact shape."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = self.sock.makefile("rb")

    def close(self) -> None:
        self.buf.close()
        self.sock.close()

    def call(self, *args: Any) -> Any:
        self.send(*args)
        return self.read()

    def send(self, *args: Any) -> None:
        """Send a command without waiting for its reply (a client about to block)."""
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        out = b"*%d\r\n" % len(parts) + b"".join(
            b"$%d\r\n%s\r\n" % (len(p), p) for p in parts
        )
        self.sock.sendall(out)

    def read(self) -> Any:
        return self._read()

    def _read(self) -> Any:
        line = self.buf.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return ("status", rest)
        if kind == b"-":
            return ("err", rest)
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return "nil"
            data = self.buf.read(n + 2)[:-2]
            return data
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return "nilarray"
            return [self._read() for _ in range(n)]
        raise AssertionError(f"unexpected reply line {line!r}")


def shape(reply: Any) -> Any:
    """A harness reply in `Resp2`'s form."""
    if isinstance(reply, ErrorReply):
        return ("err", bytes(reply))
    if isinstance(reply, Status):
        return ("status", bytes(reply))
    if reply is None:
        return "nil"
    if reply is NullArray:
        return "nilarray"
    if isinstance(reply, bytes | int):
        return reply
    if isinstance(reply, list | tuple):
        return [shape(x) for x in reply]
    raise AssertionError(f"unexpected harness reply {reply!r}")


@pytest.fixture
def ref(redis_ref: ServerProc) -> Iterator[Resp2]:
    """A raw client to the reference redis-server 7.0, flushed."""
    client = Resp2(redis_ref.port)
    client.call("FLUSHALL")
    yield client
    client.close()


def checked_multi(eng: Engine, cmd: tuple[Any, ...]) -> Any:
    """What the node does for a command queued in MULTI: check it, then apply it in MULTI."""
    spec = eng.table.lookup(str(cmd[0]).lower().encode())
    assert spec is not None and spec.check is not None
    try:
        spec.check([a if isinstance(a, bytes) else str(a).encode() for a in cmd])
    except CommandError as exc:
        return ErrorReply(exc.message)
    return run_multi(eng, cmd)[0]


def run_both(eng: Engine, ref: Resp2, cmd: tuple[Any, ...]) -> tuple[Any, Any]:
    name = str(cmd[0]).upper()
    if name in ("BLPOP", "BRPOP", "BLMOVE", "BRPOPLPUSH", "BLMPOP"):
        # Redis never blocks inside MULTI; neither does gofish.
        assert ref.call("MULTI") == ("status", b"OK")
        queued = ref.call(*cmd)
        if queued != ("status", b"QUEUED"):
            ref.call("DISCARD")
            return shape(eng.run(*cmd)), queued
        theirs = ref.call("EXEC")[0]
        return shape(checked_multi(eng, cmd)), theirs
    return shape(eng.run(*cmd)), ref.call(*cmd)


SCRIPTS: dict[str, list[tuple[Any, ...]]] = {
    "push_pop": [
        ("LPUSH", "l", "a", "b"), ("RPUSH", "l", "c"), ("LPUSHX", "n", "a"), ("RPUSHX", "l", "d"),
        ("LPOP", "l"), ("RPOP", "l", 2), ("LPOP", "l", 0), ("LPOP", "n", 0), ("LPOP", "n"),
        ("RPOP", "l", 5), ("RPOP", "l"), ("LLEN", "l"), ("LPOP", "l", -1), ("LPOP", "l", "x"),
        ("LPOP", "l", 1, 2), ("RPOP", "s"), ("LPOP", "s", 0), ("LPOP", "s", -1), ("LLEN", "s"),
        ("LPUSH", "s", "x"), ("RPUSHX", "s", "x"),
    ],
    "ranges": [
        ("RPUSH", "l", *"abcdefgh"), ("LRANGE", "l", 0, -1), ("LRANGE", "l", -3, 100),
        ("LRANGE", "l", 5, 2), ("LRANGE", "l", "a", 1), ("LRANGE", "n", 0, -1),
        ("LRANGE", "s", 0, 1), ("LINDEX", "l", -1), ("LINDEX", "l", 8), ("LINDEX", "l", "x"),
        ("LINDEX", "n", "x"), ("LINDEX", "s", 0), ("LTRIM", "l", 1, -2), ("LRANGE", "l", 0, -1),
        ("LTRIM", "l", "x", 0), ("LTRIM", "n", 0, 1), ("LTRIM", "s", 0, 1),
        ("LTRIM", "l", 0, 9223372036854775807), ("LTRIM", "l", 0, 9223372036854775808),
        ("LTRIM", "l", 4, 2), ("LLEN", "l"),
    ],
    "edits": [
        ("RPUSH", "l", *"abcab"), ("LSET", "l", -1, "z"), ("LSET", "l", 9, "z"),
        ("LSET", "l", "x", "z"), ("LSET", "n", "x", "z"), ("LSET", "s", 0, "z"),
        ("LINSERT", "l", "BEFORE", "b", "q"), ("LINSERT", "l", "after", "z", "w"),
        ("LINSERT", "l", "before", "nope", "w"), ("LINSERT", "n", "before", "a", "w"),
        ("LINSERT", "l", "middle", "a", "w"), ("LINSERT", "s", "after", "a", "w"),
        ("LREM", "l", 1, "a"), ("LREM", "l", -1, "b"), ("LREM", "l", 0, "q"),
        ("LREM", "l", "x", "a"), ("LREM", "s", 0, "a"), ("LRANGE", "l", 0, -1),
        ("LREM", "l", 0, "c"), ("LREM", "l", 0, "b"), ("LREM", "l", 0, "z"),
        ("LREM", "l", 0, "w"), ("LLEN", "l"),
    ],
    "lpos": [
        ("RPUSH", "l", *"abcabcab"), ("LPOS", "l", "a"), ("LPOS", "l", "a", "RANK", -2),
        ("LPOS", "l", "a", "RANK", 0), ("LPOS", "l", "a", "RANK", "x"),
        ("LPOS", "l", "a", "COUNT", 0, "MAXLEN", 5), ("LPOS", "l", "b", "RANK", -1, "COUNT", 2),
        ("LPOS", "l", "a", "COUNT", -1), ("LPOS", "l", "a", "MAXLEN", "x"),
        ("LPOS", "l", "a", "RANK"), ("LPOS", "l", "a", "BAD", 1), ("LPOS", "n", "a"),
        ("LPOS", "n", "a", "COUNT", 1), ("LPOS", "s", "a"), ("LPOS", "s", "a", "RANK", 0),
        ("LPOS", "l", "a", "RANK", -9223372036854775808),
        ("LPOS", "l", "a", "RANK", -9223372036854775808, "COUNT", 1),
        ("LPOS", "l", "a", "RANK", 9223372036854775807),
        ("LPOS", "l", "a", "RANK", 9223372036854775808),
        ("LPOS", "l", "a", "COUNT", 9223372036854775808), ("LPOS", "l", "z", "COUNT", 3),
    ],
    "moves": [
        ("RPUSH", "a", "1", "2", "3"), ("LMOVE", "a", "b", "LEFT", "RIGHT"),
        ("LMOVE", "a", "b", "right", "left"), ("LMOVE", "a", "a", "LEFT", "RIGHT"),
        ("RPOPLPUSH", "b", "b"), ("LMOVE", "n", "s", "LEFT", "LEFT"),
        ("LMOVE", "a", "s", "LEFT", "LEFT"), ("LMOVE", "s", "a", "LEFT", "LEFT"),
        ("LMOVE", "a", "b", "UP", "LEFT"), ("RPOPLPUSH", "a", "c"), ("RPOPLPUSH", "a", "c"),
        ("LRANGE", "b", 0, -1), ("LRANGE", "c", 0, -1), ("LLEN", "a"),
    ],
    "lmpop": [
        ("RPUSH", "b", *"12345"), ("LMPOP", 2, "a", "b", "LEFT"),
        ("LMPOP", 2, "a", "b", "RIGHT", "COUNT", 2), ("LMPOP", 1, "a", "LEFT"),
        ("LMPOP", 2, "s", "b", "LEFT"), ("LMPOP", 2, "b", "s", "LEFT", "COUNT", 9),
        ("LMPOP", 0, "a", "LEFT"), ("LMPOP", "x", "a", "LEFT"), ("LMPOP", 3, "a", "LEFT"),
        ("LMPOP", 1, "a", "UP"), ("LMPOP", 1, "a", "LEFT", "COUNT", 0),
        ("LMPOP", 1, "a", "LEFT", "COUNT", 1, "COUNT", 1), ("LMPOP", 1, "a", "LEFT", "COUNT"),
        ("LMPOP", 1, "a", "LEFT", "X"), ("LLEN", "b"),
    ],
    "blocking": [
        ("RPUSH", "b", *"12345"), ("BLPOP", "a", "b", 0), ("BRPOP", "b", "1.5"),
        ("BLPOP", "a", 0), ("BRPOP", "a", "c", 0), ("BLMOVE", "b", "c", "LEFT", "RIGHT", 0),
        ("BLMOVE", "a", "c", "LEFT", "RIGHT", 0), ("BRPOPLPUSH", "b", "c", 0),
        ("BRPOPLPUSH", "a", "c", 0), ("BLMPOP", 0, 2, "a", "c", "LEFT", "COUNT", 3),
        ("BLMPOP", 0, 1, "a", "LEFT"), ("BLPOP", "s", 0), ("BLMPOP", 0, 1, "s", "LEFT"),
        ("BLMOVE", "s", "c", "LEFT", "LEFT", 0), ("BLMOVE", "b", "s", "LEFT", "LEFT", 0),
        ("BLPOP", "a", "x"), ("BLPOP", "a", "-1"), ("BLMOVE", "a", "b", "UP", "LEFT", "x"),
        ("BLMPOP", "x", 1, "a", "UP"), ("BLMPOP", "x", 1, "a", "LEFT"),
        ("BLMPOP", -1, 2, "a", "LEFT"), ("BLMPOP", 0, 0, "a", "LEFT"), ("LLEN", "b"),
    ],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_same_replies_as_redis(name: str, ref: Resp2) -> None:
    eng = Engine(clock_ms=NOW)
    put_string(eng, b"s")
    ref.call("SET", "s", "string")
    for cmd in SCRIPTS[name]:
        ours, theirs = run_both(eng, ref, cmd)
        assert ours == theirs, cmd


def test_command_info_matches_redis(ref: Resp2) -> None:
    eng = Engine(clock_ms=NOW)
    for name in sorted(_LIST_COMMANDS):
        info = ref.call("COMMAND", "INFO", name)[0]
        spec = eng.table.commands[name]
        assert spec.arity == info[1], name
        assert spec.flags == {f[1].decode() for f in info[2]}, name
        assert (spec.first_key, spec.last_key, spec.step) == tuple(info[3:6]), name


def test_command_docs_match_redis(ref: Resp2) -> None:
    eng = Engine(clock_ms=NOW)
    for name in sorted(_LIST_COMMANDS):
        docs = ref.call("COMMAND", "DOCS", name)[1]
        fields = dict(zip(docs[::2], docs[1::2], strict=True))
        spec = eng.table.commands[name]
        assert spec.summary.encode() == fields[b"summary"], name
        assert spec.since.encode() == fields[b"since"], name
        assert spec.group.encode() == fields[b"group"], name
        assert spec.complexity.encode() == fields[b"complexity"], name


_KEYS = st.sampled_from(["a", "b", "s", "{a}c"])
_ELEMS = st.sampled_from(["x", "y", "z"])
_IDX = st.one_of(st.integers(-5, 5), st.sampled_from([-9223372036854775808, "x"]))
_WHERE = st.sampled_from(["LEFT", "RIGHT", "left"])
_BLOCKING = ("BLPOP", "BRPOP")

_COMMANDS = st.one_of(
    st.tuples(st.sampled_from(["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]), _KEYS, _ELEMS, _ELEMS),
    st.tuples(st.sampled_from(["LPOP", "RPOP"]), _KEYS),
    st.tuples(st.sampled_from(["LPOP", "RPOP"]), _KEYS, st.integers(-1, 4)),
    st.tuples(st.just("LLEN"), _KEYS),
    st.tuples(st.sampled_from(["LRANGE", "LTRIM"]), _KEYS, _IDX, _IDX),
    st.tuples(st.just("LINDEX"), _KEYS, _IDX),
    st.tuples(st.just("LSET"), _KEYS, _IDX, _ELEMS),
    st.tuples(st.just("LINSERT"), _KEYS, st.sampled_from(["BEFORE", "after"]), _ELEMS, _ELEMS),
    st.tuples(st.just("LREM"), _KEYS, _IDX, _ELEMS),
    st.tuples(st.just("LPOS"), _KEYS, _ELEMS),
    st.tuples(st.just("LPOS"), _KEYS, _ELEMS, st.just("RANK"), _IDX, st.just("COUNT"),
              st.integers(0, 3), st.just("MAXLEN"), st.integers(0, 6)),
    st.tuples(st.just("LMOVE"), _KEYS, _KEYS, _WHERE, _WHERE),
    st.tuples(st.just("RPOPLPUSH"), _KEYS, _KEYS),
    st.tuples(st.just("LMPOP"), st.just(2), _KEYS, _KEYS, _WHERE, st.just("COUNT"),
              st.integers(1, 4)),
    st.tuples(st.sampled_from(_BLOCKING), _KEYS, _KEYS, st.just(0)),
    st.tuples(st.just("BLMOVE"), _KEYS, _KEYS, _WHERE, _WHERE, st.just(0)),
    st.tuples(st.just("BLMPOP"), st.just(0), st.just(1), _KEYS, _WHERE),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_COMMANDS, max_size=30))
def test_random_sequences_match_redis(redis_ref: ServerProc, cmds: list[tuple[Any, ...]]) -> None:
    ref = Resp2(redis_ref.port)
    try:
        ref.call("FLUSHALL")
        ref.call("SET", "s", "string")
        eng = Engine(clock_ms=NOW)
        put_string(eng, b"s")
        for cmd in cmds:
            ours, theirs = run_both(eng, ref, cmd)
            assert ours == theirs, cmd
        for key in ("a", "b", "{a}c"):
            assert shape(eng.run("LRANGE", key, 0, -1)) == ref.call("LRANGE", key, 0, -1)
    finally:
        ref.close()


# --- live gofish: the same scripts through a socket, and real blocking ------------------
@pytest.fixture
def live(gofish: ServerProc) -> Iterator[Resp2]:
    """A raw client to the live gofish process, flushed."""
    client = Resp2(gofish.port)
    assert client.call("FLUSHALL") == ("status", b"OK")
    yield client
    client.close()


def run_both_live(ours: Resp2, ref: Resp2, cmd: tuple[Any, ...]) -> tuple[Any, Any]:
    """Run ``cmd`` on both servers; blocking commands inside MULTI (where nothing blocks)."""
    name = str(cmd[0]).upper()
    if name not in ("BLPOP", "BRPOP", "BLMOVE", "BRPOPLPUSH", "BLMPOP"):
        return ours.call(*cmd), ref.call(*cmd)
    out = []
    for client in (ours, ref):
        client.call("MULTI")
        queued = client.call(*cmd)
        if queued == ("status", b"QUEUED"):
            res = client.call("EXEC")
            out.append(res[0] if isinstance(res, list) else res)
        else:
            client.call("DISCARD")
            out.append(queued)
    return out[0], out[1]


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_live_same_replies_as_redis(name: str, live: Resp2, ref: Resp2) -> None:
    for client in (live, ref):
        client.call("SET", "s", "string")
    for cmd in SCRIPTS[name]:
        ours, theirs = run_both_live(live, ref, cmd)
        assert ours == theirs, cmd


def wait_blocked(ctl: Resp2, n: int) -> None:
    """Wait until the server reports ``n`` blocked clients (bounded poll of INFO)."""
    want = b"blocked_clients:%d\r\n" % n
    for _ in range(2000):
        if want in ctl.call("INFO", "clients"):
            return
        time.sleep(0.005)
    raise AssertionError(f"server never reported {n} blocked clients")


@pytest.fixture
def clients(gofish: ServerProc, live: Resp2) -> Iterator[list[Resp2]]:
    """Two more connections to the live gofish (``live`` stays the controlling one)."""
    extra = [Resp2(gofish.port), Resp2(gofish.port)]
    yield extra
    for c in extra:
        c.close()
    wait_blocked(live, 0)


def test_live_blpop_woken_by_lpush_from_another_client(
    live: Resp2, clients: list[Resp2]
) -> None:
    a = clients[0]
    a.send("BLPOP", "k1", "k2", "0")
    wait_blocked(live, 1)
    assert live.call("LPUSH", "k2", "v") == 1
    assert a.read() == [b"k2", b"v"]
    assert live.call("LLEN", "k2") == 0
    assert live.call("EXISTS", "k2") == 0
    wait_blocked(live, 0)


def test_live_brpop_served_from_the_first_nonempty_key(
    live: Resp2, clients: list[Resp2]
) -> None:
    a = clients[0]
    a.send("BRPOP", "k1", "k2", "5")
    wait_blocked(live, 1)
    assert live.call("RPUSH", "k1", "x", "y") == 2
    assert a.read() == [b"k1", b"y"]
    assert live.call("LRANGE", "k1", 0, -1) == [b"x"]


def test_live_blpop_timeout(live: Resp2, clients: list[Resp2]) -> None:
    a = clients[0]
    started = time.monotonic()
    assert a.call("BLPOP", "nokey", "0.2") == "nilarray"
    assert time.monotonic() - started >= 0.19
    assert a.call("BRPOPLPUSH", "nokey", "dst", "0.05") == "nilarray"
    assert a.call("BLMPOP", "0.05", "1", "nokey", "LEFT") == "nilarray"
    wait_blocked(live, 0)


def test_live_blmove_woken(live: Resp2, clients: list[Resp2]) -> None:
    a = clients[0]
    live.call("RPUSH", "dst", "old")
    a.send("BLMOVE", "src", "dst", "RIGHT", "LEFT", "0")
    wait_blocked(live, 1)
    assert live.call("RPUSH", "src", "a", "b") == 2
    assert a.read() == b"b"
    assert live.call("LRANGE", "src", 0, -1) == [b"a"]
    assert live.call("LRANGE", "dst", 0, -1) == [b"b", b"old"]


def test_live_blmpop_woken_with_count(live: Resp2, clients: list[Resp2]) -> None:
    a = clients[0]
    a.send("BLMPOP", "0", "2", "k1", "k2", "RIGHT", "COUNT", "2")
    wait_blocked(live, 1)
    assert live.call("RPUSH", "k2", "a", "b", "c") == 3
    assert a.read() == [b"k2", [b"c", b"b"]]
    assert live.call("LRANGE", "k2", 0, -1) == [b"a"]


def test_live_first_blocked_client_is_served_first(live: Resp2, clients: list[Resp2]) -> None:
    a, b = clients
    a.send("BLPOP", "q", "0")
    wait_blocked(live, 1)
    b.send("BLPOP", "q", "0")
    wait_blocked(live, 2)
    assert live.call("RPUSH", "q", "first") == 1
    assert a.read() == [b"q", b"first"]
    wait_blocked(live, 1)  # b took nothing and blocks again
    assert live.call("RPUSH", "q", "second") == 1
    assert b.read() == [b"q", b"second"]


def test_live_blocking_in_multi_returns_at_once(r: redis.Redis) -> None:
    pipe = r.pipeline(transaction=True)
    pipe.blpop(["nokey"], 0)
    pipe.blmove("nokey", "dst", 0, "LEFT", "RIGHT")
    pipe.brpoplpush("nokey", "dst", 0)
    assert pipe.execute() == [None, None, None]


def test_live_redis_py_commands(r: redis.Redis) -> None:
    assert r.rpush("l", "a", "b", "c", "a") == 4
    assert r.lpush("l", "z") == 5
    assert r.lpushx("nokey", "x") == 0
    assert r.rpushx("l", "y") == 6
    assert r.lrange("l", 0, -1) == [b"z", b"a", b"b", b"c", b"a", b"y"]
    assert r.llen("l") == 6
    assert r.lindex("l", -2) == b"a"
    assert r.lpos("l", "a") == 1
    assert r.lpos("l", "a", rank=-1, count=0) == [4, 1]
    assert r.lset("l", 0, "Z") is True
    assert r.linsert("l", "AFTER", "Z", "q") == 7
    assert r.lrem("l", 0, "a") == 2
    assert r.ltrim("l", 0, 3) is True
    assert r.lrange("l", 0, -1) == [b"Z", b"q", b"b", b"c"]
    assert r.lmove("l", "m", "LEFT", "RIGHT") == b"Z"
    assert r.rpoplpush("l", "m") == b"c"
    assert r.lmpop(2, "nokey", "m", direction="LEFT", count=5) == [b"m", [b"c", b"Z"]]
    assert r.lpop("l") == b"q"
    assert r.rpop("l", 3) == [b"b"]
    assert r.lpop("l", 1) is None
    assert r.exists("l", "m") == 0
    r.set("s", "x")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.lpush("s", "a")
    with pytest.raises(redis.ResponseError, match="must be positive"):
        r.lpop("l", -1)
    with pytest.raises(redis.ResponseError, match="RANK can't be zero"):
        r.lpos("l", "a", rank=0)


def test_live_object_encoding_and_type(r: redis.Redis, r_ref: redis.Redis) -> None:
    for client in (r, r_ref):
        client.rpush("l", "a")
        client.rpush("big", "x" * 100, *["e"] * 200)
    assert r.type("l") == r_ref.type("l") == b"list"
    for key in ("l", "big"):
        assert r.object("ENCODING", key) == r_ref.object("ENCODING", key) == b"quicklist"
