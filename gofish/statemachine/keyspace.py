"""The keyspace: P partitions of keys, and the API every command handler uses.

Rules (ARCHITECTURE.md, "Rules that keep replicas identical"):

- ``partition = crc16(key) & 16383 mod P``, where a non-empty ``{tag}`` in the key hashes
  only the tag (Redis Cluster's keyslot, ``binascii.crc_hqx`` is that CRC16).
- A handler never reads a clock or a random source of its own: it uses ``ks.now_ms`` and
  ``ks.random_below(n)``. While a log entry is applied (``ks.applying``) both come from the
  entry (the leader's clock and a leader-chosen seed), so every node computes the same.
- A key whose expiry time has passed (``now_ms > expire_at``) is absent. During a read it is
  only hidden; during apply it is deleted, identically on every node, because ``now_ms`` is
  the entry's logged time. Nothing else deletes keys.
- Every change to a key is reported: `set` and `delete` do it themselves; a handler that
  mutates a stored value in place calls `modified(key)`. The node reads ``dirty`` after each
  apply (WATCH, blocked clients) and clears it.
- A collection that becomes empty is deleted by its handler (Redis never stores empty ones).
- Iteration order of anything that influences state must not depend on ``hash()``: Python
  randomises string hashing per process. ``dict`` order (insertion order) is deterministic.
"""

from __future__ import annotations

import os
from binascii import crc_hqx
from collections.abc import Iterator
from typing import Any

from gofish import errors
from gofish.errors import CommandError
from gofish.statemachine.registry import CommandTable

SLOTS = 16384
_MASK64 = (1 << 64) - 1


def key_slot(key: bytes) -> int:
    """Redis Cluster's hash slot of ``key`` (0..16383)."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return crc_hqx(key, 0) & 0x3FFF


class Partition:
    """One state-machine shard: values and absolute expiry times (ms since the epoch)."""

    __slots__ = ("index", "data", "expires")

    def __init__(self, index: int) -> None:
        self.index = index
        self.data: dict[bytes, Any] = {}
        self.expires: dict[bytes, int] = {}


class Keyspace:
    """Database 0: the partitions plus the per-command context handlers see."""

    def __init__(self, table: CommandTable, partitions: int = 64) -> None:
        if partitions < 1:
            raise ValueError("partitions must be >= 1")
        self.table = table
        self.partitions = [Partition(i) for i in range(partitions)]
        self._nparts = partitions
        # Per-command context, set by the executor before a handler runs.
        self.now_ms = 0
        self.applying = False
        self.in_multi = False
        self._rng = int.from_bytes(os.urandom(8), "little")
        # Keys changed since the node last looked (WATCH, blocked clients).
        self.dirty: list[bytes] = []

    # --- context ----------------------------------------------------------------------
    def begin(self, now_ms: int, seed: int, applying: bool) -> None:
        """Set the context for the next command(s): clock, random seed, apply or read."""
        self.now_ms = now_ms
        self._rng = seed & _MASK64
        self.applying = applying

    def random_below(self, n: int) -> int:
        """A uniform integer in ``[0, n)`` from the context's deterministic generator."""
        if n <= 0:
            raise ValueError("n must be positive")
        # splitmix64: tiny, fast and the same on every platform and Python version.
        self._rng = s = (self._rng + 0x9E3779B97F4A7C15) & _MASK64
        z = ((s ^ (s >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return (z ^ (z >> 31)) % n

    # --- routing ----------------------------------------------------------------------
    def partition_index(self, key: bytes) -> int:
        return key_slot(key) % self._nparts

    def partition_of(self, key: bytes) -> Partition:
        return self.partitions[key_slot(key) % self._nparts]

    # --- reads --------------------------------------------------------------------------
    def get(self, key: bytes) -> Any:
        """The live value of ``key`` or None."""
        # key_slot(key), inlined for the common key without a hash tag: every read
        slot = crc_hqx(key, 0) & 0x3FFF if key.find(b"{") < 0 else key_slot(key)
        p = self.partitions[slot % self._nparts]
        v = p.data.get(key)
        if v is None:
            return None
        if p.expires:
            at = p.expires.get(key)
            if at is not None and self.now_ms > at:
                if self.applying:
                    del p.data[key]
                    del p.expires[key]
                    self.dirty.append(key)
                return None
        return v

    def get_typed(self, key: bytes, pytype: type) -> Any:
        """The live value of ``key`` if it is a ``pytype``; None if absent; else WRONGTYPE."""
        v = self.get(key)
        if v is not None and type(v) is not pytype:
            raise CommandError(errors.WRONGTYPE)
        return v

    def exists(self, key: bytes) -> bool:
        return self.get(key) is not None

    def get_expire(self, key: bytes) -> int | None:
        """Absolute expiry time in ms of a live key, or None (no expiry or no key)."""
        if self.get(key) is None:
            return None
        return self.partitions[key_slot(key) % self._nparts].expires.get(key)

    def type_name(self, value: Any) -> str:
        return self.table.types[type(value)].name

    # --- writes -------------------------------------------------------------------------
    def set(self, key: bytes, value: Any, keep_ttl: bool = False) -> None:
        """Store ``value`` at ``key``; any expiry is cleared unless ``keep_ttl``."""
        slot = crc_hqx(key, 0) & 0x3FFF if key.find(b"{") < 0 else key_slot(key)  # as get
        p = self.partitions[slot % self._nparts]
        p.data[key] = value
        if not keep_ttl and p.expires:
            p.expires.pop(key, None)
        self.dirty.append(key)

    def delete(self, key: bytes) -> bool:
        """Remove ``key``; True if a live key was removed."""
        p = self.partitions[key_slot(key) % self._nparts]
        v = p.data.pop(key, None)
        if v is None:
            return False
        at = p.expires.pop(key, None) if p.expires else None
        self.dirty.append(key)
        return at is None or self.now_ms <= at

    def modified(self, key: bytes) -> None:
        """Report an in-place change of the value at ``key``."""
        self.dirty.append(key)

    def set_expire(self, key: bytes, at_ms: int) -> None:
        """Set the absolute expiry of an existing key (caller checked it exists)."""
        self.partitions[key_slot(key) % self._nparts].expires[key] = at_ms
        self.dirty.append(key)

    def persist(self, key: bytes) -> bool:
        """Drop the expiry of ``key``; True if it had one."""
        p = self.partitions[key_slot(key) % self._nparts]
        if p.expires.pop(key, None) is None:
            return False
        self.dirty.append(key)
        return True

    def flush(self) -> None:
        """Delete every key (FLUSHDB / FLUSHALL)."""
        for p in self.partitions:
            self.dirty.extend(p.data)
            p.data.clear()
            p.expires.clear()

    # --- whole-keyspace views (reads) ---------------------------------------------------
    def _live(self, p: Partition, key: bytes) -> bool:
        at = p.expires.get(key) if p.expires else None
        return at is None or self.now_ms <= at

    def iter_keys(self, start_partition: int = 0) -> Iterator[tuple[int, bytes]]:
        """(partition index, key) of every live key, partition by partition."""
        for p in self.partitions[start_partition:]:
            for key in list(p.data):
                if self._live(p, key):
                    yield p.index, key

    def partition_keys(self, index: int) -> list[bytes]:
        """Live keys of one partition, in its (deterministic) insertion order."""
        p = self.partitions[index]
        if not p.expires:
            return list(p.data)
        return [k for k in p.data if self._live(p, k)]

    def dbsize(self) -> int:
        """Number of keys, counting expired ones not yet deleted (as Redis's DBSIZE)."""
        return sum(len(p.data) for p in self.partitions)

    def expires_count(self) -> int:
        return sum(len(p.expires) for p in self.partitions)

    def random_key(self) -> bytes | None:
        """A random live key (reads only; uses the context generator)."""
        total = self.dbsize()
        for _ in range(100):
            if total == 0:
                return None
            n = self.random_below(total)
            for p in self.partitions:
                if n < len(p.data):
                    key = next(_nth(p.data, n))
                    if self._live(p, key):
                        return key
                    break
                n -= len(p.data)
        for _, key in self.iter_keys():
            return key
        return None

    def expired_keys(self, now_ms: int, limit: int) -> list[bytes]:
        """Up to ``limit`` keys whose expiry has passed at ``now_ms`` (for active expiry)."""
        out: list[bytes] = []
        for p in self.partitions:
            for key, at in p.expires.items():
                if now_ms > at:
                    out.append(key)
                    if len(out) >= limit:
                        return out
        return out


def _nth(d: dict[bytes, Any], n: int) -> Iterator[bytes]:
    from itertools import islice

    return islice(iter(d), n, None)
