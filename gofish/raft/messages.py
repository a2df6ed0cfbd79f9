"""Raft's wire messages and the small records a `RawNode` hands to its driver.

Message field use per type (``index``/``log_term`` mean different things per type, as in
etcd raft):

=================  ==========================================================================
APPEND             ``index``/``log_term``: the entry preceding ``entries``; ``commit``: the
                   leader's commit index.
APPEND_RESP        accepted: ``index`` = last index now matching the leader.  Rejected
                   (``reject=True``): ``index`` = the rejected APPEND's ``index``,
                   ``reject_hint``/``log_term`` = the follower's guess of the last index that
                   may match, with its term (fast backtracking).
VOTE, PRE_VOTE     ``index``/``log_term``: the candidate's last entry; ``term``: the term
                   campaigned for (for PRE_VOTE one more than the sender's term);
                   ``context == CAMPAIGN_TRANSFER`` marks a leader-transfer election that
                   overrides the receivers' leader lease.
*_RESP of votes    ``reject`` tells the answer; a granted answer carries the requested term.
HEARTBEAT          ``commit``: min(follower's match, leader commit); ``context``: the newest
                   pending ReadIndex context; ``index``: the leader's tick counter when sent
                   (echoed by the response, used for the leader lease).
HEARTBEAT_RESP     ``context`` and ``index`` echoed from the heartbeat.
SNAPSHOT           ``snapshot``.
TIMEOUT_NOW        the receiver campaigns at once (leader transfer).
READ_INDEX         ``context``: the request id (non-empty); sent with ``term == 0``.
READ_INDEX_RESP    ``index``: the read index for ``context``.
PROPOSE            ``entries`` forwarded to the leader; sent with ``term == 0``.
TRANSFER_LEADER    ``index``: the transferee; forwarded to the leader with ``term == 0``.
=================  ==========================================================================
"""

from __future__ import annotations

import enum

import msgspec

from gofish.raft.types import Entry, Snapshot

#: ``Message.context`` of a VOTE sent in a leader-transfer election.
CAMPAIGN_TRANSFER = b"CampaignTransfer"

#: A `RawNode.read_index` context starting with these bytes is always confirmed by a
#: heartbeat round, even where ``read_only_lease_based`` would answer from the lease: one
#: node can then serve both lease and quorum reads, chosen per request.
READ_QUORUM = b"\x00Q"


class ProposalDroppedError(Exception):
    """The proposal (or conf change) was not appended: this node is not the leader, a
    leadership transfer is in progress, or another conf change is still pending."""


class StateRole(enum.IntEnum):
    FOLLOWER = 0
    PRE_CANDIDATE = 1
    CANDIDATE = 2
    LEADER = 3


class MessageType(enum.IntEnum):
    APPEND = 0
    APPEND_RESP = 1
    VOTE = 2
    VOTE_RESP = 3
    PRE_VOTE = 4
    PRE_VOTE_RESP = 5
    HEARTBEAT = 6
    HEARTBEAT_RESP = 7
    SNAPSHOT = 8
    TIMEOUT_NOW = 9
    READ_INDEX = 10
    READ_INDEX_RESP = 11
    PROPOSE = 12
    TRANSFER_LEADER = 13


#: Message types a leader/candidate answers; used to tell requests from responses.
RESPONSE_TYPES = frozenset(
    {
        MessageType.APPEND_RESP,
        MessageType.VOTE_RESP,
        MessageType.PRE_VOTE_RESP,
        MessageType.HEARTBEAT_RESP,
        MessageType.READ_INDEX_RESP,
    }
)


class Message(msgspec.Struct, array_like=True, frozen=True):
    """One Raft message between peers (see the module docstring for per-type fields)."""

    type: MessageType
    to: int
    from_: int
    term: int
    log_term: int = 0
    index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    snapshot: Snapshot | None = None
    context: bytes = b""


class ConfChangeType(enum.IntEnum):
    ADD_NODE = 0
    ADD_LEARNER = 1
    REMOVE_NODE = 2


class ConfChange(msgspec.Struct, array_like=True, frozen=True):
    """A single-server membership change, carried in a CONF_CHANGE entry's data."""

    type: ConfChangeType
    node_id: int
    context: bytes = b""


_CC_ENCODER = msgspec.msgpack.Encoder()
_CC_DECODER = msgspec.msgpack.Decoder(ConfChange)


def encode_conf_change(cc: ConfChange) -> bytes:
    return _CC_ENCODER.encode(cc)


def decode_conf_change(data: bytes) -> ConfChange:
    """Raises `msgspec.DecodeError` / `msgspec.ValidationError` on malformed data."""
    return _CC_DECODER.decode(data)


class ReadState(msgspec.Struct, frozen=True):
    """A linearizable read may be served once the state machine has applied ``index``."""

    index: int
    request_ctx: bytes


class SoftState(msgspec.Struct, frozen=True):
    """Volatile state worth reporting; never persisted."""

    leader: int
    role: StateRole
