"""Build hook: the client protocol layer compiled with mypyc (docs/adr/0013-compiled-net-layer.md).

Everything else about the package is in pyproject.toml. The modules in `NATIVE` are compiled
to C extensions when mypyc and a C compiler are at hand; each extension is optional, so a
machine without a compiler installs the same package interpreted. ``GOFISH_PURE=1`` at install
time skips compiling; at run time it loads the sources even where extensions were built
(gofish/_native.py).
"""

import os

from setuptools import setup

NATIVE = ["gofish/net/resp.py", "gofish/net/server.py"]


def _ext_modules() -> list:
    if os.environ.get("GOFISH_PURE") == "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("gofish: mypyc not available, installing interpreted")
        return []
    exts = mypycify(NATIVE, opt_level="3")
    for ext in exts:
        ext.optional = True  # a failed compile leaves the interpreted module in place
    return exts


setup(ext_modules=_ext_modules())
