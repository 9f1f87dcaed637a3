"""Issue 16: the console as an operator at 3 a.m. sees it: the palette lists perpdesk's actions and no
framework noise, Help shows each action once with every key that does it and its own close keys, the
compute dialog is as wide as its CSS says, counts read in the singular for one."""

import pytest
from textual.widgets import Static

from console import format as fmt
from console.modals.compute import ComputeModal
from console.modals.help import HelpScreen
from console.palette import DeskCommands
from tests.kit import WIDE

from .test_flows import text_of
from .test_refund_compute import open_compute

NOISE = ("Copy selected text", "Cursor", "First row", "Last row", "Page ", "Focus", "Scroll", "Maximize")


@pytest.mark.asyncio
async def test_the_palette_lists_every_perpdesk_action_and_no_framework_noise(desk_app):
    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("a")  # the audit log: its table has the focus (cursor keys active)
        await pilot.pause()
        names = [e[0] for e in DeskCommands(app.screen)._entries()]
        for noise in NOISE:
            assert not [n for n in names if noise in n], (noise, names)
        for b in app.BINDINGS:  # every app action (the Help key too), once whatever its keys
            assert any(n == b.description or n.endswith(f": {b.description}") for n in names), b.description
        for name, _help, _action in app.PALETTE_EXTRA:
            assert name in names
        for want in ("Alerts: Copy selected text", "Dashboard: Copy selected text"):
            assert want not in names
        assert "Refunds: Propose" in names and "Book: Next market" in names and "Details" in names  # this screen's own, unprefixed


@pytest.mark.asyncio
async def test_help_lists_each_action_once_with_all_its_keys_and_no_focus_noise(desk_app):
    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        shown = "".join(text_of(w) for w in app.screen.query(Static))
        lines = shown.splitlines()
        brake = [ln for ln in lines if " Brake " in f" {ln} " and "Emergency brake" in ln]
        assert len(brake) == 1 and "^b !" in brake[0], brake
        assert not [ln for ln in lines if ln.split()[:2] == ["!", "Brake"]]  # no second Brake row
        assert "Focus Next" not in shown and "focus_next" not in shown


@pytest.mark.asyncio
async def test_help_shows_the_keys_that_close_it(desk_app):
    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        frame = app.screen.query_one("#dialog")
        assert "Esc" in str(frame.border_subtitle) and "closes" in str(frame.border_subtitle)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


@pytest.mark.asyncio
async def test_the_compute_dialog_is_as_wide_as_its_css_says(desk_app):
    """Its rules were DEFAULT_CSS, ranked below app.tcss's dialog frame: 96 wide and a two-line title."""
    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        modal = await open_compute(app, pilot)
        assert isinstance(modal, ComputeModal)
        await pilot.pause()
        assert modal.query_one("#dialog").outer_size.width == 124
        assert modal.query_one("#dialog-title").outer_size.height == 1


def test_a_count_of_one_reads_in_the_singular():
    assert fmt.count_of(1, "change") == "1 change"
    assert fmt.count_of(11, "change") == "11 changes"
    assert fmt.count_of(1234, "change") == "1,234 changes"


def test_the_demo_summary_writes_money_and_counts_with_thousands_separators():
    from console.demo.play import summary

    rep = {
        "scenario": "x", "seed": 1, "accounts": 2000, "safeguards": {"requested": True}, "as_happened": False,
        "liquidations": {"total": 1234, "unintended": 1200, "by_fault": {"oracle": 1100}},
        "brake": {"canceled_orders": 4321, "kept_tpsl": 1500},
        "rollback": {"snapshot_id": "snap-1", "discarded_commands": 25000},
        "refunds": {"method": "counterfactual", "proposed_count": 1500, "proposed_total": "103108.32",
                    "approved_count": 1500, "paid_count": 1500, "paid_total": "103108.3"},
        "recovery": None, "safeguard_events": {}, "invariants_ok": True, "failed_checks": [], "state_hash": "h",
        "expectations": {"checks": [], "ok": True},
    }
    text = summary(rep)
    assert "liquidations: 1,234 (1,200 unintended, oracle: 1,100)" in text
    assert "brake: 4,321 orders canceled, 1,500 TP/SL kept" in text
    assert "25,000 commands discarded" in text
    assert "1,500 proposed (103,108.32 USDC), 1,500 approved, 1,500 paid (103,108.30 USDC)" in text


@pytest.mark.asyncio
async def test_the_palette_shows_each_actions_key(desk_app):
    """The key was written "[d]", which the palette reads as markup: the hint never showed."""
    from textual.content import Content

    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        helps = {name: help_text for name, help_text, _cb in DeskCommands(app.screen)._entries()}
        for name, key in (("Go: Accounts", "c"), ("Incident: Brake", "^b"), ("Snapshot", "f6")):
            shown = Content.from_markup(helps[name]).plain
            assert f"(key {key})" in shown, (name, shown)


@pytest.mark.asyncio
async def test_help_says_what_quitting_does_here(desk_app):
    """Help said "the venue stops with it" everywhere; attached to a venue it keeps running."""
    from types import SimpleNamespace

    from console.app import PerpdeskApp

    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        shown = " ".join("".join(text_of(w) for w in app.screen.query(Static)).split())
        assert "after a confirmation; the venue stops with it" in shown
    attached = SimpleNamespace(venue=object(), director=None)
    assert "keeps running" in PerpdeskApp.quit_consequence(attached)
    assert "scenario stops" in PerpdeskApp.quit_consequence(SimpleNamespace(venue=None, director=object()))


@pytest.mark.asyncio
async def test_every_screens_own_css_is_in_the_stylesheet_from_the_start(desk_app):
    """Textual would load a screen's CSS (and reparse the whole stylesheet) on its first opening: the
    first brake press paid for it. The app loads them all at start, under Textual's own keys."""
    import inspect

    from console.modals.brake import BrakeModal

    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        for cls in app.screen_classes():
            if cls.CSS:
                assert app.stylesheet.has_source(inspect.getfile(cls), f"{cls.__name__}.CSS"), cls
        before = set(app.stylesheet.source)
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert isinstance(app.screen, BrakeModal)
        # what the first press added: only widgets' DEFAULT_CSS (Textual's own, on their first mount)
        assert [k for k in set(app.stylesheet.source) - before if not k[1].endswith(".DEFAULT_CSS")] == []
