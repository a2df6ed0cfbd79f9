"""Readable views of a state machine: JSON-lines dumps of the keyspace, printed log entries,
and digests to compare two machines.

Dump rules (one JSON object per line, keys in byte order)::

    {"key": K, "type": "string"|"hash"|..., "value": V, "expire_ms": null|int}

- Bytes (keys, strings, fields, members) are JSON strings when they are valid UTF-8, else
  ``{"b64": "<base64>"}`` — so every byte string survives and text stays readable.
- ``value`` is the type's `TypeSpec.dump` made readable: a hash is an object (or a list of
  ``[field, value]`` pairs if some field is not text), a list or set a list in its stored
  order, a sorted set a list of ``[member, score]`` pairs in score order; a plugin type's
  dump is shown as it is, bytes converted as above. Non-finite floats are the strings
  ``"inf"``, ``"-inf"``, ``"nan"``.
- ``expire_ms``: the key's absolute expiry time (milliseconds since the epoch) or null. A
  key whose time has passed is still dumped: only a logged deletion removes it.

Digests (`partition_digest`, `machine_digest`) cover every key in the partition's dict order
(which SCAN and KEYS expose, so replicas must agree on it), its type and value dump, the
expiry times (in key order: their dict order is not state, ADR 0010) and, for the machine,
`StateMachine.export_state`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Iterator
from typing import IO, Any

import msgspec

from gofish.node.membership import MemberInfo, decode_member
from gofish.raft import ConfChangeType, Entry, EntryType, decode_conf_change
from gofish.statemachine.entry import Command
from gofish.statemachine.keyspace import Partition
from gofish.statemachine.machine import StateMachine
from gofish.statemachine.registry import CommandTable
from gofish.tools.console import quote, show_argv, show_time

_ENC = msgspec.msgpack.Encoder()


def text(b: bytes) -> Any:
    """A byte string for JSON (see the module rules)."""
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(b).decode("ascii")}


def readable(x: Any) -> Any:
    """A type's dump made JSON-able (see the module rules)."""
    if isinstance(x, bytes | bytearray | memoryview):
        return text(bytes(x))
    if isinstance(x, float):
        if math.isfinite(x):
            return x
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        keys = [readable(k) for k in x]
        if all(isinstance(k, str) for k in keys):
            return {k: readable(v) for k, v in zip(keys, x.values(), strict=True)}
        return [[k, readable(v)] for k, v in zip(keys, x.values(), strict=True)]
    if isinstance(x, list | tuple):
        return [readable(v) for v in x]
    return x


def _zset(dump: Any) -> Any:
    """``[big, m1, s1, m2, s2, ...]`` (the zset type's dump) → ``[[m1, s1], ...]``."""
    if isinstance(dump, list) and len(dump) % 2 == 1:
        return [[readable(m), readable(s)] for m, s in zip(dump[1::2], dump[2::2], strict=True)]
    return readable(dump)


def _hash(dump: Any) -> Any:
    """``[f1, v1, f2, v2, ...]`` (the hash type's dump) → an object (or pairs)."""
    if isinstance(dump, list) and len(dump) % 2 == 0:
        return readable(dict(zip(dump[::2], dump[1::2], strict=True)))
    return readable(dump)


#: built-in types whose dump is shown reshaped (their documented dump layouts)
_SHAPES = {"zset": _zset, "hash": _hash}


def render_value(table: CommandTable, value: Any) -> tuple[str, Any]:
    """(type name, readable value) of a stored value."""
    spec = table.types.get(type(value))
    if spec is None:
        return type(value).__name__, repr(value)[:200]
    shape = _SHAPES.get(spec.name, readable)
    return spec.name, shape(spec.dump(value))


def dump_records(machine: StateMachine, partition: int | None = None) -> Iterator[dict[str, Any]]:
    """One record per key (see the module rules), in key byte order; only partition
    ``partition`` if given."""
    ks = machine.ks
    parts = ks.partitions if partition is None else [ks.partitions[partition]]
    keys: list[tuple[bytes, Partition]] = [(k, p) for p in parts for k in p.data]
    keys.sort(key=lambda kp: kp[0])
    for key, p in keys:
        name, value = render_value(machine.table, p.data[key])
        yield {"key": text(key), "type": name, "value": value,
               "expire_ms": p.expires.get(key)}


def write_dump(machine: StateMachine, out: IO[str], partition: int | None = None) -> int:
    """Write `dump_records` as JSON lines to ``out``; returns the number of keys."""
    n = 0
    for rec in dump_records(machine, partition):
        out.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")))
        out.write("\n")
        n += 1
    return n


# --- digests --------------------------------------------------------------------------------
def partition_digest(p: Partition, table: CommandTable) -> str:
    """SHA-256 of a partition's content (see the module rules)."""
    h = hashlib.sha256()
    types = table.types
    batch: list[Any] = []
    for key, v in p.data.items():
        spec = types.get(type(v))
        batch.append((key, spec.name if spec else type(v).__qualname__,
                      spec.dump(v) if spec else repr(v)))
        if len(batch) >= 1024:
            h.update(_ENC.encode(batch))
            batch.clear()
    h.update(_ENC.encode(batch))
    h.update(_ENC.encode(sorted(p.expires.items())))
    return h.hexdigest()


def state_digest(machine: StateMachine) -> str:
    """SHA-256 of `StateMachine.export_state` (sessions, WATCH memory, entry count)."""
    return hashlib.sha256(_ENC.encode(machine.export_state())).hexdigest()


def machine_digest(machine: StateMachine) -> tuple[list[str], str]:
    """(per-partition digests, machine-wide state digest)."""
    return ([partition_digest(p, machine.table) for p in machine.ks.partitions],
            state_digest(machine))


def differences(a: StateMachine, b: StateMachine, limit: int = 10,
                labels: tuple[str, str] = ("a", "b")) -> list[str]:
    """How ``b`` differs from ``a`` (at most ``limit`` lines, each naming the two sides by
    ``labels``; empty: the same)."""
    la, lb = labels
    out: list[str] = []
    if len(a.ks.partitions) != len(b.ks.partitions):
        return [f"partition counts differ: {len(a.ks.partitions)} vs {len(b.ks.partitions)}"]
    for pa, pb in zip(a.ks.partitions, b.ks.partitions, strict=True):
        if partition_digest(pa, a.table) == partition_digest(pb, b.table):
            continue
        for key in sorted(pa.data.keys() | pb.data.keys()):
            va, vb = pa.data.get(key), pb.data.get(key)
            ra = None if va is None else render_value(a.table, va)
            rb = None if vb is None else render_value(b.table, vb)
            if ra != rb:
                out.append(f"partition {pa.index}: key {quote(key)}: {la} {_short(ra)}, "
                           f"{lb} {_short(rb)}")
            elif pa.expires.get(key) != pb.expires.get(key):
                out.append(f"partition {pa.index}: key {quote(key)}: expiry {la} "
                           f"{pa.expires.get(key)}, {lb} {pb.expires.get(key)}")
            if len(out) >= limit:
                return out
        orphans = {k: t for k, t in pa.expires.items() if k not in pa.data}
        orphans_b = {k: t for k, t in pb.expires.items() if k not in pb.data}
        if orphans != orphans_b:
            out.append(f"partition {pa.index}: expiry times of absent keys differ")
        if list(pa.data) != list(pb.data) and sorted(pa.data) == sorted(pb.data):
            out.append(f"partition {pa.index}: same keys, different order")
        if len(out) >= limit:
            return out
    sa, sb = a.export_state(), b.export_state()
    for name in sorted(sa.keys() | sb.keys()):
        if _ENC.encode(sa.get(name)) != _ENC.encode(sb.get(name)):
            out.append(f"machine-wide state {name!r} differs")
    return out[:limit]


def _short(r: tuple[str, Any] | None) -> str:
    if r is None:
        return "absent"
    s = json.dumps(r[1], ensure_ascii=True)
    return f"{r[0]} {s[:80]}{'…' if len(s) > 80 else ''}"


def member_view(record: bytes) -> dict[str, Any]:
    """A member record (`gofish.node.membership.MemberInfo` bytes) for display:
    ``{"addr": ..., "promote": ...}``, or ``{"raw": <quoted bytes>}`` if it is not one."""
    info = decode_member(record)
    if record and info == MemberInfo():
        return {"raw": quote(record)}
    return {"addr": info.addr, "promote": info.promote}


# --- printing entries -----------------------------------------------------------------------
def show_command(cmd: Command) -> str:
    """A command entry's fields and commands, readably (arguments via `show_argv`)."""
    head = f"client={cmd.client:#x} seq={cmd.seq} time={show_time(cmd.time_ms)}"
    if cmd.acked:
        head += f" acked={cmd.acked}"
    if cmd.multi:
        body = "MULTI [" + "; ".join(show_argv(a) for a in cmd.argvs) + "]"
    elif len(cmd.argvs) > 1:
        body = "PIPELINE [" + "; ".join(show_argv(a) for a in cmd.argvs) + "]"
    else:
        body = show_argv(cmd.argvs[0]) if cmd.argvs else "(no command)"
    if cmd.watch:
        body += (" WATCH " + show_argv(cmd.watch) + f" from {cmd.watch_from}")
    return f"{head}  {body}"


def show_entry(e: Entry, cmds: list[Command] | None = None) -> str:
    """One log entry on one line: index, term, kind, then its content (a batch entry's
    requests separated by `` | ``)."""
    prefix = f"{e.index} term={e.term}"
    if e.type == EntryType.CONF_CHANGE:
        try:
            cc = decode_conf_change(e.data)
        except Exception as exc:  # shown, not fatal: printing is for looking at damage too
            return f"{prefix} conf (undecodable: {exc})"
        info = decode_member(cc.context)
        extra = f" addr={info.addr}" if info.addr else ""
        if info.promote:
            extra += " promote"
        kind = ConfChangeType(cc.type).name.lower()
        return f"{prefix} conf {kind} {cc.node_id}{extra}"
    if not e.data:
        return f"{prefix} noop"
    if not cmds:
        return f"{prefix} cmd (undecodable, {len(e.data)} bytes)"
    if len(cmds) == 1:
        return f"{prefix} cmd {show_command(cmds[0])}"
    return f"{prefix} batch of {len(cmds)}: " + " | ".join(show_command(c) for c in cmds)
