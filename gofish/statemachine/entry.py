"""The state machine's log entry: what a Raft entry's ``data`` holds.

Versioned msgpack (msgspec), no pickle. One entry is one client request: a single command, or
the commands of one MULTI/EXEC. The leader resolves non-determinism before proposing by
stamping its clock (``time_ms``: every relative time in the commands is taken from it) and a
random ``seed`` (every random choice at apply comes from it). ``client``/``seq`` identify the
request so that a retried request is applied once. Checksums are the log storage's job.
"""

from __future__ import annotations

import msgspec

FORMAT_VERSION = 1


class Command(msgspec.Struct, array_like=True, frozen=True):
    v: int
    client: int
    seq: int
    time_ms: int
    seed: int
    argvs: list[list[bytes]]
    multi: bool = False


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Command)


def encode_command(cmd: Command) -> bytes:
    return _encoder.encode(cmd)


def decode_command(data: bytes) -> Command:
    """Decode an entry; raises ValueError on bytes that are not a known entry format."""
    try:
        cmd = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not a gofish command entry: {exc}") from exc
    if cmd.v != FORMAT_VERSION:
        raise ValueError(f"unsupported command entry version {cmd.v}")
    return cmd
