"""Checkpoints of the state machine: files, manifest, and the directories holding them.

Pure of the event loop (synchronous file I/O; the node runs it in worker threads). See
``docs/adr/0010-checkpoints.md`` for the format and `gofish.snapshot.store` for the rules.
"""

from gofish.snapshot.codec import (
    CheckpointCapture,
    PartitionSnapshot,
    capture_partition,
    partitions_touched,
)
from gofish.snapshot.manifest import (
    CheckpointError,
    CorruptCheckpoint,
    FileInfo,
    IncompatibleCheckpoint,
    Manifest,
)
from gofish.snapshot.store import (
    CheckpointWriter,
    checkpoint_path,
    checkpoints_dir,
    fsync_dir,
    list_checkpoints,
    load_checkpoint,
    load_latest,
    pack_checkpoint,
    prune_checkpoints,
    unpack_checkpoint,
    verify_checkpoint,
    write_checkpoint,
)

__all__ = [
    "CheckpointCapture",
    "CheckpointError",
    "CheckpointWriter",
    "CorruptCheckpoint",
    "FileInfo",
    "IncompatibleCheckpoint",
    "Manifest",
    "PartitionSnapshot",
    "capture_partition",
    "checkpoint_path",
    "checkpoints_dir",
    "fsync_dir",
    "list_checkpoints",
    "load_checkpoint",
    "load_latest",
    "pack_checkpoint",
    "partitions_touched",
    "prune_checkpoints",
    "unpack_checkpoint",
    "verify_checkpoint",
    "write_checkpoint",
]
