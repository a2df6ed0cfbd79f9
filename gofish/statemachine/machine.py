"""The state machine: applies log entries to the keyspace and serves reads.

Rules:

- `apply` is deterministic: the same state and the same `Command` give the same new state and
  the same reply on every node. Time and randomness come from the entry.
- A handler's `CommandError` becomes an error reply and, by the handler contract, changed
  nothing. Any other exception is a bug: it is reported as an error reply (the server keeps
  serving) and counted in ``internal_errors``.
- An entry is executed at most once per (client, seq): `sessions` (a `SessionTable`) answers a
  copy of an applied request with its cached reply and a request its client has acknowledged
  as finished with a stale error, without executing either (rules in
  `gofish.statemachine.sessions`). Internal entries (``client == 0``) are always executed.
- WATCH is checked at apply, identically on every node: the machine remembers, for the
  recent entries, which entry last modified each key, in two generations; a generation ends
  after `WATCH_WINDOW` entries or `WATCH_WINDOW` keys modified, whichever comes first (a
  pipeline group or MULTI entry can modify many keys), so memory stays bounded. An entry
  with ``watch`` keys is skipped (reply: null array) if one of them was modified after
  ``watch_from`` — or if ``watch_from`` is older than what the machine remembers
  (conservatively: the client retries, as after any aborted transaction).
- `read` runs a read-only command against the current state with the caller's clock; it never
  deletes anything (expired keys are only hidden).
"""

from __future__ import annotations

import logging
from typing import Any

from gofish import errors
from gofish.errors import CommandError
from gofish.reply import ErrorReply, NullArray, Reply
from gofish.statemachine.entry import Command
from gofish.statemachine.keyspace import Keyspace
from gofish.statemachine.registry import CommandSpec, CommandTable
from gofish.statemachine.sessions import SessionTable

log = logging.getLogger(__name__)

#: how many entries back WATCH can see modifications
WATCH_WINDOW = 50_000


class StateMachine:
    def __init__(self, table: CommandTable, partitions: int = 64) -> None:
        self.table = table
        self._by_name = table.by_name
        self.ks = Keyspace(table, partitions)
        self.applied_commands = 0
        self.internal_errors = 0
        #: client sessions: the cache that makes a retried request apply once
        self.sessions = SessionTable()
        #: entries applied so far (duplicates included): WATCH's clock
        self.entries_applied = 0
        #: WATCH cannot see modifications before this entry count (window, restore)
        self.watch_floor = 0
        # key -> entry count of its last modification, in two generations: `_mods` since
        # `_gen_start`, `_old_mods` the generation before
        self._mods: dict[bytes, int] = {}
        self._old_mods: dict[bytes, int] = {}
        self._gen_start = 0

    def apply(self, cmd: Command) -> Reply:
        """Apply one entry; a MULTI entry replies with the list of its commands' replies. A
        duplicate or stale request is answered by `sessions` without executing."""
        self.entries_applied += 1
        return self.sessions.apply(cmd, self._execute)

    def watch_broken(self, keys: list[bytes], since: int) -> bool:
        """Was one of ``keys`` modified after the first ``since`` entries (or can that no
        longer be told)?"""
        if since < self.watch_floor:
            return True
        mods, old = self._mods, self._old_mods
        return any(mods.get(k, 0) > since or old.get(k, 0) > since for k in keys)

    def _execute(self, cmd: Command) -> Reply:
        ks = self.ks
        if cmd.watch and self.watch_broken(cmd.watch, cmd.watch_from):
            return NullArray
        start = len(ks.dirty)
        ks.begin(cmd.time_ms, cmd.seed, applying=True)
        if cmd.multi:
            ks.in_multi = True
            try:
                reply: Reply = [self._run(argv) for argv in cmd.argvs]
            finally:
                ks.in_multi = False
        elif len(cmd.argvs) == 1:
            reply = self._run(cmd.argvs[0])
        else:  # a pipeline group: one reply per command, no MULTI semantics
            reply = [self._run(argv) for argv in cmd.argvs]
        if len(ks.dirty) > start:
            self._record_mods(ks.dirty, start)
        return reply

    def _record_mods(self, dirty: list[bytes], start: int) -> None:
        n = self.entries_applied
        mods = self._mods
        if n - self._gen_start >= WATCH_WINDOW or len(mods) >= WATCH_WINDOW:
            # a new generation; the oldest is forgotten
            self.watch_floor = self._gen_start
            self._old_mods, self._mods = self._mods, {}
            self._gen_start = n
        mods = self._mods
        for i in range(start, len(dirty)):
            mods[dirty[i]] = n

    def _run(self, argv: list[bytes]) -> Reply:
        self.applied_commands += 1
        spec = self._by_name.get(argv[0])
        if spec is None:
            spec = self.table.lookup(argv[0])
            if spec is None:
                return ErrorReply(errors.unknown_command(argv[0], argv[1:]))
        try:
            reply: Reply = spec.handler(self.ks, argv)
            return reply
        except CommandError as exc:
            return ErrorReply(exc.message)
        except Exception:  # a bug: never crash the server, never diverge silently
            self.internal_errors += 1
            log.exception("internal error applying %r", argv[:1])
            return ErrorReply(b"ERR internal error while executing '" + argv[0] + b"'")

    def read(self, spec: CommandSpec, argv: list[bytes], now_ms: int) -> Reply:
        """Run a read-only command against the current state at wall-clock ``now_ms``."""
        ks = self.ks
        ks.now_ms = now_ms  # a read: the caller's clock, nothing is deleted
        ks.applying = False
        try:
            reply: Reply = spec.handler(ks, argv)
            return reply
        except CommandError as exc:
            return ErrorReply(exc.message)
        except Exception:
            self.internal_errors += 1
            log.exception("internal error reading %r", argv[:1])
            return ErrorReply(b"ERR internal error while executing '" + argv[0] + b"'")

    # --- checkpoints ----------------------------------------------------------------------
    def export_state(self) -> dict[str, Any]:
        """The replicated state of the machine besides its partitions, as plain msgpack-able
        data in fresh containers (safe to encode in another thread while apply goes on):
        ``entries_applied``, the WATCH memory (``watch_floor``, ``gen_start``, ``mods``,
        ``old_mods``) and ``sessions`` (`SessionTable.export`). Statistics
        (``applied_commands``, ``internal_errors``) are not state and are not exported.
        Identical on every replica that applied the same entries. Used by checkpoints."""
        return {
            "entries_applied": self.entries_applied,
            "watch_floor": self.watch_floor,
            "gen_start": self._gen_start,
            "mods": dict(self._mods),
            "old_mods": dict(self._old_mods),
            "sessions": self.sessions.export(),
        }

    def restore_state(self, data: dict[str, Any]) -> None:
        """Replace what `export_state` exported with ``data`` (the partitions are not
        touched). Raises ValueError, leaving the machine unchanged, on data that is not an
        export."""
        if not isinstance(data, dict):
            raise ValueError("machine state: not a map")
        ints: dict[str, int] = {}
        for name in ("entries_applied", "watch_floor", "gen_start"):
            v = data.get(name)
            if type(v) is not int or v < 0:
                raise ValueError(f"machine state: {name} is not a non-negative integer")
            ints[name] = v
        gens: list[dict[bytes, int]] = []
        for name in ("mods", "old_mods"):
            m = data.get(name)
            if not isinstance(m, dict) or not all(
                type(k) is bytes and type(v) is int for k, v in m.items()
            ):
                raise ValueError(f"machine state: {name} is not a map of keys to integers")
            gens.append(m)
        sessions = data.get("sessions")
        if not isinstance(sessions, list):
            raise ValueError("machine state: sessions is not a session table export")
        self.sessions.restore(sessions)  # validates: ValueError before any change
        self.entries_applied = ints["entries_applied"]
        self.watch_floor = ints["watch_floor"]
        self._gen_start = ints["gen_start"]
        self._mods, self._old_mods = gens
