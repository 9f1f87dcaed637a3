"""Regenerate ``screenshots/*.svg`` (one per screen) from the seeded, frozen state.

    python -m console.screenshots [--out screenshots]

The snapshot tests use the very same scenes (``SCENES``), so the README's
pictures and the tests' baselines come from one definition.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

SIZE = (140, 44)
SEED = 7


def scene_app(**kw):
    from .factory import make_app

    return make_app(seed=SEED, frozen=True, accounts=200, **kw)


#: the brake as a person trips it: Cancel is focused; Shift+Tab to the reason, type it, Enter moves to
#: the Trip button, Enter presses it (no single-letter shortcut in the dialog)
TRIP = ("ctrl+b", "shift+tab", *"drill: corrupted marks", "enter", "enter")


async def _dashboard(pilot) -> None:
    await pilot.pause()


async def _liquidations(pilot) -> None:
    await pilot.press("l")
    await pilot.pause()


async def _liquidations_paused(pilot) -> None:
    await pilot.press("l", "space")
    await pilot.pause()


async def _brake_preview(pilot) -> None:
    await pilot.press("ctrl+b")
    await pilot.pause()


async def _brake_engaged(pilot) -> None:
    await pilot.press(*TRIP)
    await pilot.pause()
    pilot.app.clear_notifications()
    await pilot.pause()


#: the guard rails quarantine the 2026-01-19 write; the release gate is shown on the venue without them
NO_GUARDS = {"type": "set_safeguards", "enabled": False, "reason": "drill: the 04:30 write without guard rails"}


async def _release_refused(pilot) -> None:
    app = pilot.app
    await pilot.press(*TRIP)
    app.desk.system(dict(NO_GUARDS))
    app.desk.system({"type": "load_market_state", "market": "BTC-USD-PERP", "mark_price": "0",
                     "funding_index": "0", "source": "db-restart"})
    app.clear_notifications()
    app.refresh_now()
    await pilot.press("ctrl+r")
    await pilot.pause()


async def _snapshots_preview(pilot) -> None:
    await pilot.press("s", "enter")
    await pilot.pause()


async def _rollback_confirm(pilot) -> None:
    await pilot.press("s", "enter", "ctrl+k")
    await pilot.pause()


async def _maintenance_errors(pilot) -> None:
    app = pilot.app
    await pilot.press("m")
    await pilot.pause()
    screen = app.screen
    screen.query_one("#f-markets").value = "BTC-USD-PERP, DOGE-USD-PERP"
    screen.query_one("#f-start").value = "25:99"
    screen.query_one("#f-duration").value = "0"
    screen.action_schedule()
    app.clear_notifications()
    await pilot.pause()


async def _maintenance_scheduled(pilot) -> None:
    app = pilot.app
    app.gateway.schedule_maintenance("mw-0430", ["BTC-USD-PERP", "ETH-USD-PERP", "SOL-USD-PERP"],
                                     app.gateway.clock() + 31 * 60_000, 15 * 60_000, "scale_up", "daily release")
    await pilot.press("m")
    await pilot.pause()


async def _refunds(pilot) -> None:
    app = pilot.app
    _seed_refunds(app)
    await pilot.press("r")
    await pilot.pause()


def _seed_refunds(app) -> None:
    from engine.node.roles import Actor

    node = app.node
    bob = Actor("bob", "operator")
    carol = Actor("carol", "approver")
    liqs = app.feed.liquidations()[:3]
    for i, r in enumerate(liqs):
        node.propose_refund(r["account"], ["412.5", "188", "1250.75"][i],
                            "liquidated on corrupted mark after 04:30 restart",
                            {"liquidation_seq": r["seq"], "counterfactual": "replay without load_market_state"},
                            actor=bob)
    node.decide_refund("r0001", True, "matches counterfactual replay", actor=carol)
    node.pay_refund("r0001", "insurance", actor=carol)
    node.decide_refund("r0002", True, "matches counterfactual replay", actor=carol)


async def _audit(pilot) -> None:
    app = pilot.app
    await pilot.press(*TRIP)
    app.desk.system(dict(NO_GUARDS))
    app.desk.system({"type": "load_market_state", "market": "BTC-USD-PERP", "mark_price": "0",
                     "funding_index": "0", "source": "db-restart"})
    await pilot.press("ctrl+r", "escape")
    _seed_refunds(app)
    await pilot.press("a")
    app.clear_notifications()
    await pilot.pause()


async def _accounts(pilot) -> None:
    await pilot.press("c", "slash", *"lev0003", "enter")
    await pilot.pause()


async def _help(pilot) -> None:
    await pilot.press("question_mark")
    await pilot.pause()


async def _palette(pilot) -> None:
    await pilot.press("ctrl+p", *"brake")
    await pilot.pause(0.3)


SCENES: dict[str, Callable[..., Awaitable[None]]] = {
    "dashboard": _dashboard,
    "liquidations": _liquidations,
    "liquidations_paused": _liquidations_paused,
    "brake_preview": _brake_preview,
    "brake_engaged": _brake_engaged,
    "release_refused": _release_refused,
    "snapshots_preview": _snapshots_preview,
    "rollback_confirm": _rollback_confirm,
    "maintenance_errors": _maintenance_errors,
    "maintenance_scheduled": _maintenance_scheduled,
    "refunds": _refunds,
    "audit": _audit,
    "accounts": _accounts,
    "help": _help,
}


async def _refunds_compute(pilot) -> None:
    """The refunds compute dialog, computed over a corrupted write (a mark 10% off, without guard rails)."""
    from engine.api.units import fmt_price

    app = pilot.app
    app.desk.system(dict(NO_GUARDS))
    m = next(m for m in app.gateway.markets() if m["market"] == "BTC-USD-PERP")
    mark = m["index_price"] * 110 // 100 // m["tick_size"] * m["tick_size"]
    app.desk.system({"type": "load_market_state", "market": "BTC-USD-PERP", "mark_price": fmt_price(mark),
                     "funding_index": "0", "source": "db-restart"})
    app.desk.drive(20)
    app.refresh_now()
    await pilot.press("r", "i")
    await pilot.pause()
    app.screen.compute()
    await pilot.pause()


async def _alerts(pilot) -> None:
    await pilot.press("t")
    await pilot.pause()


async def _venue_controls(pilot) -> None:
    await pilot.press("o")
    await pilot.pause()


#: the smallest supported terminal: every screen, and the dangerous dialogs with everything reachable and
#: their buttons visible
SMALL_SIZE = (80, 24)
SMALL_SCENES: dict[str, Callable[..., Awaitable[None]]] = {
    "brake_preview_80x24": _brake_preview,
    "rollback_confirm_80x24": _rollback_confirm,
    "refunds_compute_80x24": _refunds_compute,
    "release_refused_80x24": _release_refused,
    "venue_controls_80x24": _venue_controls,
    "dashboard_80x24": _dashboard,
    "liquidations_80x24": _liquidations,
    "maintenance_80x24": _maintenance_scheduled,
    "snapshots_80x24": _snapshots_preview,
    "refunds_80x24": _refunds,
    "audit_80x24": _audit,
    "accounts_80x24": _accounts,
    "alerts_80x24": _alerts,
    "help_80x24": _help,
}


async def _book(pilot) -> None:
    await pilot.press("b")
    await pilot.pause()


async def _book_next(pilot) -> None:
    await pilot.press("b", "right_square_bracket")
    await pilot.pause()


#: the risk-at-a-glance views at 160x48: the Book screen (depth ladder, trades tape) and the dashboard
#: with next funding and the insurance-fund history
GLANCE_SIZE = (160, 48)
GLANCE_SCENES: dict[str, Callable[..., Awaitable[None]]] = {
    "book_160x48": _book,
    "book_eth_160x48": _book_next,
    "dashboard_160x48": _dashboard,
}
SMALL_SCENES["book_80x24"] = _book  # (the Book screen at the smallest terminal too)


def settled(scene: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Run a scene, then drop toasts (they expire on the wall clock, so they would make pictures flaky)."""

    async def run(pilot) -> None:
        await scene(pilot)
        app = pilot.app  # frozen: commands ran inline, nothing to wait for
        app.clear_notifications()
        await pilot.pause()

    return run


def render(name: str) -> str:
    """The scene as an SVG, as Textual's documentation screenshots are taken (public API only: a headless
    run with an auto-pilot that plays the scene, lets animations finish and exports the screen)."""
    small = name in SMALL_SCENES
    glance = name in GLANCE_SCENES
    scene = settled((SMALL_SCENES if small else GLANCE_SCENES if glance else SCENES)[name])
    app = scene_app()

    async def auto_pilot(pilot) -> None:
        await scene(pilot)
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        pilot.app.exit(pilot.app.export_screenshot(title="perpdesk", simplify=True))

    svg = app.run(headless=True, auto_pilot=auto_pilot, size=SMALL_SIZE if small else GLANCE_SIZE if glance else SIZE)
    assert isinstance(svg, str)
    return svg


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m console.screenshots", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="screenshots", help="directory for the SVG files")
    p.add_argument("names", nargs="*", help="scenes to render (default: all)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.names or [*SCENES, *SMALL_SCENES, *GLANCE_SCENES]:
        svg = render(name)
        (out / f"{name}.svg").write_text(svg)
        print(f"{out / f'{name}.svg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
