"""FeedRunner: polls the configured price APIs off the sequencer and submits the index.

One polling thread (``perpdesk-feeds``) wakes every ``poll_interval_s``,
fetches every (source, market) pair concurrently (a small thread pool over one
``httpx.Client``), keeps each source's last good quote, computes each market's
index (:func:`engine.outside.feeds.index.compute_index`) and submits

    {"type": "oracle_price", "market": M, "price": "64250.5", "source": "index", "publish_ts": T, "sources": N}

through ``submit`` (the node's :meth:`~engine.node.node.Node.submit`, which only
queues). It never waits for the sequencer: the acknowledgement is read in a
done-callback. The index is thus journaled like any command; replaying the
journal never calls the network. A stale index (below quorum) is not
published: the engine's own oracle staleness rules (guard rails) take over.

``sources`` is how many sources the index used (they agree within the deviation bound: the
engine accepts a jump beyond its oracle band at once from two or more). ``publish_ts`` is sent only when the engine's ``oracle_price`` accepts it
(the guard rails add it), so the runner works with either engine.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from ...core.fixedpoint import FRAC_DECIMALS, fmt_price, parse_decimal
from .index import IndexResult, SourcePrice, compute_index
from .sources import PriceSource, Quote, SourceError, make_source

log = logging.getLogger("perpdesk.feeds")


def engine_takes_publish_ts() -> bool:
    from ...core.commands import SPECS

    return "publish_ts" in SPECS["oracle_price"]


def engine_takes_sources() -> bool:
    from ...core.commands import SPECS

    return "sources" in SPECS["oracle_price"]


@dataclass
class _Health:
    source: str
    market: str
    symbol: str
    weight: int
    quote: Quote | None = None
    last_ok_ts: int | None = None
    last_error: str = ""
    error_code: str = ""
    last_attempt_ts: int | None = None
    failures: int = 0  # consecutive
    outlier: bool = False


class FeedRunner:
    def __init__(self, sources: dict[str, PriceSource], markets: dict[str, dict[str, str]], *,
                 submit: Callable[[dict], object] | None, clock: Callable[[], int],
                 poll_interval_s: float = 2.0, stale_after_s: float = 30.0, max_deviation: int = 2_000_000,
                 quorum: int = 2, timeout_s: float = 3.0, retries: int = 2, backoff_s: float = 0.5,
                 client: httpx.Client | None = None, sleep: Callable[[float], None] = time.sleep,
                 on_index: Callable[[IndexResult], None] | None = None,
                 publish_ts: bool | None = None, max_workers: int = 4) -> None:
        self.sources = sources
        self.markets = markets
        self.submit = submit
        self.clock = clock
        self.poll_interval_s = poll_interval_s
        self.stale_after_ms = int(stale_after_s * 1000)
        self.max_deviation = max_deviation
        self.quorum = quorum
        self.retries = retries
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.on_index = on_index
        self.publish_ts = engine_takes_publish_ts() if publish_ts is None else publish_ts
        self.send_sources = engine_takes_sources()
        from ...settings.config import protect_logs

        protect_logs([k for k in (getattr(s, "_api_key", None) for s in sources.values()) if k])
        self._own_client = client is None
        self.client = client if client is not None else httpx.Client(timeout=httpx.Timeout(timeout_s),
                                                                     follow_redirects=False)
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="perpdesk-feed")
        self._lock = threading.Lock()
        self._health: dict[tuple[str, str], _Health] = {}
        for market, by_source in markets.items():
            for src, symbol in by_source.items():
                if src in sources:
                    self._health[(src, market)] = _Health(src, market, symbol, sources[src].weight)
        self._index: dict[str, IndexResult] = {}
        self._submitted: dict[str, dict] = {}  # market -> {price, ts, outcome}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.polls = 0

    @classmethod
    def from_config(cls, cfg, *, submit, clock, **kw) -> FeedRunner:
        """From a :class:`engine.settings.config.FeedsConfig` (enabled sources only)."""
        sources = {}
        for name, s in cfg.sources.items():
            if s.enabled:
                key = s.api_key.get_secret_value() if s.api_key is not None else None
                sources[name] = make_source(name, s.kind, s.base_url, weight=s.weight, api_key=key)
        markets = {m: {s: sym for s, sym in by.items() if s in sources} for m, by in cfg.markets.items()}
        return cls(sources, markets, submit=submit, clock=clock, poll_interval_s=cfg.poll_interval_s,
                   stale_after_s=cfg.stale_after_s,
                   max_deviation=parse_decimal(cfg.max_deviation, FRAC_DECIMALS, "max_deviation"),
                   quorum=cfg.quorum, timeout_s=cfg.timeout_s, retries=cfg.retries, backoff_s=cfg.backoff_s, **kw)

    # ---- one round ---------------------------------------------------------
    def _fetch(self, h: _Health) -> tuple[_Health, Quote | None, SourceError | None]:
        src = self.sources[h.source]
        try:
            q = src.fetch(self.client, h.symbol, now=self.clock, retries=self.retries, backoff_s=self.backoff_s,
                          sleep=self.sleep)
            return h, q, None
        except SourceError as e:
            return h, None, e
        except Exception as e:  # an adapter bug must not stop the feed
            return h, None, SourceError("internal", f"{type(e).__name__}: {e}")

    def poll_once(self) -> list[IndexResult]:
        """Fetch every source once, compute and submit every market's index; returns the results."""
        with self._lock:
            targets = list(self._health.values())
        outcomes = list(self._pool.map(self._fetch, targets))
        now = self.clock()
        with self._lock:
            for h, q, err in outcomes:
                h.last_attempt_ts = now
                if q is not None:
                    h.quote, h.last_ok_ts, h.failures = q, now, 0
                    h.last_error = h.error_code = ""
                else:
                    assert err is not None
                    h.failures += 1
                    h.error_code, h.last_error = err.code, err.message[:300]
                    log.warning("feed %s %s: %s (%s)", h.source, h.market, err.code, err.message[:200])
            results = []
            for market in self.markets:
                quotes = [SourcePrice(h.source, h.quote.price, h.weight, h.quote.publish_ts)
                          for h in self._health.values() if h.market == market and h.quote is not None]
                res = compute_index(market, quotes, now=now, stale_after_ms=self.stale_after_ms,
                                    max_deviation=self.max_deviation, quorum=self.quorum)
                for h in self._health.values():
                    if h.market == market:
                        h.outlier = res.dropped.get(h.source) == "deviation"
                self._index[market] = res
                results.append(res)
            self.polls += 1
        for res in results:
            if res.price is not None and self.submit is not None:
                self._publish(res)
            if self.on_index is not None:
                try:
                    self.on_index(res)
                except Exception:  # a listener's bug must not stop the feed
                    log.exception("index listener failed")
        return results

    def _publish(self, res: IndexResult) -> None:
        cmd = {"type": "oracle_price", "market": res.market, "price": fmt_price(res.price), "source": "index"}
        if self.publish_ts and res.publish_ts is not None:
            cmd["publish_ts"] = int(res.publish_ts)
        if self.send_sources and res.used:  # how many sources agree on this index (the engine's guard rails)
            cmd["sources"] = len(res.used)
        rec = {"price": res.price, "ts": self.clock(), "outcome": "queued"}
        with self._lock:
            self._submitted[res.market] = rec
        try:
            ack = self.submit(cmd)
        except Exception as e:
            rec["outcome"] = f"not submitted: {e}"
            return
        if ack is not None and hasattr(ack, "add_done_callback"):
            ack.add_done_callback(lambda f, rec=rec: self._acked(f, rec))

    @staticmethod
    def _acked(fut, rec: dict) -> None:  # on the sequencer thread: cheap
        try:
            res = fut.result(0)
        except Exception as e:
            rec["outcome"] = f"error: {e}"
            return
        if not res.ok:
            rec["outcome"] = f"rejected: {res.code}"
            return
        rej = next((e for e in res.events if e.get("type") == "oracle_rejected"), None)
        rec["outcome"] = f"rejected: {rej.get('code')}" if rej else "ok"

    # ---- reads (any thread) ------------------------------------------------
    def health(self) -> dict:
        """{"sources": [per source and market], "indexes": [per market]} for the dashboard."""
        now = self.clock()
        with self._lock:
            rows = []
            for h in self._health.values():
                q = h.quote
                age = now - q.publish_ts if q is not None else None
                if h.failures:
                    status = "error"  # the last attempt failed (its last good price is still shown)
                elif q is None or age is None or age > self.stale_after_ms:
                    status = "stale"
                elif h.outlier:
                    status = "outlier"
                else:
                    status = "ok"
                rows.append({"source": h.source, "market": h.market, "symbol": h.symbol, "weight": h.weight,
                             "status": status, "price": q.price if q is not None else None, "age_ms": age,
                             "last_error": h.last_error, "error_code": h.error_code,
                             "failures": h.failures, "last_ok_ts": h.last_ok_ts})
            idx = []
            for market, res in self._index.items():
                sub = self._submitted.get(market, {})
                idx.append({"market": market, "status": res.status, "price": res.price, "used": list(res.used),
                            "dropped": dict(res.dropped), "reason": res.reason,
                            "submitted_price": sub.get("price"), "outcome": sub.get("outcome", "")})
            return {"sources": rows, "indexes": idx, "polls": self.polls}

    # ---- lifecycle -----------------------------------------------------------
    def start(self) -> FeedRunner:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="perpdesk-feeds", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                self.poll_once()
            except Exception:  # never let the feed thread die silently
                log.exception("feed poll failed")
            self._stop.wait(max(0.0, self.poll_interval_s - (time.monotonic() - t0)))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._own_client:
            self.client.close()
