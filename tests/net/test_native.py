"""The compiled client protocol layer (setup.py, gofish/net/_native.py, ADR 0013)."""

from __future__ import annotations

import importlib.machinery
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import gofish.net
import gofish.net.resp
import gofish.net.server
from gofish.net import _native

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def _pair(tmp_path: Path, source_age: float, ext_age: float | None) -> str:
    src = tmp_path / "mod.py"
    src.write_text("X = 1\n")
    os.utime(src, (source_age, source_age))
    if ext_age is not None:
        ext = tmp_path / ("mod" + SUFFIX)
        ext.write_bytes(b"")
        os.utime(ext, (ext_age, ext_age))
    return str(src)


def test_source_without_extension_is_left_to_the_normal_import(tmp_path: Path) -> None:
    src = _pair(tmp_path, 1000, None)
    assert _native.extension_of(src) is None
    assert not _native.use_source(src, {})
    assert not _native.use_source(src, {_native.PURE_ENV: "1"})


def test_fresh_extension_is_used_unless_pure(tmp_path: Path) -> None:
    src = _pair(tmp_path, 1000, 2000)
    assert _native.extension_of(src) == str(tmp_path / ("mod" + SUFFIX))
    assert not _native.use_source(src, {})
    assert not _native.use_source(src, {_native.PURE_ENV: "0"})
    assert _native.use_source(src, {_native.PURE_ENV: "1"})


def test_extension_older_than_its_source_is_not_used(tmp_path: Path, caplog) -> None:
    src = _pair(tmp_path, 2000, 1000)  # edited after the build
    assert _native.use_source(src, {})
    assert "make install" in caplog.text


def _can_compile() -> bool:
    include = sysconfig.get_paths()["include"]
    return shutil.which("cc") is not None and os.path.exists(os.path.join(include, "Python.h"))


def test_install_compiled_the_net_layer() -> None:
    """`make install` on a machine with a C compiler runs resp and server compiled (a build
    that failed silently would only be slower: this catches it)."""
    if os.environ.get(_native.PURE_ENV) == "1" or not _can_compile():
        expected: list[str] = []
    else:
        expected = list(gofish.net.NATIVE)
    assert gofish.net.compiled_modules() == expected
    for name in expected:
        assert _native.compiled(sys.modules[f"gofish.net.{name}"])


def test_pure_environment_runs_the_sources() -> None:
    code = ("import gofish.net, gofish.net.resp as r, gofish.net.server as s; "
            "print(r.__file__, s.__file__, gofish.net.compiled_modules())")
    env = dict(os.environ, **{_native.PURE_ENV: "1"})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, timeout=60).stdout.split()
    assert out[0].endswith("resp.py") and out[1].endswith("server.py")
    assert out[2] == "[]"
