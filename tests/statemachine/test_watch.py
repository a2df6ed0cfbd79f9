"""WATCH checked at apply: a MULTI entry with watched keys runs only if none of them was
modified by an entry applied after its ``watch_from`` (gofish.statemachine.machine)."""

from __future__ import annotations

import pytest

from gofish.reply import NullArray
from gofish.statemachine import machine as machine_mod
from gofish.statemachine.entry import FORMAT_VERSION, GROUP_VERSION, Command
from gofish.statemachine.machine import StateMachine
from gofish.statemachine.registry import CommandTable, load_datatypes

T0 = 1_700_000_000_000


def new_machine() -> StateMachine:
    table = CommandTable()
    load_datatypes(table)
    return StateMachine(table, 8)


def write(sm: StateMachine, seq: int, *argv: bytes) -> object:
    return sm.apply(Command(FORMAT_VERSION, 1, seq, T0, 0, [list(argv)], acked=seq))


def exec_(sm: StateMachine, seq: int, watch: list[bytes], since: int) -> object:
    cmd = Command(FORMAT_VERSION, 2, seq, T0, 0, [[b"incr", b"n"], [b"get", b"k"]], True,
                  acked=seq, watch=watch, watch_from=since)
    return sm.apply(cmd)


def test_unmodified_watched_keys_let_the_transaction_run() -> None:
    sm = new_machine()
    write(sm, 1, b"set", b"k", b"v")
    since = sm.entries_applied
    write(sm, 2, b"set", b"other", b"x")
    assert exec_(sm, 1, [b"k"], since) == [1, b"v"]


def test_a_modification_after_watch_aborts_on_every_replica() -> None:
    replicas = [new_machine(), new_machine()]
    for sm in replicas:
        write(sm, 1, b"set", b"k", b"v")
    since = replicas[0].entries_applied
    for sm in replicas:
        write(sm, 2, b"append", b"k", b"w")  # e.g. a write routed through another node
        assert exec_(sm, 1, [b"k"], since) is NullArray
        assert sm.ks.get(b"n") is None  # nothing of the transaction ran


def test_modifications_before_watch_do_not_count() -> None:
    sm = new_machine()
    write(sm, 1, b"set", b"k", b"v")
    write(sm, 2, b"del", b"k")
    since = sm.entries_applied
    assert exec_(sm, 1, [b"k"], since) == [1, None]


def test_a_watch_older_than_the_window_aborts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine_mod, "WATCH_WINDOW", 3)
    sm = new_machine()
    since = sm.entries_applied
    for i in range(1, 9):  # writes to other keys: the window moves past `since`
        write(sm, i, b"set", b"x%d" % i, b"v")
    assert sm.watch_floor > since
    assert exec_(sm, 1, [b"k"], since) is NullArray
    # ...while a recent watch still works, and old modifications were forgotten.
    assert exec_(sm, 2, [b"k"], sm.entries_applied) == [1, None]
    assert len(sm._mods) + len(sm._old_mods) <= 6


def test_entries_that_modify_many_keys_keep_the_window_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pipeline group (or MULTI) changes many keys in one entry: the window also ends a
    generation after WATCH_WINDOW keys, or 1M pipelined SETs would all be remembered."""
    monkeypatch.setattr(machine_mod, "WATCH_WINDOW", 3)
    sm = new_machine()
    for seq in range(1, 21):
        keys = [b"g%d:%d" % (seq, j) for j in range(5)]
        group = Command(GROUP_VERSION, 99, seq, 1_000 + seq, seq,
                        [[b"set", k, b"v"] for k in keys])
        sm.apply(group)
        assert len(sm._mods) + len(sm._old_mods) <= 10  # two generations of one entry each
    since = sm.entries_applied
    write(sm, 1, b"set", b"k", b"v0")
    assert exec_(sm, 2, [b"k"], since) is NullArray  # modified after the watch
    assert exec_(sm, 3, [b"k"], sm.entries_applied) == [1, b"v0"]
    assert exec_(sm, 4, [b"k"], 0) is NullArray  # older than what is remembered
