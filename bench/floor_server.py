"""The Python floor: the least a Python server can do per Redis request.

A reference for ``bench/compare.py --floor``, not a server to use. Built like gofish's client
server (gofish/net/server.py): uvloop, one `asyncio.Protocol` per connection, `hiredis.Reader`
to parse, ONE ``transport.write`` of the joined replies per ``data_received``. Behind that, one
dict and the least each command needs: SET, MSET, GET, INCR; LPUSH / LPOP on a deque, SADD on
a set, HSET on a dict, ZADD on a dict (member to score), with Redis's replies; PING; CONFIG GET
(sent by redis-benchmark) replies ``*0``; FLUSHALL (sent by compare.py) empties the dict;
anything else replies ``+OK``.

A floor, not an implementation: no persistence, replication, expiry, arity or type checks; it
only avoids crashing (a failing command replies ``-ERR``, malformed input closes the
connection). Its CPU per request over Redis's is what any uvloop + hiredis Python server pays;
gofish's over this server's is the cost of gofish's design.

    python bench/floor_server.py --port N [--bind 127.0.0.1]    # prints nothing; exits on SIGTERM
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections import deque
from collections.abc import Callable
from typing import Any

import hiredis
import uvloop

OK, NIL = b"+OK\r\n", b"$-1\r\n"
DB: dict[bytes, Any] = {}


def _bulk(v: bytes | None) -> bytes:
    return NIL if v is None else b"$%d\r\n%s\r\n" % (len(v), v)


def _set(a: list[bytes]) -> bytes:
    DB[a[1]] = a[2]
    return OK


def _mset(a: list[bytes]) -> bytes:
    for i in range(1, len(a) - 1, 2):
        DB[a[i]] = a[i + 1]
    return OK


def _incr(a: list[bytes]) -> bytes:
    n = int(DB.get(a[1], 0)) + 1
    DB[a[1]] = b"%d" % n
    return b":%d\r\n" % n


def _lpush(a: list[bytes]) -> bytes:
    d = DB.get(a[1])
    if d is None:
        d = DB[a[1]] = deque()
    d.extendleft(a[2:])
    return b":%d\r\n" % len(d)


def _sadd(a: list[bytes]) -> bytes:
    s = DB.get(a[1])
    if s is None:
        s = DB[a[1]] = set()
    n = len(s)
    s.update(a[2:])
    return b":%d\r\n" % (len(s) - n)


def _put_pairs(a: list[bytes], score_first: bool) -> bytes:
    """HSET (field value ...) and ZADD (score member ...): a dict per key; replies how
    many entries are new."""
    d = DB.get(a[1])
    if d is None:
        d = DB[a[1]] = {}
    n = len(d)
    for i in range(2, len(a) - 1, 2):
        if score_first:
            d[a[i + 1]] = float(a[i])
        else:
            d[a[i]] = a[i + 1]
    return b":%d\r\n" % (len(d) - n)


def _hset(a: list[bytes]) -> bytes:
    return _put_pairs(a, False)


def _zadd(a: list[bytes]) -> bytes:
    return _put_pairs(a, True)


def _flushall(a: list[bytes]) -> bytes:
    DB.clear()
    return OK


COMMANDS: dict[bytes, Callable[[list[bytes]], bytes]] = {
    b"SET": _set,
    b"GET": lambda a: _bulk(DB.get(a[1])),
    b"INCR": _incr,
    b"LPUSH": _lpush,
    b"LPOP": lambda a: _bulk(d.popleft() if (d := DB.get(a[1])) else None),
    b"SADD": _sadd,
    b"HSET": _hset,
    b"ZADD": _zadd,
    b"MSET": _mset,
    b"PING": lambda a: b"+PONG\r\n",
    b"CONFIG": lambda a: b"*0\r\n",
    b"FLUSHALL": _flushall,
}


class FloorProtocol(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport  # an asyncio.Transport
        self.reader = hiredis.Reader()

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        out: list[bytes] = []
        try:
            while (argv := self.reader.gets()) is not False:
                handler = COMMANDS.get(argv[0]) or COMMANDS.get(argv[0].upper())
                try:
                    out.append(OK if handler is None else handler(argv))
                except Exception:
                    out.append(b"-ERR floor server\r\n")
        except Exception:  # malformed input (hiredis.ProtocolError) or not an argv of bulks
            self.transport.write(b"".join(out))
            self.transport.close()
            return
        self.transport.write(b"".join(out))


async def main() -> None:
    ap = argparse.ArgumentParser(description="The Python floor: a minimal RESP server.")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bind", default="127.0.0.1")
    args = ap.parse_args()
    loop, stop = asyncio.get_running_loop(), asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with await loop.create_server(FloorProtocol, args.bind, args.port):
        await stop.wait()


if __name__ == "__main__":
    uvloop.run(main())
