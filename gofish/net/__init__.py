"""The client-facing network layer: the RESP codec and the client protocol server.

`gofish.net.resp` is sans-IO (bytes in, commands out; reply values in, bytes out);
`gofish.net.server` runs one asyncio Protocol per client and hands parsed commands to a
`ClientHandler`. Nothing here knows what a command means. Imports from the rest of gofish:
`gofish.errors` and `gofish.reply` only.

`NATIVE` are compiled with mypyc where the install could (setup.py, ADR 0013); `gofish.net._native`
decides at import whether the extension or the source runs (``GOFISH_PURE=1``: the source).
"""

import os
import sys

from gofish.net import _native

NATIVE = ("resp", "server")
_native.install(__name__, os.path.dirname(__file__), NATIVE)

from gofish.net.resp import (  # noqa: E402  (after the import hook)
    QueryBufferLimitError,
    RequestParser,
    encode,
    encode_many,
    write_reply,
)
from gofish.net.server import ClientHandler, ClientServer, Connection, start_server  # noqa: E402

__all__ = [
    "NATIVE",
    "compiled_modules",
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


def compiled_modules() -> list[str]:
    """The modules of `NATIVE` that run compiled (INFO server ``gofish_compiled``)."""
    return [n for n in NATIVE if _native.compiled(sys.modules[f"{__name__}.{n}"])]
