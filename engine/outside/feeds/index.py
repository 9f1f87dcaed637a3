"""The index of one market: a weighted median across sources, pure integer arithmetic.

Per source the price is already the median of its bid, ask and last (see
:mod:`engine.outside.feeds.sources`). Across sources:

1. drop every source whose quote is older than ``stale_after_ms`` (dYdX v4: 30 s);
2. take the weighted median of the rest (Hyperliquid weights, e.g. Binance 3,
   OKX 2, others 1): the first sorted price whose cumulative weight reaches
   half the total;
3. drop every source further than ``max_deviation`` (a fraction, 1e-8 scale)
   from that median, and take the weighted median of the survivors;
4. fewer survivors than ``quorum`` sources: the index is **stale** (no price);
   nothing is published and the engine's own oracle staleness rules decide.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ...core.fixedpoint import FRAC_SCALE


@dataclass(frozen=True)
class SourcePrice:
    source: str
    price: int
    weight: int
    ts: int  # ms (publish time)


@dataclass
class IndexResult:
    market: str
    price: int | None  # None: stale
    status: str  # "ok" or "stale"
    used: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)  # source -> "stale" | "deviation"
    publish_ts: int | None = None  # the oldest publish time among the sources used
    reason: str = ""


def weighted_median(prices: Iterable[tuple[int, int]]) -> int:
    """``prices``: (price, weight>0). The first sorted price whose cumulative weight reaches half the total."""
    items = sorted(prices)
    if not items:
        raise ValueError("weighted median of nothing")
    total = sum(w for _p, w in items)
    if total <= 0 or any(w <= 0 for _p, w in items):
        raise ValueError("weights must be positive")
    acc = 0
    for p, w in items:
        acc += w
        if 2 * acc >= total:
            return p
    return items[-1][0]  # unreachable


def deviates(price: int, ref: int, max_deviation: int) -> bool:
    """|price - ref| / ref > max_deviation (fraction at 1e-8), exactly."""
    return abs(price - ref) * FRAC_SCALE > ref * max_deviation


def compute_index(market: str, quotes: Iterable[SourcePrice], *, now: int, stale_after_ms: int,
                  max_deviation: int, quorum: int) -> IndexResult:
    dropped: dict[str, str] = {}
    fresh = []
    for q in quotes:
        if now - q.ts > stale_after_ms:
            dropped[q.source] = "stale"
        else:
            fresh.append(q)
    if len(fresh) < quorum:
        return IndexResult(market, None, "stale", [q.source for q in fresh], dropped,
                           reason=f"{len(fresh)} fresh source(s), quorum {quorum}")
    first = weighted_median((q.price, q.weight) for q in fresh)
    kept = []
    for q in fresh:
        if deviates(q.price, first, max_deviation):
            dropped[q.source] = "deviation"
        else:
            kept.append(q)
    if len(kept) < quorum:
        return IndexResult(market, None, "stale", [q.source for q in kept], dropped,
                           reason=f"{len(kept)} source(s) agree within the deviation bound, quorum {quorum}")
    price = weighted_median((q.price, q.weight) for q in kept)
    return IndexResult(market, price, "ok", sorted(q.source for q in kept), dropped,
                       publish_ts=min(q.ts for q in kept))
