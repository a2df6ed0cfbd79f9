"""In-process command runner for data-type unit tests: the dispatcher's path without sockets.

``Engine().run(b"SET", b"k", b"v")`` does what the node does: look the command up, check the
arity, run ``check`` for writes, then apply a `Command` entry (writes) or read (reads), and
returns the reply value (an `ErrorReply` for errors).
"""

from __future__ import annotations

import time

from gofish import errors
from gofish.errors import CommandError
from gofish.reply import ErrorReply, Reply
from gofish.statemachine.entry import FORMAT_VERSION, Command
from gofish.statemachine.machine import StateMachine
from gofish.statemachine.registry import CommandTable, load_datatypes


class Engine:
    def __init__(self, partitions: int = 8, clock_ms: int | None = None) -> None:
        self.table = CommandTable()
        load_datatypes(self.table)
        self.sm = StateMachine(self.table, partitions)
        self.clock_ms = clock_ms  # None: wall clock
        self.seq = 0

    def now(self) -> int:
        return self.clock_ms if self.clock_ms is not None else int(time.time() * 1000)

    def run(self, *args: bytes | str | int | float) -> Reply:
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        spec = self.table.lookup(argv[0])
        if spec is None:
            return ErrorReply(errors.unknown_command(argv[0], argv[1:]))
        if not spec.arity_ok(len(argv)):
            return ErrorReply(errors.wrong_arity(spec.name))
        if spec.is_write:
            if spec.check is not None:
                try:
                    spec.check(argv)
                except CommandError as exc:
                    return ErrorReply(exc.message)
            self.seq += 1
            cmd = Command(FORMAT_VERSION, 1, self.seq, self.now(), self.seq * 7919, [argv])
            return self.sm.apply(cmd)
        return self.sm.read(spec, argv, self.now())
