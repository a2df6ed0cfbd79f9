"""``tally``: a third-party gofish data type, as an outside package would write one.

TALLY.ADD key item [n]  -> the item's new count (a write)
TALLY.GET key item      -> the item's count, 0 if absent (a read)
TALLY.TOP key           -> [item, count] of the largest count, ties broken by item (a read)
"""

from __future__ import annotations

from typing import Any

from gofish import errors
from gofish.errors import CommandError
from gofish.statemachine.args import parse_int
from gofish.statemachine.keyspace import Keyspace
from gofish.statemachine.registry import CommandTable, TypeSpec, command


class Tally:
    __slots__ = ("counts",)

    def __init__(self, counts: dict[bytes, int] | None = None) -> None:
        self.counts: dict[bytes, int] = counts or {}


def _check_add(argv: list[bytes]) -> None:
    if len(argv) > 4:
        raise CommandError(errors.SYNTAX)
    if len(argv) == 4:
        parse_int(argv[3])


@command("tally.add", -3, "write denyoom fast", (1, 1, 1), check=_check_add, group="tally",
         summary="Add n (default 1) to an item's count")
def tally_add(ks: Keyspace, argv: list[bytes]) -> Any:
    _check_add(argv)
    n = parse_int(argv[3]) if len(argv) == 4 else 1
    t = ks.get_typed(argv[1], Tally)
    if t is None:
        t = Tally()
        ks.set(argv[1], t)
    else:
        ks.modified(argv[1])
    t.counts[argv[2]] = t.counts.get(argv[2], 0) + n
    return t.counts[argv[2]]


@command("tally.get", 3, "readonly fast", (1, 1, 1), group="tally", summary="An item's count")
def tally_get(ks: Keyspace, argv: list[bytes]) -> Any:
    t = ks.get_typed(argv[1], Tally)
    return 0 if t is None else t.counts.get(argv[2], 0)


@command("tally.top", 2, "readonly", (1, 1, 1), group="tally", summary="The largest count")
def tally_top(ks: Keyspace, argv: list[bytes]) -> Any:
    t = ks.get_typed(argv[1], Tally)
    if t is None or not t.counts:
        return None
    item, n = min(t.counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [item, n]


def register(table: CommandTable) -> None:
    table.add_type(TypeSpec(
        name="tally", pytype=Tally, encoding=lambda v: "hashtable",
        copy=lambda v: Tally(dict(v.counts)),
        dump=lambda v: [[k, n] for k, n in v.counts.items()],
        load=lambda x: Tally({bytes(k): int(n) for k, n in x}),
    ))
    table.add(tally_add, tally_get, tally_top)
