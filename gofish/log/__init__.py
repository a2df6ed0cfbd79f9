"""Raft log storage: the in-memory and the RocksDB implementations of the storage protocol."""
