"""Request bookkeeping of the Raft driver (split from driver.py to keep files small).

Functions over a `RaftDriver`: forwarding the batch of proposals to the leader, submitting
again what waits for a leader or was not answered, expiring what waited too long, and
failing everything when the driver stops. Rules in `gofish.node.driver`.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

from gofish.node.driver_types import CLUSTERDOWN, UNCONFIRMED, settle
from gofish.raft import Message, MessageType
from gofish.reply import ErrorReply

if TYPE_CHECKING:
    from gofish.node.driver import RaftDriver


def flush_forward(d: RaftDriver) -> None:
    ents, d._forward = d._forward, []
    rn = d._rn
    if not ents or rn is None or d.transport is None:
        return
    lead = rn.raft.lead
    if lead and lead != d.id:
        d.transport.send([Message(type=MessageType.PROPOSE, to=lead, from_=d.id, term=0,
                                     entries=tuple(ents))])
    # else: the leader went away in between; the proposals are resent to the next one


def flush_awaiting(d: RaftDriver) -> None:
    awaiting, d._awaiting = d._awaiting, collections.deque()
    for p in awaiting:
        if p.future.done():
            continue
        if d._submit(p):
            p.deadline = d.now() + d.settings.proposal_timeout
            d._pending[(p.cmd.client, p.cmd.seq)] = p
        else:
            d._awaiting.append(p)


def resubmit(d: RaftDriver) -> None:
    """Send every unanswered proposal again (to a new leader, or over a link that came
    back): Raft may have dropped it; the state machine applies a request once."""
    rn = d._rn
    assert rn is not None
    log_ = rn.raft.log
    leading = d.is_leader
    for p in list(d._pending.values()):
        if p.future.done() or p.index < 0:  # index -1: in this turn's batch, not sent yet
            continue
        if leading and p.index:
            try:
                if log_.term(p.index) == p.term:
                    continue  # still in our log: it commits with our term's first entry
            except Exception:
                pass
        if d._submit(p):
            d._resent += 1
    flush_awaiting(d)


def expire(d: RaftDriver, now: float) -> None:
    """Fail what waited too long (checked once a tick, oldest first). Proposals already sent
    fail with UNCONFIRMED at their deadline, or sooner once no leader has been reachable for
    ``leader_wait``: they may still be applied, but this node cannot tell."""
    pending = d._pending
    rn = d._rn
    assert rn is not None
    lead = rn.raft.lead
    if d.is_leader or (lead and d.transport is not None and d.transport.is_connected(lead)):
        d._cut_off_since = 0.0
    elif not d._cut_off_since:
        d._cut_off_since = now
    elif pending and now - d._cut_off_since >= d.settings.leader_wait:
        for p in pending.values():
            settle(p.future, ErrorReply(UNCONFIRMED))
        pending.clear()
    while pending:
        key = next(iter(pending))
        p = pending[key]
        if p.deadline > now and not p.future.done():
            break
        del pending[key]
        settle(p.future, ErrorReply(UNCONFIRMED))
    if d._awaiting:
        flush_awaiting(d)  # a leader may be reachable now
        awaiting = d._awaiting
        while awaiting and awaiting[0].deadline <= now:
            settle(awaiting.popleft().future, ErrorReply(CLUSTERDOWN))
    if len(d._local) > 4 * len(pending) + 1024:
        applied = d.applied_index
        d._local = {i: p for i, p in d._local.items() if i > applied}
    d.reads.expire(now)
    if d._conf_waiters:
        for nonce, (fut, deadline) in list(d._conf_waiters.items()):
            if deadline <= now or fut.done():
                del d._conf_waiters[nonce]
                settle(fut, ErrorReply(UNCONFIRMED))
    if d._transfer_waiters:
        keep = []
        for to, fut, deadline in d._transfer_waiters:
            if deadline <= now:
                settle(fut, ErrorReply(b"ERR leadership transfer to node %d did not "
                                       b"complete in time" % to))
            else:
                keep.append((to, fut, deadline))
        d._transfer_waiters = keep


def fail_waiting(d: RaftDriver, reply: ErrorReply) -> None:
    pending, d._pending = d._pending, {}
    for p in pending.values():
        settle(p.future, reply)
    d._local.clear()
    d._batch.clear()
    awaiting, d._awaiting = d._awaiting, collections.deque()
    for p in awaiting:
        settle(p.future, ErrorReply(CLUSTERDOWN))
    d.reads.fail_all()
    for fut, _ in d._conf_waiters.values():
        settle(fut, reply)
    d._conf_waiters.clear()
    for _, fut, _ in d._transfer_waiters:
        settle(fut, reply)
    d._transfer_waiters.clear()
    waiters, d._applied_waiters = d._applied_waiters, []
    for _, fut in waiters:
        if not fut.done():
            fut.cancel()
