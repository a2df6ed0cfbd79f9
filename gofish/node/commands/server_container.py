"""Container commands (CONFIG, CLIENT, COMMAND): one table entry whose subcommands are specs.

Rules:

- A container is registered as one `CommandSpec`; its ``subcommands`` are full specs named
  ``parent|sub`` as Redis names them (``config|get``), so COMMAND INFO, DOCS and LIST describe
  them from data like any other command.
- The dispatcher checks the container's own arity; the router built here checks the
  subcommand's arity the same way (``ERR wrong number of arguments for 'config|get'
  command``), answers an unknown subcommand with ``ERR unknown subcommand 'x'. Try CONFIG
  HELP.``, records the full name as the connection's last command (CLIENT LIST ``cmd=``) and
  calls the subcommand's node handler ``(dispatcher, session, argv)`` with the full argv.
- ``default`` handles the container called without a subcommand (``COMMAND``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gofish import errors
from gofish.reply import ErrorReply
from gofish.statemachine.registry import CommandSpec, command

if TYPE_CHECKING:
    from gofish.node.dispatch import Dispatcher, NodeHandler, Session


class Router:
    """The handler of a container command: finds the subcommand spec and runs it."""

    __slots__ = ("name", "subs", "default")

    def __init__(self, name: str, subs: Sequence[CommandSpec], default: NodeHandler | None) -> None:
        self.name = name
        self.subs: dict[bytes, CommandSpec] = {
            spec.name.partition("|")[2].encode(): spec for spec in subs
        }
        self.default = default

    def __call__(self, d: Dispatcher, s: Session, argv: list[bytes]) -> Any:
        if len(argv) == 1:
            if self.default is None:
                return ErrorReply(errors.wrong_arity(self.name))
            return self.default(d, s, argv)
        spec = self.subs.get(argv[1].lower())
        if spec is None:
            return ErrorReply(errors.unknown_subcommand(argv[1], self.name))
        if not spec.arity_ok(len(argv)):
            return ErrorReply(errors.wrong_arity(spec.name))
        s.conn.cmd = spec.name
        return spec.handler(d, s, argv)


def container(
    name: str,
    arity: int,
    flags: str,
    subs: Sequence[CommandSpec],
    *,
    default: NodeHandler | None = None,
    group: str,
    summary: str,
    since: str,
    complexity: str = "Depends on subcommand.",
) -> CommandSpec:
    """A node command ``name`` routing to ``subs`` (each named ``name|sub``)."""
    for sub in subs:
        if not sub.name.startswith(name + "|"):
            raise ValueError(f"subcommand {sub.name!r} is not named {name}|...")
    spec = command(
        name, arity, "node " + flags, group=group, summary=summary, since=since,
        complexity=complexity,
    )(Router(name, subs, default))
    return dataclasses.replace(spec, subcommands=tuple(subs))


def find_subcommand(spec: CommandSpec, sub: bytes) -> CommandSpec | None:
    """The subcommand ``sub`` (any case) of the container ``spec``, or None."""
    low = sub.lower().decode(errors="replace")
    for s in spec.subcommands:
        if s.name.partition("|")[2] == low:
            return s
    return None
