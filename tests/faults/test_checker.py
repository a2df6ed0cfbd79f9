"""Tests of the history model and the linearizability checker, on hand-made histories and on
random ones: generated sequential executions with widened intervals (linearizable by
construction) must pass; the same with one read changed to a value never written must not."""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from . import checker
from .checker import (
    Result,
    check_counter,
    check_history,
    check_lists,
    check_register,
    format_pair,
)
from .history import History, Op


class Script:
    """A hand-written history: ``Script().inv(1, "write", 5).ok(1).h``. Times are 0, 1, 2…"""

    def __init__(self, key: str = "k") -> None:
        self.key = key
        self.h = History(clock=itertools.count(1_000_000, 1_000_000).__next__)
        self.open: dict[int, Op] = {}

    def inv(self, p: int, f: str, value: Any = None, key: str | None = None) -> Script:
        self.open[p] = self.h.invoke(p, f, key or self.key, value)
        return self

    def ok(self, p: int, value: Any = None) -> Script:
        self.h.complete(self.open.pop(p), "ok", value)
        return self

    def fail(self, p: int, value: Any = "ERR") -> Script:
        self.h.complete(self.open.pop(p), "fail", value)
        return self

    def info(self, p: int, value: Any = "TIMEOUT") -> Script:
        self.h.complete(self.open.pop(p), "info", value)
        return self

    def pairs(self) -> list[tuple[Op, Op | None]]:
        return self.h.pairs()


def kinds(result: Result) -> list[str]:
    return [a.kind for a in result.anomalies]


def evidence_indexes(result: Result, n: int = 0) -> list[int]:
    return [p[0].index for p in result.anomalies[n].ops]


# --- history -----------------------------------------------------------------------------
def test_history_pairs_by_key_and_rules() -> None:
    s = Script().inv(1, "write", 1).inv(2, "read", key="j").ok(1).inv(1, "cas", [1, 2])
    s.ok(2, None).fail(1).inv(3, "incr", key="c").info(3)
    pairs = s.pairs()
    assert [(i.f, c.kind if c else None) for i, c in pairs] == [
        ("write", "ok"), ("read", "ok"), ("cas", "fail"), ("incr", "info")]
    assert pairs[2][0].value == (1, 2)  # lists are stored as tuples
    assert list(s.h.by_key()) == ["k", "j", "c"]
    assert [op.index for op in s.h] == list(range(8))
    with pytest.raises(ValueError, match="retired"):
        s.h.invoke(3, "read", "c")
    s.inv(4, "read")
    with pytest.raises(ValueError, match="outstanding"):
        s.h.invoke(4, "read", "k")
    with pytest.raises(ValueError, match="not the outstanding"):
        s.h.complete(pairs[0][0], "ok")
    with pytest.raises(ValueError, match="completion kind"):
        s.h.complete(s.open[4], "invoke")
    with pytest.raises(ValueError, match="unknown function"):
        s.h.invoke(9, "get", "k")
    with pytest.raises(TypeError, match="JSON-like"):
        s.h.invoke(9, "write", "k", {"a": 1})
    with pytest.raises(ValueError, match="backwards"):
        s.h.invoke(9, "read", "k", time=5)
    assert s.h.pairs()[-1][1] is None  # still pending
    assert s.h.new_process() == 5


def test_history_is_thread_safe() -> None:
    h = History()
    threads, per_thread = 8, 300

    def client(p: int) -> None:
        for i in range(per_thread):
            op = h.invoke(p, "write", f"k{i % 3}", f"{p}-{i}")
            h.complete(op, "ok")

    workers = [threading.Thread(target=client, args=(p,)) for p in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    ops = h.ops
    assert len(ops) == 2 * threads * per_thread
    assert [op.index for op in ops] == list(range(len(ops)))
    assert all(a.time <= b.time for a, b in itertools.pairwise(ops))
    pairs = h.pairs()
    assert len(pairs) == threads * per_thread
    assert all(c is not None and c.process == i.process and c.index > i.index for i, c in pairs)


def test_history_json_lines_round_trip(tmp_path: Path) -> None:
    s = Script().inv(1, "write", b"\x00\xff").ok(1).inv(2, "read-list").ok(2, ["a", 1, None])
    s.inv(3, "cas", [None, 1.5]).info(3).inv(4, "append", True)
    path = tmp_path / "h.jsonl"
    s.h.save(path)
    text = path.read_text()
    assert text.splitlines()[0] == '{"format": "gofish-history", "version": 1}'
    assert "pickle" not in text
    loaded = History.load(path)
    assert loaded.ops == s.h.ops
    assert loaded.pairs()[-1][1] is None
    with pytest.raises(ValueError, match="retired"):
        loaded.invoke(3, "read", "k")
    lines = text.splitlines()
    with pytest.raises(ValueError, match="header"):
        History.loads("\n".join(['{"format": "other"}', *lines[1:]]))
    with pytest.raises(ValueError, match="index"):
        History.loads("\n".join([lines[0], lines[2]]))
    with pytest.raises(ValueError, match="matches no outstanding"):
        History.loads("\n".join([lines[0], lines[2].replace('"index":1', '"index":0')]))


# --- registers ---------------------------------------------------------------------------
def test_concurrent_writes_with_overlapping_reads_are_valid() -> None:
    s = Script().inv(1, "write", 1).inv(2, "write", 2).inv(3, "read").inv(4, "read")
    s.ok(3, 2).ok(1).inv(3, "read").ok(4, 1).ok(2).ok(3, 1)  # order: w2 r3 w1 r4 r3'
    result = check_register(s.pairs())
    assert result.valid is True, result
    s.inv(1, "read").ok(1, 1)
    assert check_register(s.pairs()).valid is True


def test_info_write_may_take_effect_late_or_never() -> None:
    late = Script().inv(1, "write", 1).ok(1).inv(2, "write", 2).info(2)
    late.inv(3, "read").ok(3, 1).inv(3, "read").ok(3, 2).inv(3, "read").ok(3, 2)
    assert check_register(late.pairs()).valid is True
    never = Script().inv(1, "write", 1).ok(1).inv(2, "write", 2).info(2)
    never.inv(3, "read").ok(3, 1).inv(3, "read").ok(3, 1)
    assert check_register(never.pairs()).valid is True
    pending = Script().inv(2, "write", 2).inv(3, "read").ok(3, None).inv(3, "read").ok(3, 2)
    assert check_register(pending.pairs()).valid is True  # never completed = info
    # but it takes effect once: it cannot come back after being overwritten
    once = Script().inv(2, "write", 2).info(2).inv(3, "read").ok(3, 2).inv(1, "write", 1).ok(1)
    once.inv(3, "read").ok(3, 2)
    result = check_register(once.pairs())
    assert result.valid is False and kinds(result) == ["stale-read"], result


def test_cas_success_and_failure() -> None:
    s = Script().inv(1, "write", 1).ok(1).inv(2, "cas", [1, 2]).inv(3, "cas", [1, 3])
    s.ok(2).fail(3).inv(1, "read").ok(1, 2).inv(3, "cas", [2, 4]).info(3)
    s.inv(1, "read").ok(1, 2)  # the info CAS did not happen (yet)
    assert check_register(s.pairs()).valid is True
    both = Script().inv(1, "write", 1).ok(1).inv(2, "cas", [1, 2]).inv(3, "cas", [1, 3])
    both.ok(2).ok(3)
    result = check_register(both.pairs())
    assert result.valid is False and kinds(result) == ["nonlinearizable"], result
    assert "cas 1 -> " in result.anomalies[0].message


def test_stale_read_is_invalid_with_minimal_evidence() -> None:
    s = Script().inv(1, "write", 1).ok(1).inv(1, "write", 2).ok(1).inv(2, "read").ok(2, 1)
    result = check_register(s.pairs())
    assert result.valid is False
    assert kinds(result) == ["stale-read"]
    assert evidence_indexes(result) == [0, 2, 4]
    text = str(result)
    assert "INVALID" in text and "read 1, overwritten with 2" in text
    assert "p2 read 'k' -> ok 1  [#4 +4.000ms .. #5 +5.000ms]" in text
    initial = Script().inv(1, "write", 1).ok(1).inv(2, "read").ok(2, None)
    assert kinds(check_register(initial.pairs())) == ["stale-read"]


def test_value_never_written_or_only_by_a_failed_write() -> None:
    s = Script().inv(1, "write", 1).ok(1).inv(2, "read").ok(2, 7)
    result = check_register(s.pairs())
    assert result.valid is False and kinds(result) == ["never-written"]
    f = Script().inv(1, "write", 1).fail(1).inv(2, "read").ok(2, 1)
    result = check_register(f.pairs())
    assert result.valid is False and kinds(result) == ["failed-write-visible"]
    assert evidence_indexes(result) == [0, 2]
    future = Script().inv(2, "read").ok(2, 1).inv(1, "write", 1).ok(1)
    assert kinds(check_register(future.pairs())) == ["future-read"]


def test_reads_disagreeing_on_the_order_of_two_writes_need_the_search() -> None:
    s = Script().inv(1, "write", 1).inv(2, "write", 2)
    s.inv(3, "read").ok(3, 1).inv(3, "read").ok(3, 2)  # reader 3: 1 then 2
    s.inv(4, "read").ok(4, 2).inv(4, "read").ok(4, 1)  # reader 4: 2 then 1
    s.ok(1).ok(2)
    result = check_register(s.pairs())
    assert result.valid is False and kinds(result) == ["nonlinearizable"], result
    assert result.anomalies[0].ops[0][0].f == "write"
    assert "possible values then" in result.anomalies[0].message
    assert result.steps > 0


def test_search_budget_gives_unknown_instead_of_hanging() -> None:
    s = Script()
    for p in range(12):  # 12 concurrent writes, then contradicting reads
        s.inv(p, "write", p)
    for p in range(12):
        s.ok(p)
    s.inv(20, "read").ok(20, 3).inv(20, "read").ok(20, 3)
    result = check_register(s.pairs(), max_steps=50)
    assert result.valid is None and result.reason == "search budget exceeded"
    assert "UNKNOWN" in str(result)
    assert check_register(s.pairs()).valid is True


# --- counters ----------------------------------------------------------------------------
def test_concurrent_increments_are_valid() -> None:
    s = Script().inv(1, "incr").inv(2, "incr").inv(3, "read").ok(2, 1).ok(1, 2).ok(3, 1)
    s.inv(3, "read").ok(3, 2).inv(1, "incr", 5).ok(1, 7)
    result = check_counter(s.pairs())
    assert result.valid is True, result
    assert result.model == "counter"


def test_info_increments_may_apply_or_not() -> None:
    applied = Script().inv(1, "incr").ok(1, 1).inv(2, "incr").info(2).inv(1, "incr").ok(1, 3)
    assert check_counter(applied.pairs()).valid is True
    skipped = Script().inv(1, "incr").ok(1, 1).inv(2, "incr").info(2).inv(1, "incr").ok(1, 2)
    assert check_counter(skipped.pairs()).valid is True
    many = Script()  # symmetric info increments stay cheap
    for p in range(40):
        many.inv(p, "incr").info(p)
    for i in range(1, 30):
        many.inv(100 + i, "incr").ok(100 + i, 2 * i)
    result = check_counter(many.pairs())
    assert result.valid is True and result.steps < 5_000, result


def test_lost_increment() -> None:
    s = Script().inv(1, "incr").ok(1, 1).inv(2, "incr").ok(2, 2).inv(3, "read").ok(3, 1)
    result = check_counter(s.pairs())
    assert result.valid is False and kinds(result) == ["lost-increment"]
    assert evidence_indexes(result) == [2, 4]
    dup = Script().inv(1, "incr").inv(2, "incr").ok(1, 1).ok(2, 1)
    result = check_counter(dup.pairs())
    assert result.valid is False and kinds(result) == ["duplicate-incr-result"]


def test_duplicated_increment_shows_as_skipped_value() -> None:
    s = Script().inv(1, "incr").ok(1, 1).inv(2, "incr").ok(2, 3)
    result = check_counter(s.pairs())
    assert result.valid is False and kinds(result) == ["counter-too-high"], result
    read = Script().inv(1, "incr").ok(1, 1).inv(2, "read").ok(2, 2)
    assert kinds(check_counter(read.pairs())) == ["counter-too-high"]


def test_counter_with_writes_is_checked_by_the_search() -> None:
    s = Script().inv(1, "write", 10).ok(1).inv(2, "incr").ok(2, 11).inv(3, "read").ok(3, 10)
    result = check_counter(s.pairs())
    assert result.valid is False and kinds(result) == ["stale-read"], result
    ok = Script().inv(1, "write", 10).inv(2, "incr").ok(2, 1).ok(1).inv(3, "read").ok(3, 10)
    assert check_counter(ok.pairs()).valid is True


# --- lists -------------------------------------------------------------------------------
def lists() -> Script:
    """a, b acknowledged; c concurrent with a read; d info."""
    s = Script().inv(1, "append", "a").ok(1, 1).inv(2, "append", "b").ok(2, 2)
    s.inv(1, "append", "c").inv(3, "read-list").ok(3, ["a", "b"]).ok(1, 3)
    s.inv(2, "append", "d").info(2)
    return s


def test_valid_list_histories() -> None:
    s = lists().inv(3, "read-list").ok(3, ["a", "b", "c"]).inv(4, "read-list")
    s.ok(4, ["a", "b", "c", "d"])
    result = check_lists(s.pairs())
    assert result.valid is True, result
    never = lists().inv(3, "read-list").ok(3, ["a", "b", "c"])
    assert check_lists(never.pairs()).valid is True
    empty = Script().inv(3, "read-list").ok(3, None).inv(3, "read-list").ok(3, [])
    assert check_lists(empty.pairs()).valid is True


@pytest.mark.parametrize(
    ("reads", "kind", "detail"),
    [
        ([["a", "c"]], "lost-append", "'b'"),
        ([["a", "b", "c", "c"]], "duplicate-element", "'c' at positions 3 and 4"),
        ([["a", "b", "c"], ["a", "c", "b"]], "divergent-order", "position 2: 'c' vs 'b'"),
        ([["a", "b", "c", "x"]], "phantom-element", "'x'"),
        ([["a", "b", "c"], ["a", "b"]], "stale-read", "2 elements"),
        ([["b", "a", "c"]], "append-order", "'a' completed before 'b' began"),
    ],
)
def test_list_anomalies(reads: list[list[str]], kind: str, detail: str) -> None:
    s = lists()
    for value in reads:
        s.inv(5, "read-list").ok(5, value)
    result = check_lists(s.pairs())
    assert result.valid is False, result
    assert kind in kinds(result), result
    assert any(detail in a.message for a in result.anomalies if a.kind == kind), result


def test_list_failed_append_and_lengths() -> None:
    s = lists().inv(6, "append", "f").fail(6).inv(5, "read-list").ok(5, ["a", "b", "c", "f"])
    result = check_lists(s.pairs())
    assert kinds(result) == ["failed-append-visible"]
    assert [p[0].f for p in result.anomalies[0].ops] == ["append", "read-list"]
    dup = lists().inv(6, "append", "e").ok(6, 3).inv(5, "read-list").ok(5, ["a", "b", "c", "e"])
    result = check_lists(dup.pairs())
    assert "duplicate-length" in kinds(result) and "length-mismatch" in kinds(result), result
    future = Script().inv(5, "read-list").ok(5, ["z"]).inv(1, "append", "z").ok(1, 1)
    assert kinds(check_lists(future.pairs())) == ["future-read"]
    twice = Script().inv(1, "append", "z").ok(1, 1).inv(1, "append", "z").ok(1, 2)
    result = check_lists(twice.pairs())
    assert result.valid is None and "appended twice" in result.reason


# --- whole histories -----------------------------------------------------------------------
def test_check_history_reports_per_key(tmp_path: Path) -> None:
    s = Script()
    s.inv(1, "write", 1, key="reg").ok(1).inv(2, "read", key="reg").ok(2, 1)
    s.inv(1, "incr", key="ctr").ok(1, 1).inv(2, "read", key="ctr").ok(2, 0)  # lost increment
    s.inv(1, "append", "x", key="lst").ok(1, 1).inv(2, "read-list", key="lst").ok(2, ["x"])
    s.inv(3, "append", "y", key="mix").fail(3).inv(3, "read", key="mix").info(3)
    s.inv(4, "write", 5, key="reg")
    report = check_history(s.h)
    assert report.valid is False
    assert {k: r.model for k, r in report.results.items()} == {
        "reg": "register", "ctr": "counter", "lst": "list", "mix": ""}
    assert report.keys_with(True) == ["reg", "lst"]
    assert report.keys_with(False) == ["ctr"] and report.keys_with(None) == ["mix"]
    assert report.counts == {"ok": 6, "fail": 1, "info": 1, "pending": 1}
    assert [a.kind for a in report.anomalies] == ["lost-increment"]
    text = str(report)
    assert text.startswith("history INVALID: 4 keys (2 valid, 1 invalid, 1 unknown)")
    assert "counter 'ctr': INVALID" in text and "mixes list and register" in text
    path = tmp_path / "failing.jsonl"
    s.h.save(path)
    assert str(check_history(History.load(path))) == text
    assert check_history(History()).valid is True


def test_format_pair_shows_indexes_and_relative_times() -> None:
    s = Script().inv(1, "cas", [1, 2]).fail(1, "CLUSTERDOWN").inv(2, "write", 3)
    (cas, write) = s.pairs()
    assert format_pair(cas, t0=1_000_000) == (
        "p1 cas 'k' (1, 2) -> fail 'CLUSTERDOWN'  [#0 +0.000ms .. #1 +1.000ms]")
    assert format_pair(write) == "p2 write 'k' 3 -> (never completed)  [#2 +3.000ms .. ]"


# --- random histories ----------------------------------------------------------------------
@dataclass
class Planned:
    f: str
    value: Any  # invoke value
    result: Any  # ok completion value
    kind: str  # ok | fail | info
    start: int
    end: int


def record(planned: list[Planned]) -> History:
    """Record ``planned`` ops in time order, giving each a free process (info retires it)."""
    events = sorted(
        [(p.start, 0, n) for n, p in enumerate(planned)]
        + [(p.end, 1, n) for n, p in enumerate(planned)]
    )
    h = History()
    free: list[int] = []
    open_ops: dict[int, Op] = {}
    for t, is_end, n in events:
        p = planned[n]
        if not is_end:
            proc = free.pop() if free else h.new_process()
            open_ops[n] = h.invoke(proc, p.f, "k", p.value, time=t)
        else:
            op = open_ops.pop(n)
            h.complete(op, p.kind, p.result if p.kind == "ok" else None, time=t)
            if p.kind != "info":
                free.append(op.process)
    return h


@st.composite
def sequential_executions(draw: st.DrawFn, model: str) -> list[Planned]:
    """A sequential run of the model (op i takes effect at time 100 * (i + 1)), with each op's
    interval widened around that point: linearizable by construction. Some updates end as
    info (they took effect), some extra info/failed updates never take effect."""
    state: Any = None
    value: Any
    result: Any
    out: list[Planned] = []
    n = draw(st.integers(1, 24))
    for i in range(n):
        point = 100 * (i + 1)
        start = point - draw(st.integers(0, 400))
        end = point + draw(st.integers(0, 400))
        f = draw(st.sampled_from(["read", "write", "cas"] if model == "register"
                                 else ["read", "incr"]))
        kind = "ok"
        if f == "read":
            value, result = None, state
        elif f == "write":
            value, result, state = f"v{i}", None, f"v{i}"
        elif f == "cas":
            expected = draw(st.sampled_from([state, f"v{i - 1}", None]))
            value, result = [expected, f"v{i}"], None
            if expected == state:
                state = f"v{i}"
            else:
                kind = "fail"
        else:
            delta = draw(st.integers(1, 3))
            state = (state or 0) + delta
            value, result = delta, state
        if f != "read" and kind == "ok" and draw(st.integers(0, 4)) == 0:
            kind = "info"  # took effect, the client never heard
        out.append(Planned(f, value, result, kind, start, end))
    for i in range(draw(st.integers(0, 3))):  # never took effect
        start = draw(st.integers(-400, 100 * n))
        kind = draw(st.sampled_from(["info", "fail"]))
        f, value = ("write", f"never{i}") if model == "register" else ("incr", 1)
        if model == "counter" and kind == "fail":
            value = 100
        out.append(Planned(f, value, None, kind, start, start + draw(st.integers(0, 400))))
    return out


def check(model: str, h: History) -> Result:
    pairs = h.pairs()
    return check_register(pairs) if model == "register" else check_counter(pairs)


def mutate_a_read(planned: list[Planned], pick: int) -> bool:
    """Make one ok read return a value never written; False if there is no ok read."""
    reads = [p for p in planned if p.f == "read" and p.kind == "ok"]
    if not reads:
        return False
    read = reads[pick % len(reads)]
    read.result = "never" if isinstance(read.result, str) or read.result is None else -1
    return True


RANDOM = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("model", ["register", "counter"])
@pytest.mark.parametrize("prechecks", [True, False], ids=["prechecks", "search-only"])
def test_random_sequential_executions(model: str, prechecks: bool) -> None:
    @RANDOM
    @given(planned=sequential_executions(model), pick=st.integers(0, 100))
    def run(planned: list[Planned], pick: int) -> None:
        result = check(model, record(planned))
        assert result.valid is True, result
        if mutate_a_read(planned, pick):
            result = check(model, record(planned))
            assert result.valid is False, result

    if prechecks:
        run()
    else:  # the search alone must find the same anomalies
        with (
            mock.patch.object(checker, "_register_reads", lambda ops, pairs: []),
            mock.patch.object(checker, "_counter_bounds", lambda ops: []),
        ):
            run()


def simulate(rng: random.Random, n_ops: int, clients: int, model: str) -> History:
    """A concurrent run on a linearizable register/counter: each op takes effect at a random
    moment between its invoke and its completion; 2% of updates end as info."""
    h = History()
    state: Any = None
    idle = list(range(clients))
    invoked: dict[int, Op] = {}
    applied: dict[int, tuple[Op, str, Any]] = {}
    started = written = 0
    while started < n_ops or invoked or applied:
        moves = (["invoke"] if idle and started < n_ops else []) + (
            ["apply"] if invoked else []) + (["complete"] if applied else [])
        move = rng.choice(moves)
        if move == "invoke":
            p = idle.pop(rng.randrange(len(idle)))
            f = rng.choice(["read", "write", "cas"] if model == "register" else ["read", "incr"])
            written += 1
            value = {"read": None, "write": written, "incr": None,
                     "cas": [rng.randint(max(0, written - 5), written), written]}[f]
            invoked[p] = h.invoke(p, f, "k", value)
            started += 1
        elif move == "apply":
            p = rng.choice(list(invoked))
            op = invoked.pop(p)
            kind, result = "ok", None
            if op.f == "read":
                result = state
            elif op.f == "write":
                state = op.value
            elif op.f == "cas":
                if state == op.value[0]:
                    state = op.value[1]
                else:
                    kind = "fail"
            else:
                state = result = (state or 0) + 1
            if kind == "ok" and op.f != "read" and rng.random() < 0.02:
                kind = "info"
            applied[p] = (op, kind, result)
        else:
            p = rng.choice(list(applied))
            op, kind, result = applied.pop(p)
            h.complete(op, kind, result)
            idle.append(h.new_process() if kind == "info" else p)
    return h


@pytest.mark.parametrize("model", ["register", "counter"])
def test_thousands_of_concurrent_ops_check_quickly(model: str) -> None:
    h = simulate(random.Random(7), 3000, 10, model)
    result = check(model, h)
    assert result.valid is True, result
    assert result.steps < 30 * result.ops, result  # measured: 3-15 steps per op
    assert check_history(h).valid is True


# --- differential: the checker agrees with brute force on small arbitrary histories --------
def brute_force(pairs: list[tuple[Op, Op | None]]) -> bool:
    """Linearizable iff some order of the ok ops plus any subset of the info ops respects
    real time and the sequential model (register, counter and list at once)."""
    ops = [
        (inv, comp if comp is not None and comp.kind == "ok" else None)
        for inv, comp in pairs
        if (comp is None or comp.kind != "fail")
        and (inv.f not in ("read", "read-list") or (comp is not None and comp.kind == "ok"))
    ]
    required = [o for o in ops if o[1] is not None]
    optional = [o for o in ops if o[1] is None]

    def legal(order: tuple[tuple[Op, Op | None], ...]) -> bool:
        state: Any = None
        for inv, comp in order:
            if inv.f == "read" and comp is not None and comp.value != state:
                return False
            if inv.f == "write":
                state = inv.value
            elif inv.f == "cas":
                if state != inv.value[0]:
                    return False
                state = inv.value[1]
            elif inv.f == "incr":
                if not isinstance(state or 0, int):
                    return False
                state = (state or 0) + (1 if inv.value is None else inv.value)
                if comp is not None and comp.value != state:
                    return False
            elif inv.f == "append":
                state = (*(state or ()), inv.value)
                if comp is not None and comp.value != len(state):
                    return False
            elif inv.f == "read-list" and comp is not None and tuple(comp.value or ()) != (
                state or ()
            ):
                return False
        return True

    for k in range(len(optional) + 1):
        for extra in itertools.combinations(optional, k):
            for order in itertools.permutations(required + list(extra)):
                in_time = all(
                    b[1] is None or b[1].index > a[0].index
                    for i, a in enumerate(order)
                    for b in order[i + 1 :]
                )
                if in_time and legal(order):
                    return True
    return False


@st.composite
def small_histories(draw: st.DrawFn, model: str, max_ops: int = 6) -> list[Planned]:
    """Up to ``max_ops`` ops with random intervals, outcomes and observed values (often
    invalid)."""
    out: list[Planned] = []
    appended: list[str] = []
    result: Any
    for i in range(draw(st.integers(1, max_ops))):
        start = draw(st.integers(0, 60))
        end = start + draw(st.integers(0, 30))
        kind = draw(st.sampled_from(["ok", "ok", "ok", "info", "fail"]))
        small = st.sampled_from([None, 1, 2])
        if model == "register":
            f = draw(st.sampled_from(["read", "write", "cas"]))
            value: Any = {"read": None, "write": draw(st.sampled_from([1, 2])),
                          "cas": [draw(small), draw(st.sampled_from([1, 2]))]}[f]
            result = draw(small) if f == "read" else None
        elif model == "counter":
            f = draw(st.sampled_from(["read", "incr"]))
            value = None if f == "read" else draw(st.integers(1, 2))
            result = draw(st.sampled_from([None, 0, 1, 2, 3, 4]))
        else:
            f = draw(st.sampled_from(["read-list", "append"]))
            if f == "append":
                value, result = f"e{i}", draw(st.integers(1, 4))
                appended.append(value)
            else:
                pool = [*appended, "x"]
                value = None
                result = draw(st.lists(st.sampled_from(pool), max_size=4).map(tuple))
        out.append(Planned(f, value, result, kind, start, end))
    return out


@pytest.mark.parametrize("model", ["register", "counter", "list"])
def test_agrees_with_brute_force(model: str) -> None:
    check_model = {"register": check_register, "counter": check_counter, "list": check_lists}

    @settings(max_examples=250, deadline=None)
    @given(planned=small_histories(model))
    def run(planned: list[Planned]) -> None:
        pairs = record(planned).pairs()
        result = check_model[model](pairs)
        assert result.valid is brute_force(pairs), (result, pairs)

    run()
