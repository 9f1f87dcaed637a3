"""Risk at a glance: the Book screen (depth ladder, trades tape), next funding on the dashboard, the
insurance-fund history (live and rebuilt from the journal at start)."""

import pytest
from textual.binding import Binding

from console import format as fmt
from console.app import PerpdeskApp
from console.factory import seed_feed
from console.screens.book import LEVELS, TAPE, BookScreen, ladder_rows
from console.screens.dashboard import DashboardScreen, fund_lines, next_funding
from console.widgets.livetable import LiveTable
from engine.venue.feed import Feed
from tests.kit import WIDE


def _cells(table: LiveTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


@pytest.mark.asyncio
async def test_book_screen_shows_the_ladder_of_the_selected_market(desk_app):
    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("b")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, BookScreen)
        markets = [m["market"] for m in app.gateway.markets()]
        assert screen.market == markets[0]
        book = app.gateway.book(markets[0], LEVELS)
        rows = _cells(screen.query_one("#ladder", LiveTable))
        assert len(rows) == max(len(book["bids"]), len(book["asks"])) > 0
        cum = 0
        for row, (price, qty, _n) in zip(rows, book["bids"], strict=False):
            cum += qty
            assert row[:3] == [fmt.size_on(cum, markets[0]), fmt.size_on(qty, markets[0]),
                               fmt.price_on(price, markets[0])]
        best_ask = book["asks"][0][0]
        assert rows[0][3] == fmt.price_on(best_ask, markets[0])
        # ] and [ cycle the market (and wrap around)
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert screen.market == markets[1]
        eth = app.gateway.book(markets[1], LEVELS)
        assert _cells(screen.query_one("#ladder", LiveTable))[0][2] == fmt.price_on(eth["bids"][0][0], markets[1])
        await pilot.press("left_square_bracket", "left_square_bracket")
        await pilot.pause()
        assert screen.market == markets[-1]


@pytest.mark.asyncio
async def test_trades_tape_comes_from_the_event_feed(desk_app):
    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("b")
        await pilot.pause()
        market = app.screen.market
        trades = app.feed.recent_trades(market, TAPE)
        assert trades, "the warm-up traded"
        tape = _cells(app.screen.query_one("#tape", LiveTable))
        assert len(tape) == len(trades)
        ts, side, price, size = trades[0]  # newest first
        assert tape[0] == [fmt.clock_time(ts), side, fmt.price_on(price, market), fmt.size_on(size, market)]


def test_ladder_aggregates_cumulative_size_per_side():
    fmt.learn_markets([{"market": "T-USD-PERP", "tick_size": 100_000, "lot_size": 1_000_000}])
    book = {"bids": [(10_000_000, 200_000_000, 2), (9_900_000, 50_000_000, 1)],
            "asks": [(10_100_000, 100_000_000, 1)]}
    rows = [[str(c) for c in cells] for _k, cells in ladder_rows(book, "T-USD-PERP")]
    assert rows == [["2.00", "2.00", "10.0", "10.1", "1.00", "1.00"],
                    ["2.50", "0.50", "9.9", "", "", ""]]


def test_feed_keeps_a_bounded_tape_per_market_newest_first():
    feed = Feed(lambda: 5_000)
    feed([{"type": "trade", "market": "A", "price": 1, "size": 2, "side": "buy", "seq": 1},
          {"type": "trade", "market": "B", "price": 3, "size": 4, "side": "sell", "seq": 1},
          {"type": "trade", "market": "A", "price": 5, "size": 6, "side": "sell", "seq": 2}])
    assert feed.recent_trades("A") == [(5_000, "sell", 5, 6), (5_000, "buy", 1, 2)]
    assert feed.recent_trades("B", 1) == [(5_000, "sell", 3, 4)]
    assert feed.recent_trades("C") == []
    feed([{"type": "trade", "market": "A", "price": i, "size": 1, "side": "buy", "seq": 3} for i in range(500)])
    assert len(feed.recent_trades("A", 10_000)) == 100 and feed.recent_trades("A", 1)[0][2] == 499


@pytest.mark.asyncio
async def test_dashboard_shows_next_funding_time_and_rate(desk_app):
    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        markets = app.gateway.markets()
        now = app.gateway.status()["now"]
        for m in markets:  # the interval holding now: whole hours of engine time
            assert m["next_funding_ts"] % 3_600_000 == 0 and now < m["next_funding_ts"] <= now + 3_600_000
            assert isinstance(m["funding_rate_next"], int)
        table = app.screen.query_one("#markets", LiveTable)
        row = [str(c) for c in table.get_row(markets[0]["market"])]
        want = next_funding(markets[0], now)
        assert want in row and fmt.clock_time(markets[0]["next_funding_ts"])[:5] in want
        assert fmt.rate_pct(markets[0]["funding_rate_next"]) in want
    assert next_funding({"next_funding_ts": 7_200_000, "mode": "halted"}, 0) == "halted"
    assert next_funding({"next_funding_ts": 3_600_000, "mode": "open", "funding_rate_next": 10_000},
                        3_600_000 - 61_000) == "0.0100% 01:00 (2m)"


@pytest.mark.asyncio
async def test_dashboard_shows_insurance_fund_history(desk_app):
    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        hist = app.feed.fund_history()
        assert hist and hist[0]["reason"] == "funded"
        assert hist[-1]["balance"] == app.gateway.status()["insurance_fund"]
        shown = str(app.screen.query_one("#fund-hist").render())
        assert "funded" in shown and fmt.money(hist[-1]["balance"]) in shown
        assert app.screen.query_one("#fund-spark").data == [r["balance"] for r in hist]


def test_fund_history_rebuilt_from_the_journal_at_start(desk_app):
    app = desk_app()
    live = app.feed.fund_history()
    assert live
    fresh = Feed(app.gateway.clock)  # a restarted console: nothing seen yet
    seed_feed(fresh, app.node, app.gateway.clock())
    rebuilt = fresh.fund_history()
    assert [(r["reason"], r["change"], r["balance"]) for r in rebuilt] == \
           [(r["reason"], r["change"], r["balance"]) for r in live]


def test_fund_history_marks_rolled_back_changes():
    feed = Feed(lambda: 1_000)
    feed([{"type": "insurance_fund", "reason": "liquidation_fee", "change": 5, "balance": 105, "seq": 12}])
    feed([{"type": "rolled_back", "to_seq": 10, "seq": 20}])
    rows = feed.fund_history()
    assert rows[0]["rolled_back"] is True
    text = fund_lines(rows)
    assert "liq fee" in text.plain and any("strike" in str(s.style) for s in text.spans)


def test_book_key_means_one_thing():
    """``b`` and ``[``/``]`` are bound nowhere else (``B`` on Accounts is another key)."""
    keys = {k for b in PerpdeskApp.BINDINGS if isinstance(b, Binding) for k in b.key.split(",")}
    assert "b" in keys
    for name, cls in PerpdeskApp.MODES.items():
        own = {k for b in getattr(cls, "BINDINGS", ()) if isinstance(b, Binding) for k in b.key.split(",")}
        assert not own & keys, (name, own & keys)
        if name != "book":
            assert not own & {"left_square_bracket", "right_square_bracket"}, name


@pytest.mark.asyncio
async def test_venue_controls_show_what_fires_when_a_restricted_market_reopens(desk_app):
    app = desk_app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        btc = "BTC-USD-PERP"
        assert app.gateway.set_market_mode(btc, "halted", "drill: halt before reopening").ok
        backlog = app.gateway.reopen_backlog(btc)
        assert backlog["liquidatable"] > 0  # the warm-up's crash left accounts below maintenance (breaker paused)
        for name in backlog["accounts"]:
            a = app.gateway.account(name)
            assert a["value"] <= a["maintenance_margin"] and any(p["market"] == btc and p["size"] for p in a["positions"])
        await pilot.press("o")
        await pilot.pause()
        state = app.screen.query_one("#venue-state").render()
        text = str(state)
        assert "Waiting to fire when a restricted market reopens" in text
        assert f"{btc} {backlog['liquidatable']:,} liquidations, {backlog['triggers']:,} TP/SL" in text
        assert "ETH-USD-PERP" not in text.split("reopens:")[1]  # open markets are not listed
