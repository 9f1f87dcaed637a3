"""Dashboard: the venue at a glance."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline, Static

from .. import format as fmt
from ..widgets.content import show_content
from ..widgets.desk_screen import DeskScreen
from ..widgets.livetable import LiveTable
from ..widgets.tables import setup_columns

MARKET_COLUMNS = [("market", "Market"), ("mode", "Mode"), ("index", "Index", "right"), ("mark", "Mark", "right"),
                  ("funding", "Rate /8h", "right"), ("next_funding", "Next /8h, ends", "right"), ("oi", "Open int.", "right"), ("orders", "Orders", "right"),
                  ("oracle", "Oracle"), ("liq1m", "Liq 1m", "right"), ("flags", "Guards / paused")]

#: on a narrow terminal (under NARROW columns) the columns an operator needs at 3 a.m. come first and the
#: rest give way: the mode, the mark, the last minute's liquidations, the oracle's age and the guard rails
NARROW = 110
#: under TIGHT columns the fund's panel also gives up its fixed width (it shares the row with the alerts)
#: and its lines their balance column
TIGHT = 100
NARROW_COLUMNS = [c for k in ("market", "mode", "mark", "liq1m", "oracle", "flags", "funding")
                  for c in MARKET_COLUMNS if c[0] == k]

MODE_STYLE = {"open": "green", "post_only": "yellow", "reduce_only": "yellow", "cancel_only": "dark_orange",
              "halted": "bold red"}
#: guard-rail flags as the dashboard names them (a flag pauses liquidations and TP/SL on the market)
GUARD_LABEL = {"oracle_rejected": "ORACLE REFUSED", "oracle_stale": "ORACLE STALE", "circuit_breaker": "BREAKER"}
ALERT_STYLE = {"error": "bold red", "warning": "yellow", "information": ""}
SOURCE_STYLE = {"ok": "green", "stale": "yellow", "outlier": "yellow", "error": "bold red"}
#: insurance-fund reasons as the fund history names them
FUND_REASON = {"liquidation_fee": "liq fee", "liquidation_backstop": "backstop", "bankruptcy": "bankruptcy",
               "bad_debt": "bad debt", "refund": "refund", "funded": "funded", "rollback_edge_flows": "rollback edge"}
FUND_ROWS_SHOWN = 10  # changes listed under the fund's figures
FUND_SPARK = 60  # balances in the fund's sparkline


def next_funding(m: dict, now: int) -> str:
    """The rate the current hourly interval's samples give so far and when that interval closes
    (``—`` for a halted market: funding does not accrue there)."""
    ts = m.get("next_funding_ts")
    if not ts:
        return "—"
    if m.get("mode") == "halted":
        return "halted"
    minutes = -(-max(0, ts - now) // 60_000)  # whole minutes, rounded up
    return f"{fmt.rate_pct(m.get('funding_rate_next'))} {fmt.clock_time(ts)[:5]} ({minutes}m)"


def fund_lines(rows: list[dict], compact: bool = False) -> Text:
    """The fund's recent changes, newest first: time, reason, change, balance after (rolled back: struck;
    ``compact``: without the balance, for a narrow panel)."""
    t = Text()
    for r in reversed(rows[-FUND_ROWS_SHOWN:]):
        undone = r.get("rolled_back")
        ch = r["change"]
        t.append(f"{fmt.clock_time(r['ts'])} ", style="dim strike" if undone else "dim")
        t.append(f"{FUND_REASON.get(r['reason'], r['reason'])[:13]:<13} ", style="dim strike" if undone else "")
        t.append(f"{('+' if ch >= 0 else '') + fmt.money(ch):>14} ",
                 style="dim strike" if undone else ("green" if ch > 0 else "bold red" if ch < 0 else ""))
        t.append("\n" if compact else f"{fmt.money(r['balance']):>14}\n", style="dim strike" if undone else "")
    if not rows:
        t.append("no fund changes seen yet", style="dim")
    return t


class DashboardScreen(DeskScreen):
    #: its rules (user CSS, loaded when the screen is first installed; scoped to this screen)
    CSS = """
    #markets { height: auto; max-height: 8; margin: 0 0 0 0; }
    #sparks { height: 6; }
    .spark-box { border-title-color: $foreground; border-title-style: bold; }
    .spark-box { width: 1fr; padding: 0 1; border: round $primary-muted; }
    .spark-label { width: 1fr; color: $text-muted; }
    .spark-box Sparkline { height: 3; }
    #lower { height: 1fr; }
    #fund { width: 58; height: 100%; }
    #fund-body { height: auto; }
    #fund-spark-label { margin: 1 0 0 0; }
    #fund-spark { height: 2; }
    #fund-hist { height: auto; }
    #alerts { width: 1fr; height: 100%; }
    /* narrow terminals (set by on_resize): the fund's panel shares the width with the alerts */
    DashboardScreen.-tight #fund { width: 1fr; }
    /* the price sources panel, shown (-on) when real feeds are configured */
    #sources { width: 1fr; height: 100%; display: none; }
    #sources.-on { display: block; }
    """
    NAME = "dashboard"
    AUTO_FOCUS = "#markets"

    def compose_body(self) -> ComposeResult:
        yield LiveTable(id="markets", zebra_stripes=True)
        with Horizontal(id="sparks"):
            for i in range(3):
                with Vertical(classes="spark-box"):
                    yield Label("", id=f"spark-label-{i}", classes="spark-label")
                    yield Sparkline([], id=f"spark-{i}", summary_function=max)
        with Horizontal(id="lower"):
            with Vertical(id="fund", classes="panel"):  # the border is drawn once; only the figures change
                yield Static("", id="fund-body")
                yield Label("", id="fund-spark-label", classes="spark-label")
                yield Sparkline([], id="fund-spark", summary_function=max)
                yield Static("", id="fund-hist")
            yield Static("", id="alerts", classes="panel")
            yield Static("", id="sources", classes="panel")

    def on_mount(self) -> None:
        t = self.query_one("#markets", LiveTable)
        setup_columns(t, NARROW_COLUMNS if self.has_class("-narrow") else MARKET_COLUMNS)
        self.query_one("#fund").border_title = "Insurance fund"
        self.query_one("#alerts").border_title = "Alerts"
        self.query_one("#sources").border_title = "Price sources"

    def on_resize(self, event) -> None:
        narrow, tight = self.size.width < NARROW, self.size.width < TIGHT
        if narrow == self.has_class("-narrow") and tight == self.has_class("-tight"):
            return
        self.set_class(tight, "-tight")
        if narrow != self.has_class("-narrow"):
            self.set_class(narrow, "-narrow")
            t = self.query_one("#markets", LiveTable)
            t.reset_columns()
            setup_columns(t, NARROW_COLUMNS if narrow else MARKET_COLUMNS)
        if self.app.vm:
            self.render_vm(self.app.vm)

    def collect(self, gw) -> dict:
        # off the UI thread: with the venue in its own process every feed read is a round trip
        feed = self.app.feed
        return {"feeds": gw.feed_health(), "mark_histories": feed.mark_histories(), "recent_alerts": feed.recent_alerts(9),
                "fund_history": feed.fund_history(FUND_SPARK)}

    def show(self, vm: dict) -> None:
        now = vm["now"]
        last_minute = vm["last_minute"]
        rows = []
        for m in vm["markets"]:
            oracle_age = now - m["oracle_ts"] if m.get("oracle_ts") else None
            age = Text(fmt.age(oracle_age), style="bold red" if oracle_age and oracle_age > 10_000 else "")
            liq = last_minute.get(m["market"], 0)
            guard = [GUARD_LABEL.get(f, f) for f in m.get("flags", ())]
            flags = ", ".join(guard + [f for f, on in (("liq", m["liquidations_paused"]),
                                                       ("TP/SL", m["triggers_paused"])) if on])
            cells = {
                "market": Text(m["market"], style="bold"),
                "mode": Text(m["mode"], style=MODE_STYLE.get(m["mode"], "")),
                "index": Text(fmt.price_on(m["index_price"], m["market"]), justify="right"),
                "mark": Text(fmt.price_on(m["mark_price"], m["market"]), justify="right",
                             style="bold red" if m["mark_price"] <= 0 else ""),
                "funding": Text(fmt.rate_pct(m["funding_rate"]), justify="right"),
                "next_funding": Text(next_funding(m, now), justify="right"),
                "oi": Text(fmt.size_on(m["open_interest"], m["market"]), justify="right"),
                "orders": Text(str(m["open_orders"]), justify="right"),
                "oracle": age,
                "liq1m": Text(str(liq), justify="right", style="bold red" if liq else ""),
                "flags": Text(flags or "—", style="bold red" if guard else "yellow" if flags else "dim"),
            }
            rows.append((m["market"], cells))
        table = self.query_one("#markets", LiveTable)
        table.set_rows((key, tuple(cells[c] for c in table.columns)) for key, cells in rows)
        histories = vm.get("mark_histories")  # absent from another screen's view model: keep what is shown
        for i, m in enumerate(vm["markets"][:3] if histories is not None else ()):
            hist = histories.get(m["market"], [])
            spark = self.query_one(f"#spark-{i}", Sparkline)
            spark.data = hist[-60:]  # assign a new list: in-place mutation does not repaint
            lo, hi = (min(hist), max(hist)) if hist else (0, 0)
            show_content(self.query_one(f"#spark-label-{i}", Label),
                         f"{m['market'].split('-')[0]} {fmt.price_on(m['mark_price'], m['market'])}  range "
                         f"{fmt.price_on(lo, m['market'])}–{fmt.price_on(hi, m['market'])}")
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
        if st.get("withdrawals_enabled") is False:  # (shown only when paused)
            fund.append("\nwithdrawals     PAUSED", style="bold red")
        show_content(self.query_one("#fund-body", Static), fund)
        hist = vm.get("fund_history")
        if hist is not None:  # absent from another screen's view model: keep what is shown
            self._show_fund_history(hist, st["insurance_fund"])
        recent = vm.get("recent_alerts")
        if recent is not None:
            alerts = Text()
            if not recent:
                alerts.append("no alerts", style="dim")
            for ts, level, text in reversed(recent):
                alerts.append(f"{fmt.clock_time(ts)} ", style="dim")
                alerts.append(text + "\n", style=ALERT_STYLE.get(level, ""))
            show_content(self.query_one("#alerts", Static), alerts, layout=False)
        if "feeds" in vm:
            self._show_sources(vm["feeds"] or {})

    def _show_fund_history(self, hist: list[dict], balance: int) -> None:
        """The fund's balance after each recent change (sparkline) and the last changes, newest first."""
        balances = [r["balance"] for r in hist if not r.get("rolled_back")][-FUND_SPARK:]
        spark = self.query_one("#fund-spark", Sparkline)
        if list(spark.data or []) != balances:
            spark.data = balances  # a new list: in-place mutation does not repaint
        if balances:
            lo, hi = min(balances), max(balances)
            label = (f"range {fmt.money(lo)}–{fmt.money(hi)}"
                     if self.has_class("-tight") else
                     f"{fmt.count_of(len(hist), 'change')} · low {fmt.money(lo)} · high {fmt.money(hi)}")
        else:
            label = f"history: none yet (now {fmt.money(balance)})"
        show_content(self.query_one("#fund-spark-label", Label), label)
        show_content(self.query_one("#fund-hist", Static), fund_lines(hist, compact=self.has_class("-tight")))

    def _show_sources(self, feeds: dict) -> None:
        """Each price source's health (shown only when the config enables feeds)."""
        panel = self.query_one("#sources", Static)
        sources, indexes = feeds.get("sources") or [], feeds.get("indexes") or []
        panel.set_class(bool(sources), "-on")
        if not sources:
            return
        t = Text()
        for ix in indexes:
            st = ix.get("status", "")
            t.append(f"index {ix['market'].split('-')[0]:<5}", style="bold")
            t.append(f" {st:<7}", style=SOURCE_STYLE.get(st, ""))
            t.append(f" {fmt.price_on(ix.get('price') if ix.get('price') is not None else ix.get('submitted_price'), ix['market']):>12}")
            t.append(f"  {len(ix.get('used', []))} used", style="dim")
            if ix.get("outcome") and ix["outcome"] != "ok":
                t.append(f"  {ix['outcome']}", style="yellow")
            if ix.get("reason"):
                t.append(f"  {ix['reason']}", style="yellow")
            t.append("\n")
        for r in sources:
            st = r.get("status", "")
            t.append(f"{r['source'][:9]:<9} {r['market'].split('-')[0]:<5}")
            t.append(f" {st:<7}", style=SOURCE_STYLE.get(st, ""))
            t.append(f" {fmt.price_on(r.get('price'), r['market']):>12} {fmt.age(r.get('age_ms')):>6}")
            if r.get("last_error"):
                t.append(f"  {r['error_code']}: {r['last_error'][:40]}", style="red")
            t.append("\n")
        show_content(panel, t)
