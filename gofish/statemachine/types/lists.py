"""The list type: LPUSH/RPUSH, pops, ranges, LSET/LINSERT/LREM/LTRIM/LPOS (Redis 7.0).

The value model and shared helpers live in `lists_model`; moves, LMPOP and the blocking
commands in `lists_blocking`. `register` adds all of them.

Rules every handler here follows (see `lists_model` for the value's own rules):

- All arguments are parsed before the state is touched, in Redis's order: where Redis parses
  a number only after looking the key up (LSET, LINDEX), so do we, so that a missing key wins
  over a bad number exactly as in Redis. Write commands give ``check`` the errors Redis raises
  before any lookup, so they never reach the log.
- LPUSH/RPUSH/LPOP/RPOP/LRANGE are benchmarked by redis-benchmark: their common path is a
  handful of operations with no option parsing.
"""

from __future__ import annotations

from itertools import islice

from gofish import errors
from gofish.errors import CommandError
from gofish.reply import OK, NullArray, Reply, Status
from gofish.statemachine.keyspace import Keyspace
from gofish.statemachine.registry import CommandSpec, CommandTable, command
from gofish.statemachine.types import lists_blocking
from gofish.statemachine.types.lists_model import (
    LIST_TYPE,
    ListValue,
    after_pop,
    get_list,
    normalize_range,
    parse_long,
    parse_ranged,
    pop_many,
    slice_list,
)

_WRONGTYPE = errors.WRONGTYPE
_PUSH_COMPLEXITY = (
    "O(1) for each element added, so O(N) to add N elements when the command is called with "
    "multiple arguments."
)
_INT64_MIN = -(1 << 63)


# --- pushes -----------------------------------------------------------------------------
def _push(ks: Keyspace, argv: list[bytes], left: bool, only_existing: bool) -> int:
    key = argv[1]
    lst = ks.get(key)
    if lst is None:
        if only_existing:
            return 0
        lst = ListValue()
        if left:
            lst.extendleft(argv[2:])
        else:
            lst.extend(argv[2:])
        ks.set(key, lst)
        return len(lst)
    if type(lst) is not ListValue:
        raise CommandError(_WRONGTYPE)
    if len(argv) == 3:
        if left:
            lst.appendleft(argv[2])
        else:
            lst.append(argv[2])
    elif left:
        lst.extendleft(argv[2:])
    else:
        lst.extend(argv[2:])
    ks.modified(key)
    return len(lst)


@command("lpush", -3, "write denyoom fast", (1, 1, 1), group="list", since="1.0.0",
         summary="Prepend one or multiple elements to a list", complexity=_PUSH_COMPLEXITY)
def lpush(ks: Keyspace, argv: list[bytes]) -> int:
    """Push each element to the head in argument order; reply the new length."""
    return _push(ks, argv, True, False)


@command("rpush", -3, "write denyoom fast", (1, 1, 1), group="list", since="1.0.0",
         summary="Append one or multiple elements to a list", complexity=_PUSH_COMPLEXITY)
def rpush(ks: Keyspace, argv: list[bytes]) -> int:
    """Append each element to the tail; reply the new length."""
    return _push(ks, argv, False, False)


@command("lpushx", -3, "write denyoom fast", (1, 1, 1), group="list", since="2.2.0",
         summary="Prepend an element to a list, only if the list exists",
         complexity=_PUSH_COMPLEXITY)
def lpushx(ks: Keyspace, argv: list[bytes]) -> int:
    """LPUSH if the key holds a list; 0 (and nothing created) if it is absent."""
    return _push(ks, argv, True, True)


@command("rpushx", -3, "write denyoom fast", (1, 1, 1), group="list", since="2.2.0",
         summary="Append an element to a list, only if the list exists",
         complexity=_PUSH_COMPLEXITY)
def rpushx(ks: Keyspace, argv: list[bytes]) -> int:
    """RPUSH if the key holds a list; 0 (and nothing created) if it is absent."""
    return _push(ks, argv, False, True)


# --- pops -------------------------------------------------------------------------------
def _check_pop(argv: list[bytes]) -> None:
    """``[LR]POP key [count]``: at most one count, an integer in 0..LONG_MAX."""
    if len(argv) > 3:
        raise CommandError(errors.wrong_arity(argv[0].decode("latin-1").lower()))
    if len(argv) == 3:
        parse_ranged(argv[2], 0, errors.POSITIVE)


def _pop(ks: Keyspace, argv: list[bytes], left: bool) -> Reply:
    key = argv[1]
    if len(argv) == 2:
        lst = ks.get(key)
        if lst is None:
            return None
        if type(lst) is not ListValue:
            raise CommandError(_WRONGTYPE)
        v = lst.popleft() if left else lst.pop()
        if lst:
            ks.modified(key)
        else:
            ks.delete(key)
        return v
    _check_pop(argv)
    count = parse_ranged(argv[2], 0, errors.POSITIVE)
    lst = get_list(ks, key)
    if lst is None:
        return NullArray
    if count == 0:
        return []
    out = pop_many(lst, left, count)
    after_pop(ks, key, lst)
    return out


_POP_COMPLEXITY = "O(N) where N is the number of elements returned"


@command("lpop", -2, "write fast", (1, 1, 1), check=_check_pop, group="list", since="1.0.0",
         summary="Remove and get the first elements in a list", complexity=_POP_COMPLEXITY)
def lpop(ks: Keyspace, argv: list[bytes]) -> Reply:
    """Pop the head: the element (null if no key); with count, an array of up to count
    elements (null array if no key, empty array for count 0)."""
    return _pop(ks, argv, True)


@command("rpop", -2, "write fast", (1, 1, 1), check=_check_pop, group="list", since="1.0.0",
         summary="Remove and get the last elements in a list", complexity=_POP_COMPLEXITY)
def rpop(ks: Keyspace, argv: list[bytes]) -> Reply:
    """As LPOP, from the tail (with count, elements in popping order: last first)."""
    return _pop(ks, argv, False)


# --- reads ------------------------------------------------------------------------------
@command("llen", 2, "readonly fast", (1, 1, 1), group="list", since="1.0.0",
         summary="Get the length of a list", complexity="O(1)")
def llen(ks: Keyspace, argv: list[bytes]) -> int:
    """Length of the list, 0 if the key is absent."""
    lst = get_list(ks, argv[1])
    return 0 if lst is None else len(lst)


@command("lrange", 4, "readonly", (1, 1, 1), group="list", since="1.0.0",
         summary="Get a range of elements from a list",
         complexity="O(S+N) where S is the distance of start offset from HEAD for small lists, "
         "from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in "
         "the specified range.")
def lrange(ks: Keyspace, argv: list[bytes]) -> list[bytes]:
    """Elements start..stop inclusive (negative counts from the tail), clamped to the list."""
    start = parse_long(argv[2])
    stop = parse_long(argv[3])
    lst = ks.get(argv[1])
    if lst is None:
        return []
    if type(lst) is not ListValue:
        raise CommandError(_WRONGTYPE)
    n = len(lst)
    if start == 0 and (stop == -1 or stop >= n - 1):
        return list(lst)
    bounds = normalize_range(start, stop, n)
    if bounds is None:
        return []
    return slice_list(lst, bounds[0], bounds[1])


@command("lindex", 3, "readonly", (1, 1, 1), group="list", since="1.0.0",
         summary="Get an element from a list by its index",
         complexity="O(N) where N is the number of elements to traverse to get to the element "
         "at index. This makes asking for the first or the last element of the list O(1).")
def lindex(ks: Keyspace, argv: list[bytes]) -> bytes | None:
    """The element at index (negative from the tail), null if absent or out of range.

    As in Redis the key is looked up before the index is parsed: a missing key answers null
    even for a non-integer index.
    """
    lst = get_list(ks, argv[1])
    if lst is None:
        return None
    i = parse_long(argv[2])
    n = len(lst)
    if i < 0:
        i += n
    if 0 <= i < n:
        return lst[i]
    return None


def _lpos_options(argv: list[bytes]) -> tuple[int, int, int]:
    """(rank, count, maxlen) of LPOS; count -1 means COUNT was not given."""
    rank, count, maxlen = 1, -1, 0
    j, argc = 3, len(argv)
    while j < argc:
        opt = argv[j].lower()
        more = j + 1 < argc
        if opt == b"rank" and more:
            rank = parse_long(argv[j + 1])
            if rank == 0:
                raise CommandError(errors.LPOS_RANK_ZERO)
        elif opt == b"count" and more:
            count = parse_ranged(argv[j + 1], 0, errors.LPOS_COUNT_NEGATIVE)
        elif opt == b"maxlen" and more:
            maxlen = parse_ranged(argv[j + 1], 0, errors.LPOS_MAXLEN_NEGATIVE)
        else:
            raise CommandError(errors.SYNTAX)
        j += 2
    return rank, count, maxlen


@command("lpos", -3, "readonly", (1, 1, 1), group="list", since="6.0.6",
         summary="Return the index of matching elements on a list",
         complexity="O(N) where N is the number of elements in the list, for the average case. "
         "When searching for elements near the head or the tail of the list, or when the MAXLEN "
         "option is provided, the command may run in constant time.")
def lpos(ks: Keyspace, argv: list[bytes]) -> Reply:
    """``LPOS key element [RANK r] [COUNT n] [MAXLEN m]``: head-based indexes of matches.

    RANK r skips the first r-1 matches; negative r scans from the tail. COUNT n returns an
    array of up to n matches (0: all); without COUNT, the first qualifying index or null.
    MAXLEN m compares at most m elements (0: all). Options may repeat; the last one wins.
    """
    elem = argv[2]
    rank, count, maxlen = _lpos_options(argv)
    lst = get_list(ks, argv[1])
    if lst is None:
        return [] if count != -1 else None
    n = len(lst)
    from_tail = rank < 0
    if from_tail:
        rank = -rank
    if rank > -_INT64_MIN - 1:
        # Redis negates LONG_MIN in C, which stays negative: every match qualifies and the
        # COUNT limit is never reached.
        rank = 1
        if count > 0:
            count = 0
    it = reversed(lst) if from_tail else iter(lst)
    if maxlen:
        it = islice(it, maxlen)
    matches = 0
    found: list[int] = []
    for index, x in enumerate(it):
        if x == elem:
            matches += 1
            if matches >= rank:
                found.append(n - 1 - index if from_tail else index)
                if count == -1 or (count and len(found) >= count):
                    break
    if count == -1:
        return found[0] if found else None
    return found


# --- in-place edits ---------------------------------------------------------------------
@command("lset", 4, "write denyoom", (1, 1, 1), group="list", since="1.0.0",
         summary="Set the value of an element in a list by its index",
         complexity="O(N) where N is the length of the list. Setting either the first or the "
         "last element of the list is O(1).")
def lset(ks: Keyspace, argv: list[bytes]) -> Status:
    """Replace the element at index. ``ERR no such key`` for a missing key (checked before
    the index is parsed, as Redis does); ``ERR index out of range`` past either end."""
    key = argv[1]
    lst = ks.get(key)
    if lst is None:
        raise CommandError(errors.NO_SUCH_KEY)
    if type(lst) is not ListValue:
        raise CommandError(_WRONGTYPE)
    i = parse_long(argv[2])
    n = len(lst)
    if i < 0:
        i += n
    if not 0 <= i < n:
        raise CommandError(errors.OUT_OF_RANGE)
    lst[i] = argv[3]
    ks.modified(key)
    return OK


def _parse_before(arg: bytes) -> bool:
    word = arg.lower()
    if word == b"before":
        return True
    if word == b"after":
        return False
    raise CommandError(errors.SYNTAX)


def _check_linsert(argv: list[bytes]) -> None:
    _parse_before(argv[2])


@command("linsert", 5, "write denyoom", (1, 1, 1), check=_check_linsert, group="list",
         since="2.2.0", summary="Insert an element before or after another element in a list",
         complexity="O(N) where N is the number of elements to traverse before seeing the value "
         "pivot. This means that inserting somewhere on the left end on the list (head) can be "
         "considered O(1) and inserting somewhere on the right end (tail) is O(N).")
def linsert(ks: Keyspace, argv: list[bytes]) -> int:
    """``LINSERT key BEFORE|AFTER pivot element`` at the first pivot from the head.

    Replies the new length, -1 if the pivot is absent, 0 if the key is absent.
    """
    before = _parse_before(argv[2])
    key = argv[1]
    lst = get_list(ks, key)
    if lst is None:
        return 0
    try:
        i = lst.index(argv[3])
    except ValueError:
        return -1
    lst.insert(i if before else i + 1, argv[4])
    ks.modified(key)
    return len(lst)


def _check_lrem(argv: list[bytes]) -> None:
    parse_long(argv[2])


@command("lrem", 4, "write", (1, 1, 1), check=_check_lrem, group="list", since="1.0.0",
         summary="Remove elements from a list",
         complexity="O(N+M) where N is the length of the list and M is the number of elements "
         "removed.")
def lrem(ks: Keyspace, argv: list[bytes]) -> int:
    """``LREM key count element``: remove the first count matches from the head (count > 0),
    from the tail (count < 0) or all of them (0). Replies how many were removed."""
    count = parse_long(argv[2])
    key, elem = argv[1], argv[3]
    lst = get_list(ks, key)
    if lst is None or elem not in lst:
        return 0
    n = len(lst)
    if count == 0:
        kept = [x for x in lst if x != elem]
    else:
        limit = count if count > 0 else -count
        source = iter(lst) if count > 0 else reversed(lst)
        kept = []
        removed = 0
        for x in source:
            if removed < limit and x == elem:
                removed += 1
            else:
                kept.append(x)
        if count < 0:
            kept.reverse()
    removed = n - len(kept)
    if kept:
        lst.clear()
        lst.extend(kept)
        ks.modified(key)
    else:
        ks.delete(key)
    return removed


def _check_ltrim(argv: list[bytes]) -> None:
    parse_long(argv[2])
    parse_long(argv[3])


@command("ltrim", 4, "write", (1, 1, 1), check=_check_ltrim, group="list", since="1.0.0",
         summary="Trim a list to the specified range",
         complexity="O(N) where N is the number of elements to be removed by the operation.")
def ltrim(ks: Keyspace, argv: list[bytes]) -> Status:
    """Keep only elements start..stop (LRANGE's index rules); an empty range deletes the key.
    Replies OK, also for a missing key."""
    start = parse_long(argv[2])
    stop = parse_long(argv[3])
    key = argv[1]
    lst = get_list(ks, key)
    if lst is None:
        return OK
    n = len(lst)
    bounds = normalize_range(start, stop, n)
    if bounds is None:
        ks.delete(key)
        return OK
    first, last = bounds
    keep = last - first + 1
    if keep < first + (n - 1 - last):
        kept = slice_list(lst, first, last)
        lst.clear()
        lst.extend(kept)
    else:
        for _ in range(first):
            lst.popleft()
        for _ in range(n - 1 - last):
            lst.pop()
    ks.modified(key)
    return OK


SPECS: tuple[CommandSpec, ...] = (
    lpush, rpush, lpushx, rpushx, lpop, rpop, llen, lrange, lindex, lpos, lset, linsert, lrem,
    ltrim,
)


def register(table: CommandTable) -> None:
    """Register the list type and all of its commands."""
    table.add_type(LIST_TYPE)
    table.add_all(SPECS)
    table.add_all(lists_blocking.SPECS)
