"""A key press holds the cyclic garbage collector off until its first full frame (PerpdeskApp._hold_gc)."""

import gc
import time

import pytest

from console.screens.liquidations import LiquidationsScreen
from tests.kit import DESK, wait_until_async

pytestmark = pytest.mark.asyncio


async def _until(cond, limit: float) -> float:
    """Wait for ``cond`` (polling with asyncio.sleep, not a pilot pause: no extra frames); how long it took."""
    t = time.perf_counter()
    await wait_until_async(cond, limit, what="the collector to be given back", interval=0.005)
    return time.perf_counter() - t


async def test_a_key_holds_the_collector_until_its_full_frame(desk_app):
    assert gc.isenabled()
    app = desk_app()
    seen: list[bool] = []
    go = app.action_go

    def observed_go(mode: str) -> None:  # the real action, with a look at the collector first
        seen.append(gc.isenabled())
        go(mode)

    app.action_go = observed_go
    async with app.run_test(size=DESK) as pilot:
        await pilot.pause()
        assert gc.isenabled() and app._gc_held is None
        await pilot.press("l")
        assert isinstance(app.screen, LiquidationsScreen)
        assert seen == [False]  # the action (and the frame it leads to) ran without the collector
        # given back by the screen's first full frame, well before the hold's time limit
        assert await _until(gc.isenabled, app.GC_HOLD_S) < app.GC_HOLD_S
        assert app._gc_held is None
        await pilot.press("d")
        assert seen == [False, False]
        await _until(gc.isenabled, app.GC_HOLD_S)
    assert gc.isenabled()


async def test_a_key_without_a_new_frame_gives_the_collector_back_after_the_limit(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.pause()
        app._hold_gc()  # what a key press does; no full frame follows (nothing changed on screen)
        assert not gc.isenabled()
        app._hold_gc()  # a repeat neither extends the hold nor stacks another
        waited = await _until(gc.isenabled, app.GC_HOLD_S + 1.0)
        assert waited >= app.GC_HOLD_S * 0.8
        assert app._gc_held is None
        await pilot.press("z")  # no binding: the hold still ends
        await _until(gc.isenabled, app.GC_HOLD_S + 1.0)
    assert gc.isenabled()


async def test_a_collector_turned_off_elsewhere_stays_off(desk_app):
    app = desk_app()
    gc.disable()
    try:
        async with app.run_test(size=DESK) as pilot:
            await pilot.pause()
            await pilot.press("l")
            await pilot.pause(app.GC_HOLD_S + 0.2)  # (the point: the hold's time limit passes, wall time)
            assert not gc.isenabled() and app._gc_held is None
    finally:
        gc.enable()
