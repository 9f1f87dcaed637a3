"""The default venue: three markets with realistic parameters (see shared/VENUES.md).

BTC 50x / ETH 50x / SOL 20x max leverage (IMF = 1/max leverage), maintenance at
half the initial margin, maker 0 bps, taker 2 bps, liquidation fee at 70% of
the maintenance fraction (Paradex's penalty), price band 5%, post-only band
5 bps (Paradex from February 2026).
"""

from __future__ import annotations

DEFAULT_MARKETS = [
    {"market": "BTC-USD-PERP", "tick_size": "0.1", "lot_size": "0.001", "initial_margin": "0.02",
     "maintenance_margin": "0.01", "maker_fee": "0", "taker_fee": "0.0002", "liquidation_fee": "0.007",
     "price_band": "0.05", "post_only_band": "0.0005", "index_price": "97000"},
    {"market": "ETH-USD-PERP", "tick_size": "0.01", "lot_size": "0.01", "initial_margin": "0.02",
     "maintenance_margin": "0.01", "maker_fee": "0", "taker_fee": "0.0002", "liquidation_fee": "0.007",
     "price_band": "0.05", "post_only_band": "0.0005", "index_price": "3400"},
    {"market": "SOL-USD-PERP", "tick_size": "0.001", "lot_size": "0.1", "initial_margin": "0.05",
     "maintenance_margin": "0.025", "maker_fee": "0", "taker_fee": "0.0002", "liquidation_fee": "0.0175",
     "price_band": "0.05", "post_only_band": "0.0005", "index_price": "180"},
]


def default_market_commands(ts: int = 0, operator: str = "system") -> list[dict]:
    return [{"type": "create_market", "ts": ts, "operator": operator, "reason": "default venue", **m}
            for m in DEFAULT_MARKETS]
