"""Connection commands: PING ECHO HELLO AUTH SELECT QUIT RESET."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from gofish import errors
from gofish.reply import OK, PONG, ErrorReply, Map, Reply, Status
from gofish.statemachine.args import to_int
from gofish.statemachine.registry import CommandTable, command

if TYPE_CHECKING:
    from gofish.node.dispatch import Dispatcher, Session

SERVER_NAME = b"redis"
REDIS_VERSION = b"7.0.15"  # the Redis release whose behaviour gofish follows


def ping(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    if len(argv) > 2:
        return ErrorReply(errors.wrong_arity("ping"))
    if s.subscriptions and s.conn.proto == 2:
        return [b"pong", argv[1] if len(argv) == 2 else b""]
    return argv[1] if len(argv) == 2 else PONG


def echo(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    return argv[1]


def _check_password(d: Dispatcher, user: bytes | None, password: bytes) -> bool:
    required = d.node.config.requirepass.encode()
    if user is not None and user != b"default":
        return False
    if not required:
        return True
    return hmac.compare_digest(password, required)


def auth(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    if len(argv) > 3:
        return ErrorReply(errors.SYNTAX)
    if len(argv) == 2 and not d.node.config.requirepass:
        return ErrorReply(errors.AUTH_NO_PASSWORD)
    user = argv[1] if len(argv) == 3 else None
    if not _check_password(d, user, argv[-1]):
        return ErrorReply(errors.WRONGPASS)
    s.authed = True
    return OK


def hello(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    proto = s.conn.proto
    i = 1
    if len(argv) >= 2:
        ver = to_int(argv[1])
        if ver is None:
            return ErrorReply(b"ERR Protocol version is not an integer or out of range")
        if ver not in (2, 3):
            return ErrorReply(errors.NOPROTO)
        proto = ver
        i = 2
    authed = s.authed
    name: bytes | None = None
    while i < len(argv):
        opt = argv[i].lower()
        left = len(argv) - i - 1
        if opt == b"auth" and left >= 2:
            if not _check_password(d, argv[i + 1], argv[i + 2]):
                return ErrorReply(errors.WRONGPASS)
            authed = True
            i += 3
        elif opt == b"setname" and left >= 1:
            name = argv[i + 1]
            if b" " in name or b"\n" in name:
                return ErrorReply(
                    b"ERR Client names cannot contain spaces, newlines or special characters."
                )
            i += 2
        else:
            return ErrorReply(b"ERR Syntax error in HELLO option '" + argv[i] + b"'")
    if not authed:
        return ErrorReply(
            b"NOAUTH HELLO must be called with the client already authenticated, otherwise "
            b"the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the "
            b"client and select the RESP protocol version at the same time"
        )
    s.authed = True
    if name is not None:
        s.conn.name = name or None
    s.conn.proto = proto
    return Map([
        (b"server", SERVER_NAME),
        (b"version", REDIS_VERSION),
        (b"proto", proto),
        (b"id", s.id),
        (b"mode", b"standalone"),
        (b"role", b"master"),
        (b"modules", []),
    ])


def select(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    db = to_int(argv[1])
    if db is None:
        return ErrorReply(errors.NOT_INTEGER)
    if db != 0:
        return ErrorReply(errors.DB_INDEX_OUT_OF_RANGE)
    return OK


def quit_(d: Dispatcher, s: Session, argv: list[bytes]) -> Reply:
    s.conn.close_after_reply()
    return OK


def reset(d: Dispatcher, s: Session, argv: list[bytes]) -> Any:
    s.multi = None
    s.multi_error = False
    d.unwatch(s)
    d.node.pubsub.drop(s)
    s.conn.proto = 2
    s.conn.name = None
    s.authed = not d.node.config.requirepass
    s.consistency = None
    return Status(b"RESET")


def register(table: CommandTable) -> None:
    g = "connection"
    table.add(
        command("ping", -1, "node fast", group=g, since="1.0.0", summary="Ping the server",
                complexity="O(1)")(ping),
        command("echo", 2, "node fast", group=g, since="1.0.0",
                summary="Echo the given string", complexity="O(1)")(echo),
        command("auth", -2, "node noscript loading stale fast no_auth allow_busy", group=g,
                since="1.0.0", summary="Authenticate to the server",
                complexity="O(N) where N is the number of passwords defined for the user")(auth),
        command("hello", -1, "node noscript loading stale fast no_auth allow_busy", group=g,
                since="6.0.0", summary="Handshake with Redis", complexity="O(1)")(hello),
        command("select", 2, "node loading stale fast", group=g, since="1.0.0",
                summary="Change the selected database for the current connection",
                complexity="O(1)")(select),
        command("quit", -1, "node allow_busy noscript loading stale fast no_auth", group=g,
                since="1.0.0", summary="Close the connection", complexity="O(1)")(quit_),
        command("reset", 1, "node noscript loading stale fast no_auth allow_busy", group=g,
                since="6.2.0", summary="Reset the connection", complexity="O(1)")(reset),
    )
