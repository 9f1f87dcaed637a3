"""The brake dialog is built once and kept: every later opening looks exactly like the first."""

import pytest
from textual.widgets import Button

from console.modals.brake import BrakeModal
from tests.kit import DESK

pytestmark = pytest.mark.asyncio


async def _open(pilot) -> str:
    await pilot.press("ctrl+b")
    await pilot.pause()
    app = pilot.app
    assert isinstance(app.screen, BrakeModal)
    assert app.screen.focused is app.screen.query_one("#cancel", Button)
    return app.export_screenshot()


async def _close(pilot) -> None:
    await pilot.press("escape")
    await pilot.pause()
    assert not isinstance(pilot.app.screen, BrakeModal)


async def test_a_kept_dialog_reopens_exactly_as_first_drawn(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.pause()
        first = await _open(pilot)
        await pilot.press("tab")  # move the focus away from Cancel, then leave
        await _close(pilot)
        again = await _open(pilot)  # not restyled (same CSS), yet the same pixels: Cancel focused
        assert again == first
        await _close(pilot)


async def test_a_theme_change_while_away_restyles_the_kept_dialog(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
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


async def test_the_backdrop_is_the_same_segments_as_textuals_own_path(desk_app):
    from textual._context import visible_screen_stack

    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press("l")  # a busy screen beneath: the liquidations table, its chart and counters
        await pilot.pause()
        await pilot.press("ctrl+b")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, BrakeModal)
        beneath = app.screen_stack[-2]
        fast = modal._tinted_lines(beneath)
        assert fast is not None and len(fast) == DESK[1]
        visible_screen_stack.set(app._background_screens)  # as when Textual renders the modal
        modal._layout_cache.clear()
        modal._render_content()  # Textual's path: Rich renders the screen beneath, tinted
        slow = modal._render_cache.lines
        assert [list(s) for s in fast] == [list(s) for s in slow]
        assert any(seg.style.bgcolor for s in fast for seg in s)  # tinted, not blank
        assert "Liquidations" in "".join(s.text for s in fast)
        # and not the simple case: Textual's own path draws it
        modal.styles.background = "black"  # opaque: no backdrop at all
        assert modal._tinted_lines(beneath) is None
