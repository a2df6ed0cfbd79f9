"""A raw RESP client for differential tests: sends a command, returns the reply's exact bytes.

Replies are cut from the stream by a small scanner that knows RESP2 and RESP3 framing; nothing
is decoded, so two servers' replies can be compared byte for byte.
"""

from __future__ import annotations

import socket


def encode_command(argv: list[bytes]) -> bytes:
    out = [b"*%d\r\n" % len(argv)]
    for a in argv:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class RawClient:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = bytearray()

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> None:
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf += data

    def _line_end(self, pos: int) -> int:
        while True:
            i = self.buf.find(b"\r\n", pos)
            if i >= 0:
                return i
            self._fill()

    def _skip(self, pos: int) -> int:
        """Position just after the reply that starts at ``pos``."""
        end = self._line_end(pos)
        kind = self.buf[pos : pos + 1]
        head = bytes(self.buf[pos + 1 : end])
        nxt = end + 2
        if kind in (b"$", b"=", b"!"):
            n = int(head)
            if n < 0:
                return nxt
            while len(self.buf) < nxt + n + 2:
                self._fill()
            return nxt + n + 2
        if kind in (b"*", b"~", b">", b"%", b"|"):
            n = int(head)
            if n < 0:
                return nxt
            if kind in (b"%", b"|"):
                n *= 2
            for _ in range(n):
                nxt = self._skip(nxt)
            return nxt
        return nxt  # + - : _ , # (

    def call(self, argv: list[bytes]) -> bytes:
        self.sock.sendall(encode_command(argv))
        return self.read_reply()

    def read_reply(self) -> bytes:
        while not self.buf:
            self._fill()
        end = self._skip(0)
        out = bytes(self.buf[:end])
        del self.buf[:end]
        return out
