"""A third-party data type, pip-installed as an outside package, is found through the
``gofish.datatypes`` entry point and its commands work through a live server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from diff.rawclient import RawClient
from procs import ServerProc, gofish_server

EXAMPLE = Path(__file__).resolve().parent.parent / "plugin_example"


@pytest.fixture(scope="module")
def plugin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        check=True,
    )
    assert list(target.glob("gofish_tally-*.dist-info"))
    path = os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))
    with gofish_server(env={"PYTHONPATH": path}) as srv:
        yield srv


def test_outside_type_commands_work(plugin_server: ServerProc) -> None:
    c = redis.Redis(port=plugin_server.port)
    assert c.execute_command("TALLY.ADD", "t", "apple") == 1
    assert c.execute_command("TALLY.ADD", "t", "apple", "4") == 5
    assert c.execute_command("TALLY.ADD", "t", "pear", "5") == 5
    assert c.execute_command("TALLY.GET", "t", "apple") == 5
    assert c.execute_command("TALLY.TOP", "t") == [b"apple", 5]
    assert c.type("t") == b"tally"


def test_outside_type_gets_the_same_checks(plugin_server: ServerProc) -> None:
    c = redis.Redis(port=plugin_server.port)
    c.set("s", "x")
    with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
        c.execute_command("TALLY.ADD", "s", "a")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'tally.get'"):
        c.execute_command("TALLY.GET", "t")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        c.execute_command("TALLY.ADD", "t", "a", "nope")
    raw = RawClient(plugin_server.port)
    listed = raw.call([b"COMMAND", b"LIST"])
    raw.close()
    assert b"\r\ntally.add\r\n" in listed


def test_outside_type_absent_without_install() -> None:
    from gofish.statemachine.registry import CommandTable, load_datatypes

    table = CommandTable()
    load_datatypes(table)
    assert table.lookup(b"tally.add") is None
