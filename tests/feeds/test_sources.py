"""Each adapter against its API's real response shape, through httpx.MockTransport (no network)."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.fixedpoint import parse_decimal
from engine.outside.feeds.sources import SourceError, make_source, median_int, price_int

from . import shapes

NOW = 1_717_632_005_000


def client_for(*responses, seen: list | None = None):
    """A client whose transport answers with ``responses`` in turn (an exception is raised)."""
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        r = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(r, Exception):
            raise r
        status, body, *headers = r
        return httpx.Response(status, content=body, headers=headers[0] if headers else None)

    return httpx.Client(transport=httpx.MockTransport(handler))


def fetch(kind, symbol, *responses, seen=None, retries=0, sleeps=None, api_key=None, base="https://x.test"):
    src = make_source(kind, kind, base, api_key=api_key)
    with client_for(*responses, seen=seen) as c:
        return src.fetch(c, symbol, now=lambda: NOW, retries=retries, backoff_s=0.5,
                         sleep=(sleeps.append if sleeps is not None else lambda s: None))


# ---- real shapes --------------------------------------------------------------------
def test_pyth_hermes_latest_price():
    seen = []
    q = fetch("pyth", shapes.PYTH_BTC_ID, (200, shapes.PYTH_OK), seen=seen, api_key="pk-secret")
    # 5924002645461 x 10^-8 = 59240.02645461 -> 59240.026455 at the engine's 1e-6 (half-even)
    assert q.price == 59_240_026_455 and q.last == q.price and q.bid is None
    assert q.publish_ts == 1_717_632_000_000 and q.received_ts == NOW
    req = seen[0]
    assert req.url.path == "/v2/updates/price/latest"
    assert req.url.params.get("ids[]") == shapes.PYTH_BTC_ID
    assert req.headers["authorization"] == "Bearer pk-secret"


def test_binance_ticker_price():
    seen = []
    q = fetch("binance", "BTCUSDT", (200, shapes.BINANCE_OK), seen=seen)
    assert q.price == 59_240_010_000 and q.publish_ts == NOW  # Binance sends no time: when we received it
    assert seen[0].url.path == "/api/v3/ticker/price" and seen[0].url.params["symbol"] == "BTCUSDT"


def test_coinbase_ticker_is_median_of_bid_ask_last():
    seen = []
    q = fetch("coinbase", "BTC-USD", (200, shapes.COINBASE_OK), seen=seen)
    assert (q.bid, q.ask, q.last) == (59_240_510_000, 59_241_120_000, 59_240_870_000)
    assert q.price == 59_240_870_000
    assert q.publish_ts == 1_717_632_000_123
    assert seen[0].url.path == "/products/BTC-USD/ticker"


def test_kraken_ticker_uses_krakens_own_pair_name():
    seen = []
    q = fetch("kraken", "XBTUSD", (200, shapes.KRAKEN_OK), seen=seen)  # answered under "XXBTZUSD"
    assert (q.bid, q.ask, q.last) == (59_240_900_000, 59_241_100_000, 59_241_000_000)
    assert q.price == 59_241_000_000
    assert seen[0].url.path == "/0/public/Ticker" and seen[0].url.params["pair"] == "XBTUSD"


def test_okx_ticker():
    seen = []
    q = fetch("okx", "BTC-USDT", (200, shapes.OKX_OK), seen=seen)
    assert (q.bid, q.ask, q.last, q.price) == (59_240_400_000, 59_240_600_000, 59_240_500_000, 59_240_500_000)
    assert q.publish_ts == 1_717_632_000_123
    assert seen[0].url.path == "/api/v5/market/ticker" and seen[0].url.params["instId"] == "BTC-USDT"


def test_configured_base_url_is_used():
    seen = []
    fetch("binance", "BTCUSDT", (200, shapes.BINANCE_OK), seen=seen, base="http://127.0.0.1:9/proxy/")
    assert str(seen[0].url).startswith("http://127.0.0.1:9/proxy/api/v3/ticker/price")


# ---- garbage ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind,symbol,status,body,code", [
    ("binance", "BTCUSDT", 200, shapes.HTML_502, "not_json"),
    ("binance", "BTCUSDT", 400, shapes.BINANCE_ERROR, "http_400"),
    ("binance", "BTCUSDT", 200, b'{"symbol":"BTCUSDT","price":59240.01}', "float_not_allowed"),
    ("binance", "BTCUSDT", 200, b'{"symbol":"BTCUSDT"}', "missing_field"),
    ("binance", "BTCUSDT", 200, b'{"symbol":"ETHUSDT","price":"3000"}', "bad_type"),
    ("binance", "BTCUSDT", 200, b'{"symbol":"BTCUSDT","price":"1e5"}', "bad_decimal"),
    ("binance", "BTCUSDT", 200, b'{"symbol":"BTCUSDT","price":"0.00000000"}', "non_positive"),
    ("binance", "BTCUSDT", 200, b'{"symbol":"BTCUSDT","price":NaN}', "not_json"),
    ("binance", "BTCUSDT", 200, b'', "not_json"),
    ("coinbase", "BTC-USD", 404, shapes.COINBASE_NOT_FOUND, "http_404"),
    ("coinbase", "BTC-USD", 200, shapes.COINBASE_NOT_FOUND, "api_error"),
    ("coinbase", "BTC-USD", 200, b'{"price":"1","bid":1.5,"ask":"2","time":"2024-06-06T00:00:00Z"}', "float_not_allowed"),
    ("coinbase", "BTC-USD", 200, b'{"price":"1","ask":"2"}', "missing_field"),
    ("kraken", "XBTUSD", 200, shapes.KRAKEN_ERROR, "api_error"),
    ("kraken", "XBTUSD", 200, b'{"error":[],"result":{"XXBTZUSD":{"a":[],"b":["1"],"c":["1"]}}}', "missing_field"),
    ("kraken", "XBTUSD", 200, b'{"error":[],"result":{"XXBTZUSD":{"a":[59241.1],"b":["1"],"c":["1"]}}}', "float_not_allowed"),
    ("okx", "BTC-USDT", 200, shapes.OKX_ERROR, "api_error"),
    ("okx", "BTC-USDT", 200, b'{"code":"0","data":[]}', "missing_field"),
    ("okx", "BTC-USDT", 200, b'{"code":"0","data":[{"last":null,"ts":"1"}]}', "missing_field"),
    ("pyth", shapes.PYTH_BTC_ID, 200, b'{"parsed":[]}', "missing_field"),
    ("pyth", shapes.PYTH_BTC_ID, 200,
     b'{"parsed":[{"id":"' + shapes.PYTH_BTC_ID.encode() + b'","price":{"price":59240.5,"expo":-8,"publish_time":1}}]}',
     "float_not_allowed"),
    ("pyth", shapes.PYTH_BTC_ID, 200, b'[1, 2, 3]', "bad_type"),
])
def test_garbage_is_refused_with_a_stable_code(kind, symbol, status, body, code):
    with pytest.raises(SourceError) as ei:
        fetch(kind, symbol, (status, body))
    assert ei.value.code == code, ei.value.message
    assert ei.value.message


def test_timeout_is_retried_with_backoff_then_reported():
    sleeps: list[float] = []
    seen: list = []
    with pytest.raises(SourceError) as ei:
        fetch("binance", "BTCUSDT", httpx.ReadTimeout("read timed out"), seen=seen, retries=2, sleeps=sleeps)
    assert ei.value.code == "timeout"
    assert len(seen) == 3 and sleeps == [0.5, 1.0]  # exponential backoff, injected sleep: instant


def test_retry_recovers_after_5xx_and_429_honouring_retry_after():
    sleeps: list[float] = []
    q = fetch("okx", "BTC-USDT", (503, shapes.HTML_502), (429, b'{"code":"50011","msg":"Too Many Requests"}',
                                                          {"Retry-After": "3"}),
              (200, shapes.OKX_OK), retries=3, sleeps=sleeps)
    assert q.price == 59_240_500_000
    assert sleeps == [0.5, 3.0]  # backoff, then the server's Retry-After (longer than 1.0)


def test_client_errors_are_not_retried():
    seen: list = []
    with pytest.raises(SourceError) as ei:
        fetch("binance", "BTCUSDT", (400, shapes.BINANCE_ERROR), seen=seen, retries=3)
    assert ei.value.code == "http_400" and "Invalid symbol" in ei.value.message and len(seen) == 1


def test_connection_error_message_never_shows_the_key():
    key = "super-secret-key"
    with pytest.raises(SourceError) as ei:
        fetch("pyth", shapes.PYTH_BTC_ID, httpx.ConnectError(f"cannot reach host with {key}"), api_key=key)
    assert ei.value.code == "network" and key not in ei.value.message
    src = make_source("pyth", "pyth", "https://x.test", api_key=key)
    assert key not in repr(src)


def test_price_int_never_goes_through_float():
    assert price_int("0.1", "p") == 100_000
    assert price_int("59240.0000005", "p") == 59_240_000_000  # half-even: ...0000005 -> even
    assert price_int("59240.0000015", "p") == 59_240_000_002
    assert price_int("12345678901234567890.123456", "p") == 12345678901234567890_123456
    from decimal import Decimal

    with pytest.raises(SourceError, match="JSON number"):
        price_int(Decimal("0.1"), "p")
    for bad in ("-1", "1.", ".5", " 1", "1e3", "inf"):
        with pytest.raises(SourceError):
            price_int(bad, "p")


def test_median_int():
    assert median_int([3, 1, 2]) == 2 and median_int([1, 4]) == 2 and median_int([7]) == 7


def test_a_long_retry_after_skips_the_source_until_then():
    seen: list = []
    sleeps: list[float] = []
    src = make_source("binance", "binance", "https://x.test")
    with client_for((429, b'{"code":-1003,"msg":"Too many requests"}', {"Retry-After": "120"}), seen=seen) as c:
        with pytest.raises(SourceError) as ei:
            src.fetch(c, "BTCUSDT", now=lambda: NOW, retries=3, sleep=sleeps.append)
        assert ei.value.code == "rate_limited" and len(seen) == 1 and sleeps == []  # no waiting in the round
        with pytest.raises(SourceError, match="cooling down"):
            src.fetch(c, "BTCUSDT", now=lambda: NOW, retries=3, sleep=sleeps.append)
        assert len(seen) == 1  # not even one request while cooling down


@given(st.integers(min_value=1, max_value=10**18), st.integers(min_value=0, max_value=6))
def test_price_int_agrees_with_the_engines_parser(n, decimals):
    """Up to 6 decimals the adapters' parser and the engine's boundary parser give the same integer."""
    s = str(n) if decimals == 0 else f"{n // 10**decimals}.{n % 10**decimals:0{decimals}d}"
    assert price_int(s, "p") == parse_decimal(s, 6, "p")


@given(st.integers(min_value=1, max_value=10**18), st.integers(min_value=7, max_value=12))
def test_price_int_rounds_extra_digits_half_even_within_half_a_micro(n, decimals):
    s = f"{n // 10**decimals}.{n % 10**decimals:0{decimals}d}"
    got = price_int(s, "p") if n * 10**6 >= 10**decimals // 2 + 1 else None
    if got is None:
        return  # rounds to zero: refused as non_positive
    # |got - exact| <= 1/2 micro, exactly: compare scaled integers
    assert abs(got * 10**decimals - n * 10**6) * 2 <= 10**decimals
