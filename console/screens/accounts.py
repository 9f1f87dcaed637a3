"""Accounts explorer: find an account; see its margin, positions, orders and history."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Static

from .. import format as fmt
from ..gateway import GatewayError
from ..tables import clear_table, setup_columns, sync_table
from ..widgets import DeskScreen

COLUMNS = [("account", "Account"), ("value", "Value", "right"), ("im", "Initial margin", "right"), ("mm", "Maint. margin", "right"),
           ("ratio", "MM / value", "right"), ("positions", "Pos", "right"), ("orders", "Ord", "right")]
LIMIT = 300


class AccountsScreen(DeskScreen):
    NAME = "accounts"
    AUTO_FOCUS = "#acct-table"
    BINDINGS = [Binding("slash", "filter", "Find account", id="acct_filter", key_display="/"),
                Binding("R", "sort_risk", "Sort by risk", id="acct_sort", key_display="R",
                        tooltip="Sort by margin ratio (maintenance margin / value), riskiest first; again: by name"),
                Binding("B", "below_mm", "Below maintenance", id="acct_below", key_display="B",
                        tooltip="Only accounts at or below maintenance margin (liquidatable); again: all")]

    def __init__(self) -> None:
        super().__init__()
        self.query_text = ""
        self.current: str | None = None
        self.by_risk = False
        self.below_mm = False

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="account name contains… (Enter)", id="acct-filter")
        with Horizontal(id="acct-body"):
            yield DataTable(id="acct-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="acct-detail", classes="panel")

    def on_mount(self) -> None:
        setup_columns(self.query_one(DataTable), COLUMNS)
        self.query_one("#acct-detail").border_title = "Account"

    def collect(self, gw) -> dict:
        if self.by_risk or self.below_mm:
            rows = gw.accounts_by_risk(LIMIT, self.below_mm)
            if self.query_text:
                rows = [r for r in rows if self.query_text in r["account"]]
            return {"accounts": rows}
        return {"accounts": gw.accounts(LIMIT, 0, self.query_text)}

    def show(self, vm: dict) -> None:
        rows = []
        for a in vm.get("accounts", []):
            ratio = a["maintenance_margin"] * 10_000 // a["value"] if a["value"] > 0 else None
            style = "bold red" if ratio is None or ratio >= 10_000 else ("yellow" if ratio >= 7_000 else "")
            rows.append((a["account"], (
                a["account"], Text(fmt.money(a["value"]), justify="right"),
                Text(fmt.money(a["initial_margin"]), justify="right"),
                Text(fmt.money(a["maintenance_margin"]), justify="right"),
                Text("—" if not a["positions"] else "bankrupt" if ratio is None else fmt.bps(ratio), justify="right",
                     style=style if a["positions"] else "dim"),
                Text(str(a["positions"]), justify="right"), Text(str(a["orders"]), justify="right"))))
        table = self.query_one(DataTable)
        if self.by_risk or self.below_mm:
            # order matters here: rebuild when the order changed (sync_table keeps existing rows' order)
            if [k for k, _c in rows] != [str(k.value) for k in table.rows]:
                clear_table(table)
        sync_table(table, rows)
        mode = ("below maintenance, " if self.below_mm else "") + ("riskiest first" if self.by_risk or self.below_mm
                                                                   else "by name")
        table.border_title = f"Accounts ({len(rows)} shown, {mode}, first {LIMIT})"
        if self.current is None and rows:
            self.current = rows[0][0]
        self._detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value:
            self.current = event.row_key.value
            self._detail()

    def _detail(self) -> None:
        box = self.query_one("#acct-detail", Static)
        if not self.current:
            box.update(Text("no account", style="dim"))
            return
        try:
            a = self.app.gateway.account(self.current)
        except GatewayError as e:
            box.update(Text(e.message, style="red"))
            return
        if a is None:  # e.g. a rollback undid its deposit: its history still shows what happened to it
            box.update(Text(f"{self.current} no longer exists\n", style="dim") + self._history(self.current))
            return
        head = Text()
        head.append(f"{a['account']}\n", style="bold")
        head.append(f"collateral {fmt.money(a['collateral'])}   value {fmt.money(a['value'])}   "
                    f"free {fmt.money(a['free_collateral'])}\n")
        ratio = a.get("margin_ratio_bps")
        head.append(f"initial margin {fmt.money(a['initial_margin'])}   maintenance {fmt.money(a['maintenance_margin'])}   "
                    f"ratio {'bankrupt' if ratio is None else fmt.bps(ratio)}\n")
        pos = Table(title="positions", box=None, expand=True, title_justify="left")
        for c in ("market", "size", "entry", "mark", "uPnL", "funding"):
            pos.add_column(c, justify="right" if c != "market" else "left")
        for p in a["positions"]:
            mk = p["market"]
            pos.add_row(mk, fmt.size_on(p["size"], mk), fmt.price_on(p["entry_price"], mk), fmt.price_on(p["mark_price"], mk),
                        fmt.money(p["unrealized_pnl"]), fmt.money(p["funding_pnl"]))
        orders = Table(title="open orders", box=None, expand=True, title_justify="left")
        for c in ("id", "market", "side", "type", "price", "remaining"):
            orders.add_column(c, justify="right" if c in ("id", "price", "remaining") else "left")
        for o in a["orders"][:12]:
            orders.add_row(str(o["order_id"]), o["market"], o["side"], o["order_type"],
                           fmt.price_on(o["price"] or o["trigger_price"], o["market"]), fmt.size_on(o["remaining"], o["market"]))
        hist = self._history(a["account"])
        from rich.console import Group

        box.update(Group(head, pos, Text(""), orders, hist))

    def _history(self, name: str) -> Text:
        """Its liquidations (from the journal, rolled-back ones marked) and refunds."""
        hist = Text("\nhistory (from the journal)\n", style="bold")
        liqs = [r for r in self.app.feed.liquidations() if r["account"] == name][-8:]
        for r in liqs:
            mk = r["market"]
            undone = bool(r.get("rolled_back"))
            hist.append(f"{fmt.date_time(r['ts'])} seq {r['seq']:,} liquidated {fmt.size_on(r['size'], mk)} {mk} at "
                        f"{fmt.price_on(r['price'], mk)}, bad debt {fmt.money(r['bad_debt'])}",
                        style="dim strike" if undone else "")
            hist.append("  rolled back\n" if undone else "\n", style="bold yellow")
        try:
            refunds = [r for r in self.app.gateway.refunds() if r["account"] == name]
        except GatewayError:
            refunds = []
        for r in refunds:
            hist.append(f"refund {r['refund_id']} {fmt.money(r['amount'])} USDC {r['status']}\n")
        if not liqs and not refunds:
            hist.append("no liquidations or refunds\n", style="dim")
        return hist

    def action_sort_risk(self) -> None:
        self.by_risk = not self.by_risk
        clear_table(self.query_one(DataTable))
        self.app.refresh_now()

    def action_below_mm(self) -> None:
        self.below_mm = not self.below_mm
        clear_table(self.query_one(DataTable))
        self.app.refresh_now()

    def action_filter(self) -> None:
        self.query_one("#acct-filter", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_text = event.value.strip()
        self.current = None
        self.app.refresh_now()
        self.query_one(DataTable).focus()
