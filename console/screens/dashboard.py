"""Dashboard: the venue at a glance."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, Sparkline, Static

from .. import format as fmt
from ..tables import setup_columns, sync_table
from ..widgets import DeskScreen

MARKET_COLUMNS = [("market", "Market"), ("mode", "Mode"), ("index", "Index"), ("mark", "Mark"),
                  ("funding", "Funding /8h"), ("oi", "Open interest"), ("orders", "Open orders"),
                  ("oracle", "Oracle age"), ("liq1m", "Liq 1m"), ("flags", "Paused")]

MODE_STYLE = {"open": "green", "post_only": "yellow", "reduce_only": "yellow", "cancel_only": "dark_orange",
              "halted": "bold red"}
ALERT_STYLE = {"error": "bold red", "warning": "yellow", "information": ""}


class DashboardScreen(DeskScreen):
    NAME = "dashboard"
    AUTO_FOCUS = "#markets"

    def compose_body(self) -> ComposeResult:
        yield DataTable(id="markets", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="sparks"):
            for i in range(3):
                with Vertical(classes="spark-box"):
                    yield Label("", id=f"spark-label-{i}", classes="spark-label")
                    yield Sparkline([], id=f"spark-{i}", summary_function=max)
        with Horizontal(id="lower"):
            yield Static("", id="fund", classes="panel")
            yield Static("", id="alerts", classes="panel")

    def on_mount(self) -> None:
        t = self.query_one("#markets", DataTable)
        setup_columns(t, MARKET_COLUMNS)
        self.query_one("#fund").border_title = "Insurance fund"
        self.query_one("#alerts").border_title = "Alerts"

    def show(self, vm: dict) -> None:
        now = vm["now"]
        last_minute = vm["last_minute"]
        rows = []
        for m in vm["markets"]:
            oracle_age = now - m["oracle_ts"] if m.get("oracle_ts") else None
            age = Text(fmt.age(oracle_age), style="bold red" if oracle_age and oracle_age > 10_000 else "")
            liq = last_minute.get(m["market"], 0)
            flags = ", ".join(f for f, on in (("liq", m["liquidations_paused"]), ("TP/SL", m["triggers_paused"])) if on)
            rows.append((m["market"], (
                Text(m["market"], style="bold"),
                Text(m["mode"], style=MODE_STYLE.get(m["mode"], "")),
                Text(fmt.price(m["index_price"]), justify="right"),
                Text(fmt.price(m["mark_price"]), justify="right",
                     style="bold red" if m["mark_price"] <= 0 else ""),
                Text(fmt.rate_pct(m["funding_rate"]), justify="right"),
                Text(fmt.size(m["open_interest"]), justify="right"),
                Text(str(m["open_orders"]), justify="right"),
                age,
                Text(str(liq), justify="right", style="bold red" if liq else ""),
                Text(flags or "—", style="yellow" if flags else "dim"),
            )))
        sync_table(self.query_one("#markets", DataTable), rows)
        feed = self.app.feed
        for i, m in enumerate(vm["markets"][:3]):
            hist = feed.mark_history(m["market"])
            spark = self.query_one(f"#spark-{i}", Sparkline)
            spark.data = hist[-60:]  # assign a new list: in-place mutation does not repaint
            lo, hi = (min(hist), max(hist)) if hist else (0, 0)
            self.query_one(f"#spark-label-{i}", Label).update(
                f"{m['market'].split('-')[0]} {fmt.price(m['mark_price'])}  range {fmt.price(lo)}–{fmt.price(hi)}")
        st = vm["status"]
        c = vm["counters"]
        fund = Text()
        fund.append(f"{fmt.money(st['insurance_fund'])} USDC\n", style="bold")
        fund.append(f"fee pool        {fmt.money(st['fee_pool'])} USDC\n")
        fund.append(f"accounts        {st['accounts']:,}\n")
        fund.append(f"open orders     {st['open_orders']:,}\n")
        fund.append(f"trades seen     {c['trades']:,}\n")
        fund.append(f"liquidations    {c['liquidations']:,}\n")
        fund.append(f"platform access {'enabled' if st['platform_access'] else 'DISABLED'}",
                    style="" if st["platform_access"] else "bold red")
        self.query_one("#fund", Static).update(fund)
        alerts = Text()
        recent = feed.recent_alerts(9)
        if not recent:
            alerts.append("no alerts", style="dim")
        for ts, level, text in reversed(recent):
            alerts.append(f"{fmt.clock_time(ts)} ", style="dim")
            alerts.append(text + "\n", style=ALERT_STYLE.get(level, ""))
        self.query_one("#alerts", Static).update(alerts)
