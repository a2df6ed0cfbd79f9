"""The compiled modules (setup.py, gofish/_native.py, ADR 0013 and 0014)."""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from gofish import _native

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
ROOT = Path(__file__).resolve().parent.parent


def _module(tmp_path: Path, name: str, source_age: float, ext_age: float | None) -> str:
    src = tmp_path / f"{name}.py"
    src.write_text("X = 1\n")
    os.utime(src, (source_age, source_age))
    if ext_age is not None:
        ext = tmp_path / (name + SUFFIX)
        ext.write_bytes(b"")
        os.utime(ext, (ext_age, ext_age))
    return str(src)


def test_nothing_built_is_left_to_the_normal_import(tmp_path: Path) -> None:
    srcs = [_module(tmp_path, "a", 1000, None), _module(tmp_path, "b", 1000, None)]
    assert _native.extension_of(srcs[0]) is None
    assert not _native.use_sources(srcs, {})
    assert not _native.use_sources(srcs, {_native.PURE_ENV: "1"})


def test_fresh_extensions_are_used_unless_pure(tmp_path: Path) -> None:
    srcs = [_module(tmp_path, "a", 1000, 2000), _module(tmp_path, "b", 1000, 2000)]
    assert _native.extension_of(srcs[0]) == str(tmp_path / ("a" + SUFFIX))
    assert not _native.use_sources(srcs, {})
    assert not _native.use_sources(srcs, {_native.PURE_ENV: "0"})
    assert _native.use_sources(srcs, {_native.PURE_ENV: "1"})


def test_one_stale_extension_makes_the_whole_group_interpreted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    srcs = [_module(tmp_path, "a", 1000, 2000), _module(tmp_path, "b", 3000, 2000)]
    assert _native.use_sources(srcs, {})
    assert "b.py edited since the build" in caplog.text and "make install" in caplog.text


def test_a_source_written_just_after_its_extension_is_not_stale(tmp_path: Path) -> None:
    """Installing a wheel writes each extension, then its source (pip keeps no mtimes)."""
    srcs = [_module(tmp_path, "a", 2000.5, 2000), _module(tmp_path, "b", 2000.001, 2000)]
    assert not _native.use_sources(srcs, {})


def test_one_missing_extension_makes_the_whole_group_interpreted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    srcs = [_module(tmp_path, "a", 1000, 2000), _module(tmp_path, "b", 1000, None)]
    assert _native.use_sources(srcs, {})
    assert "no extension for b.py" in caplog.text


def test_finder_sources_every_module_of_the_group(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    _module(pkg, "a", 1000, 2000)
    _module(pkg, "b", 3000, 2000)  # only b was edited: a must not run compiled either
    finder = _native._SourceFinder(("pkg.a", "pkg.b"), str(tmp_path))
    for name in ("pkg.a", "pkg.b"):
        spec = finder.find_spec(name)
        assert spec is not None and spec.origin == str(pkg / f"{name[-1]}.py")
    assert finder.find_spec("pkg.c") is None


def test_the_lists_of_compiled_modules_agree() -> None:
    """setup.py reads `NATIVE`; the Makefile's rebuild rule names the same sources."""
    sources = [os.path.relpath(_native.source_path(m), ROOT) for m in _native.NATIVE]
    assert all((ROOT / s).is_file() for s in sources)
    makefile = (ROOT / "Makefile").read_text()
    m = re.search(r"^NATIVE_SOURCES :=((?:.*\\\n)*.*)$", makefile, re.MULTILINE)
    assert m is not None
    listed = m.group(1).replace("\\\n", " ").split()
    assert sorted(listed) == sorted(["setup.py", "gofish/_native.py", *sources])


def _can_compile() -> bool:
    include = sysconfig.get_paths()["include"]
    return shutil.which("cc") is not None and os.path.exists(os.path.join(include, "Python.h"))


def test_install_compiled_every_native_module() -> None:
    """`make install` on a machine with a C compiler runs the whole group compiled (a build
    that failed silently would only be slower: this catches it)."""
    for name in _native.NATIVE:
        importlib.import_module(name)
    if os.environ.get(_native.PURE_ENV) == "1" or not _can_compile():
        expected: list[str] = []
    else:
        expected = [m.removeprefix("gofish.") for m in _native.NATIVE]
    assert _native.compiled_modules() == expected


def test_pure_environment_runs_the_sources() -> None:
    code = ("import importlib, gofish._native as n\n"
            "for m in n.NATIVE: print(importlib.import_module(m).__file__)\n"
            "print(n.compiled_modules())")
    env = dict(os.environ, **{_native.PURE_ENV: "1"})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, timeout=60).stdout.split("\n")
    for name, file in zip(_native.NATIVE, out[: len(_native.NATIVE)], strict=True):
        assert file == _native.source_path(name), name
    assert out[len(_native.NATIVE)] == "[]"
