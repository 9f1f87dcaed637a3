"""One error base: every exception class the engine and the console define derives from
``engine.errors.PerpdeskError`` and so carries a stable ``code`` and a ``message``.

The scan imports every module under engine/ and console/ and inspects the classes they define
(an AST scan would miss classes made by a factory; importing is what a caller sees). Each class
left out is named here with its reason.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import console
import engine
from engine.errors import PerpdeskError

#: exception classes that are not errors a caller handles, each with why
NOT_ERRORS: dict[str, str] = {
    "engine.node.journalwriter.WriterGone": "internal signal between the write pipeline and its writer process",
    "engine.node.journalwriter.WriterStalled": "internal signal (a WriterGone): the node kills the writer and decides",
    "console.demo.desk.Handover": "control flow: the demo's script hands the desk to a person",
    "engine.settings.config._KeyProblem": "raised inside pydantic validators only; it reaches callers as ConfigError",
}


def _modules(pkg) -> list[str]:
    names = [pkg.__name__]
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        if ".tests" in info.name or info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return names


def _defined_exceptions() -> list[type]:
    found = []
    for name in _modules(engine) + _modules(console):
        try:
            mod = importlib.import_module(name)
        except ImportError:  # an optional extra (e.g. the PostgreSQL driver) absent: nothing to scan there
            continue
        for _, obj in inspect.getmembers(mod, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == mod.__name__:
                found.append(obj)
    return found


def test_the_scan_finds_the_engines_errors():
    names = {f"{c.__module__}.{c.__qualname__}" for c in _defined_exceptions()}
    assert "engine.api.errors.GatewayError" in names
    assert len(names) >= 25, sorted(names)


@pytest.mark.parametrize("cls", _defined_exceptions(), ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_every_error_derives_from_the_one_base(cls):
    qual = f"{cls.__module__}.{cls.__qualname__}"
    if qual in NOT_ERRORS:
        return
    assert issubclass(cls, PerpdeskError), f"{qual} does not derive from engine.errors.PerpdeskError"


def test_the_base_carries_code_and_message():
    e = PerpdeskError("disk full", code="store_full")
    assert (e.code, e.message, str(e)) == ("store_full", "disk full", "disk full")
    assert PerpdeskError("x").code == "error"
