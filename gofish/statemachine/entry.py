"""The state machine's log entry: what a Raft entry's ``data`` holds.

Versioned msgpack (msgspec), no pickle. One entry is one client request: a single command, the
commands of one MULTI/EXEC, or a *pipeline group*: plain writes one client pipelined, applied
one after another in one entry, each with its own reply (``v`` = `GROUP_VERSION`, ``multi``
false, several ``argvs``). A group saves the per-entry costs (log record, Raft bookkeeping,
session check) for all but one of its commands. The client cannot tell it from separate
entries: Redis too runs all the commands of one read before it serves another client. A group
has its own version so a node that does not know groups stops on one instead of applying only
its first command.

The leader resolves non-determinism before proposing by stamping its clock (``time_ms``: every
relative time in the commands is taken from it) and a random ``seed`` (every random choice at
apply comes from it). Checksums are the log storage's job.

``client``/``seq`` identify the request so that a retried request is applied once (see
`gofish.statemachine.sessions`): ``client`` is a client id unique in the cluster and never
reused, not even by another node or after a restart (0: an internal entry with no session,
never deduplicated), ``seq`` the client's request number.
``acked`` says the client has received the replies of all its requests with ``seq < acked``
(0: says nothing), so their cached replies can be dropped and a late copy of them is stale.

``watch``/``watch_from`` make a MULTI entry conditional (WATCH): it is not executed (reply:
null array) if one of the ``watch`` keys was modified by an entry applied after the first
``watch_from`` entries (`StateMachine.entries_applied` when the client watched).

Fields are only ever added at the end, with a default, so older entries still decode; the
``acked`` and ``watch*`` fields came that way and did not change `FORMAT_VERSION`.

A *batch* entry holds several requests, of any clients: ``[BATCH_VERSION, [command, ...]]``
(`encode_batch`, `decode_commands`). The leader proposes the requests that arrive in one
event-loop turn as one batch, so the per-entry costs (Raft append, log record, replication
message) are paid once per turn instead of once per request; each request keeps its own
``(client, seq)``, session check and reply, and they apply in their order in the batch. A
batch never nests. `decode_commands` reads any entry as its list of requests.
"""

from __future__ import annotations

import msgspec

FORMAT_VERSION = 1
#: the version of a pipeline group entry
GROUP_VERSION = 2
#: the version of a batch entry (several requests)
BATCH_VERSION = 3


class Command(msgspec.Struct, array_like=True, frozen=True):
    v: int
    client: int
    seq: int
    time_ms: int
    seed: int
    argvs: list[list[bytes]]
    multi: bool = False
    acked: int = 0
    watch: list[bytes] = []
    watch_from: int = 0


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Command)


#: ``encode_command(cmd) -> bytes`` (the encoder's bound method: one call less per write)
encode_command = _encoder.encode


def decode_command(data: bytes) -> Command:
    """Decode a one-request entry; raises ValueError on bytes that are not one (a batch
    included: see `decode_commands`)."""
    try:
        cmd = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not a gofish command entry: {exc}") from exc
    _check_version(cmd)
    return cmd


def _check_version(cmd: Command) -> None:
    if cmd.v != FORMAT_VERSION and (cmd.v != GROUP_VERSION or cmd.multi):
        raise ValueError(f"unsupported command entry version {cmd.v}")


class _Batch(msgspec.Struct, array_like=True, frozen=True):
    v: int
    commands: list[Command]


_batch_decoder = msgspec.msgpack.Decoder(_Batch)
_BATCH_HEAD = bytes([0x92, BATCH_VERSION])  # a msgpack array of 2, then the version


def encode_batch(encoded: list[bytes]) -> bytes:
    """A batch entry of the requests ``encoded`` (each `encode_command`'s output, so
    nothing is encoded twice)."""
    n = len(encoded)
    if n < 16:
        head = _BATCH_HEAD + bytes([0x90 | n])
    elif n < 1 << 16:
        head = _BATCH_HEAD + b"\xdc" + n.to_bytes(2, "big")
    else:
        head = _BATCH_HEAD + b"\xdd" + n.to_bytes(4, "big")
    return head + b"".join(encoded)


def decode_commands(data: bytes) -> list[Command]:
    """The requests of an entry, in apply order: a batch's, or the one of any other entry.
    Raises ValueError on bytes that are neither."""
    if data[:2] != _BATCH_HEAD:
        return [decode_command(data)]
    try:
        batch = _batch_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not a gofish batch entry: {exc}") from exc
    if not batch.commands:
        raise ValueError("an empty batch entry")
    for cmd in batch.commands:
        _check_version(cmd)
    return batch.commands
