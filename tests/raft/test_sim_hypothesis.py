"""Hypothesis drives the simulator: a stateful test whose rules are the simulator's events,
with the same invariant checks after every rule, so a failure shrinks to a short history."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from gofish.raft import StateRole

from .sim import Cluster, SimNode, SimOptions

node_index = st.integers(min_value=0, max_value=5)
position = st.integers(min_value=0, max_value=10_000)


class RaftSimulation(RuleBasedStateMachine):
    cluster: Cluster
    #: Planted `Config.test_bugs` (a subclass sets them to check that the machine finds them).
    bugs: frozenset[str] = frozenset()

    @initialize(nodes=st.sampled_from([3, 5]), seed=st.integers(0, 2**16))
    def boot(self, nodes: int, seed: int) -> None:
        """A cluster that has elected a leader. The network faults come from the rules; the
        cluster's own generator only picks configuration (message size, inflight window,
        pre-vote/check-quorum), snapshot points and compaction depths. No leader lease:
        the rules skew clocks without bound, which a lease by design does not survive."""
        self.cluster = Cluster(SimOptions(seed=seed, nodes=nodes, drop=0.0, dup=0.0,
                                          reorder=0.0, crash_in_ready=0.0, settle=False,
                                          isolate_new_leader=0.0, lease=False,
                                          bugs=self.bugs))
        for _ in range(100):
            if self.cluster.leader() is not None:
                break
            self.tick_all_and_deliver(1)

    def node(self, i: int) -> SimNode:
        nodes = list(self.cluster.nodes.values())
        return nodes[i % len(nodes)]

    @rule(i=node_index)
    def tick(self, i: int) -> None:
        self.cluster.tick(self.node(i))

    @rule(times=st.integers(1, 12))
    def tick_all_and_deliver(self, times: int) -> None:
        """Time passes on a quiet network: every node ticks, every message is delivered."""
        for _ in range(times):
            self.cluster.ev_tick()
            self._deliver_all()

    @rule(times=st.integers(1, 25))
    def time_passes_but_leader_stalls(self, times: int) -> None:
        """Every node but the leader ticks (a paused leader: GC, a stalled disk)."""
        c = self.cluster
        lead = c.leader()
        for _ in range(times):
            for n in c.nodes.values():
                if n is not lead:
                    c.tick(n)
            self._deliver_all()

    def _deliver_all(self) -> None:
        c = self.cluster
        for _ in range(500):
            m = c.net.pop()
            if m is None:
                break
            c.deliver(m)
        c._flush_reports()

    @rule(i=node_index)
    def campaign(self, i: int) -> None:
        self.cluster.campaign(self.node(i))

    @rule(k=position)
    def deliver(self, k: int) -> None:
        """Deliver the k-th message in flight (any order: delays and reordering)."""
        flight = self.cluster.net.flight
        if flight:
            self.cluster.deliver(flight.pop(k % len(flight)))
            self.cluster._flush_reports()

    @rule(k=position)
    def drop(self, k: int) -> None:
        flight = self.cluster.net.flight
        if flight:
            self.cluster._dropped(flight.pop(k % len(flight)))

    @rule(k=position)
    def duplicate(self, k: int) -> None:
        flight = self.cluster.net.flight
        if flight:
            flight.append(flight[k % len(flight)])

    @rule(group=st.sets(node_index, min_size=1, max_size=3))
    def partition(self, group: set[int]) -> None:
        side = {self.node(i).id for i in group}
        self.cluster.net.partition(side, set(self.cluster.nodes) - side)

    @rule()
    def heal(self) -> None:
        self.cluster.net.heal()

    @rule(i=node_index)
    def crash(self, i: int) -> None:
        self.cluster.crash(self.node(i))

    @rule(i=node_index)
    def restart(self, i: int) -> None:
        self.cluster.restart(self.node(i))

    @rule(i=node_index, count=st.integers(1, 4))
    def propose(self, i: int, count: int) -> None:
        self.cluster.propose(self.node(i), count)

    @rule(count=st.integers(1, 4))
    def propose_at_leader(self, count: int) -> None:
        lead = self.cluster.leader()
        if lead is not None:
            self.cluster.propose(lead, count)

    @rule(k=position)
    def read_at_a_leader(self, k: int) -> None:
        """A read at a node that believes it leads; with two leaders (a deposed one that has
        not noticed yet) either may be picked: the classic stale-read hazard."""
        leaders = [n for n in self.cluster.live() if n.raw is not None
                   and n.raw.role == StateRole.LEADER]
        if leaders:
            self.cluster.read(leaders[k % len(leaders)])

    @rule()
    def isolate_leader(self) -> None:
        self.cluster.ev_isolate()

    @rule(i=node_index)
    def read(self, i: int) -> None:
        self.cluster.read(self.node(i))

    @rule(i=node_index, to=node_index)
    def transfer(self, i: int, to: int) -> None:
        self.cluster.transfer(self.node(i), self.node(to).id)

    @rule()
    def conf_change(self) -> None:
        self.cluster.ev_conf_change()

    @invariant()
    def safe(self) -> None:
        if hasattr(self, "cluster"):
            self.cluster.check_step()


RaftSimulation.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRaftSimulation = RaftSimulation.TestCase
