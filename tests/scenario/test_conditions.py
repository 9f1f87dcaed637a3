"""Issue 16: a timeline entry's ``if`` decides whether its action is taken.

With the guard rails on, the corrupted data is quarantined (paradex) and the stale prices refused (dydx):
nothing unintended happens, so the operators do not brake, roll back or refund. As the venues ran, every
figure is what it was before ``if`` existed."""

from __future__ import annotations

import pytest

from console.cli import main
from engine.errors import PerpdeskError
from engine.sim.captions import ConditionError, parse_condition
from engine.sim.runner import HANDLERS, ScenarioRun
from engine.sim.scenario import ACTIONS, ScenarioError, load_scenario, parse_scenario
from engine.sim.simulator import PricePathError, load_price_path

from .test_scenario_files import GOOD

SMALL = 200

BRAKE = 'action = "emergency_brake"\n'


def _with_if(cond: str, extra: str = "") -> str:
    return GOOD.replace(BRAKE, BRAKE + f'reason = "r"\nif = "{cond}"\n{extra}')


def _commands(run: ScenarioRun) -> list[str]:
    return [c["type"] for c in run.node.journal]


# ---- the file --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cond,why", [
    ("wealth > 1", "unknown name 'wealth'"),
    ("liquidations >", "ends too early"),
    ("liquidations ** 2", "cannot read"),
    ("unintended.nowhere > 0", "'nowhere' is not the id of a fault"),
    ("since.later > 0", "'later' is not the id of this or an earlier timeline entry"),
])
def test_a_bad_if_is_refused_with_its_line(tmp_path, capsys, cond, why) -> None:
    text = _with_if(cond)
    p = tmp_path / "bad-if.toml"
    p.write_text(text)
    with pytest.raises(ScenarioError) as ei:
        load_scenario(str(p))
    (loc, fld, msg), *_ = ei.value.problems
    line = text.splitlines().index(f'if = "{cond}"') + 1
    assert (loc, fld) == (f"{p}:{line}", "timeline[1].if") and why in msg, (loc, fld, msg)
    assert main(["demo", str(p), "--headless", "--no-compare"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "timeline[1].if" in err and f":{line}" in err


def test_if_is_the_files_word_not_the_models() -> None:
    with pytest.raises(ScenarioError) as ei:
        parse_scenario(GOOD.replace(BRAKE, BRAKE + 'if_ = "liquidations > 0"\n'))
    assert "unknown field 'if_'" in ei.value.problems[0][2]
    sc = parse_scenario(_with_if("liquidations >= 0"))
    assert sc.timeline[1].if_ == "liquidations >= 0"


# ---- the run ---------------------------------------------------------------------------------------------
def test_a_false_if_skips_the_action_and_says_why() -> None:
    run = ScenarioRun(parse_scenario(_with_if("liquidations > 100000", 'caption = "Brake."\n'
                                              'caption_else = "No brake: nobody was hurt."\n')))
    try:
        rep = run.run()
        assert "emergency_brake" not in _commands(run)  # nothing journaled for it
        assert rep["brake"] is None
        assert rep["skipped"] == {"count": 1, "entries": [
            {"ts": run.start + 4 * 60_000, "action": "emergency_brake", "id": "brake", "if": "liquidations > 100000"}]}
        line = next(ln for ln in run.lines if ln.kind == "skipped")
        assert line.text == "skipped emergency brake [brake]: `if liquidations > 100000` does not hold"
        assert line.caption == "No brake: nobody was hurt."  # never the caption of what did not happen
        assert run.caption_for(run.sc.timeline[1]) == "No brake: nobody was hurt."
    finally:
        run.close()


def test_a_true_if_takes_the_action() -> None:
    run = ScenarioRun(parse_scenario(_with_if("liquidations >= 0")))
    try:
        rep = run.run()
        assert "emergency_brake" in _commands(run) and rep["brake"] is not None
        assert rep["skipped"] == {"count": 0, "entries": []}
        assert not [ln for ln in run.lines if ln.kind == "skipped"]
    finally:
        run.close()


def test_a_skipped_operator_step_is_not_handed_to_the_desk() -> None:
    handed = []
    run = ScenarioRun(parse_scenario(_with_if("liquidations > 100000")),
                      operator=lambda ts, e: handed.append(e.action))
    try:
        rep = run.run()
        assert handed == [] and rep["skipped"]["count"] == 1 and run.done
    finally:
        run.close()
    handed.clear()
    run = ScenarioRun(parse_scenario(_with_if("liquidations >= 0")), operator=lambda ts, e: handed.append(e.action))
    try:
        run.run()
        assert handed == ["emergency_brake"]
    finally:
        run.close()


# ---- the shipped scenarios -----------------------------------------------------------------------------
def _play(name: str, safeguards: bool) -> tuple[dict, list[str]]:
    run = ScenarioRun(name, accounts=SMALL, safeguards=safeguards)
    try:
        return run.run(), _commands(run)
    finally:
        run.close()


# with the guard rails on nothing unintended happens: these entries are skipped, nothing else
SKIPPED_ON = {
    "paradex-2026-01": ["emergency_brake", "rollback", "release_brake", "set_market_mode", "compute_refunds",
                        "approve_refunds", "pay_refunds"],
    "dydx-2025-10": ["emergency_brake", "release_brake", "set_market_mode", "compute_refunds", "approve_refunds",
                     "pay_refunds"],
    "cme-2025-11": [],
    "calm": [],
}


@pytest.mark.parametrize("name", sorted(SKIPPED_ON))
def test_with_the_guard_rails_on_nobody_acts_on_an_incident_that_did_not_happen(name: str) -> None:
    rep, cmds = _play(name, safeguards=True)
    assert rep["liquidations"]["unintended"] == 0
    assert rep["brake"] is None and rep["rollback"] is None
    assert rep["refunds"]["proposed_count"] == rep["refunds"]["approved_count"] == rep["refunds"]["paid_count"] == 0
    assert rep["impact"]["rollbacks"] == 0 and rep["impact"]["refunds_paid"] == 0
    assert not {"emergency_brake", "release_brake", "rollback", "credit"} & set(cmds)
    assert [s["action"] for s in rep["skipped"]["entries"]] == SKIPPED_ON[name]
    assert rep["skipped"]["count"] == len(SKIPPED_ON[name])
    assert rep["expectations"]["ok"], [c for c in rep["expectations"]["checks"] if not c["ok"]]


# as the venues ran (200 accounts): the figures before `if` existed, every one (nothing skipped)
AS_HAPPENED = {
    "paradex-2026-01": {"liquidations": 30, "by_fault": {"corrupt": 21, "thin-book": 9}, "accounts": 26,
                        "brake": {"canceled_orders": 72, "kept_tpsl": 132, "accounts_affected": 4}, "rollback": True,
                        "refunds": (72, "80922.12104", 72, 72, "80922.12104")},
    "dydx-2025-10": {"liquidations": 13, "by_fault": {"stale": 13}, "accounts": 11,
                     "brake": {"canceled_orders": 72, "kept_tpsl": 182, "accounts_affected": 4}, "rollback": False,
                     "refunds": (11, "155215.360659", 11, 11, "155215.360659")},
}


@pytest.mark.parametrize("name", sorted(AS_HAPPENED))
def test_as_the_venue_ran_every_figure_is_unchanged(name: str) -> None:
    rep, cmds = _play(name, safeguards=False)
    want = AS_HAPPENED[name]
    liq = rep["liquidations"]
    assert (liq["total"], liq["by_fault"], liq["accounts"]) == (want["liquidations"], want["by_fault"], want["accounts"])
    assert rep["brake"] == want["brake"] and (rep["rollback"] is not None) == want["rollback"]
    rf = rep["refunds"]
    assert (rf["proposed_count"], rf["proposed_total"], rf["approved_count"], rf["paid_count"],
            rf["paid_total"]) == want["refunds"]
    assert rep["skipped"] == {"count": 0, "entries": []}
    assert "emergency_brake" in cmds and "credit" in cmds


# ---- errors and the handler table ------------------------------------------------------------------------
def test_scenario_errors_are_perpdesk_errors_with_a_code(tmp_path) -> None:
    with pytest.raises(ConditionError) as ce:
        parse_condition("wealth > 1")
    assert isinstance(ce.value, PerpdeskError) and isinstance(ce.value, ValueError)
    assert ce.value.code == "bad_condition" and "wealth" in ce.value.message
    with pytest.raises(ScenarioError) as se:
        parse_scenario(_with_if("wealth > 1"))
    assert isinstance(se.value, PerpdeskError) and se.value.code == "scenario_refused"
    assert "timeline[1].if" in se.value.message
    p = tmp_path / "path.csv"
    p.write_text("time,value\n1,2\n")
    with pytest.raises(PricePathError) as pe:
        load_price_path(str(p), ["BTC-USD-PERP"])
    assert isinstance(pe.value, PerpdeskError) and isinstance(pe.value, ValueError)
    assert pe.value.code == "bad_price_path"


def test_every_action_has_one_handler() -> None:
    assert set(HANDLERS) == set(ACTIONS)
    assert all(callable(h) for h in HANDLERS.values())
