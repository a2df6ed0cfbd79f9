"""The simulator's invariant checks bite.

First on hand-made histories (each check fires on a violation of its rule and stays quiet on
a legal history), then on the real core: each planted bug (`Config.test_bugs`) must be
caught within a bounded number of seeds, while the bug-free core passes the same seeds.
"""

from __future__ import annotations

import msgspec
import pytest

from gofish.raft import Message, MessageType
from gofish.raft.storage import UnavailableError
from gofish.raft.types import Entry, EntryType, HardState

from .sim import Cluster, SimOptions, nodes_for, run_simulation
from .simcheck import Checker, TermAt, Violation


def E(index: int, term: int, data: bytes = b"", cc: bool = False) -> Entry:
    return Entry(term=term, index=index, type=EntryType.CONF_CHANGE if cc else EntryType.NORMAL,
                 data=data)


def log_of(*terms: int, snap: int = 0) -> TermAt:
    """term_at over a log whose entry i (1-based) has terms[i-1]; <= snap is compacted."""

    def term_at(i: int) -> int | None:
        if i <= snap and i != snap:
            return None
        if i > len(terms):
            raise UnavailableError(i)
        return terms[i - 1] if i > 0 else 0

    return term_at


def violates(invariant: str) -> pytest.RaisesExc[Violation]:
    return pytest.raises(Violation, match=f"^{invariant} violated")


# --- election safety -------------------------------------------------------------------------


def test_one_leader_per_term() -> None:
    c = Checker(lambda: "replay: X")
    c.leader(1, 5)
    c.leader(1, 5)
    c.leader(2, 6)
    with violates("election safety") as exc:
        c.leader(3, 5)
    assert "replay: X" in str(exc.value)
    assert exc.value.invariant == "election safety"


def test_votes_and_terms_are_durable() -> None:
    c = Checker()
    c.hard_state(1, 2, 0)
    c.hard_state(1, 2, 3)
    c.hard_state(1, 2, 3)
    c.hard_state(1, 3, 0)
    with violates("durable term"):
        c.hard_state(1, 2, 3)
    c.hard_state(2, 4, 1)
    with violates("election safety"):
        c.hard_state(2, 4, 3)


def test_leader_commits_only_its_own_term() -> None:
    c = Checker()
    c.leader_commit(1, 3, 10, 3)
    with violates("leader commit rule"):
        c.leader_commit(1, 3, 11, 2)


def test_acks_promise_only_what_is_on_disk() -> None:
    cluster = Cluster(SimOptions(seed=1, nodes=3, steps=0, settle=False))
    n = cluster.nodes[2]
    st = n.storage
    last = st.last_index()
    ok = Message(MessageType.APPEND_RESP, to=1, from_=2, term=1, index=last)
    cluster._check_durable_ack(n, ok)
    with violates("durable ack"):
        cluster._check_durable_ack(n, msgspec.structs.replace(ok, index=last + 1))
    cluster._check_durable_ack(n, msgspec.structs.replace(ok, index=last + 1, reject=True))
    vote = Message(MessageType.VOTE_RESP, to=3, from_=2, term=st.hard_state.term + 1)
    with violates("durable ack"):
        cluster._check_durable_ack(n, vote)
    st.set_hard_state(HardState(term=vote.term, vote=3))
    cluster._check_durable_ack(n, vote)


# --- log matching ---------------------------------------------------------------------------


def test_log_matching_same_index_term_same_entry() -> None:
    c = Checker()
    c.persisted(1, [E(1, 1, b"a"), E(2, 1, b"b")], 0)
    c.persisted(2, [E(1, 1, b"a")], 0)
    c.persisted(2, [E(2, 1, b"b"), E(3, 2, b"c")], 1)
    with violates("log matching"):
        c.persisted(3, [E(1, 1, b"a"), E(2, 1, b"x")], 0)


def test_log_matching_same_entry_needs_same_predecessor() -> None:
    c = Checker()
    c.persisted(1, [E(3, 2, b"c")], 1)
    c.persisted(2, [E(3, 2, b"c")], None)  # after a snapshot: predecessor unknown
    with violates("log matching"):
        c.persisted(3, [E(3, 2, b"c")], 2)


def test_log_matching_entries_are_consecutive_and_terms_grow() -> None:
    c = Checker()
    with violates("log matching"):
        c.persisted(1, [E(1, 1), E(3, 1)], 0)
    with violates("log matching"):
        c.persisted(1, [E(1, 2), E(2, 1)], 0)
    with violates("log matching"):
        c.persisted(1, [E(4, 1)], 2)


# --- commitment -----------------------------------------------------------------------------


def test_committed_index_has_one_term() -> None:
    c = Checker()
    c.committed(1, 2, log_of(1, 1, 2))
    c.committed(2, 1, log_of(1, 3))
    c.committed(2, 2, log_of(1, 1))
    with violates("committed entry lost"):
        c.committed(3, 2, log_of(1, 2))


def test_commit_never_decreases_nor_passes_the_log() -> None:
    c = Checker()
    c.committed(1, 3, log_of(1, 1, 1))
    with violates("commit monotonic"):
        c.committed(1, 2, log_of(1, 1, 1))
    with violates("commit within log"):
        c.committed(2, 4, log_of(1, 1, 1))


def test_commit_below_snapshot_is_skipped() -> None:
    c = Checker()
    c.committed(1, 5, log_of(1, 1, 1, 2, 2, snap=4))
    assert c.committed_term == {4: 2, 5: 2}
    assert c.commit_max == 5


def test_new_leader_must_hold_the_highest_committed_entry() -> None:
    c = Checker()
    c.committed(1, 3, log_of(1, 1, 2))
    c.leader_complete(2, 3, log_of(1, 1, 2, 3), 0)
    c.leader_complete(2, 3, log_of(1, 1, 2, 3, snap=3), 3)
    c.leader_complete(2, 3, log_of(1, 1, 2, 2, snap=4), 4)
    with violates("leader completeness"):
        c.leader_complete(3, 3, log_of(1, 1, 1, 3), 0)
    with violates("leader completeness"):
        c.leader_complete(3, 3, log_of(1, 1), 0)


# --- state machines -------------------------------------------------------------------------


def test_state_machine_safety() -> None:
    c = Checker()
    c.applied(1, 0, E(1, 1), 0)
    c.applied(1, 1, E(2, 1, b"1.1"), 1)
    c.applied(1, 2, E(3, 1, b"x", cc=True), 1)
    c.applied(2, 0, E(1, 1), 0)
    c.applied(2, 1, E(2, 1, b"1.1"), 1)
    assert c.writes == [b"1.1"] and c.writes_at == {0: 0, 1: 0, 2: 1, 3: 1}
    with violates("state machine safety"):
        c.applied(2, 2, E(3, 2, b"x", cc=True), 1)  # another term at index 3


def test_apply_in_order_once_with_the_right_state() -> None:
    c = Checker()
    c.applied(1, 0, E(1, 1, b"a"), 1)
    with violates("apply order"):
        c.applied(1, 1, E(3, 1, b"b"), 2)
    with violates("state machine safety"):
        c.applied(2, 0, E(1, 1, b"a"), 0)  # its state lost the write
    with violates("state machine safety"):
        c.applied(1, 1, E(2, 1, b"a"), 2)  # the same write applied twice
    c2 = Checker()
    with violates("state machine safety"):
        c2.applied(1, 4, E(5, 1, b"a"), 1)  # first ever applied index must be next


def test_snapshot_state_must_equal_the_applied_prefix() -> None:
    c = Checker()
    c.committed(1, 2, log_of(1, 1))
    c.applied(1, 0, E(1, 1, b"a"), 1)
    c.applied(1, 1, E(2, 1, b"b"), 2)
    c.snapshot(2, 1, 1, [b"a"])
    c.snapshot(2, 2, 1, [b"a", b"b"])
    with violates("snapshot"):
        c.snapshot(2, 2, 1, [b"b", b"a"])
    with violates("snapshot"):
        c.snapshot(2, 2, 2, [b"a", b"b"])
    with violates("snapshot"):
        c.snapshot(2, 3, 1, [b"a", b"b"])


# --- linearizable reads ------------------------------------------------------------------------


def test_read_must_see_acknowledged_writes() -> None:
    c = Checker()
    c.read_issued(b"r0")  # issued before any ack: may see nothing
    c.write_acked(2)
    c.read_issued(b"r1")
    c.read_served(1, b"r0", 0)
    c.read_served(1, b"r1", 3)  # seeing a concurrent later write is fine
    c.read_served(1, b"r1", 3)  # a duplicated answer is served again, still fine
    c.read_issued(b"r2")
    with violates("linearizable read"):
        c.read_served(2, b"r2", 2)  # r1 (completed before r2 began) saw 3
    c.read_issued(b"r3")
    with violates("linearizable read"):
        c.read_served(3, b"r9", 5)  # never issued


def test_read_stale_after_ack() -> None:
    c = Checker()
    c.write_acked(4)
    c.write_acked(3)  # acks arrive out of order; the floor stays at 4
    c.read_issued(b"r")
    with violates("linearizable read"):
        c.read_served(1, b"r", 3)


# --- planted bugs in the real core ------------------------------------------------------------

#: Which invariants may catch each planted bug (the first violation found must be one).
CATCHES = {
    "vote-ignores-log": {"leader completeness", "committed entry lost", "log matching",
                         "state machine safety", "snapshot", "linearizable read"},
    "commit-any-term": {"leader commit rule", "committed entry lost", "leader completeness",
                        "state machine safety", "snapshot", "linearizable read"},
    "stale-read-index": {"linearizable read"},
}
MAX_SEEDS = 40


@pytest.mark.parametrize("bug", sorted(CATCHES))
def test_planted_bug_is_caught_and_bug_free_core_passes(bug: str) -> None:
    """Seeds 0, 1, ... with ``bug`` planted until an expected invariant fires (at most
    MAX_SEEDS seeds); then the bug-free core must pass every seed that was tried."""
    tried: list[tuple[int, int]] = []
    caught: Violation | None = None
    for seed in range(MAX_SEEDS):
        nodes = nodes_for(seed)
        tried.append((seed, nodes))
        try:
            run_simulation(SimOptions(seed=seed, nodes=nodes, bugs=frozenset({bug})))
        except Violation as v:
            if v.invariant in CATCHES[bug]:
                caught = v
                break
    assert caught is not None, f"{bug} went unnoticed over {MAX_SEEDS} seeds"
    for seed, nodes in tried:
        run_simulation(SimOptions(seed=seed, nodes=nodes))  # raises Violation if unsafe
