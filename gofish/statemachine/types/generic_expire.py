"""Key expiry commands: EXPIRE PEXPIRE EXPIREAT PEXPIREAT (NX XX GT LT), TTL PTTL EXPIRETIME
PEXPIRETIME, PERSIST, and the internal ``gofish.expire`` used for active expiry.

Rules (docs/adr/0004-deterministic-apply.md):

- Relative times (EXPIRE, PEXPIRE) are added to ``ks.now_ms``; at apply that is the leader's
  clock logged in the entry, so every node stores the same absolute expiry.
- A time that is already past (``when <= now``) deletes the key, as Redis does; the reply is 1.
- Expired keys are deleted only by the log: by a command that touches them at apply
  (``ks.get`` does it) or by ``gofish.expire``, which the leader proposes for keys it found
  expired; at apply that command deletes each named key only if it is expired as of the
  entry's own time, so a key whose TTL was extended in the meantime survives.
"""

from __future__ import annotations

from gofish import errors
from gofish.errors import CommandError
from gofish.reply import Reply
from gofish.statemachine.args import INT64_MAX, INT64_MIN, parse_int
from gofish.statemachine.keyspace import Keyspace
from gofish.statemachine.registry import CommandSpec, command

GROUP = "generic"

_NX = 1
_XX = 2
_GT = 4
_LT = 8
_OPTIONS = {b"NX": _NX, b"XX": _XX, b"GT": _GT, b"LT": _LT}
# C's LLONG_MIN / 1000 truncates toward zero.
_SECONDS_MIN = -(-INT64_MIN // 1000)
_SECONDS_MAX = INT64_MAX // 1000


def unsupported_option(opt: bytes) -> bytes:
    """Not in gofish.errors yet: Redis 7.0's ``ERR Unsupported option <opt>`` (EXPIRE family)."""
    shown = opt.split(b"\0", 1)[0]
    return errors.formatted(b"ERR Unsupported option " + shown)


def _parse_flags(argv: list[bytes]) -> int:
    flags = 0
    for opt in argv[3:]:
        bit = _OPTIONS.get(opt.upper())
        if bit is None:
            raise CommandError(unsupported_option(opt))
        flags |= bit
    if flags & _NX and flags & (_XX | _GT | _LT):
        raise CommandError(errors.EXPIRE_OPTIONS_NX)
    if flags & _GT and flags & _LT:
        raise CommandError(errors.EXPIRE_OPTIONS_GT_LT)
    return flags


def _parse_when(argv: list[bytes], seconds: bool) -> int:
    """The time argument in ms (not yet offset by the base time)."""
    when = parse_int(argv[2])
    if seconds:
        if when > _SECONDS_MAX or when < _SECONDS_MIN:
            raise CommandError(errors.invalid_expire(argv[0].decode("latin-1").lower()))
        when *= 1000
    return when


def _expire(ks: Keyspace, argv: list[bytes], seconds: bool, relative: bool) -> Reply:
    flags = _parse_flags(argv)
    when = _parse_when(argv, seconds)
    base = ks.now_ms if relative else 0
    if when > INT64_MAX - base:
        raise CommandError(errors.invalid_expire(argv[0].decode("latin-1").lower()))
    when += base
    key = argv[1]
    if ks.get(key) is None:
        return 0
    if flags:
        current = ks.get_expire(key)
        if flags & _NX and current is not None:
            return 0
        if flags & _XX and current is None:
            return 0
        if flags & _GT and (current is None or when <= current):
            return 0
        if flags & _LT and current is not None and when >= current:
            return 0
    if when <= ks.now_ms:
        ks.delete(key)
    else:
        ks.set_expire(key, when)
    return 1


def _check_seconds(argv: list[bytes]) -> None:
    _parse_flags(argv)
    _parse_when(argv, True)


def _check_ms(argv: list[bytes]) -> None:
    _parse_flags(argv)
    _parse_when(argv, False)


_EXPIRE_COMPLEXITY = "O(1)"


@command("expire", -3, "write fast", (1, 1, 1), check=_check_seconds, group=GROUP,
         since="1.0.0", summary="Sets the expiration time of a key in seconds.",
         complexity=_EXPIRE_COMPLEXITY)
def cmd_expire(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _expire(ks, argv, True, True)


@command("pexpire", -3, "write fast", (1, 1, 1), check=_check_ms, group=GROUP,
         since="2.6.0", summary="Sets the expiration time of a key in milliseconds.",
         complexity=_EXPIRE_COMPLEXITY)
def cmd_pexpire(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _expire(ks, argv, False, True)


@command("expireat", -3, "write fast", (1, 1, 1), check=_check_seconds, group=GROUP,
         since="1.2.0", summary="Sets the expiration time of a key to a Unix timestamp.",
         complexity=_EXPIRE_COMPLEXITY)
def cmd_expireat(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _expire(ks, argv, True, False)


@command("pexpireat", -3, "write fast", (1, 1, 1), check=_check_ms, group=GROUP,
         since="2.6.0", summary="Sets the expiration time of a key to a Unix milliseconds "
         "timestamp.", complexity=_EXPIRE_COMPLEXITY)
def cmd_pexpireat(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _expire(ks, argv, False, False)


def _ttl(ks: Keyspace, key: bytes, ms: bool, absolute: bool) -> int:
    if ks.get(key) is None:
        return -2
    at = ks.get_expire(key)
    if at is None:
        return -1
    ttl = at if absolute else max(at - ks.now_ms, 0)
    return ttl if ms else (ttl + 500) // 1000


@command("ttl", 2, "readonly fast", (1, 1, 1), group=GROUP, since="1.0.0",
         summary="Returns the expiration time in seconds of a key.", complexity="O(1)")
def cmd_ttl(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _ttl(ks, argv[1], False, False)


@command("pttl", 2, "readonly fast", (1, 1, 1), group=GROUP, since="2.6.0",
         summary="Returns the expiration time in milliseconds of a key.", complexity="O(1)")
def cmd_pttl(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _ttl(ks, argv[1], True, False)


@command("expiretime", 2, "readonly fast", (1, 1, 1), group=GROUP, since="7.0.0",
         summary="Returns the expiration time of a key as a Unix timestamp.",
         complexity="O(1)")
def cmd_expiretime(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _ttl(ks, argv[1], False, True)


@command("pexpiretime", 2, "readonly fast", (1, 1, 1), group=GROUP, since="7.0.0",
         summary="Returns the expiration time of a key as a Unix milliseconds timestamp.",
         complexity="O(1)")
def cmd_pexpiretime(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _ttl(ks, argv[1], True, True)


@command("persist", 2, "write fast", (1, 1, 1), group=GROUP, since="2.2.0",
         summary="Removes the expiration time of a key.", complexity="O(1)")
def cmd_persist(ks: Keyspace, argv: list[bytes]) -> Reply:
    if ks.get(argv[1]) is None:
        return 0
    return 1 if ks.persist(argv[1]) else 0


@command("gofish.expire", -2, "write internal", (1, -1, 1), group=GROUP, since="0.1.0",
         summary="Internal: deletes the given keys that are expired as of the entry's time "
         "(proposed by the leader for active expiry).", complexity="O(N) where N is the "
         "number of keys.")
def cmd_gofish_expire(ks: Keyspace, argv: list[bytes]) -> Reply:
    """Delete each named key whose expiry time is before the entry's time; reply the count.

    A key that is absent, has no expiry, or whose expiry is not yet due (it may have been
    extended after the leader proposed this) is left alone. Deterministic: it depends only on
    the state and ``ks.now_ms``, the entry's logged time.
    """
    deleted = 0
    now = ks.now_ms
    for key in argv[1:]:
        p = ks.partition_of(key)
        at = p.expires.get(key)
        if at is not None and now > at and key in p.data:
            ks.get(key)  # at apply this deletes the expired key and reports it dirty
            if key not in p.data:
                deleted += 1
    return deleted


SPECS: tuple[CommandSpec, ...] = (
    cmd_expire, cmd_pexpire, cmd_expireat, cmd_pexpireat, cmd_ttl, cmd_pttl, cmd_expiretime,
    cmd_pexpiretime, cmd_persist, cmd_gofish_expire,
)
