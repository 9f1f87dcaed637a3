"""Pilot tests for every console flow, happy and unhappy paths."""

import time

import pytest
from textual.widgets import Button, DataTable, Input, Select, Static

from console.modals.brake import BrakeModal
from console.modals.propose import ProposeModal
from console.modals.reason import ReasonModal
from console.modals.release import ReleaseModal
from console.modals.rollback import RollbackModal
from console.palette import DeskCommands
from console.screens.liquidations import LiquidationsScreen
from console.screenshots import TRIP
from console.widgets.banner import StatusBanner
from console.widgets.livetable import LiveTable
from engine.api.errors import GatewayError
from engine.node.roles import Actor
from tests.kit import DESK, palette_highlights, wait_until_async

pytestmark = pytest.mark.asyncio


def messages(app) -> list[str]:
    return [n.message for n in app._notifications]


def text_of(widget) -> str:
    """What a Static shows, as plain text."""
    from rich.console import Console

    console = Console(width=200, record=True, file=open("/dev/null", "w"))
    console.print(widget.content)
    return console.export_text()


async def test_dashboard_renders_markets_banner_and_alerts(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#markets", LiveTable)
        assert table.row_count == 3
        banner = app.screen.query_one(StatusBanner)
        assert "OPEN" in text_of(banner) and "alice (admin)" in text_of(banner)
        assert banner.has_class("-open")
        assert "liquidations" in text_of(app.screen.query_one("#fund-body"))
        assert app.feed.counters()["liquidations"] > 0


async def test_brake_preview_then_cancel_changes_nothing(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.pause()
        before = (app.node.engine.state_hash(), app.node.engine.seq)
        await pilot.press("ctrl+b")
        assert isinstance(app.screen, BrakeModal)
        assert app.screen.focused is app.screen.query_one("#cancel", Button)  # defaults to Cancel
        assert "orders to cancel" in text_of(app.screen.query_one("#brake-preview"))
        await pilot.press("enter")  # Enter on the focused Cancel button
        await pilot.pause()
        assert not isinstance(app.screen, BrakeModal)
        assert (app.node.engine.state_hash(), app.node.engine.seq) == before
        assert not app.gateway.status()["brake_engaged"]
        assert any("nothing changed" in m for m in messages(app))
        # the dialog is kept and opens again as new: the fresh preview, an empty reason, Cancel focused
        await pilot.press("ctrl+b")
        modal = app.screen
        assert isinstance(modal, BrakeModal)
        shown = modal.data["canceled_orders"]
        modal.query_one("#brake-reason", Input).value = "typo"
        modal.query_one("#brake-reason", Input).focus()
        await pilot.press("escape")
        await pilot.pause()
        app.desk.drive(5)  # more orders rest: the next preview differs
        await pilot.press("ctrl+b")
        assert app.screen is modal
        assert modal.query_one("#brake-reason", Input).value == ""  # no canned reason, none kept
        assert modal.focused is modal.query_one("#cancel", Button)
        want = app.gateway.brake_preview()["canceled_orders"]
        assert want != shown and modal.data["canceled_orders"] == want
        assert f"{want:,}" in text_of(modal.query_one("#brake-preview"))
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, BrakeModal)
        assert not app.gateway.status()["brake_engaged"]


async def test_brake_trip_from_another_screen_shows_result(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press("l", *TRIP)
        await pilot.pause()
        st = app.gateway.status()
        assert st["brake_engaged"] and not st["platform_access"]
        assert all(m["mode"] == "halted" for m in app.gateway.markets())
        assert all(o["order_type"] in ("stop_loss", "take_profit")
                   for a in app.gateway.accounts(1000) for o in (app.gateway.account(a["account"]) or {}).get("orders", []))
        assert any(m.startswith("BRAKE ENGAGED") for m in messages(app))
        assert app.screen.query_one(StatusBanner).has_class("-brake")
        # the footer tells the truth: brake dimmed, release available
        assert app.check_action("brake", ()) is None and app.check_action("release", ()) is True


async def test_release_refused_while_a_check_fails(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press(*TRIP)
        # with the guard rails the corrupt write is quarantined (tests/engine/test_guards.py); without them
        # it lands, a check fails, and the console's release gate must say so
        app.desk.system({"type": "set_safeguards", "enabled": False, "reason": "drill without guard rails"})
        app.desk.system({"type": "load_market_state", "market": "BTC-USD-PERP", "mark_price": "0",
                         "funding_index": "0", "source": "db-restart"})
        await pilot.press("ctrl+r")
        assert isinstance(app.screen, ReleaseModal)
        assert "indices_bounded" in text_of(app.screen.query_one("#checks"))
        assert app.screen.query_one("#release", Button).disabled
        await pilot.press("shift+tab", *"checked", "enter")
        app.screen.action_confirm()  # (the disabled button cannot be pressed; the action refuses too)
        await pilot.pause()
        assert isinstance(app.screen, ReleaseModal)  # refused, still open
        assert any("Release refused" in m for m in messages(app))
        await pilot.press("escape")
        assert app.gateway.status()["brake_engaged"]
        # and the node refuses it too, as a notification-ready outcome, never an exception
        out = app.gateway.release_brake("try anyway")
        assert not out.ok and out.code == "validation_failed"


async def test_release_when_checks_pass_reopens_post_only(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press(*TRIP, "ctrl+r")
        assert isinstance(app.screen, ReleaseModal)
        assert app.screen.query_one("#release", Button).disabled  # until a reason is typed
        await pilot.press("shift+tab", *"checks pass", "enter")
        assert not app.screen.query_one("#release", Button).disabled
        assert app.screen.focused is app.screen.query_one("#release", Button)
        await pilot.press("enter")
        await pilot.pause()
        assert not app.gateway.status()["brake_engaged"]
        assert {m["mode"] for m in app.gateway.markets()} == {"post_only"}


async def test_rollback_with_preview_and_typed_confirmation(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press("s", "enter")
        screen = app.screen
        assert screen.preview is not None and screen.preview["snapshot_id"] != "snap-209"
        sid = screen.preview["snapshot_id"]
        assert screen.preview["totals"]["liquidations_undone"] > 0
        assert screen.query_one("#preview-table", DataTable).row_count > 0
        assert "liquidations undone" in text_of(screen.query_one("#preview-totals"))
        await pilot.press("ctrl+k")
        modal = app.screen
        assert isinstance(modal, RollbackModal)
        confirm = modal.query_one("#confirm", Button)
        modal.query_one("#confirm-id", Input).value = "snap-wrong"
        modal.query_one("#confirm-reason", Input).value = "corrupted mark"
        await pilot.pause()
        assert confirm.disabled
        modal.action_confirm()
        assert "type" in text_of(modal.query_one("#confirm-error"))
        modal.query_one("#confirm-id", Input).value = sid
        await pilot.pause()
        assert confirm.disabled  # the venue is not braked: the override is needed too
        modal.query_one("#override").value = True
        await pilot.pause()
        assert not confirm.disabled
        await pilot.click("#confirm")
        await pilot.pause()
        # opened after the snapshot: its trading is undone, its deposit (money that crossed the venue's
        # edge) is kept: the account is re-created holding exactly its net deposits, without positions
        lev = app.node.account("lev0000L")
        assert lev is not None and lev["positions"] == [] and lev["orders"] == []
        assert lev["cash"] == app.node.engine.accounts["lev0000L"].flow > 0
        assert any(f"Rolled back to {sid}" in m for m in messages(app))


async def test_rollback_cancel_changes_nothing(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        before = app.node.engine.state_hash()
        await pilot.press("s", "enter", "ctrl+k", "escape")
        await pilot.pause()
        assert app.node.engine.state_hash() == before


async def test_refund_proposer_cannot_approve(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press("r", "n")
        assert isinstance(app.screen, ProposeModal)
        m = app.screen
        m.query_one("#p-account", Input).value = "lev0001L"
        m.query_one("#p-amount", Input).value = "abc"
        m.query_one("#p-reason", Input).value = "liquidated on a bad mark"
        m.action_confirm()
        assert "positive decimal" in text_of(m.query_one("#p-error"))
        m.query_one("#p-amount", Input).value = "125.5"
        m.action_confirm()
        await pilot.pause()
        assert app.gateway.refunds()[0]["proposer"] == "alice"
        await pilot.press("y")  # said before a reason is asked for (it asked, then the venue refused)
        await pilot.pause()
        assert not isinstance(app.screen, ReasonModal)
        assert app.gateway.refunds()[0]["status"] == "proposed"
        assert any("You proposed r0001: a second operator approves" in m for m in messages(app))
        out = app.gateway.decide_refund("r0001", True, "looks right")  # and the venue refuses it anyway
        assert not out.ok and out.code == "self_approval"
        # a second person approves; then the desk pays and sees the credit
        app.node.decide_refund("r0001", True, "counterfactual matches", actor=Actor("carol", "approver"))
        app.refresh_now()
        await pilot.press("p")
        await pilot.pause()
        assert app.gateway.refunds()[0]["status"] == "approved"  # p asks first, Cancel focused
        assert app.screen.focused.id == "cancel"
        await pilot.press("tab", "enter")
        await pilot.pause()
        rec = app.gateway.refunds()[0]
        assert rec["status"] == "paid" and rec["paid_seq"]
        table = app.screen.query_one(DataTable)
        assert "from insurance" in str(table.get_row("r0001")[-1])


async def test_maintenance_form_shows_errors_inline_then_schedules(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press("m")
        s = app.screen
        s.query_one("#f-markets", Input).value = "BTC-USD-PERP, NOPE"
        s.query_one("#f-start", Input).value = "tomorrow"
        s.query_one("#f-duration", Input).value = "-5"
        s.action_schedule()
        await pilot.pause()
        assert "unknown market NOPE" in text_of(s.query_one("#e-markets"))
        assert "HH:MM" in text_of(s.query_one("#e-start"))
        assert "minutes" in text_of(s.query_one("#e-duration"))
        assert "choose" in text_of(s.query_one("#e-kind"))
        assert s.query_one("#f-start").has_class("-invalid")
        assert app.gateway.maintenance_windows() == []
        s.query_one("#f-markets", Input).value = "all"
        s.query_one("#f-start", Input).value = "+20m"
        s.query_one("#f-duration", Input).value = "15"
        s.query_one("#f-window_id", Input).value = "mw-0430"
        s.query_one("#f-kind", Select).value = "database_upgrade"
        s.action_schedule()
        await pilot.pause()
        # a confirmation (Cancel focused) names what will be scheduled; a reason is required
        assert app.screen.id == "schedule-modal" and app.focused.id == "cancel"
        assert "mw-0430" in text_of(app.screen.query_one("#confirm-explain"))
        await pilot.press("shift+tab", *"db upgrade", "enter", "enter")
        await pilot.pause()
        (w,) = app.gateway.maintenance_windows()
        assert w["kind"] == "database_upgrade" and len(w["markets"]) == 3
        assert s.query_one("#mw-table", DataTable).row_count == 1
        assert "starts in 20m" in text_of(s.query_one("#mw-current"))
        # the engine's own refusal is shown inline too
        s.action_schedule()
        await pilot.pause()
        assert "already exists" in text_of(s.query_one("#e-window_id"))


async def test_viewer_sees_dimmed_actions_and_is_told_why(desk_app):
    app = desk_app(role="viewer", operator="victor")
    async with app.run_test(size=DESK) as pilot:
        assert app.check_action("brake", ()) is None
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert not isinstance(app.screen, BrakeModal)
        assert any("needs operator" in m for m in messages(app))
        assert not app.gateway.status()["brake_engaged"]
        out = app.gateway.emergency_brake("sneaky")
        assert not out.ok and out.code == "forbidden"


async def test_liquidations_pause_freezes_table_while_counters_move(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press("l")
        screen = app.screen
        table = screen.query_one("#liq-table", LiveTable)
        rows0 = table.row_count
        assert rows0 > 0
        await pilot.press("space")
        assert screen.paused and screen.check_action("resume", ()) and not screen.check_action("pause", ())
        desk = app.desk
        from console.factory import leveraged_pairs

        leveraged_pairs(desk, 10, market="ETH-USD-PERP", size="10", collateral="900", prefix="eth")
        # bad market data from outside (the guard rails off, or it would be quarantined): every leveraged
        # ETH long is now far under water
        desk.system({"type": "set_safeguards", "enabled": False, "reason": "drill without guard rails"})
        desk.system({"type": "load_market_state", "market": "ETH-USD-PERP", "mark_price": "1000",
                     "funding_index": "0", "source": "db-restart"})
        app.refresh_now()
        await pilot.pause()
        assert app.feed.counters()["liquidations"] > rows0
        assert table.row_count == rows0  # frozen
        assert "new since pause" in text_of(screen.query_one("#liq-counters"))
        await pilot.press("space")
        await pilot.pause()
        assert table.row_count == app.feed.counters()["liquidations"]
        await pilot.press("slash", *"ETH", "enter")
        await pilot.pause()
        assert 0 < table.row_count < app.feed.counters()["liquidations"]
        assert all(str(table.get_row_at(i)[2]) == "ETH-USD-PERP" for i in range(table.row_count))
        await pilot.press("escape")
        await pilot.pause()
        assert table.row_count == app.feed.counters()["liquidations"]


async def test_palette_offers_every_action(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.pause()
        provider = DeskCommands(app.screen)
        names = [hit.display async for hit in provider.discover()]
        for want in ("Incident: Brake", "Incident: Release", "Go: Liquidations", "Go: Refunds", "Help", "Snapshot"):
            assert any(str(n) == want for n in names), (want, names)
        await pilot.press("ctrl+p", *"brake")
        await wait_until_async(lambda: palette_highlights(app, "brake"), pilot=pilot, what="the palette's hit")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, BrakeModal)


async def test_help_audit_and_accounts(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press("question_mark")
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape", *TRIP, "a")
        await pilot.pause()
        audit = app.screen.query_one(DataTable)
        assert audit.row_count >= 1
        await pilot.press("slash", *"nomatch", "enter")
        await pilot.pause()
        assert audit.row_count == 0
        await pilot.press("c", "slash", *"lev0002", "enter")
        await pilot.pause()
        assert app.screen.query_one(DataTable).row_count == 2
        assert "lev0002" in text_of(app.screen.query_one("#acct-detail", Static))


async def test_node_errors_become_notifications_not_tracebacks(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        def boom():
            raise RuntimeError("node exploded")

        app.run_command("Test", boom)
        await pilot.pause()
        assert app.is_running
        assert any("node exploded" in m for m in messages(app))
        app.node.rollback_preview = lambda sid: (_ for _ in ()).throw(KeyError(sid))
        await pilot.press("s", "enter")
        await pilot.pause()
        assert app.is_running and any("not found" in m for m in messages(app))


@pytest.mark.parametrize("in_process", [False, True], ids=["sandbox-venue", "in-process"])
async def test_live_mode_runs_the_market_and_refreshes(in_process):
    from console.factory import make_app

    app = make_app(seed=3, frozen=False, accounts=50, refresh_s=0.05, in_process=in_process)
    async with app.run_test(size=DESK) as pilot:
        seq0 = app.gateway.status()["seq"]
        renders0 = app.renders
        # a busy machine (CI runs the venue in a child process beside the test suite) may need
        # long for a few reads; the chain must keep going, however slowly
        await wait_until_async(lambda: app.renders > renders0 + 3, 16.0, pilot=pilot, interval=0.05,
                               what="a few refreshes rendered")
        await wait_until_async(lambda: app.gateway.status()["seq"] > seq0, 16.0, pilot=pilot, interval=0.05,
                               what="the market to move")
        assert app.gateway.status()["seq"] > seq0  # the market moves
        assert app.renders > renders0 + 3  # the refresh chain keeps going
        await pilot.press("ctrl+b")
        assert isinstance(app.screen, BrakeModal)
        renders = app.renders
        opened = time.perf_counter()
        await pilot.pause(0.3)  # (the point: refreshes come due while the modal is open; none may render)
        await wait_until_async(lambda: app.vm["read_at"] > opened, pilot=pilot, interval=0.02,
                               what="a read while the modal is open")
        assert app.renders == renders  # no rendering while a modal is open
        assert app.vm["read_at"] > opened  # but the data beneath keeps being read
        await pilot.press(*TRIP[1:])  # the reason, then Enter on the Trip button
        # the command runs in a worker; wait for its effect, not for time
        await wait_until_async(lambda: app.gateway.status()["brake_engaged"], pilot=pilot, interval=0.02,
                               what="the brake to engage")
        assert app.screen.shown_vm_at > opened  # the screen came back with the data read under the modal
        await pilot.press("l")  # screens work the same over the venue's API
        assert isinstance(app.screen, LiquidationsScreen)
    if in_process:
        assert app.node._thread is None  # the node stopped with the app
    else:
        # the sandbox venue stops by itself once its last console has left: drained, exit 0
        assert app.venue.proc.wait(30) == 0
        with pytest.raises(GatewayError):
            app.gateway.status()


async def test_live_brake_modal_shows_the_preview_that_arrives_later():
    """In live mode the preview is read off the UI thread and then rendered into the open modal."""
    from console.factory import make_app

    app = make_app(seed=5, frozen=False, accounts=30, refresh_s=0.05, db="memory")
    async with app.run_test(size=DESK) as pilot:
        await wait_until_async(lambda: app.vm, pilot=pilot, what="the first refresh")
        await pilot.press("ctrl+b")
        await wait_until_async(lambda: isinstance(app.screen, BrakeModal), pilot=pilot, what="the brake dialog")
        await wait_until_async(lambda: app.screen.data is not None, pilot=pilot, interval=0.02,
                               what="the brake preview")
        markets = ", ".join(app.screen.data["markets_to_halt"])
        await wait_until_async(lambda: markets in str(app.screen.query_one("#brake-summary").render()),
                               pilot=pilot, what="the preview rendered into the modal")
        summary = str(app.screen.query_one("#brake-summary").render())
        markets = ", ".join(app.screen.data["markets_to_halt"])
        assert markets and markets in summary  # the modal was rebuilt with the preview
        assert app.screen.focused is not None and app.screen.focused.id == "cancel"
        await pilot.press("enter")  # Enter on the focused Cancel
        assert not app.gateway.status()["brake_engaged"]
