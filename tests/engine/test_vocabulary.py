"""The event vocabulary (engine/api/vocabulary.py): every event type the engine or node can emit is registered,
each has a wording, and the console loads it without the engine core."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from engine.api import vocabulary
from engine.core.commands import SPECS

ENGINE = Path(__file__).resolve().parents[2] / "engine"
#: files whose "type" dicts are not events: Slack block kit (alerts), the registry itself
NOT_EVENTS = {"alerts.py", "vocabulary.py"}
#: commands the engine does not take but the node or tools send (journal rows, not events)
NODE_COMMANDS = {"credit"}


def emitted_types() -> dict[str, str]:
    """Every ``"type": "..."`` dict literal, ``ev["type"] = "..."`` and ``pause_flag(..., "event")`` (engine/core/admin.py) in the
    engine's sources, minus the commands: type -> first file seen."""
    found: dict[str, str] = {}
    for path in sorted(ENGINE.rglob("*.py")):
        if path.name in NOT_EVENTS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values, strict=True):
                    if isinstance(k, ast.Constant) and k.value == "type" and isinstance(v, ast.Constant):
                        names.append(v.value)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for tgt in node.targets:
                    if (isinstance(tgt, ast.Subscript) and isinstance(tgt.slice, ast.Constant)
                            and tgt.slice.value == "type"):
                        names.append(node.value.value)
            elif (isinstance(node, ast.Call) and isinstance(node.args[-1:] and node.args[-1], ast.Constant)
                  and ((isinstance(node.func, ast.Attribute) and node.func.attr == "pause_flag")
                       or (isinstance(node.func, ast.Name) and node.func.id == "pause_flag"))):
                names.append(node.args[-1].value)
            for n in names:
                if isinstance(n, str) and n not in SPECS and n not in NODE_COMMANDS:
                    found.setdefault(n, path.name)
    return found


def test_the_scan_sees_the_engines_events():
    found = emitted_types()
    # a scan that found nothing would pass vacuously: these come from each of its three patterns
    assert {"trade", "liquidation", "socialized_loss", "order_accepted", "triggers_paused", "node_alert",
            "refund_decided", "oracle_jump_accepted", "edge_flows_reapplied", "snapshot_failed"} <= set(found)


def test_every_event_type_the_engine_can_emit_is_in_the_vocabulary():
    missing = {t: f for t, f in emitted_types().items() if t not in vocabulary.REGISTRY}
    assert not missing, f"event types missing from engine/api/vocabulary.py: {missing}"


def test_every_registered_type_is_emitted_somewhere():
    stale = set(vocabulary.REGISTRY) - set(emitted_types())
    assert not stale, f"registered but never emitted: {sorted(stale)}"


def test_every_type_has_a_wording_and_a_valid_severity():
    for name, t in vocabulary.REGISTRY.items():
        assert t.severity in vocabulary.SEVERITIES, name
        assert t.timeline in ("", "line", "count"), name
        bare = vocabulary.line({"type": name, "seq": 1})  # every field missing: still a line, never a crash
        full = vocabulary.line({"type": name, "seq": 1, **{f: 1 for f in t.fields}})
        assert bare and full, name
        assert vocabulary.console_level({"type": name}) in ("information", "warning", "error")


def test_one_wording_for_the_brake_in_feed_and_timeline():
    ev = {"type": "brake_engaged", "operator": "ada", "canceled_orders": 12, "kept_tpsl": 3, "seq": 9}
    assert vocabulary.line(ev) == vocabulary.timeline_line(ev) == "BRAKE ENGAGED by ada: 12 orders canceled, 3 TP/SL kept"
    assert vocabulary.timeline_line({"type": "snapshot_taken", "trigger": "auto", "snapshot_id": "s"}) == ""
    assert vocabulary.timeline_line({"type": "trade"}) == ""


def test_the_vocabulary_loads_without_the_engine_core():
    code = ("import sys, engine.api.vocabulary; "
            "print(sorted(m for m in sys.modules if m.startswith('engine.') and m not in ('engine.api', 'engine.api.vocabulary')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ENGINE.parent).stdout.strip()
    assert out == "[]"
