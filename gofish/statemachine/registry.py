"""The command table: every command gofish knows, as data.

Rules:

- A data type is a plugin. Its package exposes a ``register(table)`` callable under the
  entry-point group ``gofish.datatypes``; `load_datatypes` calls each one. The built-in types
  register through the very same group (see ``pyproject.toml``). Nothing registers as a
  side effect of import.
- A `CommandSpec` says everything the dispatcher needs before a handler runs: arity (Redis's
  rule: ``N`` means exactly N arguments counting the name, ``-N`` at least N), flags (``write``
  or ``readonly``, ``fast``, ``denyoom``, ``blocking``, ``admin``, ``noscript``, ``pubsub``,
  ``loading``, ``stale``, ``movablekeys`` ...) and key positions. Routing to partitions and
  the read/write decision come from the spec, never from handler code.
- A data handler has the signature ``handler(ks, argv) -> Reply``: ``ks`` is the
  `gofish.statemachine.keyspace.Keyspace`, ``argv`` the full argument vector, name
  included, as bytes. It raises `gofish.errors.CommandError` *before* changing anything.
  It uses the keyspace through its methods and attributes only: `Keyspace` may be compiled
  (ADR 0014), so a plugin may not add attributes to it or its partitions, weakly reference
  them or replace their methods.
- A write command may give ``check(argv)``: it raises `CommandError` for syntax errors so the
  dispatcher can refuse the command before it is proposed. It must not look at state.
- Handlers of commands flagged ``node`` are not data handlers: they run in the node
  (connection and server commands) with the signature the node defines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

ENTRY_POINT_GROUP = "gofish.datatypes"

Handler = Callable[..., Any]
Check = Callable[[list[bytes]], None]
KeysOf = Callable[[list[bytes]], list[bytes]]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command. ``name`` is lower case; ``arity`` follows Redis's +/-N rule.

    Key positions: ``first_key``/``last_key``/``step`` as in Redis's ``COMMAND INFO``
    (``last_key`` -1 means the last argument, -2 the one before). Commands whose keys cannot be
    described that way (``numkeys`` arguments) set ``keys_of`` and the flag ``movablekeys``.
    """

    name: str
    arity: int
    flags: frozenset[str]
    first_key: int
    last_key: int
    step: int
    handler: Handler
    check: Check | None = None
    keys_of: KeysOf | None = None
    group: str = "generic"
    summary: str = ""
    since: str = "1.0.0"
    complexity: str = ""
    subcommands: tuple[CommandSpec, ...] = ()
    is_write: bool = field(init=False)
    is_blocking: bool = field(init=False)
    is_node: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_write", "write" in self.flags)
        object.__setattr__(self, "is_node", "node" in self.flags)
        object.__setattr__(self, "is_blocking", "blocking" in self.flags)

    def arity_ok(self, argc: int) -> bool:
        a = self.arity
        return argc == a if a >= 0 else argc >= -a

    def keys(self, argv: list[bytes]) -> list[bytes]:
        """The key arguments of ``argv`` (empty for keyless commands)."""
        if self.keys_of is not None:
            return self.keys_of(argv)
        first = self.first_key
        if first <= 0:
            return []
        last = self.last_key
        if last < 0:
            last = len(argv) + last
        return argv[first : last + 1 : self.step]


def command(
    name: str,
    arity: int,
    flags: str,
    keys: tuple[int, int, int] = (0, 0, 0),
    *,
    check: Check | None = None,
    keys_of: KeysOf | None = None,
    group: str = "generic",
    summary: str = "",
    since: str = "1.0.0",
    complexity: str = "",
) -> Callable[[Handler], CommandSpec]:
    """Decorator turning a handler into a `CommandSpec` (it does not register it).

    ``flags`` is space-separated: ``command("get", 2, "readonly fast", (1, 1, 1))``.
    """

    def wrap(handler: Handler) -> CommandSpec:
        return CommandSpec(
            name=name,
            arity=arity,
            flags=frozenset(flags.split()),
            first_key=keys[0],
            last_key=keys[1],
            step=keys[2],
            handler=handler,
            check=check,
            keys_of=keys_of,
            group=group,
            summary=summary,
            since=since,
            complexity=complexity,
        )

    return wrap


@dataclass(frozen=True, slots=True)
class TypeSpec:
    """A value type stored in the keyspace.

    ``pytype`` is the exact Python class of stored values (``type(v) is pytype``);
    ``name`` is what ``TYPE`` answers; ``encoding(v)`` what ``OBJECT ENCODING`` answers;
    ``copy(v)`` a deep copy for ``COPY``; ``dump(v)`` a msgspec-encodable form (bytes, ints,
    floats, lists, dicts with bytes keys) and ``load(x)`` its inverse, used by checkpoints
    and snapshots; ``dump`` must be deterministic (same value, same output on every node).
    """

    name: str
    pytype: type
    encoding: Callable[[Any], str]
    copy: Callable[[Any], Any]
    dump: Callable[[Any], Any]
    load: Callable[[Any], Any]


class CommandTable:
    """Name → `CommandSpec`, plus the value types. Filled once at start, then read-only."""

    def __init__(self) -> None:
        self.commands: dict[bytes, CommandSpec] = {}
        #: every command under its lower- and its upper-case name (how clients send them):
        #: one dict probe finds either
        self.by_name: dict[bytes, CommandSpec] = {}
        self.types: dict[type, TypeSpec] = {}
        self.types_by_name: dict[str, TypeSpec] = {}

    def add(self, *specs: CommandSpec) -> None:
        for spec in specs:
            key = spec.name.encode()
            if key in self.commands:
                raise ValueError(f"command {spec.name!r} registered twice")
            if spec.is_write and "readonly" in spec.flags:
                raise ValueError(f"command {spec.name!r} is both write and readonly")
            self.commands[key] = spec
            self.by_name[key] = self.by_name[key.upper()] = spec

    def add_all(self, specs: Iterable[CommandSpec]) -> None:
        self.add(*specs)

    def add_type(self, spec: TypeSpec) -> None:
        if spec.pytype in self.types or spec.name in self.types_by_name:
            raise ValueError(f"type {spec.name!r} registered twice")
        self.types[spec.pytype] = spec
        self.types_by_name[spec.name] = spec

    def lookup(self, name: bytes) -> CommandSpec | None:
        """Find a command by its (any-case) name."""
        spec = self.by_name.get(name)
        if spec is None:
            spec = self.commands.get(name.lower())
        return spec

    def type_of(self, value: object) -> TypeSpec:
        return self.types[type(value)]


def load_datatypes(table: CommandTable, names: Iterable[str] | None = None) -> list[str]:
    """Call ``register(table)`` of every entry point in ``gofish.datatypes``.

    ``names`` restricts loading to those entry-point names. Returns the names loaded, in a
    stable (sorted) order so every node builds the same table.
    """
    loaded = []
    wanted = set(names) if names is not None else None
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if wanted is not None and ep.name not in wanted:
            continue
        register = ep.load()
        register(table)
        loaded.append(ep.name)
    return loaded


class WouldBlock:
    """Returned by a blocking command's handler at apply when it has nothing to serve.

    The state is unchanged. The node parks the client on ``keys`` until a change to one of them
    is applied (then it proposes the same command again) or ``timeout`` seconds pass (0 =
    forever; then the client gets the command's timeout reply, ``NullArray`` or ``None`` as
    ``timeout_reply`` says). Inside MULTI handlers never block: they return the timeout reply.
    """

    __slots__ = ("keys", "timeout", "timeout_reply")

    def __init__(self, keys: list[bytes], timeout: float, timeout_reply: object) -> None:
        self.keys = keys
        self.timeout = timeout
        self.timeout_reply = timeout_reply
