"""Issue 16, second pass: the dialogs not visited in the first (maintenance, rollback, refunds, account
mode/orders, audit detail, quit, demo) as an operator at 3 a.m. reads them, at every size."""

import pytest
from rich.console import Console
from textual.widgets import Static

from console.modals.help import HelpScreen
from tests.kit import WIDE


def rendered_lines(widget) -> list[str]:
    """What a Static shows, wrapped at the width it has on screen."""
    console = Console(width=widget.content_region.width, record=True, file=open("/dev/null", "w"))
    console.print(widget.content)
    return console.export_text().splitlines()


@pytest.mark.asyncio
async def test_helps_quit_row_is_one_line_at_160_columns(desk_app):
    """The Quit row wrapped to two lines at 160 columns (the sandbox's detail is the quit dialog's)."""
    from types import SimpleNamespace

    from console.app import PerpdeskApp

    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        lines = [ln for w in app.screen.query(Static) for ln in rendered_lines(w)]
        at = next(i for i, ln in enumerate(lines) if ln.split()[:2] == ["^q", "Quit"])
        assert lines[at].rstrip().endswith("the venue stops with it"), lines[at]
        assert at + 1 == len(lines) or not lines[at + 1].strip() or not lines[at + 1].startswith(" " * 8), \
            lines[at + 1]  # (a continuation would be indented past the key and action columns)
    attached = SimpleNamespace(venue=object(), director=None)
    short = PerpdeskApp.quit_consequence(attached, short=True)
    assert short == "the venue keeps running"
    assert "sandbox" in PerpdeskApp.quit_consequence(attached)  # the quit dialog keeps the detail


@pytest.mark.asyncio
async def test_accounts_selection_follows_what_the_table_shows(desk_app):
    """Live, a filter's results arrive from a worker after the table has the focus: the highlight of
    the row under the cursor before the filter (lev0000L) selected an account the table no longer
    showed, and the detail box, M and X stayed on it (seen in tmux: "mm0" shown, lev0000L's detail,
    X answering for lev0000L)."""
    from textual.widgets import DataTable

    from .test_flows import text_of

    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("c", "slash", *"lev0002", "enter")
        await pilot.pause()
        screen = app.screen
        table = screen.query_one("#acct-table", DataTable)
        shown = [str(k.value) for k in table.rows]
        assert "lev0000L" not in shown and shown
        screen.current = "lev0000L"  # what the stale highlight did
        app.refresh_now()
        await pilot.pause()
        assert screen.current in shown
        detail = text_of(screen.query_one("#acct-detail", Static))
        assert "lev0000L" not in detail and screen.current in detail


def test_the_audit_detail_writes_values_as_the_console_does_elsewhere():
    """It showed ['BTC-USD-PERP', 'ETH-USD-PERP'], False, 1796449425850, 1800000 and 1250.5: Python's
    reprs and raw milliseconds, where the rest of the console writes lists, times, durations and money."""
    from console.modals.audit_detail import detail_text

    from .test_flows import text_of

    entry = {"ts": 1_796_448_534_083, "operator": "root", "role": "admin", "action": "schedule_maintenance",
             "reason": "db upgrade", "outcome": "ok", "id": 7, "hash": "b25d55df0126aa",
             "command": {"type": "schedule_maintenance", "window_id": "mw-1", "kind": "database_upgrade",
                         "markets": ["BTC-USD-PERP", "ETH-USD-PERP"], "start_ts": 1_796_449_425_850,
                         "duration_ms": 1_800_000, "approve": False, "amount": "1250.5", "to_seq": 12345}}
    body = text_of(Static(detail_text(entry)))
    assert "[" not in body and "'" not in body and "False" not in body
    assert "BTC-USD-PERP, ETH-USD-PERP" in body
    assert "2026-12-05 05:43:45 UTC" in body and "(1796449425850)" in body
    assert "30m00s" in body and "approve         no" in body
    assert "1,250.50 USDC" in body and "12,345" in body


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (100, 30), WIDE])
async def test_the_refunds_summary_is_never_cut(desk_app, size):
    """At 100 columns the summary's second line wrapped and the panel, four rows high, cut it mid-sentence
    ("a proposer may not approve or")."""
    app = desk_app()
    async with app.run_test(size=size) as pilot:
        await pilot.press("r")
        await pilot.pause()
        box = app.screen.query_one("#refund-totals", Static)
        lines = [ln for ln in rendered_lines(box) if ln.strip()]
        assert len(lines) <= box.content_region.height, (lines, box.content_region.height)
        assert "their own refund" in lines[-1]
        assert "USDC" in lines[0]


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (100, 30), WIDE, (200, 60)])
async def test_the_rollback_previews_figures_are_never_cut_inside_one(desk_app, size):
    """At 100 columns the preview's line of figures wrapped as "... liquidations" / "undone 0 ..."."""
    from .test_console2 import _rollback_target

    app = desk_app()
    async with app.run_test(size=size) as pilot:
        sid = _rollback_target(app.gateway)["snapshot_id"]
        await pilot.press("s")
        await pilot.pause()
        screen = app.screen
        screen.show_preview(app.gateway.rollback_preview(sid))
        await pilot.pause()
        box = screen.query_one("#preview-totals", Static)
        lines = [ln.strip() for ln in rendered_lines(box)]
        for figure in ("accounts affected", "trades undone", "liquidations undone", "orders restored",
                       "insurance fund"):
            assert any(figure in ln for ln in lines), (figure, lines)
        for ln in lines:
            assert not ln.endswith(("liquidations", "trades", "orders", "accounts", "insurance", "→")), lines


@pytest.mark.asyncio
async def test_a_refund_decision_says_what_it_does_on_its_button_and_above_it(desk_app):
    """Approve and reject opened a bare reason field and a "Confirm" button: nothing said that an approved
    refund is not yet paid, nor from which fund, nor who proposed it."""
    from textual.widgets import Button

    from console.modals.reason import ReasonModal
    from engine.node.roles import Actor

    from .test_flows import text_of

    app = desk_app()
    async with app.run_test(size=(100, 30)) as pilot:
        app.node.propose_refund("lev0001L", "125.5", "liquidated on a bad mark", {"note": "tape"},
                                actor=Actor("carol", "operator"))
        app.refresh_now()
        await pilot.press("r")
        await pilot.pause()
        for key, label, says in (("y", "Approve", "paid (p) from the insurance fund"),
                                 ("f", "Approve (treasury)", "paid (p) from the treasury fund"),
                                 ("x", "Reject", "can no longer be approved or paid")):
            await pilot.press(key)
            await pilot.pause()
            modal = app.screen
            assert isinstance(modal, ReasonModal), key
            assert str(modal.query_one("#ok", Button).label) == label
            body = " ".join(text_of(modal.query_one("#confirm-explain")).split())
            assert says in body and "Proposed by carol: liquidated on a bad mark" in body
            await pilot.press("escape")
            await pilot.pause()


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
async def test_the_maintenance_windows_dialogs_say_their_keys_and_what_a_typed_value_means(desk_app, size):
    """X, T and E (on the selected window) were in no footer nor hint; the reschedule and extend dialogs
    took "+2h" or "60" without saying when the window would then start or end; the cancel dialog offered
    "Cancel" beside "Cancel window"."""
    from textual.widgets import Button, Input

    from console.modals.confirm import ConfirmDialog

    from .test_controls_console import _on_maintenance, _window
    from .test_flows import text_of

    app = desk_app()
    async with app.run_test(size=size) as pilot:
        start = _window(app)
        await _on_maintenance(app, pilot)
        hint = str(app.screen.query_one("#mw-table").border_subtitle)
        assert "X cancel" in hint and "T reschedule" in hint and "E extend" in hint
        await pilot.press("T")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ConfirmDialog) and modal.id == "reschedule-modal"
        modal.query_one("#field-value", Input).value = "+2h"
        await pilot.pause()
        said = text_of(modal.query_one("#field-error"))
        assert said.startswith("→ starts ") and "(in 2h00m)" in said, said
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("E")
        await pilot.pause()
        modal = app.screen
        modal.query_one("#field-value", Input).value = "60"
        await pilot.pause()
        said = text_of(modal.query_one("#field-error"))
        from console import format as fmt
        assert f"lasts 1h00m (+45m00s), ends {fmt.date_time(start + 60 * 60_000)} UTC" in said, said
        modal.query_one("#field-value", Input).value = "10"  # a problem is still a problem
        await pilot.pause()
        assert "longer than the current 15 minutes" in text_of(modal.query_one("#field-error"))
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("X")
        await pilot.pause()
        modal = app.screen
        assert modal.id == "cancel-window-modal"
        assert str(modal.query_one("#cancel", Button).label) == "Keep window"
        assert modal.focused is modal.query_one("#cancel", Button)


@pytest.mark.asyncio
async def test_the_propose_dialog_says_nothing_is_paid_yet(desk_app):
    """The propose form was four bare fields: nothing said a proposal pays nothing until a second
    operator approves it and someone pays it."""
    from console.modals.propose import ProposeModal

    from .test_flows import text_of

    app = desk_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r", "n")
        await pilot.pause()
        assert isinstance(app.screen, ProposeModal)
        body = " ".join(text_of(app.screen.query_one("#confirm-explain")).split())
        assert body.startswith("Nothing is paid yet: a second operator approves it")
        assert app.screen.focused.id == "p-account"


@pytest.mark.asyncio
async def test_the_account_dialogs_count_in_words_and_say_no_raw_reason_code(desk_app):
    """"0 open order(s), 1 position(s)" and "canceled (reason operator)": counts in the singular for one
    (as fmt.count_of writes them elsewhere) and no raw cancel-reason code."""
    from textual.widgets import Input

    from .test_flows import text_of

    app = desk_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("c", "slash")
        app.screen.query_one("#acct-filter", Input).value = "lev0000L"
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("M")
        await pilot.pause()
        body = text_of(app.screen.query_one("#field-explain"))
        assert "(s)" not in body and "1 position." in body, body
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("c", "slash")
        app.screen.query_one("#acct-filter", Input).value = "mm0"
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("X")
        await pilot.pause()
        body = " ".join(text_of(app.screen.query_one("#field-explain")).split())
        assert "(s)" not in body and "open orders in" in body and "reason operator" not in body, body
