"""No screen ends the app: every screen visited at several moments of the live demo, the script and
the market running at high speed, and again after ``ctrl+t`` takes the desk."""

import pytest

from console.demo import demo_app
from console.widgets.tabs import SCREEN_KEYS
from engine.sim.runner import ScenarioRun
from tests.kit import WIDE, wait_until_async

from .test_flows import text_of

MINUTE = 60_000


async def _until(pilot, cond, what: str, timeout: float = 60.0) -> None:
    await wait_until_async(cond, timeout, what=what, pilot=pilot, interval=0.02)


async def _visit_every_screen(pilot, moment: str) -> None:
    app = pilot.app
    for mode, key in SCREEN_KEYS.items():
        if app.director.acting:  # the script is on a screen of its own: let it finish first
            await _until(pilot, lambda: not app.director.acting, f"the script's step ({moment})")
        await pilot.press(key)
        await pilot.pause()
        assert app.is_running, f"the app ended on {mode} ({moment})"
        if app.director.acting is None and getattr(app.screen, "NAME", None) == mode:
            # the first visit's screen is drawn with the venue's data (not an empty shell)
            assert "seq" in text_of(app.screen.query_one("#banner")), f"{mode} ({moment}) shows no banner"
    assert app.errors == [], f"errors caught while visiting ({moment}): {app.errors[0][2]}"


@pytest.mark.asyncio
async def test_every_screen_at_several_moments_of_the_live_demo_and_after_takeover() -> None:
    run = ScenarioRun("paradex-2026-01", accounts=60)
    app = demo_app(run, speed=5000, beat=0.01)
    director = app.director
    try:
        async with app.run_test(size=WIDE) as pilot:
            await _visit_every_screen(pilot, "at the start")  # each screen's first visit, the clock running
            await _until(pilot, lambda: run.now - run.start >= 40 * MINUTE, "the maintenance window")
            await _visit_every_screen(pilot, "during maintenance")
            await _until(pilot, lambda: "emergency_brake" in director.performed, "the brake")
            await _visit_every_screen(pilot, "brake engaged")
            await pilot.press("ctrl+t")  # take the desk: the market runs on, the script waits
            assert not director.scripted
            await _visit_every_screen(pilot, "after ctrl+t")
            await pilot.press("s")
            await pilot.pause()
            await _visit_every_screen(pilot, "after ctrl+t, later")
            await pilot.press("ctrl+t")  # hand it back: the script catches up and plays to the end
            await _until(pilot, lambda: director.report is not None, "the end of the scenario", timeout=120)
            await _visit_every_screen(pilot, "after the end")
            assert app.is_running
        assert app.return_code in (None, 0)  # run_test re-raises an exception that ended the app
    finally:
        run.close()


@pytest.mark.asyncio
async def test_a_failing_screen_refresh_is_logged_and_notified_not_a_crash(desk_app, monkeypatch, caplog) -> None:
    from console.screens.audit import AuditScreen

    def broken(self, vm) -> None:
        raise KeyError("no_such_field")

    monkeypatch.setattr(AuditScreen, "show", broken)
    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("a")
        await pilot.pause()
        app.refresh_now()
        app.refresh_now()  # the same error again: logged in full once, notified once
        await pilot.pause()
        assert app.is_running and app.screen.NAME == "audit"
        assert app.errors and app.errors[0][0] == "render audit" and "no_such_field" in app.errors[0][1]
        assert "Traceback" in app.errors[0][2]
        notes = [n for n in app._notifications if "render audit failed" in n.title]
        assert len(notes) == 1 and notes[0].severity == "error"
        await pilot.press("d")
        await pilot.pause()
        assert app.screen.NAME == "dashboard"  # the other screens carry on
    assert any("render audit failed" in r.getMessage() for r in caplog.records)
