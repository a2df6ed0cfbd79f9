"""String length and range commands: APPEND, STRLEN, GETRANGE, SUBSTR, SETRANGE, LCS.

Sizes: a string may not grow past 512 MB (Redis's default ``proto-max-bulk-len``); APPEND and
SETRANGE refuse with "string exceeds maximum allowed size" before changing anything. Both keep
the key's TTL. LCS follows Redis 7.0's dynamic programme exactly, including the order in which
it reports matches (from the end of the strings towards the start).
"""

from __future__ import annotations

from gofish import errors
from gofish.errors import CommandError
from gofish.reply import Map, Reply
from gofish.statemachine.args import parse_int
from gofish.statemachine.keyspace import Keyspace
from gofish.statemachine.registry import CommandSpec, command

GROUP = "string"
MAX_STRING = 512 * 1024 * 1024  # proto-max-bulk-len

# Not in gofish.errors yet (Redis 7.0 LCS).


@command("append", 3, "write denyoom fast", (1, 1, 1), group=GROUP, since="2.0.0",
         summary="Appends a string to the value of a key. Creates the key if it doesn't exist.",
         complexity="O(1). The amortized time complexity is O(1) assuming the appended value "
         "is small and the already present value is of any size, since the dynamic string "
         "library used by Redis will double the free space available on every reallocation.")
def cmd_append(ks: Keyspace, argv: list[bytes]) -> Reply:
    key, tail = argv[1], argv[2]
    v = ks.get_typed(key, bytes)
    if v is None:
        ks.set(key, tail)
        return len(tail)
    total = len(v) + len(tail)
    if total > MAX_STRING:
        raise CommandError(errors.STRING_TOO_LONG)
    ks.set(key, v + tail, keep_ttl=True)
    return total


@command("strlen", 2, "readonly fast", (1, 1, 1), group=GROUP, since="2.2.0",
         summary="Returns the length of a string value.", complexity="O(1)")
def cmd_strlen(ks: Keyspace, argv: list[bytes]) -> Reply:
    v = ks.get_typed(argv[1], bytes)
    return 0 if v is None else len(v)


def _getrange(ks: Keyspace, argv: list[bytes]) -> Reply:
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    v: bytes | None = ks.get_typed(argv[1], bytes)
    if v is None:
        return b""
    n = len(v)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if end < 0:
        end = 0
    if end >= n:
        end = n - 1
    if start > end or n == 0:
        return b""
    return v[start : end + 1]


@command("getrange", 4, "readonly", (1, 1, 1), group=GROUP, since="2.4.0",
         summary="Returns a substring of the string stored at a key.",
         complexity="O(N) where N is the length of the returned string.")
def cmd_getrange(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _getrange(ks, argv)


@command("substr", 4, "readonly", (1, 1, 1), group=GROUP, since="1.0.0",
         summary="Returns a substring from a string value.",
         complexity="O(N) where N is the length of the returned string.")
def cmd_substr(ks: Keyspace, argv: list[bytes]) -> Reply:
    return _getrange(ks, argv)


def _parse_offset(argv: list[bytes]) -> int:
    offset = parse_int(argv[2])
    if offset < 0:
        raise CommandError(errors.OFFSET_OUT_OF_RANGE)
    return offset


def _check_setrange(argv: list[bytes]) -> None:
    _parse_offset(argv)


@command("setrange", 4, "write denyoom", (1, 1, 1), check=_check_setrange, group=GROUP,
         since="2.2.0", summary="Overwrites a part of a string value with another by an "
         "offset. Creates the key if it doesn't exist.", complexity="O(1), not counting the "
         "time taken to copy the new string in place.")
def cmd_setrange(ks: Keyspace, argv: list[bytes]) -> Reply:
    offset = _parse_offset(argv)
    key, value = argv[1], argv[3]
    v = ks.get_typed(key, bytes)
    if v is None:
        if not value:
            return 0
        if offset + len(value) > MAX_STRING:
            raise CommandError(errors.STRING_TOO_LONG)
        new = bytes(offset) + value
        ks.set(key, new)
        return len(new)
    if not value:
        return len(v)
    if offset + len(value) > MAX_STRING:
        raise CommandError(errors.STRING_TOO_LONG)
    n = len(v)
    if offset >= n:
        new = v + bytes(offset - n) + value
    else:
        new = v[:offset] + value + v[offset + len(value) :]
    ks.set(key, new, keep_ttl=True)
    return len(new)


# --- LCS ----------------------------------------------------------------------------------
class _LcsTable:
    """The LCS length table of ``a`` and ``b``, one bit-vector per row (Hyyro's bit-parallel
    algorithm): bit ``j`` of row ``i`` is 0 exactly where ``LCS(a[:i], b[:j+1])`` grows, so
    ``LCS(a[:i], b[:j])`` is the number of zero bits below ``j``. Building it costs
    O(len(a) * len(b) / 64) word operations instead of a Python loop per cell.
    """

    __slots__ = ("rows",)

    def __init__(self, a: bytes, b: bytes) -> None:
        mask = (1 << len(b)) - 1
        positions: dict[int, int] = {}
        for j, c in enumerate(b):
            positions[c] = positions.get(c, 0) | (1 << j)
        v = mask
        rows = [v]
        for c in a:
            u = v & positions.get(c, 0)
            v = ((v + u) | (v - u)) & mask
            rows.append(v)
        self.rows = rows

    def __call__(self, i: int, j: int) -> int:
        """``LCS(a[:i], b[:j])``."""
        return j - (self.rows[i] & ((1 << j) - 1)).bit_count()


@command("lcs", -3, "readonly", (1, 2, 1), group=GROUP, since="7.0.0",
         summary="Finds the longest common substring.",
         complexity="O(N*M) where N and M are the lengths of s1 and s2, respectively")
def cmd_lcs(ks: Keyspace, argv: list[bytes]) -> Reply:
    """LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN], as Redis 7.0's lcsCommand.

    Missing keys count as empty strings. With IDX the reply is a map ``matches`` (ranges from
    the end of the strings backwards, each ``[[a_start, a_end], [b_start, b_end]]`` plus the
    length with WITHMATCHLEN, only those at least MINMATCHLEN long) and ``len``.
    """
    va = ks.get(argv[1])
    vb = ks.get(argv[2])
    if (va is not None and type(va) is not bytes) or (vb is not None and type(vb) is not bytes):
        raise CommandError(errors.LCS_NOT_STRINGS)
    a: bytes = va if va is not None else b""
    b: bytes = vb if vb is not None else b""
    getlen = getidx = withmatchlen = False
    minmatchlen = 0
    j = 3
    n = len(argv)
    while j < n:
        opt = argv[j].upper()
        if opt == b"IDX":
            getidx = True
        elif opt == b"LEN":
            getlen = True
        elif opt == b"WITHMATCHLEN":
            withmatchlen = True
        elif opt == b"MINMATCHLEN" and j + 1 < n:
            minmatchlen = max(parse_int(argv[j + 1]), 0)
            j += 1
        else:
            raise CommandError(errors.SYNTAX)
        j += 1
    if getlen and getidx:
        raise CommandError(errors.LCS_LEN_AND_IDX)
    alen, blen = len(a), len(b)
    if (alen + 1) * (blen + 1) * 4 > MAX_STRING:
        raise CommandError(errors.LCS_TOO_MUCH_MEMORY)
    table = _LcsTable(a, b)
    total = table(alen, blen)
    if getlen:
        return total
    result = bytearray(total)
    idx = total
    matches: list[list[object]] = []
    i, j = alen, blen
    unset = alen  # Redis marks "no current range" with arange_start == alen
    a_start = unset
    a_end = b_start = b_end = 0
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            result[idx - 1] = a[i - 1]
            if a_start == unset:
                a_start = a_end = i - 1
                b_start = b_end = j - 1
            elif a_start == i and b_start == j:
                a_start -= 1
                b_start -= 1
            else:
                emit = True
            if a_start == 0 or b_start == 0:
                emit = True
            idx -= 1
            i -= 1
            j -= 1
        else:
            if table(i - 1, j) > table(i, j - 1):
                i -= 1
            else:
                j -= 1
            if a_start != unset:
                emit = True
        if emit:
            match_len = a_end - a_start + 1
            if getidx and (minmatchlen == 0 or match_len >= minmatchlen):
                item: list[object] = [[a_start, a_end], [b_start, b_end]]
                if withmatchlen:
                    item.append(match_len)
                matches.append(item)
            a_start = unset
    if getidx:
        return Map([(b"matches", matches), (b"len", total)])
    return bytes(result)


SPECS: tuple[CommandSpec, ...] = (
    cmd_append, cmd_strlen, cmd_getrange, cmd_substr, cmd_setrange, cmd_lcs,
)
