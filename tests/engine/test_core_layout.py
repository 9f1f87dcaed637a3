"""The engine core's layout (issue 15): ``engine.py`` holds the Engine's state, dispatch and shared helpers;
each command's handler is a module-level function of its idea's module, registered in ``HANDLERS``."""

from __future__ import annotations

import ast
from pathlib import Path

from engine.core.commands import SPECS
from engine.core.engine import HANDLERS

CORE = Path(__file__).resolve().parents[2] / "engine" / "core"
#: the idea modules that hold command handlers (engine.py only dispatches)
IDEAS = {"accounts", "orders", "marketdata", "admin", "operations"}


def test_every_command_has_a_handler_in_an_idea_module():
    assert set(HANDLERS) == set(SPECS)
    homes = {t: fn.__module__.rpartition(".")[2] for t, fn in HANDLERS.items()}
    assert set(homes.values()) <= IDEAS, homes
    assert homes["place_order"] == "orders" and homes["tick"] == "marketdata" and homes["rollback"] == "operations"


def test_no_core_module_is_a_grab_bag():
    """engine.py stays the Engine's state and dispatch; no core module grows past ~700 lines."""
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in CORE.glob("*.py")}
    assert sizes["engine.py"] <= 400, sizes["engine.py"]
    assert {n: s for n, s in sizes.items() if s > 700} == {}


def test_core_modules_import_the_engine_for_its_type_only():
    """Only ``if TYPE_CHECKING:`` imports of ``.engine`` in the core: engine.py imports the idea modules, never
    the reverse at run time (no import cycle; mypyc still knows the type, so calls stay native)."""
    found = []
    for p in sorted(CORE.glob("*.py")):
        tree = ast.parse(p.read_text(encoding="utf-8"))
        guarded: set[int] = set()
        for n in ast.walk(tree):
            if isinstance(n, ast.If) and isinstance(n.test, ast.Name) and n.test.id == "TYPE_CHECKING":
                guarded.update(id(s) for s in ast.walk(n))
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and n.module == "engine" and n.level == 1 and id(n) not in guarded:
                found.append(f"{p.name}:{n.lineno}")
    assert found == []
