"""Live liquidations: a bounded streaming table, a per-minute chart, pause and filter."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Input, Sparkline, Static

from .. import format as fmt
from ..widgets.content import show_content
from ..widgets.desk_screen import DeskScreen
from ..widgets.livetable import LiveTable
from ..widgets.tables import setup_columns

COLUMNS = [("time", "Time"), ("account", "Account"), ("market", "Market"), ("side", "Side"),
           ("size", "Size", "right"), ("price", "Price", "right"), ("fee", "Fee", "right"), ("bad_debt", "Bad debt", "right"), ("seq", "Seq", "right"), ("note", "Note")]
MAX_ROWS = 500


class LiquidationsScreen(DeskScreen):
    #: its rules (user CSS, loaded when the screen is first installed; scoped to this screen)
    CSS = """
    #liq-chart { border-title-color: $foreground; border-title-style: bold; }
    #liq-head { height: 6; }
    #liq-counters { width: 1fr; }
    #liq-chart { width: 1fr; height: 6; border: round $primary-muted; padding: 0 1; }
    #liq-filter { height: 3; }
    """
    NAME = "liquidations"
    AUTO_FOCUS = "#liq-table"
    BINDINGS = [
        Binding("space", "pause", "Pause feed", id="liq_pause"),
        Binding("space", "resume", "Resume feed", id="liq_resume"),
        Binding("slash", "filter", "Filter", id="liq_filter", key_display="/"),
        Binding("escape", "clear_filter", "Clear filter", id="liq_clear_filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.shown_upto = 0  # feed row number of the newest row in the table
        self.query_text = ""
        self.rows = 0

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="liq-head"):
            yield Static("", id="liq-counters", classes="panel")
            yield Sparkline([], id="liq-chart", summary_function=max)
        box = Input(placeholder="filter by market or account, Enter to apply, Esc to clear", id="liq-filter")
        box.display = False
        yield box
        yield LiveTable(id="liq-table", zebra_stripes=True, max_rows=MAX_ROWS)

    def on_mount(self) -> None:
        setup_columns(self.query_one(LiveTable), COLUMNS)
        self.query_one("#liq-chart").border_title = "liquidations per minute, last 30 min"
        self.query_one("#liq-counters").border_title = "Liquidations"

    # ---- rendering -------------------------------------------------------------
    def _match(self, row: dict) -> bool:
        q = self.query_text.lower()
        return not q or q in row["account"].lower() or q in row["market"].lower()

    @staticmethod
    def _cells(r: dict) -> tuple:
        bad = r.get("bad_debt", 0)
        undone = bool(r.get("rolled_back"))
        dim = "dim strike" if undone else ""
        market = r["market"]
        return (Text(fmt.clock_time(r["ts"]), style=dim), Text(r["account"], style=dim), Text(market, style=dim),
                Text(r["side"], style=dim or ("red" if r["side"] == "sell" else "green")),
                Text(fmt.size_on(r["size"], market), justify="right", style=dim),
                Text(fmt.price_on(r["price"], market), justify="right", style=dim),
                Text(fmt.money(r["fee"]), justify="right", style=dim),
                Text(fmt.money(bad), justify="right", style=dim or ("bold red" if bad else "dim")),
                Text(f"{r['seq']:,}", justify="right", style=dim),
                Text("rolled back", style="bold yellow") if undone else Text(""))

    def collect(self, gw) -> dict:
        # off the UI thread: with the venue in its own process every feed read is a round trip
        feed = self.app.feed
        return {"per_minute": feed.per_minute(gw.clock(), 30), "restored": feed.restored_from(),
                "new_liquidations": [] if self.paused else feed.liquidations_since(self.shown_upto)}

    def show(self, vm: dict) -> None:
        counters = vm["counters"]
        per_min = vm.get("per_minute")
        if per_min is not None:
            self.query_one("#liq-chart", Sparkline).data = list(per_min)
        last_minute = vm["last_minute"]
        pending = counters["liquidations"] - self.shown_upto
        t = Text()
        t.append(f"{counters['liquidations']:,}", style="bold")
        t.append(" seen   ")
        t.append(f"{sum(last_minute.values()):,}", style="bold red" if sum(last_minute.values()) else "bold")
        t.append(" in the last minute   ")
        t.append(" · ".join(f"{m.split('-')[0]} {n}" for m, n in sorted(last_minute.items())) or "")
        t.append(f"\nshowing {self.rows:,} rows (newest {MAX_ROWS} kept)")
        restored = vm.get("restored")
        if restored:
            t.append(f"   {restored['liquidations']:,} rebuilt from the journal (seq {restored['from_seq']:,}-"
                     f"{restored['head']:,})", style="dim")
        if self.query_text:
            t.append(f"   filter: {self.query_text!r}", style="bold")
        if self.paused:
            t.append(f"\nPAUSED — {pending:,} new since pause; counters and chart keep moving",
                     style="bold yellow")
        else:
            t.append("\nlive", style="green")
        show_content(self.query_one("#liq-counters", Static), t)
        if not self.paused and vm.get("new_liquidations"):
            self._append(vm["new_liquidations"])

    def _append(self, rows: list[dict]) -> None:
        if not rows:
            return
        rows = [r for r in rows if r["n"] > self.shown_upto]  # a view model may overlap the last one
        if not rows:
            return
        table = self.query_one(LiveTable)
        self.shown_upto = rows[-1]["n"]
        rows = [r for r in rows if self._match(r)][-MAX_ROWS:]
        if not rows:
            return
        # bounded: the table keeps the newest MAX_ROWS rows and draws only those in view
        table.append_rows((str(r["n"]), self._cells(r)) for r in rows)
        self.rows = table.row_count
        table.move_cursor(row=table.row_count - 1)

    def _rebuild(self) -> None:
        table = self.query_one(LiveTable)
        table.clear()
        self.rows = 0
        self.shown_upto = 0
        self._append(self.app.feed.liquidations())

    # ---- actions -------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "pause":
            return not self.paused
        if action == "resume":
            return self.paused
        return super().check_action(action, parameters)

    def action_pause(self) -> None:
        self.paused = True
        self.refresh_bindings()
        self.app.refresh_now()

    def action_resume(self) -> None:
        self.paused = False
        self.refresh_bindings()
        self.app.refresh_now()

    def action_filter(self) -> None:
        box = self.query_one("#liq-filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#liq-filter", Input)
        box.value = ""
        box.display = False
        if self.query_text:
            self.query_text = ""
            self._rebuild()
            self.app.refresh_now()
        self.query_one(LiveTable).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_text = event.value.strip()
        if not self.query_text:
            event.input.display = False
        self._rebuild()
        self.query_one(LiveTable).focus()
        self.app.refresh_now()
