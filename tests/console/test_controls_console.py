"""Operator controls from the console: cancel / reschedule / extend the selected maintenance window, the
withdrawals pause in the venue controls, the selected account's mode and orders. Each opens a confirmation
with Cancel focused and a required reason; a role that may not is refused before any dialog opens."""

import pytest
from textual.widgets import Button, Input, Select

from console.modals.confirm import ConfirmDialog
from console.modals.venue import VenueModal
from console.widgets.banner import StatusBanner
from tests.kit import DESK

from .test_flows import messages, text_of

pytestmark = pytest.mark.asyncio
MIN = 60_000


def _window(app, wid: str = "mw-1", start_in: int = 30 * MIN, duration: int = 15 * MIN) -> int:
    start = app.gateway.status()["now"] + start_in
    out = app.gateway.schedule_maintenance(wid, ["BTC-USD-PERP"], start, duration, "scale_up", reason="drill")
    assert out.ok, out.message
    return start


def _win(app, wid: str = "mw-1") -> dict:
    return next(w for w in app.gateway.maintenance_windows() if w["window_id"] == wid)


async def _on_maintenance(app, pilot) -> None:
    await pilot.press("m")
    await pilot.pause()
    app.refresh_now()
    await pilot.pause()
    app.screen.query_one("#mw-table").focus()
    await pilot.pause()


async def test_cancel_the_selected_window_cancel_focused_and_a_reason_required(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        _window(app)
        await _on_maintenance(app, pilot)
        await pilot.press("X")
        await pilot.pause()
        modal = app.screen
        assert modal.id == "cancel-window-modal" and app.focused.id == "cancel"
        assert "never run" in text_of(modal.query_one("#confirm-explain"))
        assert modal.query_one("#confirm", Button).disabled
        await pilot.press("enter")  # Enter on the focused Cancel: nothing happens
        await pilot.pause()
        assert _win(app)["phase"] == "scheduled"
        await pilot.press("X")
        await pilot.pause()
        await pilot.press("shift+tab", *"not needed", "enter", "enter")
        await pilot.pause()
        assert _win(app)["phase"] == "canceled", messages(app)
        assert any(a["reason"] == "not needed" for a in app.gateway.audit(50, "cancel_maintenance"))
        app.refresh_now()
        await pilot.pause()
        assert "canceled" in str(app.screen.query_one("#mw-table").get_row_at(0))
        await pilot.press("X")  # a finished window: refused before a dialog
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog) and app.screen.id != "cancel-window-modal"
        assert any("already finished" in m for m in messages(app))


async def test_reschedule_and_extend_the_selected_window(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        start = _window(app)
        await _on_maintenance(app, pilot)
        await pilot.press("T")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ConfirmDialog) and app.focused.id == "cancel"
        modal.query_one("#field-value", Input).value = "25:00"
        modal.query_one("#field-reason", Input).value = "vendor late"
        await pilot.pause()
        assert modal.query_one("#confirm", Button).disabled  # a bad start, no confirm
        assert "00:00 to 23:59" in text_of(modal.query_one("#field-error"))
        modal.query_one("#field-value", Input).value = "+2h"
        await pilot.pause()
        assert not modal.query_one("#confirm", Button).disabled
        await pilot.click("#confirm")
        await pilot.pause()
        w = _win(app)
        assert w["start_ts"] == app.gateway.status()["now"] + 120 * MIN != start, messages(app)
        assert any(a["reason"] == "vendor late" for a in app.gateway.audit(50, "reschedule_maintenance"))
        await pilot.press("E")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ConfirmDialog) and app.focused.id == "cancel"
        modal.query_one("#field-value", Input).value = "10"  # not longer than 15 minutes
        modal.query_one("#field-reason", Input).value = "bigger migration"
        await pilot.pause()
        assert modal.query_one("#confirm", Button).disabled
        modal.query_one("#field-value", Input).value = "45"
        await pilot.pause()
        await pilot.click("#confirm")
        await pilot.pause()
        assert _win(app)["duration_ms"] == 45 * MIN, messages(app)


async def test_withdrawals_pause_from_the_venue_controls_shows_in_the_banner_and_dashboard(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press("o")
        modal = app.screen
        assert isinstance(modal, VenueModal) and "withdrawals enabled" in text_of(modal.query_one("#venue-state"))
        modal.query_one("#venue-control", Select).value = "withdrawals"
        await pilot.pause()
        modal.query_one("#venue-value", Select).value = "pause"
        modal.query_one("#venue-reason", Input).value = "bridge incident"
        await pilot.pause()
        await pilot.click("#confirm")
        await pilot.pause()
        assert app.gateway.status()["withdrawals_enabled"] is False, messages(app)
        assert any(a["reason"] == "bridge incident" for a in app.gateway.audit(50, "set_withdrawals"))
        app.refresh_now()
        await pilot.pause()
        assert "WITHDRAWALS PAUSED" in text_of(app.screen.query_one(StatusBanner))
        assert "withdrawals     PAUSED" in text_of(app.screen.query_one("#fund-body"))


async def test_freeze_the_selected_account_and_cancel_its_orders(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        gw = app.gateway
        await pilot.press("c")
        await pilot.pause()
        app.refresh_now()
        await pilot.pause()
        screen = app.screen
        with_orders = next(a["account"] for a in gw.accounts(500) if a["orders"])
        screen.current = with_orders
        n = len(gw.account(with_orders)["orders"])
        await pilot.press("X")
        await pilot.pause()
        modal = app.screen
        assert modal.id == "cancel-orders-modal" and app.focused.id == "cancel"
        assert modal.query_one("#confirm", Button).disabled  # no reason yet
        modal.query_one("#field-reason", Input).value = "runaway bot"
        await pilot.pause()
        await pilot.click("#confirm")
        await pilot.pause()
        assert gw.account(with_orders)["orders"] == [], messages(app)
        assert any(a["reason"] == "runaway bot" for a in gw.audit(50, "cancel_account_orders")) and n
        await pilot.press("M")
        await pilot.pause()
        modal = app.screen
        assert modal.id == "account-mode-modal" and app.focused.id == "cancel"
        assert modal.query_one("#field-value", Select).value == "frozen"
        await pilot.press("shift+tab", *"compromised keys", "enter", "enter")
        await pilot.pause()
        assert gw.account(with_orders)["mode"] == "frozen", messages(app)
        screen._detail()
        assert "FROZEN" in text_of(screen.query_one("#acct-detail"))


async def test_a_viewer_is_refused_before_any_control_dialog_opens(desk_app):
    app = desk_app(role="viewer", operator="victor")
    async with app.run_test(size=DESK) as pilot:
        _window_as_admin = app.node.call  # the viewer cannot schedule; the venue's own actor can
        _window_as_admin({"type": "schedule_maintenance", "window_id": "mw-9", "markets": ["BTC-USD-PERP"],
                          "start_ts": app.gateway.status()["now"] + 30 * MIN, "duration_ms": 15 * MIN,
                          "kind": "scale_up", "reason": "drill"},
                         actor=__import__("engine.node.roles", fromlist=["Actor"]).Actor("ada", "admin"))
        await _on_maintenance(app, pilot)
        for key in ("X", "T", "E"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen.id not in ("cancel-window-modal",) and not isinstance(app.screen, ConfirmDialog)
        await pilot.press("c")
        await pilot.pause()
        for key in ("M", "X"):
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmDialog)
        assert sum("needs operator" in m for m in messages(app)) >= 5, messages(app)
        assert _win(app, "mw-9")["phase"] == "scheduled"


async def test_every_validation_check_is_listed_at_the_gate_and_in_the_window_passed_or_failed(desk_app):
    """Issue 16: which validation checks ran at maintenance validation and at release, each passed or
    failed. A window held at validation by a zero mark lists all six checks, the failing one marked;
    once it passes, the panel says all passed; the release dialog lists every check too."""
    from engine.api.vocabulary import VALIDATION_CHECKS

    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        start = _window(app, start_in=1 * MIN, duration=5 * MIN)
        app.desk.system({"type": "set_safeguards", "enabled": False, "reason": "drill"})
        app.desk.system({"type": "load_market_state", "market": "BTC-USD-PERP", "mark_price": "0",
                         "funding_index": "0", "source": "db-restart"})
        app.desk.system({"type": "tick", "ts": start + 5 * MIN})
        assert _win(app)["phase"] == "validation" and _win(app)["failing"] == ["indices_bounded"]
        await _on_maintenance(app, pilot)
        panel = text_of(app.screen.query_one("#mw-current"))
        assert "validation: held, a check fails" in panel
        for name, means in VALIDATION_CHECKS.items():
            assert ("✗ " if name == "indices_bounded" else "✓ ") + means in panel, name
        # the mark restored: the next tick passes the gate and the panel says so
        app.desk.system({"type": "load_market_state", "market": "BTC-USD-PERP", "mark_price": "97000",
                         "funding_index": "0", "source": "db-restart"})
        app.desk.system({"type": "tick", "ts": start + 6 * MIN})
        assert _win(app)["phase"] != "validation"
        app.refresh_now()
        await pilot.pause()
        assert "validation passed: all 6 checks ✓" in text_of(app.screen.query_one("#mw-current"))
        # at the release gate (the brake tripped, the mark zeroed again): the failing check and the others
        await pilot.press("ctrl+b", *"drill", "enter", "enter")
        await pilot.pause()
        assert app.gateway.status()["brake_engaged"], messages(app)
        app.desk.system({"type": "load_market_state", "market": "BTC-USD-PERP", "mark_price": "0",
                         "funding_index": "0", "source": "db-restart", "ts": app.gateway.status()["now"]})
        assert app.gateway.checks()
        await pilot.press("ctrl+r")
        await pilot.pause()
        checks = text_of(app.screen.query_one("#checks"))
        assert "✗ indices_bounded" in checks and "release is refused" in checks
        assert "✓ " + ", ".join(n for n in VALIDATION_CHECKS if n != "indices_bounded") in checks
        await pilot.press("escape")
        await pilot.pause()
