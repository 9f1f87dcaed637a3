"""``perpdesk demo`` in the console: the scenario plays in the real app, its operator steps go through
the screens (modals with their previews), captions narrate, and the operator can take the desk."""

import asyncio

import pytest
from textual.css.query import NoMatches

from console.demo import demo_app, play, summary
from console.modals.brake import BrakeModal
from console.modals.compute import ComputeModal
from console.modals.rollback import RollbackModal
from console.palette import DeskCommands
from console.screens.refunds import RefundsScreen
from console.screens.snapshots import SnapshotsScreen
from console.widgets.banner import StatusBanner
from console.widgets.caption import CaptionBar
from engine.sim.runner import OPERATOR_ACTIONS, ScenarioRun
from tests.kit import DEMO, wait_until_async

from .test_flows import text_of


async def _until(pilot, cond, what: str, timeout: float = 10.0) -> None:
    """Wait for ``cond``; a widget not composed yet (a dialog on top whose children are still
    mounting: NoMatches) is "not yet", not a failure."""

    def ready() -> bool:
        try:
            return bool(cond())
        except NoMatches:
            return False

    try:
        await wait_until_async(ready, timeout, what=what, pilot=pilot, interval=0.02)
    except AssertionError as e:
        app = pilot.app
        extra = [text_of(w) for w in app.screen.query("#cf-error, #cf-totals, #cf-suspects")]
        raise AssertionError(f"{e}: {app.screen}, {extra}, "
                             f"notes {[n.message for n in app._notifications]}") from None


def _advance_to_next_operator_step(director) -> object:
    """Step the market (the app's own stepping) until the script has an operator step due."""
    while not director.queue:
        assert not director.run.done, "the scenario ended before the next operator step"
        director.advance()
    return director.queue[0][1]


def _banner(app) -> str:
    return text_of(app.screen.query_one(StatusBanner))


def _caption(app) -> str:
    return text_of(app.screen.query_one(CaptionBar))


@pytest.mark.asyncio
async def test_demo_plays_through_the_console_with_captions_and_takeover() -> None:
    run = ScenarioRun("paradex-2026-01", accounts=60, safeguards=False)
    app = demo_app(run, speed=1000, beat=0.05, autoplay=False)
    director = app.director
    try:
        async with app.run_test(size=DEMO) as pilot:
            await pilot.pause()
            assert "paradex-2026-01" in _caption(app) and "next" in _caption(app)

            # -- the brake: the modal with its preview first, then the trip ----------------------
            e = _advance_to_next_operator_step(director)
            assert e.action == "emergency_brake"
            assert not app.gateway.status()["brake_engaged"]  # the runner did not trip it itself
            app.refresh_now()
            assert "Operators trip the brake" in _caption(app)
            seen_preview = []
            app.run_worker(director.perform_next(), group="demo-script")
            await _until(pilot, lambda: isinstance(app.screen, BrakeModal)
                         and "orders to cancel" in text_of(app.screen.query_one("#brake-preview")), "the brake preview")
            seen_preview.append(app.gateway.status()["brake_engaged"])
            assert "script: emergency brake" in text_of(app.screen_stack[-2].query_one(CaptionBar))
            await _until(pilot, lambda: not director.acting, "the brake step to finish")
            assert seen_preview == [False]  # the preview was on screen before the brake was tripped
            assert "BRAKE ENGAGED" in _banner(app)
            assert app.screen.query_one(StatusBanner).has_class("-brake")

            # -- the rollback: snapshots screen, preview, typed confirmation ---------------------
            e = _advance_to_next_operator_step(director)
            assert e.action == "rollback"
            sid = run.snapshot_ref(e.snapshot)
            app.run_worker(director.perform_next(), group="demo-script")
            await _until(pilot, lambda: isinstance(app.screen, RollbackModal), "the rollback confirmation")
            await _until(pilot, lambda: any(w.value == sid for w in app.screen.query("#confirm-id")),  # composed yet?
                         "the typed snapshot id")
            assert run.rollback is None
            await _until(pilot, lambda: not director.acting, "the rollback step to finish")
            assert isinstance(app.screen, SnapshotsScreen)
            assert f"Rolled back to {sid}" in text_of(app.screen.query_one("#preview-totals"))
            director.advance()
            assert run.rollback is not None and run.rollback["snapshot_id"] == sid

            # -- takeover: the next scripted step waits while the market keeps running ----------
            director.toggle_takeover()
            assert "You have the desk" in _caption(app)
            e = _advance_to_next_operator_step(director)
            assert e.action == "release_brake"
            due = run.now
            director.speed = 1  # the app's clock ticks below barely move engine time
            for _ in range(2):
                director.advance()  # the market keeps running
                director.tick()  # the app's clock: would start the script's step if it had the desk
                await pilot.pause(0.02)  # (the point: time for the step to start if it wrongly could)
            assert run.now > due and director.acting is None
            assert app.gateway.status()["brake_engaged"]  # not released: the script does not have the desk
            assert [q[1].action for q in director.queue] == ["release_brake"]
            director.speed = 1000
            assert "1 scripted step waiting" in _caption(app)
            director.toggle_takeover()  # hand it back: the waiting step is performed
            director.tick()
            await _until(pilot, lambda: not director.queue and not director.acting, "the release")
            assert not app.gateway.status()["brake_engaged"]
            assert "BRAKE ENGAGED" not in _banner(app)

            # -- the rest: reopen, refunds computed in the modal, approved, paid ------------------
            saw_compute = []
            while not run.done or director.queue:
                if director.queue:
                    nxt = director.queue[0][1].action
                    task = asyncio.ensure_future(director.perform_next())
                    if nxt == "compute_refunds":
                        await _until(pilot, lambda: isinstance(app.screen, ComputeModal)
                                     and app.screen.report is not None, "the computed refunds")
                        saw_compute.append(len(app.screen.report["proposals"]))
                    await task
                else:
                    director.advance()
            assert saw_compute and saw_compute[0] > 0
            assert director.performed == [a for a in ("emergency_brake", "rollback", "release_brake", "take_snapshot",
                                                      "set_market_mode", "compute_refunds", "approve_refunds",
                                                      "pay_refunds")]
            assert isinstance(app.screen, RefundsScreen)
            app.refresh_now()
            await pilot.pause()
            refunds = app.gateway.refunds()
            assert refunds and all(r["status"] == "paid" for r in refunds)
            assert all(r["approver"] == "risk-lead" and r["proposer"] == "oncall" for r in refunds)
            assert app.screen.query_one("#refund-table").row_count == len(refunds)
            director.tick()
            assert director.report is not None and director.report["rollback"] and director.report["brake"]
            assert director.report["refunds"]["paid_count"] == len(refunds)
            assert "desk is yours" in _caption(app)
    finally:
        run.close()


@pytest.mark.asyncio
async def test_pause_stops_the_clock() -> None:
    run = ScenarioRun("calm", accounts=30)
    app = demo_app(run, speed=500, beat=0.01)
    try:
        async with app.run_test(size=DEMO) as pilot:
            await _until(pilot, lambda: run.now > run.start, "the clock to run")
            await pilot.press("f7")
            await _until(pilot, lambda: "PAUSED" in _caption(app), "the demo to pause")
            t = run.now
            await pilot.pause(0.3)  # (the point: wall time passes and the paused clock must not move)
            assert run.now == t and "PAUSED" in _caption(app)
            await pilot.press("f7")
            await _until(pilot, lambda: run.now > t, "the clock to resume")
            await pilot.press("ctrl+t")
            assert not app.director.scripted and "You have the desk" in _caption(app)
            # the palette offers it too: hand the desk back from there
            hits = [hit async for hit in DeskCommands(app.screen).discover()]
            back = next(h for h in hits if str(h.display) == "Demo: Take/give the desk")
            await back.command()
            await pilot.pause()
            assert app.director.scripted and "You have the desk" not in _caption(app)
    finally:
        run.close()


def test_headless_report_is_unchanged_by_the_operator_hook() -> None:
    """Without ``operator=`` the runner performs every step itself (the headless path); a driver that is
    handed the operator steps and performs the same commands at the same engine time gets the very same
    journal and report: the hook changes who acts, nothing else."""
    # (80 accounts: with liquidations bounded by the bankruptcy price, 60 accounts no longer produce the
    # thin-book second wave the scenario expects without safeguards)
    a = ScenarioRun("paradex-2026-01", accounts=80, safeguards=False)
    b = ScenarioRun("paradex-2026-01", accounts=80, safeguards=False)
    handed = []

    def driver(ts, e) -> None:
        assert ts == b.now
        handed.append(e.action)
        getattr(b, f"_do_{e.action}")(e)  # the same commands the runner would send

    b.operator = driver
    try:
        ra, rb = play(a), b.run()
        assert len(handed) == 8
        assert ra == rb and ra["expectations"]["ok"]
        assert ra["brake"] and ra["rollback"] and ra["refunds"]["paid_count"] > 0
        assert "expectations: met" in summary(ra)
    finally:
        a.close()
        b.close()


def test_an_operator_callback_receives_the_operator_steps_instead_of_the_runner() -> None:
    got = []
    run = ScenarioRun("paradex-2026-01", accounts=60, safeguards=False, operator=lambda ts, e: got.append(e.action))
    try:
        rep = run.run()
        assert got == ["emergency_brake", "rollback", "release_brake", "take_snapshot", "set_market_mode",
                       "compute_refunds", "approve_refunds", "pay_refunds"]
        assert set(got) <= set(OPERATOR_ACTIONS)
        assert rep["brake"] is None and rep["rollback"] is None  # nobody at the desk: nothing was done
        assert any(line.caption.startswith("Operators trip the brake") for line in run.lines)
    finally:
        run.close()


def test_the_caption_never_announces_a_step_that_may_not_happen():
    """The "next" line of the demo's caption showed an upcoming entry's caption even when its `if`
    could skip it (with the guard rails on, paradex's brake never comes). It now says on what the step
    depends and announces nothing."""
    from console.demo.desk import Director

    run = ScenarioRun("paradex-2026-01", accounts=20)
    run.setup()
    try:
        director = Director(None, run, 30.0, 0.0)
        while True:
            up = run.upcoming()
            assert up is not None, "paradex has a step with an `if`"
            if up[1].if_:
                break
            run.run_until(up[0] + 1)
        nxt = director.caption_text().plain.splitlines()[-1]
        assert nxt.endswith(f"{up[1].action.replace('_', ' ')} (only if {up[1].if_})")
        assert up[1].caption and up[1].caption not in nxt
    finally:
        run.close()


def test_the_caption_keeps_its_three_lines_on_a_narrow_terminal():
    """At 80 columns the caption's first line (scenario, engine time, speed and the key hints) wrapped
    and pushed the "next" line out of the bar's three rows. Narrow, the hints give way (the footer shows
    the keys) and the line never passes the bar's width."""
    from console.demo.desk import Director

    run = ScenarioRun("paradex-2026-01", accounts=20)
    run.setup()
    try:
        director = Director(None, run, 30.0, 0.0)
        wide = director.caption_text(156).plain.split("\n")
        assert "f8/f9 speed" in wide[0]
        for width in (78, 60, 30):
            first = director.caption_text(width).plain.split("\n")[0]
            assert len(first) <= width and "f8/f9" not in first and first.startswith(" DEMO ")
        assert director.caption_text(78).plain.split("\n")[2].startswith("next ")
    finally:
        run.close()
