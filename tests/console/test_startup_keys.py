"""A key pressed while the console is still building its screens at start (the first second of a live
desk) acts on the operator's screen: the brake dialog it opens is not lost on the stack of a screen being
built out of sight (it was: ctrl+b right after start did nothing visible)."""

from __future__ import annotations

import asyncio

import pytest

from console.factory import make_app
from console.modals.brake import BrakeModal
from tests.kit import DESK, wait_until_async

pytestmark = pytest.mark.asyncio


async def test_the_brake_pressed_while_screens_are_built_opens_on_the_operators_screen():
    app = make_app(seed=5, frozen=True, accounts=30)
    async with app.run_test(size=DESK) as pilot:
        home = app.current_mode
        build = asyncio.ensure_future(app.prebuild_screens())
        await wait_until_async(lambda: app.prebuild_home is not None and app.current_mode != home, pilot=pilot,
                               what="the build to be on another screen")
        app.action_brake()  # ctrl+b now: the current screen is one being built
        await build
        await wait_until_async(lambda: isinstance(app.screen, BrakeModal), pilot=pilot, what="the brake dialog")
        assert app.current_mode == home  # on the operator's screen, not on one built meanwhile
        assert app.screen_stack[-1] is app.screen and isinstance(app.screen_stack[0], type(app.get_screen_stack(home)[0]))


async def test_the_brake_pressed_right_after_a_live_start_opens():
    app = make_app(seed=5, frozen=False, accounts=30, refresh_s=0.05, db="memory")
    async with app.run_test(size=DESK) as pilot:
        await wait_until_async(lambda: app.vm, pilot=pilot, what="the first refresh")
        await pilot.press("ctrl+b")
        await wait_until_async(lambda: isinstance(app.screen, BrakeModal), pilot=pilot, what="the brake dialog")
