"""Small terminals: every dangerous dialog fits, its buttons are on screen, Tab reaches (and scrolls
to) every field; the banner never wraps: the database path gives way first, the tab bar stays."""

import pytest
from textual.containers import VerticalScroll
from textual.widgets import Button

from console.modals.brake import BrakeModal
from console.modals.compute import ComputeModal
from console.modals.rollback import RollbackModal
from console.screenshots import TRIP, scene_app
from console.widgets.banner import StatusBanner
from console.widgets.tabs import SCREEN_KEYS
from tests.kit import SMALL, WIDE

from .test_flows import text_of
from .test_refund_compute import bad_mark, open_compute

pytestmark = pytest.mark.asyncio


def _on_screen(app, widget) -> bool:
    return app.screen.region.contains_region(widget.region)


def _visible_in_body(modal, widget) -> bool:
    body = modal.query_one(VerticalScroll)
    return body.region.contains_region(widget.region) and _on_screen(modal.app, widget)


async def _tab_to(pilot, modal, wid: str, limit: int = 20) -> None:
    for _ in range(limit):
        if modal.focused is not None and modal.focused.id == wid:
            return
        await pilot.press("tab")
    raise AssertionError(f"Tab never reached #{wid}")


def _buttons_on_screen(app, modal, *ids: str) -> None:
    for bid in ids:
        assert _on_screen(app, modal.query_one(f"#{bid}", Button)), f"#{bid} is off screen"


async def test_brake_dialog_at_80x24(desk_app):
    app = desk_app()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("ctrl+b")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, BrakeModal)
        assert modal.query_one("#dialog").region.height <= 24
        _buttons_on_screen(app, modal, "cancel", "trip")
        await _tab_to(pilot, modal, "brake-reason")
        await pilot.pause()
        assert _visible_in_body(modal, modal.query_one("#brake-reason"))
        await pilot.press(*"drill", "enter", "enter")  # Enter moves to Trip, Enter trips
        await pilot.pause()
        assert app.gateway.status()["brake_engaged"]


async def test_rollback_dialog_at_80x24(desk_app):
    app = desk_app()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("s", "enter", "ctrl+k")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, RollbackModal)
        _buttons_on_screen(app, modal, "cancel", "confirm")
        for wid in ("override", "confirm-id", "confirm-reason"):
            await _tab_to(pilot, modal, wid)
            await pilot.pause()
            assert _visible_in_body(modal, modal.query_one(f"#{wid}")), wid
            _buttons_on_screen(app, modal, "cancel", "confirm")


@pytest.mark.parametrize("size", [(100, 30), (80, 24)], ids=["100x30", "80x24"])
async def test_refunds_compute_dialog_reason_and_buttons_reachable(desk_app, size):
    app = desk_app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        bad_mark(app)
        app.refresh_now()
        modal = await open_compute(app, pilot)
        assert isinstance(modal, ComputeModal)
        modal.compute()
        await pilot.pause()
        assert modal.report and modal.report["proposals"]
        _buttons_on_screen(app, modal, "cancel", "cf-compute", "cf-propose")
        await _tab_to(pilot, modal, "cf-reason")
        await pilot.pause()
        assert _visible_in_body(modal, modal.query_one("#cf-reason"))
        await pilot.press(*"bad mark", "enter")
        await pilot.pause()
        assert len(app.gateway.refunds()) == len(modal.report["proposals"])


async def test_the_banner_truncates_instead_of_wrapping():
    app = scene_app()
    long_db = "sqlite:////home/operator/.local/share/perpdesk/venues/production-eu-west-1/perpdesk.sqlite3"
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press(*TRIP)  # the brake adds to the first line
        await pilot.pause()
        banner = app.screen.query_one(StatusBanner)
        vm = dict(app.vm, identity=dict(app.vm["identity"], db=long_db))
        banner.show(vm)
        lines = text_of(banner).rstrip("\n").split("\n")
        assert len(lines) == 2, lines
        assert lines[0].lstrip().startswith("BRAKE ENGAGED") and "seq " in lines[0] and "engine time" in lines[0]
        assert "…" in lines[0] and long_db not in lines[0]  # the database path gave way, from its start
        assert "perpdesk.sqlite3" in lines[0]
        assert all(f" {k} " in lines[1] for k in SCREEN_KEYS.values())  # the tab bar is whole
        rendered = [s.text for s in app.screen.query_one(StatusBanner).render_lines(banner.region.reset_offset)]
        assert "Dashboard" in rendered[1] and "Alerts" in rendered[1]
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        banner = app.screen.query_one(StatusBanner)
        lines = [s.text for s in banner.render_lines(banner.region.reset_offset)]
        assert lines[0].strip().startswith("BRAKE ENGAGED")
        assert all(f" {k} " in lines[1] for k in SCREEN_KEYS.values()) and "Alerts" in lines[1], lines
        assert "db " not in lines[0]  # no room: the path went first


@pytest.mark.asyncio
async def test_the_dashboard_on_a_narrow_terminal_shows_what_an_operator_needs_first(desk_app):
    """At 80 columns the markets table used to scroll sideways after "Open int.", hiding the last
    minute's liquidations, the oracle's age and the guard rails, and the alerts had 20 columns. Narrow,
    the table leads with mode, mark, liquidations, oracle and guards, and the fund shares the width;
    wide again, every column is back."""
    from console.screens.dashboard import MARKET_COLUMNS, NARROW_COLUMNS
    from console.widgets.livetable import LiveTable

    app = desk_app()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#markets", LiveTable)
        assert list(table.columns) == [c[0] for c in NARROW_COLUMNS]
        assert table.row_count == 3 and table.virtual_size.width <= SMALL[0]
        assert app.screen.query_one("#alerts").size.width >= 35
        await pilot.resize_terminal(100, 30)  # narrow but not tight: the fund keeps its width and lines
        await pilot.pause()
        assert list(table.columns) == [c[0] for c in NARROW_COLUMNS]
        assert app.screen.query_one("#fund").outer_size.width == 58
        assert all(len(line) <= 56 for line in text_of(app.screen.query_one("#fund-hist")).splitlines())
        await pilot.resize_terminal(*WIDE)
        await pilot.pause()
        assert list(table.columns) == [c[0] for c in MARKET_COLUMNS] and table.row_count == 3
        await pilot.resize_terminal(*SMALL)
        await pilot.pause()
        assert list(table.columns) == [c[0] for c in NARROW_COLUMNS] and table.row_count == 3
