"""The leader's side of Raft: replication, commitment, heartbeats, reads, transfers.

Functions over a `Raft` in the leader role (split from raft.py to keep files small).
Replication per follower follows its `Progress` state (see progress.py); an index commits
only when a quorum of voters has it and it is of the leader's term (unless the test bug
``commit-any-term`` is planted). The leader counts its own log only once persisted.

Proposals are batched: `Raft.propose` (and a forwarded PROPOSE) only appends to the log and
sets ``Raft.append_pending``; `flush_appends` (run by `RawNode.ready`) then sends every
follower the new entries in as few APPENDs as ``max_size_per_msg`` and its flow control
allow. So N proposals between two Readys cost one APPEND per follower, not N.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from gofish.raft.messages import (
    READ_QUORUM,
    ConfChangeType,
    Message,
    ReadState,
    StateRole,
    decode_conf_change,
)
from gofish.raft.messages import MessageType as MT
from gofish.raft.progress import Progress, ProgressState
from gofish.raft.storage import CompactedError, SnapshotTemporarilyUnavailableError
from gofish.raft.types import Entry, EntryType

# Enum members bound to module names: looking a member up on its Enum class costs
# ~100 ns in Python 3.11, and the per-message paths do it many times.
_APPEND = MT.APPEND
_APPEND_RESP = MT.APPEND_RESP
_HEARTBEAT = MT.HEARTBEAT
_HEARTBEAT_RESP = MT.HEARTBEAT_RESP
_LEADER = StateRole.LEADER
_NORMAL = EntryType.NORMAL
_PROPOSE = MT.PROPOSE
_PR_PROBE = ProgressState.PROBE
_PR_REPLICATE = ProgressState.REPLICATE
_PR_SNAPSHOT = ProgressState.SNAPSHOT
_READ_INDEX = MT.READ_INDEX
_READ_INDEX_RESP = MT.READ_INDEX_RESP
_SNAPSHOT = MT.SNAPSHOT
_TIMEOUT_NOW = MT.TIMEOUT_NOW
_TRANSFER_LEADER = MT.TRANSFER_LEADER

if TYPE_CHECKING:
    from gofish.raft.raft import Raft


def step_leader(r: Raft, m: Message) -> None:
    if m.type == _PROPOSE:
        if r.lead_transferee == 0 and r.id in r.trk.progress:
            ents = m.entries
            if all(e.type == _NORMAL for e in ents):
                append_entries(r, list(ents))
            else:  # a forwarded conf change: checked like a local one
                for e in ents:
                    if e.type == _NORMAL:
                        append_entries(r, [e])
                    elif forwarded_conf_change_ok(r, e.data):
                        r.pending_conf_index = append_entries(r, [e])
            r.append_pending = True
        return
    if m.type == _READ_INDEX:
        if m.context:
            read_index_from(r, m.context, m.from_)
        return
    if m.type == _TRANSFER_LEADER:
        r.transfer_leader(m.index)
        return
    pr = r.trk.progress.get(m.from_)
    if pr is None:
        return
    if m.type == _APPEND_RESP:
        handle_append_resp(r, m, pr)
    elif m.type == _HEARTBEAT_RESP:
        handle_heartbeat_resp(r, m, pr)


def handle_append_resp(r: Raft, m: Message, pr: Progress) -> None:
    pr.recent_active = True
    if m.reject:
        probe = m.reject_hint
        if m.log_term > 0:
            probe, _ = r.log.find_conflict_by_term(m.reject_hint, m.log_term)
        if pr.maybe_decr_to(m.index, probe):
            if pr.state == _PR_REPLICATE:
                pr.become_probe()
            send_append(r, m.from_)
        return
    old_paused = pr.is_paused()
    if not pr.maybe_update(m.index):
        return
    if pr.state == _PR_PROBE:
        pr.become_replicate()
    elif pr.state == _PR_SNAPSHOT and pr.match + 1 >= r.log.first_index():
        pr.become_probe()
        pr.become_replicate()
    elif pr.state == _PR_REPLICATE:
        pr.inflights.free_le(m.index)
    if maybe_commit(r):
        r.commit_pending = r.append_pending = True  # told by `flush_appends`, batched
    elif old_paused:
        send_append(r, m.from_)
    while maybe_send_append(r, m.from_, send_if_empty=False):
        pass
    if m.from_ == r.lead_transferee and pr.match == r.log.last_index():
        send_timeout_now(r, m.from_)


def handle_heartbeat_resp(r: Raft, m: Message, pr: Progress) -> None:
    pr.recent_active = True
    pr.paused = False
    pr.lease_acked = max(pr.lease_acked, m.index)
    if pr.state == _PR_REPLICATE and pr.inflights.full():
        # An APPEND in the window may have been lost: free one slot so that streaming
        # resumes (a rejection then rewinds ``next`` to the follower's log).
        pr.inflights.free_first()
    if pr.match < r.log.last_index():
        send_append(r, m.from_)
    if not m.context:
        return
    acks = r.read_only.recv_ack(m.from_, m.context)
    if acks is None or sum(1 for v in r.trk.voters if v in acks) < r.trk.quorum():
        return
    for req in r.read_only.advance(m.context):
        answer_read(r, req.ctx, req.index, req.origin)


def maybe_commit(r: Raft) -> bool:
    """Advance the commit index to what a quorum has; True if it moved."""
    mci = r.trk.committed()
    if "commit-any-term" in r.bugs:
        moved = mci > r.log.committed
        if moved:
            r.log.commit_to(mci)
    else:
        moved = r.log.maybe_commit(mci, r.term)
    if moved and r.pending_reads and r.committed_in_current_term():
        pending, r.pending_reads = r.pending_reads, []
        for ctx, origin in pending:
            read_index_from(r, ctx, origin)
    return moved


def on_persisted(r: Raft) -> None:
    """The driver persisted entries (called from advance): the leader counts itself."""
    if r.role != _LEADER:
        return
    me = r.trk.progress.get(r.id)
    if me is not None and me.maybe_update(r.log.stable_last_index()) and (maybe_commit(r)):
        r.commit_pending = r.append_pending = True  # told by `flush_appends`, batched


def append_entries(r: Raft, ents: list[Entry]) -> int:
    li = r.log.last_index()
    term = r.term
    ents = [Entry(term, li + 1 + i, e.type, e.data) for i, e in enumerate(ents)]
    return r.log.append(ents)


def bcast_append(r: Raft) -> None:
    for n in r.trk.sorted_ids():
        if n != r.id:
            send_append(r, n)


def flush_appends(r: Raft) -> None:
    """Send the entries appended since the last flush (``r.append_pending``) to every
    follower whose flow control has room: as many APPENDs as ``max_size_per_msg`` and the
    inflight window need. An APPEND carries the commit index: if the commit index moved
    since the last flush (``r.commit_pending``), a follower no APPEND has told it yet (now
    or since it moved) gets an empty one. So the commits and proposals of one loop turn
    cost each follower one APPEND (and one response), not one for the commit and one for
    the entries."""
    commit = r.commit_pending
    r.append_pending = r.commit_pending = False
    if r.role != _LEADER:
        return
    me, committed, progress = r.id, r.log.committed, r.trk.progress
    for n in r.trk.sorted_ids():
        if n != me:
            while maybe_send_append(r, n, send_if_empty=False):
                pass
            if commit and progress[n].sent_commit < committed:
                send_append(r, n)


def bcast_heartbeat(r: Raft) -> None:
    ctx = r.read_only.last_pending_ctx()
    for n in r.trk.sorted_ids():
        if n != r.id:
            pr = r.trk.progress[n]
            commit = min(pr.match, r.log.committed)
            r._send(_HEARTBEAT, n, commit=commit, context=ctx, index=r.ticks)


def send_append(r: Raft, to: int) -> None:
    maybe_send_append(r, to, send_if_empty=True)


def maybe_send_append(r: Raft, to: int, send_if_empty: bool) -> bool:
    pr = r.trk.progress[to]
    if pr.is_paused():
        return False
    prev = pr.next - 1
    try:
        prev_term = r.log.term(prev)
        ents, size = r.log.entries_to_send(pr.next, r.cfg.max_size_per_msg)
    except CompactedError:
        return send_snapshot(r, to, pr)
    if not ents and not send_if_empty:
        return False
    commit = r.log.committed
    r._send(_APPEND, to, index=prev, log_term=prev_term, entries=tuple(ents), commit=commit)
    pr.sent_entries(ents[-1].index if ents else None, size)
    pr.sent_commit = commit
    return True


def send_snapshot(r: Raft, to: int, pr: Progress) -> bool:
    if not pr.recent_active:
        return False
    try:
        snap = r.log.snapshot()
    except SnapshotTemporarilyUnavailableError:
        return False
    if snap.is_empty:
        raise RuntimeError("log compacted but storage has no snapshot")
    pr.become_snapshot(snap.metadata.index)
    r._send(_SNAPSHOT, to, snapshot=snap)
    return True


def send_timeout_now(r: Raft, to: int) -> None:
    r.timeout_now_sent = True
    r._send(_TIMEOUT_NOW, to)


def forwarded_conf_change_ok(r: Raft, data: bytes) -> bool:
    """May a CONF_CHANGE entry forwarded by a follower be appended? Only when no earlier
    change is still unapplied and it leaves at least one voter (the checks of
    `Raft.propose_conf_change`); otherwise it is dropped, as a follower's proposal may be."""
    if r.pending_conf_index > r.log.applied:
        return False
    try:
        cc = decode_conf_change(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False
    voters = set(r.trk.voters)
    if cc.type == ConfChangeType.ADD_NODE:
        voters.add(cc.node_id)
    else:
        voters.discard(cc.node_id)
    return bool(voters)


def read_index_from(r: Raft, ctx: bytes, origin: int) -> None:
    if "stale-read-index" in r.bugs:
        answer_read(r, ctx, r.log.committed, origin)
        return
    if not r.committed_in_current_term():
        r.pending_reads.append((ctx, origin))
        return
    index = r.log.committed
    if r.trk.voters <= {r.id} or (not ctx.startswith(READ_QUORUM) and lease_valid(r)):
        answer_read(r, ctx, index, origin)
        return
    r.read_only.add_request(ctx, index, origin)
    r.read_only.recv_ack(r.id, ctx)
    bcast_heartbeat(r)


def answer_read(r: Raft, ctx: bytes, index: int, origin: int) -> None:
    if origin == r.id:
        r.read_states.append(ReadState(index=index, request_ctx=ctx))
    else:
        r._send(_READ_INDEX_RESP, origin, index=index, context=ctx)


def lease_valid(r: Raft) -> bool:
    """Leader lease: a quorum acknowledged a heartbeat sent less than ``lease_ticks``
    ticks ago (by our tick counter), and no leader transfer was started this term."""
    if not r.cfg.read_only_lease_based or r.timeout_now_sent:
        return False
    acked = {n: pr.lease_acked for n, pr in r.trk.progress.items()}
    acked[r.id] = r.ticks
    q = r.trk.quorum_value(acked)
    return q >= 0 and r.ticks < q + r.cfg.effective_lease_ticks
