"""A real gofish cluster under real faults: kill -9, SIGSTOP, partitions, restarts, impostors,
membership changes (/work/helpers/cluster-contract.md).

Each test starts its own cluster (`harness.Cluster`: 3 processes, or 5, every peer link
through a `faultproxy.FaultProxy`). Every load is bounded in count, every wait in time; on
failure the cluster's INFO raft and log tails are printed. Run with ``-s`` to see what each
scenario observed (error codes and timings, ambiguous writes, bursts in flight).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from typing import Any

import hiredis
import pytest
import redis

from .harness import HOST, Cluster, error_code, raft_ids, write_secret
from .workload import (
    AMBIGUOUS,
    NOT_APPLIED,
    SAMPLE,
    LoadLog,
    RawResp,
    check_list,
    check_load,
    cmd,
    expect_error,
    load_state,
    load_writer,
    ok,
    pipelined_pusher,
    read_sample,
    retry_write,
    write_sample,
)

pytestmark = pytest.mark.timeout(120)


# --- a. writes through a follower ------------------------------------------------------------
def test_writes_via_follower_read_back_on_every_node() -> None:
    with Cluster(3) as c:
        lead = c.wait_leader()
        f = c.followers(lead)[0]
        r = c.client(f)
        write_sample(r, "a")
        tx = r.pipeline(transaction=True)
        tx.incr("a:ctr")
        tx.set("a:tx", "yes")
        assert tx.execute() == [43, True]
        assert r.decr("a:ctr") == 42
        # the follower applied each write before replying: its local (stale) view has them
        stale = c.client(f, consistency="stale")
        assert cmd(stale, "READCONSISTENCY") in (b"stale", "stale")
        assert read_sample(stale, "a") == SAMPLE
        assert stale.get("a:tx") == b"yes"
        for i in c.serving():  # linearizable reads on every node, followers included
            ri = c.client(i)
            assert read_sample(ri, "a") == SAMPLE, f"node {i}"
            assert ri.get("a:tx") == b"yes", f"node {i}"


# --- a2. reads see every acknowledged write, across a leader transfer -----------------------
def test_reads_never_miss_an_acknowledgedclassify_write() -> None:
    """One client INCRs through a follower; readers on every node and in every mode check
    each read against the writer's acknowledged value at the time the read was sent
    (linearizable and lease: never below it; stale: never going backwards); leadership
    moves in the middle."""
    incrs = 300
    with Cluster(3) as c:
        lead = c.wait_leader()
        f1, f2 = c.followers(lead)
        acked, attempted = [0], [0]
        done = threading.Event()
        violations: list[str] = []
        errors: list[str] = []

        def writer() -> None:
            w = c.client(f1, timeout=15)
            try:
                for _ in range(incrs):
                    attempted[0] += 1
                    try:
                        acked[0] = int(w.incr("a2:ctr"))
                    except redis.ResponseError as e:
                        errors.append(f"write: {e!s}")
            finally:
                done.set()

        def reader(node: int, mode: str) -> None:
            r = c.client(node, timeout=15, consistency=mode)
            last = 0
            for _ in range(5000):  # bounded; ends when the writer is done
                if done.is_set():
                    return
                floor = acked[0]
                try:
                    v = int(r.get("a2:ctr") or 0)
                except redis.ResponseError as e:
                    if error_code(e) not in NOT_APPLIED + AMBIGUOUS:
                        violations.append(f"node {node} {mode}: unexpected {e!s}")
                    errors.append(f"node {node} {mode}: {e!s}")
                    continue
                ceiling = attempted[0]
                if mode != "stale" and v < floor:
                    violations.append(f"node {node} {mode}: read {v} after {floor} was acked")
                if v < last:
                    violations.append(f"node {node} {mode}: read {v} after reading {last}")
                if v > ceiling:
                    violations.append(f"node {node} {mode}: read {v}, only {ceiling} sent")
                last = v

        readers = [
            threading.Thread(target=reader, args=(node, mode))
            for node in (lead, f1, f2)
            for mode in ("linearizable", "lease", "stale")
        ]
        wt = threading.Thread(target=writer)
        for th in [wt, *readers]:
            th.start()
        try:
            c.wait_until(lambda: acked[0] >= incrs // 3 or done.is_set(), 30, "100 INCRs")
            assert ok(cmd(c.client(f2), "RAFT", "TRANSFER", f2))
            c.wait_until(lambda: c.leader_among() == f2, 10, f"node {f2} to lead")
        finally:
            wt.join(90)
            for th in readers:
                th.join(30)
        assert not any(th.is_alive() for th in [wt, *readers])
        print(f"{acked[0]} INCRs acknowledged; {len(errors)} errors: {sorted(set(errors))[:5]}")
        assert not violations, violations[:10]
        value = int(c.client(lead).get("a2:ctr") or 0)
        if any(e.startswith("write: ") for e in errors):
            assert acked[0] <= value <= incrs
        else:
            assert acked[0] == incrs == value


# --- b. kill -9 of the leader under load ---------------------------------------------------
def test_kill_leader_under_load_keeps_acknowledged_writes() -> None:
    threads_n, steps = 2, 100  # 400 single writes in all, plus pipelined pushes
    with Cluster(3) as c:
        old = c.wait_leader()
        ids = sorted(c.nodes)
        logs = [LoadLog() for _ in range(threads_n)]
        piped, bursts, stop = LoadLog(), [0], threading.Event()
        done_steps = [0]
        lock = threading.Lock()
        third = threading.Event()

        def on_step() -> None:
            with lock:
                done_steps[0] += 1
                if done_steps[0] >= threads_n * steps // 3:
                    third.set()

        threads = [
            threading.Thread(target=load_writer, args=(c, t, ids, steps, logs[t], on_step))
            for t in range(threads_n)
        ]
        # pipelined pushes through a follower: many forwarded writes in flight at the kill
        via = c.followers(old)[0]
        pusher = threading.Thread(
            target=pipelined_pusher, args=(c.client(via, timeout=15), piped, stop, 300, bursts)
        )
        for th in [*threads, pusher]:
            th.start()
        try:
            assert third.wait(60), "the load made no progress\n" + c.dump()
            bursts_at_kill = bursts[0]
            c.kill(old)
            killed_at = time.monotonic()
            steps_at_kill = done_steps[0]
            survivors = [i for i in ids if i != old]
            probe = c.client(survivors[0], timeout=8)
            c.wait_until(lambda: probe.set("b:after-kill", "1"), 10, "a write on a survivor")
            took = time.monotonic() - killed_at
            assert took < 10, f"first write after the kill took {took:.1f}s"
            after = bursts[0]
            c.wait_until(lambda: bursts[0] >= after + 3 or not pusher.is_alive(), 30,
                         "three more pipelined bursts")
            stop.set()
        finally:
            stop.set()
            for th in [*threads, pusher]:
                th.join(90)
        assert not any(th.is_alive() for th in [*threads, pusher]), "writers stuck\n" + c.dump()
        assert 0 < bursts_at_kill < bursts[0] < 300, (bursts_at_kill, bursts[0])
        for log in [*logs, piped]:
            assert not log.unexpected, f"unexpected errors: {log.unexpected[:5]}\n{c.dump()}"
            assert log.acked_pushes
        new = c.wait_leader(among=survivors)
        assert new != old
        for t, log in enumerate(logs):
            print(f"writer {t}: {len(log.acked_sets)}+{len(log.acked_pushes)} acked, "
                  f"{len(log.maybe_sets)}+{len(log.maybe_pushes)} ambiguous, {log.failed} failed")
        print(f"pipelined pushes via node {via}: {len(piped.acked_pushes)} acked, "
              f"{len(piped.maybe_pushes)} ambiguous, {piped.failed} failed, "
              f"{bursts_at_kill} of {bursts[0]} bursts before the kill")
        print(f"killed leader {old} after {steps_at_kill} of {threads_n * steps} steps; "
              f"first write on a survivor {took:.2f}s later")
        for i in survivors:
            check_load(c, c.client(i), logs, piped, f"node {i} (linearizable)")
        reference = load_state(c.client(new), logs, steps)
        for i in survivors:  # each survivor has applied it locally too
            stale = c.client(i, consistency="stale")
            c.wait_until(
                lambda s=stale: load_state(s, logs, steps) == reference,  # type: ignore[misc]
                10, f"node {i}'s stale view to equal the leader's",
            )
        # the old leader comes back and catches up
        c.start(old)
        stale_old = c.client(old, consistency="stale")
        c.wait_until(
            lambda: load_state(stale_old, logs, steps) == reference,
            20, f"restarted node {old} to catch up",
        )
        assert stale_old.get("b:after-kill") == b"1"
        check_load(c, c.client(old), logs, piped, f"restarted node {old} (linearizable)")
        assert load_state(c.client(old), logs, steps) == reference


# --- c. a paused leader must not serve stale reads when it wakes ---------------------------
def test_sigstopped_leader_never_serves_the_old_value() -> None:
    with Cluster(3) as c:
        old = c.wait_leader()
        assert c.client(old).set("c:k", "old") is True
        stale_views = {i: c.client(i, consistency="stale") for i in c.serving()}
        for i, s in stale_views.items():
            c.wait_until(lambda s=s: s.get("c:k") == b"old",  # type: ignore[misc]
                         10, f"node {i} to apply 'old'")
        lin = c.client(old, timeout=15)
        lease = c.client(old, timeout=15, consistency="lease")
        stale_old = stale_views[old]
        # raw connections, opened now, whose reads go out while the process is stopped
        raw_lin, raw_lease = RawResp(c.nodes[old].port), RawResp(c.nodes[old].port)
        assert raw_lease.call("READCONSISTENCY", "lease") in (b"OK", "OK")
        for conn in (lin, lease, stale_old):
            conn.ping()

        c.stop(old)
        others = [i for i in c.nodes if i != old]
        new = c.wait_leader(among=others, timeout=15)
        w = c.client(new)
        retry_write(c, lambda: w.set("c:k", "new"), 5, "write on the new leader")
        raw_lin.send("GET", "c:k")
        raw_lease.send("GET", "c:k")
        c.cont(old)

        def never_old(reply: Any, what: str) -> None:
            assert reply == b"new" or isinstance(reply, hiredis.ReplyError), (
                f"{what} on the woken old leader {old} returned {reply!r}\n{c.dump()}"
            )

        in_flight = raw_lin.reply(), raw_lease.reply()
        print(f"in-flight reads on the woken leader {old}: {in_flight!r}")
        never_old(in_flight[0], "an in-flight linearizable read")
        never_old(in_flight[1], "an in-flight lease read")
        raw_lin.close()
        raw_lease.close()
        seen: dict[str, list[Any]] = {"linearizable": [], "lease": []}
        for _ in range(20):  # bounded: 20 rounds of both reads
            for name, client in (("linearizable", lin), ("lease", lease)):
                try:
                    reply: Any = client.get("c:k")
                except redis.ResponseError as e:
                    reply = hiredis.ReplyError(str(e))
                never_old(reply, f"a {name} read")
                seen[name].append(reply)
        print("after SIGCONT:", {k: sorted({repr(x) for x in v}) for k, v in seen.items()})
        c.wait_until(lambda: stale_old.get("c:k") == b"new", 10, "the stale view to show 'new'")
        c.wait_until(lambda: lin.get("c:k") == b"new", 10, "a linearizable read to succeed")
        c.wait_until(lambda: lease.get("c:k") == b"new", 10, "a lease read to succeed")


# --- d. a minority partition -----------------------------------------------------------------
def _isolate_and_heal(c: Cluster, victim: int, tag: str) -> None:
    """Isolate ``victim``; its writes and linearizable reads fail; the others keep working;
    heal; it catches up."""
    rv = c.client(victim, timeout=20)
    assert rv.set(f"{tag}:before", "1") is True
    c.proxy.isolate(victim)
    results: dict[str, str] = {}

    def write_on_victim() -> None:
        results["write"] = expect_error(
            c, lambda: rv.set(f"{tag}:during", "x"), ("CLUSTERDOWN", "TIMEOUT"), 15,
            f"a write on isolated node {victim}",
        )

    wt = threading.Thread(target=write_on_victim)
    wt.start()
    try:
        rv_read = c.client(victim, timeout=20)
        expect_error(
            c, lambda: rv_read.get(f"{tag}:before"), ("CLUSTERDOWN",), 10,
            f"a linearizable read on isolated node {victim}",
        )
        majority = [i for i in c.serving() if i != victim]
        c.wait_leader(among=majority, timeout=15)
        for i in majority:
            ri = c.client(i)
            retry_write(c, lambda ri=ri, i=i: ri.set(f"{tag}:maj{i}", i), 5,  # type: ignore[misc]
                        f"a write on majority node {i}")
            assert ri.get(f"{tag}:maj{i}") == str(i).encode()
    finally:
        wt.join(30)
    assert not wt.is_alive()
    assert "write" in results, "the write on the isolated node did not fail as expected"
    second = expect_error(  # still cut off: a new write fails too
        c, lambda: rv.set(f"{tag}:during2", "x"), ("CLUSTERDOWN", "TIMEOUT"), 15,
        f"a second write on isolated node {victim}",
    )
    c.proxy.heal_all()
    majority = [i for i in c.serving() if i != victim]
    want = {f"{tag}:maj{i}": str(i).encode() for i in majority}
    stale = c.client(victim, consistency="stale")
    c.wait_until(
        lambda: all(stale.get(k) == v for k, v in want.items()), 20,
        f"healed node {victim} to catch up",
    )
    lin = c.client(victim)
    c.wait_until(lambda: lin.get(f"{tag}:before") == b"1", 10, "linearizable reads to work")
    for k, v in want.items():
        assert lin.get(k) == v
    if second in NOT_APPLIED:
        assert lin.get(f"{tag}:during2") is None, f"-{second} but the write was applied"
    retry_write(c, lambda: lin.set(f"{tag}:after", "1"), 5, f"a write on healed node {victim}")


def test_isolated_minority_refuses_and_catches_up() -> None:
    with Cluster(3) as c:
        lead = c.wait_leader()
        follower = c.followers(lead)[0]
        _isolate_and_heal(c, follower, "d1")  # a follower cut off
        lead = c.wait_leader(timeout=15)
        _isolate_and_heal(c, lead, "d2")  # the leader cut off: the others elect a new one


# --- e. full restart -----------------------------------------------------------------------------
def test_full_cluster_restart_keeps_all_data() -> None:
    with Cluster(3) as c:
        lead = c.wait_leader()
        r = c.client(c.followers(lead)[0])
        write_sample(r, "e")
        pipe = r.pipeline(transaction=False)
        for k in range(200):
            pipe.set(f"e:k{k}", k)
        assert all(ok(x) for x in pipe.execute())
        commit_before = int(c.info_raft(lead)["commit_index"])
        # every node is killed while pipelined pushes are in flight
        piped, bursts, stop = LoadLog(), [0], threading.Event()
        pusher = threading.Thread(
            target=pipelined_pusher,
            args=(c.client(c.followers(lead)[0], timeout=10), piped, stop, 200, bursts, "e:pl"),
        )
        pusher.start()
        try:
            c.wait_until(lambda: bursts[0] >= 10, 30, "ten pipelined bursts")
            c.kill_all()
        finally:
            stop.set()
            pusher.join(60)
        assert not pusher.is_alive()
        assert piped.acked_pushes and not piped.unexpected, piped.unexpected[:5]
        c.start_all()
        new = c.wait_leader(timeout=20)
        keys = [f"e:k{k}" for k in range(200)]
        want = [str(k).encode() for k in range(200)]
        for i in c.serving():
            ri = c.client(i)
            c.wait_until(lambda ri=ri: ri.mget(keys) == want, 10,  # type: ignore[misc]
                         f"node {i} to read the data")
            assert read_sample(ri, "e") == SAMPLE, f"node {i}"
            stale = c.client(i, consistency="stale")
            c.wait_until(lambda s=stale: s.mget(keys) == want, 10,  # type: ignore[misc]
                         f"node {i}'s stale view")
            pushed = [int(x) for x in ri.lrange("e:pl", 0, -1)]
            check_list(pushed, piped.acked_pushes, piped.maybe_pushes, f"node {i}")
        print(f"full restart: {len(piped.acked_pushes)} pushes acknowledged before the kill")
        assert int(c.info_raft(new)["commit_index"]) >= commit_before
        assert c.client(new).set("e:after", "1") is True


# --- f. peers without the secret -------------------------------------------------------------
def test_peer_with_wrong_secret_is_refused() -> None:
    with Cluster(3) as c:
        lead = c.wait_leader()
        r = c.client(lead)
        assert r.set("f:k", "before") is True
        # an impostor: node 2's identity, the wrong secret, dialing nodes 1 and 3 directly
        bad = c.tmp / "wrong.secret"
        write_secret(bad)
        imp_peer = c.new_port()
        cluster = ",".join(
            f"{i}={HOST}:{imp_peer if i == 2 else c.nodes[i].peer_port}" for i in (1, 2, 3)
        )
        c.nodes[102] = c.new_node(
            2, imp_peer, cluster, secret_file=bad, dir_name="impostor", member=False
        )
        c.start(102)
        for i in (1, 3):
            node = c.nodes[i]
            c.wait_until(
                lambda node=node: re.search(  # type: ignore[misc]
                    r"WARNING.*refused.*node 2", node.log_text()
                ),
                15, f"node {i} to log that it refused the impostor",
            )
        imp = c.nodes[102]
        assert re.search(r"WARNING.*(refused|authentication)", imp.log_text()), "impostor's log"
        # a stranger speaking garbage to a peer port is cut off and logged
        target = c.nodes[1]
        with socket.create_connection((HOST, target.peer_port), timeout=10) as s:
            local_port = s.getsockname()[1]
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)) * 4)
            try:
                while s.recv(4096):  # until the node closes it (bounded by the timeout)
                    pass
            except ConnectionResetError:
                pass
        c.wait_until(
            lambda: re.search(rf"WARNING.*127\.0\.0\.1:{local_port}\b", target.log_text()),
            10, "node 1 to log the garbage connection",
        )
        # the cluster is unaffected
        c.kill(102)
        lead = c.wait_leader()
        for i in c.serving():
            assert c.client(i).get("f:k") == b"before", f"node {i}"
        assert c.client(2).set("f:k", "after") is True
        for i in c.serving():
            assert c.client(i).get("f:k") == b"after", f"node {i}"


# --- g. membership ---------------------------------------------------------------------------
def test_add_transfer_remove() -> None:
    with Cluster(3) as c:
        lead = c.wait_leader()
        r = c.client(lead)
        write_sample(r, "g")
        n4 = c.add_node(4)
        admin = c.client(c.followers(lead)[0], timeout=30)
        reply = cmd(admin, "RAFT", "ADD", 4, f"{HOST}:{n4.peer_port}")
        assert ok(reply), reply

        def four_is_voter() -> bool:
            lead_now = c.leader_among([1, 2, 3])
            if lead_now is None:
                return False
            info = c.info_raft(lead_now)
            return 4 in raft_ids(info.get("members")) and 4 not in raft_ids(info.get("learners"))

        c.wait_until(four_is_voter, 20, "node 4 to become a voter")
        r4 = c.client(4)
        c.wait_until(lambda: r4.get("g:str") == b"v1+x", 10, "node 4 to serve reads")
        assert read_sample(r4, "g") == SAMPLE
        stale4 = c.client(4, consistency="stale")
        assert read_sample(stale4, "g") == SAMPLE
        assert c.wait_leader() in (1, 2, 3)

        # leadership to the new node
        assert ok(cmd(admin, "RAFT", "TRANSFER", 4))
        c.wait_until(lambda: c.leader_among() == 4, 10, "node 4 to lead")
        assert r4.set("g:by4", "1") is True

        # remove a follower
        victim = min(i for i in c.serving() if i != 4)
        assert ok(cmd(r4, "RAFT", "REMOVE", victim))
        rv = c.client(victim, timeout=3)

        def victim_not_serving() -> bool:
            try:
                rv.get("g:by4")
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as e:
                print(f"removed node {victim}: {type(e).__name__}: {e}")
                return True
            return False

        c.wait_until(victim_not_serving, 15, f"removed node {victim} to stop serving")
        # It learns its own removal (the leader tells it the commit) and exits on its own.
        proc = c.nodes[victim].proc
        assert proc is not None
        assert proc.wait(timeout=15) == 0
        rest = [i for i in (1, 2, 3, 4) if i != victim]
        new = c.wait_leader(among=rest)
        assert raft_ids(c.info_raft(new).get("members")) == rest
        for i in rest:
            ri = c.client(i)
            retry_write(c, lambda ri=ri, i=i: ri.set(f"g:rest{i}", i), 5,  # type: ignore[misc]
                        f"a write on node {i}")
        for i in rest:
            ri = c.client(i)
            assert [ri.get(f"g:rest{j}") for j in rest] == [str(j).encode() for j in rest]
            assert read_sample(ri, "g") == SAMPLE


# --- h. no double apply across a leader change ----------------------------------------------
def test_pipelined_incr_through_follower_during_transfer_applies_once() -> None:
    with Cluster(3) as c:
        lead = c.wait_leader()
        f1, f2 = c.followers(lead)
        r = c.client(f1, timeout=30)
        admin = c.client(f2, timeout=30)
        replies: list[Any] = []
        max_bursts, bursts = 60, [0]  # at most 60 x 50 INCRs
        stop, started = threading.Event(), threading.Event()

        def bursts_until_stopped() -> None:
            while not stop.is_set() and bursts[0] < max_bursts:
                p = r.pipeline(transaction=False)
                for _ in range(50):
                    p.incr("h:ctr")
                replies.extend(p.execute(raise_on_error=False))
                bursts[0] += 1
                started.set()

        th = threading.Thread(target=bursts_until_stopped)
        th.start()
        try:
            assert started.wait(20), "no burst completed\n" + c.dump()
            for to in (f1, lead):  # to the forwarding node, then back
                assert ok(cmd(admin, "RAFT", "TRANSFER", to)), f"transfer to {to}"
                c.wait_until(lambda to=to: c.leader_among() == to, 10,  # type: ignore[misc]
                             f"leadership to move to {to}")
            assert bursts[0] < max_bursts, "the bursts ended before the transfers did"
        finally:
            stop.set()
            th.join(60)
        assert not th.is_alive()
        ints = [x for x in replies if isinstance(x, int)]
        errors = [x for x in replies if not isinstance(x, int)]
        codes = [error_code(e) for e in errors]
        print(f"{len(replies)} INCRs in {bursts[0]} bursts; errors: {sorted(set(codes))}")
        assert all(code in NOT_APPLIED + AMBIGUOUS for code in codes), errors[:5]
        assert ints == sorted(set(ints)), "INCR replies on one connection must increase"
        value = int(c.client(lead).get("h:ctr") or 0)
        ambiguous = sum(code in AMBIGUOUS for code in codes)
        assert len(ints) <= value <= len(ints) + ambiguous, (
            f"{len(ints)} INCRs acknowledged, {ambiguous} ambiguous, counter = {value}"
        )
        if ambiguous == 0:
            assert ints == list(range(1, value + 1))


# --- five nodes: a two-node minority holding the leader ----------------------------------------
def test_five_nodes_minority_with_leader_is_replaced() -> None:
    with Cluster(5) as c:
        lead = c.wait_leader(timeout=20)
        buddy = c.followers(lead)[0]
        minority = [lead, buddy]
        majority = [i for i in c.serving() if i not in minority]
        assert c.client(buddy).set("five:before", "1") is True
        c.proxy.partition(minority, majority)
        new = c.wait_leader(among=majority, timeout=15)
        assert new not in minority
        for i in majority:
            ri = c.client(i)
            retry_write(c, lambda ri=ri, i=i: ri.set(f"five:maj{i}", i), 5,  # type: ignore[misc]
                        f"a write on majority node {i}")
        rb = c.client(buddy, timeout=15)
        expect_error(c, lambda: rb.get("five:before"), ("CLUSTERDOWN",), 10,
                     f"a linearizable read on minority node {buddy}")
        c.proxy.heal_all()
        want = {f"five:maj{i}": str(i).encode() for i in majority}
        for i in minority:
            stale = c.client(i, consistency="stale")
            c.wait_until(lambda s=stale: all(  # type: ignore[misc]
                s.get(k) == v for k, v in want.items()), 20, f"node {i} to catch up")
        final = c.wait_leader(timeout=15)
        for i in c.serving():
            ri = c.client(i)
            assert [ri.get(k) for k in want] == list(want.values()), f"node {i}"
            assert ri.get("five:before") == b"1"
        assert c.client(final).set("five:after", "1") is True
