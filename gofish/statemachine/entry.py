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
"""

from __future__ import annotations

import msgspec

FORMAT_VERSION = 1
#: the version of a pipeline group entry
GROUP_VERSION = 2


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
    """Decode an entry; raises ValueError on bytes that are not a known entry format."""
    try:
        cmd = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not a gofish command entry: {exc}") from exc
    if cmd.v != FORMAT_VERSION and (cmd.v != GROUP_VERSION or cmd.multi):
        raise ValueError(f"unsupported command entry version {cmd.v}")
    return cmd
