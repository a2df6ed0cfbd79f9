"""Focused unit tests of the Raft core: log, progress, votes, Ready contract, planted bugs."""

from __future__ import annotations

import random
from pathlib import Path

import msgspec
import pytest

from gofish.log.memory import MemoryStorage
from gofish.raft import (
    CAMPAIGN_TRANSFER,
    READ_QUORUM,
    ConfChange,
    ConfChangeType,
    Config,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    ProposalDroppedError,
    RawNode,
    Ready,
    StateRole,
    decode_conf_change,
    encode_conf_change,
)
from gofish.raft.log import RaftLog
from gofish.raft.progress import Inflights, Progress, ProgressState

from .test_scenarios import Harness, run_command, run_script

MT = MessageType
SCENARIOS = Path(__file__).parent / "scenarios"


def ents(*pairs: str) -> list[Entry]:
    out = []
    for p in pairs:
        i, t = p.split("/")
        out.append(Entry(term=int(t), index=int(i)))
    return out


def storage_with(*pairs: str, term: int = 0, voters: tuple[int, ...] = (1, 2, 3)) -> MemoryStorage:
    st = MemoryStorage()
    st.append(ents(*pairs))
    st.set_hard_state(HardState(term=term))
    st.set_conf_state(ConfState(voters=voters))
    return st


def leader_of_three() -> Harness:
    return run_script("add-nodes 3\ncampaign 1\nstabilize\nexpect leader=1 term=2\n")


# --- log ------------------------------------------------------------------------------------


def test_unstable_entries_shadow_stale_storage() -> None:
    log = RaftLog(storage_with("1/1", "2/1", "3/1"))
    log.append(ents("2/2"))  # a new leader overwrites index 2: storage still has 2/1, 3/1
    assert log.last_index() == 2
    assert [log.term(i) for i in (1, 2)] == [1, 2]
    assert log.term(3) == 0
    assert [e.term for e in log.slice(1, 3)] == [1, 2]


def test_maybe_append_truncates_conflicts_but_never_committed() -> None:
    log = RaftLog(storage_with("1/1", "2/1", "3/1"))
    log.commit_to(1)
    assert log.maybe_append(1, 1, 3, tuple(ents("2/2", "3/2"))) == 3
    assert [log.term(i) for i in (1, 2, 3)] == [1, 2, 2]
    assert log.committed == 3
    assert log.maybe_append(3, 1, 3, ()) is None  # prev term mismatch
    with pytest.raises(RuntimeError):
        log.maybe_append(0, 0, 3, tuple(ents("1/5")))  # would rewrite committed index 1


def test_find_conflict_by_term_skips_whole_terms() -> None:
    log = RaftLog(storage_with("1/1", "2/2", "3/2", "4/2", "5/4", "6/4"))
    assert log.find_conflict_by_term(6, 3) == (4, 2)
    assert log.find_conflict_by_term(6, 1) == (1, 1)
    assert log.find_conflict_by_term(6, 5) == (6, 4)


def test_committed_entries_are_handed_out_only_once_persisted() -> None:
    st = MemoryStorage()
    node = RawNode(Config(id=1, voters=(1,)), st)  # bootstrap entry 1 is committed
    rd = node.ready()
    assert [e.index for e in rd.entries] == [1]
    assert rd.committed_entries == []  # not yet persisted
    assert rd.must_sync and rd.hard_state == HardState(term=1, vote=0, commit=1)
    st.append(rd.entries)
    st.set_hard_state(rd.hard_state)
    node.advance(rd)
    rd = node.ready()
    assert [e.index for e in rd.committed_entries] == [1]
    assert rd.hard_state is None and not rd.must_sync
    node.advance(rd)
    assert not node.has_ready()


def drive(node: RawNode, st: MemoryStorage) -> list[Ready]:
    out = []
    while node.has_ready():
        rd = node.ready()
        if rd.snapshot is not None:
            st.apply_snapshot(rd.snapshot)
        st.append(rd.entries)
        if rd.hard_state is not None:
            st.set_hard_state(rd.hard_state)
        node.advance(rd)
        out.append(rd)
    return out


def test_single_node_commits_after_its_own_fsync() -> None:
    st = MemoryStorage()
    node = RawNode(Config(id=1, voters=(1,)), st)
    drive(node, st)
    node.campaign()
    assert node.role == StateRole.LEADER and node.term == 2
    idx = node.propose(b"x")
    assert idx == 3 and node.commit_index == 1  # nothing counts before it is persisted
    readies = drive(node, st)
    assert node.commit_index == 3
    assert [e.data for rd in readies for e in rd.committed_entries] == [b"", b"x"]
    node.read_index(b"q")
    assert drive(node, st)[0].read_states[0].index == 3


def test_restart_restores_hard_state_and_applied() -> None:
    st = MemoryStorage()
    node = RawNode(Config(id=1, voters=(1,)), st)
    drive(node, st)
    node.campaign()
    node.propose(b"x")
    drive(node, st)
    again = RawNode(Config(id=1, voters=(1,), applied=2), st)
    assert (again.term, again.commit_index, again.applied_index) == (2, 3, 2)
    assert again.raft.vote == 1
    assert [e.data for e in again.ready().committed_entries] == [b"x"]


# --- progress ---------------------------------------------------------------------------------


def test_inflights_limit_by_count_and_bytes() -> None:
    f = Inflights(max_count=3, max_bytes=100)
    f.add(1, 10)
    f.add(2, 95)
    assert f.full()
    f.free_le(1)
    assert not f.full() and f.bytes == 95
    f.add(3, 1)
    f.add(4, 1)
    assert f.full()


def test_progress_probe_pauses_and_replicate_streams() -> None:
    pr = Progress(next_=5, max_inflight=2, max_inflight_bytes=0)
    pr.sent_entries(7, 10)
    assert pr.is_paused() and pr.next == 5  # probing: one at a time, next unchanged
    assert pr.maybe_update(4)
    pr.become_replicate()
    pr.sent_entries(6, 1)
    pr.sent_entries(8, 1)
    assert pr.next == 9 and pr.is_paused()  # window of 2 full
    assert not pr.maybe_decr_to(3, 0)  # stale rejection (at or below match)
    assert pr.maybe_decr_to(6, 0)
    assert pr.next == 5


def test_leader_respects_max_inflight() -> None:
    h = run_script("add-nodes 3 max-inflight=2\ncampaign 1\nstabilize\nisolate 3\n")
    for i in range(5):  # one proposal per Ready: each Ready could send its own APPEND
        h.nodes[1].node().propose(b"p%d" % i)
        h.process_ready([1])
    to3 = [m for m in h.net if m.to == 3 and m.type == MT.APPEND]
    assert [[e.data for e in m.entries] for m in to3] == [[b"p0"], [b"p1"]]  # window of 2
    assert h.nodes[1].node().raft.trk.progress[3].state == ProgressState.REPLICATE


def test_proposals_between_readys_are_batched_into_one_append() -> None:
    h = leader_of_three()
    raw = h.nodes[1].node()
    for i in range(5):
        raw.propose(b"p%d" % i)
    assert not raw.raft.msgs and raw.has_ready()  # nothing sent until ready()
    h.process_ready([1])
    appends = [m for m in h.net if m.type == MT.APPEND]
    assert sorted(m.to for m in appends) == [2, 3]
    assert all([e.data for e in m.entries] == [b"p%d" % i for i in range(5)] for m in appends)
    h.stabilize()
    assert all([d for _, d in h.nodes[i].sm] == [b"p%d" % j for j in range(5)] for i in (1, 2, 3))


def test_a_commit_and_the_next_proposals_share_one_append_per_follower() -> None:
    h = leader_of_three()
    raw = h.nodes[1].node()
    raw.propose(b"p0")
    h.process_ready([1])
    h.deliver({})  # the APPENDs of p0 reach 2 and 3
    h.process_ready([2, 3])  # both persist p0 and answer
    index = raw.raft.log.last_index()
    assert raw.raft.log.committed < index
    h.deliver({})  # the answers commit p0 ...
    raw.propose(b"p1")  # ... and a proposal arrives in the same turn
    h.process_ready([1])
    appends = [m for m in h.net if m.type == MT.APPEND]
    # one APPEND per follower carries both p1 and the new commit index (not an empty
    # commit-only APPEND and a second one with p1)
    assert sorted(m.to for m in appends) == [2, 3]
    assert all([e.data for e in m.entries] == [b"p1"] and m.commit == index for m in appends)
    # with nothing new to send, the commit still goes out, in an empty APPEND
    h.deliver({})
    h.process_ready([2, 3])
    h.deliver({})
    h.process_ready([1])
    appends = [m for m in h.net if m.type == MT.APPEND]
    assert sorted(m.to for m in appends) == [2, 3]
    assert all(not m.entries and m.commit == index + 1 for m in appends)
    h.stabilize()
    assert all([d for _, d in h.nodes[i].sm] == [b"p0", b"p1"] for i in (1, 2, 3))


def test_a_follower_told_the_commit_with_entries_gets_no_empty_append_too() -> None:
    h = leader_of_three()
    raw = h.nodes[1].node()
    raw.report_unreachable(2)  # node 2 is probed again: one APPEND until it answers
    raw.propose(b"p0")
    h.process_ready([1])
    raw.propose(b"p1")
    h.process_ready([1])
    assert [[e.data for e in m.entries] for m in h.net if m.to == 2] == [[b"p0"]]
    h.net = [m for m in h.net if m.to == 2]  # node 3's APPENDs are lost: only 2 answers
    h.deliver({"to": "2"})
    h.process_ready([2])
    index = raw.raft.log.last_index() - 1  # p0
    h.deliver({"to": "1"})  # p0 commits, and node 2, replicating again, is sent p1
    h.process_ready([1])
    to2 = [m for m in h.net if m.to == 2 and m.type == MT.APPEND]
    # p1 carried the new commit index: no empty APPEND to tell it again
    assert [([e.data for e in m.entries], m.commit) for m in to2] == [([b"p1"], index)]
    h.stabilize()
    assert all([d for _, d in h.nodes[i].sm] == [b"p0", b"p1"] for i in (1, 2, 3))


def test_pending_appends_are_dropped_when_leadership_is_lost() -> None:
    h = leader_of_three()
    raw = h.nodes[1].node()
    raw.propose(b"lost")
    raw.step(Message(type=MT.HEARTBEAT, to=1, from_=2, term=raw.term + 1))
    assert raw.role == StateRole.FOLLOWER and not raw.raft.append_pending
    rd = raw.ready()
    assert not [m for m in rd.messages if m.type == MT.APPEND]
    assert [e.data for e in rd.entries] == [b"lost"]  # still persisted; a new leader decides


def test_limit_size_matches_a_running_sum() -> None:
    from gofish.raft.log import entry_size, limit_size

    rng = random.Random(3)
    for _ in range(300):
        es = [Entry(term=1, index=i + 1, data=b"x" * rng.randrange(40)) for i in range(
            rng.randrange(8))]
        cap = rng.choice([None, 0, 1, 16, 30, 50, 100, 1000])
        want = es
        if cap is not None and len(es) > 1:
            size = 0
            for i, e in enumerate(es):
                size += entry_size(e)
                if size > cap and i > 0:
                    want = es[:i]
                    break
        assert limit_size(es, cap) == want


def test_lost_append_with_full_window_recovers_on_heartbeat() -> None:
    h = run_script("add-nodes 3 max-inflight=1\ncampaign 1\nstabilize\n")
    h.nodes[1].node().propose(b"a")
    h.process_ready([1])
    h.deliver({"to": "3"}, drop=True)  # the only APPEND in 3's window is lost
    h.stabilize()
    assert h.nodes[1].node().raft.trk.progress[3].inflights.full()
    run_command(h, "tick-heartbeat 1")
    h.stabilize()
    assert [d for _, d in h.nodes[3].sm] == [b"a"]


def test_max_size_per_msg_splits_appends() -> None:
    h = run_script("add-nodes 2 max-size=40\ncampaign 1\nstabilize\n")
    for _ in range(4):
        h.nodes[1].node().propose(b"x" * 10)
    h.process_ready([1])
    sizes = [len(m.entries) for m in h.net if m.type == MT.APPEND]
    assert sizes and max(sizes) <= 1


def test_report_unreachable_and_snapshot() -> None:
    h = leader_of_three()
    raw = h.nodes[1].node()
    pr = raw.raft.trk.progress[2]
    states = [pr.state]
    raw.report_unreachable(2)
    states.append(pr.state)
    pr.become_snapshot(10)
    raw.report_snapshot(2, failed=True)
    states.append(pr.state)
    assert states == [ProgressState.REPLICATE, ProgressState.PROBE, ProgressState.PROBE]
    assert pr.is_paused()


# --- elections ------------------------------------------------------------------------------


def test_randomized_election_timeout_is_deterministic_and_in_range() -> None:
    def timeouts(seed: int) -> list[int]:
        node = RawNode(Config(id=1, voters=(1, 2, 3), seed=seed), MemoryStorage())
        out = []
        for _ in range(50):
            node.raft.become_follower(node.term + 1, 0)
            out.append(node.raft.randomized_election_timeout)
        return out

    a = timeouts(7)
    assert a == timeouts(7)
    assert all(10 <= t < 20 for t in a) and len(set(a)) > 3


def vote_msg(t: MessageType, term: int, index: int, log_term: int, ctx: bytes = b"") -> Message:
    return Message(type=t, to=1, from_=2, term=term, index=index, log_term=log_term, context=ctx)


@pytest.mark.parametrize("bugs", [frozenset(), frozenset({"vote-ignores-log"})])
def test_vote_requires_up_to_date_log(bugs: frozenset[str]) -> None:
    st = storage_with("1/1", "2/3", term=3)
    node = RawNode(Config(id=1, voters=(1, 2, 3), test_bugs=bugs), st)
    node.step(vote_msg(MT.VOTE, 4, 5, 2))  # longer log but older last term
    (resp,) = node.ready().messages
    assert resp.type == MT.VOTE_RESP and resp.reject == (not bugs)
    assert node.term == 4


def test_pre_vote_never_changes_term_and_lease_ignores_votes() -> None:
    st = storage_with("1/1", term=3)
    node = RawNode(Config(id=1, voters=(1, 2, 3)), st)
    node.step(vote_msg(MT.PRE_VOTE, 4, 1, 1))
    (resp,) = node.ready().messages
    assert resp.type == MT.PRE_VOTE_RESP and not resp.reject and resp.term == 4
    assert node.term == 3 and node.raft.vote == 0
    # Hear from a leader: now in lease, votes for higher terms are ignored...
    node.step(Message(type=MT.HEARTBEAT, to=1, from_=3, term=3))
    node.ready()
    node.step(vote_msg(MT.VOTE, 5, 1, 1))
    assert node.term == 3 and not node.ready().messages
    # ...unless the candidate was told to take over by the leader (transfer).
    node.step(vote_msg(MT.VOTE, 5, 1, 1, CAMPAIGN_TRANSFER))
    assert node.term == 5 and node.raft.vote == 2


def _lease_cfg() -> Config:
    return Config(id=1, voters=(1, 2, 3), check_quorum=True, read_only_lease_based=True)


def test_lease_restarted_node_keeps_its_heartbeat_promise() -> None:
    # Restarted from a non-empty log: it may have acknowledged a lease heartbeat just
    # before going down, so for election_tick ticks it ignores votes and refuses campaign.
    node = RawNode(_lease_cfg(), storage_with("1/1", "2/2", term=2))
    assert node.raft.in_lease()
    node.step(vote_msg(MT.VOTE, 3, 2, 2))
    node.step(vote_msg(MT.PRE_VOTE, 3, 2, 2))
    assert node.term == 2 and not node.ready().messages
    node.campaign()
    assert node.role == StateRole.FOLLOWER and node.term == 2
    # A leader transfer is not blocked (the old leader's lease ends when it asks).
    node.step(vote_msg(MT.VOTE, 3, 2, 2, CAMPAIGN_TRANSFER))
    assert node.term == 3 and node.raft.vote == 2
    # Without lease reads nothing changes at restart.
    plain = RawNode(Config(id=1, voters=(1, 2, 3), check_quorum=True),
                    storage_with("1/1", "2/2", term=2))
    plain.step(vote_msg(MT.VOTE, 3, 2, 2))
    assert plain.term == 3 and plain.raft.vote == 2


def test_lease_boot_promise_ends_after_election_tick() -> None:
    node = RawNode(_lease_cfg(), storage_with("1/1", "2/2", term=2))
    for _ in range(node.raft.cfg.election_tick):
        node.tick()
    assert not node.raft.in_lease()
    node.step(vote_msg(MT.VOTE, 3, 2, 2))
    assert node.term == 3 and node.raft.vote == 2
    # A brand-new node never acknowledged anything: no boot promise, campaign at once.
    fresh = RawNode(_lease_cfg(), MemoryStorage())
    assert not fresh.raft.in_lease()
    fresh.campaign()
    assert fresh.role == StateRole.PRE_CANDIDATE
    # A sole voter restarted from its log has no lease to protect: it leads at once.
    alone = RawNode(Config(id=1, voters=(1,), check_quorum=True, read_only_lease_based=True),
                    storage_with("1/1", "2/2", term=2, voters=(1,)))
    alone.campaign()
    assert alone.role == StateRole.LEADER and alone.term == 3


def test_lease_follower_in_lease_refuses_forced_campaign() -> None:
    node = RawNode(_lease_cfg(), MemoryStorage())
    node.ready()
    node.step(Message(type=MT.HEARTBEAT, to=1, from_=2, term=2))
    node.ready()
    node.campaign()  # its own vote would help depose a leader whose lease it backs
    assert node.role == StateRole.FOLLOWER and node.leader_id == 2
    assert all(m.type == MT.HEARTBEAT_RESP for m in node.ready().messages)
    # Its own election timeout (at most 2 * election_tick) still starts a campaign.
    for _ in range(2 * node.raft.cfg.election_tick):
        node.tick()
    assert node.role == StateRole.PRE_CANDIDATE


def test_learner_and_removed_nodes_never_campaign() -> None:
    node = RawNode(Config(id=3, voters=(1, 2), learners=(3,)), MemoryStorage())
    for _ in range(100):
        node.tick()
    node.campaign()
    assert node.role == StateRole.FOLLOWER and node.term == 1


# --- planted bugs must bite ------------------------------------------------------------------


def test_figure8_scenario_catches_commit_any_term() -> None:
    text = (SCENARIOS / "figure8_old_term_commit.txt").read_text()
    run_script(text)  # passes without the bug
    with pytest.raises(AssertionError, match="commit"):
        run_script(text.replace("max-size=1", "max-size=1 bugs=commit-any-term"))


def test_read_index_scenario_catches_stale_read_index() -> None:
    text = (SCENARIOS / "read_index_leader_change.txt").read_text()
    with pytest.raises(AssertionError, match="reads of node 1"):
        run_script(text.replace("add-nodes 3", "add-nodes 3 bugs=stale-read-index"))


def test_bugs_default_off_and_unknown_rejected() -> None:
    assert Config(id=1, voters=(1,)).test_bugs == frozenset()
    with pytest.raises(ValueError):
        RawNode(Config(id=1, voters=(1,), test_bugs=frozenset({"nope"})), MemoryStorage())


# --- API edges --------------------------------------------------------------------------------


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="check_quorum"):
        Config(id=1, voters=(1,), read_only_lease_based=True, check_quorum=False).validate()
    with pytest.raises(ValueError):
        Config(id=1, voters=(1,), election_tick=1, heartbeat_tick=1).validate()


def test_wire_round_trip() -> None:
    cc = ConfChange(ConfChangeType.ADD_LEARNER, 7, b"ctx")
    assert decode_conf_change(encode_conf_change(cc)) == cc
    m = Message(type=MT.APPEND, to=2, from_=1, term=3, entries=tuple(ents("4/3")), commit=2)
    enc = msgspec.msgpack.encode(m)
    assert msgspec.msgpack.decode(enc, type=Message) == m


def test_step_rejects_misaddressed_message_and_empty_read_ctx() -> None:
    node = RawNode(Config(id=1, voters=(1, 2, 3)), MemoryStorage())
    with pytest.raises(ValueError):
        node.step(Message(type=MT.HEARTBEAT, to=2, from_=3, term=1))
    with pytest.raises(ValueError):
        node.read_index(b"")


def test_conf_change_rules() -> None:
    h = leader_of_three()
    raw = h.nodes[1].node()
    with pytest.raises(ProposalDroppedError):
        h.nodes[2].node().propose_conf_change(ConfChange(ConfChangeType.ADD_NODE, 4))
    raw.propose_conf_change(ConfChange(ConfChangeType.REMOVE_NODE, 3))
    with pytest.raises(ProposalDroppedError):
        raw.propose_conf_change(ConfChange(ConfChangeType.REMOVE_NODE, 2))
    h.stabilize()
    raw.propose_conf_change(ConfChange(ConfChangeType.REMOVE_NODE, 2))
    h.stabilize()
    with pytest.raises(ValueError, match="all voters"):
        raw.propose_conf_change(ConfChange(ConfChangeType.REMOVE_NODE, 1))


def test_status_reports_progress_on_leader_only() -> None:
    h = leader_of_three()
    s = h.nodes[1].node().status()
    assert s.role == StateRole.LEADER and s.leader == 1
    assert s.progress == {1: (4, 5), 2: (4, 5), 3: (4, 5)}
    assert h.nodes[2].node().status().progress == {}


def test_random_message_loss_keeps_logs_consistent() -> None:
    """A small fuzz: random drops and ticks never make committed prefixes diverge."""
    rng = random.Random(5)
    h = leader_of_three()
    for step in range(400):
        r = rng.random()
        live = [n for n in h.nodes.values() if n.raw is not None]
        if r < 0.3:
            for n in live:
                n.node().tick()
        elif r < 0.5:
            lead = [n for n in live if n.node().role == StateRole.LEADER]
            if lead:
                lead[0].node().propose(b"w%d" % step)
        elif r < 0.6 and h.net:
            h.net.pop(rng.randrange(len(h.net)))
        h.process_ready()
        h.deliver({})
    h.stabilize()
    states = [tuple(d for _, d in n.sm) for n in h.nodes.values()]
    shortest = min(len(s) for s in states)
    assert all(s[:shortest] == states[0][:shortest] for s in states)
    assert shortest > 0


def test_entries_to_send_agrees_with_entries_from() -> None:
    from gofish.raft.log import entries_size

    rng = random.Random(11)
    st = MemoryStorage()
    st.append([Entry(term=1, index=i, data=b"s" * rng.randrange(30)) for i in range(1, 8)])
    log = RaftLog(st)
    for _ in range(8, 15):
        log.append_new(2, EntryType.NORMAL, b"u" * rng.randrange(30))
    assert log.last_index() == 14 and log.unstable.offset == 8
    for lo in range(1, 17):
        for cap in (None, 1, 40, 100, 10_000):
            ents, size = log.entries_to_send(lo, cap)
            assert ents == log.entries_from(lo, cap)
            assert size == entries_size(ents)


# --- requests forwarded by followers -------------------------------------------------------


def _forward(h: Harness, frm: int, cc: ConfChange) -> None:
    data = encode_conf_change(cc)
    h.nodes[1].node().step(Message(type=MT.PROPOSE, to=1, from_=frm, term=0,
                                   entries=(Entry(0, 0, EntryType.CONF_CHANGE, data),)))


def test_forwarded_conf_change_is_appended_once_none_is_pending() -> None:
    h = leader_of_three()
    raw = h.nodes[1].node()
    _forward(h, 2, ConfChange(ConfChangeType.ADD_LEARNER, 4))
    first = raw.last_index
    assert raw.raft.pending_conf_index == first
    # A second change while the first is unapplied is dropped, as for a local proposal.
    _forward(h, 3, ConfChange(ConfChangeType.REMOVE_NODE, 3))
    assert raw.last_index == first
    h.stabilize()
    assert raw.raft.conf_state().learners == (4,)
    # Once applied, the next forwarded change goes in; one leaving no voter never does.
    _forward(h, 2, ConfChange(ConfChangeType.REMOVE_NODE, 3))
    h.stabilize()
    assert raw.raft.conf_state().voters == (1, 2)
    raw.apply_conf_change(ConfChange(ConfChangeType.REMOVE_NODE, 2))  # leave voter 1 only
    before = raw.last_index
    _forward(h, 2, ConfChange(ConfChangeType.REMOVE_NODE, 1))
    assert raw.last_index == before


def test_read_quorum_context_skips_the_lease() -> None:
    h = run_script("add-nodes 3 lease=true\ncampaign 1\nstabilize\nexpect leader=1\n")
    leader = h.nodes[1].node()
    for _ in range(3):  # heartbeats acknowledged: the lease holds
        leader.tick()
        h.stabilize()
    leader.read_index(b"lease")
    assert [rs.request_ctx for rs in leader.raft.read_states] == [b"lease"]  # at once
    leader.raft.read_states.clear()
    leader.read_index(READ_QUORUM + b"1")
    assert not leader.raft.read_states  # waits for a heartbeat round
    assert any(m.type == MT.HEARTBEAT for m in leader.raft.msgs)
