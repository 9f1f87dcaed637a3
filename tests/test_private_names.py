"""No engine or console module reaches into another module's underscore names.

A name with a leading underscore is private to the module that defines it. When one module of the
engine needs another's method (the liquidation engine applying a fill, a snapshot resting orders),
that method is public; this test finds the reverse: ``obj._name`` in one module where ``_name`` is a
method, function, class or ``self._name`` attribute defined only in other modules.
"""

from __future__ import annotations

import ast
import pathlib
from collections import defaultdict

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _private_reaches(package: str, root: pathlib.Path = ROOT) -> list[str]:
    files = sorted((root / package).rglob("*.py"))
    trees = {p: ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in files}
    owners: dict[str, set[pathlib.Path]] = defaultdict(set)
    for p, tree in trees.items():
        for n in ast.walk(tree):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name.startswith("_"):
                owners[n.name].add(p)
            elif (isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store) and isinstance(n.value, ast.Name)
                  and n.value.id == "self"):
                owners[n.attr].add(p)
    found = []
    for p, tree in trees.items():
        for n in ast.walk(tree):
            if not (isinstance(n, ast.Attribute) and n.attr.startswith("_") and not n.attr.startswith("__")):
                continue
            if isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"):
                continue
            where = owners.get(n.attr)
            if where and p not in where:
                found.append(f"{p.relative_to(root)}:{n.lineno}: {ast.unparse(n)} "
                             f"(private to {', '.join(str(w.relative_to(root)) for w in sorted(where))})")
    return found


def test_no_engine_module_uses_another_modules_private_names():
    assert _private_reaches("engine") == []


def test_no_console_module_uses_another_modules_private_names():
    """The console too (console/app.py's mixins reach each other only through ``self``)."""
    assert _private_reaches("console") == []


def test_the_check_sees_a_reach(tmp_path):
    """The scan itself: a planted reach into another module's underscore method is reported."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("class A:\n    def _secret(self):\n        return 1\n")
    (pkg / "b.py").write_text("def use(a):\n    return a._secret()\n")
    assert [f.split(": ", 1)[1] for f in _private_reaches("pkg", tmp_path)] == ["a._secret (private to pkg/a.py)"]
