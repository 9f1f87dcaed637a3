"""The console's second part: looks (fixed decimals, padding, titles), safe maintenance defaults, the
incident rebuilt from the journal after a restart, the audit detail view, risk at a glance."""

import pytest
from textual.widgets import DataTable, Input, Static

import engine.venue.desk as factory
from console import format as fmt
from console.app import PerpdeskApp
from console.modals.audit_detail import AuditDetail
from console.palette import DeskCommands
from console.widgets.livetable import LiveTable
from tests.kit import WIDE, palette_highlights, wait_until_async

from .test_flows import text_of


def cell_text(cell) -> str:
    return cell.plain if hasattr(cell, "plain") else str(cell)


# ---- looks ----------------------------------------------------------------------------------
def test_fixed_decimals_on_the_market_tick_and_lot():
    assert fmt.fixed(95_848_007_692, 6, 1) == "95,848.0"
    assert fmt.fixed(95_848_057_692, 6, 1) == "95,848.1"
    assert fmt.fixed(-1_234_500_000, 6, 2) == "-1,234.50"
    assert fmt.fixed(8_000_000, 8, 3) == "0.080"
    fmt.learn_markets([{"market": "X-USD-PERP", "tick_size": 100_000, "lot_size": 100_000}])
    assert fmt.price_on(95_795_743_750, "X-USD-PERP") == "95,795.7"
    assert fmt.size_on(8_000_000, "X-USD-PERP") == "0.080"


@pytest.mark.asyncio
async def test_liquidations_columns_are_fixed_width_padded_and_headers_right_aligned(desk_app):
    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("l")
        await pilot.pause()
        table = app.screen.query_one("#liq-table", LiveTable)
        assert table.row_count > 5
        keys = list(table.columns)
        sizes = {cell_text(table.get_row_at(i)[keys.index("size")]) for i in range(table.row_count)}
        prices = {cell_text(table.get_row_at(i)[keys.index("price")]) for i in range(table.row_count)}
        # one number of decimals per column: the lot's (3) and the tick's (1) for BTC
        assert {len(s.split(".")[1]) for s in sizes} == {3}
        assert {len(p.split(".")[1]) for p in prices} == {1}
        assert table.columns["size"].label.justify == "right"
        line = "".join(seg.text for seg in table.render_line(1))
        assert "sell   " in line  # never "sell0.128": three spaces between columns


@pytest.mark.asyncio
async def test_panel_titles_use_the_theme_text_colour_in_every_theme(desk_app):
    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        for theme in ("textual-dark", "textual-light", "nord", "gruvbox"):
            app.theme = theme
            await pilot.pause()
            panel = app.screen.query_one("#fund")
            colour = panel.styles.border_title_color
            bg = app.screen.styles.background
            assert panel.styles.border_title_style.bold
            # readable: well apart from the background (the old title was the muted border colour)
            assert abs(colour.brightness - bg.brightness) > 0.4, theme


@pytest.mark.asyncio
async def test_rollback_preview_fits_160_columns(desk_app):
    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("s", "enter")
        await pilot.pause()
        table = app.screen.query_one("#preview-table", DataTable)
        assert table.row_count
        assert table.virtual_size.width <= WIDE[0]


@pytest.mark.asyncio
async def test_palette_lists_every_screen_action_and_hides_framework_commands(desk_app):
    app = desk_app()
    async with app.run_test(size=WIDE):
        provider = DeskCommands(app.screen)
        names = [e[0] for e in provider._entries()]
        assert "Snapshots: Roll back…" in names and "Refunds: Propose" in names
        assert "Maintenance: Schedule window" in names
        system = [c.title for c in app.get_system_commands(app.screen)]
        assert system == ["Theme"]


@pytest.mark.asyncio
async def test_help_names_keys_as_typed(desk_app):
    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("l", "question_mark")
        await pilot.pause()
        shown = "".join(text_of(w) for w in app.screen.query(Static))
        for noise in ("exclamation_mark", "question_mark", "slash", "ctrl+"):
            assert noise not in shown
        assert "/" in shown and "!" in shown


# ---- the maintenance form -----------------------------------------------------------------
@pytest.mark.asyncio
async def test_maintenance_form_starts_empty_and_a_stray_ctrl_s_schedules_nothing(desk_app):
    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("m")
        await pilot.pause()
        for f in ("window_id", "markets", "start", "duration"):
            assert app.screen.query_one(f"#f-{f}", Input).value == ""
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.gateway.maintenance_windows() == []
        assert "required" in text_of(app.screen.query_one("#e-window_id"))


@pytest.mark.asyncio
async def test_maintenance_confirmation_cancel_schedules_nothing(desk_app):
    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("m")
        s = app.screen
        for f, v in (("window_id", "mw-1"), ("markets", "all"), ("start", "+20m"), ("duration", "15")):
            s.query_one(f"#f-{f}", Input).value = v
        s.query_one("#f-kind").value = "scale_up"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen.id == "schedule-modal" and app.focused.id == "cancel"
        await pilot.press("enter")  # Enter presses the focused Cancel
        await pilot.pause()
        assert app.gateway.maintenance_windows() == []


# ---- the incident survives a restart ------------------------------------------------------
def _rollback_target(gw) -> dict:
    return next(s for s in gw.snapshots() if s["label"].startswith("pre-maintenance"))


@pytest.mark.asyncio
async def test_a_live_rollback_marks_the_liquidations_it_undid(desk_app):
    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        gw = app.gateway
        before = app.feed.liquidations()
        assert before
        out = gw.rollback(_rollback_target(gw)["snapshot_id"], "drill")
        assert out.ok, out.message
        assert all(r.get("rolled_back") for r in before)
        await pilot.press("l")
        await pilot.pause()
        table = app.screen.query_one("#liq-table", LiveTable)
        assert cell_text(table.get_row_at(0)[-1]) == "rolled back"


@pytest.mark.asyncio
async def test_restart_rebuilds_liquidations_alerts_history_and_downtime(tmp_path, monkeypatch):
    monkeypatch.setenv("PERPDESK_HOME", str(tmp_path))
    db = f"sqlite:///{tmp_path}/venue.db"
    desk = factory.build_desk(seed=7, accounts=60, warmup_steps=200, db=db)
    gw = desk.gateway
    liqs = desk.feed.liquidations()
    assert liqs
    assert gw.rollback(_rollback_target(gw)["snapshot_id"], "drill").ok
    desk.drive(20)
    last_ts = desk.clock.now
    desk.node.close()

    # the venue comes back 15 s later: a new process, a new feed, nothing in memory
    monkeypatch.setattr(factory, "FROZEN_START_MS", last_ts + 15_000)
    desk2 = factory.build_desk(seed=7, accounts=60, warmup_steps=200, db=db)
    try:
        rebuilt = desk2.feed.liquidations()
        assert [(r["seq"], r["account"]) for r in rebuilt] == [(r["seq"], r["account"]) for r in liqs]
        assert all(r["rolled_back"] for r in rebuilt)  # the rollback undid every one of them
        alerts = [text for _ts, _lvl, text in desk2.feed.recent_alerts(100)]
        assert any(a.startswith("ROLLED BACK") for a in alerts)
        assert any(a.startswith("venue down ") and "(15s" in a for a in alerts)
        app = PerpdeskApp(desk2.node, gateway=desk2.gateway, feed=desk2.feed, desk=desk2, live=False)
        async with app.run_test(size=WIDE) as pilot:
            await pilot.press("l")
            await pilot.pause()
            assert app.screen.query_one("#liq-table", LiveTable).row_count == len(liqs)
            assert "rebuilt from the journal" in text_of(app.screen.query_one("#liq-counters"))
            await pilot.press("d")
            await pilot.pause()
            assert "venue down" in text_of(app.screen.query_one("#alerts"))
            await pilot.press("c", "slash", *liqs[0]["account"], "enter")
            await pilot.pause()
            app.screen.current = liqs[0]["account"]
            app.screen._detail()
            detail = text_of(app.screen.query_one("#acct-detail"))
            assert "liquidated" in detail and "rolled back" in detail
    finally:
        desk2.node.close()


# ---- audit detail and risk at a glance ------------------------------------------------------
@pytest.mark.asyncio
async def test_audit_detail_shows_the_full_outcome_and_what_it_names(desk_app):
    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        gw = app.gateway
        sid = _rollback_target(gw)["snapshot_id"]
        assert gw.rollback(sid, "drill: corrupted marks after the 04:30 restart").ok
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AuditDetail)
        body = text_of(app.screen.query_one("#audit-detail-body"))
        assert "rollback" in body and sid in body and "snapshot_id" in body
        assert "drill: corrupted marks after the 04:30 restart" in body
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, AuditDetail)


@pytest.mark.asyncio
async def test_accounts_sort_by_margin_ratio_and_below_maintenance_filter(desk_app):
    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("c", "R")
        await pilot.pause()
        rows = app.gateway.accounts_by_risk(300)
        ratios = [r["ratio_bps"] for r in rows]
        bankrupt = [r for r in ratios if r is None]
        assert ratios[:len(bankrupt)] == bankrupt  # value <= 0 first, then highest ratio first
        rest = ratios[len(bankrupt):]
        assert rest == sorted(rest, reverse=True)
        table = app.screen.query_one("#acct-table", DataTable)
        assert [k.value for k in table.rows][:5] == [r["account"] for r in rows[:5]]
        await pilot.press("B")
        await pilot.pause()
        below = app.gateway.accounts_by_risk(300, True)
        assert all(r["ratio_bps"] is None or r["ratio_bps"] >= 10_000 for r in below)
        assert table.row_count == len(below)
        assert "below maintenance" in str(table.border_title)


@pytest.mark.asyncio
async def test_palette_runs_another_screens_action_there(desk_app):
    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("ctrl+p", *"accounts: below")
        await wait_until_async(lambda: palette_highlights(app, "below"), pilot=pilot, what="the palette's hit")
        await pilot.press("enter")
        await wait_until_async(lambda: app.current_mode == "accounts" and app.screen.below_mm, pilot=pilot,
                               what="the accounts screen, below maintenance margin only")
