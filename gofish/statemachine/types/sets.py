"""The set type: SADD, SPOP, SINTER, SSCAN ... as in Redis 7.0.

Rules:

- Values are `SetValue` (see ``set_model``): a member list plus a member → index dict, whose
  order depends only on the operations applied. Anything that changes state or picks at random
  iterates ``items``, never ``pos`` (``pos``'s own order is not rebuilt by a checkpoint load).
- SPOP's members are chosen at apply with ``ks.random_below`` (seeded from the log entry) as
  indexes into ``items``: the same on every node, including one restored from a checkpoint.
- SINTERSTORE/SUNIONSTORE/SDIFFSTORE store their result in a deterministic order: SINTER walks
  the smallest operand (the first of equal sizes) in its order, SUNION the operands in
  argument order, SDIFF the first operand.
- Replies listing a whole set (SMEMBERS, SSCAN, SINTER/SUNION/SDIFF, SPOP/SRANDMEMBER of the
  whole set) list an intset-shaped set sorted by value, as Redis does; otherwise in our order.
- Arguments are validated before the state is touched; a write's syntax and number errors are
  raised by its ``check``. WRONGTYPE on any key is raised before anything changes.
- A set that loses its last member is deleted; a store with an empty result deletes the
  destination (whatever its type).
"""

from __future__ import annotations

from gofish import errors
from gofish.errors import CommandError
from gofish.reply import Reply, SetReply
from gofish.statemachine.args import to_int
from gofish.statemachine.glob import glob_match
from gofish.statemachine.keyspace import Keyspace
from gofish.statemachine.registry import CommandSpec, CommandTable, command
from gofish.statemachine.scan import parse_cursor, parse_scan_args
from gofish.statemachine.types.sampling import parse_rand_count, sample_repeat, sample_unique
from gofish.statemachine.types.set_model import SET_TYPE, SetValue, reply_order

# Redis 7.0 error lines not (yet) in gofish.errors (SINTERCARD).

_WRONGTYPE = errors.WRONGTYPE


def _read(ks: Keyspace, key: bytes) -> SetValue | None:
    s = ks.get(key)
    if s is not None and type(s) is not SetValue:
        raise CommandError(_WRONGTYPE)
    return s


def _read_all(ks: Keyspace, keys: list[bytes]) -> list[SetValue | None]:
    """The sets at ``keys`` (None where missing); WRONGTYPE if any key holds something else."""
    out: list[SetValue | None] = []
    for key in keys:
        s = ks.get(key)
        if s is not None and type(s) is not SetValue:
            raise CommandError(_WRONGTYPE)
        out.append(s)
    return out


def _from_distinct(members: list[bytes]) -> SetValue:
    """A `SetValue` holding ``members`` (already distinct) in that order."""
    s = SetValue()
    s.items = members
    s.pos = {m: i for i, m in enumerate(members)}
    return s


# --- set algebra (pure; deterministic order) --------------------------------------------------
def _inter(sets: list[SetValue | None], limit: int = 0) -> list[bytes]:
    """Members of every set, walking the smallest; stops at ``limit`` members if > 0."""
    present: list[SetValue] = []
    for s in sets:
        if s is None:
            return []
        present.append(s)
    present.sort(key=len)  # stable: equal sizes keep argument order
    rest = [s.pos for s in present[1:]]
    out: list[bytes] = []
    for m in present[0].items:
        for pos in rest:
            if m not in pos:
                break
        else:
            out.append(m)
            if len(out) == limit:
                break
    return out


def _union(sets: list[SetValue | None]) -> list[bytes]:
    """Members of any set: first-seen order over the operands in argument order."""
    seen: dict[bytes, None] = {}
    for s in sets:
        if s is not None:
            seen.update(dict.fromkeys(s.items))
    return list(seen)


def _diff(sets: list[SetValue | None]) -> list[bytes]:
    """Members of the first set in none of the others, in the first set's order."""
    first = sets[0]
    if first is None:
        return []
    others = [s.pos for s in sets[1:] if s is not None]
    if not others:
        return list(first.items)
    out: list[bytes] = []
    for m in first.items:
        for pos in others:
            if m in pos:
                break
        else:
            out.append(m)
    return out


def _store(ks: Keyspace, dst: bytes, members: list[bytes]) -> int:
    """Replace ``dst`` with a set of ``members`` (delete it if empty); the new size."""
    if not members:
        ks.delete(dst)
        return 0
    ks.set(dst, _from_distinct(members))
    return len(members)


# --- argument parsing (shared by checks and handlers) -----------------------------------------
def _parse_spop_count(argv: list[bytes]) -> int | None:
    """SPOP's count (None when absent). ``SPOP key a b`` is a syntax error before anything."""
    argc = len(argv)
    if argc == 2:
        return None
    if argc > 3:
        raise CommandError(errors.SYNTAX)
    count = to_int(argv[2])
    if count is None or count < 0:
        raise CommandError(errors.POSITIVE)
    return count


def _check_spop(argv: list[bytes]) -> None:
    _parse_spop_count(argv)


def _parse_sintercard(argv: list[bytes]) -> tuple[list[bytes], int]:
    """(keys, limit) of ``SINTERCARD numkeys key [key ...] [LIMIT limit]`` (0 = no limit)."""
    numkeys = to_int(argv[1])
    if numkeys is None or numkeys < 1:
        raise CommandError(errors.NUMKEYS_POSITIVE)
    argc = len(argv)
    if numkeys > argc - 2:
        raise CommandError(errors.NUMKEYS_TOO_MANY)
    limit = 0
    j = 2 + numkeys
    while j < argc:
        if j + 1 < argc and argv[j].lower() == b"limit":
            v = to_int(argv[j + 1])
            if v is None or v < 0:
                raise CommandError(errors.LIMIT_NEGATIVE)
            limit = v
            j += 2
        else:
            raise CommandError(errors.SYNTAX)
    return argv[2 : 2 + numkeys], limit


def _sintercard_keys(argv: list[bytes]) -> list[bytes]:
    """The keys of a SINTERCARD (none if numkeys is invalid: the handler reports it)."""
    numkeys = to_int(argv[1])
    if numkeys is None or numkeys < 1 or numkeys > len(argv) - 2:
        return []
    return argv[2 : 2 + numkeys]


# --- writes ------------------------------------------------------------------------------------
@command(
    "sadd", -3, "write denyoom fast", (1, 1, 1), group="set",
    summary="Add one or more members to a set", since="1.0.0",
    complexity="O(1) for each element added, so O(N) to add N elements when the command is "
    "called with multiple arguments.",
)
def sadd(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``SADD key member [member ...]`` → the number of members that were new."""
    key = argv[1]
    s = ks.get(key)
    if s is None:
        s = SetValue()
        pos = s.pos
        items = s.items
        for m in argv[2:]:
            if m not in pos:
                pos[m] = len(items)
                items.append(m)
        ks.set(key, s)
        return len(items)
    if type(s) is not SetValue:
        raise CommandError(_WRONGTYPE)
    pos = s.pos
    items = s.items
    if len(argv) == 3:  # the common single-member form
        m = argv[2]
        if m in pos:
            return 0
        pos[m] = len(items)
        items.append(m)
        ks.modified(key)
        return 1
    before = len(items)
    for m in argv[2:]:
        if m not in pos:
            pos[m] = len(items)
            items.append(m)
    added = len(items) - before
    if added:
        ks.modified(key)
    return added


@command(
    "srem", -3, "write fast", (1, 1, 1), group="set",
    summary="Remove one or more members from a set", since="1.0.0",
    complexity="O(N) where N is the number of members to be removed.",
)
def srem(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``SREM key member [member ...]`` → the number removed; an emptied set is deleted."""
    key = argv[1]
    s = _read(ks, key)
    if s is None:
        return 0
    removed = 0
    for m in argv[2:]:
        if s.remove(m):
            removed += 1
    if removed:
        if s.items:
            ks.modified(key)
        else:
            ks.delete(key)
    return removed


@command(
    "spop", -2, "write fast", (1, 1, 1), check=_check_spop, group="set",
    summary="Remove and return one or multiple random members from a set", since="1.0.0",
    complexity="Without the count argument O(1), otherwise O(N) where N is the value of the "
    "passed count.",
)
def spop(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``SPOP key [count]``.

    Without count: a random member, removed (nil for a missing key). With count: a set reply
    of up to count distinct members, removed (empty for a missing key or count 0); count ≥ size
    takes the whole set and deletes the key. Each member is ``items[random_below(len)]`` at the
    time it is taken, so every node removes the same ones. Errors: more than one argument after
    the key (syntax), count not a non-negative integer (``must be positive``), WRONGTYPE.
    """
    count = _parse_spop_count(argv)
    key = argv[1]
    s = _read(ks, key)
    if count is None:
        if s is None:
            return None
        member = s.pop_at(ks.random_below(len(s.items)))
        if s.items:
            ks.modified(key)
        else:
            ks.delete(key)
        return member
    if s is None or count == 0:
        return SetReply()
    n = len(s.items)
    if count >= n:
        ks.delete(key)
        return SetReply(reply_order(s.items))
    rand = ks.random_below
    pop_at = s.pop_at
    popped = SetReply([pop_at(rand(n - i)) for i in range(count)])
    ks.modified(key)
    return popped


@command(
    "smove", 4, "write fast", (1, 2, 1), group="set",
    summary="Move a member from one set to another", since="1.0.0", complexity="O(1)",
)
def smove(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``SMOVE source destination member`` → 1 if moved, 0 if not in source.

    A missing source answers 0 before the destination's type is looked at (as Redis does);
    otherwise WRONGTYPE if either key holds something else. source == destination answers
    whether the member is there and changes nothing.
    """
    src_key, dst_key, member = argv[1], argv[2], argv[3]
    src = ks.get(src_key)
    if src is None:
        return 0
    dst = ks.get(dst_key)
    if type(src) is not SetValue or (dst is not None and type(dst) is not SetValue):
        raise CommandError(_WRONGTYPE)
    if src_key == dst_key:
        return 1 if member in src.pos else 0
    if not src.remove(member):
        return 0
    if src.items:
        ks.modified(src_key)
    else:
        ks.delete(src_key)
    if dst is None:
        ks.set(dst_key, _from_distinct([member]))
    elif dst.add(member):
        ks.modified(dst_key)
    return 1


@command(
    "sinterstore", -3, "write denyoom", (1, -1, 1), group="set",
    summary="Intersect multiple sets and store the resulting set in a key", since="1.0.0",
    complexity="O(N*M) worst case where N is the cardinality of the smallest set and M is the "
    "number of sets.",
)
def sinterstore(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``SINTERSTORE destination key [key ...]`` → the size of the stored intersection."""
    return _store(ks, argv[1], _inter(_read_all(ks, argv[2:])))


@command(
    "sunionstore", -3, "write denyoom", (1, -1, 1), group="set",
    summary="Add multiple sets and store the resulting set in a key", since="1.0.0",
    complexity="O(N) where N is the total number of elements in all given sets.",
)
def sunionstore(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``SUNIONSTORE destination key [key ...]`` → the size of the stored union."""
    return _store(ks, argv[1], _union(_read_all(ks, argv[2:])))


@command(
    "sdiffstore", -3, "write denyoom", (1, -1, 1), group="set",
    summary="Subtract multiple sets and store the resulting set in a key", since="1.0.0",
    complexity="O(N) where N is the total number of elements in all given sets.",
)
def sdiffstore(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``SDIFFSTORE destination key [key ...]`` → the size of the stored difference."""
    return _store(ks, argv[1], _diff(_read_all(ks, argv[2:])))


# --- reads -------------------------------------------------------------------------------------
@command(
    "smembers", 2, "readonly", (1, 1, 1), group="set",
    summary="Get all the members in a set", since="1.0.0",
    complexity="O(N) where N is the set cardinality.",
)
def smembers(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``SMEMBERS key`` → a set reply of every member (empty for a missing key)."""
    s = _read(ks, argv[1])
    if s is None:
        return SetReply()
    return SetReply(reply_order(s.items))


@command(
    "sismember", 3, "readonly fast", (1, 1, 1), group="set",
    summary="Determine if a given value is a member of a set", since="1.0.0",
    complexity="O(1)",
)
def sismember(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``SISMEMBER key member`` → 1 or 0."""
    s = ks.get(argv[1])
    if s is None:
        return 0
    if type(s) is not SetValue:
        raise CommandError(_WRONGTYPE)
    return 1 if argv[2] in s.pos else 0


@command(
    "smismember", -3, "readonly fast", (1, 1, 1), group="set",
    summary="Returns the membership associated with the given elements for a set",
    since="6.2.0",
    complexity="O(N) where N is the number of elements being checked for membership",
)
def smismember(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``SMISMEMBER key member [member ...]`` → 1 or 0 per member."""
    s = _read(ks, argv[1])
    if s is None:
        return [0] * (len(argv) - 2)
    pos = s.pos
    return [1 if m in pos else 0 for m in argv[2:]]


@command(
    "scard", 2, "readonly fast", (1, 1, 1), group="set",
    summary="Get the number of members in a set", since="1.0.0", complexity="O(1)",
)
def scard(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``SCARD key`` → the number of members (0 for a missing key)."""
    s = ks.get(argv[1])
    if s is None:
        return 0
    if type(s) is not SetValue:
        raise CommandError(_WRONGTYPE)
    return len(s.items)


@command(
    "srandmember", -2, "readonly", (1, 1, 1), group="set",
    summary="Get one or multiple random members from a set", since="1.0.0",
    complexity="Without the count argument O(1), otherwise O(N) where N is the absolute value "
    "of the passed count.",
)
def srandmember(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``SRANDMEMBER key [count]``; nothing is removed.

    Without count: a random member or nil. With count ≥ 0: up to count distinct members
    (the whole set if count ≥ size); count < 0: exactly -count members drawn with repeats;
    an array (not a set reply, even in RESP3), empty for a missing key. Errors, in order:
    more than one argument after the key (syntax); count not an integer or ``-2**63``;
    WRONGTYPE.
    """
    argc = len(argv)
    if argc == 2:
        s = _read(ks, argv[1])
        if s is None:
            return None
        return s.items[ks.random_below(len(s.items))]
    if argc > 3:
        raise CommandError(errors.SYNTAX)
    count = parse_rand_count(argv[2])
    s = _read(ks, argv[1])
    if s is None or count == 0:
        return []
    if count < 0:
        return sample_repeat(ks, s.items, -count)
    if count >= len(s.items):
        return reply_order(s.items)
    return sample_unique(ks, s.items, count)


@command(
    "sinter", -2, "readonly", (1, -1, 1), group="set",
    summary="Intersect multiple sets", since="1.0.0",
    complexity="O(N*M) worst case where N is the cardinality of the smallest set and M is the "
    "number of sets.",
)
def sinter(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``SINTER key [key ...]`` → a set reply; a missing key is an empty set."""
    return SetReply(reply_order(_inter(_read_all(ks, argv[1:]))))


@command(
    "sintercard", -3, "readonly movablekeys", (0, 0, 0), keys_of=_sintercard_keys,
    group="set", summary="Intersect multiple sets and return the cardinality of the result",
    since="7.0.0",
    complexity="O(N*M) worst case where N is the cardinality of the smallest set and M is the "
    "number of sets.",
)
def sintercard(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``SINTERCARD numkeys key [key ...] [LIMIT limit]`` → the intersection's size.

    Counting stops at ``limit`` (0 = no limit). Errors, in order: numkeys not an integer ≥ 1
    (``numkeys should be greater than 0``); numkeys larger than the arguments left; an option
    other than ``LIMIT n`` (syntax); a limit that is not a non-negative integer
    (``LIMIT can't be negative``); WRONGTYPE.
    """
    keys, limit = _parse_sintercard(argv)
    return len(_inter(_read_all(ks, keys), limit))


@command(
    "sunion", -2, "readonly", (1, -1, 1), group="set",
    summary="Add multiple sets", since="1.0.0",
    complexity="O(N) where N is the total number of elements in all given sets.",
)
def sunion(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``SUNION key [key ...]`` → a set reply; a missing key is an empty set."""
    return SetReply(reply_order(_union(_read_all(ks, argv[1:]))))


@command(
    "sdiff", -2, "readonly", (1, -1, 1), group="set",
    summary="Subtract multiple sets", since="1.0.0",
    complexity="O(N) where N is the total number of elements in all given sets.",
)
def sdiff(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``SDIFF key [key ...]`` → a set reply: members of the first set in no other."""
    return SetReply(reply_order(_diff(_read_all(ks, argv[1:]))))


@command(
    "sscan", -3, "readonly", (1, 1, 1), group="set",
    summary="Incrementally iterate Set elements", since="2.8.0",
    complexity="O(1) for every call. O(N) for a complete iteration, including enough command "
    "calls for the cursor to return back to 0. N is the number of elements inside the "
    "collection..",
)
def sscan(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``SSCAN key cursor [MATCH pattern] [COUNT count]`` → ``[b"0", [member, ...]]``.

    Every matching member is returned in one reply with the final cursor 0, whatever the
    cursor and COUNT say — as Redis does for an intset. Large sets are also returned in one
    reply (Redis would page through them); SCAN's contract allows it and no cursor state is
    kept. Errors in Redis's order: an invalid cursor; WRONGTYPE; then (only if the key exists)
    the options' syntax and COUNT errors.
    """
    parse_cursor(argv[2])
    s = _read(ks, argv[1])
    if s is None:
        return [b"0", []]
    pattern = parse_scan_args(argv, 2).match
    members = reply_order(s.items)
    if pattern is not None and pattern != b"*":
        members = [m for m in members if glob_match(pattern, m)]
    return [b"0", members]


COMMANDS: tuple[CommandSpec, ...] = (
    sadd, srem, smembers, sismember, smismember, scard, spop, srandmember, smove, sinter,
    sintercard, sunion, sdiff, sinterstore, sunionstore, sdiffstore, sscan,
)


def register(table: CommandTable) -> None:
    """Register the set type and its commands."""
    table.add_type(SET_TYPE)
    table.add_all(COMMANDS)
