"""Numeric string commands: INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT (Redis 7.0 semantics).

A string holds a number when it is a canonical signed 64-bit decimal (INCR family, Redis's
``string2ll``) or what ``strtold`` accepts (INCRBYFLOAT, see `strings_float`). The result is
stored as its decimal text and the key keeps its TTL. INCRBYFLOAT is computed at apply with
the exact long-double emulation of `strings_float`, so every node stores the same bytes.

Error order follows Redis: INCRBY/DECRBY reject a malformed increment before looking at the
key (so `check` refuses it before it is proposed); INCRBYFLOAT looks at the key first (WRONGTYPE,
then the stored value, then the increment), so its increment is validated at apply.
"""

from __future__ import annotations

from gofish import errors
from gofish.errors import CommandError
from gofish.reply import Reply
from gofish.statemachine.args import INT64_MAX, INT64_MIN, parse_int
from gofish.statemachine.keyspace import Keyspace
from gofish.statemachine.longdouble import (
    LongDouble,
    add,
    format_human,
    parse_long_double,
)
from gofish.statemachine.registry import CommandSpec, command

GROUP = "string"

# Not in gofish.errors yet (Redis 7.0 DECRBY with -9223372036854775808).

_ZERO = LongDouble(0, 0, 0)


def _incr(ks: Keyspace, key: bytes, delta: int) -> int:
    v = ks.get(key)
    if v is None:
        cur = 0
    elif type(v) is not bytes:
        raise CommandError(errors.WRONGTYPE)
    else:
        # Redis's string2ll: a canonical decimal (the round trip rejects spaces, '+', leading
        # zeros, '_' and "-0") within 64 bits. Cheaper than args.to_int on this hot path.
        if len(v) > 20:
            raise CommandError(errors.NOT_INTEGER)
        try:
            cur = int(v)
        except ValueError:
            raise CommandError(errors.NOT_INTEGER) from None
        if b"%d" % cur != v or cur > INT64_MAX or cur < INT64_MIN:
            raise CommandError(errors.NOT_INTEGER)
    new = cur + delta
    if new > INT64_MAX or new < INT64_MIN:
        raise CommandError(errors.OVERFLOW)
    ks.set(key, b"%d" % new, keep_ttl=True)
    return new


def _check_incrby(argv: list[bytes]) -> None:
    parse_int(argv[2])


def _check_decrby(argv: list[bytes]) -> None:
    if parse_int(argv[2]) == INT64_MIN:
        raise CommandError(errors.DECREMENT_OVERFLOW)


@command("incr", 2, "write denyoom fast", (1, 1, 1), group=GROUP, since="1.0.0",
         summary="Increments the integer value of a key by one. Uses 0 as initial value if the "
         "key doesn't exist.", complexity="O(1)")
def cmd_incr(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _incr(ks, argv[1], 1)


@command("decr", 2, "write denyoom fast", (1, 1, 1), group=GROUP, since="1.0.0",
         summary="Decrements the integer value of a key by one. Uses 0 as initial value if the "
         "key doesn't exist.", complexity="O(1)")
def cmd_decr(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _incr(ks, argv[1], -1)


@command("incrby", 3, "write denyoom fast", (1, 1, 1), check=_check_incrby, group=GROUP,
         since="1.0.0", summary="Increments the integer value of a key by a number. Uses 0 as "
         "initial value if the key doesn't exist.", complexity="O(1)")
def cmd_incrby(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _incr(ks, argv[1], parse_int(argv[2]))


@command("decrby", 3, "write denyoom fast", (1, 1, 1), check=_check_decrby, group=GROUP,
         since="1.0.0", summary="Decrements a number from the integer value of a key. Uses 0 "
         "as initial value if the key doesn't exist.", complexity="O(1)")
def cmd_decrby(ks: Keyspace, argv: list[bytes]) -> Reply:
    _check_decrby(argv)
    return _incr(ks, argv[1], -parse_int(argv[2]))


@command("incrbyfloat", 3, "write denyoom fast", (1, 1, 1), group=GROUP, since="2.6.0",
         summary="Increment the floating point value of a key by a number. Uses 0 as initial "
         "value if the key doesn't exist.", complexity="O(1)")
def cmd_incrbyfloat(ks: Keyspace, argv: list[bytes]) -> Reply:
    """Redis 7.0 ``incrbyfloatCommand`` on x86-64, bit for bit (see `strings_float`)."""
    key = argv[1]
    v = ks.get_typed(key, bytes)
    cur = _ZERO if v is None else parse_long_double(v)
    if cur is None:
        raise CommandError(errors.NOT_FLOAT)
    inc = parse_long_double(argv[2])
    if inc is None:
        raise CommandError(errors.NOT_FLOAT)
    total = add(cur, inc)
    if total is None:
        raise CommandError(errors.NAN_OR_INF)
    new = format_human(total)
    ks.set(key, new, keep_ttl=True)
    return new


SPECS: tuple[CommandSpec, ...] = (cmd_incr, cmd_decr, cmd_incrby, cmd_decrby, cmd_incrbyfloat)
