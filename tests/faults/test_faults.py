"""Fault-injection runs in the default suite: short runs (10–12 s of load each) of real
clusters under one family of faults, checked for linearizability (`faults.runner.run`).

Each test is one run: concurrent clients (registers with CAS, counters, lists) against random
nodes, a nemesis, then a final read of every key and the checker. A run must be valid: no
anomaly, no acknowledged write lost, no failed write visible later, no reply of the wrong shape.
Some tests are named after the bug classes Jepsen found in Redis-Raft (2020): stale reads after
a failover or pause, empty reads after a restart, committed writes reported as failed, replies
crossed between clients by forwarding, lost updates during membership changes, log mismatch on
restart after a kill under load. The last test plants a bug in the servers
(``GOFISH_TEST_BUGS=local-reads``) and checks that the suite reports it.

A failing run prints its report and where its history, nemesis log and node logs were saved,
with the command that re-checks the history.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from .clients import Workload
from .history import History
from .nemesis import NemesisContext, Transfer, heal_all, random_schedule, restart
from .runner import RunReport, explicit_checks, run

pytestmark = pytest.mark.timeout(150)

DURATION = 10.0


def assert_valid(report: RunReport) -> None:
    assert report.valid, str(report)
    assert report.counts.get("ok", 0) > 200, f"too little load:\n{report}"


def ok_reads_after(history: History | None, t_ns: int) -> int:
    """Ok reads invoked after ``t_ns`` that saw a value (not an absent key / empty list)."""
    assert history is not None
    return sum(
        1 for inv, comp in history.pairs()
        if inv.time > t_ns and comp is not None and comp.kind == "ok"
        and inv.f in ("read", "read-list") and comp.value not in (None, ())
    )


# --- nemesis families -----------------------------------------------------------------------
def test_kill_leader_and_restart_under_load() -> None:
    """kill -9 of the leader or a random node, restarted after 0.2–1.5 s (stale reads after
    failover; log mismatch on restart after a kill under load)."""
    report = run(11, DURATION + 2, 3, Workload(),
                 script=random_schedule(["kill-leader", "kill"], quiet=(0.5, 1.0),
                                        hold=(0.2, 1.5)), name="kill")
    assert_valid(report)
    assert report.nemesis_log.count("SIGKILL") >= 2, report.nemesis_log
    assert "restarted" in report.nemesis_log


def test_pause_leader_no_stale_reads() -> None:
    """SIGSTOP/SIGCONT of the leader (or any node); half the clients read with ``lease``."""
    report = run(12, DURATION, 3, Workload(consistency="mixed"),
                 script=random_schedule(["pause-leader", "pause"], hold=(1.0, 2.5)),
                 name="pause")
    assert_valid(report)
    assert "SIGSTOP" in report.nemesis_log


def test_isolated_leader_and_minority_partitions() -> None:
    report = run(13, DURATION, 3, Workload(),
                 script=random_schedule(["partition-leader", "partition-halves"],
                                        hold=(1.5, 3.0)), name="partition")
    assert_valid(report)
    assert "cut" in report.nemesis_log


def test_bridge_partition_five_nodes() -> None:
    """Five nodes: two pairs that cannot talk to each other, one node that talks to both."""
    report = run(14, DURATION, 5, Workload(),
                 script=random_schedule(["bridge"], hold=(2.0, 3.0)), name="bridge")
    assert_valid(report)
    assert "sees both sides" in report.nemesis_log


def test_leader_transfer_under_load() -> None:
    report = run(15, DURATION, 3, Workload(),
                 script=random_schedule(["transfer"], quiet=(0.4, 0.9), hold=(0.1, 0.3)),
                 name="transfer")
    assert_valid(report)
    assert report.nemesis_log.count("RAFT TRANSFER") >= 3, report.nemesis_log


def test_membership_changes_lose_no_updates() -> None:
    """Add a node (``--join`` + RAFT ADD), then remove a random member (old or new) while
    clients write: no acknowledged append or increment may be lost."""
    report = run(16, DURATION + 2, 3, Workload(),
                 script=random_schedule(["membership"], quiet=(0.5, 1.0), hold=(0.5, 1.0)),
                 name="membership")
    assert_valid(report)
    assert "RAFT ADD" in report.nemesis_log and "RAFT REMOVE" in report.nemesis_log


# --- Redis-Raft bug classes -------------------------------------------------------------------
def test_no_empty_read_after_full_cluster_restart() -> None:
    """Every node is killed at once and restarted; reads afterwards must see the data."""
    restarted: list[int] = []

    def full_restart(ctx: NemesisContext) -> None:
        ctx.sleep(3.0)
        ctx.log.add("full-restart", "start", "SIGKILL every node")
        ctx.cluster.kill_all()
        ctx.cluster.start_all()
        lead = ctx.cluster.wait_leader(timeout=20)
        restarted.append(time.monotonic_ns())
        ctx.log.add("full-restart", "stop", f"every node restarted; leader {lead}")

    report = run(17, DURATION, 3, Workload(), script=full_restart, name="full-restart")
    assert_valid(report)
    assert restarted, report.nemesis_log
    assert ok_reads_after(report.history, restarted[0]) > 20, str(report)


def _keyspace(c: Any) -> dict[bytes, Any]:
    """Every key of one node, read locally (stale: what this replica holds)."""
    c.execute_command("READCONSISTENCY", "stale")
    out: dict[bytes, Any] = {}
    for key in c.keys("*"):
        kind = c.type(key)
        out[key] = c.lrange(key, 0, -1) if kind in (b"list", "list") else c.get(key)
    return out


def _replicas_settled(ctx: NemesisContext) -> bool:
    """Every member applied the same last index, twice 0.3 s apart (clients have stopped)."""
    def applied() -> set[int]:
        return {int(ctx.cluster.info_raft(i)["applied_index"]) for i in ctx.members()}

    first = applied()
    time.sleep(0.3)
    return len(first) == 1 and applied() == first


def test_restart_from_checkpoints_killed_mid_write_keeps_replicas_identical() -> None:
    """Log/snapshot mismatch on restart: every node checkpoints every second with a short log
    tail; nodes (the leader too) are killed with SIGKILL right after a BGSAVE, often while the
    checkpoint is being written, and restart from checkpoint + log. The history must stay
    linearizable, and afterwards every replica must hold exactly the same keyspace."""
    kills: list[int] = []
    spaces: list[dict[bytes, Any]] = []

    def configure(ctx: NemesisContext) -> None:
        for i in ctx.members():
            c = ctx.cluster.client(i)
            c.config_set("save", "1 1")
            c.config_set("checkpoint-log-tail", "20")

    def checkpoint_and_kill(ctx: NemesisContext) -> None:
        configure(ctx)
        while ctx.sleep(1.3):
            node = ctx.pick("leader" if len(kills) % 2 else "random")
            if node is None:
                continue
            ctx.admin(node, "BGSAVE")  # an error (a save in progress) does not matter
            ctx.cluster.kill(node)
            kills.append(node)
            ctx.log.add("kill-checkpointing", "start", f"SIGKILL node {node} after BGSAVE")
            restart(ctx, node, "kill-checkpointing")
            configure(ctx)  # a restarted node forgets CONFIG SET
        heal_all(ctx)
        deadline = time.monotonic() + 20
        while not _replicas_settled(ctx) and time.monotonic() < deadline:
            pass
        spaces.extend(_keyspace(ctx.cluster.client(i)) for i in ctx.members())

    report = run(21, DURATION + 2, 3, Workload(), script=checkpoint_and_kill,
                 name="checkpoint-kill")
    assert_valid(report)
    assert len(kills) >= 3, report.nemesis_log
    assert len(spaces) == 3 and spaces[0], "the keyspaces were not read"
    assert spaces[0] == spaces[1] == spaces[2], "replicas differ after restarts"


def test_writes_reported_failed_are_never_visible() -> None:
    """The leader is isolated for 5 s, twice; while it is, every write goes to it (and every
    read to the majority). Writes answered ``-CLUSTERDOWN``/``-TRYAGAIN`` (or a nil EXEC)
    must not show up later. Clients wait 3 s for replies so the isolated node's CLUSTERDOWN
    (after ~2 s) reaches them."""

    def isolate_leader_repeatedly(ctx: NemesisContext) -> None:
        while ctx.remaining() > 5.5:
            ctx.sleep(1.0)
            lead = ctx.leader()
            if lead is None:
                continue
            ctx.targets.set(ctx.members(), writes=[lead],
                            reads=[i for i in ctx.members() if i != lead])
            ctx.cluster.proxy.isolate(lead)
            ctx.log.add("isolate-leader", "start", f"node {lead} isolated; writes go to it")
            ctx.sleep(5.0)
            ctx.cluster.proxy.heal_all()
            ctx.targets.set(ctx.members())
            ctx.log.add("isolate-leader", "stop", "healed")

    report = run(18, 13.0, 3, Workload(timeout=3.0), script=isolate_leader_repeatedly,
                 name="failed-writes")
    assert_valid(report)
    assert report.write_fails.get("CLUSTERDOWN", 0) + report.write_fails.get("TRYAGAIN", 0) > 0, (
        f"no write was refused by a server: {report.write_fails}\n{report}")
    assert not report.failed_visible


def test_replies_are_not_crossed_between_clients() -> None:
    """Every client INCRs its own counter (and the shared keys) through followers while the
    leadership moves: each reply must belong to its own request (a crossed reply shows up as
    a wrong-shaped reply or a non-linearizable per-client counter)."""

    def via_followers(ctx: NemesisContext) -> None:
        transfer = Transfer()
        while ctx.remaining() > 1.5:
            lead = ctx.leader()
            if lead is not None:
                ctx.targets.set([i for i in ctx.members() if i != lead])
                ctx.log.add("followers", "info", f"clients use followers of {lead}")
            ctx.sleep(1.5)
            transfer.start(ctx)
        ctx.targets.set(ctx.members())

    report = run(19, DURATION, 3, Workload(clients=6, own_counters=True), script=via_followers,
                 name="crossed-replies")
    assert_valid(report)
    assert not report.crossed
    own = [k for k in report.check.results if k.startswith("c:own:")]
    assert len(own) == 6 and all(report.check.results[k].valid for k in own)


# --- the suite finds a planted bug ------------------------------------------------------------
def test_planted_local_reads_bug_is_reported_as_stale_read() -> None:
    """Servers started with ``GOFISH_TEST_BUGS=local-reads`` answer linearizable reads from
    local state. The leader is isolated; writes go to the majority and reads to the old
    leader: the checker must report stale reads."""

    def stale_old_leader(ctx: NemesisContext) -> None:
        ctx.sleep(1.0)
        lead = ctx.leader()
        assert lead is not None
        others = [i for i in ctx.members() if i != lead]
        ctx.targets.set(others, reads=[lead], writes=others)
        ctx.cluster.proxy.isolate(lead)
        ctx.log.add("stale-old-leader", "start", f"node {lead} isolated; reads go to it")
        ctx.sleep(4.0)
        ctx.targets.set(ctx.members())
        heal_all(ctx)

    report = run(20, 6.0, 3, Workload(lists=0), script=stale_old_leader,
                 env={"GOFISH_TEST_BUGS": "local-reads"}, name="planted-local-reads",
                 save="never", verbose=False)
    print(report.summary())
    assert report.check.valid is False, str(report)
    assert "stale-read" in report.anomaly_kinds, str(report)


# --- the runner's explicit checks, on hand-made histories -------------------------------------
def _op(h: History, p: int, f: str, key: str, value: object, kind: str, out: object = None) -> None:
    h.complete(h.invoke(p, f, key, value), kind, out)


def test_explicit_checks_find_lost_and_failed_but_visible_writes() -> None:
    h = History()
    _op(h, 0, "append", "l:0", "a", "ok", 1)
    _op(h, 0, "append", "l:0", "b", "ok", 2)
    _op(h, 0, "append", "l:0", "c", "fail")
    _op(h, 0, "read-list", "l:0", None, "ok", ["a", "c"])  # final read: b lost, c visible
    _op(h, 1, "incr", "c:0", 1, "ok", 1)
    _op(h, 1, "incr", "c:0", 1, "ok", 2)
    _op(h, 1, "read", "c:0", None, "ok", 1)  # final read below two acknowledged increments
    _op(h, 2, "incr", "c:1", 1, "fail")
    _op(h, 2, "read", "c:1", None, "ok", 1)  # a failed increment applied
    _op(h, 3, "write", "r:0", "x", "fail")
    _op(h, 3, "read", "r:0", None, "ok", "x")  # a failed write visible
    lost, visible, failed = explicit_checks(h)
    assert failed == 3
    assert [s.split(":", 2)[:2] for s in lost] == [["l", "0"], ["c", "0"]], lost
    assert len(visible) == 3 and {s[:3] for s in visible} == {"l:0", "c:1", "r:0"}, visible


def test_explicit_checks_need_a_final_read_after_every_write() -> None:
    h = History()
    _op(h, 0, "append", "l:0", "a", "ok", 1)
    _op(h, 1, "read-list", "l:0", None, "ok", ["a"])
    _op(h, 0, "append", "l:0", "b", "ok", 2)  # acknowledged after the only read
    _op(h, 0, "append", "l:0", "c", "info")
    assert explicit_checks(h) == ([], [], 0)
    _op(h, 1, "read-list", "l:0", None, "ok", ["a", "b"])  # the final read; c may be absent
    assert explicit_checks(h) == ([], [], 0)
