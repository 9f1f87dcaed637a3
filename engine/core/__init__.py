"""perpdesk's exchange core: a pure, deterministic perp venue (no Textual, no I/O, no threads).

The whole package is the compiled set: its modules may be installed compiled by mypyc (see setup.py;
the few it leaves interpreted are listed there with the reason). Two guards, run when ``engine.core``
is first imported (``import engine`` alone loads nothing):

* ``PERPDESK_PURE=1`` in the environment runs the ``.py`` sources even where
  compiled modules are installed (same behaviour, slower; for comparisons and
  debugging).
* A compiled module whose ``.py`` source changed since the build (an edit, a
  checkout, a merge) is never run: the build records each source's SHA-256 in
  ``_build_info.py``, and on any mismatch the whole engine runs from its
  sources instead (all or nothing: compiled and interpreted modules do not
  mix), with a warning to rebuild (``pip install -e .``).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _compiled_modules() -> dict[str, str]:
    """Submodules that have a compiled extension next to their source: name -> extension file."""
    found = {}
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    for fn in os.listdir(_HERE):
        for suf in suffixes:
            if fn.endswith(suf):
                mod = fn[: -len(suf)]
                if os.path.exists(os.path.join(_HERE, mod + ".py")):
                    found[mod] = fn
                break
    return found


class _SourceFinder:
    """Meta path finder for PERPDESK_PURE=1: load ``engine.core.<mod>`` from ``<mod>.py``."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        pkg, _, mod = name.rpartition(".")
        if pkg != __name__:
            return None
        src = os.path.join(_HERE, mod + ".py")
        if not os.path.exists(src):
            return None
        return importlib.util.spec_from_file_location(name, src)


def _guard() -> bool:
    """Returns True when the engine runs compiled."""
    compiled = _compiled_modules()
    if not compiled:
        return False
    if os.environ.get("PERPDESK_PURE") == "1":
        _run_sources()
        return False
    try:
        from ._build_info import SOURCE_SHA256
    except ImportError:
        SOURCE_SHA256 = {}
    stale = []
    for mod in sorted(compiled):
        with open(os.path.join(_HERE, mod + ".py"), "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if SOURCE_SHA256.get(mod) != digest:
            stale.append(f"engine/core/{mod}.py")
    if stale:
        import warnings

        warnings.warn(
            f"{', '.join(stale)} changed since the compiled build: running the engine from its sources "
            "(slower); run `pip install -e .` to rebuild",
            RuntimeWarning,
            stacklevel=2,
        )
        _run_sources()
        return False
    return True


def _run_sources() -> None:
    if not any(isinstance(f, type) and f is _SourceFinder for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceFinder)


COMPILED = _guard()

_LAZY = {"Command": "commands", "CommandError": "commands", "NotACommand": "commands", "make": "commands",
         "parse_command": "commands", "Engine": "engine"}


def __getattr__(name: str):
    """``from engine.core import Engine`` loads the engine module on first use, not at ``import engine.core``."""
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


__all__ = ["COMPILED", "Engine", "Command", "CommandError", "NotACommand", "make", "parse_command"]
