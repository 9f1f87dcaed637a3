"""A seeded market simulator: synthetic participants that submit ordinary commands.

Deterministic for a seed (its own ``random.Random``; this is not the engine
core). Participants: an oracle that random-walks (or follows a given path),
market makers quoting a ladder around the oracle, takers sending market
orders, and leveraged traders opening positions with stop-loss and
take-profit orders. It only produces command dicts; whoever drives it
(the node, a scenario, a benchmark) submits them through the gateway.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .fixedpoint import fmt_price, fmt_size
from .fixedpoint import price as price_of
from .fixedpoint import size as size_of
from .markets import DEFAULT_MARKETS, default_market_commands

_VOL_BPS = {"BTC-USD-PERP": 8, "ETH-USD-PERP": 10, "SOL-USD-PERP": 14}


@dataclass
class SimMarket:
    name: str
    tick: int
    lot: int
    price: int  # oracle, micro-USDC
    vol_bps: int


@dataclass
class Simulator:
    seed: int = 7
    accounts: int = 100
    makers: int = 4
    rng: random.Random = field(init=False)
    markets: list[SimMarket] = field(init=False)
    step_no: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.markets = []
        for m in DEFAULT_MARKETS:
            tick = price_of(m["tick_size"])
            lot = size_of(m["lot_size"])
            price = price_of(m["index_price"])
            self.markets.append(SimMarket(m["market"], tick, lot, price, _VOL_BPS.get(m["market"], 10)))

    # ---- setup ---------------------------------------------------------
    def setup_commands(self, ts: int = 0) -> list[dict]:
        cmds = default_market_commands(ts)
        cmds.append({"type": "fund_insurance", "ts": ts, "amount": "2000000", "operator": "system", "reason": "seed"})
        for i in range(self.makers):
            cmds.append({"type": "deposit", "ts": ts, "account": f"mm{i}", "amount": "5000000"})
        for i in range(self.accounts):
            amt = self.rng.choice(("2000", "5000", "10000", "25000", "50000"))
            cmds.append({"type": "deposit", "ts": ts, "account": f"u{i:05d}", "amount": amt})
        return cmds

    # ---- one step ------------------------------------------------------
    def step(self, ts: int | None = None) -> list[dict]:
        """Commands for one step (about 100 ms of market time)."""
        self.step_no += 1
        rng = self.rng
        out: list[dict] = []

        def cmd(d: dict) -> None:
            if ts is not None:
                d["ts"] = ts
            out.append(d)

        for mk in self.markets:
            # oracle random walk, on the tick grid
            move = int(rng.gauss(0, mk.vol_bps) * mk.price) // 10_000
            mk.price = max(mk.tick * 10, (mk.price + move) // mk.tick * mk.tick)
            if self.step_no % 5 == 1:
                cmd({"type": "oracle_price", "market": mk.name, "price": fmt_price(mk.price), "source": "sim"})
            # market makers requote every few steps
            if self.step_no % 3 == 1:
                for i in range(self.makers):
                    acct = f"mm{i}"
                    cmd({"type": "cancel_all", "account": acct, "market": mk.name})
                    for lvl in range(1, 4):
                        off = mk.price * (3 + 4 * lvl + i) // 10_000
                        off = max(mk.tick, off // mk.tick * mk.tick)
                        qty = mk.lot * rng.randint(5, 40) * (1 + lvl)
                        cmd({"type": "place_order", "account": acct, "market": mk.name, "side": "buy",
                             "size": fmt_size(qty), "price": fmt_price(mk.price - off)})
                        cmd({"type": "place_order", "account": acct, "market": mk.name, "side": "sell",
                             "size": fmt_size(qty), "price": fmt_price(mk.price + off)})
            # takers
            for _ in range(rng.randint(0, 2)):
                u = f"u{rng.randrange(self.accounts):05d}"
                cmd({"type": "place_order", "account": u, "market": mk.name,
                     "side": rng.choice(("buy", "sell")), "order_type": "market",
                     "size": fmt_size(mk.lot * rng.randint(1, 10))})
            # a leveraged trader opens with TP/SL now and then
            if rng.random() < 0.15:
                u = f"u{rng.randrange(self.accounts):05d}"
                side = rng.choice(("buy", "sell"))
                qty = mk.lot * rng.randint(5, 30)
                cmd({"type": "place_order", "account": u, "market": mk.name, "side": side,
                     "order_type": "market", "size": fmt_size(qty)})
                sl = mk.price * (100 - 2) // 100 if side == "buy" else mk.price * (100 + 2) // 100
                tp = mk.price * (100 + 3) // 100 if side == "buy" else mk.price * (100 - 3) // 100
                close = "sell" if side == "buy" else "buy"
                cmd({"type": "place_order", "account": u, "market": mk.name, "side": close, "order_type": "stop_loss",
                     "size": fmt_size(qty), "trigger_price": fmt_price(sl // mk.tick * mk.tick)})
                cmd({"type": "place_order", "account": u, "market": mk.name, "side": close, "order_type": "take_profit",
                     "size": fmt_size(qty), "trigger_price": fmt_price(tp // mk.tick * mk.tick)})
        return out
