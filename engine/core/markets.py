"""The default venue: three markets with realistic parameters (see shared/VENUES.md).

BTC 50x / ETH 50x / SOL 20x max leverage (IMF = 1/max leverage), maintenance at
half the initial margin, maker 0 bps, taker 2 bps, liquidation fee at 70% of
the maintenance fraction (Paradex's penalty), price band 5%, post-only band
5 bps around the index (Paradex from February 2026).

Guard rails: an oracle move beyond 5% of the trusted index needs a second
source; a market without an accepted oracle price for 30 s is flagged stale
(dYdX v4 takes only venues updated within 30 s); the circuit breaker trips when
one evaluation would liquidate more than 500 accounts or cut more than half of
one side's open interest (dYdX, Oct 2025: one liquidation took a market's whole
open interest).

Bounds (checked at order placement; see docs/contract.md "Bounds"): a maximum
order size, a maximum position notional per account (open orders included), an
open-interest cap per side, and margin tiers in the manner of Hyperliquid's
leverage tiers (BTC: 40x up to 150M USDC of notional, 20x beyond): a position
whose notional reaches a tier's floor needs that tier's initial-margin fraction.
Tiers raise the *initial* margin only; maintenance stays linear (the
liquidation index, liqindex.py, relies on it). A market created without them
gets the hard ceilings (commands.py) and no tiers.
"""

from __future__ import annotations

_GUARDS = {"oracle_band": "0.05", "oracle_stale_ms": 30_000, "breaker_accounts": 500, "breaker_oi_share": "0.5"}

DEFAULT_MARKETS = [
    {"market": "BTC-USD-PERP", "tick_size": "0.1", "lot_size": "0.001", "initial_margin": "0.02",
     "maintenance_margin": "0.01", "maker_fee": "0", "taker_fee": "0.0002", "liquidation_fee": "0.007",
     "price_band": "0.05", "post_only_band": "0.0005", **_GUARDS, "index_price": "97000",
     "max_order_size": "1000", "max_position_notional": "500000000", "open_interest_cap": "100000",
     "margin_tiers": [["150000000", "0.05"]]},
    {"market": "ETH-USD-PERP", "tick_size": "0.01", "lot_size": "0.01", "initial_margin": "0.02",
     "maintenance_margin": "0.01", "maker_fee": "0", "taker_fee": "0.0002", "liquidation_fee": "0.007",
     "price_band": "0.05", "post_only_band": "0.0005", **_GUARDS, "index_price": "3400",
     "max_order_size": "10000", "max_position_notional": "250000000", "open_interest_cap": "1000000",
     "margin_tiers": [["100000000", "0.05"]]},
    {"market": "SOL-USD-PERP", "tick_size": "0.001", "lot_size": "0.1", "initial_margin": "0.05",
     "maintenance_margin": "0.025", "maker_fee": "0", "taker_fee": "0.0002", "liquidation_fee": "0.0175",
     "price_band": "0.05", "post_only_band": "0.0005", **_GUARDS, "index_price": "180",
     "max_order_size": "100000", "max_position_notional": "50000000", "open_interest_cap": "10000000",
     "margin_tiers": [["20000000", "0.1"]]},
]


def default_market_commands(ts: int = 0, operator: str = "system") -> list[dict]:
    return [{"type": "create_market", "ts": ts, "operator": operator, "reason": "default venue", **m}
            for m in DEFAULT_MARKETS]
