"""Book: one market's order-book depth ladder and its trades tape (read-only).

The ladder is the top ``LEVELS`` price levels of each side, aggregated per price by the engine's book
(``engine.node.views.book``: at most ``LEVELS`` levels walked per side per refresh), with the size at the
level and the cumulative size from the touch. The tape is the market's last trades as the console's
event feed saw them (``Feed.recent_trades``): the time the console received them, the taker's side, price
and size. ``[`` / ``]`` cycle the market.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from .. import format as fmt
from ..widgets.content import show_content
from ..widgets.desk_screen import DeskScreen
from ..widgets.livetable import LiveTable
from ..widgets.tables import setup_columns

LEVELS = 20  # price levels per side
TAPE = 40  # trades on the tape

LADDER_COLUMNS = [("bcum", "Bid cum", "right"), ("bsize", "Bid size", "right"), ("bprice", "Bid", "right"),
                  ("aprice", "Ask", "right"), ("asize", "Ask size", "right"), ("acum", "Ask cum", "right")]
TAPE_COLUMNS = [("time", "Time"), ("side", "Side"), ("price", "Price", "right"), ("size", "Size", "right")]


def ladder_rows(book: dict, market: str) -> list[tuple[str, tuple]]:
    """The ladder's rows: level i of the bids beside level i of the asks, each with its cumulative size."""
    bids, asks = book.get("bids") or [], book.get("asks") or []
    rows = []
    bcum = acum = 0
    for i in range(max(len(bids), len(asks))):
        cells: list[Text] = []
        if i < len(bids):
            price, qty = bids[i][0], bids[i][1]
            bcum += qty
            cells += [Text(fmt.size_on(bcum, market), justify="right", style="dim"),
                      Text(fmt.size_on(qty, market), justify="right"),
                      Text(fmt.price_on(price, market), justify="right", style="green")]
        else:
            cells += [Text(""), Text(""), Text("")]
        if i < len(asks):
            price, qty = asks[i][0], asks[i][1]
            acum += qty
            cells += [Text(fmt.price_on(price, market), justify="right", style="red"),
                      Text(fmt.size_on(qty, market), justify="right"),
                      Text(fmt.size_on(acum, market), justify="right", style="dim")]
        else:
            cells += [Text(""), Text(""), Text("")]
        rows.append((f"L{i}", tuple(cells)))
    return rows


def tape_rows(trades: list, market: str) -> list[tuple[str, tuple]]:
    """The tape's rows, newest first: (ts, taker side, price, size)."""
    return [(f"T{i}", (Text(fmt.clock_time(ts)), Text(side, style="green" if side == "buy" else "red"),
                       Text(fmt.price_on(price, market), justify="right"),
                       Text(fmt.size_on(size, market), justify="right")))
            for i, (ts, side, price, size) in enumerate(trades)]


class BookScreen(DeskScreen):
    #: its rules (user CSS, loaded when the screen is first installed; scoped to this screen)
    CSS = """
    #ladder-box, #tape-box { border-title-color: $foreground; border-title-style: bold; }
    #book-head { height: 1; padding: 0 1; }
    #book-body { height: 1fr; }
    #ladder-box { width: 1fr; border: round $primary-muted; }
    #tape-box { width: 58; border: round $primary-muted; }
    """
    NAME = "book"
    TITLE_NAME = "Book"
    AUTO_FOCUS = "#ladder"
    BINDINGS = [
        Binding("left_square_bracket", "cycle(-1)", "Prev market", id="book_prev", key_display="[",
                tooltip="Show the previous market's book and trades"),
        Binding("right_square_bracket", "cycle(1)", "Next market", id="book_next", key_display="]",
                tooltip="Show the next market's book and trades"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.market: str | None = None  # None: the first market, once known
        self.market_names: list[str] = []

    def compose_body(self) -> ComposeResult:
        yield Static("", id="book-head")
        with Horizontal(id="book-body"):
            with Vertical(id="ladder-box"):
                yield LiveTable(id="ladder", zebra_stripes=True, max_rows=LEVELS)
            with Vertical(id="tape-box"):
                yield LiveTable(id="tape", zebra_stripes=True, max_rows=TAPE)

    def on_mount(self) -> None:
        setup_columns(self.query_one("#ladder", LiveTable), LADDER_COLUMNS)
        setup_columns(self.query_one("#tape", LiveTable), TAPE_COLUMNS)
        self.query_one("#ladder-box").border_title = f"Depth: top {LEVELS} levels per side"
        self.query_one("#tape-box").border_title = "Trades (taker side)"

    def collect(self, gw) -> dict:
        # off the UI thread: a bounded read (LEVELS levels per side) and the feed's tape
        market = self.market
        if market is None:
            markets = gw.markets()
            if not markets:
                return {"book": None}
            market = markets[0]["market"]
        return {"book_market": market, "book": gw.book(market, LEVELS), "tape": self.app.feed.recent_trades(market, TAPE)}

    def show(self, vm: dict) -> None:
        self.market_names = [m["market"] for m in vm.get("markets", ())]
        if self.market is None and self.market_names:
            self.market = self.market_names[0]
        market = vm.get("book_market")
        if market is None or market != self.market or vm.get("book") is None:
            return  # another screen's view model, or read before the market changed: the next read shows it
        info = next((m for m in vm["markets"] if m["market"] == market), {})
        bid, ask = info.get("best_bid"), info.get("best_ask")
        head = Text()
        head.append(f" {market} ", style="bold reverse")
        head.append(f"  {info.get('mode', '')}")
        head.append(f"   mark {fmt.price_on(info.get('mark_price'), market)}"
                    f"   index {fmt.price_on(info.get('index_price'), market)}")
        spread = fmt.price_on(ask - bid, market) if bid and ask else "—"
        head.append(f"   bid {fmt.price_on(bid, market) if bid else '—'}   ask {fmt.price_on(ask, market) if ask else '—'}"
                    f"   spread {spread}")
        head.append(f"   tick {fmt.price_on(info.get('tick_size'), market)}   lot {fmt.size(info.get('lot_size'))}",
                    style="dim")
        pos = self.market_names.index(market) + 1 if market in self.market_names else 0
        head.append(f"   market {pos}/{len(self.market_names)}  ([ ] to change)", style="dim")
        show_content(self.query_one("#book-head", Static), head, layout=False)
        self.query_one("#ladder", LiveTable).set_rows(ladder_rows(vm["book"], market))
        self.query_one("#tape", LiveTable).set_rows(tape_rows(vm.get("tape") or [], market))

    def action_cycle(self, step: int) -> None:
        names = self.market_names
        if not names:
            return
        i = names.index(self.market) if self.market in names else 0
        self.market = names[(i + step) % len(names)]
        self.app.refresh_now()
