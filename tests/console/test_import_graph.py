"""The console's import graph has no cycles (an AST scan of every module under console/, imports inside
functions included: a lazy import is still a dependency), and its layers point one way:
widgets <- modals <- screens <- app <- demo. (The old ``console.factory <-> console.remote`` cycle went
with the pickle RPC: consoles attach over the HTTP API now.)"""

from __future__ import annotations

import ast
from pathlib import Path

CONSOLE = Path(__file__).resolve().parents[2] / "console"

#: cycles known and owned elsewhere: none
KNOWN_CYCLES: list[set[str]] = []


def _module(path: Path) -> str:
    parts = path.relative_to(CONSOLE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """console module -> the console modules it imports (anywhere in its code)."""
    files = {_module(p): p for p in CONSOLE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                targets = [prefix] + [f"{prefix}.{a.name}" for a in node.names]
            for t in targets:
                if t in files and t != mod:
                    graph[mod].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_scan_sees_the_imports():
    g = import_graph()
    assert "console.widgets.banner" in g["console.widgets.desk_screen"]  # from .banner import ...
    assert "console.format" in g["console.widgets.banner"]               # from .. import format
    assert "console.app" in g["console.demo.desk"]                       # from ..app import ...
    assert "console.modals.brake" in g["console.actions"]                # a lazy import, inside a method
    assert "console.actions" in g["console.app"]                         # the app's mixins
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_no_import_cycles_in_console():
    found = [c for c in cycles(import_graph()) if c not in KNOWN_CYCLES]
    assert not found, "import cycles in console/: " + "; ".join(" <-> ".join(sorted(c)) for c in found)


def _layer(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else ""


#: layer -> the layers it must not import (widgets are the bottom; the demo sits on top of the app)
FORBIDDEN = {
    "widgets": {"modals", "screens", "app", "demo"},
    "modals": {"screens", "app", "demo"},
    "screens": {"app", "demo"},
    "app": {"demo"},
}
#: the app's mixins (console/app.py imports them): the app's layer, and never the app itself
for _mixin in ("actions", "commands", "fetch", "gc_hold", "permissions"):
    FORBIDDEN[_mixin] = {"demo", "app"}


def test_layers_point_one_way():
    bad = sorted(f"{m} -> {t}" for m, ts in import_graph().items() for t in ts
                 if _layer(t) in FORBIDDEN.get(_layer(m), set()))
    assert not bad, "imports against the layering:\n" + "\n".join(bad)
