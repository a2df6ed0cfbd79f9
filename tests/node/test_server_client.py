"""CLIENT subcommands through a live gofish, compared with redis-server 7.0."""

from __future__ import annotations

import threading
from typing import Any

import redis
from server_helpers import (
    RawClient,
    client_fields,
    error_of,
    port_of,
    raw,
    resp3_raw,
    same_error,
    wait_for,
)

_LINE_KEYS = [
    "id", "addr", "laddr", "fd", "name", "age", "idle", "flags", "db", "sub", "psub", "ssub",
    "multi", "qbuf", "qbuf-free", "argv-mem", "multi-mem", "rbs", "rbp", "obl", "oll", "omem",
    "tot-mem", "events", "cmd", "user", "redir", "resp",
]


def test_client_id_name_info(r: redis.Redis, r_ref: redis.Redis) -> None:
    cid = r.client_id()
    assert isinstance(cid, int) and cid > 0
    assert r.client_getname() is None
    assert r.client_setname("worker-1") is True
    assert r.client_getname() == "worker-1"
    same_error(r, r_ref, "CLIENT", "SETNAME", "a b")
    same_error(r, r_ref, "CLIENT", "SETNAME", "a\nb")
    assert raw(r, "CLIENT", "SETNAME", "") == b"OK"
    assert r.client_getname() is None
    r.client_setname("worker-1")
    line = raw(r, "CLIENT", "INFO")
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    f = client_fields(line.rstrip(b"\n"))
    ref = client_fields(raw(r_ref, "CLIENT", "INFO").rstrip(b"\n"))
    assert list(f) == list(ref) == _LINE_KEYS
    assert f["id"] == str(cid) and f["name"] == "worker-1" and f["cmd"] == "client|info"
    assert f["flags"] == "N" and f["db"] == "0" and f["user"] == "default"
    assert f["resp"] == ref["resp"] == str(r.connection_pool.get_connection().get_protocol() or 2)
    host, port = r.connection_pool.connection_kwargs["host"], port_of(r)
    assert f["laddr"] == f"{host}:{port}" and f["addr"].startswith("127.0.0.1:")


def test_client_list(r: redis.Redis, r_ref: redis.Redis) -> None:
    other = redis.Redis(port=port_of(r))
    other.client_setname("other")
    ps = other.pubsub()
    ps.subscribe("ch")
    assert ps.get_message(timeout=5) is not None
    try:
        clients = r.client_list()
        names = {c["name"] for c in clients}
        assert "other" in names
        pubsub = r.client_list(_type="pubsub")
        assert len(pubsub) == 1 and pubsub[0]["flags"] == "P" and pubsub[0]["sub"] == "1"
        assert all(c["flags"] != "P" for c in r.client_list(_type="normal"))
        assert r.client_list(_type="replica") == []
        me = r.client_id()
        assert [c["id"] for c in r.client_list(client_id=[me])] == [str(me)]
        assert raw(r, "CLIENT", "LIST", "ID", "999999") == b""
        assert raw(r, "CLIENT", "LIST", "ID", "0", "-1") == b""
        for bad in (("TYPE", "bogus"), ("ID", "abc"), ("ID", "1", "x"), ("foo",), ("TYPE",)):
            same_error(r, r_ref, "CLIENT", "LIST", *bad)
    finally:
        ps.close()
        other.close()


def test_client_list_shows_multi(r: redis.Redis) -> None:
    other = RawClient(port_of(r))
    try:
        oid = other("CLIENT", "ID")
        assert other("MULTI") == b"OK"
        assert other("PING") == b"QUEUED"
        line = r.client_list(client_id=[oid])[0]
        assert line["flags"] == "x" and line["multi"] == "1" and line["cmd"] == "ping"
        assert other("DISCARD") == b"OK"
        assert r.client_list(client_id=[oid])[0]["flags"] == "N"
    finally:
        other.close()


def test_client_kill(r: redis.Redis, r_ref: redis.Redis) -> None:
    a, b = RawClient(port_of(r)), RawClient(port_of(r))
    try:
        a_info = client_fields(a("CLIENT", "INFO").strip())
        b_id = str(b("CLIENT", "ID"))
        assert raw(r, "CLIENT", "KILL", a_info["addr"]) == b"OK"
        assert a.closed_by_server()
        assert raw(r, "CLIENT", "KILL", "ID", b_id) == 1
        assert b.closed_by_server()
        assert raw(r, "CLIENT", "KILL", "ID", b_id) == 0
        me = client_fields(raw(r, "CLIENT", "INFO").strip())
        # SKIPME yes by default: the caller is not killed by its own filter
        assert raw(r, "CLIENT", "KILL", "ADDR", me["addr"]) == 0
        assert raw(r, "CLIENT", "KILL", "LADDR", me["laddr"], "TYPE", "master") == 0
        assert r.ping() is True
        for bad in (("1.2.3.4:5",), ("ID", "abc"), ("ID", "0"), ("USER", "bob"),
                    ("SKIPME", "maybe"), ("TYPE", "bogus"), ("foo", "bar"), ("ID", "1", "x")):
            same_error(r, r_ref, "CLIENT", "KILL", *bad)
    finally:
        a.close()
        b.close()


def test_client_kill_by_type_and_user(r: redis.Redis) -> None:
    sub, plain = RawClient(port_of(r)), RawClient(port_of(r))
    try:
        sub.send("SUBSCRIBE", "ch")
        assert sub.read() == [b"subscribe", b"ch", 1]
        plain_id = plain("CLIENT", "ID")
        assert raw(r, "CLIENT", "KILL", "TYPE", "pubsub") == 1
        assert sub.closed_by_server()
        assert raw(r, "CLIENT", "KILL", "USER", "default", "ID", str(plain_id)) == 1
        assert plain.closed_by_server()
    finally:
        sub.close()
        plain.close()


def test_client_kill_self_replies_then_closes(r: redis.Redis) -> None:
    c = RawClient(port_of(r))
    try:
        me = c("CLIENT", "ID")
        assert c("CLIENT", "KILL", "ID", str(me), "SKIPME", "no") == 1
        assert c.closed_by_server()
    finally:
        c.close()


def test_client_unblock(r: redis.Redis, r_ref: redis.Redis) -> None:
    blocked = redis.Redis(port=port_of(r), socket_timeout=20)
    bid = blocked.client_id()
    results: list[Any] = []

    def pop() -> None:
        try:
            results.append(blocked.blpop(["nothing-here"], timeout=0))
        except redis.ResponseError as exc:
            results.append(exc)

    try:
        for mode, expect in ((None, None), ("ERROR", "UNBLOCKED")):
            results.clear()
            t = threading.Thread(target=pop)
            t.start()
            wait_for(lambda: r.info("clients")["blocked_clients"] == 1, "the client to block")
            line = r.client_list(client_id=[bid])[0]
            assert line["flags"] == "b" and line["cmd"] == "blpop"
            args = ["CLIENT", "UNBLOCK", str(bid)] + ([mode] if mode else [])
            assert raw(r, *args) == 1
            t.join(10)
            assert not t.is_alive()
            if expect is None:
                assert results == [None]
            else:
                assert "client unblocked via CLIENT UNBLOCK" in str(results[0])
        assert raw(r, "CLIENT", "UNBLOCK", str(bid)) == 0
        assert r.info("clients")["blocked_clients"] == 0
        for bad in (("abc",), ("5", "foo")):
            same_error(r, r_ref, "CLIENT", "UNBLOCK", *bad)
    finally:
        blocked.close()


def test_client_misc_subcommands(r: redis.Redis, r_ref: redis.Redis) -> None:
    assert raw(r, "CLIENT", "SETINFO", "LIB-NAME", "redis-py(x_y)") == b"OK"
    assert raw(r, "CLIENT", "SETINFO", "lib-ver", "1.2.3") == b"OK"
    assert error_of(r, "CLIENT", "SETINFO", "foo", "1") == "Unrecognized option 'foo'"
    assert error_of(r, "CLIENT", "SETINFO", "lib-name", "a b") == (
        "lib-name cannot contain spaces, newlines or special characters.")
    assert raw(r, "CLIENT", "NO-EVICT", "on") == b"OK"
    assert raw(r, "CLIENT", "NO-TOUCH", "off") == b"OK"
    assert raw(r, "CLIENT", "REPLY", "ON") == b"OK"
    assert raw(r, "CLIENT", "GETREDIR") == raw(r_ref, "CLIENT", "GETREDIR") == -1
    assert raw(r, "CLIENT", "TRACKINGINFO") == raw(r_ref, "CLIENT", "TRACKINGINFO")
    same_error(r, r_ref, "CLIENT", "NO-EVICT", "maybe")
    same_error(r, r_ref, "CLIENT", "BOGUS")
    same_error(r, r_ref, "CLIENT")
    same_error(r, r_ref, "CLIENT", "ID", "x")
    help_text = raw(r, "CLIENT", "HELP")
    assert help_text[0] == raw(r_ref, "CLIENT", "HELP")[0]
    assert all(isinstance(line, bytes) for line in help_text)


def test_client_info_resp3_is_verbatim(r: redis.Redis) -> None:
    data = resp3_raw(port_of(r), b"CLIENT INFO\r\n", b"resp=3\n\r\n")
    body = data[data.index(b"=", data.index(b"modules")) :]
    assert body.startswith(b"=") and b"\r\ntxt:id=" in body
