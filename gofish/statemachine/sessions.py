"""Client sessions: a retried write is applied once (Raft thesis §6.3).

A client may send a request again after a timeout or a leader change, so the same request can
reach the log twice, and the requests of one client can reach it out of order (a retry through
another leader lands after a later request). The state machine keeps, per client, the replies
of the requests it applied and answers a copy in the log from that cache instead of executing
it again.

Rules (applied for every entry, in log order, by `SessionTable.apply`):

- ``client == 0`` marks an internal entry (active expiry and the like): it has no session, is
  executed normally and is never deduplicated.
- A session is keyed by the entry's ``client`` and holds ``low`` (every request with
  ``seq < low`` is finished: the client has its reply or gave up on it), ``replies``
  (``seq`` → the reply the request got) and the (entry) time of its last use.
- On each entry of a client: ``low = max(low, acked)`` and cached replies with
  ``seq < low`` are dropped. Then:

  * ``seq < low``: not executed; the reply is `STALE_REPLY` and ``stale`` is counted;
  * ``seq`` is cached: not executed; the cached reply (the same object) is returned and
    ``duplicates`` is counted;
  * otherwise the request is executed (one command or a MULTI, as the caller does it), its
    reply cached and returned.

  A later ``seq`` applied first therefore never makes an earlier one be skipped: only
  ``acked`` (or the cap below) raises ``low``.
- Time is the entries' ``time_ms``, never a clock: the table's clock is the largest
  ``time_ms`` it has seen (it never goes back, even when a new leader's clock is behind).
- Memory is bounded: sessions are kept in least-recently-used order; before each entry
  (internal ones included) the sessions unused for `SESSION_TTL_MS` or more are dropped
  from the front, and after a new session is added the least recently used one is dropped
  while there are more than `MAX_SESSIONS`. A session caches at most
  `MAX_REPLIES_PER_SESSION` replies: past that the lowest ``seq`` is dropped and ``low``
  raised past it (that request, and every earlier unfinished one, becomes stale). A
  request retried after its session was dropped is executed again: clients must stop
  retrying well within `SESSION_TTL_MS`.
- Everything above depends only on the entries applied: no clock, no randomness, and no
  iteration order but insertion order; so every replica holds the same table and answers
  the same reply. `SessionTable.export` / `SessionTable.restore` carry the table through a
  checkpoint as plain msgpack-able data (replies encoded by `encode_reply`, no pickle).
- The counters (``duplicates``, ``stale``, ``expired``, ``evicted``) are this process's
  statistics; they are not exported.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from gofish import errors
from gofish.reply import (
    Double,
    ErrorReply,
    Map,
    NullArray,
    Pairs,
    Push,
    Reply,
    SetReply,
    Status,
    Verbatim,
)
from gofish.statemachine.entry import Command
from gofish.statemachine.registry import WouldBlock

SESSION_TTL_MS = 10 * 60 * 1000
MAX_SESSIONS = 100_000
MAX_REPLIES_PER_SESSION = 1024

#: the reply to a request whose ``seq`` is below its session's ``low``
STALE_REPLY = ErrorReply(errors.STALE_REQUEST)

#: first element of `SessionTable.export`'s list
EXPORT_VERSION = 1


class _Session:
    """One client's session: see the module rules. ``heap`` holds the keys of ``replies``
    (a min-heap, so the lowest cached ``seq`` is found in O(log n))."""

    __slots__ = ("low", "replies", "heap", "last_ms")

    def __init__(self, low: int, last_ms: int) -> None:
        self.low = low
        self.replies: dict[int, Reply] = {}
        self.heap: list[int] = []
        self.last_ms = last_ms

    def raise_low(self, low: int) -> None:
        """Set ``low`` (greater than the current one) and drop the replies below it."""
        self.low = low
        heap = self.heap
        replies = self.replies
        while heap and heap[0] < low:
            del replies[heapq.heappop(heap)]


@dataclass(frozen=True, slots=True)
class SessionStats:
    """A snapshot of `SessionTable`'s counters (INFO-style)."""

    sessions: int
    cached_replies: int
    duplicates: int
    stale: int
    expired: int
    evicted: int


class SessionTable:
    """Per-client sessions of a state machine; deterministic (see the module rules).

    ``duplicates``: entries answered from the cache; ``stale``: entries answered with
    `STALE_REPLY`; ``expired``: sessions dropped by `SESSION_TTL_MS`; ``evicted``: sessions
    dropped by `MAX_SESSIONS`. ``len(table)`` is the number of sessions.
    """

    def __init__(self) -> None:
        self._sessions: OrderedDict[int, _Session] = OrderedDict()
        #: the largest entry time seen, in ms
        self.clock_ms = 0
        # No session expires before this clock: the least recently used session's last use
        # plus the TTL when last looked at. A lower bound, since that last use only grows.
        self._expire_at = 0
        self.duplicates = 0
        self.stale = 0
        self.expired = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._sessions)

    def statistics(self) -> SessionStats:
        """Counters and sizes; ``cached_replies`` is summed over the sessions (O(sessions))."""
        return SessionStats(
            sessions=len(self._sessions),
            cached_replies=sum(len(s.replies) for s in self._sessions.values()),
            duplicates=self.duplicates,
            stale=self.stale,
            expired=self.expired,
            evicted=self.evicted,
        )

    def session(self, client: int) -> tuple[int, list[int]] | None:
        """``(low, cached seqs in ascending order)`` of ``client``'s session, or None. For
        tests and introspection; does not count as a use."""
        s = self._sessions.get(client)
        return None if s is None else (s.low, sorted(s.replies))

    def clients(self) -> list[int]:
        """The client ids with a session, least recently used first."""
        return list(self._sessions)

    # --- apply -------------------------------------------------------------------------
    def apply(self, cmd: Command, execute: Callable[[Command], Reply]) -> Reply:
        """Apply the entry ``cmd``: advance the clock, drop expired sessions, then execute
        ``cmd`` through ``execute`` at most once per (client, seq) and return its reply,
        following the module rules. ``execute`` runs at most once, synchronously; if it
        raises, nothing is cached and the exception propagates."""
        now = cmd.time_ms
        if now > self.clock_ms:
            self.clock_ms = now
        else:
            now = self.clock_ms
        if now >= self._expire_at:
            self._expire(now)
        sessions = self._sessions
        client = cmd.client
        if client == 0:
            return execute(cmd)
        s = sessions.get(client)
        if s is None:
            s = sessions[client] = _Session(0, now)
            if len(sessions) > MAX_SESSIONS:
                sessions.popitem(last=False)
                self.evicted += 1
        else:
            sessions.move_to_end(client)
            s.last_ms = now
        if cmd.acked > s.low:
            s.raise_low(cmd.acked)
        seq = cmd.seq
        if seq < s.low:
            self.stale += 1
            return STALE_REPLY
        replies = s.replies
        if seq in replies:
            self.duplicates += 1
            return replies[seq]
        reply = execute(cmd)
        replies[seq] = reply
        if len(replies) > MAX_REPLIES_PER_SESSION:
            # every cached seq is >= low and they are distinct: dropping the lowest one, m,
            # leaves only seqs >= m + 1, the new low
            lowest = heapq.heappushpop(s.heap, seq)
            del replies[lowest]
            s.low = lowest + 1
        else:
            heapq.heappush(s.heap, seq)
        return reply

    def _expire(self, now: int) -> None:
        """Drop sessions from the least recently used end while unused for the TTL. The
        order of use is the order of ``last_ms`` because the clock never goes back."""
        sessions = self._sessions
        deadline = now - SESSION_TTL_MS
        while sessions:
            client, s = next(iter(sessions.items()))
            if s.last_ms > deadline:
                self._expire_at = s.last_ms + SESSION_TTL_MS
                return
            del sessions[client]
            self.expired += 1
        self._expire_at = now + SESSION_TTL_MS  # every session made from now on is used now

    # --- checkpoints ---------------------------------------------------------------------
    def export(self) -> list[Any]:
        """The table as plain msgpack-able data (ints, bytes, lists), identical on every
        replica that applied the same entries::

            [EXPORT_VERSION, clock_ms,
             [[client, low, last_ms, [[seq, encode_reply(reply)], ...]], ...]]

        sessions least recently used first, replies by ascending ``seq``. Raises TypeError
        if a cached reply is of a type `encode_reply` does not know (a handler bug)."""
        out: list[Any] = []
        for client, s in self._sessions.items():
            replies = s.replies
            out.append(
                [client, s.low, s.last_ms, [[q, encode_reply(replies[q])] for q in sorted(replies)]]
            )
        return [EXPORT_VERSION, self.clock_ms, out]

    def restore(self, data: list[Any]) -> None:
        """Replace the table's sessions and clock with ``data`` from `export` (counters are
        kept). Raises ValueError, leaving the table unchanged, if ``data`` is not a valid
        export."""
        if not isinstance(data, list) or len(data) != 3 or data[0] != EXPORT_VERSION:
            raise ValueError("not a session table export (version or shape)")
        clock_ms = _int(data[1], "clock_ms")
        rows = data[2]
        if not isinstance(rows, list) or len(rows) > MAX_SESSIONS:
            raise ValueError("session table export: bad session list")
        sessions: OrderedDict[int, _Session] = OrderedDict()
        prev_ms: int | None = None
        for row in rows:
            if not isinstance(row, list) or len(row) != 4:
                raise ValueError("session table export: bad session row")
            client = _int(row[0], "client")
            low = _int(row[1], "low")
            last_ms = _int(row[2], "last_ms")
            if client == 0 or client in sessions:
                raise ValueError(f"session table export: bad or repeated client {client}")
            if last_ms > clock_ms or (prev_ms is not None and last_ms < prev_ms):
                raise ValueError("session table export: last use times out of order")
            prev_ms = last_ms
            s = _Session(low, last_ms)
            pairs = row[3]
            if not isinstance(pairs, list) or len(pairs) > MAX_REPLIES_PER_SESSION:
                raise ValueError("session table export: bad reply list")
            prev_seq: int | None = None
            for pair in pairs:
                if not isinstance(pair, list) or len(pair) != 2:
                    raise ValueError("session table export: bad reply pair")
                seq = _int(pair[0], "seq")
                if seq < low or (prev_seq is not None and seq <= prev_seq):
                    raise ValueError("session table export: reply seqs out of order")
                prev_seq = seq
                if not isinstance(pair[1], bytes):
                    raise ValueError("session table export: reply is not bytes")
                s.replies[seq] = decode_reply(pair[1])
                s.heap.append(seq)  # ascending: already a heap
            sessions[client] = s
        self._sessions = sessions
        self.clock_ms = clock_ms
        self._expire_at = 0


def _int(v: Any, what: str) -> int:
    if type(v) is not int:
        raise ValueError(f"session table export: {what} is not an integer")
    return v


# --- reply codec ----------------------------------------------------------------------------
# A reply becomes a tree of msgpack values: bytes, int and None stand for themselves; every
# other reply is a two-element array [tag, payload] (so an array is always a tagged node).

_STATUS, _ERROR, _DOUBLE, _MAP, _PAIRS, _SET, _PUSH, _VERBATIM = range(8)
_NULL_ARRAY, _LIST, _TUPLE, _WOULD_BLOCK = range(8, 12)

_BYTES_TAGS: dict[type, int] = {Status: _STATUS, ErrorReply: _ERROR, Verbatim: _VERBATIM}
_LIST_TAGS: dict[type, int] = {
    Map: _MAP, Pairs: _PAIRS, SetReply: _SET, Push: _PUSH, list: _LIST, tuple: _TUPLE,
}
_FROM_BYTES: dict[int, Callable[[bytes], Reply]] = {
    _STATUS: Status, _ERROR: ErrorReply, _VERBATIM: Verbatim,
}
_FROM_LIST: dict[int, Callable[[list[Any]], Reply]] = {
    _MAP: Map, _PAIRS: Pairs, _SET: SetReply, _PUSH: Push, _LIST: list, _TUPLE: tuple,
}

_msgpack_encoder = msgspec.msgpack.Encoder()
_msgpack_decoder = msgspec.msgpack.Decoder()


def encode_reply(reply: Reply | WouldBlock) -> bytes:
    """A reply as msgpack bytes; `decode_reply` gives back an equal value of the same types,
    nested ones included. Knows ``bytes``, ``int`` (64-bit), ``None``, ``list``, ``tuple``,
    every type of `gofish.reply` and `WouldBlock`; matched by exact type (a ``bool`` or an
    unknown subclass raises TypeError). Deterministic: equal replies give equal bytes."""
    return _msgpack_encoder.encode(_tree(reply))


def decode_reply(data: bytes) -> Reply:
    """The reply `encode_reply` encoded; ValueError on bytes it did not produce."""
    try:
        tree = _msgpack_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not an encoded reply: {exc}") from exc
    reply: Reply = _untree(tree)
    return reply


def _tree(v: Any) -> Any:
    t = type(v)
    if t is bytes or t is int or v is None:
        return v
    tag = _BYTES_TAGS.get(t)
    if tag is not None:
        return [tag, bytes(v)]
    tag = _LIST_TAGS.get(t)
    if tag is not None:
        return [tag, [_tree(x) for x in v]]
    if t is Double:
        return [_DOUBLE, float(v)]
    if v is NullArray:
        return [_NULL_ARRAY, None]
    if t is WouldBlock:
        return [_WOULD_BLOCK, [list(v.keys), float(v.timeout), _tree(v.timeout_reply)]]
    raise TypeError(f"cannot encode a reply of type {t.__name__}")


def _untree(v: Any) -> Any:
    t = type(v)
    if t is bytes or t is int or v is None:
        return v
    if t is not list or len(v) != 2 or type(v[0]) is not int:
        raise ValueError("not an encoded reply: bad node")
    tag, payload = v
    pt = type(payload)
    make_b = _FROM_BYTES.get(tag)
    if make_b is not None and pt is bytes:
        return make_b(payload)
    make_l = _FROM_LIST.get(tag)
    if make_l is not None and pt is list:
        return make_l([_untree(x) for x in payload])
    if tag == _DOUBLE and pt is float:
        return Double(payload)
    if tag == _NULL_ARRAY and payload is None:
        return NullArray
    if (
        tag == _WOULD_BLOCK and pt is list and len(payload) == 3
        and type(payload[0]) is list and all(type(k) is bytes for k in payload[0])
        and type(payload[1]) is float
    ):
        return WouldBlock(payload[0], payload[1], _untree(payload[2]))
    raise ValueError(f"not an encoded reply: bad node with tag {tag}")
