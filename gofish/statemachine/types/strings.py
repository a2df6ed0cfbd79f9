"""The string type: GET/SET and friends, as Redis 7.0 answers them.

Rules:

- A string value is stored as an immutable ``bytes`` object (``type(v) is bytes``); a handler
  never mutates one in place, it stores a new one with ``ks.set`` (``keep_ttl=True`` where Redis
  keeps the TTL: INCR*, APPEND, SETRANGE, INCRBYFLOAT; SET, GETSET, MSET clear it unless
  ``KEEPTTL``).
- Relative expiry times (``EX``/``PX``, SETEX, PSETEX, GETEX) are computed from ``ks.now_ms``,
  which at apply is the leader's logged clock, so every node stores the same absolute time.
- ``check`` functions raise only the errors Redis raises before it looks at the key (syntax,
  a malformed number), so those never reach the log; errors that Redis raises after a lookup
  (WRONGTYPE first, then e.g. GETEX's invalid expire) are raised by the handler at apply,
  before it changes anything.
- OBJECT ENCODING is a function of the bytes alone: ``int`` for a canonical 64-bit integer,
  ``embstr`` up to 44 bytes, else ``raw``. (Redis also answers ``raw`` for short strings built
  by APPEND/SETRANGE and ``embstr`` for INCRBYFLOAT's results; gofish does not track that.)

The numeric commands live in `strings_num`, the range/length commands and LCS in
`strings_range`; `register` adds them all.
"""

from __future__ import annotations

from gofish import errors
from gofish.errors import CommandError
from gofish.reply import OK, Reply
from gofish.statemachine.args import INT64_MAX, parse_int, to_int
from gofish.statemachine.keyspace import Keyspace
from gofish.statemachine.registry import CommandSpec, CommandTable, TypeSpec, command
from gofish.statemachine.types import strings_num, strings_range

GROUP = "string"

# Option bits of SET / GETEX (the names Redis uses in t_string.c).
NX = 1
XX = 2
EX = 4
PX = 8
KEEPTTL = 16
GET = 32
EXAT = 64
PXAT = 128
PERSIST = 256
_ANY_EXPIRE = EX | PX | EXAT | PXAT
_SECONDS = EX | EXAT
_RELATIVE = EX | PX


# --- the value type -----------------------------------------------------------------------
def _encoding(v: bytes) -> str:
    n = len(v)
    if n <= 20 and to_int(v) is not None:
        return "int"
    return "embstr" if n <= 44 else "raw"


def _same(v: bytes) -> bytes:
    return v


def _load(x: object) -> bytes:
    if not isinstance(x, bytes | bytearray | memoryview):
        raise TypeError(f"a string value must be bytes, not {type(x).__name__}")
    return bytes(x)


STRING_TYPE = TypeSpec(
    name="string", pytype=bytes, encoding=_encoding, copy=_same, dump=_same, load=_load
)


# --- option parsing shared by SET and GETEX ----------------------------------------------
def parse_extended(argv: list[bytes], start: int, is_set: bool) -> tuple[int, bytes | None]:
    """Redis's ``parseExtendedStringArgumentsOrReply``: (option bits, expire argument or None).

    Repeating an option is allowed (the last value wins); conflicting ones are a syntax error.
    """
    flags = 0
    expire: bytes | None = None
    n = len(argv)
    j = start
    while j < n:
        opt = argv[j].upper()
        more = j + 1 < n
        if opt == b"NX" and is_set and not flags & XX:
            flags |= NX
        elif opt == b"XX" and is_set and not flags & NX:
            flags |= XX
        elif opt == b"GET" and is_set:
            flags |= GET
        elif opt == b"KEEPTTL" and is_set and not flags & (PERSIST | _ANY_EXPIRE):
            flags |= KEEPTTL
        elif opt == b"PERSIST" and not is_set and not flags & (KEEPTTL | _ANY_EXPIRE):
            flags |= PERSIST
        elif opt == b"EX" and more and not flags & (KEEPTTL | PERSIST | EXAT | PX | PXAT):
            flags |= EX
            expire = argv[j + 1]
            j += 1
        elif opt == b"PX" and more and not flags & (KEEPTTL | PERSIST | EX | EXAT | PXAT):
            flags |= PX
            expire = argv[j + 1]
            j += 1
        elif opt == b"EXAT" and more and not flags & (KEEPTTL | PERSIST | EX | PX | PXAT):
            flags |= EXAT
            expire = argv[j + 1]
            j += 1
        elif opt == b"PXAT" and more and not flags & (KEEPTTL | PERSIST | EX | EXAT | PX):
            flags |= PXAT
            expire = argv[j + 1]
            j += 1
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    return flags, expire


def expire_at_ms(arg: bytes, flags: int, now_ms: int, name: str) -> int:
    """Redis's ``getExpireMillisecondsOrReply``: the absolute expiry time in ms.

    ``flags`` says the unit (EX/EXAT seconds) and whether it is relative (EX/PX, added to
    ``now_ms``). Raises "not an integer" or "invalid expire time in '<name>' command".
    """
    ms = parse_int(arg)
    seconds = flags & _SECONDS
    if ms <= 0 or (seconds and ms > INT64_MAX // 1000):
        raise CommandError(errors.invalid_expire(name))
    if seconds:
        ms *= 1000
    if flags & _RELATIVE:
        ms += now_ms
    if ms > INT64_MAX:  # Redis: the signed addition wraps negative
        raise CommandError(errors.invalid_expire(name))
    return ms


# --- checks (syntax and number formats Redis rejects before looking at the key) ----------
def _check_set(argv: list[bytes]) -> None:
    if len(argv) > 3:
        flags, expire = parse_extended(argv, 3, True)
        if expire is not None:
            expire_at_ms(expire, flags, 0, "set")


def _check_getex(argv: list[bytes]) -> None:
    parse_extended(argv, 2, False)


def _check_setex(argv: list[bytes]) -> None:
    expire_at_ms(argv[2], EX, 0, "setex")


def _check_psetex(argv: list[bytes]) -> None:
    expire_at_ms(argv[2], PX, 0, "psetex")


def _check_mset(argv: list[bytes]) -> None:
    if len(argv) % 2 == 0:
        raise CommandError(errors.wrong_arity(argv[0].decode("latin-1").lower()))


# --- commands -----------------------------------------------------------------------------
@command("get", 2, "readonly fast", (1, 1, 1), group=GROUP, since="1.0.0",
         summary="Returns the string value of a key.", complexity="O(1)")
def cmd_get(ks: Keyspace, argv: list[bytes]) -> Reply:
    v = ks.get(argv[1])
    if v is None or type(v) is bytes:
        return v
    raise CommandError(errors.WRONGTYPE)


@command("set", -3, "write denyoom", (1, 1, 1), check=_check_set, group=GROUP, since="1.0.0",
         summary="Sets the string value of a key, ignoring its type. The key is created if it "
         "doesn't exist.", complexity="O(1)")
def cmd_set(ks: Keyspace, argv: list[bytes]) -> Reply:
    key = argv[1]
    if len(argv) == 3:
        ks.set(key, argv[2])
        return OK
    flags, expire = parse_extended(argv, 3, True)
    at = expire_at_ms(expire, flags, ks.now_ms, "set") if expire is not None else None
    old = ks.get(key)
    if flags & GET and old is not None and type(old) is not bytes:
        raise CommandError(errors.WRONGTYPE)
    found = old is not None
    if (flags & NX and found) or (flags & XX and not found):
        return old if flags & GET else None
    ks.set(key, argv[2], keep_ttl=bool(flags & KEEPTTL))
    if at is not None:
        ks.set_expire(key, at)
    return old if flags & GET else OK


@command("setnx", 3, "write denyoom fast", (1, 1, 1), group=GROUP, since="1.0.0",
         summary="Set the string value of a key only when the key doesn't exist.",
         complexity="O(1)")
def cmd_setnx(ks: Keyspace, argv: list[bytes]) -> Reply:
    if ks.get(argv[1]) is not None:
        return 0
    ks.set(argv[1], argv[2])
    return 1


def _set_with_expire(ks: Keyspace, argv: list[bytes], flags: int, name: str) -> Reply:
    at = expire_at_ms(argv[2], flags, ks.now_ms, name)
    ks.set(argv[1], argv[3])
    ks.set_expire(argv[1], at)
    return OK


@command("setex", 4, "write denyoom", (1, 1, 1), check=_check_setex, group=GROUP,
         since="2.0.0", summary="Sets the string value and expiration time of a key. Creates "
         "the key if it doesn't exist.", complexity="O(1)")
def cmd_setex(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _set_with_expire(ks, argv, EX, "setex")


@command("psetex", 4, "write denyoom", (1, 1, 1), check=_check_psetex, group=GROUP,
         since="2.6.0", summary="Sets both string value and expiration time in milliseconds "
         "of a key. The key is created if it doesn't exist.", complexity="O(1)")
def cmd_psetex(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _set_with_expire(ks, argv, PX, "psetex")


@command("getset", 3, "write denyoom fast", (1, 1, 1), group=GROUP, since="1.0.0",
         summary="Returns the previous string value of a key after setting it to a new value.",
         complexity="O(1)")
def cmd_getset(ks: Keyspace, argv: list[bytes]) -> Reply:
    old: bytes | None = ks.get_typed(argv[1], bytes)
    ks.set(argv[1], argv[2])
    return old


@command("getdel", 2, "write fast", (1, 1, 1), group=GROUP, since="6.2.0",
         summary="Returns the string value of a key after deleting the key.",
         complexity="O(1)")
def cmd_getdel(ks: Keyspace, argv: list[bytes]) -> Reply:
    old: bytes | None = ks.get_typed(argv[1], bytes)
    if old is not None:
        ks.delete(argv[1])
    return old


@command("getex", -2, "write fast", (1, 1, 1), check=_check_getex, group=GROUP,
         since="6.2.0", summary="Returns the string value of a key after setting its "
         "expiration time.", complexity="O(1)")
def cmd_getex(ks: Keyspace, argv: list[bytes]) -> Reply:
    """GETEX: the expire argument is validated only once the key is known to be a string."""
    flags, expire = parse_extended(argv, 2, False)
    key = argv[1]
    v: bytes | None = ks.get_typed(key, bytes)
    if v is None:
        return None
    if expire is not None:
        at = expire_at_ms(expire, flags, ks.now_ms, "getex")
        if flags & (EXAT | PXAT) and at <= ks.now_ms:
            ks.delete(key)  # an absolute time already past deletes the key (Redis 7.0)
        else:
            ks.set_expire(key, at)
    elif flags & PERSIST:
        ks.persist(key)
    return v


@command("mget", -2, "readonly fast", (1, -1, 1), group=GROUP, since="1.0.0",
         summary="Atomically returns the string values of one or more keys.",
         complexity="O(N) where N is the number of keys to retrieve.")
def cmd_mget(ks: Keyspace, argv: list[bytes]) -> Reply:
    out: list[bytes | None] = []
    get = ks.get
    for key in argv[1:]:
        v = get(key)
        out.append(v if type(v) is bytes else None)
    return out


@command("mset", -3, "write denyoom", (1, -1, 2), check=_check_mset, group=GROUP,
         since="1.0.1", summary="Atomically creates or modifies the string values of one or "
         "more keys.", complexity="O(N) where N is the number of keys to set.")
def cmd_mset(ks: Keyspace, argv: list[bytes]) -> Reply:
    _check_mset(argv)
    set_ = ks.set
    for i in range(1, len(argv), 2):
        set_(argv[i], argv[i + 1])
    return OK


@command("msetnx", -3, "write denyoom", (1, -1, 2), check=_check_mset, group=GROUP,
         since="1.0.1", summary="Atomically modifies the string values of one or more keys "
         "only when all keys don't exist.", complexity="O(N) where N is the number of keys "
         "to set.")
def cmd_msetnx(ks: Keyspace, argv: list[bytes]) -> Reply:
    _check_mset(argv)
    n = len(argv)
    for i in range(1, n, 2):
        if ks.get(argv[i]) is not None:
            return 0
    for i in range(1, n, 2):
        ks.set(argv[i], argv[i + 1])
    return 1


SPECS: tuple[CommandSpec, ...] = (
    cmd_get, cmd_set, cmd_setnx, cmd_setex, cmd_psetex, cmd_getset, cmd_getdel, cmd_getex,
    cmd_mget, cmd_mset, cmd_msetnx,
)


def register(table: CommandTable) -> None:
    """Register the string type and all its commands."""
    table.add_type(STRING_TYPE)
    table.add_all(SPECS)
    table.add_all(strings_num.SPECS)
    table.add_all(strings_range.SPECS)
