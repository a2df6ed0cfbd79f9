"""Checkpoints in a running cluster: SAVE compacts the log, a restart loads the checkpoint and
replays the rest, and a follower that fell behind the leader's first log index is brought up
to date with the checkpoint sent as a Raft snapshot (gofish.node.checkpoints)."""

from __future__ import annotations

from .harness import Cluster


def test_a_follower_behind_the_compacted_log_gets_the_checkpoint() -> None:
    with Cluster(3) as c:
        lead = c.wait_leader()
        behind = c.followers(lead)[0]
        for i in c.serving():
            assert c.client(i).config_set("checkpoint-log-tail", 5)
        c.kill(behind)
        r = c.client(lead)
        pipe = r.pipeline(transaction=False)
        for k in range(300):
            pipe.set(f"s:k{k}", k)
        assert all(pipe.execute())  # a few pipeline group entries
        for k in range(20):  # entries enough to compact past the lagging follower's log
            r.set(f"s:one{k}", k)
        assert r.execute_command("SAVE") in (b"OK", "OK", True)
        info = c.info_raft(lead)
        assert int(info["first_log_index"]) > 1  # compacted behind the checkpoint
        persistence = r.info("persistence")
        assert persistence["rdb_saves"] >= 1 and persistence["checkpoint_index"] > 0
        r.set("s:after", "x")  # an entry after the checkpoint, from the log
        c.restart(behind)
        rb = c.client(behind)
        rb.execute_command("READCONSISTENCY", "stale")
        c.wait_until(lambda: rb.get("s:after") == b"x", 20, "the lagging follower caught up")
        assert rb.mget([f"s:k{k}" for k in range(300)]) == [str(k).encode() for k in range(300)]
        assert "installed the leader's snapshot" in c.nodes[behind].log_text()
        # The leader restarts from its own checkpoint plus the log after it.
        c.kill(lead)
        c.restart(lead)
        rl = c.client(lead)
        rl.execute_command("READCONSISTENCY", "stale")
        c.wait_until(lambda: rl.get("s:after") == b"x", 20, "the old leader reloaded")
        assert rl.dbsize() == 321
        assert "loaded checkpoint" in c.nodes[lead].log_text()
