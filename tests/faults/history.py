"""The history model of the fault-injection suite (Jepsen/Knossos style).

A *history* is the ordered list of everything the clients of a test did: each operation appears
twice, once when a client **invokes** it and once when it **completes**. The checker
(`faults.checker`) decides whether the completions are consistent with some order of the
operations (linearizability).

Rules (the contract the recorder and the checker share):

- An `Op` is one event. ``kind`` is ``"invoke"`` or a completion kind:

  ``"ok"``   the operation took effect, exactly once, between its invoke and this completion;
  ``"fail"`` it definitely did not take effect (e.g. ``-CLUSTERDOWN``, ``-TRYAGAIN``, a CAS
             whose precondition did not hold);
  ``"info"`` unknown outcome (``-TIMEOUT``, connection lost): it may take effect at any time
             after its invoke, even after the end of the test, or never. Its process id is
             retired: the recorder continues that client thread under a new process id
             (`History.new_process`).

  An invoke without a completion (the recorder stopped) counts as ``"info"``.
- ``process`` is a client id; a process has at most one outstanding operation at a time.
- ``index`` is the event's position in the history and ``time`` a monotonic clock in ns taken
  under the same lock, so index order is real-time order. The checker uses ``index``.
- ``f`` and ``value`` (what the checker expects; values compare with ``==``, so the recorder
  must record writes and reads in one representation, e.g. decoded ``str`` or ``int``):

  =============  ===========================  =======================================
  f              invoke value                 ok completion value
  =============  ===========================  =======================================
  ``read``       ``None``                     the value read; ``None`` = key absent
  ``write``      the value written            anything (ignored)
  ``cas``        ``[expected, new]``          anything (ignored); a CAS that did not
                                              match is recorded as ``fail``
  ``incr``       the delta (``None`` = 1)     the new value returned by INCR/INCRBY
                                              (anything else is a wrong reply)
  ``append``     the element (RPUSH k elem)   the new length of the list (int)
  ``read-list``  ``None``                     the list read (LRANGE k 0 -1)
  =============  ===========================  =======================================

- Values are JSON-like data: ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``, and
  lists/tuples of them. Lists are stored as tuples (so ops are hashable and a list read back
  from JSON equals the one recorded). Anything else raises `TypeError` at record time.
- A history is saved as JSON lines (`History.dumps` / `History.save`): a header line, then one
  object per op. No pickle. `History.loads` / `History.load` re-validate every rule above.

`History` is append-only and thread-safe: many client threads call `invoke` and `complete`
concurrently; everything else is meant for after the run (it takes a snapshot under the lock).
"""

from __future__ import annotations

import json
import threading
import time as _time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

COMPLETION_KINDS: Final = frozenset({"ok", "fail", "info"})
FUNCTIONS: Final = frozenset({"read", "write", "cas", "incr", "append", "read-list"})
FORMAT: Final = "gofish-history"
VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class Op:
    """One event of a history (see the module docstring for the meaning of each field)."""

    process: int
    kind: str
    f: str
    key: str
    value: Any
    time: int
    index: int

    def __str__(self) -> str:
        return (
            f"#{self.index} p{self.process} {self.kind} {self.f} {self.key!r} "
            f"{self.value!r} t={self.time}"
        )


Pair = tuple[Op, Op | None]
"""An invoke and its completion (``None`` if the operation never completed)."""


def normalize(value: Any) -> Any:
    """Return ``value`` as stored in an `Op`: lists and tuples become tuples (recursively).

    Raises `TypeError` for anything that is not JSON-like data (see the module docstring)."""
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    if isinstance(value, list | tuple):
        return tuple(normalize(v) for v in value)
    raise TypeError(f"history values must be JSON-like data, not {type(value).__name__}")


def _to_json(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) != {"$bytes"}:
            raise ValueError(f"bad value object in history: {value!r}")
        return bytes.fromhex(value["$bytes"])
    if isinstance(value, list):
        return tuple(_from_json(v) for v in value)
    return value


class History:
    """An append-only, thread-safe list of `Op`, in real-time order.

    ``clock`` returns the current monotonic time in ns (default `time.monotonic_ns`); tests may
    pass a fake one. ``invoke``/``complete`` also take an explicit ``time`` for hand-made
    histories; times must not decrease along the history (`ValueError` otherwise).
    """

    def __init__(self, clock: Callable[[], int] | None = None) -> None:
        self._clock: Callable[[], int] = clock if clock is not None else _time.monotonic_ns
        self._lock = threading.Lock()
        self._ops: list[Op] = []
        self._outstanding: dict[int, Op] = {}  # process -> its invoke without completion
        self._retired: set[int] = set()  # processes that ended with "info"
        self._max_process = -1

    # --- recording (thread-safe) ---------------------------------------------------------
    def new_process(self) -> int:
        """A process id never used in this history (for a client thread after an "info")."""
        with self._lock:
            self._max_process += 1
            return self._max_process

    def invoke(
        self, process: int, f: str, key: str, value: Any = None, *, time: int | None = None
    ) -> Op:
        """Record that ``process`` starts ``f`` on ``key``; returns the invoke `Op`.

        Raises `ValueError` if ``f`` is unknown, the process has an outstanding operation or
        was retired by an "info"; `TypeError` if ``value`` is not JSON-like data."""
        if f not in FUNCTIONS:
            raise ValueError(f"unknown function {f!r}; expected one of {sorted(FUNCTIONS)}")
        value = normalize(value)
        with self._lock:
            return self._append_locked(process, "invoke", f, key, value, time)

    def complete(self, op: Op, kind: str, value: Any = None, *, time: int | None = None) -> Op:
        """Record the completion of the invoke ``op`` with ``kind`` "ok", "fail" or "info";
        returns the completion `Op` (same process, f and key as ``op``).

        Raises `ValueError` if ``kind`` is not a completion kind or ``op`` is not the
        outstanding invoke of its process."""
        if kind not in COMPLETION_KINDS:
            raise ValueError(f"completion kind must be ok, fail or info, not {kind!r}")
        value = normalize(value)
        with self._lock:
            if self._outstanding.get(op.process) != op:
                raise ValueError(f"{op} is not the outstanding invoke of process {op.process}")
            return self._append_locked(op.process, kind, op.f, op.key, value, time)

    def _append_locked(
        self, process: int, kind: str, f: str, key: str, value: Any, time: int | None
    ) -> Op:
        now = self._clock() if time is None else time
        op = Op(process, kind, f, key, value, now, len(self._ops))
        self._check_locked(op)
        self._ops.append(op)
        if kind == "invoke":
            self._outstanding[process] = op
            self._max_process = max(self._max_process, process)
        else:
            del self._outstanding[process]
            if kind == "info":
                self._retired.add(process)
        return op

    def _check_locked(self, op: Op) -> None:
        if self._ops and op.time < self._ops[-1].time:
            raise ValueError(f"time goes backwards at {op}: previous {self._ops[-1]}")
        if op.kind == "invoke":
            if op.process in self._retired:
                raise ValueError(f"process {op.process} was retired by an info completion")
            if op.process in self._outstanding:
                raise ValueError(
                    f"process {op.process} already has an outstanding op: "
                    f"{self._outstanding[op.process]}"
                )
            if op.f not in FUNCTIONS:
                raise ValueError(f"unknown function in {op}")
        elif op.kind in COMPLETION_KINDS:
            inv = self._outstanding.get(op.process)
            if inv is None or (inv.f, inv.key) != (op.f, op.key):
                raise ValueError(f"completion {op} matches no outstanding invoke")
        else:
            raise ValueError(f"unknown kind in {op}")

    # --- reading (after the run; each call takes a snapshot) ----------------------------
    @property
    def ops(self) -> tuple[Op, ...]:
        """A snapshot of all events, in history order."""
        with self._lock:
            return tuple(self._ops)

    def __len__(self) -> int:
        return len(self._ops)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def __getitem__(self, index: int) -> Op:
        return self._ops[index]

    def pairs(self) -> list[Pair]:
        """Every operation as (invoke, completion or ``None``), in invoke order."""
        ops = self.ops
        result: list[Pair] = []
        slot: dict[int, int] = {}  # process -> position in result of its open invoke
        for op in ops:
            if op.kind == "invoke":
                slot[op.process] = len(result)
                result.append((op, None))
            else:
                i = slot.pop(op.process)
                result[i] = (result[i][0], op)
        return result

    def by_key(self) -> dict[str, list[Pair]]:
        """`pairs` grouped by key (keys in order of first use, pairs in invoke order)."""
        out: dict[str, list[Pair]] = {}
        for pair in self.pairs():
            out.setdefault(pair[0].key, []).append(pair)
        return out

    # --- JSON lines ------------------------------------------------------------------------
    def dumps(self) -> str:
        """The history as JSON lines: a header, then one object per op."""
        lines = [json.dumps({"format": FORMAT, "version": VERSION})]
        for op in self.ops:
            obj = {
                "index": op.index,
                "process": op.process,
                "kind": op.kind,
                "f": op.f,
                "key": op.key,
                "value": _to_json(op.value),
                "time": op.time,
            }
            lines.append(json.dumps(obj, separators=(",", ":")))
        return "\n".join(lines) + "\n"

    @classmethod
    def loads(cls, text: str) -> History:
        """Parse `dumps` output. Raises `ValueError` if the text breaks any history rule."""
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            raise ValueError("empty history text")
        header = json.loads(lines[0])
        if header != {"format": FORMAT, "version": VERSION}:
            raise ValueError(f"not a {FORMAT} v{VERSION} file: header {header!r}")
        history = cls()
        for n, line in enumerate(lines[1:], start=2):
            obj = json.loads(line)
            try:
                op = Op(
                    process=int(obj["process"]),
                    kind=str(obj["kind"]),
                    f=str(obj["f"]),
                    key=str(obj["key"]),
                    value=normalize(_from_json(obj["value"])),
                    time=int(obj["time"]),
                    index=int(obj["index"]),
                )
            except (KeyError, TypeError) as e:
                raise ValueError(f"line {n}: bad op {line!r}: {e}") from e
            if op.index != len(history):
                raise ValueError(f"line {n}: op index {op.index}, expected {len(history)}")
            try:
                with history._lock:
                    history._append_locked(op.process, op.kind, op.f, op.key, op.value, op.time)
            except ValueError as e:
                raise ValueError(f"line {n}: {e}") from e
        return history

    def save(self, path: str | Path) -> None:
        """Write `dumps` to ``path`` (UTF-8)."""
        Path(path).write_text(self.dumps(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> History:
        """Read a file written by `save`."""
        return cls.loads(Path(path).read_text(encoding="utf-8"))
