"""Opening the RocksDB log: verify every entry, cut a bad tail, refuse damaged commits.

Rules (ADR 0006), applied to the records from the compaction point on, in index order:

- A record is *bad* if its key is malformed, its index is not the next one (a gap), it
  fails to decode (truncated, checksum mismatch, unknown version or type — see
  `gofish.log.codec`), or its term is below the previous entry's.
- The first bad record at index i ends the valid log at i - 1. If i > the persisted
  commit index, everything from i on is cut (the caller deletes it and logs it): such a
  tail can only hold entries nobody may rely on yet, or a damaged one we must not serve.
  If i <= the commit index, `CorruptLogError` is raised: committed data is gone, and a
  node that went on would serve or replicate a wrong history.
- A valid log that ends below the commit index is `CorruptLogError` too.

Reads only; the caller performs the cut.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

from rocksdict import Rdict, ReadOptions

from gofish.log.codec import CodecError, entry_term, index_key, key_index
from gofish.raft.storage import StorageError


class CorruptLogError(StorageError):
    """The log or its metadata holds damaged data that cannot be cut away safely.

    ``index`` is the log index concerned (None for a meta record), ``record`` the meta
    record's name (None for an entry), ``reason`` what is wrong.
    """

    def __init__(
        self, path: str, reason: str, *, index: int | None = None, record: str | None = None
    ) -> None:
        self.path = path
        self.reason = reason
        self.index = index
        self.record = record
        where = f"entry {index}" if index is not None else f"meta record {record!r}"
        super().__init__(f"corrupt Raft log in {path}: {where}: {reason}")


@dataclass(frozen=True, slots=True)
class Cut:
    """Records ``first .. last`` (by key) are to be deleted because of ``reason``."""

    first: int
    last: int
    reason: str


@dataclass(frozen=True, slots=True)
class Recovered:
    #: terms[i] is the term of index ``start + i``; terms[0] is the compaction point's
    terms: array[int]
    cut: Cut | None


def recover(path: str, log: Rdict, start: int, start_term: int, commit: int) -> Recovered:
    """Scan ``log`` (the log column family) from ``start + 1``, where ``start`` is the
    compaction point with term ``start_term``; apply the rules above."""
    terms = array("Q", [start_term])
    expected = start + 1
    bad: str | None = None
    it = log.iter(ReadOptions())
    try:
        it.seek(index_key(expected))
        while it.valid():
            key = it.key()
            try:
                found = key_index(key)
                if found != expected:
                    bad = f"missing (the next record is {found})"
                    break
                term = entry_term(key, it.value())
            except CodecError as exc:
                bad = str(exc)
                break
            if term < terms[-1]:
                bad = f"term {term} is below the previous entry's {terms[-1]}"
                break
            terms.append(term)
            expected += 1
            it.next()
        cut: Cut | None = None
        if bad is not None:
            if expected <= commit:
                raise CorruptLogError(
                    path, f"{bad}; at or below the commit index {commit}", index=expected
                )
            it.seek_to_last()
            last_key: bytes = it.key()
            cut = Cut(expected, int.from_bytes(last_key[:8].rjust(8, b"\0"), "big"), bad)
    finally:
        del it
    last = start + len(terms) - 1
    if last < commit:
        reason = f"missing: the log ends at {last} but the commit index is {commit}"
        raise CorruptLogError(path, reason, index=last + 1)
    return Recovered(terms, cut)
