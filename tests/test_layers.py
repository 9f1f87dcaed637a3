"""The layers of engine/ hold (docs/architecture.md).

``lint-imports`` checks the import-linter contracts in pyproject.toml (one per arrow); then each
headless entry point of ``perpdesk`` (console/cli.py) is imported in a fresh interpreter and what it
loaded is checked: an import that would drag in a layer it must not load fails here even where the
import-linter contract could not see it (the standard library's ``threading`` is one such module).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _loaded(stmt: str) -> set[str]:
    """The modules in sys.modules after ``stmt`` in a fresh interpreter (run from the repo root)."""
    code = f"import json, sys\n{stmt}\nprint(json.dumps(sorted(sys.modules)))"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env=env)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _under(mods: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in mods if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_import_linter_contracts_hold():
    exe = BIN / "lint-imports"
    assert exe.exists(), f"lint-imports is not installed in {BIN} (the test extra installs import-linter)"
    out = subprocess.run([str(exe)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "BROKEN" not in out.stdout
    assert "5 kept, 0 broken" in out.stdout


def test_import_engine_loads_nothing():
    assert _under(_loaded("import engine"), ("engine",)) == ["engine"]


UI_AND_OUTSIDE = ("textual", "httpx", "console")
SQL = ("sqlalchemy", "sqlmodel", "psycopg", "sqlite3")

# entry point (the module perpdesk's subcommand imports first) -> what importing it must not load
ENTRY_POINTS = {
    "engine.tools.refunds_export": ("engine.core", "engine.sim", "engine.analysis", *SQL, *UI_AND_OUTSIDE),
    "engine.tools.replay": ("engine.node", "engine.store", "engine.sim", "engine.analysis", "engine.outside",
                            *SQL, *UI_AND_OUTSIDE),
    "engine.tools.verify": ("engine.sim", "engine.outside", "engine.node.node", *SQL, *UI_AND_OUTSIDE),
    "engine.settings.logsetup": ("engine.core", "engine.node", "engine.store", "pydantic", *SQL,
                                 *UI_AND_OUTSIDE),
    "engine.settings.config": ("engine.core", "engine.node", "engine.store", *SQL, *UI_AND_OUTSIDE),
    "engine.api.vocabulary": ("engine.core", "engine.node", "engine.store", "engine.settings", *SQL,
                              *UI_AND_OUTSIDE),
    "engine.sim.runner": ("engine.tools", "engine.outside", *UI_AND_OUTSIDE),
}


@pytest.mark.parametrize("module", sorted(ENTRY_POINTS))
def test_entry_point_loads_only_its_layers(module):
    loaded = _loaded(f"import {module}")
    assert module in loaded
    assert _under(loaded, ENTRY_POINTS[module]) == []


def test_the_core_loads_no_io_threads_sql_http_or_ui():
    bare = _loaded("pass")
    loaded = _loaded("import engine.core.engine, engine.core.snapshot, engine.core.wire") - bare
    assert "engine.core.engine" in loaded
    forbidden = ("threading", "socket", "selectors", "asyncio", "subprocess", *SQL, *UI_AND_OUTSIDE)
    assert _under(loaded, forbidden) == []
    others = ("engine.analysis", "engine.api", "engine.node", "engine.outside", "engine.settings", "engine.sim",
              "engine.store", "engine.tools")
    assert _under(loaded, others) == []


def test_an_attached_console_loads_only_the_api_of_the_engine():
    """The console's process (the entry point, the app, every screen, modal and widget, the sandbox
    launcher) imports engine.api (and the one error base, engine.errors, which imports nothing) and nothing
    else of the engine until it builds an in-process desk."""
    import subprocess
    import sys

    code = (
        "import sys, pkgutil, importlib, console.cli, console.app_main, console.factory, console.sandbox, console.app\n"
        "import console.screens, console.modals, console.widgets\n"
        "for pkg in (console.screens, console.modals, console.widgets):\n"
        "    for m in pkgutil.iter_modules(pkg.__path__):\n"
        "        importlib.import_module(pkg.__name__ + '.' + m.name)\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('engine.'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    loaded = [m for m in out.stdout.strip().split(",") if m]
    assert loaded and all(m.startswith("engine.api") or m == "engine.errors" for m in loaded), loaded
