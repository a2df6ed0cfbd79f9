"""Which of gofish's compiled modules run compiled (docs/adr/0013-compiled-net-layer.md).

setup.py compiles some modules with mypyc, the extension beside its source; Python imports an
extension before a source of the same name. `install` adds an import hook that loads the
source instead when the extension must not be used:

- ``GOFISH_PURE=1`` in the environment: everything interpreted (debugging, profiling by
  line, comparing the two);
- the extension is older than its source: the source was edited (or checked out) since the
  build, and the extension would run the old code. A warning says to rebuild
  (``make install``).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import os
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

PURE_ENV = "GOFISH_PURE"


def extension_of(source: str) -> str | None:
    """The built extension beside ``source`` (``x.py`` → ``x.cpython-311-….so``), or None."""
    stem = source[: -len(".py")]
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        if os.path.exists(stem + suffix):
            return stem + suffix
    return None


def use_source(source: str, environ: Any = os.environ) -> bool:
    """Must ``source`` be imported instead of its extension? (See the module docstring.)"""
    ext = extension_of(source)
    if ext is None:
        return False  # nothing compiled: the normal import finds the source
    if environ.get(PURE_ENV) == "1":
        return True
    if os.stat(ext).st_mtime < os.stat(source).st_mtime:
        log.warning("%s is older than %s: running the source; `make install` rebuilds it",
                    os.path.basename(ext), os.path.basename(source))
        return True
    return False


class _SourceFinder:
    """A meta path finder for the modules of one package that may be compiled."""

    def __init__(self, package: str, directory: str, names: tuple[str, ...]) -> None:
        self.package = package
        self.sources = {f"{package}.{n}": os.path.join(directory, n + ".py") for n in names}

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        source = self.sources.get(fullname)
        if source is None or not use_source(source):
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def install(package: str, directory: str, names: tuple[str, ...]) -> None:
    """Hook the imports of ``package``'s modules ``names`` (in ``directory``); idempotent."""
    for finder in sys.meta_path:
        if isinstance(finder, _SourceFinder) and finder.package == package:
            return
    sys.meta_path.insert(0, _SourceFinder(package, directory, names))


def compiled(module: ModuleType) -> bool:
    """Does ``module`` run compiled (imported from an extension)?"""
    name = getattr(module, "__file__", None) or ""
    return name.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
