"""Port reservation of `procs`: ports outside the ephemeral range, never handed out twice."""

from __future__ import annotations

import subprocess
import sys

from procs import LOWEST_PORT, ROOT, ephemeral_range, free_port, free_port_block, release_port

TRY_RESERVE = "import sys; import procs; print(procs._reserve(int(sys.argv[1])))"


def reserve_elsewhere(port: int) -> bool:
    """Whether another process can reserve ``port`` right now."""
    out = subprocess.run(
        [sys.executable, "-c", TRY_RESERVE, str(port)],
        cwd=ROOT / "tests", capture_output=True, check=True, text=True,
    ).stdout
    return out.strip() == "True"


def test_ports_are_distinct_and_outside_the_ephemeral_range() -> None:
    ports = [free_port() for _ in range(200)]
    try:
        assert len(set(ports)) == len(ports)
        assert all(p >= LOWEST_PORT and p not in ephemeral_range() for p in ports)
    finally:
        for p in ports:
            release_port(p)


def test_a_block_is_reserved_whole() -> None:
    offsets = [0, 1, 2, 10000, 10001, 10002]
    base = free_port_block(offsets)
    try:
        assert all(base + o not in ephemeral_range() for o in offsets)
        other = free_port()
        release_port(other)
        assert other not in {base + o for o in offsets}
    finally:
        for o in offsets:
            release_port(base + o)


def test_a_reserved_port_is_not_given_to_another_process() -> None:
    port = free_port()
    try:
        assert not reserve_elsewhere(port)
    finally:
        release_port(port)
    assert reserve_elsewhere(port)  # released (and the other process's lock died with it)
