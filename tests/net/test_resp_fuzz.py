"""Fuzzing the RESP codec.

1. Garbage and mutated valid streams never crash the parser: it returns commands or raises
   ProtocolError, nothing else, and the result does not depend on how the bytes are split.
2. A differential check against a real redis-server 7.0: for generated streams, the commands
   Redis ran (read back from its "unknown command" errors, which quote the arguments) and its
   protocol error are exactly what the parser returns.
3. Encoded replies parse back (hiredis) to the values they came from.
"""

from __future__ import annotations

import math
import random
import socket

import hiredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gofish.errors import ProtocolError
from gofish.net.resp import RequestParser, encode
from gofish.reply import Double, ErrorReply, Map, NullArray, Push, SetReply, Status, Verbatim

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Bytes that matter to the grammar, and a few that do not.
ALPHABET = b'*$\r\n0123456789-+:"\' \\x\x00\x0b\tabzQ=~%_#,(>|'


def mb(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


def run(chunks: list[bytes], limit: int = 1024) -> tuple[list[list[bytes]], bytes | None]:
    p = RequestParser(proto_max_bulk_len=1 << 20)
    out: list[list[bytes]] = []
    try:
        for chunk in chunks:
            p.feed(chunk)
            while batch := p.next_batch(limit):
                assert all(type(c) is list and c for c in batch)
                assert all(type(a) is bytes for c in batch for a in c)
                out.extend(batch)
    except ProtocolError as e:
        assert e.message.startswith(b"ERR Protocol error: ")
        return out, e.message
    return out, None


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({p % (len(data) + 1) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


@FUZZ
@given(st.binary(max_size=300), st.lists(st.integers(0, 400), max_size=6), st.integers(1, 5))
def test_garbage_parses_or_raises_protocol_error(
    data: bytes, points: list[int], limit: int
) -> None:
    assert run(cut(data, points), limit) == run([data])


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """Valid multibulk/inline requests, then a few byte-level mutations."""
    parts = []
    for _ in range(draw(st.integers(1, 5))):
        args = draw(st.lists(st.binary(max_size=12), min_size=1, max_size=4))
        if draw(st.booleans()):
            parts.append(mb(*args))
        else:
            words = [a.replace(b"\n", b"").replace(b"\r", b"") for a in args]
            parts.append(b" ".join(words) + draw(st.sampled_from([b"\r\n", b"\n"])))
    data = bytearray(b"".join(parts))
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(data)))
        op = draw(st.integers(0, 2))
        byte = draw(st.sampled_from(list(ALPHABET)))
        if op == 0:
            data[i:i] = bytes([byte])
        elif i < len(data):
            if op == 1:
                del data[i]
            else:
                data[i] = byte
    return bytes(data)


@FUZZ
@given(streams(), st.lists(st.integers(0, 400), max_size=6), st.integers(1, 5))
def test_mutated_streams_parse_the_same_in_any_chunks(
    data: bytes, points: list[int], limit: int
) -> None:
    assert run(cut(data, points), limit) == run([data])


@FUZZ
@given(st.lists(st.lists(st.binary(max_size=40), min_size=1, max_size=6), max_size=20),
       st.lists(st.integers(0, 5000), max_size=8))
def test_valid_streams_round_trip(cmds: list[list[bytes]], points: list[int]) -> None:
    data = b"".join(mb(*c) for c in cmds)
    assert run(cut(data, points)) == (cmds, None)


# --- differential: the real redis-server ---------------------------------------------------


def _as_redis_reports(cmds: list[list[bytes]], error: bytes | None) -> bytes:
    """What redis-server answers to *cmds* when none of them is a real command (7.0 format)."""
    out = b""
    for c in cmds:
        args = b""
        for a in c[1:]:
            if len(args) >= 128:
                break
            args += b"'" + a.split(b"\0")[0][: 128 - len(args)] + b"' "
        name = c[0].split(b"\0")[0][:128]
        msg = b"ERR unknown command '" + name + b"', with args beginning with: " + args
        out += b"-" + msg.replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n"
    if error is not None:
        out += b"-" + error + b"\r\n"
    return out


def _redis_answer(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)  # Redis answers what it read, then sees EOF and closes
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return answer


def _generated(rng: random.Random) -> bytes:
    parts = []
    for _ in range(rng.randint(1, 4)):
        # names start with "q": no real command can result from a few mutations
        args = [b"q" + bytes(rng.choice(b"abcxyz") for _ in range(rng.randint(0, 3)))]
        args += [bytes(rng.choice(ALPHABET) for _ in range(rng.randint(0, 6)))
                 for _ in range(rng.randint(0, 3))]
        if rng.random() < 0.6:
            parts.append(mb(*args))
        else:
            words = [a.replace(b"\n", b"").replace(b"\r", b"") for a in args]
            parts.append(b" ".join(words) + rng.choice([b"\r\n", b"\n"]))
    data = bytearray(b"".join(parts))
    for _ in range(rng.randint(0, 3)):
        i = rng.randrange(len(data) + 1)
        op = rng.random()
        if op < 0.4:
            data[i:i] = bytes([rng.choice(ALPHABET)])
        elif i < len(data):
            if op < 0.7:
                del data[i]
            else:
                data[i] = rng.choice(ALPHABET)
    return bytes(data)


def test_differential_against_redis_server(redis_ref: object) -> None:
    port: int = redis_ref.port  # type: ignore[attr-defined]
    rng = random.Random(20261126)
    answered = errors = 0
    for _ in range(400):
        data = _generated(rng)
        cmds, error = run([data])
        answer = _redis_answer(port, data)
        assert answer == _as_redis_reports(cmds, error), data
        answered += bool(answer)
        errors += error is not None
    assert answered > 300 and 30 < errors < 300  # the generator explores both sides


# --- replies -----------------------------------------------------------------------------

leaf = st.one_of(
    st.binary(max_size=20),
    st.integers(-(2**63), 2**63 - 1),
    st.none(),
    st.builds(Status, st.binary(max_size=10).map(lambda b: b.translate(None, b"\r\n"))),
    st.builds(ErrorReply, st.just(b"ERR boom")),
    st.builds(Double, st.floats(allow_nan=False)),
    st.builds(Verbatim, st.binary(max_size=10)),
    st.just(NullArray),
)
replies = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.builds(Map, st.lists(st.tuples(st.binary(max_size=5), inner), max_size=3)),
        st.builds(SetReply, st.lists(inner, max_size=3)),
        st.builds(Push, st.lists(inner, max_size=3)),
    ),
    max_leaves=12,
)


def _expected_resp2(v: object) -> object:
    """What hiredis reads back from the RESP2 encoding of *v*."""
    if isinstance(v, Verbatim | Status):
        return bytes(v)
    if isinstance(v, ErrorReply):
        return ("error", bytes(v))
    if isinstance(v, Double):
        if math.isinf(v):
            return b"inf" if v > 0 else b"-inf"
        return b"%.17g" % v
    if v is NullArray:
        return None
    if isinstance(v, Map):
        flat: list[object] = []
        for k, x in v:
            flat += [_expected_resp2(k), _expected_resp2(x)]
        return flat
    if isinstance(v, list):
        return [_expected_resp2(x) for x in v]
    return v


def _normalize(v: object) -> object:
    if isinstance(v, hiredis.ReplyError):
        return ("error", str(v).encode())
    if isinstance(v, list):
        return [_normalize(x) for x in v]
    return v


@FUZZ
@given(replies)
def test_replies_read_back(value: object) -> None:
    reader = hiredis.Reader()
    reader.feed(encode(value, 2))
    assert _normalize(reader.gets()) == _expected_resp2(value)
    assert reader.gets() is False
    reader = hiredis.Reader()
    reader.feed(encode(value, 3))  # RESP3 is at least well-formed and complete
    reader.gets()
    assert reader.gets() is False and not reader.has_data()
