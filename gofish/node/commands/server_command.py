"""COMMAND: the command table described to clients, Redis 7.0's shapes, all derived from specs.

Nothing here is written per command: every answer is computed from the `CommandSpec`s in the
table (and the subcommand specs of container commands such as CONFIG and CLIENT).

- COMMAND / COMMAND INFO reply per command with Redis 7.0's ten fields: name, arity, flags
  (status replies, Redis's flag order, the internal ``node`` flag left out; ``movablekeys``
  added when the spec has ``keys_of``), first key, last key, step, ACL categories, tips
  (none), key specifications, subcommands. In RESP3 the fields Redis sends as sets are sets.
- ACL categories are derived as Redis derives its implicit ones: ``write`` → @write,
  ``readonly`` → @read, ``admin`` → @admin @dangerous, ``pubsub`` → @pubsub, ``fast`` →
  @fast (otherwise @slow), ``blocking`` → @blocking, plus one category per group
  (``generic`` → @keyspace, ``string`` → @string, ``sorted_set`` → @sortedset, ...; not for
  a container, whose subcommands carry their own). A spec may
  add categories explicitly with flags written ``@name`` (``"write @dangerous"``); such flags
  are categories, never listed as flags.
- Key specifications come from ``first_key``/``last_key``/``step`` (one ``index`` +
  ``range`` spec, ``lastkey`` relative to the first key as Redis counts it); a spec with
  ``keys_of`` gets an ``unknown`` spec (its keys depend on the arguments: use GETKEYS).
- COMMAND DOCS gives summary, since, group and complexity (arguments are not described);
  redis-cli builds its help from this reply.
- Specs flagged ``internal`` (commands the node proposes itself) are not listed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gofish import errors
from gofish.errors import CommandError
from gofish.node.commands.server_container import container, find_subcommand
from gofish.reply import ErrorReply, Map, Reply, SetReply, Status
from gofish.statemachine.glob import glob_match
from gofish.statemachine.registry import CommandSpec, command

if TYPE_CHECKING:
    from gofish.node.dispatch import Dispatcher, Session

# Redis 7.0's order of command flags in COMMAND replies.
FLAG_ORDER = (
    "write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript", "blocking",
    "loading", "stale", "skip_monitor", "skip_slowlog", "asking", "fast", "no_auth",
    "may_replicate", "sentinel", "only_sentinel", "no_mandatory_keys", "protected",
    "module_no_cluster", "no_async_loading", "no_multi", "movablekeys", "allow_busy",
)
_FLAG_RANK = {f: i for i, f in enumerate(FLAG_ORDER)}
# Flags that mean something to gofish only.
HIDDEN_FLAGS = frozenset({"node", "internal"})

# Redis 7.0's ACL categories, in its order.
CATEGORY_ORDER = (
    "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
    "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous",
    "connection", "transaction", "scripting",
)
_CATEGORY_RANK = {c: i for i, c in enumerate(CATEGORY_ORDER)}
GROUP_CATEGORY = {
    "generic": "keyspace", "keyspace": "keyspace", "string": "string", "list": "list",
    "set": "set", "sorted_set": "sortedset", "sortedset": "sortedset", "hash": "hash",
    "bitmap": "bitmap", "hyperloglog": "hyperloglog", "geo": "geo", "stream": "stream",
    "pubsub": "pubsub", "connection": "connection", "transactions": "transaction",
    "scripting": "scripting",
}


def visible_flags(spec: CommandSpec) -> list[str]:
    """The flags COMMAND shows for ``spec``, in Redis's order."""
    flags = {f for f in spec.flags if f not in HIDDEN_FLAGS and not f.startswith("@")}
    if spec.keys_of is not None:
        flags.add("movablekeys")
    return sorted(flags, key=lambda f: (_FLAG_RANK.get(f, len(_FLAG_RANK)), f))


def acl_categories(spec: CommandSpec) -> list[str]:
    """The ACL categories of ``spec`` (without the ``@``), in Redis's order."""
    f = spec.flags
    cats = {x[1:].lower() for x in f if x.startswith("@")}
    if "write" in f:
        cats.add("write")
    if "readonly" in f:
        cats.add("read")
    if "admin" in f:
        cats.update(("admin", "dangerous"))
    if "pubsub" in f:
        cats.add("pubsub")
    cats.add("fast" if "fast" in f else "slow")
    if "blocking" in f:
        cats.add("blocking")
    group_cat = GROUP_CATEGORY.get(spec.group)
    if group_cat is not None and not spec.subcommands:
        cats.add(group_cat)
    return sorted(cats, key=lambda c: (_CATEGORY_RANK.get(c, len(_CATEGORY_RANK)), c))


def _statuses(items: list[str]) -> SetReply:
    return SetReply(Status(x.encode()) for x in items)


def key_flags(spec: CommandSpec) -> list[str]:
    """The key-spec flags of ``spec``'s keys: RO access, RW update or (node commands) RO."""
    if "readonly" in spec.flags:
        return ["RO", "access"]
    if spec.is_write:
        return ["RW", "update"]
    return ["RO"]


def key_specs(spec: CommandSpec) -> list[Map]:
    """Redis 7.0 key specifications derived from the spec's key positions."""
    kflags = key_flags(spec)
    out: list[Map] = []
    if spec.first_key > 0:
        first, last = spec.first_key, spec.last_key
        lastkey = last - first if last >= 0 else last
        out.append(Map([
            (b"flags", _statuses(kflags)),
            (b"begin_search", Map([(b"type", b"index"), (b"spec", Map([(b"index", first)]))])),
            (b"find_keys", Map([
                (b"type", b"range"),
                (b"spec", Map([(b"lastkey", lastkey), (b"keystep", spec.step), (b"limit", 0)])),
            ])),
        ]))
    if spec.keys_of is not None:
        out.append(Map([
            (b"flags", _statuses(kflags)),
            (b"begin_search", Map([(b"type", b"unknown"), (b"spec", Map())])),
            (b"find_keys", Map([(b"type", b"unknown"), (b"spec", Map())])),
        ]))
    return out


def command_info(spec: CommandSpec) -> list[Any]:
    """One command's COMMAND INFO entry (ten fields, Redis 7.0)."""
    subs: list[Any] = [command_info(sub) for sub in spec.subcommands]
    return [
        spec.name.encode(),
        spec.arity,
        _statuses(visible_flags(spec)),
        spec.first_key,
        spec.last_key,
        spec.step,
        _statuses(["@" + c for c in acl_categories(spec)]),
        SetReply(),
        SetReply(key_specs(spec)),
        subs if subs else SetReply(),
    ]


def command_docs(spec: CommandSpec) -> Map:
    """One command's COMMAND DOCS map."""
    doc = Map([
        (b"summary", spec.summary.encode()),
        (b"since", spec.since.encode()),
        (b"group", spec.group.encode()),
    ])
    if spec.complexity:
        doc.append((b"complexity", spec.complexity.encode()))
    if spec.subcommands:
        doc.append((b"subcommands", Map((sub.name.encode(), command_docs(sub))
                                        for sub in spec.subcommands)))
    return doc


def listed(d: Dispatcher) -> Iterator[CommandSpec]:
    """The top-level commands COMMAND describes, in table order."""
    for spec in d.table.commands.values():
        if "internal" not in spec.flags:
            yield spec


def lookup(d: Dispatcher, name: bytes) -> CommandSpec | None:
    """A command by name, ``container|sub`` included; None if unknown or internal."""
    parent, bar, sub = name.partition(b"|")
    spec = d.table.lookup(parent)
    if spec is None or "internal" in spec.flags:
        return None
    if bar:
        return find_subcommand(spec, sub)
    return spec


# --- handlers ------------------------------------------------------------------------------
def cmd_all(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    return [command_info(spec) for spec in listed(d)]


def cmd_info(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    if len(argv) == 2:
        return cmd_all(d, s, argv)
    out: list[Any] = []
    for name in argv[2:]:
        spec = lookup(d, name)
        out.append(None if spec is None else command_info(spec))
    return out


def cmd_count(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    return sum(1 for _ in listed(d))


def cmd_docs(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    if len(argv) == 2:
        return Map((spec.name.encode(), command_docs(spec)) for spec in listed(d))
    out = Map()
    for name in argv[2:]:
        spec = lookup(d, name)
        if spec is not None:
            out.append((spec.name.encode(), command_docs(spec)))
    return out


def _with_subcommands(d: Dispatcher) -> Iterator[CommandSpec]:
    for spec in listed(d):
        yield spec
        yield from spec.subcommands


def cmd_list(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    n = len(argv)
    if n == 2:
        return [spec.name.encode() for spec in _with_subcommands(d)]
    if n != 5 or argv[2].lower() != b"filterby":
        return ErrorReply(errors.SYNTAX)
    kind, arg = argv[3].lower(), argv[4]
    if kind == b"module":
        return []
    if kind == b"aclcat":
        cat = arg.lower().decode(errors="replace")
        return [spec.name.encode() for spec in _with_subcommands(d)
                if cat in acl_categories(spec)]
    if kind == b"pattern":
        return [spec.name.encode() for spec in _with_subcommands(d)
                if glob_match(arg, spec.name.encode(), nocase=True)]
    return ErrorReply(errors.SYNTAX)


def _keys_of(d: Dispatcher, argv: list[bytes]) -> tuple[CommandSpec | None, Any]:
    """COMMAND GETKEYS's checks: (spec, keys) or (None, error reply)."""
    target = argv[2:]
    spec = d.table.lookup(target[0])
    if spec is not None and spec.subcommands and len(target) > 1:
        spec = find_subcommand(spec, target[1]) or spec
    if spec is None or "internal" in spec.flags:
        return None, ErrorReply(b"ERR Invalid command specified")
    if spec.first_key <= 0 and spec.keys_of is None:
        return None, ErrorReply(b"ERR The command has no key arguments")
    if not spec.arity_ok(len(target)):
        return None, ErrorReply(b"ERR Invalid number of arguments specified for command")
    try:
        keys = spec.keys(target)
    except (CommandError, ValueError, IndexError):
        return None, ErrorReply(b"ERR Invalid arguments specified for command")
    if not keys and "no_mandatory_keys" not in spec.flags:
        return None, ErrorReply(b"ERR Invalid arguments specified for command")
    return spec, list(keys)


def cmd_getkeys(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    keys: Reply = _keys_of(d, argv)[1]
    return keys


def cmd_getkeysandflags(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    spec, keys = _keys_of(d, argv)
    if spec is None:
        error: Reply = keys
        return error
    flags = _statuses(key_flags(spec))
    return [[key, flags] for key in keys]


_HELP = [
    b"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    b"(no subcommand)",
    b"    Return details about all Redis commands.",
    b"COUNT",
    b"    Return the total number of commands in this Redis server.",
    b"LIST",
    b"    Return a list of all commands in this Redis server.",
    b"INFO [<command-name> ...]",
    b"    Return details about multiple Redis commands.",
    b"    If no command names are given, documentation details for all",
    b"    commands are returned.",
    b"DOCS [<command-name> ...]",
    b"    Return documentation details about multiple Redis commands.",
    b"    If no command names are given, documentation details for all",
    b"    commands are returned.",
    b"GETKEYS <full-command>",
    b"    Return the keys from a full Redis command.",
    b"GETKEYSANDFLAGS <full-command>",
    b"    Return the keys and the access flags from a full Redis command.",
    b"HELP",
    b"    Prints this help.",
]


def cmd_help(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    return [Status(line) for line in _HELP]


def spec() -> CommandSpec:
    g = "server"
    f = "loading stale @connection"
    return container(
        "command", -1, f, [
            command("command|count", 2, f, group=g, since="2.8.13",
                    summary="Get total number of Redis commands", complexity="O(1)")(cmd_count),
            command("command|docs", -2, f, group=g, since="7.0.0",
                    summary="Get array of specific Redis command documentation",
                    complexity="O(N) where N is the number of commands to look up")(cmd_docs),
            command("command|getkeys", -4, f, group=g, since="2.8.13",
                    summary="Extract keys given a full Redis command",
                    complexity="O(N) where N is the number of arguments to the command")(
                        cmd_getkeys),
            command("command|getkeysandflags", -4, f, group=g, since="7.0.0",
                    summary="Extract keys and access flags given a full Redis command",
                    complexity="O(N) where N is the number of arguments to the command")(
                        cmd_getkeysandflags),
            command("command|info", -2, f, group=g, since="2.8.13",
                    summary="Get array of specific Redis command details, or all when no "
                    "argument is given.",
                    complexity="O(N) where N is the number of commands to look up")(cmd_info),
            command("command|list", -2, f, group=g, since="7.0.0",
                    summary="Get an array of Redis command names",
                    complexity="O(N) where N is the total number of Redis commands")(cmd_list),
            command("command|help", 2, f, group=g, since="5.0.0",
                    summary="Show helpful text about the different subcommands",
                    complexity="O(1)")(cmd_help),
        ],
        default=cmd_all, group=g, since="2.8.13",
        summary="Get array of Redis command details",
        complexity="O(N) where N is the total number of Redis commands",
    )
