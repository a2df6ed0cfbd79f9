"""Offline tools for a node's data directory: ``gofish-replay`` (`gofish.tools.replay`) and
``gofish-snapshot`` (`gofish.tools.snapshot`).

They reuse the server's code and nothing else: the Raft log through
`gofish.log.rocksdb.RocksDBStorage`, checkpoints through `gofish.snapshot`, the state
machine's ``apply`` through `gofish.statemachine`. No event loop, no network. They never
write a running node's files: the log is read from a private copy taken under RocksDB's own
lock (`gofish.tools.offline`).
"""
