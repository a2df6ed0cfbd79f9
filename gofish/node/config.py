"""Server settings: defaults, the config file (Redis's ``name value`` lines) and CONFIG GET/SET.

The file format is Redis's: one ``name value...`` per line, ``#`` comments, names
case-insensitive, dashes as in redis.conf (``appendfsync always``, ``requirepass pw``).
Command-line flags override the file. Only settings gofish has are accepted; an unknown name
in a file is an error that names the line (Redis does the same).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

APPENDFSYNC = ("always", "everysec", "no")
READ_CONSISTENCY = ("linearizable", "lease", "stale")


class ConfigError(ValueError):
    pass


def _yesno(v: str) -> bool:
    low = v.lower()
    if low in ("yes", "1", "true"):
        return True
    if low in ("no", "0", "false"):
        return False
    raise ConfigError(f"argument must be 'yes' or 'no': {v!r}")


def _memory(v: str) -> int:
    """Redis memory units: 1k = 1000, 1kb = 1024, 1mb, 1gb."""
    low = v.strip().lower()
    units = {"kb": 1024, "mb": 1 << 20, "gb": 1 << 30, "k": 1000, "m": 1000**2, "g": 1000**3,
             "b": 1}
    for suffix in ("kb", "mb", "gb", "k", "m", "g", "b"):
        if low.endswith(suffix):
            return int(low[: -len(suffix)]) * units[suffix]
    return int(low)


def _save_rules(v: str) -> str:
    """Redis's ``save`` value: pairs of ``seconds changes`` (empty: no automatic saves)."""
    nums = v.split()
    if len(nums) % 2 or not all(n.isdigit() for n in nums):
        raise ConfigError("save: expected pairs of 'seconds changes'")
    return " ".join(nums)


def _non_negative(v: str) -> int:
    n = int(v)
    if n < 0:
        raise ConfigError("argument must be >= 0")
    return n


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(v: str) -> str:
        low = v.lower()
        if low not in options:
            raise ConfigError(f"argument must be one of {', '.join(options)}")
        return low

    return parse


@dataclass
class Config:
    port: int = 6379
    bind: str = "127.0.0.1"
    dir: str = "./data"
    appendfsync: str = "always"
    requirepass: str = ""
    maxclients: int = 10000
    proto_max_bulk_len: int = 512 << 20
    client_query_buffer_limit: int = 1 << 30
    partitions: int = 64
    hz: int = 10
    read_consistency: str = "linearizable"
    save: str = "3600 1 300 100 60 10000"
    #: log entries kept behind a checkpoint (a follower that far behind catches up from the log)
    checkpoint_log_tail: int = 10_000
    loglevel: str = "notice"
    # cluster (all fixed at start)
    node_id: int = 1
    peer_port: int = 0
    cluster: str = ""
    cluster_secret_file: str = ""
    join: bool = False
    # settings reported for client compatibility (redis-benchmark reads these)
    appendonly: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    # name in files/CONFIG → (attribute, parser, mutable at runtime)
    @staticmethod
    def _schema() -> dict[str, tuple[str, Callable[[str], Any], bool]]:
        return {
            "port": ("port", int, False),
            "bind": ("bind", str, False),
            "dir": ("dir", str, False),
            "appendfsync": ("appendfsync", _choice(APPENDFSYNC), True),
            "requirepass": ("requirepass", str, True),
            "maxclients": ("maxclients", int, True),
            "proto-max-bulk-len": ("proto_max_bulk_len", _memory, True),
            "client-query-buffer-limit": ("client_query_buffer_limit", _memory, True),
            "partitions": ("partitions", int, False),
            "hz": ("hz", int, True),
            "read-consistency": ("read_consistency", _choice(READ_CONSISTENCY), True),
            "save": ("save", _save_rules, True),
            "checkpoint-log-tail": ("checkpoint_log_tail", _non_negative, True),
            "loglevel": ("loglevel", _choice(("debug", "verbose", "notice", "warning")), True),
            "appendonly": ("appendonly", _yesno, False),
            "node-id": ("node_id", int, False),
            "peer-port": ("peer_port", int, False),
            "cluster": ("cluster", str, False),
            "cluster-secret-file": ("cluster_secret_file", str, False),
            "join": ("join", _yesno, False),
        }

    def names(self) -> list[str]:
        return list(self._schema())

    def get(self, name: str) -> str:
        attr, _, _ = self._schema()[name]
        v = getattr(self, attr)
        if isinstance(v, bool):
            return "yes" if v else "no"
        return str(v)

    def set(self, name: str, value: str, *, startup: bool = False) -> None:
        """Set one setting from its text form; raises ConfigError (or KeyError: unknown)."""
        attr, parse, mutable = self._schema()[name.lower()]
        if not mutable and not startup:
            raise ConfigError("can't set immutable config")
        try:
            parsed = parse(value)
        except ValueError as exc:
            raise ConfigError(str(exc) or "argument couldn't be parsed") from exc
        setattr(self, attr, parsed)

    def load_file(self, path: str | Path) -> None:
        for lineno, raw in enumerate(Path(path).read_text().splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            name, _, value = line.partition(" ")
            value = value.strip().strip('"')
            try:
                self.set(name, value, startup=True)
            except KeyError:
                raise ConfigError(f"{path}:{lineno}: unknown setting {name!r}") from None
            except ConfigError as exc:
                raise ConfigError(f"{path}:{lineno}: {name}: {exc}") from None

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError("port must be 0..65535")
        if self.partitions < 1 or self.partitions > 16384:
            raise ConfigError("partitions must be 1..16384")
        if not 0 <= self.peer_port <= 65535:
            raise ConfigError("peer-port must be 0..65535")
        if not 1 <= self.node_id < 2**63:
            raise ConfigError("node-id must be a positive integer")


def field_names() -> list[str]:
    return [f.name for f in fields(Config)]
