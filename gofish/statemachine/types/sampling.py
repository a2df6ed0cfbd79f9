"""Random picks for HRANDFIELD, SRANDMEMBER and SPOP, and their count argument.

Every choice comes from ``ks.random_below`` (at apply: seeded from the log entry), so the same
sequence, state and entry give the same picks on every node. Nothing here iterates a Python
``set``.
"""

from __future__ import annotations

from typing import TypeVar

from gofish import errors
from gofish.errors import CommandError
from gofish.statemachine.args import INT64_MAX, to_int
from gofish.statemachine.keyspace import Keyspace

T = TypeVar("T")

# Redis 7.0 error lines not (yet) in gofish.errors.


def parse_rand_count(arg: bytes) -> int:
    """The count of HRANDFIELD/SRANDMEMBER: an int64 in ``[-INT64_MAX, INT64_MAX]``.

    Raises ``ERR value is not an integer or out of range`` for a non-integer and Redis's
    "value must between" error for ``-2**63`` (whose absolute value is not a long).
    """
    v = to_int(arg)
    if v is None:
        raise CommandError(errors.NOT_INTEGER)
    if v < -INT64_MAX:
        raise CommandError(errors.COUNT_RANGE)
    return v


def sample_unique(ks: Keyspace, items: list[T], k: int) -> list[T]:
    """``k`` (< len(items)) distinct entries of ``items`` in random order, O(k).

    A sparse Fisher-Yates shuffle: only the positions it touches are remembered.
    """
    n = len(items)
    swapped: dict[int, int] = {}
    out: list[T] = []
    rand = ks.random_below
    for i in range(k):
        j = i + rand(n - i)
        picked = swapped.get(j, j)
        swapped[j] = swapped.get(i, i)
        out.append(items[picked])
    return out


def sample_repeat(ks: Keyspace, items: list[T], k: int) -> list[T]:
    """``k`` entries of ``items`` drawn independently (repeats allowed)."""
    n = len(items)
    rand = ks.random_below
    return [items[rand(n)] for _ in range(k)]
