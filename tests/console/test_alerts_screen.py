"""Pilot tests: the alerts screen (deliveries, sinks without secrets) and the dashboard's price sources."""

from __future__ import annotations

import httpx
import pytest
from textual.widgets import DataTable

from console.palette import DeskCommands
from console.screens.alerts import AlertsScreen
from console.screenshots import TRIP
from engine.settings.config import parse_config
from tests.kit import DESK, wait_until_async

from .test_flows import text_of

pytestmark = pytest.mark.asyncio

HOOK_SECRET = "https://hooks.slack.com/services/T9/B9/paneSECRET"
PD_SECRET = "pdROUTINGsecret"
CONFIG = """
[alerts]
venue = "drill"
backoff_s = 0
[[alerts.sinks]]
name = "ops-slack"
kind = "slack"
url = "${HOOK}"
min_severity = "info"
[[alerts.sinks]]
name = "pager"
kind = "pagerduty"
routing_key = "${PD}"
min_severity = "critical"
"""
FEEDS = """
[feeds]
enabled = true
[feeds.sources.binance]
weight = 3
[feeds.sources.okx]
weight = 2
[feeds.markets.BTC-USD-PERP]
binance = "BTCUSDT"
okx = "BTC-USDT"
"""


def alert_client(seen: list, first_status: int = 503):
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        calls["n"] += 1
        if calls["n"] == 1:
            return httpx.Response(first_status, text="upstream busy")
        return httpx.Response(202 if "pagerduty" in request.url.host else 200, text="ok")

    return httpx.Client(transport=httpx.MockTransport(handler))


async def test_alerts_screen_lists_deliveries_and_never_a_secret(desk_app):
    seen: list = []
    cfg = parse_config(CONFIG, env={"HOOK": HOOK_SECRET, "PD": PD_SECRET})
    app = desk_app(config=cfg, outside={"alert_client": alert_client(seen), "sleep": lambda s: None})
    async with app.run_test(size=DESK) as pilot:
        app.desk.alerts.run_pending()  # whatever the warm-up raised (a liquidation spike, ...)
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, AlertsScreen)
        before = app.screen.query_one(DataTable).row_count
        await pilot.press(*TRIP)
        await pilot.pause()
        assert app.desk.alerts.run_pending() == 2  # slack and pagerduty (critical)
        app.refresh_now()
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert table.row_count >= before + 2
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        brake = [r for r in rows if r[1] == "brake_engaged"]
        assert {(r[3], r[5], r[6]) for r in brake} >= {("pager", "delivered", "202"), ("ops-slack", "delivered", "200")}
        head = text_of(app.screen.query_one("#alert-sinks"))
        assert "ops-slack slack ≥ info" in head and "pager pagerduty ≥ critical" in head
        shown = head + repr(rows) + text_of(app.screen.query_one("#banner"))
        assert HOOK_SECRET not in shown and PD_SECRET not in shown and "paneSECRET" not in shown
        assert any(r.url.host == "events.pagerduty.com" for r in seen)  # the default Events API v2 URL


async def test_alerts_screen_without_config_says_nothing_is_sent(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, AlertsScreen)
        assert "No alert sinks configured" in text_of(app.screen.query_one("#alert-sinks"))
        assert app.screen.query_one(DataTable).row_count == 0
        assert app.gateway.feed_health() == {"sources": [], "indexes": []}
        assert not app.screen.query("#sources")  # the dashboard panel lives on the dashboard only
        await pilot.press("d")
        await pilot.pause()
        assert not app.screen.query_one("#sources").has_class("-on")  # no feeds: no panel


async def test_palette_and_help_offer_the_alerts_screen(desk_app):
    app = desk_app()
    async with app.run_test(size=DESK) as pilot:
        await pilot.pause()
        names = [str(hit.display) async for hit in DeskCommands(app.screen).discover()]
        assert "Go: Alerts" in names
        await pilot.press("question_mark")
        await pilot.pause()
        shown = "".join(text_of(w) for w in app.screen.query_one("#dialog").query("Static"))
        assert "Alert deliveries to Slack" in shown


async def test_dashboard_shows_each_price_sources_health(desk_app):
    def prices(request: httpx.Request) -> httpx.Response:
        if request.url.host == "api.binance.com":
            return httpx.Response(200, content=b'{"symbol":"BTCUSDT","price":"97010.50"}')
        return httpx.Response(502, content=b"<html>bad gateway</html>")

    cfg = parse_config(FEEDS)
    app = desk_app(config=cfg, outside={"feed_client": httpx.Client(transport=httpx.MockTransport(prices)),
                                        "sleep": lambda s: None})
    async with app.run_test(size=DESK) as pilot:
        app.desk.feeds.poll_once()
        app.refresh_now()
        await pilot.pause()
        panel = app.screen.query_one("#sources")
        assert panel.has_class("-on")
        text = text_of(panel)
        assert "binance   BTC   ok" in text and "97,010.5" in text
        assert "okx       BTC   error" in text and "http_502" in text
        assert "index BTC   stale" in text and "quorum 2" in text
    app.desk.feeds.stop()


async def test_live_desk_takes_its_index_from_the_feeds():
    """A live console with feeds: the FeedRunner's index is journaled, the simulator's own oracle is not."""

    from console.factory import make_app

    def prices(request: httpx.Request) -> httpx.Response:
        if request.url.host == "api.binance.com":
            return httpx.Response(200, content=b'{"symbol":"BTCUSDT","price":"97100.00"}')
        return httpx.Response(200, content=(b'{"code":"0","msg":"","data":[{"instId":"BTC-USDT","last":"97100",'
                                            b'"askPx":"97100.1","bidPx":"97099.9","ts":"%d"}]}'
                                            % (__import__("time").time_ns() // 1_000_000)))

    cfg = parse_config(FEEDS.replace("enabled = true", "enabled = true\npoll_interval_s = 0.1"))
    app = make_app(seed=7, frozen=False, accounts=20, db="memory", incident=False, config=cfg,
                   outside={"feed_client": httpx.Client(transport=httpx.MockTransport(prices))})
    async with app.run_test(size=DESK):
        await wait_until_async(lambda: any(c["type"] == "oracle_price" and c.get("source") == "index"
                                           for c in list(app.node.journal)), 5.0, interval=0.05,
                               what="an index oracle price in the journal")
        btc = [c for c in list(app.node.journal) if c["type"] == "oracle_price" and c["market"] == "BTC-USD-PERP"]
        assert btc and all(c["source"] == "index" for c in btc)
        assert btc[0]["price"] == "97100"
        assert any(c["type"] == "oracle_price" and c["source"] == "sim" for c in list(app.node.journal))  # ETH, SOL
        assert app.gateway.feed_health()["indexes"][0]["status"] == "ok"
    assert app.desk.feeds._thread is None  # stopped with the app
    app.node.close()
