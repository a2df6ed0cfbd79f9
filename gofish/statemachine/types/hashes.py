"""The hash type: HSET, HGET, HINCRBY, HRANDFIELD, HSCAN ... as in Redis 7.0.

Rules:

- A hash is stored as a plain ``dict[bytes, bytes]`` (field → value). Its order is insertion
  order, which is deterministic and also the order Redis keeps for a listpack-encoded hash;
  updating a field keeps its place, deleting one closes the gap.
- ``OBJECT ENCODING`` answers ``listpack`` while the hash has at most 128 fields and every
  field and value is at most 64 bytes (``hash-max-listpack-entries`` / ``-value`` as the 7.0
  ``redis.conf`` ships them), else ``hashtable``. Unlike Redis the answer is a function of the
  current contents: a hash that shrinks back answers ``listpack`` again.
- Arguments are validated before the state is touched; a write's syntax and number-format
  errors are raised by its ``check`` so they never reach the log. Errors decided by state
  (WRONGTYPE, "hash value is not an integer", overflow) are raised before any change.
- A hash that loses its last field is deleted.
- HINCRBYFLOAT is computed at apply with `strings_float`'s exact integer emulation of Redis's
  x87 ``long double`` (the same code as INCRBYFLOAT), so every node stores the same bytes.
"""

from __future__ import annotations

from itertools import islice

from gofish import errors
from gofish.errors import CommandError
from gofish.reply import OK, Map, Reply
from gofish.statemachine.args import INT64_MAX, INT64_MIN, parse_int, to_int
from gofish.statemachine.glob import glob_match
from gofish.statemachine.keyspace import Keyspace
from gofish.statemachine.longdouble import LongDouble, format_human, parse_long_double
from gofish.statemachine.longdouble import add as ld_add
from gofish.statemachine.registry import CommandSpec, CommandTable, TypeSpec, command
from gofish.statemachine.scan import parse_cursor, parse_scan_args
from gofish.statemachine.types.sampling import (
    parse_rand_count,
    sample_repeat,
    sample_unique,
)

LISTPACK_ENTRIES = 128
LISTPACK_VALUE = 64

# Redis 7.0 error line not (yet) in gofish.errors: HINCRBYFLOAT with an infinite increment.

_HSET_ARITY = errors.wrong_arity("hset")
_HMSET_ARITY = errors.wrong_arity("hmset")
_WRONGTYPE = errors.WRONGTYPE
_WITHVALUES_MIN = -(INT64_MAX // 2)


# --- value type ------------------------------------------------------------------------------
def _encoding(h: dict[bytes, bytes]) -> str:
    if len(h) > LISTPACK_ENTRIES:
        return "hashtable"
    for f, v in h.items():
        if len(f) > LISTPACK_VALUE or len(v) > LISTPACK_VALUE:
            return "hashtable"
    return "listpack"


def _dump(h: dict[bytes, bytes]) -> list[bytes]:
    """Fields and values interleaved, in the hash's order."""
    out: list[bytes] = []
    for f, v in h.items():
        out.append(f)
        out.append(v)
    return out


def _load(data: list[bytes]) -> dict[bytes, bytes]:
    return dict(zip(data[::2], data[1::2], strict=True))


HASH_TYPE = TypeSpec(
    name="hash", pytype=dict, encoding=_encoding, copy=dict, dump=_dump, load=_load
)


def _read(ks: Keyspace, key: bytes) -> dict[bytes, bytes] | None:
    h = ks.get(key)
    if h is not None and type(h) is not dict:
        raise CommandError(_WRONGTYPE)
    return h


# --- checks (run before proposing; never look at state) --------------------------------------
def _check_hset(argv: list[bytes]) -> None:
    if len(argv) & 1:
        raise CommandError(_HSET_ARITY)


def _check_hmset(argv: list[bytes]) -> None:
    if len(argv) & 1:
        raise CommandError(_HMSET_ARITY)


def _check_hincrby(argv: list[bytes]) -> None:
    parse_int(argv[3])


def _parse_float_incr(arg: bytes) -> LongDouble:
    """HINCRBYFLOAT's increment: Redis's ``string2ld`` (strtold) and no infinity."""
    v = parse_long_double(arg)
    if v is None:
        raise CommandError(errors.NOT_FLOAT)
    if v.inf:
        raise CommandError(errors.VALUE_NAN_OR_INF)
    return v


def _check_hincrbyfloat(argv: list[bytes]) -> None:
    _parse_float_incr(argv[3])


def _parse_hrandfield(argv: list[bytes]) -> tuple[int, bool]:
    """(count, withvalues) of ``HRANDFIELD key count [WITHVALUES]``; Redis's order of errors."""
    count = parse_rand_count(argv[2])
    argc = len(argv)
    if argc > 4 or (argc == 4 and argv[3].lower() != b"withvalues"):
        raise CommandError(errors.SYNTAX)
    withvalues = argc == 4
    if withvalues and count < _WITHVALUES_MIN:
        raise CommandError(errors.VALUE_OUT_OF_RANGE)
    return count, withvalues


# --- writes ----------------------------------------------------------------------------------
def _set_pairs(ks: Keyspace, argv: list[bytes]) -> int:
    """Set the field/value pairs of ``argv[2:]``; the number of fields that were new."""
    key = argv[1]
    h = ks.get(key)
    if h is None:
        h = {}
        if len(argv) == 4:
            h[argv[2]] = argv[3]
        else:
            h.update(zip(argv[2::2], argv[3::2], strict=True))
        ks.set(key, h)
        return len(h)
    if type(h) is not dict:
        raise CommandError(_WRONGTYPE)
    before = len(h)
    if len(argv) == 4:
        h[argv[2]] = argv[3]
    else:
        h.update(zip(argv[2::2], argv[3::2], strict=True))
    ks.modified(key)
    return len(h) - before


@command(
    "hset", -4, "write denyoom fast", (1, 1, 1), check=_check_hset, group="hash",
    summary="Set the string value of a hash field", since="2.0.0",
    complexity="O(1) for each field/value pair added, so O(N) to add N field/value pairs "
    "when the command is called with multiple field/value pairs.",
)
def hset(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``HSET key field value [field value ...]`` → the number of fields added."""
    if len(argv) & 1:
        raise CommandError(_HSET_ARITY)
    return _set_pairs(ks, argv)


@command(
    "hmset", -4, "write denyoom fast", (1, 1, 1), check=_check_hmset, group="hash",
    summary="Set multiple hash fields to multiple values", since="2.0.0",
    complexity="O(N) where N is the number of fields being set.",
)
def hmset(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``HMSET key field value [field value ...]`` → OK (deprecated form of HSET)."""
    if len(argv) & 1:
        raise CommandError(_HMSET_ARITY)
    _set_pairs(ks, argv)
    return OK


@command(
    "hsetnx", 4, "write denyoom fast", (1, 1, 1), group="hash",
    summary="Set the value of a hash field, only if the field does not exist", since="2.0.0",
    complexity="O(1)",
)
def hsetnx(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``HSETNX key field value`` → 1 if the field was set, 0 if it already existed."""
    key, field = argv[1], argv[2]
    h = _read(ks, key)
    if h is None:
        ks.set(key, {field: argv[3]})
        return 1
    if field in h:
        return 0
    h[field] = argv[3]
    ks.modified(key)
    return 1


@command(
    "hdel", -3, "write fast", (1, 1, 1), group="hash",
    summary="Delete one or more hash fields", since="2.0.0",
    complexity="O(N) where N is the number of fields to be removed.",
)
def hdel(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``HDEL key field [field ...]`` → the number of fields removed; an emptied hash is deleted."""
    key = argv[1]
    h = _read(ks, key)
    if h is None:
        return 0
    removed = 0
    for field in argv[2:]:
        if h.pop(field, None) is not None:
            removed += 1
    if removed:
        if h:
            ks.modified(key)
        else:
            ks.delete(key)
    return removed


@command(
    "hincrby", 4, "write denyoom fast", (1, 1, 1), check=_check_hincrby, group="hash",
    summary="Increment the integer value of a hash field by the given number", since="2.0.0",
    complexity="O(1)",
)
def hincrby(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``HINCRBY key field increment`` → the new value.

    A missing field counts as 0. Errors: increment not an int64; ``ERR hash value is not an
    integer`` if the stored value is not a canonical int64; overflow past int64.
    """
    incr = parse_int(argv[3])
    key, field = argv[1], argv[2]
    h = _read(ks, key)
    old = 0
    if h is not None:
        cur = h.get(field)
        if cur is not None:
            v = to_int(cur)
            if v is None:
                raise CommandError(errors.HASH_NOT_INTEGER)
            old = v
    new = old + incr
    if new > INT64_MAX or new < INT64_MIN:
        raise CommandError(errors.OVERFLOW)
    if h is None:
        ks.set(key, {field: b"%d" % new})
    else:
        h[field] = b"%d" % new
        ks.modified(key)
    return new


@command(
    "hincrbyfloat", 4, "write denyoom fast", (1, 1, 1), check=_check_hincrbyfloat,
    group="hash", summary="Increment the float value of a hash field by the given amount",
    since="2.6.0", complexity="O(1)",
)
def hincrbyfloat(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``HINCRBYFLOAT key field increment`` → the new value as a bulk string.

    Computed and formatted as Redis 7.0 does (x87 long double, ``%.17Lf`` with trailing zeros
    removed). Errors: increment not a float (``ERR value is not a valid float``) or infinite
    (``ERR value is NaN or Infinity``); stored value not a float (``ERR hash value is not a
    float``); a result that is infinite (``ERR increment would produce NaN or Infinity``).
    """
    incr = _parse_float_incr(argv[3])
    key, field = argv[1], argv[2]
    h = _read(ks, key)
    cur = h.get(field) if h is not None else None
    if cur is None:
        total: LongDouble | None = incr
    else:
        old = parse_long_double(cur)
        if old is None:
            raise CommandError(errors.HASH_NOT_FLOAT)
        total = ld_add(old, incr)
    if total is None:
        raise CommandError(errors.NAN_OR_INF)
    new = format_human(total)
    if h is None:
        ks.set(key, {field: new})
    else:
        h[field] = new
        ks.modified(key)
    return new


# --- reads -----------------------------------------------------------------------------------
@command(
    "hget", 3, "readonly fast", (1, 1, 1), group="hash",
    summary="Get the value of a hash field", since="2.0.0", complexity="O(1)",
)
def hget(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``HGET key field`` → the value or nil."""
    h = ks.get(argv[1])
    if h is None:
        return None
    if type(h) is not dict:
        raise CommandError(_WRONGTYPE)
    return h.get(argv[2])


@command(
    "hmget", -3, "readonly fast", (1, 1, 1), group="hash",
    summary="Get the values of all the given hash fields", since="2.0.0",
    complexity="O(N) where N is the number of fields being requested.",
)
def hmget(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``HMGET key field [field ...]`` → a value or nil per field."""
    h = _read(ks, argv[1])
    if h is None:
        return [None] * (len(argv) - 2)
    return [h.get(f) for f in argv[2:]]


@command(
    "hlen", 2, "readonly fast", (1, 1, 1), group="hash",
    summary="Get the number of fields in a hash", since="2.0.0", complexity="O(1)",
)
def hlen(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``HLEN key`` → the number of fields (0 for a missing key)."""
    h = _read(ks, argv[1])
    return 0 if h is None else len(h)


@command(
    "hstrlen", 3, "readonly fast", (1, 1, 1), group="hash",
    summary="Get the length of the value of a hash field", since="3.2.0", complexity="O(1)",
)
def hstrlen(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``HSTRLEN key field`` → the length of the value, 0 if there is none."""
    h = _read(ks, argv[1])
    if h is None:
        return 0
    v = h.get(argv[2])
    return 0 if v is None else len(v)


@command(
    "hexists", 3, "readonly fast", (1, 1, 1), group="hash",
    summary="Determine if a hash field exists", since="2.0.0", complexity="O(1)",
)
def hexists(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``HEXISTS key field`` → 1 or 0."""
    h = _read(ks, argv[1])
    return 1 if h is not None and argv[2] in h else 0


@command(
    "hkeys", 2, "readonly", (1, 1, 1), group="hash",
    summary="Get all the fields in a hash", since="2.0.0",
    complexity="O(N) where N is the size of the hash.",
)
def hkeys(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``HKEYS key`` → the fields, in the hash's order."""
    h = _read(ks, argv[1])
    return [] if h is None else list(h)


@command(
    "hvals", 2, "readonly", (1, 1, 1), group="hash",
    summary="Get all the values in a hash", since="2.0.0",
    complexity="O(N) where N is the size of the hash.",
)
def hvals(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``HVALS key`` → the values, in the hash's order."""
    h = _read(ks, argv[1])
    return [] if h is None else list(h.values())


@command(
    "hgetall", 2, "readonly", (1, 1, 1), group="hash",
    summary="Get all the fields and values in a hash", since="2.0.0",
    complexity="O(N) where N is the size of the hash.",
)
def hgetall(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``HGETALL key`` → a `Map` of fields to values (a flat array in RESP2)."""
    h = _read(ks, argv[1])
    return Map() if h is None else Map(h.items())


@command(
    "hrandfield", -2, "readonly", (1, 1, 1), group="hash",
    summary="Get one or multiple random fields from a hash", since="6.2.0",
    complexity="O(N) where N is the number of fields returned",
)
def hrandfield(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``HRANDFIELD key [count [WITHVALUES]]``.

    Without count: one random field, nil for a missing key. With count ≥ 0: up to count
    distinct fields (all of them, in the hash's order, if count ≥ size); with count < 0:
    exactly -count fields drawn with repeats; a missing key gives an empty array. WITHVALUES
    gives field, value pairs: a flat array in RESP2 (what this returns; RESP3 nests each pair
    in its own 2-element array, which needs a reply type gofish.reply does not have yet).
    Errors, in Redis's order: count not an integer or ``-2**63``; anything after count other
    than one WITHVALUES (syntax); WITHVALUES with count < ``-(2**63-1)//2``; WRONGTYPE.
    """
    if len(argv) == 2:
        h = _read(ks, argv[1])
        if not h:
            return None
        return next(islice(iter(h), ks.random_below(len(h)), None))
    count, withvalues = _parse_hrandfield(argv)
    h = _read(ks, argv[1])
    if not h or count == 0:
        return []
    if count >= len(h):
        return _dump(h) if withvalues else list(h)
    if withvalues:
        pairs = list(h.items())
        if count > 0:
            picked = sample_unique(ks, pairs, count)
        else:
            picked = sample_repeat(ks, pairs, -count)
        out: list[bytes] = []
        for f, v in picked:
            out.append(f)
            out.append(v)
        return out
    fields = list(h)
    if count > 0:
        return sample_unique(ks, fields, count)
    return sample_repeat(ks, fields, -count)


@command(
    "hscan", -3, "readonly", (1, 1, 1), group="hash",
    summary="Incrementally iterate hash fields and associated values", since="2.8.0",
    complexity="O(1) for every call. O(N) for a complete iteration, including enough command "
    "calls for the cursor to return back to 0. N is the number of elements inside the "
    "collection..",
)
def hscan(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``HSCAN key cursor [MATCH pattern] [COUNT count]`` → ``[b"0", [field, value, ...]]``.

    Every matching field is returned in one reply with the final cursor 0, whatever the
    cursor and COUNT say — as Redis does for a listpack-encoded hash. Large hashes are also
    returned in one reply (Redis would page through them); that is allowed by SCAN's contract
    (a full iteration returns every element present throughout) and keeps no cursor state.
    Errors in Redis's order: an invalid cursor; WRONGTYPE; then (only if the key exists) the
    options' syntax and COUNT errors.
    """
    parse_cursor(argv[2])
    h = _read(ks, argv[1])
    if h is None:
        return [b"0", []]
    pattern = parse_scan_args(argv, 2).match
    if pattern is None or pattern == b"*":
        return [b"0", _dump(h)]
    out: list[bytes] = []
    for f, v in h.items():
        if glob_match(pattern, f):
            out.append(f)
            out.append(v)
    return [b"0", out]


COMMANDS: tuple[CommandSpec, ...] = (
    hset, hsetnx, hget, hmget, hmset, hdel, hlen, hstrlen, hexists, hkeys, hvals, hgetall,
    hincrby, hincrbyfloat, hrandfield, hscan,
)


def register(table: CommandTable) -> None:
    """Register the hash type and its commands."""
    table.add_type(HASH_TYPE)
    table.add_all(COMMANDS)
