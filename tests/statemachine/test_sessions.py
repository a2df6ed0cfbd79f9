"""Client sessions: a retried write applies once (gofish.statemachine.sessions)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gofish.reply import (
    OK,
    Double,
    ErrorReply,
    Map,
    NullArray,
    Pairs,
    Push,
    Reply,
    SetReply,
    Status,
    Verbatim,
)
from gofish.statemachine import sessions as sessions_mod
from gofish.statemachine.entry import (
    FORMAT_VERSION,
    GROUP_VERSION,
    Command,
    decode_command,
    decode_commands,
    encode_batch,
    encode_command,
)
from gofish.statemachine.machine import StateMachine
from gofish.statemachine.registry import CommandTable, WouldBlock, load_datatypes
from gofish.statemachine.sessions import (
    SESSION_TTL_MS,
    STALE_REPLY,
    SessionTable,
    decode_reply,
    encode_reply,
)

T0 = 1_700_000_000_000

_TABLE = CommandTable()
load_datatypes(_TABLE)


def machine() -> StateMachine:
    return StateMachine(_TABLE, 8)


def argv_of(args: tuple[Any, ...]) -> list[bytes]:
    return [a if isinstance(a, bytes) else str(a).encode() for a in args]


def cmd(client: int, seq: int, *args: Any, t: int = T0, acked: int = 0) -> Command:
    return Command(FORMAT_VERSION, client, seq, t, seq * 31, [argv_of(args)], acked=acked)


def multi(client: int, seq: int, *cmds: tuple[Any, ...], t: int = T0, acked: int = 0) -> Command:
    argvs = [argv_of(c) for c in cmds]
    return Command(FORMAT_VERSION, client, seq, t, seq, argvs, multi=True, acked=acked)


def get(sm: StateMachine, key: bytes) -> Reply:
    return sm.read(_TABLE.lookup(b"GET"), [b"GET", key], T0)  # type: ignore[arg-type]


# --- entry format -------------------------------------------------------------------------
def test_entry_without_acked_still_decodes() -> None:
    old = msgspec.msgpack.encode([FORMAT_VERSION, 5, 6, T0, 8, [[b"SET", b"k", b"v"]], True])
    c = decode_command(old)
    assert (c.client, c.seq, c.time_ms, c.seed, c.multi, c.acked) == (5, 6, T0, 8, True, 0)
    assert c.argvs == [[b"SET", b"k", b"v"]]
    new = Command(FORMAT_VERSION, 5, 6, T0, 8, [[b"SET", b"k", b"v"]], acked=4)
    assert decode_command(encode_command(new)) == new


def test_a_pipeline_group_applies_each_command_with_its_own_reply() -> None:
    group = Command(GROUP_VERSION, 7, 1, T0, 1, [argv_of(c) for c in (
        ("SET", "k", "1"), ("INCR", "k"), ("LPUSH", "k", "x"), ("INCR", "k"))])
    assert decode_command(encode_command(group)) == group
    sm = machine()
    replies = sm.apply(group)
    assert isinstance(replies, list) and len(replies) == 4
    assert replies[:2] == [OK, 2] and replies[3] == 3
    assert isinstance(replies[2], ErrorReply) and replies[2].startswith(b"WRONGTYPE")
    assert get(sm, b"k") == b"3"
    assert sm.apply(group) == replies  # a retried group is answered from the cache, once
    assert get(sm, b"k") == b"3"
    # a group is never MULTI, and versions it does not know are refused
    for bad in (Command(GROUP_VERSION, 7, 2, T0, 1, group.argvs, multi=True),
                Command(GROUP_VERSION + 1, 7, 2, T0, 1, group.argvs)):
        with pytest.raises(ValueError, match="version"):
            decode_command(encode_command(bad))


@pytest.mark.parametrize("n", [1, 15, 16, 300])
def test_batch_entries_hold_requests_of_any_clients_in_order(n: int) -> None:
    reqs = [cmd(1 + i % 3, 1 + i // 3, "INCR", f"k{i % 5}") for i in range(n)]
    data = encode_batch([encode_command(c) for c in reqs])
    assert decode_commands(data) == reqs
    assert decode_commands(encode_command(reqs[0])) == [reqs[0]]  # any entry is a list
    a, b = machine(), machine()
    assert [a.apply(c) for c in decode_commands(data)] == [b.apply(c) for c in reqs]
    # damage and nesting are refused, not half-applied
    for bad in (data[:-1], encode_batch([]), encode_batch([data]),
                encode_batch([encode_command(Command(9, 1, 1, T0, 1, [[b"PING"]]))])):
        with pytest.raises(ValueError):
            decode_commands(bad)


# --- dedup ----------------------------------------------------------------------------------
def test_duplicate_returns_cached_reply_and_does_not_execute() -> None:
    sm = machine()
    assert sm.apply(cmd(1, 1, "INCR", "x")) == 1
    assert sm.apply(cmd(1, 1, "INCR", "x")) == 1
    assert get(sm, b"x") == b"1"
    assert sm.applied_commands == 1
    assert sm.sessions.duplicates == 1 and sm.sessions.stale == 0
    assert sm.apply(cmd(1, 2, "INCR", "x")) == 2  # the next request does execute


def test_duplicate_of_an_error_reply_is_the_same_error() -> None:
    sm = machine()
    sm.apply(cmd(1, 1, "SET", "s", "abc"))
    first = sm.apply(cmd(1, 2, "INCR", "s"))
    assert isinstance(first, ErrorReply)
    assert sm.apply(cmd(1, 2, "INCR", "s")) is first
    assert sm.applied_commands == 2


def test_same_seq_of_another_client_executes() -> None:
    sm = machine()
    assert sm.apply(cmd(1, 1, "INCR", "x")) == 1
    assert sm.apply(cmd(2, 1, "INCR", "x")) == 2
    assert len(sm.sessions) == 2


def test_out_of_order_seqs_all_execute_once() -> None:
    sm = machine()
    assert sm.apply(cmd(1, 3, "RPUSH", "l", "c")) == 1
    assert sm.apply(cmd(1, 1, "RPUSH", "l", "a")) == 2  # earlier seq, applied later: runs
    assert sm.apply(cmd(1, 3, "RPUSH", "l", "c")) == 1  # duplicate
    assert sm.apply(cmd(1, 2, "RPUSH", "l", "b")) == 3
    assert sm.apply(cmd(1, 1, "RPUSH", "l", "a")) == 2  # duplicate
    assert sm.read(_TABLE.lookup(b"LRANGE"), [b"LRANGE", b"l", b"0", b"-1"], T0) == [  # type: ignore[arg-type]
        b"c", b"a", b"b",
    ]
    assert sm.sessions.session(1) == (0, [1, 2, 3])
    assert sm.sessions.duplicates == 2 and sm.sessions.stale == 0


def test_acked_drops_cached_replies_and_makes_older_seqs_stale() -> None:
    sm = machine()
    for seq in (1, 2, 3):
        sm.apply(cmd(1, seq, "INCR", "x"))
    assert sm.apply(cmd(1, 4, "INCR", "x", acked=3)) == 4
    assert sm.sessions.session(1) == (3, [3, 4])
    assert sm.apply(cmd(1, 1, "INCR", "x")) == STALE_REPLY
    assert sm.apply(cmd(1, 2, "INCR", "x", acked=1)) == STALE_REPLY  # acked never lowers low
    assert sm.apply(cmd(1, 3, "INCR", "x")) == 3  # still cached
    assert get(sm, b"x") == b"4"
    assert sm.sessions.stale == 2 and sm.sessions.duplicates == 1


def test_acked_on_the_first_entry_of_a_session() -> None:
    sm = machine()
    assert sm.apply(cmd(1, 5, "INCR", "x", acked=5)) == 1
    assert sm.apply(cmd(1, 4, "INCR", "x")) == STALE_REPLY
    assert sm.applied_commands == 1


def test_multi_is_deduplicated_as_one_request() -> None:
    sm = machine()
    entry = multi(1, 1, ("INCR", "x"), ("INCR", "x"), ("GET", "x"))
    assert sm.apply(entry) == [1, 2, b"2"]
    assert sm.apply(entry) == [1, 2, b"2"]
    assert get(sm, b"x") == b"2"
    assert sm.applied_commands == 3
    assert sm.sessions.duplicates == 1


def test_internal_entries_are_not_deduplicated() -> None:
    sm = machine()
    assert sm.apply(cmd(0, 0, "INCR", "x")) == 1
    assert sm.apply(cmd(0, 0, "INCR", "x")) == 2
    assert len(sm.sessions) == 0 and sm.sessions.duplicates == 0


def test_would_block_reply_is_cached() -> None:
    sm = machine()
    first = sm.apply(cmd(1, 1, "BLPOP", "q", "0"))
    assert isinstance(first, WouldBlock)
    sm.apply(cmd(2, 1, "RPUSH", "q", "a"))
    assert sm.apply(cmd(1, 1, "BLPOP", "q", "0")) is first  # the retry does not pop
    assert sm.apply(cmd(1, 2, "BLPOP", "q", "0")) == [b"q", b"a"]
    back = decode_reply(sm.sessions.export()[2][1][3][0][1])
    assert type(back) is WouldBlock and back.keys == [b"q"] and back.timeout_reply is NullArray


# --- bounded memory ----------------------------------------------------------------------
def test_ttl_drops_unused_sessions_by_entry_time() -> None:
    sm = machine()
    sm.apply(cmd(1, 1, "INCR", "x", t=T0))
    sm.apply(cmd(2, 1, "INCR", "y", t=T0 + SESSION_TTL_MS - 1))
    assert sm.sessions.clients() == [1, 2]
    sm.apply(cmd(0, 0, "INCR", "z", t=T0 + SESSION_TTL_MS))  # internal entries advance time
    assert sm.sessions.clients() == [2] and sm.sessions.expired == 1
    # a retry after its session expired is executed again: clients must retry within the TTL
    assert sm.apply(cmd(1, 1, "INCR", "x", t=T0 + SESSION_TTL_MS)) == 2
    assert sm.sessions.clients() == [2, 1]


def test_ttl_uses_the_largest_entry_time_seen() -> None:
    sm = machine()
    sm.apply(cmd(1, 1, "INCR", "x", t=T0 + 1000))
    sm.apply(cmd(2, 1, "INCR", "x", t=T0))  # a new leader with a clock behind
    assert sm.sessions.clock_ms == T0 + 1000
    sm.apply(cmd(3, 1, "INCR", "x", t=T0 + 1000 + SESSION_TTL_MS - 1))
    assert sm.sessions.clients() == [1, 2, 3]
    sm.apply(cmd(3, 2, "INCR", "x", t=T0 + 1000 + SESSION_TTL_MS))
    assert sm.sessions.clients() == [3]  # client 2 was last used at the clock, T0 + 1000


def test_lru_eviction_past_max_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions_mod, "MAX_SESSIONS", 3)
    sm = machine()
    for client in (1, 2, 3):
        sm.apply(cmd(client, 1, "INCR", "x"))
    sm.apply(cmd(1, 1, "INCR", "x"))  # a duplicate is a use too
    sm.apply(cmd(4, 1, "INCR", "x"))
    assert sm.sessions.clients() == [3, 1, 4] and sm.sessions.evicted == 1
    assert len(sm.sessions) == 3
    assert sm.apply(cmd(1, 1, "INCR", "x")) == 1  # still deduplicated
    assert sm.apply(cmd(2, 1, "INCR", "x")) == 5  # evicted: runs again (evicts client 3)
    assert sm.sessions.clients() == [4, 1, 2]


def test_reply_cap_drops_lowest_seq_and_raises_low(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions_mod, "MAX_REPLIES_PER_SESSION", 4)
    sm = machine()
    for seq in (5, 1, 3, 2):
        sm.apply(cmd(1, seq, "INCR", "x"))
    assert sm.sessions.session(1) == (0, [1, 2, 3, 5])
    sm.apply(cmd(1, 7, "INCR", "x"))
    assert sm.sessions.session(1) == (2, [2, 3, 5, 7])
    assert sm.apply(cmd(1, 1, "INCR", "x")) == STALE_REPLY
    assert sm.apply(cmd(1, 4, "INCR", "x")) == 6  # above low, never applied: runs
    assert sm.sessions.session(1) == (3, [3, 4, 5, 7])
    assert sm.apply(cmd(1, 2, "INCR", "x")) == STALE_REPLY


def test_statistics() -> None:
    sm = machine()
    sm.apply(cmd(1, 1, "INCR", "x"))
    sm.apply(cmd(1, 1, "INCR", "x"))
    sm.apply(cmd(1, 2, "INCR", "x", acked=2))
    sm.apply(cmd(1, 1, "INCR", "x"))
    st_ = sm.sessions.statistics()
    assert (st_.sessions, st_.cached_replies, st_.duplicates, st_.stale) == (1, 1, 1, 1)


# --- determinism -----------------------------------------------------------------------------
def random_entries(rng: random.Random, n: int) -> list[Command]:
    """Several clients, retries, out-of-order seqs, acks, clock jumps (back too), internal
    entries and MULTIs, on few keys so replies depend on order."""
    out: list[Command] = []
    next_seq = dict.fromkeys(range(1, 9), 1)
    sent: list[Command] = []
    t = T0
    for _ in range(n):
        t += rng.choice([0, 1, 50, 1000, SESSION_TTL_MS // 3, -2000])
        r = rng.random()
        if r < 0.25 and sent:
            old = rng.choice(sent)
            out.append(Command(old.v, old.client, old.seq, t, old.seed, old.argvs, old.multi,
                               old.acked))
            continue
        if r < 0.3:
            out.append(cmd(0, 0, "INCR", f"k{rng.randrange(3)}", t=t))
            continue
        client = rng.randrange(1, 9)
        seq = next_seq[client] + rng.choice([0, 0, 0, 1, 2])  # skip some: sent later
        next_seq[client] = seq + 1
        acked = max(0, seq - rng.randrange(6)) if rng.random() < 0.5 else 0
        key = f"k{rng.randrange(3)}"
        if rng.random() < 0.2:
            c = multi(client, seq, ("INCR", key), ("RPUSH", "l", key), t=t, acked=acked)
        else:
            c = cmd(client, seq, rng.choice(["INCR", "DECR"]), key, t=t, acked=acked)
        sent.append(c)
        out.append(c)
    return out


def test_two_machines_fed_the_same_entries_end_identical(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sessions_mod, "MAX_SESSIONS", 5)
    monkeypatch.setattr(sessions_mod, "MAX_REPLIES_PER_SESSION", 6)
    entries = random_entries(random.Random(20240611), 3000)
    a, b = machine(), machine()
    replies_a = [a.apply(c) for c in entries]
    replies_b = [b.apply(decode_command(encode_command(c))) for c in entries]
    assert replies_a == replies_b
    assert a.sessions.export() == b.sessions.export()
    assert a.sessions.statistics() == b.sessions.statistics()
    for pa, pb in zip(a.ks.partitions, b.ks.partitions, strict=True):
        assert pa.data == pb.data
    stats = a.sessions.statistics()
    assert stats.duplicates > 0 and stats.stale > 0 and stats.expired > 0 and stats.evicted > 0


def test_restored_table_continues_like_the_original(monkeypatch: pytest.MonkeyPatch) -> None:
    """A table restored from an export mid-log gives the same replies and export as one that
    applied the whole log (the executor records what ran, so re-execution shows)."""
    monkeypatch.setattr(sessions_mod, "MAX_SESSIONS", 5)
    monkeypatch.setattr(sessions_mod, "MAX_REPLIES_PER_SESSION", 6)
    entries = random_entries(random.Random(7), 2000)
    ran: list[list[tuple[int, int]]] = [[], []]

    def executor(i: int) -> Any:
        def run(c: Command) -> Reply:
            ran[i].append((c.client, c.seq))
            return [c.client, c.seq, Status(b"OK"), Double(c.time_ms / 7)]
        return run

    whole, half = SessionTable(), SessionTable()
    out_whole = [whole.apply(c, executor(0)) for c in entries]
    for c in entries[:1000]:
        half.apply(c, executor(1))
    restored = SessionTable()
    restored.restore(msgspec.msgpack.decode(msgspec.msgpack.encode(half.export())))
    assert restored.export() == half.export()
    ran[1].clear()
    out_rest = [restored.apply(c, executor(1)) for c in entries[1000:]]
    assert out_rest == out_whole[1000:]
    assert ran[1] == ran[0][len(ran[0]) - len(ran[1]):]
    assert restored.export() == whole.export()


class NaiveTable:
    """The module rules written the plain way (drop every too-old session, min() for the
    lowest seq), to check `SessionTable`'s shortcuts against."""

    def __init__(self) -> None:
        self.clock = 0
        self.order: list[int] = []
        self.s: dict[int, tuple[list[int], dict[int, Any]]] = {}  # ([low, last], replies)

    def apply(self, c: Command, execute: Callable[[Command], Reply]) -> Reply:
        self.clock = max(self.clock, c.time_ms)
        for k in [k for k in self.order if self.s[k][0][1] + SESSION_TTL_MS <= self.clock]:
            self.order.remove(k)
            del self.s[k]
        if c.client == 0:
            return execute(c)
        if c.client in self.s:
            self.order.remove(c.client)
        else:
            self.s[c.client] = ([0, 0], {})
        self.order.append(c.client)
        if len(self.order) > sessions_mod.MAX_SESSIONS:
            del self.s[self.order.pop(0)]
        meta, replies = self.s[c.client]
        meta[1] = self.clock
        meta[0] = max(meta[0], c.acked)
        for q in [q for q in replies if q < meta[0]]:
            del replies[q]
        if c.seq < meta[0]:
            return STALE_REPLY
        if c.seq in replies:
            return replies[c.seq]  # type: ignore[no-any-return]
        reply = replies[c.seq] = execute(c)
        if len(replies) > sessions_mod.MAX_REPLIES_PER_SESSION:
            lowest = min(replies)
            del replies[lowest]
            meta[0] = lowest + 1
        return reply

    def export(self) -> list[Any]:
        rows = []
        for k in self.order:
            (low, last), replies = self.s[k]
            rows.append([k, low, last, [[q, encode_reply(replies[q])] for q in sorted(replies)]])
        return [1, self.clock, rows]


@pytest.mark.parametrize("seed", range(6))
def test_table_agrees_with_the_naive_rules(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    monkeypatch.setattr(sessions_mod, "MAX_SESSIONS", 2 + seed)
    monkeypatch.setattr(sessions_mod, "MAX_REPLIES_PER_SESSION", 3 + seed)
    entries = random_entries(random.Random(seed), 1500)
    table, naive = SessionTable(), NaiveTable()

    def execute(c: Command) -> Reply:
        return [c.client, c.seq, c.time_ms]

    for i, c in enumerate(entries):
        assert table.apply(c, execute) == naive.apply(c, execute), i
        assert table.export() == naive.export(), i


# --- reply codec and export -------------------------------------------------------------------
def shape(v: Any) -> Any:
    """A comparable form that keeps exact types (Status(b"x") == b"x" in Python)."""
    t = type(v)
    if t is Double:
        return ("Double", float(v).hex())
    if isinstance(v, list | tuple):
        return (t.__name__, [shape(x) for x in v])
    if t is WouldBlock:
        return ("WouldBlock", v.keys, v.timeout, shape(v.timeout_reply))
    return (t.__name__, v)


_leaf = st.one_of(
    st.binary(max_size=6),
    st.integers(-(2**63), 2**63 - 1),
    st.none(),
    st.just(NullArray),
    st.binary(max_size=6).map(Status),
    st.binary(max_size=6).map(ErrorReply),
    st.binary(max_size=6).map(Verbatim),
    st.floats(allow_nan=True, allow_infinity=True).map(Double),
)
_pair = st.tuples
replies = st.one_of(
    st.recursive(
        _leaf,
        lambda ch: st.one_of(
            st.lists(ch, max_size=4),
            st.lists(ch, max_size=4).map(tuple),
            st.lists(_pair(ch, ch), max_size=3).map(Map),
            st.lists(_pair(ch, ch), max_size=3).map(Pairs),
            st.lists(ch, max_size=4).map(SetReply),
            st.lists(ch, max_size=4).map(Push),
        ),
        max_leaves=16,
    ),
    st.builds(
        WouldBlock,
        st.lists(st.binary(max_size=4), max_size=3),
        st.floats(0, 1e9),
        st.sampled_from([None, NullArray]),
    ),
)


@given(replies)
def test_reply_codec_round_trips_exact_types(reply: Any) -> None:
    data = encode_reply(reply)
    assert shape(decode_reply(data)) == shape(reply)
    assert encode_reply(decode_reply(data)) == data


def const(reply: Any) -> Callable[[Command], Reply]:
    def run(c: Command) -> Reply:
        return reply  # type: ignore[no-any-return]

    return run


@settings(max_examples=60)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(0, 12), st.integers(0, 8), replies),
                max_size=40))
def test_export_restore_round_trip(rows: list[tuple[int, int, int, Any]]) -> None:
    table = SessionTable()
    for i, (client, seq, acked, reply) in enumerate(rows):
        c = Command(FORMAT_VERSION, client, seq, T0 + i, 0, [[b"X"]], acked=acked)
        table.apply(c, const(reply))
    data = table.export()
    wire = msgspec.msgpack.encode(data)
    back = SessionTable()
    back.restore(msgspec.msgpack.decode(wire))
    assert msgspec.msgpack.encode(back.export()) == wire
    assert back.clients() == table.clients()
    for client in table.clients():
        assert back.session(client) == table.session(client)


def test_codec_rejects_what_it_does_not_know() -> None:
    with pytest.raises(TypeError):
        encode_reply(True)
    with pytest.raises(TypeError):
        encode_reply(1.5)  # type: ignore[arg-type]
    for bad in (b"\xc1", msgspec.msgpack.encode([99, b""]), msgspec.msgpack.encode("s"),
                msgspec.msgpack.encode([0, 5])):
        with pytest.raises(ValueError):
            decode_reply(bad)


def test_restore_rejects_bad_data_and_keeps_the_table() -> None:
    table = SessionTable()
    table.apply(cmd(1, 1, "X"), lambda c: b"r")
    before = table.export()
    good_reply = encode_reply(b"r")
    bad: list[Any] = [
        [],
        [2, 0, []],
        [1, "0", []],
        [1, T0, [[0, 0, T0, []]]],  # client 0 has no session
        [1, T0, [[1, 0, T0, []], [1, 0, T0, []]]],  # repeated client
        [1, T0, [[1, 0, T0 + 1, []]]],  # used after the clock
        [1, T0, [[1, 0, T0, []], [2, 0, T0 - 1, []]]],  # LRU order broken
        [1, T0, [[1, 5, T0, [[4, good_reply]]]]],  # cached below low
        [1, T0, [[1, 0, T0, [[4, good_reply], [4, good_reply]]]]],
        [1, T0, [[1, 0, T0, [[4, b"\xc1"]]]]],
    ]
    for data in bad:
        with pytest.raises(ValueError):
            table.restore(data)
        assert table.export() == before
