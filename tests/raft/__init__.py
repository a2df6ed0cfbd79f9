"""Raft core tests: scripted scenarios and the randomized deterministic simulator."""
