"""The Raft driver as a cluster member, in-process over a loopback transport: founding
entries, forwarded requests, read points, membership changes, leadership transfer and a
node's own removal (gofish.node.driver, gofish.node.driver_members, gofish.node.reads)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from test_driver import TIMEOUT, Net, Recorder, cluster, cmd, leader_of, serving, until

from gofish.node import driver_members
from gofish.node.driver import CLUSTERDOWN, DriverSettings, NodeRemovedError, RaftDriver
from gofish.raft import ConfChangeType, Entry, EntryType, decode_conf_change
from gofish.reply import OK, ErrorReply

pytestmark = pytest.mark.anyio


async def a_leader(net: object) -> int:
    await until(lambda: leader_of(net) is not None, "a leader")  # type: ignore[arg-type]
    lead = leader_of(net)  # type: ignore[arg-type]
    assert lead is not None
    return lead


async def test_founding_entries_are_identical_on_every_node(tmp_path: Path) -> None:
    recs: dict[int, Recorder] = {}
    async with cluster(tmp_path, recs) as net:
        await a_leader(net)
        for d in net.drivers.values():
            assert d.storage is not None
            boot = d.storage.entries(1, 4)
            assert [(e.term, e.index, e.type) for e in boot] == [
                (1, i, EntryType.CONF_CHANGE) for i in (1, 2, 3)]
            assert [decode_conf_change(e.data).node_id for e in boot] == [1, 2, 3]


async def test_a_follower_forwards_and_reads_at_a_read_point(tmp_path: Path) -> None:
    recs: dict[int, Recorder] = {}
    async with cluster(tmp_path, recs) as net:
        lead = await a_leader(net)
        await serving(net.drivers[lead])
        f = net.drivers[lead % 3 + 1]
        c = cmd()
        assert await f.propose(c) == b"r%d" % c.seq
        assert f.statistics().forwarded >= 1
        # A write through the leader, then a linearizable read point on the follower:
        # once it resolves, the follower has applied that write.
        c2 = cmd()
        assert await net.drivers[lead].propose(c2) == b"r%d" % c2.seq
        for mode in ("linearizable", "lease"):
            point = f.read_point(mode)
            assert point is not None
            with anyio.fail_after(TIMEOUT):
                assert await point is None
            assert c2.seq in recs[f.id].seqs
        assert f.read_point("stale") is None


async def test_an_isolated_node_refuses_reads_and_writes(tmp_path: Path) -> None:
    recs: dict[int, Recorder] = {}
    async with cluster(tmp_path, recs, leader_wait=0.3, read_timeout=0.3) as net:
        lead = await a_leader(net)
        other = lead % 3 + 1
        net.isolate(other)
        d = net.drivers[other]
        point = d.read_point("linearizable")
        assert point is not None
        with anyio.fail_after(TIMEOUT):
            assert await point == ErrorReply(CLUSTERDOWN)
            assert await d.propose(cmd()) == ErrorReply(CLUSTERDOWN)
        # The majority goes on.
        c = cmd()
        assert await net.drivers[lead].propose(c) == b"r%d" % c.seq


async def test_add_a_learner_through_a_follower_promote_then_remove(tmp_path: Path) -> None:
    recs: dict[int, Recorder] = {}
    async with cluster(tmp_path, recs) as net:
        lead = await a_leader(net)
        await serving(net.drivers[lead])
        for _ in range(20):
            await net.drivers[lead].propose(cmd())
        follower = net.drivers[lead % 3 + 1]
        recs[4] = Recorder()
        new = RaftDriver(tmp_path / "4", recs[4], transport=net.transport(4),
                         settings=DriverSettings(node_id=4, voters=(), join=True,
                                                 tick_interval=0.01, heartbeat_tick=1))
        net.drivers[4] = new
        await new.start()
        try:
            added = follower.change_member(ConfChangeType.ADD_LEARNER, 4, "127.0.0.1:1")
            with anyio.fail_after(TIMEOUT):
                assert await added == OK
            # The leader promotes it once caught up; it learned the founders from the log.
            await until(lambda: new.members.voters == (1, 2, 3, 4), "promoted")
            assert recs[4].seqs == recs[lead].seqs[: len(recs[4].seqs)]
            assert new.book.addr(4) == ("127.0.0.1", 1)
            again = follower.change_member(ConfChangeType.ADD_LEARNER, 4, "127.0.0.1:1")
            assert (await again).startswith(b"ERR node 4 is already a member")
            # Removing it: every member agrees, and the removed node stops.
            removed = net.drivers[lead].change_member(ConfChangeType.REMOVE_NODE, 4)
            with anyio.fail_after(TIMEOUT):
                assert await removed == OK
                assert isinstance(await new.wait_failed(), NodeRemovedError)
            await until(lambda: all(net.drivers[i].members.voters == (1, 2, 3)
                                    for i in (1, 2, 3)), "removed everywhere")
        finally:
            await new.aclose()


async def test_transfer_leadership_from_a_follower(tmp_path: Path) -> None:
    recs: dict[int, Recorder] = {}
    async with cluster(tmp_path, recs) as net:
        lead = await a_leader(net)
        await serving(net.drivers[lead])
        target = lead % 3 + 1
        asker = target % 3 + 1
        if asker == lead:
            asker = target
        await until(lambda: net.drivers[asker].leader_id == lead, "the asker knows the leader")
        with anyio.fail_after(TIMEOUT):
            assert await net.drivers[asker].transfer_leader(target) == OK
        await until(lambda: leader_of(net) == target, "the new leader")
        bad = net.drivers[asker].transfer_leader(9)
        assert (await bad).startswith(b"ERR node 9 is not a voter")


async def test_the_planted_local_reads_bug_skips_the_read_point(tmp_path: Path) -> None:
    # For the fault suite's self-test: with the bug, an isolated node reads at once.
    recs: dict[int, Recorder] = {}
    async with cluster(tmp_path, recs, test_bugs=frozenset({"local-reads"})) as net:
        lead = await a_leader(net)
        other = lead % 3 + 1
        net.isolate(other)
        assert net.drivers[other].read_point("linearizable") is None


async def test_a_sole_voter_reads_at_once_until_a_second_voter_is_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `sole_leader` lets the dispatcher skip the read point; it must fall with the apply of
    # the promotion of a second voter (and stay up while the newcomer only learns).
    net = Net()
    recs = {1: Recorder(), 2: Recorder()}
    one = RaftDriver(tmp_path / "1", recs[1], transport=net.transport(1),
                     settings=DriverSettings(node_id=1, voters=(1,), tick_interval=0.01,
                                             heartbeat_tick=1))
    two = RaftDriver(tmp_path / "2", recs[2], transport=net.transport(2),
                     settings=DriverSettings(node_id=2, voters=(), join=True,
                                             tick_interval=0.01, heartbeat_tick=1))
    net.drivers.update({1: one, 2: two})
    after_apply: list[tuple[tuple[int, ...], bool]] = []
    apply_conf_change = driver_members.apply_conf_change

    def recorded(d: RaftDriver, e: Entry) -> None:
        apply_conf_change(d, e)
        if d is one:
            after_apply.append((one.members.voters, one.sole_leader))

    monkeypatch.setattr(driver_members, "apply_conf_change", recorded)
    try:
        await one.start()
        assert not one.sole_leader  # not serving yet
        await serving(one)
        assert one.sole_leader and one.read_point("linearizable") is None
        await two.start()
        added = one.change_member(ConfChangeType.ADD_LEARNER, 2, "127.0.0.1:1")
        with anyio.fail_after(TIMEOUT):
            assert await added == OK
        assert one.members.learners == (2,) and one.sole_leader
        await until(lambda: one.members.voters == (1, 2), "promoted")
        assert after_apply[-2:] == [((1,), True), ((1, 2), False)]
        assert one.read_point("linearizable") is not None
        assert two.sole_leader is False
    finally:
        with anyio.CancelScope(shield=True):
            for d in (two, one):
                await d.aclose()
        assert not one.sole_leader
