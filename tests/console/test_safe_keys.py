"""Safe keys: irreversible actions confirm with Cancel focused, reasons are required and never canned,
no single letter acts in a dangerous dialog, no key means two things on one screen, a rollback of a
venue that is not braked needs an override and a stale preview is recomputed at confirm."""

import pytest
from textual.widgets import Button, Input

from console.modals.brake import BrakeModal
from console.modals.confirm import ConfirmDialog
from console.modals.release import ReleaseModal
from console.modals.rollback import RollbackModal
from console.screens.alerts import AlertsScreen
from console.screens.refunds import RefundsScreen
from console.screens.snapshots import SnapshotsScreen
from console.screenshots import TRIP
from tests.kit import DESK

from .test_flows import messages, text_of

pytestmark = pytest.mark.asyncio


async def test_ctrl_q_asks_first_with_cancel_focused(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press("ctrl+q")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ConfirmDialog) and modal.id == "quit-modal"
        assert modal.focused is modal.query_one("#cancel", Button)
        await pilot.press("enter")  # Enter on Cancel: still here
        await pilot.pause()
        assert app.is_running and not isinstance(app.screen, ConfirmDialog)
        await pilot.press("ctrl+q", "tab", "enter")  # Tab to Quit, Enter
        await pilot.pause()
        assert app.return_code == 0 and not app.is_running


async def test_brake_dialog_ignores_y_and_requires_a_typed_reason(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press("ctrl+b")
        modal = app.screen
        assert isinstance(modal, BrakeModal)
        assert modal.query_one("#brake-reason", Input).value == ""  # nothing canned
        await pilot.press("y", "n")  # single letters never act: with Cancel focused they go into the reason
        await pilot.pause()
        assert app.screen is modal and not app.gateway.status()["brake_engaged"]
        reason = modal.query_one("#brake-reason", Input)
        assert reason.value == "yn" and modal.focused is reason
        reason.value = ""
        modal.query_one("#cancel", Button).focus()
        await pilot.pause()
        trip = modal.query_one("#trip", Button)
        assert trip.disabled
        modal.action_confirm()  # even called directly: no reason, no brake
        await pilot.pause()
        assert app.screen is modal and "reason is required" in text_of(modal.query_one("#brake-error"))
        await pilot.press("shift+tab", *"   ", "enter")  # blanks are no reason
        assert trip.disabled and app.screen is modal
        await pilot.press(*"oracle feed corrupt", "enter")
        assert not trip.disabled and modal.focused is trip  # Enter in the reason only moves to Trip
        assert not app.gateway.status()["brake_engaged"]
        await pilot.press("enter")
        await pilot.pause()
        assert app.gateway.status()["brake_engaged"]
        assert any(a["reason"] == "oracle feed corrupt" for a in app.gateway.audit(50, "emergency_brake"))


async def test_release_requires_a_typed_reason_and_ignores_y(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press(*TRIP, "ctrl+r")
        modal = app.screen
        assert isinstance(modal, ReleaseModal)
        assert modal.query_one("#release-reason", Input).value == ""  # nothing canned
        assert modal.query_one("#release", Button).disabled
        await pilot.press("y")  # a single letter never acts: it goes into the reason
        await pilot.pause()
        assert app.screen is modal and app.gateway.status()["brake_engaged"]
        assert modal.query_one("#release-reason", Input).value == "y"
        await pilot.press("backspace", *"feed fixed, checks pass", "enter", "enter")
        await pilot.pause()
        assert not app.gateway.status()["brake_engaged"]
        assert any(a["reason"] == "feed fixed, checks pass" for a in app.gateway.audit(50, "release_brake"))


async def test_ctrl_l_confirms_with_a_required_reason_both_ways(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press("ctrl+l")
        modal = app.screen
        assert isinstance(modal, ConfirmDialog) and modal.focused.id == "cancel"
        assert modal.query_one("#confirm", Button).disabled
        await pilot.press("enter")  # Cancel
        await pilot.pause()
        assert not app.gateway.status()["liquidations_paused"]
        await pilot.press("ctrl+l", "shift+tab", *"bad marks on BTC", "enter", "enter")
        await pilot.pause()
        assert app.gateway.status()["liquidations_paused"]
        assert any(a["reason"] == "bad marks on BTC" for a in app.gateway.audit(50, "pause_liquidations"))
        await pilot.press("ctrl+l")  # resume asks too, with its own reason
        assert isinstance(app.screen, ConfirmDialog) and "RESUME" in str(app.screen.query_one("#dialog-title").render())
        await pilot.press("shift+tab", *"marks verified", "enter", "enter")
        await pilot.pause()
        assert not app.gateway.status()["liquidations_paused"]
        assert any(a["reason"] == "marks verified" for a in app.gateway.audit(50, "resume_liquidations"))
        assert not any("from console" in (a["reason"] or "") for a in app.gateway.audit(50, ""))  # nothing canned


async def test_t_means_alerts_on_the_refunds_screen_too(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press("r")
        assert isinstance(app.screen, RefundsScreen)
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, AlertsScreen)


async def test_rollback_on_a_braked_venue_needs_no_override(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press(*TRIP, "s", "enter", "ctrl+k")
        modal = app.screen
        assert isinstance(modal, RollbackModal) and not modal.needs_override
        assert not modal.query("#override")
        sid = modal.p["snapshot_id"]
        modal.query_one("#confirm-id", Input).value = sid
        modal.query_one("#confirm-reason", Input).value = "corrupted marks"
        await pilot.pause()
        await pilot.click("#confirm")
        await pilot.pause()
        assert any(f"Rolled back to {sid}" in m for m in messages(app))


async def test_rollback_of_a_live_venue_needs_the_override_and_recomputes_a_stale_preview(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press("s", "enter", "ctrl+k")
        screen = app.screen_stack[-2]
        assert isinstance(screen, SnapshotsScreen)
        modal = app.screen
        assert isinstance(modal, RollbackModal) and modal.needs_override
        assert "NOT engaged" in text_of(modal.query_one("#override-warning"))
        sid, shown = modal.p["snapshot_id"], modal.p["discarded_commands"]
        modal.query_one("#confirm-id", Input).value = sid
        modal.query_one("#confirm-reason", Input).value = "corrupted marks"
        await pilot.pause()
        assert modal.query_one("#confirm", Button).disabled  # not without the override
        modal.action_confirm()
        assert "override" in text_of(modal.query_one("#confirm-error"))
        modal.query_one("#override").value = True
        await pilot.pause()
        app.desk.drive(10)  # the venue moves on while the dialog is open: the preview is stale
        moved = app.gateway.status()["seq"] - screen.preview_seq
        assert moved > 0
        await pilot.click("#confirm")
        await pilot.pause()
        assert screen.preview_seq is not None
        fresh = shown + moved
        assert any(f"Rolled back to {sid}; {fresh:,} commands" in m for m in messages(app)), messages(app)


async def test_typing_as_a_dialog_opens_goes_into_the_reason_and_confirms_only_on_enter_twice(desk_app):
    """At 3 a.m. an operator opens the brake and starts typing why: with Cancel focused the letters
    used to go nowhere. They go into the reason; Enter then moves to Trip, and only a second Enter trips."""
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press("ctrl+b")
        modal = app.screen
        assert isinstance(modal, BrakeModal) and modal.focused is modal.query_one("#cancel", Button)
        await pilot.press(*"oracle zeroed", "enter")
        await pilot.pause()
        assert modal.query_one("#brake-reason", Input).value == "oracle zeroed"
        assert app.screen is modal and not app.gateway.status()["brake_engaged"]
        assert modal.focused is modal.query_one("#trip", Button)
        await pilot.press("enter")
        await pilot.pause()
        assert app.gateway.status()["brake_engaged"]
        assert any(a["reason"] == "oracle zeroed" for a in app.gateway.audit(50, "emergency_brake"))


async def test_release_checks_arriving_between_compose_and_mount_are_shown(desk_app):
    """Live, the checks are read in a worker; a fast answer could land after the dialog composed
    "running the validation checks…" but before it was mounted, and the dialog then said "running"
    forever with Release disabled (seen in a sandbox console, twice in two tries)."""

    class Racy(ReleaseModal):
        answered = False

        def compose_body(self):
            yield from super().compose_body()
            if not self.answered:  # the worker's answer, in the window (once)
                self.answered = True
                self.load([])

    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press(*TRIP)
        modal = Racy(None)
        app.push_screen(modal)
        await pilot.pause()
        await pilot.pause()
        assert "every validation check passes" in text_of(modal.query_one("#checks"))
        await pilot.press(*"all clear", "enter")
        assert not modal.query_one("#release", Button).disabled


async def test_a_burst_of_typing_as_a_dialog_opens_keeps_every_character(desk_app):
    """A terminal delivers a fast typist's keys in one burst: the keys queued behind the first must
    follow it into the reason (spaces included), not go to the button that had the focus."""
    from textual import events

    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press("ctrl+b")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, BrakeModal)
        for ch in "feed is down":
            app.post_message(events.Key("space" if ch == " " else ch, ch))
        await pilot.pause()
        await pilot.pause()
        assert app.screen is modal and not app.gateway.status()["brake_engaged"]
        assert modal.query_one("#brake-reason", Input).value == "feed is down"


async def test_the_typed_confirmation_does_not_look_filled_in(desk_app):
    """The rollback's typed confirmation showed the snapshot id itself as the empty field's placeholder,
    so an empty field read as already filled in. It now says what to type."""
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press("s", "enter", "ctrl+k")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, RollbackModal)
        field = modal.query_one("#confirm-id", Input)
        assert field.value == "" and field.placeholder.startswith("type ") and field.placeholder.endswith(" here")
