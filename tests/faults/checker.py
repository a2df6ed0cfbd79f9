"""Linearizability checker for the histories of the fault-injection suite (`faults.history`).

Pure: no I/O, no clocks, deterministic. Entry point `check_history`; per key `check_register`,
`check_counter` and `check_lists` take that key's `Pair` list (``History.by_key()[key]``).

Models (one per key, chosen by the functions used on it: any ``append``/``read-list`` makes a
list key, else any ``incr`` a counter, else a register; a key mixing list and register
functions cannot be checked and is reported as unknown):

- **register**: one value, ``None`` (absent) at the start. ``read`` must return the current
  value; ``write v`` sets it; ``cas [e, n]`` requires the value ``== e`` and sets ``n``.
- **counter**: the register model plus ``incr d``: the value (``None`` counts as 0) must be an
  int, becomes value + d, and an ok INCR must have returned exactly that. ``read`` of an
  absent counter returns ``None``, never 0.
- **list**: ``append e`` (RPUSH k e, ok reply = new length) and ``read-list`` (LRANGE k 0 -1).

Meaning of completions: ``fail`` operations are dropped (they did not happen). ``info`` (and
never-completed) operations may take effect at any single point after their invoke, or never;
an info/failed read has no effect and is dropped.

Register and counter: a history is valid iff some total order of the remaining operations
(1) respects real time: an op that completed before another was invoked comes first (order of
``Op.index``), (2) obeys the model, and (3) contains every ok op, and each info op at most once
after its invoke. The search is Wing & Gong's algorithm with Lowe's memoization (as in Knossos
and Porcupine): walk the history's call/return events in order, linearize the first call that
the model allows, restart from the front; on reaching the return of an op that is not
linearized yet, undo the most recent choice and try the next call. Configurations
(linearized set, model state) already explored are cached and never explored again. Pruning:

- a read that may take effect in the current state is linearized at once and is never a
  choice to undo: if any linearization exists, one with the read right here exists (a read
  changes nothing, and every op that completed before it began is linearized already);
- registers: a value read (or CAS-expected) that no write/CAS produced makes the key invalid at
  once (``never-written``, or ``failed-write-visible`` if only failed ops wrote it), so does a
  value read before any write of it began (``future-read``), and, when a single op wrote the
  value, a read that began after another update which itself began after that write completed
  (``stale-read``);
- counters of positive increments are first checked against the bounds of real time: a value
  observed after increments completed must be at least their sum and their largest result
  (``lost-increment``), at most the sum of all increments invoked before it completed
  (``counter-too-high``: an increment applied twice), and two INCRs cannot return the same
  value (``duplicate-incr-result``);
- registers: an info write or CAS whose new value nobody reads or CAS-expects is dropped
  (whether it took effect cannot be observed);
- info ops with the same effect are interchangeable: only the earliest invoked one not yet
  linearized may be linearized (symmetry reduction, which keeps many info INCRs cheap).

Cost and limits (measured on random valid histories of 3,000 ops on one key): with 10
concurrent clients registers and counters take 3-15 search steps per op (< 0.1 s); with 15
about 0.1 s; an invalid history that no precheck catches costs a full search of the prefix
before the anomaly (~0.2 s at 10 clients, ~1 s at 15). The search is exponential in the
number of concurrent updates: at 20-25 clients writing one register it may exceed the budget.
Each check stops after ``max_steps`` steps (`DEFAULT_MAX_STEPS`, roughly 1-2 s) with
``Result(valid=None, reason="search budget exceeded")`` instead of hanging. When the search
fails, the anomaly names the operation whose completion no linearization can pass (the first
such completion in the history), the possible values just before it, and a bounded set of ops
as evidence (the op, the last update that completed before it began, the update that produced
the value it saw, the nearest concurrent ops): evidence, not a proof of minimality.

Lists (no search): every read must be a prefix of the longest read (one common order, no
element twice, no element that was never appended or whose append failed, none whose append
began after the read completed); an ok append whose completion precedes a read's invoke must be
in that read; reads must not go backwards in real time; an ok append of new length n sits at
position n of the common order, needs n appends begun before it completed, and two ok appends
cannot report the same length; appends ordered by real time must be in that order (positions
known from the reads or the replies). Info appends may or may not appear. Appended elements
must be unique per key (else the key is unknown) and each RPUSH appends one element. On
thousands of random small histories these rules agree exactly with a brute-force
linearizability search (tests/faults/test_checker.py), as do the register and counter checks.

Results: `Result` per key (``valid`` True, False, or None = unknown), `Report` for a history.
Both print readably; op times are shown in ms relative to the start of the history. Anomaly
kinds: registers and counters ``never-written``, ``failed-write-visible``, ``future-read``,
``stale-read``, ``lost-increment``, ``duplicate-incr-result``, ``counter-too-high``,
``nonlinearizable`` (found by the search; ``stale-read``/``future-read`` when the evidence
shows which); lists ``duplicate-element``, ``phantom-element``, ``failed-append-visible``,
``future-read``, ``divergent-order``, ``lost-append``, ``stale-read``, ``duplicate-length``,
``length-mismatch``, ``append-order``.
"""

from __future__ import annotations

import functools
import itertools
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from .history import History, Pair

DEFAULT_MAX_STEPS: Final = 2_000_000
MAX_EVIDENCE: Final = 8  # ops listed per anomaly
MAX_ANOMALIES: Final = 20  # anomalies listed per key; the rest are counted
REGISTER_FS: Final = frozenset({"read", "write", "cas"})
COUNTER_FS: Final = frozenset({"read", "write", "cas", "incr"})
LIST_FS: Final = frozenset({"append", "read-list"})


# --- results -----------------------------------------------------------------------------
def format_pair(pair: Pair, t0: int = 0) -> str:
    """One line: ``p3 read 'k' -> ok 5  [#12 +1.234ms .. #15 +1.301ms]``."""
    inv, comp = pair
    arg = "" if inv.value is None else f" {inv.value!r}"
    if comp is None:
        outcome, end = "(never completed)", ""
    else:
        outcome = comp.kind if comp.value is None else f"{comp.kind} {comp.value!r}"
        end = f"#{comp.index} +{(comp.time - t0) / 1e6:.3f}ms"
    start = f"#{inv.index} +{(inv.time - t0) / 1e6:.3f}ms"
    return f"p{inv.process} {inv.f} {inv.key!r}{arg} -> {outcome}  [{start} .. {end}]"


@dataclass(frozen=True)
class Anomaly:
    """A violation: ``kind`` (a short name such as ``stale-read``), a sentence, and the
    operations that show it, in history order."""

    kind: str
    message: str
    ops: tuple[Pair, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(sorted(self.ops, key=_start)))

    def format(self, t0: int = 0) -> str:
        lines = [f"{self.kind}: {self.message}"]
        lines += [f"    {format_pair(p, t0)}" for p in self.ops]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


@dataclass(frozen=True)
class Result:
    """The verdict for one key: ``valid`` is True, False (see ``anomalies``) or None (unknown:
    see ``reason``). ``ops`` = operations checked after dropping, ``steps`` = search steps,
    ``t0`` = time origin for printing."""

    valid: bool | None
    reason: str = ""
    model: str = ""
    key: str = ""
    anomalies: tuple[Anomaly, ...] = ()
    ops: int = 0
    steps: int = 0
    t0: int = 0
    more_anomalies: int = 0  # found but not listed (beyond MAX_ANOMALIES)

    def __str__(self) -> str:
        verdict = {True: "valid", False: "INVALID", None: "UNKNOWN"}[self.valid]
        head = f"{self.model or 'key'} {self.key!r}: {verdict} ({self.ops} ops"
        head += f", {self.steps} steps)" if self.steps else ")"
        if self.reason:
            head += f": {self.reason}"
        lines = [head] + [a.format(self.t0) for a in self.anomalies]
        if self.more_anomalies:
            lines.append(f"... and {self.more_anomalies} more anomalies")
        return "\n".join(lines)


@dataclass(frozen=True)
class Report:
    """`check_history`'s verdict: one `Result` per key and counts of op outcomes (``ok``,
    ``fail``, ``info``, ``pending`` = never completed)."""

    results: dict[str, Result]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def valid(self) -> bool | None:
        """False if any key is invalid, else None if any is unknown, else True."""
        verdicts = [r.valid for r in self.results.values()]
        if False in verdicts:
            return False
        return None if None in verdicts else True

    @property
    def anomalies(self) -> list[Anomaly]:
        return [a for r in self.results.values() for a in r.anomalies]

    def keys_with(self, valid: bool | None) -> list[str]:
        return [k for k, r in self.results.items() if r.valid is valid]

    def __str__(self) -> str:
        verdict = {True: "VALID", False: "INVALID", None: "UNKNOWN"}[self.valid]
        counts = ", ".join(f"{n} {k}" for k, n in self.counts.items())
        lines = [
            f"history {verdict}: {len(self.results)} keys "
            f"({len(self.keys_with(True))} valid, {len(self.keys_with(False))} invalid, "
            f"{len(self.keys_with(None))} unknown); ops: {counts}"
        ]
        lines += [str(r) for r in self.results.values() if r.valid is not True]
        return "\n".join(lines)


def _outcome(pair: Pair) -> str:
    return "info" if pair[1] is None else pair[1].kind


def _start(pair: Pair) -> int:
    return pair[0].index


def _fixed(pair: Pair, _: int) -> Pair:
    return pair


def _t0(pairs: Sequence[Pair]) -> int:
    return min((p[0].time for p in pairs), default=0)


def _ret(pair: Pair) -> int | None:
    """Index of the completion if the op is ok, else None (takes effect any time, or never)."""
    comp = pair[1]
    return comp.index if comp is not None and comp.kind == "ok" else None


def _invalid(
    model: str, key: str, found: list[Anomaly], ops: int, t0: int, steps: int = 0
) -> Result:
    return Result(
        False, model=model, key=key, anomalies=tuple(found[:MAX_ANOMALIES]), ops=ops,
        steps=steps, t0=t0, more_anomalies=max(0, len(found) - MAX_ANOMALIES),
    )


# --- register and counter: compile, prechecks, search --------------------------------------
READ, WRITE, CAS, INCR = range(4)
_SCAN, _MAIN, _INFO = range(3)  # phases of the search loop
_UNKNOWN: Final = object()  # the result of an info INCR


@dataclass(frozen=True, slots=True)
class _COp:
    """A compiled op: code, arguments (read: value; write: value; cas: expected, new;
    incr: delta, result or _UNKNOWN), invoke index, ok completion index or None."""

    code: int
    a: Any
    b: Any
    inv: int
    ret: int | None
    pair: Pair


def _compile(pairs: Sequence[Pair], allowed: frozenset[str]) -> list[_COp]:
    """Compile ops in invoke order, without the failed ops and the reads not ok."""
    out: list[_COp] = []
    for pair in sorted(pairs, key=lambda p: p[0].index):
        inv, comp = pair
        if inv.f not in allowed:
            raise ValueError(f"{inv.f!r} is not one of {sorted(allowed)}: {inv}")
        kind = _outcome(pair)
        if kind == "fail" or (inv.f == "read" and kind != "ok"):
            continue
        ret = _ret(pair)
        result = comp.value if comp is not None and kind == "ok" else None
        if inv.f == "read":
            out.append(_COp(READ, result, None, inv.index, ret, pair))
        elif inv.f == "write":
            out.append(_COp(WRITE, inv.value, None, inv.index, ret, pair))
        elif inv.f == "cas":
            if not isinstance(inv.value, tuple) or len(inv.value) != 2:
                raise ValueError(f"cas value must be [expected, new]: {inv}")
            out.append(_COp(CAS, inv.value[0], inv.value[1], inv.index, ret, pair))
        else:
            delta = 1 if inv.value is None else inv.value
            out.append(_COp(INCR, delta, result if ret else _UNKNOWN, inv.index, ret, pair))
    return out


def _register_reads(ops: list[_COp], pairs: Sequence[Pair]) -> list[Anomaly]:
    """Definite anomalies of the values reads and ok CAS observed in a register (no INCR):
    never written (or only by failed ops), written only after the read completed, or, when
    one op alone wrote the value (``None``: the initial value, if never written), overwritten
    by an update that began after that write completed and completed before the read began."""
    updates: dict[Any, list[_COp]] = {}  # new value -> updates that did not fail
    for op in ops:
        if op.code in (WRITE, CAS):
            updates.setdefault(op.a if op.code == WRITE else op.b, []).append(op)
    failed: dict[Any, list[Pair]] = {}
    for p in pairs:
        if _outcome(p) == "fail" and p[0].f in ("write", "cas"):
            failed.setdefault(p[0].value if p[0].f == "write" else p[0].value[1], []).append(p)
    done = sorted(
        (o for o in ops if o.code != READ and o.ret is not None), key=lambda o: o.ret or 0
    )
    rets = [o.ret or 0 for o in done]
    latest: list[_COp] = []  # latest[i]: the latest-invoked update among done[: i + 1]
    for o in done:
        latest.append(o if not latest or o.inv > latest[-1].inv else latest[-1])
    first_seen: dict[Any, _COp] = {}  # value -> the ok read/CAS of it that completed first
    for op in ops:
        if op.code in (READ, CAS) and op.ret is not None and (
            op.a not in first_seen or op.ret < (first_seen[op.a].ret or 0)
        ):
            first_seen[op.a] = op
    found: list[Anomaly] = []
    for op in ops:
        if op.code not in (READ, CAS) or op.ret is None:
            continue
        v, what = op.a, ("read" if op.code == READ else "cas expected")
        writers = updates.get(v, [])
        if v is not None and not writers:
            if v in failed:
                found.append(Anomaly(
                    "failed-write-visible", f"{what} {v!r}, only written by failed operations",
                    (op.pair, *failed[v][: MAX_EVIDENCE - 1]),
                ))
            else:
                found.append(Anomaly("never-written", f"{what} {v!r}, never written", (op.pair,)))
            continue
        if v is not None and all(w.inv > op.ret for w in writers):
            w = min(writers, key=lambda o: o.inv)
            found.append(Anomaly("future-read", f"{what} {v!r} before it was written",
                                 (op.pair, w.pair)))
            continue
        if len(writers) > (0 if v is None else 1):
            continue
        # the single write of v took effect before it completed and before v was first seen
        seen = first_seen[v]
        w_ret = seen.ret or 0
        if v is None:
            w_ret = -1
        elif writers[0].ret is not None:
            w_ret = min(w_ret, writers[0].ret)
        j = bisect_left(rets, op.inv)
        if not j or latest[j - 1].inv <= w_ret:
            continue
        u = latest[j - 1]
        new = u.a if u.code == WRITE else u.b
        if new == v:  # u is the writer itself (v was seen before it was written)
            continue
        evidence = {id(x): x for x in (u, op) + (() if v is None else (writers[0], seen))}
        found.append(Anomaly(
            "stale-read",
            f"{what} {v!r}, overwritten with {new!r} before the {what.split()[0]} began",
            tuple(x.pair for x in evidence.values()),
        ))
    return found


def _counter_bounds(ops: list[_COp]) -> list[Anomaly]:
    """Real-time bounds for counters of positive int increments and reads only (else [])."""
    if any(op.code not in (READ, INCR) for op in ops) or any(
        op.code == INCR and (type(op.a) is not int or op.a <= 0) for op in ops
    ):
        return []
    found: list[Anomaly] = []
    incrs = [op for op in ops if op.code == INCR]
    seen: dict[Any, _COp] = {}
    for op in sorted((o for o in incrs if o.ret is not None), key=lambda o: o.ret or 0):
        if op.b in seen:
            found.append(Anomaly(
                "duplicate-incr-result",
                f"two increments both returned {op.b!r} (one increment was lost)",
                (seen[op.b].pair, op.pair),
            ))
        seen.setdefault(op.b, op)
    obs = [o for o in ops if o.ret is not None]  # reads and ok incrs: observed values
    done = sorted((o for o in incrs if o.ret is not None), key=lambda o: o.ret or 0)
    total, best, i = 0, None, 0  # ok incrs completed before the observation's invoke
    for o in sorted(obs, key=lambda o: o.inv):
        while i < len(done) and (done[i].ret or 0) < o.inv:
            total += done[i].a
            if type(done[i].b) is int and (best is None or done[i].b > best.b):
                best = done[i]
            i += 1
        value = (0 if o.a is None else o.a) if o.code == READ else o.b
        if type(value) is not int:
            continue
        own = o.a if o.code == INCR else 0
        if i == 0 and value < own:
            found.append(Anomaly("never-written", f"observed {value!r}, below any count",
                                 (o.pair,)))
        elif best is not None and value < best.b + own:
            found.append(Anomaly(
                "lost-increment",
                f"observed {value!r} after an increment had returned {best.b!r}",
                (best.pair, o.pair),
            ))
        elif value < total + own:
            found.append(Anomaly(
                "lost-increment",
                f"observed {value!r} after {i} increments totalling {total} had completed",
                (o.pair,),
            ))
    started = sorted(incrs, key=lambda o: o.inv)
    total, i = 0, 0  # incrs (ok or info) invoked before the observation's completion
    for o in sorted(obs, key=lambda o: o.ret or 0):
        while i < len(started) and started[i].inv < (o.ret or 0):
            total += started[i].a
            i += 1
        value = o.a if o.code == READ else o.b
        if type(value) is int and value > total:
            found.append(Anomaly(
                "counter-too-high",
                f"observed {value!r} but only {i} increments totalling {total} had been invoked "
                "(an increment was applied twice?)",
                (o.pair, *(x.pair for x in started[max(0, i - 3) : i] if x is not o)),
            ))
    return found


def _prune_info(ops: list[_COp]) -> list[_COp]:
    """Drop info writes/CAS whose new value is never read or CAS-expected (only without
    INCR, whose results also reveal the value it started from)."""
    if any(op.code == INCR for op in ops):
        return ops
    observed = {op.a for op in ops if op.code in (READ, CAS)}

    def unobservable(op: _COp) -> bool:
        new = op.a if op.code == WRITE else op.b
        return op.ret is None and op.code in (WRITE, CAS) and new not in observed

    return [op for op in ops if not unobservable(op)]


@dataclass
class _Outcome:
    valid: bool | None
    steps: int
    blocked: _COp | None = None  # op whose completion the search could not pass
    states: list[Any] = field(default_factory=list)  # states seen there


def _search(ops: list[_COp], max_steps: int) -> _Outcome:  # noqa: C901 (one tight loop)
    """Wing & Gong / Lowe search over ``ops`` (in invoke order; see the module docstring).

    Ok ops live in a doubly linked list of their call and return events; info ops (no return)
    in a second list of their calls, tried only after every ok call failed at a point."""
    big = 1 << 62
    ok_ids = [n for n, op in enumerate(ops) if op.ret is not None]
    info_ids = [n for n, op in enumerate(ops) if op.ret is None]
    events = sorted(
        [(ops[n].inv, n, True) for n in ok_ids] + [(ops[n].ret or 0, n, False) for n in ok_ids]
    )
    size = len(events)  # main list: node 0 head, 1..size events, size + 1 tail
    nxt = list(range(1, size + 2)) + [0]
    prv = [0, *range(size + 1)]
    ev_op = [0] + [n for _, n, _ in events] + [0]
    ev_call = [False] + [c for _, _, c in events] + [False]
    ev_pos = [-1] + [i for i, _, _ in events] + [big]
    ret_node = [0] * len(ops)
    for node, (_, n, is_call) in enumerate(events, start=1):
        if not is_call:
            ret_node[n] = node
    isize = len(info_ids)  # info list, same layout
    inxt = list(range(1, isize + 2)) + [0]
    iprv = [0, *range(isize + 1)]
    i_op = [0, *info_ids, 0]
    i_pos = [-1] + [ops[n].inv for n in info_ids] + [big]
    codes = [op.code for op in ops]
    arg_a = [op.a for op in ops]
    arg_b = [op.b for op in ops]
    bit_of = [0] * len(ops)  # ok ops: bit in ok_mask; info ops: bit in info_mask
    for i, n in enumerate(ok_ids):
        bit_of[n] = 1 << i
    group_of = [0] * len(ops)  # info ops with one effect form a group, used in invoke order
    group_pos = [0] * len(ops)
    groups: dict[tuple[int, Any, Any], int] = {}
    group_size: list[int] = []
    for i, n in enumerate(info_ids):
        bit_of[n] = 1 << i
        g = groups.setdefault((codes[n], arg_a[n], arg_b[n]), len(groups))
        if g == len(group_size):
            group_size.append(0)
        group_of[n], group_pos[n] = g, group_size[g]
        group_size[g] += 1
    group_next = [0] * len(group_size)  # per group: how many are linearized

    def apply(n: int, state: Any) -> tuple[bool, Any]:
        code = codes[n]
        if code == WRITE:
            return True, arg_a[n]
        if code == CAS:
            return state == arg_a[n], arg_b[n]
        if code == READ:
            return state == arg_a[n], state
        base = 0 if state is None else state
        if type(base) is not int:
            return False, state
        new = base + arg_a[n]
        return arg_b[n] is _UNKNOWN or new == arg_b[n], new

    out = _Outcome(None, 0)
    best_ret = -1
    remaining = len(ok_ids)
    state: Any = None
    ok_mask = info_mask = 0
    cache: set[tuple[int, int, int, Any]] = set()
    # (kind: 0 forced read | 1 ok op | 2 info op, node, state, ok_mask, info_mask, return node)
    stack: list[tuple[int, int, Any, int, int, int]] = []
    phase, node, inode, rnode = _SCAN, 0, 0, 0
    steps = 0
    while remaining:
        steps += 1
        if steps > max_steps:
            out.steps = max_steps
            return out
        if phase == _SCAN:
            # a read that may take effect now is linearized at once, not as a choice: if any
            # linearization exists, one with the read here exists (a read changes nothing,
            # and every op that completed before the read began is linearized already)
            dead = False
            node = nxt[0]
            while ev_call[node]:
                n = ev_op[node]
                if codes[n] == READ and state == arg_a[n]:
                    new_ok = ok_mask | bit_of[n]
                    low = (~new_ok & (new_ok + 1)).bit_length() - 1
                    key = (low, new_ok >> low, info_mask, state)
                    if key in cache:  # explored and failed, so this configuration fails
                        dead = True
                        break
                    cache.add(key)
                    stack.append((0, node, state, ok_mask, info_mask, 0))
                    ok_mask = new_ok
                    before = prv[node]
                    nxt[before], prv[nxt[node]] = nxt[node], before
                    r = ret_node[n]
                    nxt[prv[r]], prv[nxt[r]] = nxt[r], prv[r]
                    remaining -= 1
                    node = before
                node = nxt[node]
            if not remaining:
                break
            if not dead:
                phase, node = _MAIN, nxt[0]
                continue
        elif phase == _MAIN:
            if ev_call[node]:
                n = ev_op[node]
                if codes[n] != READ:  # the scan took the legal reads
                    legal, new = apply(n, state)
                    if legal:
                        new_ok = ok_mask | bit_of[n]
                        low = (~new_ok & (new_ok + 1)).bit_length() - 1
                        key = (low, new_ok >> low, info_mask, new)
                        if key not in cache:
                            cache.add(key)
                            stack.append((1, node, state, ok_mask, info_mask, 0))
                            state, ok_mask = new, new_ok
                            nxt[prv[node]], prv[nxt[node]] = nxt[node], prv[node]
                            r = ret_node[n]
                            nxt[prv[r]], prv[nxt[r]] = nxt[r], prv[r]
                            remaining -= 1
                            phase = _SCAN
                            continue
                node = nxt[node]
                continue
            # the completion of an op not linearized yet: try the info ops invoked before it
            phase, rnode, inode = _INFO, node, inxt[0]
            continue
        else:
            if i_pos[inode] < ev_pos[rnode]:
                n = i_op[inode]
                if group_pos[n] == group_next[group_of[n]]:
                    legal, new = apply(n, state)
                    if legal:
                        new_info = info_mask | bit_of[n]
                        low = (~ok_mask & (ok_mask + 1)).bit_length() - 1
                        key = (low, ok_mask >> low, new_info, new)
                        if key not in cache:
                            cache.add(key)
                            stack.append((2, inode, state, ok_mask, info_mask, rnode))
                            state, info_mask = new, new_info
                            inxt[iprv[inode]], iprv[inxt[inode]] = inxt[inode], iprv[inode]
                            group_next[group_of[n]] += 1
                            phase = _SCAN
                            continue
                inode = inxt[inode]
                continue
            pos = ev_pos[rnode]  # nothing can take effect before this completion
            if pos > best_ret:
                best_ret, out.blocked, out.states = pos, ops[ev_op[rnode]], [state]
            elif pos == best_ret and len(out.states) < 16 and state not in out.states:
                out.states.append(state)
        # undo the latest choice (and the reads forced after it); go on with the next op
        while True:
            if not stack:
                out.valid, out.steps = False, steps
                return out
            kind, node, state, ok_mask, info_mask, rnode = stack.pop()
            if kind == 2:
                inxt[iprv[node]] = iprv[inxt[node]] = node
                group_next[group_of[i_op[node]]] -= 1
                phase, inode = _INFO, inxt[node]
                break
            r = ret_node[ev_op[node]]
            nxt[prv[r]] = prv[nxt[r]] = r
            nxt[prv[node]] = prv[nxt[node]] = node
            remaining += 1
            if kind == 1:
                phase, node = _MAIN, nxt[node]
                break
    out.valid, out.steps = True, steps
    return out


def _evidence(blocked: _COp, ops: list[_COp]) -> tuple[str, tuple[Pair, ...]]:
    """Anomaly kind and evidence for an op the search could not linearize."""
    end = blocked.ret if blocked.ret is not None else 1 << 62
    updates = [o for o in ops if o.code != READ and o is not blocked]
    before = [o for o in updates if o.ret is not None and o.ret < blocked.inv]
    last = max(before, key=lambda o: o.ret or 0, default=None)
    chosen: dict[int, _COp] = {blocked.inv: blocked}
    if last:
        chosen[last.inv] = last
    kind = "nonlinearizable"
    if blocked.code in (READ, CAS):
        source = [
            o for o in updates
            if (o.code == WRITE and o.a == blocked.a) or (o.code == CAS and o.b == blocked.a)
        ]
        started = [o for o in source if o.inv < end]
        if source and not started:
            kind = "future-read"
            src = min(source, key=lambda o: o.inv)
            chosen[src.inv] = src
        elif started:
            src = max(started, key=lambda o: o.inv)
            chosen[src.inv] = src
            if last and src.ret is not None and src.ret < last.inv:
                kind = "stale-read"
    concurrent = [
        o for o in ops
        if o is not blocked and o.inv < end and (o.ret is None or o.ret > blocked.inv)
    ]
    concurrent.sort(key=lambda o: abs(o.inv - blocked.inv))
    for o in concurrent:
        if len(chosen) >= MAX_EVIDENCE:
            break
        chosen.setdefault(o.inv, o)
    return kind, tuple(o.pair for o in chosen.values())


def _check_rmw(
    pairs: Sequence[Pair], model: str, allowed: frozenset[str], max_steps: int, t0: int | None
) -> Result:
    key = pairs[0][0].key if pairs else ""
    base = _t0(pairs) if t0 is None else t0
    ops = _compile(pairs, allowed)
    found = _register_reads(ops, pairs) if model == "register" else []
    found += _counter_bounds(ops) if model == "counter" else []
    if found:
        return _invalid(model, key, found, len(ops), base)
    ops = _prune_info(ops)
    res = _search(ops, max_steps)
    if res.valid is None:
        return Result(None, "search budget exceeded", model, key, (), len(ops), res.steps, base)
    if res.valid:
        return Result(True, "", model, key, (), len(ops), res.steps, base)
    assert res.blocked is not None
    b = res.blocked
    states = ", ".join(repr(s) for s in res.states)
    what = {READ: f"read {b.a!r}", WRITE: f"write {b.a!r}", CAS: f"cas {b.a!r} -> {b.b!r}",
            INCR: f"incr by {b.a!r} returning {b.b!r}"}[b.code]
    kind, evidence = _evidence(b, ops)
    msg = (f"no linearization includes the {what} completed at #{b.ret}; "
           f"possible values then: {states}")
    return _invalid(model, key, [Anomaly(kind, msg, evidence)], len(ops), base, res.steps)


def check_register(
    pairs: Sequence[Pair], *, max_steps: int = DEFAULT_MAX_STEPS, t0: int | None = None
) -> Result:
    """Linearizability of one register key (read/write/cas ops; `ValueError` for others).

    ``pairs`` are that key's (invoke, completion) pairs; ``t0`` is the time origin for
    printing (default: the first invoke). Result ``valid=None`` after ``max_steps``."""
    return _check_rmw(pairs, "register", REGISTER_FS, max_steps, t0)


def check_counter(
    pairs: Sequence[Pair], *, max_steps: int = DEFAULT_MAX_STEPS, t0: int | None = None
) -> Result:
    """Linearizability of one counter key: incr (ok value = the new value) and read ops, also
    write/cas. Same search and contract as `check_register`."""
    return _check_rmw(pairs, "counter", COUNTER_FS, max_steps, t0)


# --- lists --------------------------------------------------------------------------------
def check_lists(pairs: Sequence[Pair], *, t0: int | None = None) -> Result:  # noqa: C901
    """Check one list key's appends and reads (rules in the module docstring)."""
    key = pairs[0][0].key if pairs else ""
    base = _t0(pairs) if t0 is None else t0
    found: list[Anomaly] = []
    appends: dict[Any, Pair] = {}
    reads: list[tuple[Pair, tuple[Any, ...]]] = []
    for pair in pairs:
        inv, comp = pair
        if inv.f == "append":
            if inv.value in appends:
                return Result(None, f"element {inv.value!r} appended twice: cannot check",
                              "list", key, (), len(pairs), 0, base)
            appends[inv.value] = pair
        elif inv.f == "read-list":
            if comp is not None and comp.kind == "ok":
                reads.append((pair, tuple(comp.value or ())))
        else:
            raise ValueError(f"{inv.f!r} is not append or read-list: {inv}")
    end = 1 << 62

    def done(p: Pair) -> int:  # completion index of an ok op, else "never"
        r = _ret(p)
        return end if r is None else r

    reads.sort(key=lambda r: _start(r[0]))
    longest = max(reads, key=lambda r: len(r[1]), default=None)
    order = longest[1] if longest else ()
    pos = {e: i for i, e in reversed(list(enumerate(order)))}
    consistent: list[tuple[Pair, tuple[Any, ...]]] = []
    reported: set[tuple[str, Any]] = set()  # (kind, element): each shown once

    def element(kind: str, e: Any, message: str, *evidence: Pair) -> None:
        if (kind, e) not in reported:
            reported.add((kind, e))
            found.append(Anomaly(kind, message, evidence))

    def inspect(value: tuple[Any, ...], holder: Callable[[int], Pair]) -> None:
        """Element checks of a read; ``holder(i)`` is the read to show for position i."""
        seen: dict[Any, int] = {}
        for i, e in enumerate(value):
            a = appends.get(e)
            if e in seen:
                element("duplicate-element", e,
                        f"{e!r} at positions {seen[e] + 1} and {i + 1} of a read",
                        holder(i), *((a,) if a else ()))
            seen.setdefault(e, i)
            if a is None:
                element("phantom-element", e, f"read contains {e!r}, never appended", holder(i))
            elif _outcome(a) == "fail":
                element("failed-append-visible", e, f"read contains {e!r}, whose append failed",
                        a, holder(i))
            elif a[0].index > done(holder(i)):
                element("future-read", e,
                        f"read contains {e!r}, appended after the read completed", holder(i), a)

    # reads that are prefixes of the longest: their elements are checked once, on the longest
    # read, each shown with the first read that holds it; the others element by element
    latest: list[tuple[int, Any]] = []  # per position of the order: latest append invoke so far
    for e in order:
        mark = (appends[e][0].index, e) if e in appends else (-1, e)
        latest.append(max(latest[-1], mark, key=lambda m: m[0]) if latest else mark)
    for rp, value in reads:
        if value == order[: len(value)]:
            consistent.append((rp, value))
            if value and latest[len(value) - 1][0] > done(rp):
                e = latest[len(value) - 1][1]
                element("future-read", e,
                        f"read contains {e!r}, appended after the read completed", rp, appends[e])
            continue
        assert longest is not None
        i = next(i for i, (x, y) in enumerate(zip(value, order, strict=False)) if x != y)
        found.append(Anomaly(
            "divergent-order",
            f"reads disagree at position {i + 1}: {value[i]!r} vs {order[i]!r} "
            "(not prefixes of one order)",
            (rp, longest[0]),
        ))
        inspect(value, functools.partial(_fixed, rp))
    reach = list(itertools.accumulate((len(v) for _, v in consistent), max))
    inspect(order, lambda i: consistent[bisect_right(reach, i)][0])
    # acknowledged appends must be visible to every read that began after they completed:
    # for reads that are prefixes of the common order, compare the shortest later read with
    # the element's position; check the other reads element by element
    acked = sorted((p for p in appends.values() if _ret(p) is not None), key=done)
    by_inv = sorted(consistent, key=lambda r: r[0][0].index)
    starts = [r[0][0].index for r in by_inv]
    shortest: list[tuple[Pair, tuple[Any, ...]]] = list(by_inv)  # shortest read from j on
    for j in range(len(by_inv) - 2, -1, -1):
        if len(shortest[j + 1][1]) < len(shortest[j][1]):
            shortest[j] = shortest[j + 1]
    lost: set[Any] = set()
    for a in acked:
        j = bisect_right(starts, done(a))
        e = a[0].value
        if j < len(by_inv) and len(shortest[j][1]) <= pos.get(e, end):
            lost.add(e)
            found.append(Anomaly("lost-append",
                                 f"acknowledged append of {e!r} missing from a later read",
                                 (a, shortest[j][0])))
    prefix_reads = {id(r[0]) for r in consistent}
    for rp, value in reads:
        if id(rp) in prefix_reads:
            continue
        members = set(value)
        for a in acked:
            if done(a) >= rp[0].index:
                break
            e = a[0].value
            if e not in members and e not in lost:
                lost.add(e)
                found.append(Anomaly("lost-append",
                                     f"acknowledged append of {e!r} missing from a later read",
                                     (a, rp)))
    # reads must not go backwards in real time
    by_end = sorted(consistent, key=lambda r: done(r[0]))
    longest_done: tuple[Pair, tuple[Any, ...]] | None = None
    i = 0
    for rp, value in sorted(consistent, key=lambda r: r[0][0].index):
        while i < len(by_end) and done(by_end[i][0]) < rp[0].index:
            if longest_done is None or len(by_end[i][1]) > len(longest_done[1]):
                longest_done = by_end[i]
            i += 1
        if longest_done is not None and len(value) < len(longest_done[1]):
            found.append(Anomaly(
                "stale-read",
                f"read of {len(value)} elements began after a read of "
                f"{len(longest_done[1])} had completed",
                (longest_done[0], rp),
            ))
    # append order, lengths vs the common order and real time
    lengths: dict[int, Pair] = {}
    for e, a in appends.items():
        comp = a[1]
        if comp is None or comp.kind != "ok":
            continue
        n = comp.value
        if n in lengths:
            found.append(Anomaly("duplicate-length", f"two appends both returned length {n!r}",
                                 (lengths[n], a)))
        lengths.setdefault(n, a)
        if type(n) is int and e in pos and pos[e] != n - 1:
            found.append(Anomaly(
                "length-mismatch",
                f"append of {e!r} returned length {n} but {e!r} is at position {pos[e] + 1}",
                (a, longest[0]) if longest else (a,),
            ))
        elif type(n) is int and e not in pos and len(order) >= n > 0:
            holder = appends.get(order[n - 1])
            found.append(Anomaly(
                "length-mismatch",
                f"append of {e!r} returned length {n} but position {n} holds "
                f"{order[n - 1]!r}",
                tuple(p for p in (a, holder, longest[0] if longest else None) if p),
            ))
    # positions known from the reads, else from an ok reply: real time must agree with them
    at = {e: n for e, n in pos.items() if e in appends}
    started = sorted(a[0].index for a in appends.values() if _outcome(a) != "fail")
    for e, a in appends.items():
        n = a[1].value if a[1] is not None and a[1].kind == "ok" else None
        if type(n) is int:
            at.setdefault(e, n - 1)
            if bisect_right(started, done(a)) < n:
                found.append(Anomaly(
                    "length-mismatch",
                    f"append of {e!r} returned length {n}, but only "
                    f"{bisect_right(started, done(a))} appends had begun", (a,),
                ))
    placed = [appends[e] for e in sorted(at, key=lambda e: at[e])]
    later_min: Pair | None = None  # the earliest-completing append placed after the current one
    for a in reversed(placed):
        if later_min is not None and done(later_min) < a[0].index:
            found.append(Anomaly(
                "append-order",
                f"{later_min[0].value!r} completed before {a[0].value!r} began, "
                "but comes after it in the list",
                (later_min, a),
            ))
        if later_min is None or done(a) < done(later_min):
            later_min = a
    if found:
        return _invalid("list", key, found, len(pairs), base)
    return Result(True, "", "list", key, (), len(pairs), 0, base)


# --- whole history ------------------------------------------------------------------------
def model_of(pairs: Iterable[Pair]) -> str | None:
    """"list", "counter" or "register" from the functions used; None if they mix models."""
    fs = {p[0].f for p in pairs}
    if fs & LIST_FS:
        return "list" if fs <= LIST_FS else None
    return "counter" if "incr" in fs else "register"


def check_history(history: History, *, max_steps: int = DEFAULT_MAX_STEPS) -> Report:
    """Check every key of ``history`` with its model; ``max_steps`` bounds each key's search."""
    t0 = history[0].time if len(history) else 0
    counts = {"ok": 0, "fail": 0, "info": 0, "pending": 0}
    results: dict[str, Result] = {}
    for key, pairs in history.by_key().items():
        for _, comp in pairs:
            counts["pending" if comp is None else comp.kind] += 1
        model = model_of(pairs)
        if model == "list":
            results[key] = check_lists(pairs, t0=t0)
        elif model == "counter":
            results[key] = check_counter(pairs, max_steps=max_steps, t0=t0)
        elif model == "register":
            results[key] = check_register(pairs, max_steps=max_steps, t0=t0)
        else:
            fs = sorted({p[0].f for p in pairs})
            results[key] = Result(None, f"mixes list and register functions {fs}", "", key,
                                  (), len(pairs), 0, t0)
    return Report(results, counts)
