"""The brake dialog is built once and kept: every later opening looks exactly like the first."""

import pytest
from textual.widgets import Button

from console.screens.brake import BrakeModal

pytestmark = pytest.mark.asyncio
SIZE = (140, 44)


async def _open(pilot) -> str:
    await pilot.press("ctrl+b")
    await pilot.pause()
    app = pilot.app
    assert isinstance(app.screen, BrakeModal)
    assert app.screen.focused is app.screen.query_one("#cancel", Button)
    return app.export_screenshot()


async def _close(pilot) -> None:
    await pilot.press("n")
    await pilot.pause()
    assert not isinstance(pilot.app.screen, BrakeModal)


async def test_a_kept_dialog_reopens_exactly_as_first_drawn(desk_app):
    app = desk_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        first = await _open(pilot)
        await pilot.press("tab")  # move the focus away from Cancel, then leave
        await _close(pilot)
        again = await _open(pilot)  # not restyled (same CSS), yet the same pixels: Cancel focused
        assert again == first
        await _close(pilot)


async def test_a_theme_change_while_away_restyles_the_kept_dialog(desk_app):
    app = desk_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        dark = await _open(pilot)
        await _close(pilot)
        app.theme = "textual-light"
        await pilot.pause()
        light = await _open(pilot)
        assert light != dark
        await _close(pilot)
        app.theme = "textual-dark"
        await pilot.pause()
        assert await _open(pilot) == dark  # and back, the dialog's own colours too
