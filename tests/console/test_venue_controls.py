"""Venue controls from the console: each through the engine's own command, Cancel focused, a
required reason, refused before the dialog for a role that may not; the banner says the real state."""

import pytest
from textual.widgets import Button, Input, Select

from console.modals.venue import VenueModal
from console.palette import DeskCommands
from console.screenshots import TRIP
from console.widgets.banner import StatusBanner
from tests.kit import DESK

from .test_flows import messages, text_of

pytestmark = pytest.mark.asyncio


async def _choose(pilot, modal, control: str, value: str, market: str = "*", reason: str = "drill") -> None:
    modal.query_one("#venue-control", Select).value = control
    await pilot.pause()
    modal.query_one("#venue-value", Select).value = value
    modal.query_one("#venue-market", Select).value = market
    modal.query_one("#venue-reason", Input).value = reason
    await pilot.pause()


async def test_reopen_post_only_markets_after_a_release_and_the_banner_says_so(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press(*TRIP, "ctrl+r", "shift+tab", *"checks pass", "enter", "enter")
        await pilot.pause()
        assert {m["mode"] for m in app.gateway.markets()} == {"post_only"}
        app.refresh_now()
        await pilot.pause()
        banner = text_of(app.screen.query_one(StatusBanner))
        assert "POST-ONLY 3/3" in banner and "OPEN" not in banner.split("\n")[0]
        await pilot.press("o")
        modal = app.screen
        assert isinstance(modal, VenueModal)
        assert modal.focused is modal.query_one("#cancel", Button)
        assert "post-only" in text_of(modal.query_one("#venue-state"))
        await _choose(pilot, modal, "mode", "open", reason="")
        assert modal.query_one("#confirm", Button).disabled  # no reason, no apply
        await pilot.press("shift+tab", *"feed verified", "enter")
        assert modal.focused is modal.query_one("#confirm", Button)
        await pilot.press("enter")
        await pilot.pause()
        assert {m["mode"] for m in app.gateway.markets()} == {"open"}, messages(app)
        assert any(a["reason"] == "feed verified" for a in app.gateway.audit(50, "set_market_mode"))
        app.refresh_now()
        await pilot.pause()
        assert text_of(app.screen.query_one(StatusBanner)).lstrip().startswith("OPEN")


async def test_each_control_sends_its_command(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        gw = app.gateway
        for control, value, market, check in (
            ("mode", "reduce_only", "ETH-USD-PERP",
             lambda: {m["market"]: m["mode"] for m in gw.markets()}["ETH-USD-PERP"] == "reduce_only"),
            ("triggers", "pause", "BTC-USD-PERP",
             lambda: {m["market"]: m["triggers_paused"] for m in gw.markets()} == {
                 "BTC-USD-PERP": True, "ETH-USD-PERP": False, "SOL-USD-PERP": False}),
            ("liquidations", "pause", "SOL-USD-PERP",
             lambda: {m["market"]: m["liquidations_paused"] for m in gw.markets()}["SOL-USD-PERP"]),
            ("access", "disable", "*", lambda: not gw.status()["platform_access"]),
            ("access", "enable", "*", lambda: gw.status()["platform_access"]),
            ("safeguards", "off", "*", lambda: gw.status()["safeguards"] is False),
        ):
            await pilot.press("o")
            modal = app.screen
            assert isinstance(modal, VenueModal)
            await _choose(pilot, modal, control, value, market, reason=f"drill {control} {value}")
            await pilot.click("#confirm")
            await pilot.pause()
            assert check(), (control, value, messages(app))
            assert any(a["reason"] == f"drill {control} {value}" for a in gw.audit(100, "drill")), control
        banner = text_of(app.screen.query_one(StatusBanner))
        assert "REDUCE-ONLY 1/3" in banner and "OPEN 2/3" in banner and "SAFEGUARDS OFF" in banner


async def test_roles_are_checked_before_the_dialog_and_for_safeguards_off(desk_app):
    app = desk_app(role="viewer", operator="victor")
    async with app.run_test(size=DESK) as pilot:
        await pilot.press("o")
        await pilot.pause()
        assert not isinstance(app.screen, VenueModal)
        assert any("victor is viewer" in m for m in messages(app))
    app = desk_app(role="operator", operator="olga")
    async with app.run_test(size=DESK) as pilot:
        await pilot.press("o")
        modal = app.screen
        assert isinstance(modal, VenueModal)
        await _choose(pilot, modal, "safeguards", "off", reason="drill")
        await pilot.click("#confirm")
        await pilot.pause()
        assert app.gateway.status()["safeguards"] is True
        assert any("disable safeguards needs approver" in m for m in messages(app))


async def test_the_palette_lists_every_venue_control(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.pause()
        names = {str(h.display) for h in [hit async for hit in DeskCommands(app.screen).discover()]}
        assert {"Venue: market mode…", "Venue: platform access…", "Venue: TP/SL triggers…",
                "Venue: liquidations per market…", "Venue: safeguards…"} <= names
        hits = [hit async for hit in DeskCommands(app.screen).discover()]
        await next(h for h in hits if str(h.display) == "Venue: TP/SL triggers…").command()
        await pilot.pause()
        assert isinstance(app.screen, VenueModal)
        assert app.screen.query_one("#venue-control", Select).value == "triggers"
