"""Adapters for public price APIs: one request per (source, symbol), one parser per real response shape.

Every adapter turns a response into a :class:`Quote` (prices as ints at the
engine's price scale, 1e-6) or raises :class:`SourceError` with a stable
``code``. Prices are decimal strings in these APIs; the JSON is parsed with
``parse_float=Decimal`` so a JSON *number* where the API sends a string is
seen for what it is and refused (``float_not_allowed``), never rounded
through a binary float.

Codes: ``timeout``, ``network``, ``http_<status>``, ``rate_limited``,
``not_json`` (HTML, empty or truncated bodies), ``api_error`` (the API's own
error body), ``missing_field``, ``bad_type``, ``float_not_allowed``,
``bad_decimal``, ``non_positive``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx

from engine.errors import PerpdeskError

from ...core.fixedpoint import PRICE_DECIMALS
from ...settings.logsetup import redact
from ..httpretry import retry_after_seconds

_DIGITS = frozenset("0123456789")
MAX_BODY = 1_000_000  # bytes: a ticker is tiny; anything larger is not one
MAX_RETRY_WAIT_S = 5.0  # a Retry-After up to this is waited out within the poll round
MAX_COOLDOWN_S = 600.0  # a longer one skips the source until then (at most this long)


class SourceError(PerpdeskError):
    """A source that did not give a usable price; ``code`` is stable, ``message`` says why."""

    def __init__(self, code: str, message: str, *, retry: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry = retry
        self.retry_after = retry_after


@dataclass(frozen=True)
class Quote:
    source: str
    symbol: str
    price: int  # median of bid, ask, last where available (1e-6)
    bid: int | None
    ask: int | None
    last: int | None
    publish_ts: int  # ms: the source's own timestamp, else when we received it
    received_ts: int


# ---------------------------------------------------------------------------
# decimal strings -> ints, never through float
# ---------------------------------------------------------------------------
def price_int(value: object, field: str, *, decimals: int = PRICE_DECIMALS) -> int:
    """A price the API sends as a decimal string, as an int at ``10**-decimals`` (half-even rounding)."""
    if isinstance(value, Decimal):  # parse_float=Decimal: it was a JSON number
        raise SourceError("float_not_allowed", f"{field} arrived as the JSON number {value}, not a decimal string")
    if isinstance(value, bool) or not isinstance(value, str):
        raise SourceError("bad_type", f"{field} should be a decimal string, got {_jtype(value)}")
    whole, dot, frac = value.partition(".")
    if not whole or not _DIGITS.issuperset(whole) or (dot and (not frac or not _DIGITS.issuperset(frac))) \
            or len(whole) > 30:
        raise SourceError("bad_decimal", f"{field} is not a decimal string: {value[:40]!r}")
    n = int(Decimal(value).scaleb(decimals).to_integral_value(rounding=ROUND_HALF_EVEN))
    if n <= 0:
        raise SourceError("non_positive", f"{field} is {value!r}: a price must be greater than zero")
    return n


def median_int(values: list[int]) -> int:
    """Median of ints; for an even count the mean of the two middle values, rounded down."""
    s = sorted(values)
    k = len(s)
    if not k:
        raise ValueError("median of nothing")
    mid = k // 2
    return s[mid] if k % 2 else (s[mid - 1] + s[mid]) // 2


def loads(body: bytes) -> Any:
    """JSON with every non-integer number kept as a Decimal (so a float is recognisable)."""
    if len(body) > MAX_BODY:
        raise SourceError("not_json", f"the body is {len(body):,} bytes, not a ticker")
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as e:
        head = body[:60].decode("utf-8", "replace").strip()
        what = "an HTML page" if head[:1] == "<" else ("an empty body" if not head else f"{head[:40]!r}")
        raise SourceError("not_json", f"the body is not JSON ({what}): {type(e).__name__}") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number")


def _jtype(v: object) -> str:
    if v is None:
        return "null"
    return {str: "a string", int: "an integer", Decimal: "a number", bool: "a boolean", list: "a list",
            dict: "an object"}.get(type(v), type(v).__name__)


def _get(obj: object, key: str | int, where: str) -> Any:
    if isinstance(key, int):
        if not isinstance(obj, list):
            raise SourceError("bad_type", f"{where} should be a list, got {_jtype(obj)}")
        if len(obj) <= key:
            raise SourceError("missing_field", f"{where}[{key}] is missing")
        return obj[key]
    if not isinstance(obj, dict):
        raise SourceError("bad_type", f"{where or 'the body'} should be an object, got {_jtype(obj)}")
    if key not in obj or obj[key] is None:
        raise SourceError("missing_field", f"{where}.{key} is missing" if where else f"{key} is missing")
    return obj[key]


def _int_field(v: object, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, str) and v.isdigit():
            return int(v)
        raise SourceError("bad_type", f"{where} should be an integer, got {_jtype(v)}")
    return v


# ---------------------------------------------------------------------------
# the adapters
# ---------------------------------------------------------------------------
class PriceSource:
    """One configured price API. Subclasses build the request and parse the body."""

    kind = ""

    def __init__(self, name: str, base_url: str, *, weight: int = 1, api_key: str | None = None) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.weight = weight
        self._api_key = api_key
        self.cooldown_until = 0.0  # time.monotonic() before which the source is not asked

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}({self.name!r}, {self.base_url!r}, weight={self.weight})"

    def request(self, symbol: str) -> tuple[str, dict, dict]:
        """(url, query params, headers)."""
        raise NotImplementedError

    def parse(self, data: Any, symbol: str, received_ts: int) -> Quote:
        raise NotImplementedError

    def _check_status(self, resp: httpx.Response, data: Any | None) -> None:
        if resp.status_code == 429 or resp.status_code == 418:  # 418: Binance's ban after ignored 429s
            raise SourceError("rate_limited", f"HTTP {resp.status_code}: rate limited", retry=True,
                              retry_after=retry_after_seconds(resp.headers.get("retry-after")))
        if resp.status_code >= 500:
            raise SourceError(f"http_{resp.status_code}", f"HTTP {resp.status_code} from the server", retry=True)
        if resp.status_code >= 400:
            detail = _error_detail(data) if data is not None else ""
            raise SourceError(f"http_{resp.status_code}", f"HTTP {resp.status_code}" + (f": {detail}" if detail else ""))

    def fetch(self, client: httpx.Client, symbol: str, *, now: Callable[[], int], retries: int = 2,
              backoff_s: float = 0.5, sleep: Callable[[float], None] = time.sleep) -> Quote:
        """GET and parse, retrying timeouts, network errors, 429 and 5xx with exponential backoff."""
        left = self.cooldown_until - time.monotonic()
        if left > 0:  # the API asked us to stay away (Retry-After): not even one request
            raise SourceError("rate_limited", f"cooling down for {left:.0f} s more, as the API's Retry-After asked")
        url, params, headers = self.request(symbol)
        attempt = 0
        while True:
            try:
                return self._fetch_once(client, url, params, headers, symbol, now)
            except SourceError as e:
                if e.retry_after is not None and e.retry_after > MAX_RETRY_WAIT_S:
                    # a long Retry-After: give up this round and skip the source until then
                    self.cooldown_until = time.monotonic() + min(e.retry_after, MAX_COOLDOWN_S)
                    raise
                if not e.retry or attempt >= retries:
                    raise
                delay = backoff_s * (2 ** attempt)
                if e.retry_after is not None:
                    delay = max(delay, e.retry_after)
                attempt += 1
                sleep(delay)

    def _fetch_once(self, client, url, params, headers, symbol, now) -> Quote:
        try:
            resp = client.get(url, params=params, headers=headers)
        except httpx.TimeoutException as e:
            raise SourceError("timeout", f"no answer in time ({type(e).__name__})", retry=True) from None
        except httpx.HTTPError as e:
            raise SourceError("network", f"{type(e).__name__}: {_safe(str(e), self._api_key)}", retry=True) from None
        received = now()
        body = resp.content
        data = None
        try:
            data = loads(body)
        except SourceError:
            self._check_status(resp, None)
            raise
        self._check_status(resp, data)
        return self.parse(data, symbol, received)


def _safe(text: str, secret: str | None) -> str:
    return redact(text, (secret,)) if secret else text


def _error_detail(data: Any) -> str:
    if isinstance(data, dict):
        for k in ("msg", "message", "error", "detail"):
            if k in data and data[k]:
                v = data[k]
                return str(v if not isinstance(v, list) else "; ".join(map(str, v)))[:200]
    return ""


class PythSource(PriceSource):
    """Pyth Hermes ``GET /v2/updates/price/latest?ids[]=<id>``; value = price x 10^expo."""

    kind = "pyth"

    def request(self, symbol):
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        return f"{self.base_url}/v2/updates/price/latest", {"ids[]": symbol, "parsed": "true"}, headers

    def parse(self, data, symbol, received_ts):
        parsed = _get(data, "parsed", "")
        if not isinstance(parsed, list):
            raise SourceError("bad_type", f"parsed should be a list, got {_jtype(parsed)}")
        want = symbol.lower().removeprefix("0x")
        entry = next((p for p in parsed if isinstance(p, dict) and str(p.get("id", "")).lower().removeprefix("0x") == want),
                     None)
        if entry is None:
            raise SourceError("missing_field", f"the response has no price for feed id {symbol[:16]}…")
        p = _get(entry, "price", "parsed[]")
        raw = _get(p, "price", "price")
        expo = _int_field(_get(p, "expo", "price"), "price.expo")
        pub = _int_field(_get(p, "publish_time", "price"), "price.publish_time")
        if isinstance(raw, Decimal):
            raise SourceError("float_not_allowed", f"price.price arrived as the JSON number {raw}, not a string")
        if not isinstance(raw, str) or not raw.lstrip("-").isdigit():
            raise SourceError("bad_decimal", f"price.price should be an integer string, got {str(raw)[:40]!r}")
        if not -30 <= expo <= 10:
            raise SourceError("bad_type", f"price.expo {expo} is out of range")
        shift = expo + PRICE_DECIMALS
        mant = int(raw)
        if shift >= 0:
            value = mant * 10**shift
        else:
            value = int((Decimal(mant).scaleb(shift)).to_integral_value(rounding=ROUND_HALF_EVEN))
        if value <= 0:
            raise SourceError("non_positive", f"price is {raw}e{expo}: a price must be greater than zero")
        return Quote(self.name, symbol, value, None, None, value, pub * 1000, received_ts)


class BinanceSource(PriceSource):
    """Binance ``GET /api/v3/ticker/price?symbol=BTCUSDT`` -> {"symbol", "price"}."""

    kind = "binance"

    def request(self, symbol):
        headers = {"X-MBX-APIKEY": self._api_key} if self._api_key else {}
        return f"{self.base_url}/api/v3/ticker/price", {"symbol": symbol}, headers

    def parse(self, data, symbol, received_ts):
        if isinstance(data, dict) and "code" in data and "price" not in data:
            raise SourceError("api_error", f"Binance error {data.get('code')}: {_error_detail(data)}")
        got = _get(data, "symbol", "")
        if got != symbol:
            raise SourceError("bad_type", f"asked for {symbol}, the answer is for {str(got)[:20]!r}")
        last = price_int(_get(data, "price", ""), "price")
        return Quote(self.name, symbol, last, None, None, last, received_ts, received_ts)


class CoinbaseSource(PriceSource):
    """Coinbase Exchange ``GET /products/{id}/ticker`` -> trade_id, price, size, bid, ask, volume, time."""

    kind = "coinbase"

    def request(self, symbol):
        headers = {"User-Agent": "perpdesk"}
        if self._api_key:
            headers["CB-ACCESS-KEY"] = self._api_key
        return f"{self.base_url}/products/{symbol}/ticker", {}, headers

    def parse(self, data, symbol, received_ts):
        if isinstance(data, dict) and "message" in data and "price" not in data:
            raise SourceError("api_error", f"Coinbase error: {_error_detail(data)}")
        last = price_int(_get(data, "price", ""), "price")
        bid = price_int(_get(data, "bid", ""), "bid")
        ask = price_int(_get(data, "ask", ""), "ask")
        ts = received_ts
        t = data.get("time")
        if isinstance(t, str):
            try:
                ts = int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000)
            except ValueError:
                raise SourceError("bad_type", f"time is not an ISO timestamp: {t[:40]!r}") from None
        return Quote(self.name, symbol, median_int([bid, ask, last]), bid, ask, last, ts, received_ts)


class KrakenSource(PriceSource):
    """Kraken ``GET /0/public/Ticker?pair=XBTUSD`` -> {"error": [], "result": {"XXBTZUSD": {a, b, c, ...}}}."""

    kind = "kraken"

    def request(self, symbol):
        return f"{self.base_url}/0/public/Ticker", {"pair": symbol}, {}

    def parse(self, data, symbol, received_ts):
        errors = _get(data, "error", "")
        if not isinstance(errors, list):
            raise SourceError("bad_type", f"error should be a list, got {_jtype(errors)}")
        if errors:
            raise SourceError("api_error", f"Kraken error: {'; '.join(map(str, errors))[:200]}")
        result = _get(data, "result", "")
        if not isinstance(result, dict) or not result:
            raise SourceError("missing_field", "result holds no pair")
        # the result key is Kraken's own pair name (XXBTZUSD for XBTUSD): take the one pair returned
        if symbol in result:
            t = result[symbol]
        elif len(result) == 1:
            t = next(iter(result.values()))
        else:
            raise SourceError("bad_type", f"result holds {len(result)} pairs, none named {symbol}")
        ask = price_int(_get(_get(t, "a", "result"), 0, "result.a"), "a[0]")
        bid = price_int(_get(_get(t, "b", "result"), 0, "result.b"), "b[0]")
        last = price_int(_get(_get(t, "c", "result"), 0, "result.c"), "c[0]")
        return Quote(self.name, symbol, median_int([bid, ask, last]), bid, ask, last, received_ts, received_ts)


class OkxSource(PriceSource):
    """OKX ``GET /api/v5/market/ticker?instId=BTC-USDT`` -> {"code": "0", "data": [{last, askPx, bidPx, ts}]}."""

    kind = "okx"

    def request(self, symbol):
        headers = {"OK-ACCESS-KEY": self._api_key} if self._api_key else {}
        return f"{self.base_url}/api/v5/market/ticker", {"instId": symbol}, headers

    def parse(self, data, symbol, received_ts):
        code = _get(data, "code", "")
        if code != "0":
            raise SourceError("api_error", f"OKX error {code}: {_error_detail(data)}")
        rows = _get(data, "data", "")
        t = _get(rows, 0, "data")
        last = price_int(_get(t, "last", "data[0]"), "last")
        vals = [last]
        bid = ask = None
        if t.get("bidPx") not in (None, ""):
            bid = price_int(t["bidPx"], "bidPx")
            vals.append(bid)
        if t.get("askPx") not in (None, ""):
            ask = price_int(t["askPx"], "askPx")
            vals.append(ask)
        ts = _int_field(_get(t, "ts", "data[0]"), "ts")
        return Quote(self.name, symbol, median_int(vals), bid, ask, last, ts, received_ts)


ADAPTERS: dict[str, type[PriceSource]] = {
    c.kind: c for c in (PythSource, BinanceSource, CoinbaseSource, KrakenSource, OkxSource)
}


def make_source(name: str, kind: str, base_url: str, *, weight: int = 1, api_key: str | None = None) -> PriceSource:
    return ADAPTERS[kind](name, base_url, weight=weight, api_key=api_key)
