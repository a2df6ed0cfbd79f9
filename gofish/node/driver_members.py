"""Membership operations of the Raft driver (split from driver.py to keep files small).

Functions over a `RaftDriver`: proposing member changes (here or forwarded to the leader),
leadership transfer, applying a committed conf change (membership, address book, peer
transport, this node's own removal) and promoting caught-up learners. Rules in
`gofish.node.membership` and `gofish.node.driver`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from gofish.errors import LOADING
from gofish.node.driver_types import CLUSTERDOWN, NodeRemovedError, settle
from gofish.node.membership import PROMOTE_LAG, MemberInfo, decode_member, encode_member
from gofish.raft import (
    ConfChange,
    ConfChangeType,
    Entry,
    EntryType,
    Message,
    MessageType,
    ProposalDroppedError,
    StateRole,
    decode_conf_change,
    encode_conf_change,
)
from gofish.reply import OK, ErrorReply

if TYPE_CHECKING:
    from gofish.node.driver import RaftDriver

log = logging.getLogger(__name__)


def _answered(d: RaftDriver, reply: Any) -> asyncio.Future[Any]:
    fut: asyncio.Future[Any] = (d._loop or asyncio.get_running_loop()).create_future()
    fut.set_result(reply)
    return fut


def _not_running(d: RaftDriver) -> ErrorReply | None:
    if d._rn is None:
        return ErrorReply(LOADING)
    return ErrorReply(CLUSTERDOWN) if d._closed else None


def _member_change_refused(d: RaftDriver, kind: ConfChangeType, node: int) -> ErrorReply | None:
    assert d._rn is not None
    cs = d._rn.raft.conf_state()
    members = cs.voters + cs.learners
    if kind == ConfChangeType.REMOVE_NODE:
        if node not in members:
            return ErrorReply(b"ERR node %d is not a member" % node)
        if cs.voters == (node,):
            return ErrorReply(b"ERR cannot remove the last voter")
        return None
    if node in members:
        return ErrorReply(b"ERR node %d is already a member" % node)
    if d.transport is None:
        return ErrorReply(b"ERR this node has no peer transport: start it with "
                          b"--peer-port and --cluster-secret-file to add members")
    return None


def change_member(
    d: RaftDriver, kind: ConfChangeType, node: int, addr: str = ""
) -> asyncio.Future[Any]:
    """Propose a membership change; the future resolves with +OK once it is applied
    here, or an error reply. ADD_LEARNER with an address: the leader promotes it once
    caught up."""
    refused = _not_running(d) or _member_change_refused(d, kind, node)
    if refused is not None:
        return _answered(d, refused)
    nonce = os.urandom(8)
    info = MemberInfo(addr, kind == ConfChangeType.ADD_LEARNER, nonce)
    err = propose_conf(d, ConfChange(kind, node, encode_member(info)))
    if err is not None:
        return _answered(d, err)
    fut: asyncio.Future[Any] = (d._loop or asyncio.get_running_loop()).create_future()
    d._conf_waiters[nonce] = (fut, d.now() + d.settings.proposal_timeout)
    return fut


def propose_conf(d: RaftDriver, cc: ConfChange) -> ErrorReply | None:
    rn = d._rn
    assert rn is not None
    raft = rn.raft
    if raft.role == StateRole.LEADER:
        try:
            rn.propose_conf_change(cc)
        except ProposalDroppedError:
            return ErrorReply(b"TRYAGAIN another membership change is in progress")
        except ValueError as exc:
            return ErrorReply(b"ERR " + str(exc).encode())
        d._schedule()
        return None
    lead = raft.lead
    if not lead or d.transport is None or not d.transport.is_connected(lead):
        return ErrorReply(CLUSTERDOWN)
    data = encode_conf_change(cc)
    d.transport.send([Message(type=MessageType.PROPOSE, to=lead, from_=d.id, term=0,
                              entries=(Entry(0, 0, EntryType.CONF_CHANGE, data),))])
    return None


def transfer_leader(d: RaftDriver, to: int) -> asyncio.Future[Any]:
    """Hand leadership to voter ``to``; resolves +OK once it leads (as seen here)."""
    refused = _not_running(d)
    if refused is not None:
        return _answered(d, refused)
    rn = d._rn
    assert rn is not None
    if to not in rn.raft.trk.voters:
        return _answered(d, ErrorReply(b"ERR node %d is not a voter" % to))
    if rn.leader_id == to:
        return _answered(d, OK)
    if not rn.leader_id:
        return _answered(d, ErrorReply(CLUSTERDOWN))
    rn.transfer_leader(to)
    d._schedule()
    fut: asyncio.Future[Any] = (d._loop or asyncio.get_running_loop()).create_future()
    d._transfer_waiters.append((to, fut, d.now() + d.settings.proposal_timeout))
    return fut


def apply_conf_change(d: RaftDriver, e: Entry) -> None:
    rn, st = d._rn, d._log
    assert rn is not None and st is not None
    cc = decode_conf_change(e.data)
    removed = cc.node_id if cc.type == ConfChangeType.REMOVE_NODE else 0
    farewell = _farewell(d, removed, e.index) if removed and removed != d.id else None
    cs = rn.apply_conf_change(cc)
    d._refresh_sole_leader()  # at once: a second voter means reads need a read point
    d.book.fold(cc)
    tr = d.transport
    if tr is not None and cc.node_id != d.id:
        addr = d.book.addr(cc.node_id)
        if removed:
            _tell_removed(d, removed, farewell)
        elif addr is not None:
            tr.add_peer(cc.node_id, addr)
    st.save(conf_state=cs, members=d.book.records())
    log.info("membership change applied: %s node %d → voters %s, learners %s",
             cc.type.name.lower(), cc.node_id, list(cs.voters), list(cs.learners))
    nonce = decode_member(cc.context).nonce
    w = d._conf_waiters.pop(nonce, None) if nonce else None
    if w is not None:
        settle(w[0], OK)
    if cc.type == ConfChangeType.REMOVE_NODE and cc.node_id == d.id:
        d.removed = True
        log.warning("this node (%d) was removed from the cluster: it stops serving",
                    d.id)
        assert d._loop is not None
        # Keep talking a moment so the others learn the commit; then stop.
        d._loop.call_later(d.settings.tick_interval * d.settings.election_tick,
                              d._fail, NodeRemovedError(f"node {d.id} was removed"))


def _farewell(d: RaftDriver, node: int, index: int) -> Message | None:
    """Leader: an APPEND that brings ``node`` up to its own removal at ``index`` and commits
    it, built before Raft forgets the node's progress. Without it a removed node that had not
    yet learned the commit would never apply its removal and would linger."""
    rn = d._rn
    assert rn is not None
    raft = rn.raft
    pr = raft.trk.progress.get(node) if d.is_leader else None
    if pr is None or pr.match == 0:
        return None
    try:
        prev_term = raft.log.term(pr.match)
        ents = raft.log.slice(pr.match + 1, index + 1)
    except Exception:  # compacted or unavailable: the node needs a snapshot; give up
        return None
    return Message(type=MessageType.APPEND, to=node, from_=d.id, term=raft.term,
                   log_term=prev_term, index=pr.match, entries=tuple(ents), commit=index)


def _tell_removed(d: RaftDriver, node: int, farewell: Message | None) -> None:
    """Stop talking to a removed member: send the farewell (see `_farewell`) and drop the
    link only after a grace period, so the message goes out."""
    tr, loop = d.transport, d._loop
    assert tr is not None and loop is not None
    if farewell is not None:
        tr.send([farewell])
        loop.call_later(d.settings.tick_interval * d.settings.election_tick,
                        _drop_if_still_removed, d, node)
    else:
        tr.remove_peer(node)


def _drop_if_still_removed(d: RaftDriver, node: int) -> None:
    cs = d.members
    if d.transport is not None and node not in cs.voters + cs.learners:  # not re-added since
        d.transport.remove_peer(node)


def promote_caught_up(d: RaftDriver) -> None:
    """Leader: propose the first learner flagged for promotion that has caught up."""
    rn = d._rn
    assert rn is not None
    raft = rn.raft
    if raft.pending_conf_index > raft.log.applied or raft.lead_transferee:
        return
    last = raft.log.last_index()
    for n in sorted(raft.trk.learners):
        info = d.book.members.get(n)
        pr = raft.trk.progress.get(n)
        if info is None or not info.promote or pr is None:
            continue
        if pr.match > 0 and pr.match + PROMOTE_LAG >= last:
            log.info("learner %d caught up (match %d of %d): promoting it", n, pr.match,
                     last)
            propose_conf(d, ConfChange(ConfChangeType.ADD_NODE, n,
                                          encode_member(MemberInfo(info.addr))))
            return


def peers(d: RaftDriver) -> list[tuple[int, str, str, int, int, bool]]:
    """Every other member: (id, address, voter|learner, match, lag, connected). Match
    and lag are known on the leader only (0 elsewhere)."""
    cs = d.members
    rn = d._rn
    progress = rn.raft.trk.progress if rn is not None and d.is_leader else {}
    last = d.last_index()
    out = []
    for n in sorted(set(cs.voters) | set(cs.learners)):
        if n == d.id:
            continue
        info = d.book.members.get(n, MemberInfo())
        pr = progress.get(n)
        match = pr.match if pr is not None else 0
        lag = last - match if pr is not None else 0
        up = d.transport is not None and d.transport.is_connected(n)
        out.append((n, info.addr, "voter" if n in cs.voters else "learner", match, lag, up))
    return out

