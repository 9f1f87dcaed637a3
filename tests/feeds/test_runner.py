"""FeedRunner on a real Node: the index enters as journaled oracle_price commands; replay needs no network."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from engine.core import Engine
from engine.core.markets import default_market_commands
from engine.node.node import Node
from engine.node.roles import SYSTEM
from engine.outside.feeds.runner import FeedRunner
from engine.settings.config import parse_config
from tests.kit import ADMIN, wait_until

from . import shapes

CONFIG = """
[feeds]
enabled = true
quorum = 2
max_deviation = "0.02"
stale_after_s = 30
[feeds.sources.binance]
weight = 3
base_url = "https://binance.test"
[feeds.sources.okx]
weight = 2
base_url = "https://okx.test"
[feeds.sources.kraken]
base_url = "https://kraken.test"
[feeds.markets.BTC-USD-PERP]
binance = "BTCUSDT"
okx = "BTC-USDT"
kraken = "XBTUSD"
"""


def bodies(btc: dict[str, str]) -> dict[str, bytes]:
    """Real-shaped bodies with the given last prices per source."""
    return {
        "binance": shapes.BINANCE_OK.replace(b"59240.01000000", btc["binance"].encode()),
        "okx": (shapes.OKX_OK.replace(b'"last":"59240.5"', b'"last":"%s"' % btc["okx"].encode())
                .replace(b'"askPx":"59240.6"', b'"askPx":"%s"' % btc["okx"].encode())
                .replace(b'"bidPx":"59240.4"', b'"bidPx":"%s"' % btc["okx"].encode())
                .replace(b'"ts":"1717632000123"', b'"ts":"%d"' % int(btc.get("okx_ts", "0") or 0))),
        "kraken": (shapes.KRAKEN_OK.replace(b"59241.10000", btc["kraken"].encode())
                   .replace(b"59240.90000", btc["kraken"].encode()).replace(b"59241.00000", btc["kraken"].encode())),
    }


class Venue:
    """Programmable API servers behind one MockTransport."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self.prices = {"binance": "97010.5", "okx": "97000", "kraken": "96990"}
        self.broken: dict[str, object] = {}  # source -> exception or (status, body)
        self.calls = 0
        self.gate: threading.Event | None = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        src = request.url.host.split(".")[0]
        if self.gate is not None:
            self.gate.wait(10)
        b = self.broken.get(src)
        if isinstance(b, Exception):
            raise b
        if b is not None:
            return httpx.Response(b[0], content=b[1])
        p = dict(self.prices, okx_ts=str(self.clock()))
        return httpx.Response(200, content=bodies(p)[src])


@pytest.fixture
def setup():
    now = [1_768_798_680_000]
    clock = lambda: now[0]  # noqa: E731
    node = Node(clock=clock, actor=ADMIN)
    for c in default_market_commands(now[0]):
        assert node.call(c).ok
    venue = Venue(clock)
    cfg = parse_config(CONFIG).feeds
    seen = []
    client = httpx.Client(transport=httpx.MockTransport(venue.handler))
    runner = FeedRunner.from_config(cfg, submit=lambda c: node.submit(c, actor=SYSTEM), clock=clock,
                                    client=client, sleep=lambda s: None, on_index=seen.append)
    node.start()
    yield node, runner, venue, now, seen
    runner.stop()
    node.close()


def oracle_cmds(node):
    return [c for c in node.journal if c["type"] == "oracle_price" and c.get("source") == "index"]


def wait_journal(node, n, timeout=5.0):
    wait_until(lambda: len(oracle_cmds(node)) >= n, timeout, what=f"{n} index oracle price(s) in the journal")
    return oracle_cmds(node)


def test_index_is_submitted_as_a_journaled_oracle_price(setup):
    node, runner, venue, now, seen = setup
    res = runner.poll_once()
    assert res[0].status == "ok" and res[0].used == ["binance", "kraken", "okx"]
    cmds = wait_journal(node, 1)
    # weighted median: 96990 (1), 97000 (2), 97010.5 (3): half of 6 reached at 97000
    assert cmds[-1]["price"] == "97000" and cmds[-1]["market"] == "BTC-USD-PERP"
    assert isinstance(cmds[-1]["price"], str)
    m = next(m for m in node.markets() if m["market"] == "BTC-USD-PERP")
    assert m["index_price"] == 97_000_000_000
    h = runner.health()
    assert {r["source"]: r["status"] for r in h["sources"]} == {"binance": "ok", "okx": "ok", "kraken": "ok"}
    assert h["indexes"][0]["status"] == "ok"
    wait_until(lambda: runner.health()["indexes"][0]["outcome"] == "ok", 5, what="the index's outcome to be ok")


def test_replay_of_the_journal_never_calls_the_network(setup):
    node, runner, venue, now, seen = setup
    for p in ("97000", "97100", "96950"):
        venue.prices = {"binance": p, "okx": p, "kraken": p}
        now[0] += 2000
        runner.poll_once()
    wait_journal(node, 3)
    node.stop()
    calls = venue.calls
    eng = Engine()
    for c in node.journal:
        eng.apply_obj({k: v for k, v in c.items() if k != "seq"})
    assert eng.state_hash() == node.engine.state_hash()
    assert venue.calls == calls  # the replay asked nobody


def test_broken_and_outlier_sources_show_in_health_and_are_left_out(setup):
    node, runner, venue, now, seen = setup
    venue.prices["kraken"] = "90000"  # 7% below: an outlier
    venue.broken["okx"] = (200, shapes.HTML_502)
    res = runner.poll_once()[0]
    assert res.status == "stale"  # binance alone is under the quorum of 2
    assert res.dropped.get("kraken") == "deviation" and res.used == ["binance"]
    health = {r["source"]: r for r in runner.health()["sources"]}
    assert health["okx"]["status"] == "error" and health["okx"]["error_code"] == "not_json"
    assert "HTML" in health["okx"]["last_error"]
    assert health["kraken"]["status"] == "outlier" and health["binance"]["status"] == "ok"
    assert oracle_cmds(node) == []  # nothing published: the guard rails decide on a stale oracle
    assert seen[-1].status == "stale"
    # okx recovers on the next poll; kraken back in line
    venue.broken.clear()
    venue.prices["kraken"] = "97000"
    now[0] += 2000
    assert runner.poll_once()[0].status == "ok"
    assert wait_journal(node, 1)


def test_a_source_goes_stale_after_30_seconds_without_a_good_answer(setup):
    node, runner, venue, now, seen = setup
    runner.poll_once()
    venue.broken["binance"] = httpx.ReadTimeout("timed out")
    venue.broken["okx"] = httpx.ConnectError("refused")
    now[0] += 10_000
    res = runner.poll_once()[0]
    assert res.status == "ok"  # last good quotes still fresh (10 s old)
    health = {r["source"]: r for r in runner.health()["sources"]}
    assert health["binance"]["status"] == "error" and health["binance"]["error_code"] == "timeout"
    assert health["binance"]["price"] == 97_010_500_000  # the last good price is still shown
    now[0] += 25_000
    res = runner.poll_once()[0]
    assert res.status == "stale" and res.dropped["binance"] == "stale" and res.dropped["okx"] == "stale"


def test_a_hanging_source_never_blocks_the_sequencer(setup):
    node, runner, venue, now, seen = setup
    venue.gate = threading.Event()
    t = threading.Thread(target=runner.poll_once)
    t.start()
    try:
        t0 = time.monotonic()
        res = node.call({"type": "deposit", "account": "zoe", "amount": "100"}, timeout=5, actor=SYSTEM)
        assert res.ok and time.monotonic() - t0 < 2
        assert t.is_alive()  # the poll is still waiting on the API
    finally:
        venue.gate.set()
        t.join(10)
    assert wait_journal(node, 1)


def test_publish_ts_is_sent_only_when_the_engine_takes_it(setup):
    node, runner, venue, now, seen = setup
    sent = []
    runner.submit = lambda c: sent.append(c)
    runner.publish_ts = True
    runner.poll_once()
    assert sent[-1]["publish_ts"] == now[0]  # the oldest publish time of the sources used
    runner.publish_ts = False
    runner.poll_once()
    assert "publish_ts" not in sent[-1]
