"""The leader's queue of ReadIndex requests awaiting a heartbeat quorum.

Each request records the commit index when it arrived. Heartbeats carry the newest pending
request context; a follower echoes it. Once a quorum of voters (the leader included) has
echoed a context, leadership was confirmed after every request queued up to and including
it, so they are all answered at their recorded index (batching).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ReadRequest:
    ctx: bytes
    index: int
    origin: int  # the node that asked (the leader itself for a local read)
    acks: set[int] = field(default_factory=set)


class ReadOnly:
    def __init__(self) -> None:
        self.pending: dict[bytes, ReadRequest] = {}
        self.queue: list[bytes] = []

    def add_request(self, ctx: bytes, index: int, origin: int) -> None:
        if ctx in self.pending:
            return
        self.pending[ctx] = ReadRequest(ctx, index, origin)
        self.queue.append(ctx)

    def recv_ack(self, node: int, ctx: bytes) -> set[int] | None:
        req = self.pending.get(ctx)
        if req is None:
            return None
        req.acks.add(node)
        return req.acks

    def advance(self, ctx: bytes) -> list[ReadRequest]:
        """Pop and return every request queued up to and including ``ctx``."""
        if ctx not in self.pending:
            return []
        pos = self.queue.index(ctx) + 1
        done, self.queue = self.queue[:pos], self.queue[pos:]
        return [self.pending.pop(c) for c in done]

    def last_pending_ctx(self) -> bytes:
        return self.queue[-1] if self.queue else b""
