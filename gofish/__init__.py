"""gofish: a Redis-compatible server replicated with Raft.

Some modules run compiled with mypyc where the install could build them (`gofish._native`,
ADR 0014): the import hook that decides between their extensions and their sources is
installed here, before any of them can be imported.
"""

from gofish import _native

_native.install()
