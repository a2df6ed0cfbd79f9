"""Hypothesis strategies producing command argv for the differential test, per data type.

Values come from small pools so that commands collide on keys, members and types (WRONGTYPE,
overflow, not-a-number paths get exercised). Every generated command has an outcome that is a
function of the state: commands with random results are not generated here (SPOP only in its
take-everything form).
"""

from __future__ import annotations

from hypothesis import strategies as st

B = bytes
KEYS = [b"k1", b"k2", b"k3", b"{t}a", b"{t}b"]
key = st.sampled_from(KEYS)
member = st.sampled_from([b"a", b"b", b"c", b"d", b"1", b"2", b"10"])
value = st.one_of(
    st.sampled_from(
        [
            b"0",
            b"1",
            b"-1",
            b"10",
            b"3.5",
            b"abc",
            b"",
            b"9223372036854775807",
            b"-9223372036854775808",
            b"1e3",
            b" 1",
            b"01",
            b"+1",
            b"0x10",
            b"1.0",
            b"inf",
            b"nan",
            b"hello world",
        ]
    ),
    st.binary(max_size=6),
)
integer = st.sampled_from(
    [
        b"0",
        b"1",
        b"2",
        b"3",
        b"-1",
        b"-2",
        b"5",
        b"100",
        b"-100",
        b"x",
        b"9223372036854775807",
        b"1.5",
        b"",
    ]
)
small = st.sampled_from([b"0", b"1", b"2", b"3", b"-1", b"-2", b"-3", b"10", b"-10", b"x"])
score = st.sampled_from(
    [
        b"0",
        b"1",
        b"1.5",
        b"-2.25",
        b"inf",
        b"-inf",
        b"+inf",
        b"1e2",
        b"nan",
        b"x",
        b"3",
        b"0.1",
        b"-0",
        b"1e400",
    ]
)
rng = st.sampled_from(
    [b"0", b"1", b"2.5", b"(1", b"(2.5", b"-inf", b"+inf", b"inf", b"x", b"(x", b"-1"]
)
lexr = st.sampled_from([b"-", b"+", b"[a", b"(a", b"[c", b"(d", b"a", b"[", b"(", b"[10"])
# No TTL that can run out while an example runs: two servers with their own clocks cannot
# agree on the millisecond a key expires (a key set with PX 100 was expired in one and not
# yet in the other: a flaky comparison). 0 and -1 delete at once (EXPIRE) or are refused
# (SET EX, SETEX); the others outlive any example.
ttl = st.sampled_from([b"100000", b"1000000", b"5000000", b"-1", b"0", b"x",
                       b"9999999999999999"])
# SET's EXAT and PXAT get no positive time in the past: SET then stores a key that has already
# expired (Redis 7.0 does, and so does gofish). Every read sees it absent, but DBSIZE counts it
# until the server reclaims it, and each server reclaims on its own schedule (Redis whenever
# its event loop sleeps, e.g. during a BLPOP timeout; gofish in its expiry cycle): DBSIZE then
# differs by chance. GETEX, EXPIREAT and PEXPIREAT delete at once on a past time: they get
# past times (FAR, FAR_MS). test_set_with_past_time compares the past case in one MULTI.
SET_AT = st.sampled_from([b"4102444800", b"4102444801", b"0", b"-5", b"x",
                          b"9999999999999999"])  # 2100-01-01; <= 0 and overflow are refused
SET_AT_MS = st.sampled_from([b"4102444800000", b"4102444800500", b"0", b"-1", b"x",
                             b"9999999999999999"])


def cmd(*parts: st.SearchStrategy[B] | B) -> st.SearchStrategy[list[B]]:
    return st.tuples(*(p if isinstance(p, st.SearchStrategy) else st.just(p) for p in parts)).map(
        list
    )


def opts(*choices: list[B | st.SearchStrategy[B]]) -> st.SearchStrategy[list[B]]:
    """Zero or more option groups, in random order, possibly repeated or conflicting."""
    groups = st.one_of([cmd(*g) for g in choices])
    return st.lists(groups, max_size=3).map(lambda gs: [a for g in gs for a in g])


def with_opts(
    base: st.SearchStrategy[list[B]], extra: st.SearchStrategy[list[B]]
) -> st.SearchStrategy[list[B]]:
    return st.tuples(base, extra).map(lambda t: t[0] + t[1])


def var(
    name: B, *parts: st.SearchStrategy[B], tail: st.SearchStrategy[B], max_size: int = 3
) -> st.SearchStrategy[list[B]]:
    return st.tuples(cmd(name, *parts), st.lists(tail, max_size=max_size)).map(
        lambda t: t[0] + t[1]
    )


def pairs(
    a: st.SearchStrategy[B], b: st.SearchStrategy[B], min_size: int = 0
) -> st.SearchStrategy[list[B]]:
    return st.lists(st.tuples(a, b), min_size=min_size, max_size=3).map(
        lambda ps: [x for p in ps for x in p]
    )


_NUMKEYS = st.integers(0, 3)


def numkeys(n: st.SearchStrategy[int] = _NUMKEYS) -> st.SearchStrategy[list[B]]:
    return n.flatmap(
        lambda k: st.lists(key, min_size=k, max_size=k).map(lambda ks: [str(k).encode(), *ks])
    )


STRINGS = st.one_of(
    with_opts(
        cmd(b"SET", key, value),
        opts(
            [b"NX"],
            [b"XX"],
            [b"GET"],
            [b"KEEPTTL"],
            [b"EX", ttl],
            [b"PX", ttl],
            [b"EXAT", SET_AT],
            [b"PXAT", SET_AT_MS],
        ),
    ),
    cmd(b"GET", key),
    cmd(b"SETNX", key, value),
    cmd(b"SETEX", key, ttl, value),
    cmd(b"PSETEX", key, ttl, value),
    var(b"MGET", key, tail=key),
    st.tuples(st.just([b"MSET"]), pairs(key, value)).map(lambda t: t[0] + t[1]),
    st.tuples(st.just([b"MSETNX"]), pairs(key, value)).map(lambda t: t[0] + t[1]),
    cmd(b"GETSET", key, value),
    cmd(b"GETDEL", key),
    with_opts(cmd(b"GETEX", key), opts([b"PERSIST"], [b"EX", ttl], [b"PX", ttl])),
    cmd(b"APPEND", key, value),
    cmd(b"STRLEN", key),
    cmd(b"GETRANGE", key, small, small),
    cmd(b"SUBSTR", key, small, small),
    cmd(b"SETRANGE", key, small, value),
    cmd(b"INCR", key),
    cmd(b"DECR", key),
    cmd(b"INCRBY", key, integer),
    cmd(b"DECRBY", key, integer),
    cmd(b"INCRBYFLOAT", key, value),
    with_opts(
        cmd(b"LCS", key, key), opts([b"LEN"], [b"IDX"], [b"MINMATCHLEN", small], [b"WITHMATCHLEN"])
    ),
)

GENERIC = st.one_of(
    var(b"DEL", key, tail=key),
    var(b"EXISTS", key, tail=key),
    cmd(b"TYPE", key),
    with_opts(cmd(b"EXPIRE", key, ttl), opts([b"NX"], [b"XX"], [b"GT"], [b"LT"])),
    with_opts(cmd(b"PEXPIRE", key, ttl), opts([b"NX"], [b"XX"], [b"GT"], [b"LT"])),
    cmd(b"PERSIST", key),
    cmd(b"TTL", key),
    cmd(b"PTTL", key),
    cmd(b"RENAME", key, key),
    cmd(b"RENAMENX", key, key),
    with_opts(cmd(b"COPY", key, key), opts([b"REPLACE"], [b"DB", b"0"])),
    var(b"TOUCH", key, tail=key),
    cmd(b"DBSIZE"),
    cmd(b"OBJECT", b"ENCODING", key),
    cmd(b"UNLINK", key),
    cmd(b"EXPIRETIME", key),
)

HASHES = st.one_of(
    st.tuples(cmd(b"HSET", key), pairs(member, value, min_size=0)).map(lambda t: t[0] + t[1]),
    cmd(b"HSETNX", key, member, value),
    cmd(b"HGET", key, member),
    var(b"HMGET", key, member, tail=member),
    st.tuples(cmd(b"HMSET", key), pairs(member, value)).map(lambda t: t[0] + t[1]),
    var(b"HDEL", key, member, tail=member),
    cmd(b"HLEN", key),
    cmd(b"HSTRLEN", key, member),
    cmd(b"HEXISTS", key, member),
    cmd(b"HKEYS", key),
    cmd(b"HVALS", key),
    cmd(b"HGETALL", key),
    cmd(b"HINCRBY", key, member, integer),
    cmd(b"HINCRBYFLOAT", key, member, value),
)

LISTS = st.one_of(
    var(b"LPUSH", key, member, tail=member),
    var(b"RPUSH", key, member, tail=member),
    var(b"LPUSHX", key, member, tail=member),
    var(b"RPUSHX", key, member, tail=member),
    var(b"LPOP", key, tail=small, max_size=2),
    var(b"RPOP", key, tail=small, max_size=2),
    cmd(b"LLEN", key),
    cmd(b"LRANGE", key, small, small),
    cmd(b"LINDEX", key, small),
    cmd(b"LSET", key, small, member),
    cmd(b"LINSERT", key, st.sampled_from([b"BEFORE", b"AFTER", b"X"]), member, member),
    cmd(b"LREM", key, small, member),
    cmd(b"LTRIM", key, small, small),
    with_opts(
        cmd(b"LPOS", key, member), opts([b"RANK", small], [b"COUNT", small], [b"MAXLEN", small])
    ),
    cmd(
        b"LMOVE",
        key,
        key,
        st.sampled_from([b"LEFT", b"RIGHT", b"UP"]),
        st.sampled_from([b"LEFT", b"RIGHT"]),
    ),
    cmd(b"RPOPLPUSH", key, key),
    with_opts(
        st.tuples(
            st.just([b"LMPOP"]), numkeys(), st.sampled_from([[b"LEFT"], [b"RIGHT"], [b"MIDDLE"]])
        ).map(lambda t: t[0] + t[1] + t[2]),
        opts([b"COUNT", small]),
    ),
)

SETS = st.one_of(
    var(b"SADD", key, member, tail=member),
    var(b"SREM", key, member, tail=member),
    cmd(b"SMEMBERS", key),
    cmd(b"SISMEMBER", key, member),
    var(b"SMISMEMBER", key, member, tail=member),
    cmd(b"SCARD", key),
    cmd(b"SMOVE", key, key, member),
    var(b"SINTER", key, tail=key),
    var(b"SUNION", key, tail=key),
    var(b"SDIFF", key, tail=key),
    var(b"SINTERSTORE", key, key, tail=key),
    var(b"SUNIONSTORE", key, key, tail=key),
    var(b"SDIFFSTORE", key, key, tail=key),
    with_opts(
        st.tuples(st.just([b"SINTERCARD"]), numkeys()).map(lambda t: t[0] + t[1]),
        opts([b"LIMIT", small]),
    ),
    cmd(b"SPOP", key, b"100"),
)

_zadd_flags = opts([b"NX"], [b"XX"], [b"GT"], [b"LT"], [b"CH"], [b"INCR"])
_zstore_opts = opts(
    [b"WEIGHTS", score], [b"AGGREGATE", st.sampled_from([b"SUM", b"MIN", b"MAX", b"AVG"])]
)
ZSETS = st.one_of(
    st.tuples(cmd(b"ZADD", key), _zadd_flags, pairs(score, member, min_size=1)).map(
        lambda t: t[0] + t[1] + t[2]
    ),
    cmd(b"ZINCRBY", key, score, member),
    var(b"ZREM", key, member, tail=member),
    cmd(b"ZCARD", key),
    cmd(b"ZSCORE", key, member),
    var(b"ZMSCORE", key, member, tail=member),
    cmd(b"ZRANK", key, member),
    cmd(b"ZREVRANK", key, member),
    cmd(b"ZCOUNT", key, rng, rng),
    cmd(b"ZLEXCOUNT", key, lexr, lexr),
    with_opts(cmd(b"ZRANGE", key, small, small), opts([b"REV"], [b"WITHSCORES"])),
    with_opts(
        cmd(b"ZRANGE", key, rng, rng, b"BYSCORE"),
        opts([b"REV"], [b"WITHSCORES"], [b"LIMIT", small, small]),
    ),
    with_opts(cmd(b"ZRANGE", key, lexr, lexr, b"BYLEX"), opts([b"REV"], [b"LIMIT", small, small])),
    with_opts(
        cmd(b"ZRANGEBYSCORE", key, rng, rng), opts([b"WITHSCORES"], [b"LIMIT", small, small])
    ),
    with_opts(
        cmd(b"ZREVRANGEBYSCORE", key, rng, rng), opts([b"WITHSCORES"], [b"LIMIT", small, small])
    ),
    with_opts(cmd(b"ZRANGEBYLEX", key, lexr, lexr), opts([b"LIMIT", small, small])),
    with_opts(cmd(b"ZREVRANGEBYLEX", key, lexr, lexr), opts([b"LIMIT", small, small])),
    with_opts(cmd(b"ZREVRANGE", key, small, small), opts([b"WITHSCORES"])),
    with_opts(cmd(b"ZRANGESTORE", key, key, small, small), opts([b"REV"])),
    cmd(b"ZREMRANGEBYRANK", key, small, small),
    cmd(b"ZREMRANGEBYSCORE", key, rng, rng),
    cmd(b"ZREMRANGEBYLEX", key, lexr, lexr),
    var(b"ZPOPMIN", key, tail=small, max_size=1),
    var(b"ZPOPMAX", key, tail=small, max_size=1),
    with_opts(
        st.tuples(st.just([b"ZUNIONSTORE"]), key, numkeys()).map(lambda t: t[0] + [t[1]] + t[2]),
        _zstore_opts,
    ),
    with_opts(
        st.tuples(st.just([b"ZINTERSTORE"]), key, numkeys()).map(lambda t: t[0] + [t[1]] + t[2]),
        _zstore_opts,
    ),
    st.tuples(st.just([b"ZDIFFSTORE"]), key, numkeys()).map(lambda t: t[0] + [t[1]] + t[2]),
    with_opts(
        st.tuples(st.sampled_from([[b"ZUNION"], [b"ZINTER"]]), numkeys()).map(
            lambda t: t[0] + t[1]
        ),
        opts(
            [b"WEIGHTS", score],
            [b"AGGREGATE", st.sampled_from([b"SUM", b"MIN", b"MAX"])],
            [b"WITHSCORES"],
        ),
    ),
    with_opts(
        st.tuples(st.just([b"ZDIFF"]), numkeys()).map(lambda t: t[0] + t[1]), opts([b"WITHSCORES"])
    ),
    with_opts(
        st.tuples(st.just([b"ZINTERCARD"]), numkeys()).map(lambda t: t[0] + t[1]),
        opts([b"LIMIT", small]),
    ),
    with_opts(
        st.tuples(
            st.just([b"ZMPOP"]), numkeys(), st.sampled_from([[b"MIN"], [b"MAX"], [b"MID"]])
        ).map(lambda t: t[0] + t[1] + t[2]),
        opts([b"COUNT", small]),
    ),
)

ALL_NAMES = [
    b"GET",
    b"SET",
    b"HSET",
    b"LPUSH",
    b"SADD",
    b"ZADD",
    b"ZRANGE",
    b"EXPIRE",
    b"LPOS",
    b"ZUNIONSTORE",
    b"LMPOP",
    b"GETEX",
    b"COPY",
    b"OBJECT",
    b"SINTERCARD",
    b"LCS",
    b"HINCRBYFLOAT",
    b"SETRANGE",
    b"ZRANGEBYLEX",
    b"SMOVE",
    b"LINSERT",
]
GARBAGE = st.tuples(
    st.sampled_from(ALL_NAMES), st.lists(st.one_of(key, member, small, score, value), max_size=6)
).map(lambda t: [t[0], *t[1]])

FAR = st.sampled_from([b"4102444800", b"4102444801", b"1", b"0", b"-5", b"x"])  # 2100-01-01
FAR_MS = st.sampled_from([b"4102444800000", b"4102444800500", b"1000", b"0", b"x"])
TINY_TIMEOUT = st.sampled_from([b"0.01", b"-1", b"x"])
# Redis 7.0 keeps a set with a non-integer member as a hashtable, and SSCAN with a COUNT below
# the set's size pages through it in bucket order, which depends on Redis's random hash seed
# (a fresh redis-server answers SSCAN k 0 COUNT 1 on {a} with cursor 0, 1, 2 or 3); gofish
# returns the whole set and cursor 0. So COUNT is invalid or above the member pool's size,
# where Redis too returns the whole set and cursor 0.
SSCAN_COUNT = st.sampled_from([b"0", b"-1", b"x", b"10", b"100"])
EXTRA = st.one_of(
    with_opts(cmd(b"EXPIREAT", key, FAR), opts([b"NX"], [b"XX"], [b"GT"], [b"LT"])),
    with_opts(cmd(b"PEXPIREAT", key, FAR_MS), opts([b"NX"], [b"XX"], [b"GT"], [b"LT"])),
    cmd(b"EXPIRETIME", key),
    cmd(b"PEXPIRETIME", key),
    with_opts(cmd(b"GETEX", key), opts([b"EXAT", FAR], [b"PXAT", FAR_MS])),
    with_opts(cmd(b"SET", key, value), opts([b"EXAT", SET_AT], [b"PXAT", SET_AT_MS], [b"GET"])),
    cmd(b"KEYS", st.sampled_from([b"*", b"k*", b"{t}?", b"k[12]", b"*a*", b"[^k]*"])),
    with_opts(
        cmd(b"HSCAN", key, b"0"),
        opts([b"MATCH", st.sampled_from([b"*", b"a*", b"[ab]"])], [b"COUNT", small]),
    ),
    with_opts(
        cmd(b"SSCAN", key, b"0"),
        opts([b"MATCH", st.sampled_from([b"*", b"a*", b"1"])], [b"COUNT", SSCAN_COUNT]),
    ),
    with_opts(
        cmd(b"ZSCAN", key, b"0"),
        opts([b"MATCH", st.sampled_from([b"*", b"a*", b"1"])], [b"COUNT", small]),
    ),
    var(b"BLPOP", key, tail=key, max_size=1).map(lambda a: a + [b"0.01"]),
    var(b"BRPOP", key, tail=key, max_size=1).map(lambda a: a + [b"0.01"]),
    cmd(
        b"BLMOVE",
        key,
        key,
        st.sampled_from([b"LEFT", b"RIGHT"]),
        st.sampled_from([b"LEFT", b"RIGHT"]),
        TINY_TIMEOUT,
    ),
    cmd(b"BRPOPLPUSH", key, key, TINY_TIMEOUT),
    st.tuples(
        st.just([b"BLMPOP", b"0.01"]),
        numkeys(st.integers(1, 2)),
        st.sampled_from([[b"LEFT"], [b"RIGHT"]]),
    ).map(lambda t: t[0] + t[1] + t[2]),
    cmd(b"BZPOPMIN", key, TINY_TIMEOUT),
    cmd(b"BZPOPMAX", key, TINY_TIMEOUT),
    st.tuples(
        st.just([b"BZMPOP", b"0.01"]),
        numkeys(st.integers(1, 2)),
        st.sampled_from([[b"MIN"], [b"MAX"]]),
    ).map(lambda t: t[0] + t[1] + t[2]),
)

BY_TYPE = {
    "strings": STRINGS,
    "generic": GENERIC,
    "hashes": HASHES,
    "lists": LISTS,
    "sets": SETS,
    "zsets": ZSETS,
    "garbage": GARBAGE,
    "extra": EXTRA,
}
ANY = st.one_of(STRINGS, GENERIC, HASHES, LISTS, SETS, ZSETS, GARBAGE, EXTRA)

# Replies whose element order Redis leaves unspecified: compared as multisets.
UNORDERED = {
    b"HSCAN",
    b"SSCAN",
    b"ZSCAN",  # one page: [cursor, items]
    b"SMEMBERS",
    b"SINTER",
    b"SUNION",
    b"SDIFF",
    b"HKEYS",
    b"HVALS",
    b"KEYS",
    b"SPOP",
}
UNORDERED_PAIRS = {b"HGETALL"}
# Replies that depend on the clock: compared with a tolerance.
TIMING = {b"TTL": 1, b"PTTL": 1000, b"EXPIRETIME": 1, b"PEXPIRETIME": 1000}
