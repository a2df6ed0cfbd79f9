"""The client-facing network layer: the RESP codec and the client protocol server.

`gofish.net.resp` is sans-IO (bytes in, commands out; reply values in, bytes out);
`gofish.net.server` runs one asyncio Protocol per client and hands parsed commands to a
`ClientHandler`. Nothing here knows what a command means. Imports from the rest of gofish:
`gofish.errors` and `gofish.reply` only.

Both modules run compiled with mypyc where the install could (`gofish._native`, ADR 0013).
"""

from gofish.net.resp import (
    QueryBufferLimitError,
    RequestParser,
    encode,
    encode_many,
    write_reply,
)
from gofish.net.server import ClientHandler, ClientServer, Connection, start_server

__all__ = [
    "ClientHandler",
    "ClientServer",
    "Connection",
    "QueryBufferLimitError",
    "RequestParser",
    "encode",
    "encode_many",
    "start_server",
    "write_reply",
]
