"""Options of the Raft simulator suite (tests/raft/test_sim.py).

``--seeds N`` (or env ``GOFISH_SIM_SEEDS``) runs seeds F..F+N-1, where F is ``--first-seed``
(or env ``GOFISH_SIM_FIRST_SEED``, default 0); ``--seed S`` runs exactly one seed;
``--steps`` and ``--nodes`` override the per-seed defaults; ``--bugs a,b`` plants
`gofish.raft.Config.test_bugs` (used by replay commands of the bite tests).
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("raft-sim", "gofish Raft simulator")
    group.addoption("--seeds", type=int, default=None,
                    help="number of simulator seeds (default 500, or $GOFISH_SIM_SEEDS)")
    group.addoption("--first-seed", type=int, default=None,
                    help="first of the --seeds seeds (default 0, or $GOFISH_SIM_FIRST_SEED)")
    group.addoption("--seed", type=int, default=None, help="run exactly this simulator seed")
    group.addoption("--steps", type=int, default=None, help="simulator steps per seed")
    group.addoption("--nodes", type=int, default=None, choices=(3, 5),
                    help="cluster size (default: mixed 3 and 5)")
    group.addoption("--bugs", default="", help="comma-separated Config.test_bugs to plant")
