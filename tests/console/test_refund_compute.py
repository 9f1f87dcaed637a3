"""Pilot tests: computing refunds from an incident in the real console (frozen desk)."""

import pytest
from textual.widgets import Button, DataTable, Input, Select, Static

from console.modals.compute import ComputeModal
from console.screens.refunds import RefundsScreen
from engine.core.fixedpoint import fmt_price
from engine.node.roles import Actor
from tests.kit import DESK, wait_until_async

from .test_flows import messages, text_of

pytestmark = pytest.mark.asyncio
BTC = "BTC-USD-PERP"


def bad_mark(app) -> int:
    """A restored market state with the mark 10% above the index: the leveraged shorts are liquidated.
    Returns its seq; then the market runs on (ticks put the mark back)."""
    app.desk.system({"type": "set_safeguards", "enabled": False,
                     "reason": "drill: the write as it happened on a venue without guard rails"})
    m = next(m for m in app.gateway.markets() if m["market"] == BTC)
    mark = m["index_price"] * 110 // 100 // m["tick_size"] * m["tick_size"]
    app.desk.system({"type": "load_market_state", "market": BTC, "mark_price": fmt_price(mark),
                     "funding_index": "0", "source": "db-restart"})
    seq = app.gateway.status()["seq"]
    app.desk.drive(20)
    return seq


async def open_compute(app, pilot) -> ComputeModal:
    await pilot.press("r")
    await pilot.pause()
    assert isinstance(app.screen, RefundsScreen)
    await pilot.press("i")
    await pilot.pause()
    modal = app.screen
    assert isinstance(modal, ComputeModal)
    return modal


async def test_compute_from_incident_shows_evidence_and_proposes(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.pause()
        bad = bad_mark(app)
        app.refresh_now()
        liqs_at_bad = [r for r in app.feed.liquidations() if r["seq"] == bad]
        assert liqs_at_bad, "the bad mark must liquidate someone for this test to mean anything"
        modal = await open_compute(app, pilot)
        # the newest snapshot is chosen, the window ends now, and the suspect is filled in
        snap = modal.query_one("#cf-snapshot", Select).value
        assert snap == max(app.gateway.snapshots(), key=lambda s: s["seq"])["snapshot_id"]
        assert modal.query_one("#cf-to-seq", Input).value == str(app.gateway.status()["seq"])
        assert modal.query_one("#cf-bad", Input).value == str(bad)
        assert f"suspect seq {bad} load_market_state" in text_of(modal.query_one("#cf-suspects"))
        await pilot.click("#cf-compute")
        await pilot.pause()
        report = modal.report
        assert report is not None and report["proposals"]
        # the screen shows exactly what the node computes
        direct = app.gateway.compute_refunds(snap, app.gateway.status()["seq"], [bad])
        assert [(p["account"], p["amount"]) for p in report["proposals"]] == [
            (p["account"], p["amount"]) for p in direct["proposals"]]
        table = modal.query_one("#cf-table", DataTable)
        assert table.row_count == len(report["proposals"])
        liquidated = {r["account"] for r in liqs_at_bad}
        assert liquidated & {p["account"] for p in report["proposals"]}
        totals = text_of(modal.query_one("#cf-totals"))
        n = len(report['proposals'])
        assert f"{n} account{'' if n == 1 else 's'} owed" in totals
        evidence = text_of(modal.query_one("#cf-evidence"))
        assert "counterfactual: replay" in evidence and f"without seq {bad}" in evidence
        # propose needs a reason
        propose = modal.query_one("#cf-propose", Button)
        assert not propose.disabled
        await pilot.click("#cf-propose")
        assert "reason is required" in text_of(modal.query_one("#cf-error"))
        await pilot.click("#cf-reason")
        await pilot.press(*"restored mark 10% off", "enter")  # Enter in the reason proposes
        await pilot.pause()
        assert isinstance(app.screen, RefundsScreen)
        refunds = app.gateway.refunds()
        assert [(r["account"], r["amount"]) for r in refunds] == [
            (p["account"], p["amount"]) for p in report["proposals"]]
        assert all(r["status"] == "proposed" and r["proposer"] == "alice" for r in refunds)
        assert all(r["reason"] == "restored mark 10% off" for r in refunds)
        assert all(r["evidence"]["method"] == "counterfactual" for r in refunds)
        assert any(" proposed, " in m and "(s)" not in m for m in messages(app))
        assert app.screen.query_one("#refund-table", DataTable).row_count == len(refunds)
        assert "counterfactual: replay" in text_of(app.screen.query_one("#refund-detail", Static))
        # the desk recomputes the selected refund from its stored inputs: it matches
        await pilot.press("v")
        await pilot.pause()
        assert any("amount and evidence match" in m for m in messages(app))
        # a second approver approves one
        rid = refunds[0]["refund_id"]
        app.node.decide_refund(rid, True, "recomputed, matches", actor=Actor("carol", "approver"))
        # proposing the same incident again is refused with a notification, not a traceback
        again = await open_compute(app, pilot)
        await pilot.click("#cf-compute")
        await pilot.pause()
        again.query_one("#cf-reason", Input).value = "again"
        await pilot.click("#cf-propose")
        await pilot.pause()
        assert app.last_outcome.code == "already_proposed"
        assert any("already proposed" in m for m in messages(app))
        assert len(app.gateway.refunds()) == len(refunds)


async def test_compute_errors_are_shown_not_raised(desk_app):
    app = desk_app(role="operator", operator="olga")
    async with app.run_test(size=DESK) as pilot:
        await pilot.pause()
        bad = bad_mark(app)
        app.refresh_now()
        modal = await open_compute(app, pilot)
        modal.query_one("#cf-bad", Input).value = "twelve"
        compute = modal.query_one("#cf-compute")
        await pilot.click("#cf-compute")
        assert "name the bad inputs" in text_of(modal.query_one("#cf-error"))
        modal.query_one("#cf-bad", Input).value = "1"  # before the snapshot: the node refuses
        await wait_until_async(lambda: not compute.has_class("-active"), pilot=pilot,
                               what="the Compute button's press animation to end")  # a press is ignored till then
        await pilot.click("#cf-compute")
        await pilot.pause()
        assert modal.report is None
        assert any("outside the window" in m for m in messages(app))
        modal.query_one("#cf-bad", Input).value = str(bad)
        await wait_until_async(lambda: not compute.has_class("-active"), pilot=pilot,
                               what="the Compute button's press animation to end")
        await pilot.click("#cf-compute")
        await pilot.pause()
        assert modal.report and modal.report["proposals"]


async def test_a_viewer_is_refused_before_any_refund_dialog_opens(desk_app):
    """Role refusals come first: a viewer pressing compute, propose, approve, reject, approve from the
    treasury or pay is told why at once; no dialog opens (it used to open and refuse only at Confirm)."""
    app = desk_app(role="viewer", operator="victor")
    async with app.run_test(size=DESK) as pilot:
        await pilot.pause()
        app.node.propose_refund("lev0001L", "10", "goodwill", {}, actor=Actor("bob", "operator"))
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, RefundsScreen)
        screen = app.screen
        for key, action in (("i", "compute"), ("n", "propose"), ("y", "approve"), ("x", "reject"),
                            ("f", "approve_treasury"), ("p", "pay")):
            app.clear_notifications()
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is screen, f"{key} opened {app.screen}"
            assert any("victor is viewer" in m for m in messages(app)), key
            app.clear_notifications()
            getattr(screen, f"action_{action}")()  # the palette's path: the action refuses itself too
            await pilot.pause()
            assert app.screen is screen, f"action_{action} opened {app.screen}"
            assert any("victor is viewer" in m for m in messages(app)), action
        assert [r["status"] for r in app.gateway.refunds()] == ["proposed"]


async def test_approve_from_the_treasury_and_pay(desk_app):
    app = desk_app(role="approver", operator="carol")
    async with app.run_test(size=DESK) as pilot:
        await pilot.pause()
        bad = bad_mark(app)
        snap = max(app.gateway.snapshots(), key=lambda s: s["seq"])["snapshot_id"]
        report = app.gateway.compute_refunds(snap, app.gateway.status()["seq"], [bad])
        proposed = app.node.propose_refunds(report, "restored mark 10% off", actor=Actor("bob", "operator"))
        first = proposed[0]
        fund_before = app.gateway.status()["insurance_fund"]
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("f")  # (t is Alerts on every screen; f: approve from the treasury fund)
        await pilot.press(*"recomputed; treasury pays", "enter")
        await pilot.pause()
        rec = next(r for r in app.gateway.refunds() if r["refund_id"] == first["refund_id"])
        assert (rec["status"], rec["approver"], rec["fund"]) == ("approved", "carol", "treasury")
        await pilot.press("p", "tab", "enter")  # p asks first (Cancel focused): Tab to Pay, Enter
        await pilot.pause()
        rec = next(r for r in app.gateway.refunds() if r["refund_id"] == first["refund_id"])
        assert rec["status"] == "paid" and rec["fund"] == "treasury"
        assert any("from the treasury fund" in m for m in messages(app))
        assert app.gateway.status()["insurance_fund"] == fund_before  # the treasury paid, not the fund
        assert app.gateway.checks() == []  # conservation holds: treasury credits count as money in
        # a hand-entered refund has no inputs: recomputing it is refused with a notification
        app.node.propose_refund(first["account"], "1", "goodwill", actor=Actor("bob", "operator"))
        app.refresh_now()
        table = app.screen.query_one("#refund-table", DataTable)
        table.move_cursor(row=table.row_count - 1)  # the newest: the hand-entered one
        await pilot.pause()
        await pilot.press("v")
        await pilot.pause()
        assert any("entered by hand" in m for m in messages(app))
