"""Build hook: compile the engine core with mypyc (pure Python if that is not possible).

``pip install .`` / ``pip install -e .`` compile the modules in ``COMPILED`` into C
extensions with mypyc (the ``mypy`` build requirement in pyproject.toml). The
installed package is the same either way; the compiled one is several times faster.

* ``PERPDESK_PURE=1`` at build time: no compilation, pure Python.
* mypyc missing or the C build failing: a warning, then pure Python.

The compiled set is the package ``engine/core`` (one list: every module in it except
``NOT_COMPILED``, each exclusion with its reason; ``[tool.mypy] files`` is the same package).
Next to the extensions the build writes ``engine/core/_build_info.py`` with the SHA-256
of every compiled source; ``engine/core/__init__.py`` runs the core from its sources
(with a warning) when any compiled ``.py`` has changed since (edit, checkout, merge)
rather than run stale code. At run time ``PERPDESK_PURE=1`` runs the sources even where
extensions are installed.
"""

from __future__ import annotations

import glob
import hashlib
import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
CORE = "engine/core"
#: engine/core modules left interpreted, each with its reason (everything else in the package is compiled)
NOT_COMPILED = {
    "__init__": "the compiled-module guard itself: it decides whether the extensions may run",
    "_build_info": "written by this build (data, no code)",
    "liqindex": "its wide-integer threshold arithmetic runs faster in CPython than compiled",
}
COMPILED = sorted(
    f"{CORE}/{name}"
    for name in os.listdir(os.path.join(HERE, CORE))
    if name.endswith(".py") and name[:-3] not in NOT_COMPILED
)
GROUP = "engine.core.native"  # the shared library lives inside the package: engine/core/native__mypyc.*.so
BUILD_INFO = os.path.join(HERE, "engine", "core", "_build_info.py")


def _say(msg: str) -> None:
    print(f"perpdesk build: {msg}", file=sys.stderr)


def _digest(path: str) -> str:
    with open(os.path.join(HERE, path), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _write_build_info(compiled: bool) -> None:
    sources = {os.path.basename(p)[:-3]: _digest(p) for p in COMPILED} if compiled else {}
    lines = [
        '"""Written by setup.py at build time (not in git): what was compiled, from which sources."""',
        "",
        f"COMPILED: bool = {compiled!r}",
        "SOURCE_SHA256: dict[str, str] = {",
        *(f"    {k!r}: {v!r}," for k, v in sorted(sources.items())),
        "}",
        "",
    ]
    with open(BUILD_INFO, "w") as f:
        f.write("\n".join(lines))


def _remove_inplace_extensions() -> None:
    """A pure (re)build of an editable install: drop extensions a previous build left in the tree."""
    for path in glob.glob(os.path.join(HERE, "engine", "core", "*.so")) + glob.glob(os.path.join(HERE, "engine", "core", "*.pyd")):
        os.remove(path)
        _say(f"removed {os.path.relpath(path, HERE)} (pure build)")


class OptionalBuildExt(build_ext):
    """build_ext that falls back to pure Python when the C build fails."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as e:  # no compiler, no Python headers, ...
            _say(f"compiling the engine failed ({type(e).__name__}: {e}); installing pure Python")
            for ext in self.extensions:
                path = self.get_ext_fullpath(ext.name)
                if os.path.exists(path):
                    os.remove(path)
            self.extensions = []
            _write_build_info(False)
            _remove_inplace_extensions()


# setup.py also runs for metadata only (egg_info, dist_info): compile only when building
BUILD_COMMANDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install"}


def ext_modules() -> list:
    if not BUILD_COMMANDS.intersection(sys.argv[1:]):
        return []
    if os.environ.get("PERPDESK_PURE") == "1":
        _say("PERPDESK_PURE=1: pure Python, nothing compiled")
        _write_build_info(False)
        _remove_inplace_extensions()
        return []
    # extensions of modules no longer compiled would shadow their sources: drop them
    keep = {os.path.basename(p)[:-3] for p in COMPILED} | {GROUP.rpartition(".")[2] + "__mypyc"}
    for path in glob.glob(os.path.join(HERE, "engine", "*.so")):  # the flat engine/ of old builds
        os.remove(path)
        _say(f"removed {os.path.relpath(path, HERE)} (the core now lives in engine/core)")
    for path in glob.glob(os.path.join(HERE, "engine", "core", "*.so")):
        if os.path.basename(path).split(".")[0] not in keep:
            os.remove(path)
            _say(f"removed {os.path.relpath(path, HERE)} (no longer compiled)")
    _write_build_info(True)  # before mypycify: mypy follows engine/core/__init__.py's import of it
    try:
        from mypyc.build import mypycify

        exts = mypycify(COMPILED, opt_level="3", debug_level="0", group_name=GROUP)
    except (Exception, SystemExit) as e:  # mypyc missing, or a type error in the sources
        _say(f"mypyc could not compile the engine ({type(e).__name__}: {e}); installing pure Python")
        _write_build_info(False)
        _remove_inplace_extensions()
        return []
    return exts


setup(ext_modules=ext_modules(), cmdclass={"build_ext": OptionalBuildExt})
