"""Issue 16: the scenario vocabulary covers the node's capabilities, conditions and templates are a
small safe grammar, and files we did not write run or are refused with the line and the entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cli import main
from engine.core.commands import OPERATOR_COMMANDS
from engine.node.node import Node
from engine.sim import captions
from engine.sim.runner import COMMAND_ACTIONS, NODE_ACTIONS, NOT_IN_TIMELINE, ScenarioRun
from engine.sim.scenario import ACTIONS, ScenarioError, load_scenario

from .test_scenario_files import GOOD

SHORT = str(Path(__file__).resolve().parent / "files" / "short-incident.toml")


def test_every_operator_command_has_a_timeline_action() -> None:
    """A new operator command without a timeline action (or a stated reason) fails here."""
    missing = sorted(set(OPERATOR_COMMANDS) - set(COMMAND_ACTIONS) - set(NOT_IN_TIMELINE))
    assert not missing, f"operator commands a scenario cannot send: {missing}"
    assert set(COMMAND_ACTIONS.values()) <= ACTIONS
    assert set(COMMAND_ACTIONS) <= set(OPERATOR_COMMANDS)
    for action in ACTIONS:  # and the runner performs every action the files may name
        assert hasattr(ScenarioRun, f"_do_{action}"), action


def test_every_node_action_a_timeline_needs_is_in_the_vocabulary() -> None:
    for method, action in NODE_ACTIONS.items():
        assert callable(getattr(Node, method, None)), method
        assert action in ACTIONS


CONTROLS = GOOD.replace('''[[timeline]]
at = "4m"
id = "brake"
action = "emergency_brake"
''', '''[[timeline]]
at = "1m30s"
action = "schedule_maintenance"
window_id = "w1"
start = "8m"
duration = "1m"
kind = "oracle_restart"

[[timeline]]
at = "1m40s"
action = "reschedule_maintenance"
window_id = "w1"
start = "8m30s"
reason = "later"

[[timeline]]
at = "1m50s"
action = "extend_maintenance"
window_id = "w1"
duration = "90s"
reason = "longer"

[[timeline]]
at = "2m"
action = "set_withdrawals"
enabled = false
reason = "incident"

[[timeline]]
at = "2m"
action = "set_account_mode"
account = "u00003"
mode = "frozen"
reason = "suspicious"

[[timeline]]
at = "2m"
action = "cancel_account_orders"
account = "mm1"
reason = "stale orders"

[[timeline]]
at = "2m"
action = "set_market_params"
market = "BTC-USD-PERP"
post_only_band = "0.001"
oracle_stale_ms = 20000
reason = "tighter"

[[timeline]]
at = "2m"
action = "pause_triggers"
market = "BTC-USD-PERP"
reason = "bad marks"

[[timeline]]
at = "2m10s"
action = "fund_insurance"
amount = "1000"
reason = "top up"

[[timeline]]
at = "3m"
action = "set_safeguards"
enabled = false
reason = "drill"

[[timeline]]
at = "3m30s"
action = "set_safeguards"
enabled = true
reason = "drill over"

[[timeline]]
at = "3m40s"
action = "accept_oracle_price"
market = "ETH-USD-PERP"
price = "3400"
reason = "checked by hand"

[[timeline]]
at = "4m"
id = "brake"
action = "emergency_brake"

[[timeline]]
at = "5m"
action = "cancel_maintenance"
window_id = "w1"
reason = "not needed"

[[timeline]]
at = "5m"
action = "resume_triggers"
market = "BTC-USD-PERP"

[[timeline]]
at = "5m"
action = "set_withdrawals"
enabled = true
''')


def test_the_new_actions_reach_the_engine(tmp_path) -> None:
    p = tmp_path / "controls.toml"
    p.write_text(CONTROLS)
    run = ScenarioRun(str(p))
    try:
        run.run()
        eng = run.node.engine
        sent = [c["type"] for c in run.node.journal]
        for t in ("reschedule_maintenance", "extend_maintenance", "set_withdrawals", "set_account_mode",
                  "cancel_account_orders", "set_market_params", "pause_triggers", "fund_insurance",
                  "set_safeguards", "accept_oracle_price", "cancel_maintenance", "resume_triggers"):
            assert t in sent, t
        refused = [ln.text for ln in run.lines if "refused" in ln.text]
        assert not refused, refused
        w = next(w for w in run.node.maintenance_windows() if w["window_id"] == "w1")
        assert w["phase"] == "canceled", w
        assert eng.markets["BTC-USD-PERP"].post_only_band == 100_000  # 0.001 as a fraction
    finally:
        run.close()


def test_approve_refunds_names_the_fund() -> None:
    """The short incident approves from the treasury: every paid refund names it."""
    run = ScenarioRun(SHORT)
    try:
        rep = run.run()
        paid = [r for r in run.node.refunds() if r["status"] == "paid"]
        assert paid and rep["refunds"]["paid_count"] == len(paid)
        assert {r["fund"] for r in paid} == {"treasury"}
    finally:
        run.close()


# ---- conditions and templates ----------------------------------------------------------------------
def test_condition_grammar() -> None:
    c = {"liquidations": 3, "refunds_paid": 0, "unintended.x": 2}
    assert captions.holds("liquidations > 0", c)
    assert not captions.holds("refunds_paid", c)
    assert captions.holds("not refunds_paid and (liquidations >= 3 or unintended.x == 9)", c)
    assert captions.holds("unintended.x != 1", c)
    assert captions.fill("{liquidations} liquidated, {unintended.x} on x", c) == "3 liquidated, 2 on x"
    for bad, why in (("liquidations >", "ends too early"), ("__import__('os')", "cannot read"),
                     ("balance > 0", "unknown name 'balance'"), ("liquidations + 1", "cannot read"),
                     ("(liquidations > 0", "ends too early"), ("liquidations > 0 0", "unexpected")):
        with pytest.raises(captions.ConditionError, match=why):
            captions.parse_condition(bad)


MALFORMED = [
    ('action = "emergency_brake"', 'action = "emergency_brakes"', "timeline[1]", "unknown action 'emergency_brakes'"),
    ('action = "emergency_brake"', 'action = "emergency_brake"\nreasn = "x"', "timeline[1].reasn",
     "unknown field 'reasn' for action 'emergency_brake'"),
    ('action = "emergency_brake"', 'action = "emergency_brake"\ncaption_if = "liquidations >> 1"',
     "timeline[1].caption_if", "expected a name, an integer or '('"),
    ('action = "emergency_brake"', 'action = "emergency_brake"\ncaption_if = "wealth > 1"',
     "timeline[1].caption_if", "unknown name 'wealth'"),
    ('action = "emergency_brake"', 'action = "emergency_brake"\ncaption = "{unintended.nowhere} hit"',
     "timeline[1].caption", "'nowhere' is not the id of a fault"),
    ('action = "emergency_brake"', 'action = "emergency_brake"\ncaption = "a {stray brace"',
     "timeline[1].caption", "unbalanced braces"),
    ('action = "emergency_brake"', 'action = "approve_refunds"\nfund = "piggy-bank"', "timeline[1].fund",
     "'insurance' or 'treasury'"),
    ('action = "emergency_brake"', 'action = "set_account_mode"\naccount = "u1"\nmode = "asleep"',
     "timeline[1].mode", "'normal', 'reduce_only' or 'frozen'"),
    ('action = "emergency_brake"', 'action = "set_market_params"\nmarket = "BTC-USD-PERP"', "timeline[1]",
     "at least one parameter"),
    ('action = "emergency_brake"', 'actio = "emergency_brake"', "timeline[1]", "missing field 'action'"),
    ('[scenario]\n', '[scenario]\nsafeguards = "maybe"\n', "scenario.safeguards", "valid boolean"),
]


@pytest.mark.parametrize("old,new,field,why", MALFORMED, ids=[m[2] + ":" + m[3][:20] for m in MALFORMED])
def test_malformed_files_are_refused_with_line_and_entry(tmp_path, capsys, old, new, field, why) -> None:
    p = tmp_path / "theirs.toml"
    p.write_text(GOOD.replace(old, new))
    with pytest.raises(ScenarioError) as ei:
        load_scenario(str(p))
    (loc, fld, msg), *_ = ei.value.problems
    assert fld == field and why in msg, (loc, fld, msg)
    assert loc.startswith(str(p)) and (":" in loc[len(str(p)):]), loc  # the line
    assert main(["demo", str(p), "--headless", "--no-compare"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and field in err


def test_a_refused_step_is_a_line_never_a_traceback(tmp_path) -> None:
    """Steps the venue refuses (no such window, an account mode for an unknown account) say so and the
    run goes on to the end."""
    text = GOOD.replace('action = "emergency_brake"\n', 'action = "emergency_brake"\n\n[[timeline]]\nat = "5m"\n'
                        'action = "cancel_maintenance"\nwindow_id = "nope"\n\n[[timeline]]\nat = "5m"\n'
                        'action = "approve_refunds"\nfund = "treasury"\n\n[[timeline]]\nat = "6m"\n'
                        'action = "release_brake"\n')
    p = tmp_path / "refused.toml"
    p.write_text(text)
    run = ScenarioRun(str(p))
    try:
        run.run()
        assert any("refused" in ln.text and "nope" in ln.text for ln in run.lines), [ln.text for ln in run.lines]
        assert run.done
    finally:
        run.close()


# ---- the comparison ----------------------------------------------------------------------------------
def test_headless_demo_shows_as_it_happened_and_the_guard_rails_side_by_side(tmp_path, capsys) -> None:
    out = tmp_path / "r.json"
    main(["demo", SHORT, "--headless", "--report", str(out)])
    text = capsys.readouterr().out
    rep = json.loads(out.read_text())
    assert rep["safeguards"] == {"requested": False, "available": True, "as_happened": False} and rep["as_happened"]
    cmp = rep["compare"]
    assert cmp["as_happened"] == "safeguards_off"
    assert cmp["safeguards_off"] == rep["impact"]
    assert cmp["other"]["safeguards"]["requested"] is True
    assert cmp["safeguards_off"]["liquidations"] > 0 and cmp["safeguards_on"]["liquidations"] == 0
    for k in ("liquidated_notional", "bad_debt", "socialized_loss", "refunds_proposed", "refunds_paid_total",
              "downtime_ms"):
        assert k in cmp["safeguards_on"]
    assert "guard rails off (as it happened)" in text and "guard rails on" in text
    assert "liquidated notional" in text and "the second run took" in text
    # overridden: the guard rails on first, the incident as it happened second
    main(["demo", SHORT, "--headless", "--safeguards", "--report", str(out)])
    capsys.readouterr()
    on = json.loads(out.read_text())
    assert on["safeguards"]["requested"] is True and not on["as_happened"]
    assert on["compare"]["safeguards_on"] == on["impact"]
    assert on["compare"]["safeguards_off"] == cmp["safeguards_off"]  # same seed, same other run
    main(["demo", SHORT, "--headless", "--no-compare", "--report", str(out)])
    assert "compare" not in json.loads(out.read_text()) and "guard rails on" not in capsys.readouterr().out
