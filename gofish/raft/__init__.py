"""gofish's Raft consensus core: pure, sans-IO, in the style of etcd raft.

Drive a `RawNode` with ticks, peer messages and proposals; take a `Ready`, persist, send,
apply (in that order, see `Ready`), then `RawNode.advance`. Nothing here does I/O.
"""

from gofish.raft.config import Config
from gofish.raft.messages import (
    CAMPAIGN_TRANSFER,
    READ_QUORUM,
    ConfChange,
    ConfChangeType,
    Message,
    MessageType,
    ProposalDroppedError,
    ReadState,
    SoftState,
    StateRole,
    decode_conf_change,
    encode_conf_change,
)
from gofish.raft.rawnode import RawNode, Ready, Status
from gofish.raft.storage import (
    CompactedError,
    SnapshotTemporarilyUnavailableError,
    Storage,
    StorageError,
    UnavailableError,
)
from gofish.raft.types import (
    ConfState,
    Entry,
    EntryType,
    HardState,
    Snapshot,
    SnapshotMetadata,
)

__all__ = [
    "CAMPAIGN_TRANSFER",
    "READ_QUORUM",
    "CompactedError",
    "Config",
    "ConfChange",
    "ConfChangeType",
    "ConfState",
    "Entry",
    "EntryType",
    "HardState",
    "Message",
    "MessageType",
    "ProposalDroppedError",
    "RawNode",
    "ReadState",
    "Ready",
    "Snapshot",
    "SnapshotMetadata",
    "SnapshotTemporarilyUnavailableError",
    "SoftState",
    "StateRole",
    "Status",
    "Storage",
    "StorageError",
    "UnavailableError",
    "decode_conf_change",
    "encode_conf_change",
]
