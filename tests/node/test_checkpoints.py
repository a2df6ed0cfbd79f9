"""Checkpoints of a single node with real processes: the data directory stays bounded under
continuous writes with frequent checkpoints, a restart loads the newest checkpoint, and a
kill -9 in the middle of writing one leaves a directory that loads
(gofish.node.checkpoints)."""

from __future__ import annotations

import os
from pathlib import Path

import redis
from procs import gofish_server
from server_helpers import wait_for


def du(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass  # removed meanwhile (a pruned checkpoint, a compacted file)
    return total


def client(port: int) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=20)


def overwrite(c: redis.Redis, rnd: int, keys: int = 1000, value: int = 200) -> None:
    pipe = c.pipeline(transaction=False)
    for k in range(keys):
        pipe.set(f"k{k}", f"{rnd}:" + "x" * value)
    assert all(pipe.execute())


def test_frequent_checkpoints_keep_the_directory_bounded(tmp_path: Path) -> None:
    with gofish_server(data_dir=str(tmp_path)) as srv:
        c = client(srv.port)
        c.config_set("checkpoint-log-tail", 100)
        sizes = []
        for rnd in range(24):  # the same 1000 keys rewritten: the live data does not grow
            overwrite(c, rnd)
            assert c.execute_command("SAVE") in (b"OK", True)
            sizes.append(du(tmp_path))
        info = c.info("persistence")
        assert info["rdb_saves"] >= 24 and info["checkpoint_index"] > 0
        raft = c.info("raft")
        assert raft["first_log_index"] > raft["last_log_index"] - 1500  # compacted
        assert len(os.listdir(tmp_path / "checkpoints")) <= 3  # pruned (kept: 2)
        # Written in total: 24 x 1000 x ~210 bytes ≈ 5 MB of values; what stays is bounded.
        steady = max(sizes[8:])
        assert steady < 3 * max(sizes[:8]) + (4 << 20), sizes
    with gofish_server(data_dir=str(tmp_path)) as srv:
        c = client(srv.port)
        assert c.dbsize() == 1000 and c.get("k7").startswith(b"23:")


def test_the_save_rule_takes_a_checkpoint_on_its_own(tmp_path: Path) -> None:
    # after a second with at least one change
    with gofish_server("--save", "1 1", data_dir=str(tmp_path)) as srv:
        c = client(srv.port)
        assert c.config_get("save") == {"save": "1 1"}
        assert c.info("persistence")["rdb_saves"] == 0
        c.set("k", "v")
        wait_for(lambda: c.info("persistence")["rdb_saves"] >= 1, "a scheduled checkpoint", 20)
        info = c.info("persistence")
        assert info["checkpoint_index"] > 0 and info["rdb_changes_since_last_save"] == 0
    with gofish_server("--save", "", data_dir=str(tmp_path)) as srv:
        c = client(srv.port)
        assert c.get("k") == b"v"
        assert c.config_get("save") == {"save": ""}


def test_a_kill_while_a_checkpoint_is_written_leaves_a_loadable_directory(
    tmp_path: Path,
) -> None:
    with gofish_server(data_dir=str(tmp_path)) as srv:
        c = client(srv.port)
        for rnd in range(3):
            pipe = c.pipeline(transaction=False)
            for k in range(20_000):
                pipe.set(f"r{rnd}:{k}", k)
            assert all(pipe.execute())
            if rnd == 0:
                assert c.execute_command("SAVE") in (b"OK", True)
        assert c.execute_command("BGSAVE") in (b"Background saving started", True)
        wait_for(lambda: c.info("persistence")["rdb_bgsave_in_progress"] == 1
                 or list((tmp_path / "checkpoints").glob(".tmp-*")), "a checkpoint in progress")
        srv.proc.kill()  # kill -9 in the middle of it
        srv.proc.wait()
    with gofish_server(data_dir=str(tmp_path)) as srv:
        c = client(srv.port)
        assert c.dbsize() == 60_000
        assert c.get("r2:19999") == b"19999"
        text = b"".join(srv.log).decode(errors="replace")
        assert "loaded checkpoint" in text
