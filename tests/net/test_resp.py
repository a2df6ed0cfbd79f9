"""RESP codec tables: bytes ↔ parsed commands, reply values ↔ bytes (RESP2 and RESP3).

The expected commands and error messages were checked against redis-server 7.0.15
(see also the differential test in test_resp_fuzz.py).
"""

from __future__ import annotations

import hiredis
import pytest

from gofish.errors import ProtocolError
from gofish.net.resp import (
    INLINE_MAX_SIZE,
    QueryBufferLimitError,
    RequestParser,
    encode,
    encode_many,
    write_reply,
)
from gofish.reply import (
    OK,
    PONG,
    QUEUED,
    Double,
    ErrorReply,
    Map,
    NullArray,
    Push,
    SetReply,
    Status,
    Verbatim,
)

Cmds = list[list[bytes]]


def parse_all(chunks: list[bytes], limit: int = 1024, **kw: int) -> tuple[Cmds, bytes | None]:
    """Feed *chunks* one by one, draining commands after each; (commands, error message)."""
    p = RequestParser(**kw)
    out: Cmds = []
    try:
        for chunk in chunks:
            p.feed(chunk)
            while batch := p.next_batch(limit):
                out.extend(batch)
    except ProtocolError as e:
        return out, e.message
    return out, None


def splits(data: bytes) -> list[list[bytes]]:
    """The stream whole, byte by byte, and cut in two at every offset."""
    out = [[data], [data[i : i + 1] for i in range(len(data))]]
    out += [[data[:i], data[i:]] for i in range(1, len(data))]
    return out


def mb(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


# (input, commands) — valid streams
REQUESTS: list[tuple[bytes, Cmds]] = [
    (mb(b"PING"), [[b"PING"]]),
    (mb(b"SET", b"k", b"v"), [[b"SET", b"k", b"v"]]),
    (mb(b"SET", b"k", b""), [[b"SET", b"k", b""]]),
    (mb(b"SET", b"\r\n\x00*$", b"x" * 300), [[b"SET", b"\r\n\x00*$", b"x" * 300]]),
    (mb(b"A") + mb(b"B", b"C") + mb(b"D"), [[b"A"], [b"B", b"C"], [b"D"]]),
    (b"*0\r\n*-1\r\n*-7\r\n" + mb(b"PING"), [[b"PING"]]),
    # Redis skips the two bytes after a header's CR and after a bulk unchecked
    (b"*1\rX$4\r\nPING\r\n", [[b"PING"]]),
    (b"*1\r\n$4\rXPING\r\n", [[b"PING"]]),
    (b"*1\r\n$4\r\nPINGxy*1\r\n$4\r\nPING\n\n", [[b"PING"], [b"PING"]]),
    # inline
    (b"PING\r\n", [[b"PING"]]),
    (b"PING\n", [[b"PING"]]),
    (b"  SET  k\tv \r\n", [[b"SET", b"k", b"v"]]),
    (b"\r\n\n  \r\nPING\r\n", [[b"PING"]]),
    (b"PING\r\r\n", [[b"PING"]]),
    (b'ECHO "a\\x41\\n\\q"\r\n', [[b"ECHO", b"aA\nq"]]),
    (b'ECHO "\\a\\b\\t\\r\\"\\\\"\r\n', [[b"ECHO", b'\x07\x08\t\r"\\']]),
    (b'ECHO "\\x4" "\\xzz"\r\n', [[b"ECHO", b"x4", b"xzz"]]),
    (b"ECHO 'a\\'b' 'x\\\"'\r\n", [[b"ECHO", b"a'b", b'x\\"']]),
    (b'ECHO "" \'\'\r\n', [[b"ECHO", b"", b""]]),
    (b'ECHO a"b c"\r\n', [[b"ECHO", b"ab c"]]),
    (b"ECHO a'b'\r\n", [[b"ECHO", b"ab"]]),
    (b'ECHO "a"\t"b"\x0b\r\n', [[b"ECHO", b"a", b"b"]]),
    (b"ECHO a\x0bb \x0bc\r\n", [[b"ECHO", b"a\x0bb", b"c"]]),  # VT ends no unquoted token
    (b"ECHO \xff\xfe\r\n", [[b"ECHO", b"\xff\xfe"]]),
    # mixed inline and multibulk on one connection
    (b"PING\r\n" + mb(b"ECHO", b"x") + b"ECHO y\r\n" + mb(b"PING"),
     [[b"PING"], [b"ECHO", b"x"], [b"ECHO", b"y"], [b"PING"]]),
    # what hiredis reads differently from Redis: "~" and ">" start inline commands
    (b"~1\r\n$4\r\nPING\r\n", [[b"~1"], [b"$4"], [b"PING"]]),
    (b">1\r\n", [[b">1"]]),
    (b":1\r\n+OK\r\n-ERR x\r\n", [[b":1"], [b"+OK"], [b"-ERR", b"x"]]),
]


@pytest.mark.parametrize(("data", "expected"), REQUESTS)
def test_requests(data: bytes, expected: Cmds) -> None:
    for chunks in splits(data):
        assert parse_all(chunks) == (expected, None), chunks


@pytest.mark.parametrize(("data", "expected"), REQUESTS)
def test_requests_one_at_a_time(data: bytes, expected: Cmds) -> None:
    p = RequestParser()
    p.feed(data)
    got = []
    while (cmd := p.next()) is not None:
        got.append(cmd)
    assert got == expected
    assert p.pending == 0 or not expected


# (input, commands before the error, exact error line)
E = b"ERR Protocol error: "
ERRORS: list[tuple[bytes, Cmds, bytes]] = [
    (b"*1\r\n+PING\r\n", [], E + b"expected '$', got '+'"),
    (b"*2\r\n+PING\r\n", [], E + b"expected '$', got '+'"),
    (b"*1\r\n:1\r\n", [], E + b"expected '$', got ':'"),
    (b"*1\r\n*1\r\n$1\r\nx\r\n", [], E + b"expected '$', got '*'"),
    (b"*1\r\n\xff\r\n", [], E + b"expected '$', got '\xff'"),
    (b"*1\r\n\r\n", [], E + b"expected '$', got ' '"),
    (b"*2\r\n$3\r\nfoo\r\n=7\r\ntxt:bar\r\n", [], E + b"expected '$', got '='"),
    (b"*2\r\n$3\r\nfoo\r\n(12\r\n", [], E + b"expected '$', got '('"),
    (b"*1\r\n_\r\n", [], E + b"expected '$', got '_'"),
    (b"*1\r\n%1\r\n+a\r\n+b\r\n", [], E + b"expected '$', got '%'"),
    (b"*1\r\n$-1\r\n", [], E + b"invalid bulk length"),
    (b"*1\r\n$\r\n", [], E + b"invalid bulk length"),
    (b"*1\r\n$4x\r\n", [], E + b"invalid bulk length"),
    (b"*1\r\n$ 4\r\n", [], E + b"invalid bulk length"),
    (b"*1\r\n$+4\r\n", [], E + b"invalid bulk length"),
    (b"*1\r\n$04\r\n", [], E + b"invalid bulk length"),
    (b"*1\r\n$536870913\r\n", [], E + b"invalid bulk length"),
    (b"*1\r\n$99999999999999999999\r\n", [], E + b"invalid bulk length"),
    (b"*2147483648\r\n", [], E + b"invalid multibulk length"),
    (b"*x\r\n", [], E + b"invalid multibulk length"),
    (b"*\r\n", [], E + b"invalid multibulk length"),
    (b"*01\r\n", [], E + b"invalid multibulk length"),
    (b"* 1\r\n", [], E + b"invalid multibulk length"),
    (b'"PING\r\n', [], E + b"unbalanced quotes in request"),
    (b"'PING\r\n", [], E + b"unbalanced quotes in request"),
    (b'"PI"NG\r\n', [], E + b"unbalanced quotes in request"),
    (b"ECHO 'a'b\r\n", [], E + b"unbalanced quotes in request"),
    (b'ECHO a"b c"d\r\n', [], E + b"unbalanced quotes in request"),
    (b'ECHO "a\\\r\n', [], E + b"unbalanced quotes in request"),
    (b"ECHO '\\\\'\r\n", [], E + b"unbalanced quotes in request"),
    (b"A" * (INLINE_MAX_SIZE + 1), [], E + b"too big inline request"),
    (b"A" * 100 + b"\0" + b"B" * INLINE_MAX_SIZE + b"\r\n", [], E + b"too big inline request"),
    (b"*" + b"1" * INLINE_MAX_SIZE, [], E + b"too big mbulk count string"),
    (b"*1\r\n$" + b"1" * INLINE_MAX_SIZE, [], E + b"too big bulk count string"),
    # commands before the bad bytes are returned first
    (mb(b"PING") + b"PING\r\n" + b"*1\r\n+x\r\n", [[b"PING"], [b"PING"]],
     E + b"expected '$', got '+'"),
    (mb(b"PING") + b"A" * (INLINE_MAX_SIZE + 10), [[b"PING"]], E + b"too big inline request"),
]


@pytest.mark.parametrize(("data", "before", "message"), ERRORS)
def test_protocol_errors(data: bytes, before: Cmds, message: bytes) -> None:
    assert parse_all([data]) == (before, message)
    if len(data) < 200:
        for chunks in splits(data):
            assert parse_all(chunks) == (before, message), chunks


# Incomplete input that Redis keeps waiting on (no reply, no error)
WAITING = [
    b"*1\r\n$4\r\nPIN",
    b"*2147483647\r\n",
    b"*1\r\n$536870912\r\n",
    b"PI\x00NG\r\n",  # a NUL hides the line end, as strchr() does
    b"*1\x00\r\n$4\r\nPING\r\n",
    b"A" * INLINE_MAX_SIZE,
    b"*" + b"1" * (INLINE_MAX_SIZE - 1),
]


@pytest.mark.parametrize("data", WAITING)
def test_incomplete_input_waits(data: bytes) -> None:
    assert parse_all([data]) == ([], None)


def test_error_is_sticky() -> None:
    p = RequestParser()
    p.feed(mb(b"PING") + b"*1\r\n+x\r\n")
    assert p.next_batch() == [[b"PING"]]
    for _ in range(2):
        with pytest.raises(ProtocolError) as exc:
            p.next_batch()
        assert exc.value.detail == "expected '$', got '+'"
    assert p.failed
    p.feed(mb(b"PING"))
    with pytest.raises(ProtocolError):
        p.next()


def test_next_batch_limit_keeps_order() -> None:
    data = b"".join(mb(b"ECHO", b"%d" % i) for i in range(50)) + b"ECHO tail\r\n"
    p = RequestParser()
    p.feed(data)
    got: Cmds = []
    while batch := p.next_batch(7):
        assert len(batch) <= 7
        got.extend(batch)
    assert got == [[b"ECHO", b"%d" % i] for i in range(50)] + [[b"ECHO", b"tail"]]


def test_feed_between_limited_batches() -> None:
    p = RequestParser()
    p.feed(mb(b"A") + mb(b"B") + mb(b"C"))
    assert p.next_batch(1) == [[b"A"]]
    p.feed(mb(b"D") + b"E\r\n")
    assert p.next_batch(2) == [[b"B"], [b"C"]]
    p.feed(mb(b"F", b"x" * 100_000))
    assert p.next_batch() == [[b"D"], [b"E"], [b"F", b"x" * 100_000]]
    assert p.pending == 0


def test_large_value_in_many_reads() -> None:
    value = bytes(range(256)) * 8192  # 2 MiB
    data = mb(b"SET", b"k", value) + mb(b"GET", b"k")
    header = len(mb(b"SET", b"k")) - 4 + len(b"*3\r\n$2097152\r\n")
    p = RequestParser()
    got: Cmds = []
    for i in range(0, len(data), 65536):
        p.feed(data[i : i + 65536])
        got.extend(p.next_batch())
        if not got:  # headers parsed, SET and k read, the value's bytes wait in one buffer
            assert p.pending == i + 65536 - header + len(b"SET" b"k")
    assert got == [[b"SET", b"k", value], [b"GET", b"k"]]


def test_big_pipeline_in_one_feed() -> None:
    cmds = [[b"SET", b"key:%d" % i, b"v" * (i % 70)] for i in range(20000)]
    data = b"".join(mb(*c) for c in cmds)
    assert len(data) > 4 * 256 * 1024
    assert parse_all([data]) == (cmds, None)
    chunks = [data[i : i + 10007] for i in range(0, len(data), 10007)]
    assert parse_all(chunks, limit=100) == (cmds, None)


def test_proto_max_bulk_len() -> None:
    ok = mb(b"SET", b"k", b"x" * 100)
    assert parse_all([ok], proto_max_bulk_len=100) == ([[b"SET", b"k", b"x" * 100]], None)
    bad = mb(b"SET", b"k", b"x" * 101)
    for chunks in ([bad], [bad[:20], bad[20:]]):
        assert parse_all(chunks, proto_max_bulk_len=100) == ([], E + b"invalid bulk length")


def test_query_buffer_limit() -> None:
    p = RequestParser(query_buffer_limit=1000)
    p.feed(b"*1\r\n$5000\r\n" + b"x" * 900)
    assert p.next_batch() == []
    with pytest.raises(QueryBufferLimitError):
        p.feed(b"x" * 200)


def test_unauthenticated_limits() -> None:
    p = RequestParser()
    p.auth_required = True
    p.feed(mb(*[b"a"] * 10) + mb(b"AUTH", b"x" * 2000))
    assert p.next_batch() == [[b"a"] * 10, [b"AUTH", b"x" * 2000]]
    for data, detail in [
        (mb(*[b"a"] * 11), "unauthenticated multibulk length"),
        (mb(b"AUTH", b"x" * 2001), "unauthenticated bulk length"),
    ]:
        p = RequestParser()
        p.auth_required = True
        p.feed(data)
        with pytest.raises(ProtocolError) as exc:
            p.next_batch()
        assert exc.value.detail == detail
    p = RequestParser()
    p.auth_required = True
    p.auth_required = False
    p.feed(mb(*[b"a"] * 11))
    assert p.next_batch() == [[b"a"] * 11]


# --- replies -----------------------------------------------------------------------------

INF = float("inf")

# (value, RESP2, RESP3)
REPLIES: list[tuple[object, bytes, bytes]] = [
    (b"hello", b"$5\r\nhello\r\n", b"$5\r\nhello\r\n"),
    (b"", b"$0\r\n\r\n", b"$0\r\n\r\n"),
    (b"x" * 2000, b"$2000\r\n" + b"x" * 2000 + b"\r\n", b"$2000\r\n" + b"x" * 2000 + b"\r\n"),
    (0, b":0\r\n", b":0\r\n"),
    (42, b":42\r\n", b":42\r\n"),
    (-1, b":-1\r\n", b":-1\r\n"),
    (2**63 - 1, b":9223372036854775807\r\n", b":9223372036854775807\r\n"),
    (None, b"$-1\r\n", b"_\r\n"),
    (NullArray, b"*-1\r\n", b"_\r\n"),
    (OK, b"+OK\r\n", b"+OK\r\n"),
    (PONG, b"+PONG\r\n", b"+PONG\r\n"),
    (QUEUED, b"+QUEUED\r\n", b"+QUEUED\r\n"),
    (Status(b"OK"), b"+OK\r\n", b"+OK\r\n"),
    (Status(b"background saving"), b"+background saving\r\n", b"+background saving\r\n"),
    (ErrorReply(b"ERR syntax error"), b"-ERR syntax error\r\n", b"-ERR syntax error\r\n"),
    (ErrorReply(b"ERR a\r\nb"), b"-ERR a  b\r\n", b"-ERR a  b\r\n"),
    ([], b"*0\r\n", b"*0\r\n"),
    ([b"a", 1, None], b"*3\r\n$1\r\na\r\n:1\r\n$-1\r\n", b"*3\r\n$1\r\na\r\n:1\r\n_\r\n"),
    ((b"a", [b"b", []]), b"*2\r\n$1\r\na\r\n*2\r\n$1\r\nb\r\n*0\r\n",
     b"*2\r\n$1\r\na\r\n*2\r\n$1\r\nb\r\n*0\r\n"),
    (Double(1.5), b"$3\r\n1.5\r\n", b",1.5\r\n"),
    (Double(0.1), b"$19\r\n0.10000000000000001\r\n", b",0.10000000000000001\r\n"),
    (Double(3.0), b"$1\r\n3\r\n", b",3\r\n"),
    (Double(-2.5e-7), b"$23\r\n-2.4999999999999999e-07\r\n", b",-2.4999999999999999e-07\r\n"),
    (Double(1e17), b"$5\r\n1e+17\r\n", b",1e+17\r\n"),
    (Double(INF), b"$3\r\ninf\r\n", b",inf\r\n"),
    (Double(-INF), b"$4\r\n-inf\r\n", b",-inf\r\n"),
    (Double(float("nan")), b"$3\r\nnan\r\n", b",nan\r\n"),
    (Map([(b"a", 1), (b"b", [b"c"])]), b"*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n*1\r\n$1\r\nc\r\n",
     b"%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n*1\r\n$1\r\nc\r\n"),
    (Map(), b"*0\r\n", b"%0\r\n"),
    (SetReply([b"x", b"y"]), b"*2\r\n$1\r\nx\r\n$1\r\ny\r\n", b"~2\r\n$1\r\nx\r\n$1\r\ny\r\n"),
    (Push([b"message", b"ch", b"hi"]), b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
     b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"),
    (Verbatim(b"# Server\r\n"), b"$10\r\n# Server\r\n\r\n", b"=14\r\ntxt:# Server\r\n\r\n"),
    (Map([(b"m", Map([(b"n", None)]))]), b"*2\r\n$1\r\nm\r\n*2\r\n$1\r\nn\r\n$-1\r\n",
     b"%1\r\n$1\r\nm\r\n%1\r\n$1\r\nn\r\n_\r\n"),
]


@pytest.mark.parametrize(("value", "resp2", "resp3"), REPLIES)
def test_replies(value: object, resp2: bytes, resp3: bytes) -> None:
    assert encode(value, 2) == resp2
    assert encode(value, 3) == resp3
    assert encode_many([value, value], 2) == resp2 * 2
    assert encode_many([value, OK, value], 3) == resp3 + b"+OK\r\n" + resp3
    out: list[bytes] = []
    write_reply(out, value, 3)
    assert b"".join(out) == resp3


def test_reply_subclasses_encode_as_their_base() -> None:
    class MyStatus(Status):
        __slots__ = ()

    class MyInt(int):
        pass

    assert encode(MyStatus(b"FINE")) == b"+FINE\r\n"
    assert encode(MyInt(7)) == b":7\r\n"
    assert encode([MyInt(7)], 3) == b"*1\r\n:7\r\n"


@pytest.mark.parametrize("bad", [True, False, "text", 1.5, {b"a": 1}, object(), [b"ok", True]])
def test_values_outside_the_reply_table_are_refused(bad: object) -> None:
    with pytest.raises(TypeError):
        encode(bad, 2)
    with pytest.raises(TypeError):
        encode(bad, 3)


def test_encoded_replies_parse_back_with_hiredis() -> None:
    values = [b"a", 5, None, [b"x", [1, 2]], OK, Double(2.25), Map([(b"k", b"v")])]
    reader = hiredis.Reader()
    reader.feed(encode_many(values, 3))
    got = [reader.gets() for _ in values]
    assert got == [b"a", 5, None, [b"x", [1, 2]], b"OK", 2.25, {b"k": b"v"}]


class _SpyReader:
    """A hiredis.Reader that remembers every byte fed to it."""

    fed = bytearray()
    real = hiredis.Reader

    def __init__(self) -> None:
        self._r = _SpyReader.real()

    def feed(self, buf: bytes, off: int = 0, n: int = -1) -> None:
        chunk = bytes(buf[off:] if n < 0 else buf[off : off + n])
        _SpyReader.fed += chunk + b"|"
        self._r.feed(chunk)

    def gets(self) -> object:
        return self._r.gets()


@pytest.mark.parametrize(
    "chunks",
    [
        [b"*2147483647\r\n"],
        [mb(b"PING") + b"*1999999999\r\n"],
        [mb(b"PING") + b"*1\r\n*1999999999\r\n$1\r\nx\r\n"],
        [mb(b"PING") + b"*1\r\n~1999999999\r\n"],
        [mb(b"PING") + b"*1\r\n>1999999999\r\n", b"\r\n"],
        [mb(b"PING") + b"*19", b"99999999\r\n"],  # digits straddling two reads
        [mb(b"PING") + b"*1\r\n*1", b"9", b"99999999\r\n"],
        [mb(b"PING") * 30000 + b"*1999999999\r\n"],  # past the first 256 KiB slice
    ],
)
def test_big_aggregate_headers_never_reach_hiredis(
    chunks: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # hiredis would allocate a list of that many slots on reading the header
    import gofish.net.resp as resp

    monkeypatch.setattr(resp.hiredis, "Reader", _SpyReader)
    _SpyReader.fed = bytearray()
    cmds, _ = parse_all(chunks)
    pings = chunks[0].count(b"PING")
    assert cmds == [[b"PING"]] * pings
    assert b"1999999999\r" not in _SpyReader.fed and b"2147483647\r" not in _SpyReader.fed
    assert (b"PING" in _SpyReader.fed) == (pings > 0)
