"""The index: weighted median, staleness, deviation and quorum (hypothesis property tests)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.outside.feeds.index import SourcePrice, compute_index, deviates, weighted_median

prices = st.integers(min_value=1, max_value=10**15)
weights = st.integers(min_value=1, max_value=10)
pairs = st.lists(st.tuples(prices, weights), min_size=1, max_size=12)
NOW = 1_000_000
TWO_PCT = 2_000_000  # 0.02 at 1e-8


def brute_weighted_median(items):
    """Expand every price into `weight` copies and take the lower median."""
    flat = sorted(p for p, w in items for _ in range(w))
    return flat[(len(flat) - 1) // 2]


@given(pairs)
def test_weighted_median_is_the_lower_median_of_the_expanded_list(items):
    assert weighted_median(items) == brute_weighted_median(items)


@given(pairs, st.randoms())
def test_weighted_median_is_an_input_within_range_and_order_free(items, rnd):
    m = weighted_median(items)
    assert m in {p for p, _ in items}
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert weighted_median(shuffled) == m


@given(pairs, st.integers(min_value=2, max_value=7))
def test_scaling_every_weight_changes_nothing(items, k):
    assert weighted_median([(p, w * k) for p, w in items]) == weighted_median(items)


@given(pairs)
def test_half_the_weight_on_one_side_pins_the_median(items):
    """The definition: at least half the weight at or below the median, less than half strictly below."""
    m = weighted_median(items)
    total = sum(w for _, w in items)
    assert 2 * sum(w for p, w in items if p <= m) >= total
    assert 2 * sum(w for p, w in items if p < m) < total


def test_hyperliquid_weights_example():
    # Binance 3, OKX 2, Bybit 2, others 1: total 8, half 4; sorted 100(1) 101(3) ... -> 101
    items = [(101, 3), (103, 2), (104, 2), (100, 1)]
    assert weighted_median(items) == 101


quotes = st.lists(st.tuples(prices, weights, st.integers(min_value=0, max_value=60_000)), min_size=0, max_size=10)


def as_sources(qs):
    return [SourcePrice(f"s{i}", p, w, NOW - age) for i, (p, w, age) in enumerate(qs)]


@settings(max_examples=300)
@given(quotes, st.integers(min_value=1, max_value=5))
def test_index_respects_staleness_deviation_and_quorum(qs, quorum):
    srcs = as_sources(qs)
    res = compute_index("M", srcs, now=NOW, stale_after_ms=30_000, max_deviation=TWO_PCT, quorum=quorum)
    fresh = [s for s in srcs if NOW - s.ts <= 30_000]
    for s in srcs:
        if NOW - s.ts > 30_000:
            assert res.dropped[s.source] == "stale" and s.source not in res.used
    if len(fresh) < quorum:
        assert res.status == "stale" and res.price is None
        return
    first = weighted_median((s.price, s.weight) for s in fresh)
    kept = [s for s in fresh if not deviates(s.price, first, TWO_PCT)]
    assert {s.source for s in fresh} - {s.source for s in kept} == {k for k, v in res.dropped.items() if v == "deviation"}
    if len(kept) < quorum:
        assert res.status == "stale" and res.price is None
        return
    assert res.status == "ok"
    assert res.used == sorted(s.source for s in kept)
    assert res.price == weighted_median((s.price, s.weight) for s in kept)
    # the index is one of the agreeing sources' prices, within the bound of the first median
    assert res.price in {s.price for s in kept} and not deviates(res.price, first, TWO_PCT)
    assert res.publish_ts == min(s.ts for s in kept)


@given(st.lists(prices, min_size=3, max_size=9), prices)
def test_one_wild_source_cannot_move_an_agreeing_majority(base_prices, wild):
    """Sources within 1% of each other plus one wild one: the wild one is dropped or harmless."""
    anchor = base_prices[0]
    agreeing = [anchor + (p % max(anchor // 200, 1)) for p in base_prices]  # all within 0.5% above anchor
    srcs = [SourcePrice(f"a{i}", p, 1, NOW) for i, p in enumerate(agreeing)] + [SourcePrice("wild", wild, 1, NOW)]
    res = compute_index("M", srcs, now=NOW, stale_after_ms=30_000, max_deviation=TWO_PCT, quorum=2)
    assert res.status == "ok"
    assert min(agreeing) <= res.price <= max(agreeing)


def test_examples():
    s = [SourcePrice("binance", 100_000_000, 3, NOW), SourcePrice("okx", 100_100_000, 2, NOW),
         SourcePrice("kraken", 90_000_000, 1, NOW),  # 10% off: dropped
         SourcePrice("coinbase", 100_050_000, 1, NOW - 31_000)]  # stale
    res = compute_index("BTC", s, now=NOW, stale_after_ms=30_000, max_deviation=TWO_PCT, quorum=2)
    assert res.status == "ok" and res.price == 100_000_000
    assert res.dropped == {"kraken": "deviation", "coinbase": "stale"} and res.used == ["binance", "okx"]
    res = compute_index("BTC", s, now=NOW, stale_after_ms=30_000, max_deviation=TWO_PCT, quorum=3)
    assert res.status == "stale" and res.price is None and "quorum 3" in res.reason
    assert compute_index("BTC", [], now=NOW, stale_after_ms=1, max_deviation=1, quorum=1).status == "stale"
