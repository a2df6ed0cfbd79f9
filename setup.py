"""Build hook: gofish's hot modules compiled with mypyc (docs/adr/0013, 0014).

Everything else about the package is in pyproject.toml. The modules of ``gofish._native.NATIVE``
(the one list, read here without importing gofish) are compiled as one group to C extensions
when mypyc and a C compiler are at hand; each extension is optional, so a machine without a
compiler installs the same package interpreted. ``GOFISH_PURE=1`` at install time skips
compiling; at run time it loads the sources even where extensions were built
(gofish/_native.py).
"""

import os
import runpy

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
NATIVE = [
    os.path.join("gofish", *m.split(".")[1:]) + ".py"
    for m in runpy.run_path(os.path.join(HERE, "gofish", "_native.py"))["NATIVE"]
]


def _ext_modules() -> list:
    if os.environ.get("GOFISH_PURE") == "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("gofish: mypyc not available, installing interpreted")
        return []
    try:
        exts = mypycify(NATIVE, opt_level="3")
    except (Exception, SystemExit) as exc:  # mypyc type-checks first and exits on an error
        print(f"gofish: mypyc could not compile ({exc!r}), installing interpreted")
        return []
    for ext in exts:
        ext.optional = True  # a failed compile leaves the interpreted module in place
    return exts


setup(ext_modules=_ext_modules())
