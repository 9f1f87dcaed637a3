"""Snapshots and rollback: list, preview account by account, typed confirmation with a reason."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from engine.api.errors import GatewayError

from .. import format as fmt
from ..modals.rollback import RollbackModal
from ..widgets.desk_screen import DeskScreen
from ..widgets.flow import Flow
from ..widgets.tables import clear_table, setup_columns, sync_table

SNAP_COLUMNS = [("time", "Time (UTC)"), ("id", "Snapshot"), ("label", "Label"), ("trigger", "Trigger"),
                ("seq", "Seq", "right"), ("hash", "State hash"), ("size", "Size", "right")]
PREVIEW_COLUMNS = [("account", "Account"), ("coll_now", "Collateral now", "right"), ("coll_after", "after", "right"),
                   ("value_now", "Value now", "right"), ("value_after", "after", "right"),
                   ("pos_now", "Positions now"), ("pos_after", "after"), ("orders", "Orders", "right"),
                   ("trades", "Trades", "right"), ("liqs", "Liqs", "right")]
POS_WIDTH = 28  # a positions cell is cut here (…): every column fits 160 columns


def _cut(s: str, width: int = POS_WIDTH) -> str:
    return s if len(s) <= width else s[:width - 1] + "…"


PREVIEW_ROWS = 300


class SnapshotsScreen(DeskScreen):
    #: its rules (user CSS, loaded when the screen is first installed; scoped to this screen)
    CSS = """
    #snap-table { border-title-color: $foreground; border-title-style: bold; }
    #snap-table { height: auto; max-height: 10; border: round $primary-muted; }
    #preview-totals { height: auto; min-height: 7; max-height: 10; }
    #preview-table { height: 1fr; }
    """
    NAME = "snapshots"
    AUTO_FOCUS = "#snap-table"
    BINDINGS = [
        Binding("enter", "preview", "Preview rollback", id="snap_preview"),
        Binding("n", "take_snapshot", "New snapshot", id="snap_new"),
        Binding("ctrl+k", "rollback", "Roll back…", id="snap_rollback", key_display="^k"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.preview: dict | None = None
        self.preview_seq: int | None = None  # the venue's seq when the preview was computed

    def compose_body(self) -> ComposeResult:
        yield DataTable(id="snap-table", cursor_type="row")
        yield Static("Select a snapshot and press Enter to preview what a rollback would change.",
                     id="preview-totals", classes="panel")
        yield DataTable(id="preview-table", zebra_stripes=True)

    def on_mount(self) -> None:
        setup_columns(self.query_one("#snap-table", DataTable), SNAP_COLUMNS)
        setup_columns(self.query_one("#preview-table", DataTable), PREVIEW_COLUMNS)
        self.query_one("#snap-table").border_title = "Snapshots"
        self.query_one("#preview-totals").border_title = "Rollback preview"
        self.query_one("#snap-table").focus()

    def collect(self, gw) -> dict:
        return {"snapshots": gw.snapshots()}

    def show(self, vm: dict) -> None:
        snaps = sorted(vm.get("snapshots", []), key=lambda s: s["seq"], reverse=True)
        sync_table(self.query_one("#snap-table", DataTable), [
            (s["snapshot_id"], (fmt.date_time(s["ts"]), s["snapshot_id"], s["label"], s["trigger"],
                                Text(f"{s['seq']:,}", justify="right"), fmt.short_hash(s["state_hash"]),
                                Text(f"{s['size_bytes'] / 1024:,.1f} KiB", justify="right")))
            for s in snaps])

    def selected(self) -> str | None:
        t = self.query_one("#snap-table", DataTable)
        if not t.row_count:
            return None
        return t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value

    # ---- actions ----------------------------------------------------------------
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "snap-table":
            self.action_preview()

    def action_preview(self) -> None:
        sid = self.selected()
        if sid is None:
            self.app.notify("There is no snapshot to preview.", severity="warning")
            return
        self._compute_preview(sid)

    def _compute_preview(self, sid: str) -> dict | None:
        gw = self.app.gateway
        try:
            seq = gw.status().get("seq")
            self.preview = gw.rollback_preview(sid)
        except GatewayError as e:
            self.app.notify(e.message, title="Rollback preview failed", severity="error")
            return None
        self.preview_seq = seq
        self.show_preview(self.preview)
        return self.preview

    def show_preview(self, p: dict) -> None:
        tot = p["totals"]
        t = Text()
        t.append(f"Roll back to {p['snapshot_id']} ", style="bold")
        t.append(f"({p.get('label', '')}, seq {p['to_seq']:,}, hash {fmt.short_hash(p.get('state_hash'))})\n")
        t.append(f"{p['discarded_commands']:,} commands after it are kept in the journal, marked rolled back.")
        # the figures break between figures only, never inside one ("liquidations | undone 0" at 100 columns)
        items = [Text(f"accounts affected {tot['accounts_affected']:,}", style="bold"),
                 Text(f"collateral {fmt.signed_money(tot['collateral_change'])} USDC"),
                 Text(f"value {fmt.signed_money(tot['value_change'])} USDC"),
                 Text(f"trades undone {tot['trades_undone']:,}"),
                 Text(f"liquidations undone {tot['liquidations_undone']:,}"),
                 Text(f"orders restored {tot['orders_restored']:,}"),
                 Text(f"insurance fund {fmt.money(tot['insurance_fund_now'])} → "
                      f"{fmt.money(tot['insurance_fund_after'])} USDC")]
        if tot.get("edge_flows_reapplied") or tot.get("bad_debt_covered"):
            items += [Text(f"deposits/withdrawals/refunds kept {fmt.signed_money(tot['edge_flows_reapplied'])} USDC"),
                      Text(f"bad debt covered {fmt.money(tot['bad_debt_covered'])} USDC")]
        warn = Text()
        refused = p.get("refused")
        if refused:
            warn.append(f"⚠ this rollback would be refused ({refused['code']}): {refused['message']}\n",
                        style="bold red")
        if not p.get("tail_reproduces_current", True):
            warn.append("⚠ replaying the journal tail does not reproduce the current state hash\n", style="bold red")
        warn.rstrip()
        self.query_one("#preview-totals", Static).update(Group(t, warn, Flow(items)) if warn else Group(t, Flow(items)))  # a refusal first
        table = self.query_one("#preview-table", DataTable)
        clear_table(table)
        rows = sorted(p["accounts"], key=lambda r: (-abs(r["value_after"] - r["value_now"]), -r["liquidations_undone"],
                                                   r["account"]))
        for r in rows[:PREVIEW_ROWS]:
            dv = r["value_after"] - r["value_now"]
            table.add_row(
                r["account"],
                Text(fmt.money(r["collateral_now"]), justify="right"),
                Text(fmt.money(r["collateral_after"]), justify="right"),
                Text(fmt.money(r["value_now"]), justify="right"),
                Text(fmt.money(r["value_after"]), justify="right", style="green" if dv > 0 else ("red" if dv < 0 else "")),
                _cut(fmt.positions(r["positions_now"])), _cut(fmt.positions(r["positions_after"])),
                Text(f"{r['orders_now']}→{r['orders_after']}", justify="right"),
                Text(str(r["trades_undone"]), justify="right"),
                Text(str(r["liquidations_undone"]), justify="right", style="bold" if r["liquidations_undone"] else ""),
                key=r["account"])
        if len(rows) > PREVIEW_ROWS:
            table.add_row(f"… {len(rows) - PREVIEW_ROWS:,} more", *[""] * 9, key="_more")

    def action_take_snapshot(self) -> None:
        self.app.action_snapshot()

    def action_rollback(self) -> None:
        why = self.app.why_not("rollback")
        if why:  # refused before a dialog opens
            self.app.notify(why, title="Not available", severity="warning")
            return
        if self.preview is None or self.preview["snapshot_id"] != self.selected():
            self.action_preview()
        p = self.preview
        if p is None:
            return
        self._open_confirm(p, "")

    def _braked(self) -> bool:
        try:
            return bool(self.app.gateway.status().get("brake_engaged"))
        except GatewayError:
            return False

    def _open_confirm(self, p: dict, note: str) -> None:
        modal = RollbackModal(p, needs_override=not self._braked(), note=note)

        def done(result: tuple[str, bool] | None) -> None:
            if result is None:
                self.app.notify("Rollback canceled; nothing changed.", title="Rollback")
                return
            reason, overridden = result
            self._confirmed(p, reason, overridden)

        self.app.push_screen(modal, done)

    def _confirmed(self, p: dict, reason: str, overridden: bool) -> None:
        """At confirm: the venue may have moved on since the preview. A stale preview is recomputed;
        on a braked venue a changed preview is shown and confirmed again; an un-braked venue needs
        the override (given in the dialog, or the dialog opens again asking for it)."""
        gw = self.app.gateway
        sid = p["snapshot_id"]
        try:
            st = gw.status()
        except GatewayError as e:
            self.app.notify(e.message, title="Rollback: status unavailable", severity="error")
            return
        braked = bool(st.get("brake_engaged"))
        if st.get("seq") != self.preview_seq:
            fresh = self._compute_preview(sid)
            if fresh is None:
                return
            moved = st.get("seq", 0) - (self.preview_seq or 0)
            if not braked and not overridden:
                self._open_confirm(fresh, "The brake was released meanwhile: the override is needed.")
                return
            if braked and fresh["totals"] != p["totals"]:
                self._open_confirm(fresh, f"The preview changed while the dialog was open ({moved:,} commands "
                                          f"since): check it and confirm again.")
                return
            p = fresh
        elif not braked and not overridden:
            self._open_confirm(p, "The venue is not braked: the override is needed.")
            return

        def after(out) -> None:
            if out.ok:
                self.preview = None
                self.query_one("#preview-totals", Static).update(
                    f"Rolled back to {p['snapshot_id']} (seq {p['to_seq']:,}).")
                clear_table(self.query_one("#preview-table", DataTable))

        self.app.run_command("Rollback", lambda: gw.rollback(sid, reason),
                             success=f"Rolled back to {sid}; {p['discarded_commands']:,} "
                                     f"commands marked rolled back", then=after)

    def why_not(self, action: str) -> str | None:
        return self.app.why_not(action)
