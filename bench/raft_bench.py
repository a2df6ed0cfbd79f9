"""Raft throughput: proposals per second through a 3-node in-memory cluster.

The cluster is the simulator's (`tests/raft/sim.py`): the same driver (persist into
`MemoryStorage`, send, apply, advance) and the same network, here without faults and
without invariant checks. The leader takes ``--batch`` ``propose()`` calls per Ready cycle;
the clock stops when every node has applied every proposal.

    .venv/bin/python bench/raft_bench.py [--proposals N] [--batch B] [--size BYTES]
                                         [--inflight W ...] [--repeat R]

Prints the figure; asserts nothing (the target is 200,000 proposals/s).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.raft.sim import Cluster, SimNode, SimOptions  # noqa: E402


def pump(c: Cluster, limit: int = 1_000_000) -> None:
    """Deliver messages (oldest first) until none is in flight."""
    for _ in range(limit):
        m = c.net.pop()
        if m is None:
            return
        c.deliver(m)
    raise RuntimeError("network never went quiet")


def elect(c: Cluster) -> SimNode:
    for _ in range(1000):
        c.ev_tick()
        pump(c)
        lead = c.leader()
        if lead is not None and lead.raw is not None and lead.raw.commit_index > 0:
            return lead
    raise RuntimeError("no leader elected")


def run(
    proposals: int, batch: int, size: int, inflight: int = 256,
    stats: dict[str, float] | None = None,
) -> float:
    """Returns proposals per second; fills ``stats["msgs_per_proposal"]`` (messages sent
    between the nodes, per proposal) when given."""
    c = Cluster(
        SimOptions(
            seed=1, nodes=3, steps=0, drop=0.0, dup=0.0, reorder=0.0, crash_in_ready=0.0,
            checks=False, settle=False, snap_every=(10**12, 10**12),
            max_size_per_msg=1 << 22, max_inflight_msgs=inflight,
        )
    )
    lead = elect(c)
    raw = lead.raw
    assert raw is not None
    pad = b"x" * max(0, size - 8)
    start_index = raw.last_index
    sent0 = c.net.sent
    t0 = time.perf_counter()
    sent = 0
    while sent < proposals:
        k = min(batch, proposals - sent)
        for _ in range(k):
            c.seq += 1
            raw.propose(lead.prefix + b"%d" % c.seq + pad)
        sent += k
        c.drain(lead)
        pump(c)
    target = start_index + proposals
    for _ in range(100):  # the last commit index reaches followers with a heartbeat
        if all(n.applied >= target for n in c.nodes.values()):
            break
        c.ev_tick()
        pump(c)
    else:
        raise RuntimeError("proposals were not applied everywhere")
    elapsed = time.perf_counter() - t0
    if stats is not None:
        stats["msgs_per_proposal"] = (c.net.sent - sent0) / proposals
    return proposals / elapsed


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--proposals", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=2000, help="propose() calls per Ready cycle")
    ap.add_argument("--size", type=int, default=16, help="bytes per proposal")
    ap.add_argument("--inflight", type=int, nargs="+", default=[256, 2],
                    help="max_inflight_msgs values to measure (256 is Config's default)")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    print(f"raft: {a.proposals:,} proposals of {a.size} B through 3 in-memory nodes, "
          f"{a.batch} propose() calls per Ready cycle, best of {a.repeat} (target 200,000/s)")
    for inflight in a.inflight:
        st: dict[str, float] = {}
        rates = [run(a.proposals, a.batch, a.size, inflight, st) for _ in range(a.repeat)]
        print(f"  max_inflight_msgs={inflight:<4} {max(rates):>10,.0f} proposals/s "
              f"(runs: {', '.join(f'{r:,.0f}' for r in rates)}; "
              f"{st['msgs_per_proposal']:.4f} messages per proposal)")


if __name__ == "__main__":
    main()
