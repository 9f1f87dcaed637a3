"""The wire form's per-type formatting plans (engine/core/wire.py ``_TYPE_PLANS``) must list every field
that the generic walk would format, for every event of that type the engine can build.

Statically: every place in engine/ that builds an event of a planned type (a dict literal with that
``"type"``, or a dict whose ``"type"`` is set to it, plus the fields set on it afterwards in the same
function) and, for ``order_accepted`` (a copy of the parsed place_order args), the place_order spec.
Dynamically: the stateful test compares the plan with the walk on every event it sees; here a
replay of a mixed flow does the same for every event of the file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from engine.core import Engine, wire
from engine.core.commands import SPECS

ENGINE_DIR = Path(wire.__file__).resolve().parent
PLANNED = {t: {k for k, _f, _c in steps} for t, steps in wire._TYPE_PLANS.items()}
FORMATTED = set(wire._FORMATTERS)


def _event_sites() -> dict[str, list[tuple[str, set[str]]]]:
    """type -> [(where, the keys it may carry)] for every event built in engine/*.py."""
    sites: dict[str, list[tuple[str, set[str]]]] = {t: [] for t in PLANNED}
    for path in sorted(ENGINE_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            named: dict[str, str] = {}  # variable -> the planned type it is set to
            keys_of: dict[str, set[str]] = {}
            for node in ast.walk(fn):
                if isinstance(node, ast.Dict):
                    keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
                    for k, v in zip(node.keys, node.values, strict=True):
                        if (isinstance(k, ast.Constant) and k.value == "type" and isinstance(v, ast.Constant)
                                and v.value in PLANNED):
                            sites[v.value].append((f"{path.name}:{node.lineno}", keys))
                if isinstance(node, ast.Assign):
                    for tgt in node.targets:
                        if (isinstance(tgt, ast.Subscript) and isinstance(tgt.value, ast.Name)
                                and isinstance(tgt.slice, ast.Constant) and isinstance(tgt.slice.value, str)):
                            var, key = tgt.value.id, tgt.slice.value
                            keys_of.setdefault(var, set()).add(key)
                            if key == "type" and isinstance(node.value, ast.Constant) and node.value.value in PLANNED:
                                named[var] = node.value.value
            for var, t in named.items():
                sites[t].append((f"{path.name}:{fn.lineno} ({fn.name}, {var}[...] = ...)", keys_of[var]))
    return sites


SITES = _event_sites()


def test_every_planned_type_is_built_somewhere():
    for t, where in SITES.items():
        assert where, f"no place in engine/ builds a {t} event: is the plan stale?"


@pytest.mark.parametrize("etype", sorted(PLANNED))
def test_the_plan_covers_every_formatted_field_of_every_site(etype):
    for where, keys in SITES[etype]:
        missing = (keys & FORMATTED) - PLANNED[etype]
        assert not missing, f"{where} builds {etype} with {sorted(missing)}, which _TYPE_PLANS does not format"


def test_order_accepted_covers_the_place_order_spec():
    missing = (set(SPECS["place_order"]) & FORMATTED) - PLANNED["order_accepted"]
    assert not missing, f"order_accepted copies place_order's args; {sorted(missing)} would stay unformatted"


def test_a_site_with_an_unplanned_field_would_be_caught(monkeypatch):
    """The check above can fail: drop a field from a plan and it names the site."""
    monkeypatch.setitem(PLANNED, "trade", PLANNED["trade"] - {"maker_fee"})
    with pytest.raises(AssertionError, match="maker_fee"):
        test_the_plan_covers_every_formatted_field_of_every_site("trade")


def test_events_of_a_mixed_flow_format_as_the_walk_does():
    from engine_helpers import BTC, Venue

    v = Venue.default()
    seen: set[str] = set()
    evs = []
    evs += v.limit("alice", "sell", "0.5", "97100")
    evs += v.limit("bob", "buy", "0.2", "97100", client_order_id="b1")  # trade
    evs += v.market("bob", "buy", "0.1")  # trade
    evs += v.limit("alice", "buy", "0.4", "97150", time_in_force="ioc")  # self-trade, ioc remainder
    evs += v.trigger("bob", "stop_loss", "sell", "0.1", "90000")
    evs += v.limit("bob", "sell", "0.05", "97200", reduce_only=True)
    evs += v.cmd("cancel_all", account="bob")
    evs += v.cmd("cancel_all", account="alice", market=BTC)
    for ev in evs:
        seen.add(ev["type"])
        planned, walked = ev.copy(), ev.copy()
        wire._format_in_place(planned)
        wire._format_walk(walked)
        assert planned == walked, ev
        assert planned == wire.event_to_wire(ev)
    assert {"order_accepted", "trade", "order_canceled"} <= seen, seen
    assert isinstance(v.e, Engine)
