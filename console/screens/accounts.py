"""Accounts explorer: find an account; see its margin, positions, orders and history."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Static

from engine.api.errors import GatewayError

from .. import format as fmt
from ..modals.confirm import ConfirmDialog
from ..modals.field import Field
from ..widgets.desk_screen import DeskScreen
from ..widgets.tables import clear_table, setup_columns, sync_table

COLUMNS = [("account", "Account"), ("value", "Value", "right"), ("im", "Initial margin", "right"), ("mm", "Maint. margin", "right"),
           ("ratio", "MM / value", "right"), ("positions", "Pos", "right"), ("orders", "Ord", "right")]
LIMIT = 300
ACCOUNT_MODES = [("normal", "normal"), ("reduce-only", "reduce_only"), ("frozen", "frozen")]
MODE_LABEL = {"normal": "normal", "reduce_only": "reduce-only", "frozen": "frozen"}
MODE_EXPLAIN = {
    "normal": "normal: the account trades, deposits and withdraws as any other.",
    "reduce_only": "reduce-only: only orders that shrink its positions are accepted; its resting orders that "
                   "are not reduce-only are canceled (TP/SL kept). Deposits and withdrawals go on.",
    "frozen": "frozen: every order it has is canceled (TP/SL included) and it may only cancel: no orders, "
              "deposits or withdrawals. Liquidation still applies to it.",
}


class AccountsScreen(DeskScreen):
    #: its rules (user CSS, loaded when the screen is first installed; scoped to this screen)
    CSS = """
    #acct-table { border-title-color: $foreground; border-title-style: bold; }
    #acct-filter { height: 3; }
    #acct-table { width: 66; border: round $primary-muted; }
    #acct-detail { width: 1fr; }
    /* narrow terminals (set by on_resize): the detail goes under the table instead of beside it (beside a
       66-column table at 80 columns it had 14 and wrapped every figure) */
    AccountsScreen.-narrow #acct-body { layout: vertical; }
    AccountsScreen.-narrow #acct-table { width: 1fr; height: 1fr; }
    AccountsScreen.-narrow #acct-detail { height: 1fr; }
    """
    NAME = "accounts"
    AUTO_FOCUS = "#acct-table"
    BINDINGS = [Binding("slash", "filter", "Find account", id="acct_filter", key_display="/"),
                Binding("R", "sort_risk", "Sort by risk", id="acct_sort", key_display="R",
                        tooltip="Sort by margin ratio (maintenance margin / value), riskiest first; again: by name"),
                Binding("B", "below_mm", "Below maintenance", id="acct_below", key_display="B",
                        tooltip="Only accounts at or below maintenance margin (liquidatable); again: all"),
                # on the selected account; each a confirmation with a required reason
                Binding("M", "account_mode", "Account mode", id="acct_mode", key_display="M", show=False,
                        tooltip="Freeze the selected account (its orders are canceled; only cancels accepted), "
                                "make it reduce-only, or back to normal; liquidations still apply"),
                Binding("X", "cancel_account_orders", "Cancel its orders", id="acct_cancel_orders",
                        key_display="X", show=False,
                        tooltip="Cancel every order of the selected account (TP/SL included), one market or all")]

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

    def on_resize(self, event) -> None:
        self.set_class(self.size.width < 110, "-narrow")

    def on_mount(self) -> None:
        setup_columns(self.query_one(DataTable), COLUMNS)
        self.query_one("#acct-detail").border_title = "Account"

    def collect(self, gw) -> dict:
        if self.by_risk or self.below_mm:
            rows = gw.accounts_by_risk(LIMIT, self.below_mm)
            if self.query_text:
                rows = [r for r in rows if self.query_text in r["account"]]
        else:
            rows = gw.accounts(LIMIT, 0, self.query_text)
        out: dict = {"accounts": rows}
        shown = [r["account"] for r in rows]
        name = self.current if self.current in shown else (shown[0] if shown else None)
        if name:  # the selected account's detail is read here too, off the UI thread
            out["account_detail"] = (name, self.read_detail(gw, name))
        return out

    def read_detail(self, gw, name: str) -> dict:
        """The selected account, its liquidations and its refunds: reads only (off the UI thread when live:
        three venue requests, one of them the whole liquidations buffer, took 0.1-0.3 s on the UI thread
        at every refresh and every highlighted row)."""
        try:
            a = gw.account(name)
        except GatewayError as e:
            return {"error": e.message}
        liqs = [r for r in self.app.feed.liquidations() if r["account"] == name][-8:]
        try:
            refunds = [r for r in gw.refunds() if r["account"] == name]
        except GatewayError:
            refunds = []
        return {"account": a, "liqs": liqs, "refunds": refunds}

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
        shown = [k for k, _c in rows]
        if self.current not in shown:
            # the selection follows what is shown: after a filter (or a re-sort) an account no longer in
            # the table is not kept selected, else the detail box, M and X acted on an account not shown
            self.current = self._cursor_key(table, shown)
        detail = vm.get("account_detail")
        if detail is not None and detail[0] == self.current:
            self.show_detail(*detail)
        else:
            self._detail()

    @staticmethod
    def _cursor_key(table: DataTable, shown: list[str]) -> str | None:
        """The account under the table's cursor if it is one shown, else the first shown (None: none)."""
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            key = None
        return key if key in shown else (shown[0] if shown else None)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value and event.row_key.value != self.current:
            self.current = event.row_key.value
            self._detail()

    def _detail(self) -> None:
        """Show the selected account: read inline from an in-process desk, else in a worker (the box
        keeps what it shows until the read arrives; the latest selection wins)."""
        if not self.current:
            self.query_one("#acct-detail", Static).update(Text("no account", style="dim"))
            return
        if not self.app.live:
            self.show_detail(self.current, self.read_detail(self.app.gateway, self.current))
            return
        self._detail_worker(self.current)

    @work(thread=True, exclusive=True, exit_on_error=False, group="acct-detail")
    def _detail_worker(self, name: str) -> None:
        data = self.read_detail(self.app.gateway, name)
        self.app.call_from_thread(self.show_detail, name, data)

    def show_detail(self, name: str, data: dict) -> None:
        if name != self.current or not self.is_mounted:  # the operator has moved on: a newer read follows
            return
        box = self.query_one("#acct-detail", Static)
        if "error" in data:
            box.update(Text(data["error"], style="red"))
            return
        a = data["account"]
        if a is None:  # e.g. a rollback undid its deposit: its history still shows what happened to it
            box.update(Text(f"{name} no longer exists\n", style="dim") + self._history(data))
            return
        head = Text()
        head.append(f"{a['account']}", style="bold")
        mode = a.get("mode", "normal")
        if mode != "normal":
            head.append(f"  {MODE_LABEL.get(mode, mode).upper()}", style="bold reverse red" if mode == "frozen"
                        else "bold reverse yellow")
        head.append("\n")
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
        hist = self._history(data)
        from rich.console import Group

        box.update(Group(head, pos, Text(""), orders, hist))

    def _history(self, data: dict) -> Text:
        """Its liquidations (from the journal, rolled-back ones marked) and refunds."""
        hist = Text("\nhistory (from the journal)\n", style="bold")
        liqs = data["liqs"]
        for r in liqs:
            mk = r["market"]
            undone = bool(r.get("rolled_back"))
            hist.append(f"{fmt.date_time(r['ts'])} seq {r['seq']:,} liquidated {fmt.size_on(r['size'], mk)} {mk} at "
                        f"{fmt.price_on(r['price'], mk)}, bad debt {fmt.money(r['bad_debt'])}",
                        style="dim strike" if undone else "")
            hist.append("  rolled back\n" if undone else "\n", style="bold yellow")
        refunds = data["refunds"]
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

    # ---- the selected account: mode, cancel its orders ------------------------------------------------
    def _target(self, action: str) -> dict | None:
        why = self.app.why_not(action)
        if why:
            self.app.notify(why, title="Not available", severity="warning")
            return None
        if not self.current:
            self.app.notify("Select an account first.", title="Accounts", severity="warning")
            return None
        try:
            a = self.app.gateway.account(self.current)
        except GatewayError as e:
            self.app.notify(e.message, title="Account unavailable", severity="error")
            return None
        if a is None:
            self.app.notify(f"{self.current} no longer exists", title="Accounts", severity="warning")
        return a

    def action_account_mode(self) -> None:
        a = self._target("account_mode")
        if a is None:
            return
        name, mode = a["account"], a.get("mode", "normal")
        what = Text()
        what.append(f"{name}", style="bold")
        what.append(f" is {MODE_LABEL.get(mode, mode)}; {fmt.count_of(len(a['orders']), 'open order')}, "
                    f"{fmt.count_of(len(a['positions']), 'position')}.\n")
        for k in ("frozen", "reduce_only", "normal"):
            what.append(MODE_EXPLAIN[k] + "\n", style="dim")
        other = next(v for _l, v in ACCOUNT_MODES[::-1] if v != mode)  # frozen unless it is frozen already

        def confirmed(res) -> None:
            if not res:
                self.app.notify("Nothing changed.", title="Account mode")
                return
            new = str(res["value"])
            gw = self.app.gateway
            self.app.run_command("Account mode", lambda: gw.set_account_mode(name, new, res["reason"]),
                                 success=f"{name} is {MODE_LABEL[new]}")

        self.app.push_screen(ConfirmDialog(
            "ACCOUNT MODE", what, "Set mode", id="account-mode-modal",
            fields=[Field("field-value", "Set to", kind="select", key="value", options=tuple(ACCOUNT_MODES),
                          value=other, error_id="field-error")],
            reason_id="field-reason", body_id="field-explain"), confirmed)

    def action_cancel_account_orders(self) -> None:
        a = self._target("cancel_account_orders")
        if a is None:
            return
        name = a["account"]
        if not a["orders"]:
            self.app.notify(f"{name} has no open orders", title="Not available", severity="warning")
            return
        markets = sorted({o["market"] for o in a["orders"]})
        what = Text()
        what.append(f"{name}", style="bold")
        what.append(f": {fmt.count_of(len(a['orders']), 'open order')} in {', '.join(markets)}.\n")
        what.append("Every order of the account in the market chosen is canceled (its cancel reason: by an operator), "
                    "stop-loss and take-profit orders included. Its positions stay.", style="dim")

        def confirmed(res) -> None:
            if not res:
                self.app.notify("Nothing canceled.", title="Cancel orders")
                return
            market = None if res["value"] == "*" else str(res["value"])
            gw = self.app.gateway
            self.app.run_command("Cancel orders", lambda: gw.cancel_account_orders(name, market, res["reason"]),
                                 success=f"{name}: orders canceled in {market or 'every market'}")

        self.app.push_screen(ConfirmDialog(
            "CANCEL THE ACCOUNT'S ORDERS", what, "Cancel orders", dismiss="Keep orders", id="cancel-orders-modal",
            fields=[Field("field-value", "Market", kind="select", key="value",
                          options=(("every market", "*"), *((m, m) for m in markets)), error_id="field-error")],
            reason_id="field-reason", body_id="field-explain"), confirmed)
