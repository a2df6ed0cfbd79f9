"""Which of gofish's modules run compiled (docs/adr/0013-compiled-net-layer.md, ADR 0014).

setup.py compiles the modules of `NATIVE` with mypyc into one group: an extension beside each
source plus one shared library at the project root holding the code of all of them. Python
imports an extension before a source of the same name. `install` (run by ``gofish/__init__``,
so before any module of the group can be imported) adds an import hook that loads the
sources instead when the extensions must not be used.

Rules:

- The group runs compiled or interpreted as a whole, never mixed. Compiled modules of one
  group call each other's functions and build each other's classes directly in C: were one
  module's source imported beside the others' extensions, the compiled callers would still
  run the old compiled copy of that module, and its objects (of the source's classes) would
  fail the compiled callers' type checks.
- The sources run when ``GOFISH_PURE=1`` is in the environment (debugging, profiling by line,
  comparing the two), when any module of the group has no extension (a partial build), or
  when any extension is older than its source by more than `STALE_AFTER` (the source was
  edited or checked out since the build; a warning names it and says to rebuild with
  ``make install``). Installing a wheel writes each source just after its extension: the
  margin keeps that from counting as an edit.
- The decision is made once per process, at the first import of a module of the group.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import os
import sys
from collections.abc import Mapping
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, Final

log = logging.getLogger(__name__)

PURE_ENV: Final = "GOFISH_PURE"
#: seconds a source may be newer than its extension and still count as built with it
STALE_AFTER: Final = 2.0

#: The compiled group, in the order setup.py compiles it. Adding a module: the rules of
#: ADR 0013 (no class keyword options, no weak references to its classes, ...), its path in
#: the Makefile's NATIVE_SOURCES, and a compiled run of its tests.
NATIVE: Final = (
    "gofish.net.resp",
    "gofish.net.server",
    "gofish.node.dispatch",
    "gofish.statemachine.keyspace",
    "gofish.statemachine.machine",
    "gofish.statemachine.sessions",
    "gofish.statemachine.types.strings",
)

_ROOT: Final = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def source_path(module: str, root: str = _ROOT) -> str:
    """``gofish.net.resp`` → ``ROOT/gofish/net/resp.py``."""
    return os.path.join(root, *module.split(".")) + ".py"


def extension_of(source: str) -> str | None:
    """The built extension beside ``source`` (``x.py`` → ``x.cpython-311-….so``), or None."""
    stem = source[: -len(".py")]
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        if os.path.exists(stem + suffix):
            return stem + suffix
    return None


def use_sources(sources: list[str], environ: Mapping[str, str] = os.environ) -> bool:
    """Must the group of ``sources`` be imported from its sources instead of its extensions?

    False when no extension was built at all (the normal import finds the sources).
    """
    exts = [extension_of(s) for s in sources]
    if all(e is None for e in exts):
        return False
    if environ.get(PURE_ENV) == "1":
        return True
    missing = [os.path.basename(s) for s, e in zip(sources, exts, strict=True) if e is None]
    if missing:
        log.warning("no extension for %s: running the whole compiled group interpreted; "
                    "`make install` rebuilds it", ", ".join(missing))
        return True
    stale = [os.path.basename(s) for s, e in zip(sources, exts, strict=True)
             if e is not None and os.stat(s).st_mtime - os.stat(e).st_mtime > STALE_AFTER]
    if stale:
        log.warning("%s edited since the build: running the whole compiled group interpreted; "
                    "`make install` rebuilds it", ", ".join(stale))
        return True
    return False


class _SourceFinder:
    """A meta path finder that imports the modules of `NATIVE` from their sources when
    `use_sources` says so (decided at the first import of one of them)."""

    def __init__(self, modules: tuple[str, ...], root: str) -> None:
        self.sources = {m: source_path(m, root) for m in modules}
        self._decided: bool | None = None

    def sourced(self) -> bool:
        if self._decided is None:
            self._decided = use_sources(list(self.sources.values()))
        return self._decided

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        source = self.sources.get(fullname)
        if source is None or not self.sourced():
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def install() -> None:
    """Hook the imports of `NATIVE`; idempotent. Must run before any of them is imported."""
    if not any(isinstance(f, _SourceFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceFinder(NATIVE, _ROOT))


def compiled(module: ModuleType) -> bool:
    """Does ``module`` run compiled (imported from an extension)?"""
    name = getattr(module, "__file__", None) or ""
    return name.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def compiled_modules() -> list[str]:
    """The modules of `NATIVE` imported so far that run compiled, without the ``gofish.``
    prefix (INFO server ``gofish_compiled``: ``net.resp,net.server,...``)."""
    return [m.removeprefix("gofish.") for m in NATIVE
            if (mod := sys.modules.get(m)) is not None and compiled(mod)]
