"""The state machine: applies log entries to the keyspace and serves reads.

Rules:

- `apply` is deterministic: the same state and the same `Command` give the same new state and
  the same reply on every node. Time and randomness come from the entry.
- A handler's `CommandError` becomes an error reply and, by the handler contract, changed
  nothing. Any other exception is a bug: it is reported as an error reply (the server keeps
  serving) and counted in ``internal_errors``.
- `read` runs a read-only command against the current state with the caller's clock; it never
  deletes anything (expired keys are only hidden).
"""

from __future__ import annotations

import logging

from gofish import errors
from gofish.errors import CommandError
from gofish.reply import ErrorReply, Reply
from gofish.statemachine.entry import Command
from gofish.statemachine.keyspace import Keyspace
from gofish.statemachine.registry import CommandSpec, CommandTable

log = logging.getLogger(__name__)


class StateMachine:
    def __init__(self, table: CommandTable, partitions: int = 64) -> None:
        self.table = table
        self.ks = Keyspace(table, partitions)
        self.applied_commands = 0
        self.internal_errors = 0

    def apply(self, cmd: Command) -> Reply:
        """Apply one entry; a MULTI entry replies with the list of its commands' replies."""
        ks = self.ks
        ks.begin(cmd.time_ms, cmd.seed, applying=True)
        if cmd.multi:
            ks.in_multi = True
            try:
                return [self._run(argv) for argv in cmd.argvs]
            finally:
                ks.in_multi = False
        return self._run(cmd.argvs[0])

    def _run(self, argv: list[bytes]) -> Reply:
        self.applied_commands += 1
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
        ks.begin_read(now_ms)
        try:
            reply: Reply = spec.handler(ks, argv)
            return reply
        except CommandError as exc:
            return ErrorReply(exc.message)
        except Exception:
            self.internal_errors += 1
            log.exception("internal error reading %r", argv[:1])
            return ErrorReply(b"ERR internal error while executing '" + argv[0] + b"'")
