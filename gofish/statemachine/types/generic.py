"""Generic key commands: DEL UNLINK EXISTS TYPE TOUCH RENAME RENAMENX COPY KEYS SCAN RANDOMKEY
OBJECT DBSIZE FLUSHDB FLUSHALL, plus the expiry commands of `generic_expire`.

Rules:

- Only database 0 exists; ``COPY ... DB 0`` is accepted, any other index is
  "ERR DB index is out of range".
- RENAME and COPY keep the source's TTL on the destination (Redis does); COPY stores a deep
  copy made by the value's `TypeSpec.copy`, RENAME moves the value object. Keys may land in
  different partitions: the handlers only use ``ks.get``/``ks.set``/``ks.delete``.
- SCAN's cursor is the index of the next partition to visit (0: start, and 0 again when done).
  A call returns whole partitions until it has visited at least COUNT keys, so every key that
  exists for the whole scan is returned exactly once per partition visit (keys never move
  between partitions) and a key may only be missed if it was added or removed meanwhile.
- Reads that list keys (KEYS, SCAN, RANDOMKEY) never show an expired key and never delete one.
"""

from __future__ import annotations

from dataclasses import replace

from gofish import errors
from gofish.errors import CommandError
from gofish.reply import OK, Reply, Status
from gofish.statemachine.args import to_int
from gofish.statemachine.glob import glob_match
from gofish.statemachine.keyspace import Keyspace
from gofish.statemachine.registry import CommandSpec, CommandTable, command
from gofish.statemachine.scan import parse_scan_args
from gofish.statemachine.types import generic_expire

GROUP = "generic"

# Not in gofish.errors yet (Redis 7.0 texts).

_SHARED_REFCOUNT = 2147483647  # Redis OBJ_SHARED_REFCOUNT (INT_MAX)
_SHARED_INTEGERS = 10000  # Redis OBJ_SHARED_INTEGERS


# --- delete / exist / type ------------------------------------------------------------------
def _delete_keys(ks: Keyspace, argv: list[bytes]) -> int:
    deleted = 0
    for key in argv[1:]:
        if ks.delete(key):
            deleted += 1
    return deleted


@command("del", -2, "write", (1, -1, 1), group=GROUP, since="1.0.0",
         summary="Deletes one or more keys.", complexity="O(N) where N is the number of keys "
         "that will be removed.")
def cmd_del(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _delete_keys(ks, argv)


@command("unlink", -2, "write fast", (1, -1, 1), group=GROUP, since="4.0.0",
         summary="Asynchronously deletes one or more keys.", complexity="O(1) for each key "
         "removed regardless of its size.")
def cmd_unlink(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _delete_keys(ks, argv)


def _count_existing(ks: Keyspace, argv: list[bytes]) -> int:
    get = ks.get
    return sum(1 for key in argv[1:] if get(key) is not None)


@command("exists", -2, "readonly fast", (1, -1, 1), group=GROUP, since="1.0.0",
         summary="Determines whether one or more keys exist.",
         complexity="O(N) where N is the number of keys to check.")
def cmd_exists(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _count_existing(ks, argv)


@command("touch", -2, "readonly fast", (1, -1, 1), group=GROUP, since="3.2.1",
         summary="Returns the number of existing keys out of those specified after updating "
         "the time they were last accessed.", complexity="O(N) where N is the number of keys "
         "that will be touched.")
def cmd_touch(ks: Keyspace, argv: list[bytes]) -> Reply:
    """Counts the existing keys; gofish tracks no access time, so nothing else happens."""
    return _count_existing(ks, argv)


@command("type", 2, "readonly fast", (1, 1, 1), group=GROUP, since="1.0.0",
         summary="Determines the type of value stored at a key.", complexity="O(1)")
def cmd_type(ks: Keyspace, argv: list[bytes]) -> Reply:
    v = ks.get(argv[1])
    if v is None:
        return Status(b"none")
    return Status(ks.type_name(v).encode())


# --- rename / copy ----------------------------------------------------------------------------
def _rename(ks: Keyspace, argv: list[bytes], nx: bool) -> Reply:
    src, dst = argv[1], argv[2]
    v = ks.get(src)
    if v is None:
        raise CommandError(errors.NO_SUCH_KEY)
    if src == dst:
        return 0 if nx else OK
    if nx and ks.get(dst) is not None:
        return 0
    at = ks.get_expire(src)
    ks.delete(src)
    ks.set(dst, v)
    if at is not None:
        ks.set_expire(dst, at)
    return 1 if nx else OK


@command("rename", 3, "write", (1, 2, 1), group=GROUP, since="1.0.0",
         summary="Renames a key and overwrites the destination.", complexity="O(1)")
def cmd_rename(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _rename(ks, argv, False)


@command("renamenx", 3, "write fast", (1, 2, 1), group=GROUP, since="1.0.0",
         summary="Renames a key only when the target key name doesn't exist.",
         complexity="O(1)")
def cmd_renamenx(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _rename(ks, argv, True)


def _parse_copy(argv: list[bytes]) -> bool:
    """COPY's options; returns REPLACE. Raises Redis's errors in Redis's order."""
    replace_ = False
    n = len(argv)
    j = 3
    while j < n:
        opt = argv[j].upper()
        if opt == b"REPLACE":
            replace_ = True
        elif opt == b"DB" and j + 1 < n:
            db = to_int(argv[j + 1])
            if db is None:
                raise CommandError(errors.NOT_INTEGER)
            if db < -(1 << 31) or db >= 1 << 31:
                raise CommandError(errors.INT32_OUT_OF_RANGE)
            if db != 0:
                raise CommandError(errors.DB_INDEX_OUT_OF_RANGE)
            j += 1
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    if argv[1] == argv[2]:
        raise CommandError(errors.SAME_OBJECT)
    return replace_


def _check_copy(argv: list[bytes]) -> None:
    _parse_copy(argv)


@command("copy", -3, "write denyoom", (1, 2, 1), check=_check_copy, group=GROUP,
         since="6.2.0", summary="Copies the value of a key to a new key.",
         complexity="O(N) worst case for collections, where N is the number of nested items. "
         "O(1) for string values.")
def cmd_copy(ks: Keyspace, argv: list[bytes]) -> Reply:
    """COPY source destination [DB 0] [REPLACE]: 1 if copied, 0 if not (missing source, or
    destination exists without REPLACE). The TTL is copied too."""
    replace_ = _parse_copy(argv)
    src, dst = argv[1], argv[2]
    v = ks.get(src)
    if v is None:
        return 0
    if ks.get(dst) is not None and not replace_:
        return 0
    at = ks.get_expire(src)
    ks.set(dst, ks.table.types[type(v)].copy(v))
    if at is not None:
        ks.set_expire(dst, at)
    return 1


# --- listing keys ---------------------------------------------------------------------------
@command("keys", 2, "readonly", group=GROUP, since="1.0.0",
         summary="Returns all key names that match a pattern.",
         complexity="O(N) with N being the number of keys in the database, under the "
         "assumption that the key names in the database and the given pattern have limited "
         "length.")
def cmd_keys(ks: Keyspace, argv: list[bytes]) -> Reply:
    pattern = argv[1]
    if pattern == b"*":
        return [key for _, key in ks.iter_keys()]
    return [key for _, key in ks.iter_keys() if glob_match(pattern, key)]


@command("scan", -2, "readonly", group=GROUP, since="2.8.0",
         summary="Iterates over the key names in the database.",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough "
         "command calls for the cursor to return back to 0. N is the number of elements "
         "inside the collection.")
def cmd_scan(ks: Keyspace, argv: list[bytes]) -> Reply:
    """SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]; the cursor is a partition index."""
    sa = parse_scan_args(argv, 1, allow_type=True)
    nparts = len(ks.partitions)
    index = sa.cursor
    out: list[bytes] = []
    if index >= nparts:
        return [b"0", out]
    visited = 0
    match = sa.match if sa.match != b"*" else None
    wanted = sa.type.lower() if sa.type is not None else None
    while index < nparts and visited < sa.count:
        keys = ks.partition_keys(index)
        visited += len(keys)
        index += 1
        for key in keys:
            if match is not None and not glob_match(match, key):
                continue
            if wanted is not None:
                v = ks.get(key)
                if v is None or ks.type_name(v).encode() != wanted:
                    continue
            out.append(key)
    return [b"%d" % (index if index < nparts else 0), out]


@command("randomkey", 1, "readonly", group=GROUP, since="1.0.0",
         summary="Returns a random key name from the database.", complexity="O(1)")
def cmd_randomkey(ks: Keyspace, argv: list[bytes]) -> Reply:
    return ks.random_key()


@command("dbsize", 1, "readonly fast", group=GROUP, since="1.0.0",
         summary="Returns the number of keys in the database.", complexity="O(1)")
def cmd_dbsize(ks: Keyspace, argv: list[bytes]) -> Reply:
    return ks.dbsize()


def _check_flush(argv: list[bytes]) -> None:
    if len(argv) > 2 or (len(argv) == 2 and argv[1].upper() not in (b"SYNC", b"ASYNC")):
        raise CommandError(errors.SYNTAX)


def _flush(ks: Keyspace, argv: list[bytes]) -> Reply:
    _check_flush(argv)
    ks.flush()
    return OK


@command("flushdb", -1, "write", check=_check_flush, group=GROUP, since="1.0.0",
         summary="Remove all keys from the current database.",
         complexity="O(N) where N is the number of keys in the selected database")
def cmd_flushdb(ks: Keyspace, argv: list[bytes]) -> Reply:
    """FLUSHDB [ASYNC|SYNC]: both modes delete everything at apply."""
    return _flush(ks, argv)


@command("flushall", -1, "write", check=_check_flush, group=GROUP, since="1.0.0",
         summary="Removes all keys from all databases.",
         complexity="O(N) where N is the total number of keys in all databases")
def cmd_flushall(ks: Keyspace, argv: list[bytes]) -> Reply:
    """FLUSHALL [ASYNC|SYNC]: database 0 is the only one."""
    return _flush(ks, argv)


# --- OBJECT ---------------------------------------------------------------------------------
_HELP_LINES = [
    b"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    b"ENCODING <key>",
    b"    Return the kind of internal representation used in order to store the value",
    b"    associated with a <key>.",
    b"FREQ <key>",
    b"    Return the access frequency index of the <key>. The returned integer is",
    b"    proportional to the logarithm of the recent access frequency of the key.",
    b"IDLETIME <key>",
    b"    Return the idle time of the <key>, that is the approximated number of",
    b"    seconds elapsed since the last access to the key.",
    b"REFCOUNT <key>",
    b"    Return the number of references of the value associated with the specified",
    b"    <key>.",
    b"HELP",
    b"    Prints this help.",
]
OBJECT_HELP: list[Status] = [Status(line) for line in _HELP_LINES]


def _object_encoding(ks: Keyspace, v: object) -> Reply:
    return ks.table.types[type(v)].encoding(v).encode()


def _object_freq(ks: Keyspace, v: object) -> Reply:
    """gofish has no LFU maxmemory policy, so Redis's answer is always this error."""
    raise CommandError(errors.LFU_NOT_SELECTED)


def _object_idletime(ks: Keyspace, v: object) -> Reply:
    """Always 0: gofish tracks no access time (it would make every read a replicated write)."""
    return 0


def _object_refcount(ks: Keyspace, v: object) -> Reply:
    """1, or Redis's shared-object count for the small integers Redis shares (0..9999)."""
    if type(v) is bytes and len(v) <= 4:
        n = to_int(v)
        if n is not None and 0 <= n < _SHARED_INTEGERS:
            return _SHARED_REFCOUNT
    return 1


_OBJECT_KEYED = {
    b"ENCODING": ("object|encoding", _object_encoding),
    b"FREQ": ("object|freq", _object_freq),
    b"IDLETIME": ("object|idletime", _object_idletime),
    b"REFCOUNT": ("object|refcount", _object_refcount),
}


def _object_keys(argv: list[bytes]) -> list[bytes]:
    if len(argv) == 3 and argv[1].upper() in _OBJECT_KEYED:
        return [argv[2]]
    return []


def cmd_object(ks: Keyspace, argv: list[bytes]) -> Reply:
    """OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key, OBJECT HELP (a missing key: null)."""
    sub = argv[1].upper()
    if sub == b"HELP":
        if len(argv) != 2:
            raise CommandError(errors.wrong_arity("object|help"))
        return list(OBJECT_HELP)
    entry = _OBJECT_KEYED.get(sub)
    if entry is None:
        raise CommandError(errors.unknown_subcommand(argv[1], "object"))
    name, handler = entry
    if len(argv) != 3:
        raise CommandError(errors.wrong_arity(name))
    v = ks.get(argv[2])
    if v is None:
        return None
    return handler(ks, v)


def _object_spec() -> CommandSpec:
    subs = tuple(
        CommandSpec(
            name=name, arity=3, flags=frozenset({"readonly"}), first_key=2, last_key=2, step=1,
            handler=cmd_object, group=GROUP, since=since, summary=summary, complexity="O(1)",
        )
        for name, since, summary in (
            ("object|encoding", "2.2.3", "Returns the internal encoding of a Redis object."),
            ("object|freq", "4.0.0", "Returns the logarithmic access frequency counter of a "
             "Redis object."),
            ("object|idletime", "2.2.3", "Returns the time since the last access to a Redis "
             "object."),
            ("object|refcount", "2.2.3", "Returns the reference count of a value of a key."),
        )
    )
    help_spec = CommandSpec(
        name="object|help", arity=2, flags=frozenset({"loading", "stale"}), first_key=0,
        last_key=0, step=0, handler=cmd_object, group=GROUP, since="6.2.0",
        summary="Returns helpful text about the different subcommands.", complexity="O(1)",
    )
    container = CommandSpec(
        name="object", arity=-2, flags=frozenset({"readonly"}), first_key=0, last_key=0,
        step=0, handler=cmd_object, keys_of=_object_keys, group=GROUP, since="2.2.3",
        summary="A container for object introspection commands.",
        complexity="Depends on subcommand.",
    )
    return replace(container, subcommands=(*subs, help_spec))


SPECS: tuple[CommandSpec, ...] = (
    cmd_del, cmd_unlink, cmd_exists, cmd_touch, cmd_type, cmd_rename, cmd_renamenx, cmd_copy,
    cmd_keys, cmd_scan, cmd_randomkey, cmd_dbsize, cmd_flushdb, cmd_flushall, _object_spec(),
)


def register(table: CommandTable) -> None:
    """Register the generic key commands (they work on values of every type)."""
    table.add_all(SPECS)
    table.add_all(generic_expire.SPECS)
