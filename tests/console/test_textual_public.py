"""Textual's internals are used in one place only, console/textual_compat.py (applied at app start, with a
version check); every other production file under console/ uses Textual's public API. An AST scan."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import logging
import textwrap
from pathlib import Path

import pytest
import textual
from textual.app import App
from textual.screen import Screen
from textual.widget import Widget

from console import textual_compat

CONSOLE = Path(__file__).resolve().parents[2] / "console"
COMPAT = "textual_compat.py"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _textual_private_names(cls: type) -> set[str]:
    """Underscore names the Textual classes in ``cls``'s MRO define: class attributes, methods, and the
    instance attributes their code assigns (``self._x``)."""
    names: set[str] = set()
    for base in cls.__mro__:
        if not base.__module__.startswith("textual"):
            continue
        names |= {n for n in vars(base) if _private(n)}
        try:
            src = textwrap.dedent(inspect.getsource(base))
        except (OSError, TypeError):
            continue
        for node in ast.walk(ast.parse(src)):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"
                    and _private(node.attr)):
                names.add(node.attr)
    return names


#: the underscore names of Textual's app, screens and widgets (touching one on any object is a use)
CORE_PRIVATE = _textual_private_names(App) | _textual_private_names(Screen) | _textual_private_names(Widget)


def _production_files() -> list[Path]:
    return sorted(p for p in CONSOLE.rglob("*.py") if p.name != COMPAT)


def _module(path: Path) -> str:
    return ".".join(path.relative_to(CONSOLE.parent).with_suffix("").parts)


def _own_private_names() -> set[str]:
    """Underscore names perpdesk's own non-Textual objects define (the feed's ``_lock``...): reading one of
    those on a non-``self`` object is not a Textual use."""
    own: set[str] = set()
    for path in _production_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                mod = importlib.import_module(_module(path))
                cls = getattr(mod, node.name, None)
                if isinstance(cls, type) and any(b.__module__.startswith("textual") for b in cls.__mro__):
                    continue
                for sub in ast.walk(node):
                    if isinstance(sub, ast.FunctionDef) and _private(sub.name):
                        own.add(sub.name)
                    elif (isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name)
                          and sub.value.id == "self" and _private(sub.attr)):
                        own.add(sub.attr)
    return own


def _violations(path: Path, own: set[str], mod=None) -> list[str]:
    tree = ast.parse(path.read_text())
    if mod is None:
        mod = importlib.import_module(_module(path))
    out: list[str] = []
    where = path.name if mod.__name__ == "probe" else f"{path.relative_to(CONSOLE.parent)}"
    textual_names: set[str] = set()  # names bound to something imported from textual
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "textual":
                    textual_names.add((a.asname or a.name).split(".")[0])
                    if any(_private(p) for p in a.name.split(".")):
                        out.append(f"{where}:{node.lineno} imports {a.name}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "textual":
            if any(_private(p) for p in (node.module or "").split(".")):
                out.append(f"{where}:{node.lineno} imports from {node.module}")
            for a in node.names:
                textual_names.add(a.asname or a.name)
                if _private(a.name):
                    out.append(f"{where}:{node.lineno} imports {node.module}.{a.name}")
    # classes built on Textual (and the mixins they use): overriding or touching a Textual private name
    classes = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    for name, cdef in classes.items():
        cls = getattr(mod, name, None)
        if not isinstance(cls, type):
            continue
        users = [cls] if any(b.__module__.startswith("textual") for b in cls.__mro__) else [
            c for c in _console_textual_classes() if cls in c.__mro__]
        private = set().union(*(_textual_private_names(c) for c in users)) if users else set()
        for sub in ast.walk(cdef):
            if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and sub.name in private:
                out.append(f"{where}:{sub.lineno} {name} overrides Textual's {sub.name}")
            elif (isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id == "self"
                  and sub.attr in private):
                out.append(f"{where}:{sub.lineno} {name} touches Textual's self.{sub.attr}")
    for node in ast.walk(tree):
        # any object's Textual private attribute (self.app._x, screen._x), unless perpdesk's own name
        if (isinstance(node, ast.Attribute) and node.attr in CORE_PRIVATE and node.attr not in own
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            out.append(f"{where}:{node.lineno} touches Textual's .{node.attr}")
        # getattr(x, "_name") / setattr / hasattr with a Textual private name
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
                and node.args[1].value in CORE_PRIVATE and node.args[1].value not in own):
            out.append(f"{where}:{node.lineno} {node.func.id}(..., {node.args[1].value!r})")
        # assigning to an attribute of something imported from textual (a monkeypatch)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                base = t
                while isinstance(base, ast.Attribute):
                    base = base.value
                if isinstance(t, ast.Attribute) and isinstance(base, ast.Name) and base.id in textual_names:
                    out.append(f"{where}:{node.lineno} assigns {ast.unparse(t)} (a Textual object)")
    return out


_CLASSES: list[type] = []


def _console_textual_classes() -> list[type]:
    if not _CLASSES:
        for path in _production_files():
            mod = importlib.import_module(_module(path))
            for obj in vars(mod).values():
                if (isinstance(obj, type) and obj.__module__ == mod.__name__
                        and any(b.__module__.startswith("textual") for b in obj.__mro__)):
                    _CLASSES.append(obj)
    return _CLASSES


def test_the_scan_knows_textuals_private_names():
    # a scan that knew no names would pass vacuously
    assert {"_display", "_batch_count", "_screen_stacks", "_parse_action", "_css_update_count", "_compositor",
            "_on_screen_resume"} <= CORE_PRIVATE


def test_the_scan_finds_what_it_looks_for(tmp_path):
    """The scan on a file that does each forbidden thing once."""
    bad = tmp_path / "probe.py"
    bad.write_text(textwrap.dedent('''
        from textual._compositor import LayoutUpdate
        from textual.app import App
        from textual.renderables.background_screen import BackgroundScreen


        class Probe(App):
            def _display(self, screen, renderable):
                return self._batch_count

            def go(self, screen):
                return screen._compositor, getattr(self, "_css_update_count", None)


        def patch():  # never called: the scan reads it, nothing is patched
            BackgroundScreen.process_segments = None
    '''))
    spec = importlib.util.spec_from_file_location("probe", bad)
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    found = _violations(bad, _own_private_names(), probe)
    text = "\n".join(found)
    for what in ("imports from textual._compositor", "overrides Textual's _display", "self._batch_count",
                 "._compositor", "'_css_update_count'", "assigns BackgroundScreen.process_segments"):
        assert what in text, (what, text)


def test_no_production_file_uses_textual_internals_outside_the_compat_module():
    own = _own_private_names()
    found = [v for path in _production_files() for v in _violations(path, own)]
    assert not found, "Textual internals outside console/textual_compat.py:\n" + "\n".join(found)


def test_compat_version_check():
    lo, hi = textual_compat.TESTED
    assert textual_compat.supported(f"{lo[0]}.{lo[1]}.0")
    assert not textual_compat.supported(f"{hi[0]}.{hi[1]}.0")
    assert not textual_compat.supported("0.86.1")
    assert textual_compat.supported(textual.__version__)  # the pinned Textual is the one it was written for


def test_out_of_range_textual_falls_back_to_public_behaviour_with_a_warning(monkeypatch, caplog):
    monkeypatch.setattr(textual_compat, "textual_version", lambda: "99.0.0")
    monkeypatch.setitem(textual_compat._state, "checked", None)
    caplog.set_level(logging.WARNING, logger="perpdesk.console")

    class Fake:
        def _display(self, screen, renderable):  # noqa: ARG002 - stands in for App._display
            return "plain"

    app = Fake()
    assert textual_compat.apply(app, lambda: None) is False
    assert "_display" not in vars(app)  # nothing patched on the app
    assert textual_compat.screen_strips(object(), None) is None
    assert any("outside the range" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("version", ["8.2.8", "8.9.0"])
def test_versions_in_range(version):
    assert textual_compat.supported(version)
