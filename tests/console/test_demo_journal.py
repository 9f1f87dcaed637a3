"""Issue 16: a live demo and a headless demo of the same scenario and seed produce the same journal.

The script acts at its scripted engine time however long a person (or the script's pauses) takes: the
runner stops its step at a due operator entry and the market waits for the script. The one exception is a
desk taken over with ``ctrl+t``: what a person does then, and when, is theirs (docs/scenarios.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.demo import demo_app
from engine.sim.runner import ScenarioRun

SHORT = str(Path(__file__).resolve().parents[1] / "scenario" / "files" / "short-incident.toml")


def _journal(run: ScenarioRun) -> list[dict]:
    return [dict(c) for c in run.node.journal]


@pytest.mark.asyncio
async def test_live_and_headless_demo_of_the_same_seed_have_the_same_journal() -> None:
    headless = ScenarioRun(SHORT)
    live = ScenarioRun(SHORT)
    try:
        rep = headless.run()
        assert rep["brake"] and rep["rollback"] and rep["refunds"]["paid_count"] > 0
        app = demo_app(live, speed=5000, beat=0.01)
        app.tick_s = 0.02
        async with app.run_test(size=(160, 50)) as pilot:
            for _ in range(1500):
                if app.director.report is not None:
                    break
                await pilot.pause(0.02)
            assert app.director.report is not None, f"the live demo did not finish: {app.director.performed}"
        assert app.director.performed == ["take_snapshot", "emergency_brake", "rollback", "release_brake",
                                          "set_market_mode", "take_snapshot", "compute_refunds", "approve_refunds",
                                          "pay_refunds"]
        a, b = _journal(headless), _journal(live)
        diff = [(x, y) for x, y in zip(a, b, strict=False) if x != y][:4]
        assert not diff and len(a) == len(b), f"journals differ ({len(a)} vs {len(b)} rows): {diff}"
        assert headless.journal_digest() == live.journal_digest()
        live_rep = app.director.report
        assert live_rep["state_hash"] == rep["state_hash"]
        assert live_rep["refunds"]["paid_count"] == rep["refunds"]["paid_count"]
    finally:
        headless.close()
        live.close()
