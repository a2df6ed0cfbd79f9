"""Pub/sub: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB.

Messages are delivered to the subscribers connected to this node (Redis's non-cluster
semantics; PUBLISH replies with the number of clients that received the message here).
Confirmations and messages are push replies: ``>`` in RESP3, arrays in RESP2. In RESP2 a
subscribed connection may only (un)subscribe, PING, QUIT and RESET.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gofish import errors
from gofish.reply import Push, Reply
from gofish.statemachine.glob import glob_match
from gofish.statemachine.registry import CommandTable, command

if TYPE_CHECKING:
    from gofish.node.dispatch import Dispatcher, Session


class PubSub:
    """Channel and pattern subscriptions of this node's clients (insertion ordered)."""

    def __init__(self) -> None:
        self.channels: dict[bytes, dict[Session, None]] = {}
        self.patterns: dict[bytes, dict[Session, None]] = {}

    def subscribe(self, s: Session, channel: bytes) -> None:
        if channel not in s.channels:
            s.channels[channel] = None
            self.channels.setdefault(channel, {})[s] = None

    def unsubscribe(self, s: Session, channel: bytes) -> bool:
        if s.channels.pop(channel, 0) is not None:
            return False
        subs = self.channels.get(channel)
        if subs is not None:
            subs.pop(s, None)
            if not subs:
                del self.channels[channel]
        return True

    def psubscribe(self, s: Session, pattern: bytes) -> None:
        if pattern not in s.patterns:
            s.patterns[pattern] = None
            self.patterns.setdefault(pattern, {})[s] = None

    def punsubscribe(self, s: Session, pattern: bytes) -> bool:
        if s.patterns.pop(pattern, 0) is not None:
            return False
        subs = self.patterns.get(pattern)
        if subs is not None:
            subs.pop(s, None)
            if not subs:
                del self.patterns[pattern]
        return True

    def drop(self, s: Session) -> None:
        for ch in list(s.channels):
            self.unsubscribe(s, ch)
        for pat in list(s.patterns):
            self.punsubscribe(s, pat)

    def publish(self, channel: bytes, message: bytes) -> int:
        n = 0
        subs = self.channels.get(channel)
        if subs:
            msg = Push([b"message", channel, message])
            for s in list(subs):
                s.conn.write_now(msg)
                n += 1
        for pattern, psubs in list(self.patterns.items()):
            if glob_match(pattern, channel):
                pmsg = Push([b"pmessage", pattern, channel, message])
                for s in list(psubs):
                    s.conn.write_now(pmsg)
                    n += 1
        return n


def subscribe(d: Dispatcher, s: Session, argv: list[bytes]) -> Any:
    from gofish.node.dispatch import NO_REPLY

    for ch in argv[1:]:
        d.node.pubsub.subscribe(s, ch)
        s.conn.reply(Push([b"subscribe", ch, s.subscriptions]))
    return NO_REPLY


def psubscribe(d: Dispatcher, s: Session, argv: list[bytes]) -> Any:
    from gofish.node.dispatch import NO_REPLY

    for pat in argv[1:]:
        d.node.pubsub.psubscribe(s, pat)
        s.conn.reply(Push([b"psubscribe", pat, s.subscriptions]))
    return NO_REPLY


def unsubscribe(d: Dispatcher, s: Session, argv: list[bytes]) -> Any:
    from gofish.node.dispatch import NO_REPLY

    names = argv[1:] or list(s.channels)
    if not names:
        s.conn.reply(Push([b"unsubscribe", None, s.subscriptions]))
    for ch in names:
        d.node.pubsub.unsubscribe(s, ch)
        s.conn.reply(Push([b"unsubscribe", ch, s.subscriptions]))
    return NO_REPLY


def punsubscribe(d: Dispatcher, s: Session, argv: list[bytes]) -> Any:
    from gofish.node.dispatch import NO_REPLY

    names = argv[1:] or list(s.patterns)
    if not names:
        s.conn.reply(Push([b"punsubscribe", None, s.subscriptions]))
    for pat in names:
        d.node.pubsub.punsubscribe(s, pat)
        s.conn.reply(Push([b"punsubscribe", pat, s.subscriptions]))
    return NO_REPLY


def publish(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    return d.node.pubsub.publish(argv[1], argv[2])


_PUBSUB_HELP = [
    b"PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    b"CHANNELS [<pattern>]",
    b"    Return the currently active channels matching a <pattern> (default: '*').",
    b"NUMPAT",
    b"    Return number of subscriptions to patterns.",
    b"NUMSUB [<channel> ...]",
    b"    Return the number of subscribers for the specified channels, excluding",
    b"    pattern subscriptions(default: no channels).",
    b"SHARDCHANNELS [<pattern>]",
    b"    Return the currently active shard level channels matching a <pattern> (default: '*').",
    b"SHARDNUMSUB [<shardchannel> ...]",
    b"    Return the number of subscribers for the specified shard level channel(s)",
    b"HELP",
    b"    Prints this help.",
]


def pubsub(d: Dispatcher, s: Session, argv: list[bytes]) -> Any:
    from gofish.reply import Map

    ps = d.node.pubsub
    sub = argv[1].lower()
    n = len(argv)
    if sub == b"channels" and n <= 3:
        pat = argv[2] if n == 3 else None
        return [ch for ch in ps.channels if pat is None or glob_match(pat, ch)]
    if sub == b"numsub":
        return Map([(ch, len(ps.channels.get(ch, ()))) for ch in argv[2:]])
    if sub == b"numpat" and n == 2:
        return sum(len(v) for v in ps.patterns.values())
    if sub == b"shardchannels" and n <= 3:
        return []
    if sub == b"shardnumsub":
        return Map([(ch, 0) for ch in argv[2:]])
    if sub == b"help" and n == 2:
        return _PUBSUB_HELP
    from gofish.reply import ErrorReply

    return ErrorReply(errors.unknown_subcommand(argv[1], "pubsub"))


def register(table: CommandTable) -> None:
    g = "pubsub"
    f = "node pubsub noscript loading stale"
    table.add(
        command("subscribe", -2, f, group=g, since="2.0.0",
                summary="Listen for messages published to the given channels",
                complexity="O(N) where N is the number of channels to subscribe to.")(subscribe),
        command("unsubscribe", -1, f, group=g, since="2.0.0",
                summary="Stop listening for messages posted to the given channels",
                complexity="O(N) where N is the number of clients already subscribed to a "
                "channel.")(unsubscribe),
        command("psubscribe", -2, f, group=g, since="2.0.0",
                summary="Listen for messages published to channels matching the given patterns",
                complexity="O(N) where N is the number of patterns the client is already "
                "subscribed to.")(psubscribe),
        command("punsubscribe", -1, f, group=g, since="2.0.0",
                summary="Stop listening for messages posted to channels matching the given "
                "patterns", complexity="O(N+M)")(punsubscribe),
        command("publish", 3, "node pubsub loading stale fast may_replicate", group=g,
                since="2.0.0", summary="Post a message to a channel",
                complexity="O(N+M) where N is the number of clients subscribed to the "
                "receiving channel and M is the total number of subscribed patterns")(publish),
        command("pubsub", -2, "node pubsub loading stale", group=g, since="2.8.0",
                summary="A container for Pub/Sub commands",
                complexity="Depends on subcommand.")(pubsub),
    )
