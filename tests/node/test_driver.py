"""The Raft driver in-process: ordering, replies, group commit, durability policies, restart
replay, the idle gate of WATCH, and a three-node cluster over a loopback transport.

Waits are on futures the driver resolves; where the driver has no event (an election among
three drivers, a background sync) a bounded poll (`until`) checks the condition.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from gofish.errors import LOADING
from gofish.log.rocksdb import RocksDBStorage
from gofish.node.driver import (
    CLUSTERDOWN,
    UNCONFIRMED,
    DriverSettings,
    RaftDriver,
)
from gofish.raft import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    encode_conf_change,
)
from gofish.reply import ErrorReply
from gofish.statemachine.entry import FORMAT_VERSION, Command, decode_commands, encode_command

pytestmark = pytest.mark.anyio

TIMEOUT = 10


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return ("asyncio", {"use_uvloop": True})


_seq = itertools.count(1)


def cmd(tag: int | None = None) -> Command:
    seq = next(_seq) if tag is None else tag
    return Command(FORMAT_VERSION, 7, seq, 1_000, 0, [[b"set", b"k%d" % seq, b"v"]])


class Recorder:
    """An apply callback: records every command's seq and replies ``b"r<seq>"``."""

    def __init__(self, check: Callable[[Command], None] | None = None) -> None:
        self.seqs: list[int] = []
        self.check = check

    def __call__(self, c: Command) -> bytes:
        if self.check is not None:
            self.check(c)
        self.seqs.append(c.seq)
        return b"r%d" % c.seq


async def until(cond: Callable[[], bool], what: str) -> None:
    """Poll a condition the driver has no event for (bounded)."""
    with anyio.fail_after(TIMEOUT):
        while not cond():
            await anyio.sleep(0.005)
    assert cond(), what


@asynccontextmanager
async def driver(
    path: Path, apply: Callable[[Command], Any] | None = None, policy: str = "always", **kw: Any
) -> AsyncIterator[RaftDriver]:
    d = RaftDriver(path, apply or Recorder(), fsync_policy=lambda: policy,
                   settings=DriverSettings(**kw))
    try:
        with anyio.fail_after(TIMEOUT):
            await d.start()
        yield d
    finally:
        with anyio.CancelScope(shield=True):
            await d.aclose()


async def serving(d: RaftDriver) -> RaftDriver:
    with anyio.fail_after(TIMEOUT):
        await d.wait_serving()
    return d


# --- one node -------------------------------------------------------------------------------
async def test_a_sole_voter_elects_itself_and_serves(tmp_path: Path) -> None:
    async with driver(tmp_path) as d:
        await serving(d)
        assert d.is_leader and d.role == "leader" and d.leader_id == 1
        assert d.members == ConfState(voters=(1,))
        assert d.term >= 2  # bootstrap entries are term 1; its own election is later
        # bootstrap conf change (1) + the leader's empty entry (2), both applied
        assert d.applied_index == d.commit_index == d.last_index() == 2
        assert not d.loading


async def test_propose_before_start_replies_loading(tmp_path: Path) -> None:
    d = RaftDriver(tmp_path, Recorder())
    assert d.loading
    assert await d.propose(cmd()) == ErrorReply(LOADING)


async def test_futures_resolve_with_the_apply_reply_in_log_order(tmp_path: Path) -> None:
    rec = Recorder()
    async with driver(tmp_path, rec) as d:
        await serving(d)
        cmds = [cmd() for _ in range(200)]
        futs = [d.propose(c) for c in cmds]
        replies = await asyncio.gather(*futs)
        assert replies == [b"r%d" % c.seq for c in cmds]
        assert rec.seqs == [c.seq for c in cmds]
        # proposed in one loop turn: one batch entry holds them all
        assert d.applied_index == d.last_index() == 2 + 1
        assert d.storage is not None
        [e] = d.storage.entries(3, 4)
        assert decode_commands(e.data) == cmds


async def test_a_turn_of_proposals_is_cut_into_batches_of_batch_max(tmp_path: Path) -> None:
    rec = Recorder()
    async with driver(tmp_path, rec, batch_max=16) as d:
        await serving(d)
        cmds = [cmd() for _ in range(200)]
        replies = await asyncio.gather(*[d.propose(c) for c in cmds])
        assert replies == [b"r%d" % c.seq for c in cmds]
        assert rec.seqs == [c.seq for c in cmds]
        assert d.last_index() == 2 + 13  # ceil(200 / 16)
    # a restart replays the batches: every request once, in order
    rec2 = Recorder()
    async with driver(tmp_path, rec2) as d:
        await serving(d)
        assert rec2.seqs == [c.seq for c in cmds]


async def test_committed_entries_are_synced_before_they_are_applied(tmp_path: Path) -> None:
    box: list[RaftDriver] = []
    seen: list[tuple[int, int]] = []

    def check(c: Command) -> None:
        d = box[0]
        assert d.storage is not None
        # the entry being applied is applied_index + 1
        seen.append((d.applied_index + 1, d.storage.synced_index))

    async with driver(tmp_path, Recorder(check)) as d:
        box.append(d)
        await serving(d)
        for _ in range(5):
            await asyncio.gather(*(d.propose(cmd()) for _ in range(30)))
        assert len(seen) == 150
        assert all(synced >= index for index, synced in seen), seen


async def test_group_commit_many_proposals_few_syncs(tmp_path: Path) -> None:
    async with driver(tmp_path) as d:
        await serving(d)
        st = d.storage
        assert st is not None
        before = st.statistics()
        # 1000 proposals in one loop iteration: one Ready, one write, one fsync, and batch
        # entries of at most batch_max (256) requests
        await asyncio.gather(*(d.propose(cmd()) for _ in range(1000)))
        after = st.statistics()
        assert after.entries_written - before.entries_written == 4
        assert after.syncs - before.syncs <= 2
        assert after.written_seq - before.written_seq <= 3  # entries, then the commit index
        # the same proposals one at a time: each waits for its own fsync
        for _ in range(20):
            await d.propose(cmd())
        assert st.statistics().syncs - after.syncs >= 20


async def test_appendfsync_no_and_everysec_acknowledge_without_a_sync(tmp_path: Path) -> None:
    for policy in ("no", "everysec"):
        async with driver(tmp_path / policy, policy=policy, everysec_interval=3600) as d:
            await serving(d)
            st = d.storage
            assert st is not None
            syncs = st.statistics().syncs  # the election's vote was synced
            replies = await asyncio.gather(*(d.propose(cmd()) for _ in range(50)))
            assert all(r.startswith(b"r") for r in replies)
            assert st.statistics().syncs == syncs and st.needs_sync
            assert st.synced_index < d.applied_index


async def test_everysec_syncs_in_the_background(tmp_path: Path) -> None:
    async with driver(tmp_path, policy="everysec", everysec_interval=0.02) as d:
        await serving(d)
        st = d.storage
        assert st is not None
        await asyncio.gather(*(d.propose(cmd()) for _ in range(50)))
        await until(lambda: st.synced_index == d.last_index(), "a background sync")


async def test_the_policy_is_read_live(tmp_path: Path) -> None:
    policy = ["no"]
    d = RaftDriver(tmp_path, Recorder(), fsync_policy=lambda: policy[0])
    await d.start()
    try:
        await serving(d)
        st = d.storage
        assert st is not None
        await d.propose(cmd())
        assert st.needs_sync
        policy[0] = "always"
        await d.propose(cmd())
        assert st.synced_index >= d.applied_index
    finally:
        await d.aclose()


# --- restart --------------------------------------------------------------------------------
async def test_restart_replays_every_committed_entry_before_serving(tmp_path: Path) -> None:
    first = Recorder()
    async with driver(tmp_path, first) as d:
        await serving(d)
        await asyncio.gather(*(d.propose(cmd()) for _ in range(100)))
        term1, last1 = d.term, d.last_index()
    for _ in range(2):
        again = Recorder()
        async with driver(tmp_path, again, replay_chunk=7) as d:
            # start() returns once the replay is done: everything is applied already
            assert again.seqs == first.seqs
            assert d.applied_index >= last1 - 1
            await serving(d)
            assert d.term > term1 and d.is_leader
            await d.propose(cmd())
            first.seqs.append(again.seqs[-1])
            term1, last1 = d.term, d.last_index()
            assert d.statistics().replayed_entries > 0


async def test_replay_rebuilds_a_membership_the_store_did_not_record(tmp_path: Path) -> None:
    # As after a crash between committing the bootstrap entry and recording its membership.
    with RocksDBStorage(tmp_path) as st:
        cc = encode_conf_change(ConfChange(ConfChangeType.ADD_NODE, 1))
        st.save(HardState(term=1, commit=1), [Entry(1, 1, EntryType.CONF_CHANGE, cc)])
        st.sync()
        assert st.conf_state == ConfState()
    async with driver(tmp_path) as d:
        assert d.storage is not None and d.storage.conf_state == ConfState(voters=(1,))
        await serving(d)
        assert d.is_leader


async def test_entries_past_the_recorded_commit_are_applied_before_serving(
    tmp_path: Path,
) -> None:
    # As after a power loss under "always": the entries were synced, the commit index
    # (written with the next Ready, unsynced) was not.
    cc = encode_conf_change(ConfChange(ConfChangeType.ADD_NODE, 1))
    cmds = [cmd() for _ in range(10)]
    with RocksDBStorage(tmp_path) as st:
        ents = [Entry(1, 1, EntryType.CONF_CHANGE, cc)]
        ents += [Entry(2, i + 2, data=encode_command(c)) for i, c in enumerate(cmds)]
        st.save(HardState(term=2, vote=1, commit=4), ents, conf_state=ConfState((1,)))
        st.sync()
    rec = Recorder()
    async with driver(tmp_path, rec) as d:
        assert rec.seqs == [c.seq for c in cmds[:3]]  # the replay stops at the commit index
        assert d.loading
        await serving(d)
        assert rec.seqs == [c.seq for c in cmds]  # the new leader committed the rest first


# --- the idle gate (WATCH's EXEC) -------------------------------------------------------------
async def test_wait_applied(tmp_path: Path) -> None:
    async with driver(tmp_path) as d:
        await serving(d)
        f = d.propose(cmd())
        w = d.wait_applied(d.last_index() + 1)  # appended by the next Ready, in a batch
        assert not w.done()
        await w
        assert f.done()
        assert d.wait_applied(1).done()


# --- no leader --------------------------------------------------------------------------------
async def test_without_a_quorum_proposals_fail_clusterdown(tmp_path: Path) -> None:
    async with driver(tmp_path, voters=(1, 2), leader_wait=0.1, tick_interval=0.01) as d:
        # A member of a larger cluster serves at once: its writes need the leader...
        assert not d.loading and not d.is_leader
        assert await d.propose(cmd()) == ErrorReply(CLUSTERDOWN)
        # ...and so do its reads.
        point = d.read_point("linearizable")
        assert point is not None and await point == ErrorReply(CLUSTERDOWN)
        assert d.read_point("stale") is None


# --- three drivers over a loopback transport ----------------------------------------------------
class Net:
    """Delivers messages between in-process drivers; ``cut`` drops (from, to) pairs. Checks
    that no node acknowledges entries it has not synced (appendfsync always)."""

    def __init__(self) -> None:
        self.drivers: dict[int, RaftDriver] = {}
        self.cut: set[tuple[int, int]] = set()
        self.delivered = 0
        self.violations: list[Message] = []

    def isolate(self, n: int) -> None:
        for m in self.drivers:
            if m != n:
                self.cut |= {(n, m), (m, n)}

    def heal(self) -> None:
        self.cut.clear()

    def transport(self, me: int) -> Link:
        return Link(self, me)


class Link:
    def __init__(self, net: Net, me: int) -> None:
        self.net, self.me = net, me

    def add_peer(self, node_id: int, addr: tuple[str, int]) -> None:
        pass

    def remove_peer(self, node_id: int) -> None:
        pass

    def is_connected(self, node_id: int) -> bool:
        return (self.me, node_id) not in self.net.cut

    def send(self, messages: Iterable[Message]) -> None:
        net = self.net
        loop = asyncio.get_running_loop()
        for m in messages:
            assert m.from_ == self.me
            if m.type == MessageType.APPEND_RESP and not m.reject:
                st = net.drivers[self.me].storage
                assert st is not None
                if st.synced_index < m.index:
                    net.violations.append(m)
            if (m.from_, m.to) in net.cut or m.to not in net.drivers:
                continue
            net.delivered += 1
            loop.call_soon(net.drivers[m.to].step, m)


@asynccontextmanager
async def cluster(tmp_path: Path, recs: dict[int, Recorder], **kw: Any) -> AsyncIterator[Net]:
    net = Net()
    settings = dict(voters=(1, 2, 3), tick_interval=0.01, election_tick=10, heartbeat_tick=1)
    settings.update(kw)
    for i in (1, 2, 3):
        recs[i] = Recorder()
        net.drivers[i] = RaftDriver(
            tmp_path / str(i), recs[i], transport=net.transport(i),
            settings=DriverSettings(node_id=i, **settings),  # type: ignore[arg-type]
        )
    try:
        for d in net.drivers.values():
            await d.start()
        yield net
    finally:
        with anyio.CancelScope(shield=True):
            for d in net.drivers.values():
                await d.aclose()


def leader_of(net: Net, among: Iterable[int] = (1, 2, 3)) -> int | None:
    leaders = [i for i in among if net.drivers[i].is_leader]
    return leaders[0] if len(leaders) == 1 else None


async def test_three_drivers_replicate_through_a_transport(tmp_path: Path) -> None:
    recs: dict[int, Recorder] = {}
    async with cluster(tmp_path, recs) as net:
        await until(lambda: leader_of(net) is not None, "a leader")
        lead = leader_of(net)
        assert lead is not None
        d = net.drivers[lead]
        await serving(d)
        cmds = [cmd() for _ in range(100)]
        replies = await asyncio.gather(*(d.propose(c) for c in cmds))
        assert replies == [b"r%d" % c.seq for c in cmds]
        follower = net.drivers[lead % 3 + 1]
        fwd = cmd()  # forwarded to the leader; answered by the follower's own apply
        assert await follower.propose(fwd) == b"r%d" % fwd.seq
        await until(lambda: all(len(r.seqs) == 101 for r in recs.values()), "all applied")
        want = [c.seq for c in cmds] + [fwd.seq]
        assert recs[1].seqs == recs[2].seqs == recs[3].seqs == want
        assert net.violations == [] and net.delivered > 0


async def test_a_proposal_lost_with_its_leader_is_proposed_again(tmp_path: Path) -> None:
    recs: dict[int, Recorder] = {}
    async with cluster(tmp_path, recs) as net:
        await until(lambda: leader_of(net) is not None, "a leader")
        old = leader_of(net)
        assert old is not None
        await serving(net.drivers[old])
        net.isolate(old)
        lost = net.drivers[old].propose(cmd())  # cannot commit: no quorum
        others = [i for i in (1, 2, 3) if i != old]
        await until(lambda: leader_of(net, others) is not None, "a new leader")
        new = leader_of(net, others)
        assert new is not None
        kept = cmd()
        assert await net.drivers[new].propose(kept) == b"r%d" % kept.seq
        net.heal()
        # The old leader's entry is overwritten; it sends the request to the new leader.
        reply = await lost
        assert reply.startswith(b"r")
        seq = int(reply[1:])
        await until(lambda: all(seq in recs[i].seqs for i in (1, 2, 3)), "caught up")
        assert recs[1].seqs == recs[2].seqs == recs[3].seqs
        assert net.violations == []


async def test_a_proposal_whose_commit_is_never_seen_fails_unconfirmed(tmp_path: Path) -> None:
    recs: dict[int, Recorder] = {}
    async with cluster(tmp_path, recs, proposal_timeout=0.3) as net:
        await until(lambda: leader_of(net) is not None, "a leader")
        old = leader_of(net)
        assert old is not None
        await serving(net.drivers[old])
        net.isolate(old)
        assert await net.drivers[old].propose(cmd()) == ErrorReply(UNCONFIRMED)


# --- the entry cache ------------------------------------------------------------------------------
def test_the_entry_cache_mirrors_the_store(tmp_path: Path) -> None:
    from gofish.node.entry_cache import CachedLog

    def ents(lo: int, hi: int, term: int) -> list[Entry]:
        return [Entry(term, i, data=b"t%d-%d" % (term, i)) for i in range(lo, hi)]

    with RocksDBStorage(tmp_path) as st:
        log = CachedLog(st, max_entries=8)
        log.save(HardState(term=1), ents(1, 6, 1))
        assert log.entries(2, 5) == st.entries(2, 5) == ents(2, 5, 1)
        assert log.hits == 1
        log.save(None, ents(4, 7, 2))  # a conflicting suffix from 4 on is replaced
        assert log.entries(1, 7) == st.entries(1, 7) == ents(1, 4, 1) + ents(4, 7, 2)
        log.save(None, ents(7, 20, 2))  # past the limit: trimmed to the newest 4
        hits, misses = log.hits, log.misses
        assert log.entries(16, 20) == ents(16, 20, 2)
        assert log.entries(1, 20) == st.entries(1, 20)
        assert (log.hits, log.misses) == (hits + 1, misses + 1)
        assert log.entries(16, 20, max_bytes=1) == ents(16, 17, 2)  # at least one entry
