"""The simulator's parts that need no Raft core: the faulty network and the invariant checker.

Both are fed by `tests.raft.sim`'s driver; both are deterministic given their inputs (the
network draws from the `random.Random` it is handed).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import msgspec

from gofish.log.memory import MemoryStorage
from gofish.raft.storage import CompactedError, UnavailableError
from gofish.raft.types import Entry, EntryType

_SM_ENCODER = msgspec.msgpack.Encoder()
_SM_DECODER = msgspec.msgpack.Decoder(list[bytes])


def encode_sm(writes: list[bytes]) -> bytes:
    """The snapshot image of a state machine (its write tokens, in apply order)."""
    return _SM_ENCODER.encode(writes)


def decode_sm(data: bytes) -> list[bytes]:
    return _SM_DECODER.decode(data)


def replay_command(
    seed: int, nodes: int, steps: int, bugs: frozenset[str] = frozenset()
) -> str:
    """The shell command that reruns exactly one simulation."""
    cmd = f".venv/bin/pytest tests/raft/test_sim.py --seed {seed} --nodes {nodes} --steps {steps}"
    if bugs:
        cmd += " --bugs " + ",".join(sorted(bugs))
    return cmd


class Violation(AssertionError):
    """An invariant does not hold. ``invariant`` is its short name."""

    def __init__(self, invariant: str, detail: str, where: str = "") -> None:
        super().__init__(f"{invariant} violated: {detail}" + (f"\n{where}" if where else ""))
        self.invariant = invariant
        self.detail = detail


# --- network --------------------------------------------------------------------------------


class Routable(Protocol):
    @property
    def to(self) -> int: ...

    @property
    def from_(self) -> int: ...


M = TypeVar("M", bound=Routable)


class Network(Generic[M]):
    """Messages in flight between nodes.

    ``send`` may drop (probability ``drop``) or duplicate (``dup``; the copy lands at a random
    place in the queue) a message, and drops it when its link is cut. ``pop`` takes the oldest
    message, or with probability ``reorder`` a random one (so messages are delayed and
    reordered without bound); a message whose link was cut while in flight is dropped then.
    Dropped messages are passed to ``on_drop``. At most ``limit`` messages are in flight: past
    that the oldest is dropped (a full socket buffer).
    """

    def __init__(
        self,
        rng: random.Random,
        *,
        drop: float = 0.0,
        dup: float = 0.0,
        reorder: float = 0.0,
        limit: int = 4096,
        on_drop: Callable[[M], None] | None = None,
    ) -> None:
        self.rng = rng
        self.drop = drop
        self.dup = dup
        self.reorder = reorder
        self.limit = limit
        self.on_drop = on_drop
        self.flight: list[M] = []
        #: Cut directed links (from, to).
        self.cut: set[tuple[int, int]] = set()
        self.sent = 0
        self.dropped = 0
        self.duplicated = 0

    def linked(self, a: int, b: int) -> bool:
        return (a, b) not in self.cut

    def _lose(self, msg: M) -> None:
        self.dropped += 1
        if self.on_drop is not None:
            self.on_drop(msg)

    def send(self, msg: M) -> None:
        self.sent += 1
        rng = self.rng
        if (self.cut and (msg.from_, msg.to) in self.cut) or (
            self.drop and rng.random() < self.drop
        ):
            self._lose(msg)
            return
        flight = self.flight
        flight.append(msg)
        if self.dup and rng.random() < self.dup:
            self.duplicated += 1
            flight.insert(rng.randrange(len(flight) + 1), msg)
        if len(flight) > self.limit:
            self._lose(flight.pop(0))

    def pop(self) -> M | None:
        """The next message to deliver, or None (nothing in flight, or it was dropped)."""
        flight = self.flight
        if not flight:
            return None
        if self.reorder and self.rng.random() < self.reorder:
            msg = flight.pop(self.rng.randrange(len(flight)))
        else:
            msg = flight.pop(0)
        if self.cut and (msg.from_, msg.to) in self.cut:
            self._lose(msg)
            return None
        return msg

    def drop_random(self) -> None:
        if self.flight:
            self._lose(self.flight.pop(self.rng.randrange(len(self.flight))))

    def partition(self, *groups: set[int] | frozenset[int]) -> None:
        """Cut every link between different groups (nodes in no group keep their links)."""
        for i, ga in enumerate(groups):
            for gb in groups[i + 1 :]:
                for a in ga:
                    for b in gb:
                        self.cut.add((a, b))
                        self.cut.add((b, a))

    def cut_one_way(self, a: int, b: int) -> None:
        self.cut.add((a, b))

    def heal(self) -> None:
        self.cut.clear()


# --- invariant checker ------------------------------------------------------------------------

TermAt = Callable[[int], int | None]
"""Term of a node's log entry at an index; None when compacted (below its snapshot)."""


class Checker:
    """Raft's safety properties, checked incrementally as the driver reports what it does.

    - election safety: at most one leader per term (`leader`);
    - log matching: an (index, term) pair names one entry, and the same preceding term, in
      every log that ever persisted it (`persisted`) — by induction, identical prefixes;
    - committed entries are never lost or changed: a node's commit index covers one term per
      index across all nodes (`committed`); a new leader's log holds the highest committed
      entry, or a snapshot covering it (`leader_complete`); a leader moves its commit index
      only onto an entry of its own term (`leader_commit`);
    - state machine safety: every node applies the same entry at an index, in index order,
      each write once (`applied`); a snapshot's state equals the applied prefix (`snapshot`);
    - linearizable reads: a read sees every write acknowledged (applied at its proposer)
      and everything an earlier completed read saw, before it was issued (`read_issued`,
      `read_served`).
    """

    def __init__(self, where: Callable[[], str] = lambda: "") -> None:
        self.where = where
        self.leader_of_term: dict[int, int] = {}
        self.node_vote: dict[int, tuple[int, int]] = {}
        self.log: dict[tuple[int, int], tuple[int, bytes, int | None]] = {}
        self.committed_term: dict[int, int] = {}
        self.commit_max = 0
        self.node_commit: dict[int, int] = {}
        self.applied_at: dict[int, tuple[int, int, bytes]] = {}
        self.applied_max = 0
        #: The global write order: tokens of applied NORMAL entries, in index order.
        self.writes: list[bytes] = []
        #: Number of writes in the state after applying index i (for snapshot checks).
        self.writes_at: dict[int, int] = {0: 0}
        self.write_index: dict[bytes, int] = {}
        self.acked = 0
        self.read_floor: dict[bytes, int] = {}
        self.read_seen = 0
        self.reads_served = 0

    def fail(self, invariant: str, detail: str) -> None:
        raise Violation(invariant, detail, self.where())

    # --- elections -------------------------------------------------------------------------
    def leader(self, node: int, term: int) -> None:
        other = self.leader_of_term.setdefault(term, node)
        if other != node:
            self.fail("election safety", f"term {term} has leaders {other} and {node}")

    def hard_state(self, node: int, term: int, vote: int) -> None:
        """``node`` persisted ``(term, vote)``: terms never go back, and a vote once cast
        (and persisted) in a term never changes, across crashes too."""
        old = self.node_vote.get(node, (0, 0))
        if term < old[0]:
            self.fail("durable term", f"node {node} term went {old[0]} -> {term}")
        if term == old[0] and old[1] and vote != old[1]:
            self.fail("election safety",
                      f"node {node} voted for {old[1]} and then {vote} in term {term}")
        self.node_vote[node] = (term, vote)

    def leader_complete(self, node: int, term: int, term_at: TermAt, snap_index: int) -> None:
        """``node`` just became leader of ``term``; its log is ``term_at``."""
        i = self.commit_max
        if i == 0:
            return
        if i <= snap_index:
            i = snap_index  # its snapshot covers i; the snapshot's own entry must be right
            want = self.committed_term.get(i)
            if want is None:
                return
        else:
            want = self.committed_term.get(i)
            if want is None:
                return
        try:
            have = term_at(i)
        except UnavailableError:
            have = -1
        if have is not None and have != want:
            self.fail(
                "leader completeness",
                f"node {node} leads term {term} but its log has term {have} at committed "
                f"index {i} (committed term {want})",
            )

    # --- logs --------------------------------------------------------------------------------
    def persisted(self, node: int, entries: list[Entry], prev_term: int | None) -> None:
        """``node`` wrote ``entries`` (consecutive) after an entry of term ``prev_term``."""
        log = self.log
        prev_index = entries[0].index - 1
        for e in entries:
            if e.index != prev_index + 1 or (prev_term is not None and e.term < prev_term):
                self.fail(
                    "log matching",
                    f"node {node} persisted index {e.index} term {e.term} after "
                    f"index {prev_index} term {prev_term}",
                )
            key = (e.index, e.term)
            seen = log.get(key)
            if seen is None:
                log[key] = (e.type, e.data, prev_term)
            elif seen[0] != e.type or seen[1] != e.data or (
                prev_term is not None and seen[2] is not None and seen[2] != prev_term
            ):
                self.fail(
                    "log matching",
                    f"node {node} has index {e.index} term {e.term} = "
                    f"{(e.type, e.data, prev_term)!r}; another log had {seen!r} "
                    f"(type, data, previous term)",
                )
            elif seen[2] is None and prev_term is not None:
                log[key] = (e.type, e.data, prev_term)
            prev_term, prev_index = e.term, e.index

    def committed(self, node: int, commit: int, term_at: TermAt) -> None:
        """``node`` persisted commit index ``commit`` over its log ``term_at``."""
        old = self.node_commit.get(node, 0)
        if commit < old:
            self.fail("commit monotonic", f"node {node} commit went {old} -> {commit}")
        if commit == old:
            return
        self.node_commit[node] = commit
        ct = self.committed_term
        for i in range(old + 1, commit + 1):
            try:
                t = term_at(i)
            except UnavailableError:
                self.fail("commit within log", f"node {node} commits {commit} beyond its log")
                return
            if t is None:
                continue
            have = ct.setdefault(i, t)
            if have != t:
                self.fail(
                    "committed entry lost",
                    f"index {i} was committed with term {have}; node {node} commits term {t}",
                )
        if commit > self.commit_max:
            self.commit_max = commit

    def leader_commit(self, node: int, term: int, commit: int, commit_term: int) -> None:
        """Leader ``node`` of ``term`` advanced its commit index to ``commit``, an entry of
        ``commit_term``. Raft §5.4.2: a leader commits by counting replicas only entries of
        its own term (earlier ones follow implicitly)."""
        if commit_term != term:
            self.fail(
                "leader commit rule",
                f"leader {node} of term {term} committed index {commit} of term {commit_term}",
            )

    # --- state machines ------------------------------------------------------------------------
    def applied(self, node: int, prev_applied: int, e: Entry, sm_len: int) -> None:
        """``node`` applied entry ``e`` after index ``prev_applied``; its state now holds
        ``sm_len`` writes."""
        i = e.index
        if i != prev_applied + 1:
            self.fail("apply order", f"node {node} applied index {i} after {prev_applied}")
        mine = (e.term, int(e.type), e.data)
        seen = self.applied_at.get(i)
        if seen is None:
            if i != self.applied_max + 1:
                self.fail("state machine safety", f"node {node} applied {i} first, "
                          f"but the highest index applied anywhere is {self.applied_max}")
            self.applied_at[i] = mine
            self.applied_max = i
            if e.type == EntryType.NORMAL and e.data:
                first = self.write_index.setdefault(e.data, i)
                if first != i:
                    self.fail("state machine safety",
                              f"write {e.data!r} applied at index {first} and again at {i}")
                self.writes.append(e.data)
            self.writes_at[i] = len(self.writes)
        elif seen != mine:
            self.fail(
                "state machine safety",
                f"node {node} applied {mine!r} at index {i}; another node applied {seen!r}",
            )
        if sm_len != self.writes_at[i]:
            self.fail("state machine safety",
                      f"node {node} holds {sm_len} writes after index {i}, "
                      f"expected {self.writes_at[i]}")

    def snapshot(self, node: int, index: int, term: int, writes: list[bytes]) -> None:
        """``node``'s state machine was set from a snapshot as of ``(index, term)``."""
        n = self.writes_at.get(index)
        if n is None:
            self.fail("snapshot", f"node {node} holds a snapshot at {index}, never applied")
            return
        if self.committed_term.get(index, term) != term:
            self.fail("snapshot", f"node {node} snapshot at {index} has term {term}, "
                      f"committed term is {self.committed_term[index]}")
        if len(writes) != n or writes != self.writes[:n]:
            self.fail("snapshot", f"node {node} snapshot at {index} holds {len(writes)} "
                      f"writes that differ from the {n} applied ones")

    # --- clients ---------------------------------------------------------------------------
    def write_acked(self, sm_len: int) -> None:
        """The proposer applied its write, the ``sm_len``-th of the global order."""
        if sm_len > self.acked:
            self.acked = sm_len

    def read_issued(self, ctx: bytes) -> None:
        self.read_floor[ctx] = max(self.acked, self.read_seen)

    def read_served(self, node: int, ctx: bytes, sm_len: int) -> None:
        floor = self.read_floor.get(ctx)
        if floor is None:
            self.fail("linearizable read", f"node {node} served unknown or finished read {ctx!r}")
            return
        if sm_len < floor:
            self.fail(
                "linearizable read",
                f"read {ctx!r} on node {node} saw {sm_len} writes, but {floor} were "
                f"acknowledged or seen before it was issued",
            )
        self.reads_served += 1
        if sm_len > self.read_seen:
            self.read_seen = sm_len


def term_of(storage: MemoryStorage) -> TermAt:
    def term_at(i: int) -> int | None:
        try:
            return storage.term(i)
        except CompactedError:
            return None

    return term_at
