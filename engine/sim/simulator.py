"""A seeded market simulator: synthetic participants that submit ordinary commands.

Deterministic for a seed (its own ``random.Random``; this is not the engine
core). Participants: an oracle that random-walks or follows a recorded price
path (:func:`load_price_path`), market makers quoting a ladder around the
oracle, takers sending market orders, and leveraged traders opening positions
with stop-loss and take-profit orders. It only produces command dicts; whoever
drives it (the node, a scenario, a benchmark) submits them through the gateway.

Scale is a parameter (``accounts``: 100 to 100,000 and more): setup is one
deposit per account plus, when ``Participants.leveraged_share`` is set, pairs of
leveraged traders opened against each other at the oracle price with their TP/SL
(six commands per pair). Nothing in a step scans the accounts.

Faults and the venue's situation are knobs the driver turns between steps
(a scenario does): ``oracle_override`` (a stale or wrong published price),
``oracle_frozen`` (no oracle updates), ``makers_active`` / ``takers_active``
(thin books, a venue that is down).
"""

from __future__ import annotations

import csv
import json
import random
from bisect import bisect_right
from dataclasses import dataclass, field

from ..core.fixedpoint import FRAC_SCALE, fmt_price, fmt_size, frac
from ..core.fixedpoint import price as price_of
from ..core.fixedpoint import size as size_of
from ..core.markets import DEFAULT_MARKETS
from ..errors import PerpdeskError

#: annualised volatility of the default random walk, per market (realistic calm-market figures: BTC
#: ~55%, ETH ~70%, SOL ~90%); a scenario's ``vol_bps`` sets the step's move itself instead
ANNUAL_VOL_PCT = {"BTC-USD-PERP": 55, "ETH-USD-PERP": 70, "SOL-USD-PERP": 90}
DEFAULT_ANNUAL_VOL_PCT = 60
YEAR_MS = 365 * 24 * 3600 * 1000


def step_vol_bps(annual_pct: float, step_ms: int) -> float:
    """One step's standard deviation in bps for an annualised volatility (random walk: sigma x sqrt(t)).
    55% a year at 100 ms steps is 0.31 bps a step, 0.59% an hour; no drift."""
    return annual_pct * 100 * (step_ms / YEAR_MS) ** 0.5


class PricePathError(PerpdeskError, ValueError):
    """A price path file that cannot be used (names the file, line and reason)."""

    code = "bad_price_path"


@dataclass
class SimMarket:
    name: str
    tick: int
    lot: int
    price: int  # the "true" price the oracle follows, micro-USDC
    vol_bps: float  # one step's standard deviation (bps)
    published: int = 0  # the last price the oracle published
    path: list[tuple[int, int]] | None = None  # (offset ms, price) sorted by offset


@dataclass
class Participants:
    """Who trades and how often (per step of about 100 ms). The defaults are the classic desk."""

    makers: int = 4
    maker_levels: int = 3
    maker_cash: str = "5000000"
    requote_every: int = 3
    #: makers quote around "true" (the simulator's own price) or "published" (the venue's oracle)
    quote_around: str = "true"
    oracle_every: int = 5
    takers_max: int = 2
    leveraged_rate: float = 0.15  # chance per market and step that a trader opens with TP/SL
    stop_loss_pct: int = 2
    take_profit_pct: int = 3
    #: share of accounts opened at setup as leveraged long/short pairs (0 = none)
    leveraged_share: float = 0.0
    leverage_min: int = 5
    leverage_max: int = 25
    collateral: tuple[str, ...] = ("2000", "5000", "10000", "25000", "50000")


def load_price_path(path: str, markets: list[str]) -> dict[str, list[tuple[int, int]]]:
    """Read a recorded price path: CSV (header ``ts,market,price`` or ``ts,price``) or JSONL
    (``{"ts": ms, "market": name, "price": "decimal"}``). ``ts`` is milliseconds from the start of
    the run; a row without a market applies to every market in ``markets``. Returns per market
    the points sorted by ``ts``."""
    rows: list[tuple[int, int | None, str | None, str]] = []  # (line, ts, market, price)
    try:
        with open(path, encoding="utf-8") as f:
            if path.endswith(".jsonl") or path.endswith(".json"):
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise PricePathError(f"{path}:{n}: not JSON: {e.msg}") from None
                    if not isinstance(obj, dict):
                        raise PricePathError(f"{path}:{n}: expected an object with ts, price (and market)")
                    rows.append((n, obj.get("ts"), obj.get("market"), obj.get("price")))
            else:
                reader = csv.DictReader(f)
                if reader.fieldnames is None or not {"ts", "price"} <= set(reader.fieldnames):
                    raise PricePathError(f"{path}:1: the CSV header must name ts and price (and optionally market)")
                for n, rec in enumerate(reader, 2):
                    ts_s = rec.get("ts")
                    try:
                        ts = int(ts_s) if ts_s is not None else None
                    except ValueError:
                        raise PricePathError(f"{path}:{n}: ts {ts_s!r} is not an integer of milliseconds") from None
                    rows.append((n, ts, rec.get("market") or None, rec.get("price")))
    except OSError as e:
        raise PricePathError(f"{path}: cannot read the price path: {e.strerror}") from None
    out: dict[str, list[tuple[int, int]]] = {}
    for n, ts, market, p in rows:
        if type(ts) is not int or ts < 0:
            raise PricePathError(f"{path}:{n}: ts must be a non-negative integer of milliseconds, got {ts!r}")
        if market is not None and market not in markets:
            raise PricePathError(f"{path}:{n}: unknown market {market!r} (markets: {', '.join(markets)})")
        try:
            pv = price_of(str(p)) if isinstance(p, str | int) else None
        except Exception:
            pv = None
        if pv is None or pv <= 0:
            raise PricePathError(f"{path}:{n}: price must be a positive decimal, got {p!r}")
        for m in [market] if market is not None else markets:
            pts = out.setdefault(m, [])
            if pts and ts < pts[-1][0]:
                raise PricePathError(f"{path}:{n}: ts {ts} goes back in time (previous {pts[-1][0]} for {m})")
            pts.append((ts, pv))
    if not out:
        raise PricePathError(f"{path}: the price path is empty")
    return out


@dataclass
class Simulator:
    seed: int = 7
    accounts: int = 100
    makers: int = 4
    participants: Participants | None = None
    market_specs: list[dict] | None = None  # create_market fields (default: DEFAULT_MARKETS)
    price_path: dict[str, list[tuple[int, int]]] | None = None
    path_start_ts: int = 0
    #: market time per step (ms): sets the default random walk's step from ANNUAL_VOL_PCT
    step_ms: int = 100
    rng: random.Random = field(init=False)
    markets: list[SimMarket] = field(init=False)
    step_no: int = field(default=0, init=False)
    #: market -> (offset in bps from the true price, publish lag ms): a stale / wrong oracle
    oracle_override: dict[str, tuple[int, int]] = field(default_factory=dict, init=False)
    oracle_frozen: set[str] = field(default_factory=set, init=False)
    makers_active: bool = field(default=True, init=False)
    takers_active: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        if self.participants is None:
            self.participants = Participants(makers=self.makers)
        self.makers = self.participants.makers
        self.rng = random.Random(self.seed)
        self.markets = []
        specs = self.market_specs if self.market_specs is not None else DEFAULT_MARKETS
        for m in specs:
            tick = price_of(m["tick_size"])
            lot = size_of(m["lot_size"])
            price = price_of(m["index_price"])
            path = (self.price_path or {}).get(m["market"])
            if path:
                price = path[0][1] // tick * tick
            vol = step_vol_bps(ANNUAL_VOL_PCT.get(m["market"], DEFAULT_ANNUAL_VOL_PCT), self.step_ms)
            self.markets.append(SimMarket(m["market"], tick, lot, price, vol, price, path))

    # ---- setup ---------------------------------------------------------
    def setup_commands(self, ts: int = 0) -> list[dict]:
        specs = self.market_specs if self.market_specs is not None else DEFAULT_MARKETS
        cmds = [{"type": "create_market", "ts": ts, "operator": "system", "reason": "default venue", **m}
                for m in specs]
        for mk in self.markets:  # a recorded path starts where it starts
            if mk.path and fmt_price(mk.price) != next(s["index_price"] for s in specs if s["market"] == mk.name):
                cmds.append({"type": "oracle_price", "ts": ts, "market": mk.name, "price": fmt_price(mk.price),
                             "source": "sim"})
        cmds.append({"type": "fund_insurance", "ts": ts, "amount": "2000000", "operator": "system", "reason": "seed"})
        p = self.participants
        assert p is not None
        for i in range(self.makers):
            cmds.append({"type": "deposit", "ts": ts, "account": f"mm{i}", "amount": p.maker_cash})
        for i in range(self.accounts):
            amt = self.rng.choice(p.collateral)
            cmds.append({"type": "deposit", "ts": ts, "account": f"u{i:05d}", "amount": amt})
        if p.leveraged_share > 0:
            cmds.extend(self.leveraged_commands(ts))
        return cmds

    def leveraged_commands(self, ts: int) -> list[dict]:
        """Leveraged traders: pairs of accounts open opposite positions at the oracle price, each
        with a stop-loss and a take-profit. Their own accounts ``lv{i:05d}``, their own collateral."""
        p = self.participants
        assert p is not None
        rng = self.rng
        n_pairs = int(self.accounts * p.leveraged_share) // 2
        out: list[dict] = []
        for i in range(n_pairs):
            mk = self.markets[i % len(self.markets)]
            lev = rng.randint(p.leverage_min, p.leverage_max)
            lev = min(lev, self._max_leverage(mk.name))
            coll = rng.choice(p.collateral)
            qty = price_of(coll) * lev * 10**8 // mk.price // mk.lot * mk.lot
            if qty <= 0:
                continue
            lo, sh = f"lv{2 * i:05d}", f"lv{2 * i + 1:05d}"
            px = fmt_price(mk.price)
            q = fmt_size(qty)
            out += [
                {"type": "deposit", "ts": ts, "account": lo, "amount": coll},
                {"type": "deposit", "ts": ts, "account": sh, "amount": coll},
                {"type": "place_order", "ts": ts, "account": sh, "market": mk.name, "side": "sell", "size": q, "price": px},
                {"type": "place_order", "ts": ts, "account": lo, "market": mk.name, "side": "buy", "size": q, "price": px},
            ]
            for acct, close, sl, tp in ((lo, "sell", 100 - p.stop_loss_pct, 100 + p.take_profit_pct),
                                        (sh, "buy", 100 + p.stop_loss_pct, 100 - p.take_profit_pct)):
                out.append({"type": "place_order", "ts": ts, "account": acct, "market": mk.name, "side": close,
                            "order_type": "stop_loss", "size": q,
                            "trigger_price": fmt_price(mk.price * sl // 100 // mk.tick * mk.tick)})
                out.append({"type": "place_order", "ts": ts, "account": acct, "market": mk.name, "side": close,
                            "order_type": "take_profit", "size": q,
                            "trigger_price": fmt_price(mk.price * tp // 100 // mk.tick * mk.tick)})
        return out

    def _max_leverage(self, market: str) -> int:
        """What the initial margin allows, with room for fees and the maker's spread (80%)."""
        specs = self.market_specs if self.market_specs is not None else DEFAULT_MARKETS
        imf = next(frac(s["initial_margin"]) for s in specs if s["market"] == market)
        return max(1, 8 * FRAC_SCALE // (10 * imf))

    def _path_price(self, mk: SimMarket, ts: int) -> int:
        assert mk.path is not None
        i = bisect_right(mk.path, (ts - self.path_start_ts, 1 << 62)) - 1
        return mk.path[max(i, 0)][1] // mk.tick * mk.tick

    # ---- one step ------------------------------------------------------
    def step(self, ts: int | None = None) -> list[dict]:
        """Commands for one step (about 100 ms of market time)."""
        self.step_no += 1
        rng = self.rng
        p = self.participants
        assert p is not None
        out: list[dict] = []

        def cmd(d: dict) -> None:
            if ts is not None:
                d["ts"] = ts
            out.append(d)

        for mk in self.markets:
            # oracle: random walk on the tick grid, or the recorded path
            # rounded to the nearest tick, not floored: flooring drifted the walk down half a tick a step
            # (SOL lost ~10% an hour at 100 ms steps)
            move = round(rng.gauss(0, mk.vol_bps) * mk.price / 10_000)
            mk.price = max(mk.tick * 10, (mk.price + move + mk.tick // 2) // mk.tick * mk.tick)
            if mk.path and ts is not None:
                mk.price = self._path_price(mk, ts)
            if self.step_no % p.oracle_every == 1 % p.oracle_every and mk.name not in self.oracle_frozen:
                ov = self.oracle_override.get(mk.name)
                if ov is None:
                    mk.published = mk.price
                    cmd({"type": "oracle_price", "market": mk.name, "price": fmt_price(mk.price), "source": "sim"})
                else:
                    bps, lag = ov
                    mk.published = max(mk.tick, mk.price * (10_000 + bps) // 10_000 // mk.tick * mk.tick)
                    c = {"type": "oracle_price", "market": mk.name, "price": fmt_price(mk.published),
                         "source": "sim"}
                    if lag and ts is not None and oracle_publish_ts_supported():
                        c["publish_ts"] = max(0, ts - lag)
                    cmd(c)
            ref = mk.published if p.quote_around == "published" and mk.published else mk.price
            # market makers requote every few steps
            if self.step_no % p.requote_every == 1 % p.requote_every and self.makers_active:
                for i in range(self.makers):
                    acct = f"mm{i}"
                    cmd({"type": "cancel_all", "account": acct, "market": mk.name})
                    for lvl in range(1, p.maker_levels + 1):
                        off = ref * (3 + 4 * lvl + i) // 10_000
                        off = max(mk.tick, off // mk.tick * mk.tick)
                        qty = mk.lot * rng.randint(5, 40) * (1 + lvl)
                        cmd({"type": "place_order", "account": acct, "market": mk.name, "side": "buy",
                             "size": fmt_size(qty), "price": fmt_price(ref - off)})
                        cmd({"type": "place_order", "account": acct, "market": mk.name, "side": "sell",
                             "size": fmt_size(qty), "price": fmt_price(ref + off)})
            if not self.takers_active or not self.accounts:
                continue
            # takers
            for _ in range(rng.randint(0, p.takers_max)):
                u = f"u{rng.randrange(self.accounts):05d}"
                cmd({"type": "place_order", "account": u, "market": mk.name,
                     "side": rng.choice(("buy", "sell")), "order_type": "market",
                     "size": fmt_size(mk.lot * rng.randint(1, 10))})
            # a leveraged trader opens with TP/SL now and then
            if rng.random() < p.leveraged_rate:
                u = f"u{rng.randrange(self.accounts):05d}"
                side = rng.choice(("buy", "sell"))
                qty = mk.lot * rng.randint(5, 30)
                cmd({"type": "place_order", "account": u, "market": mk.name, "side": side,
                     "order_type": "market", "size": fmt_size(qty)})
                sl = ref * (100 - p.stop_loss_pct) // 100 if side == "buy" else ref * (100 + p.stop_loss_pct) // 100
                tp = ref * (100 + p.take_profit_pct) // 100 if side == "buy" else ref * (100 - p.take_profit_pct) // 100
                close = "sell" if side == "buy" else "buy"
                cmd({"type": "place_order", "account": u, "market": mk.name, "side": close, "order_type": "stop_loss",
                     "size": fmt_size(qty), "trigger_price": fmt_price(sl // mk.tick * mk.tick)})
                cmd({"type": "place_order", "account": u, "market": mk.name, "side": close, "order_type": "take_profit",
                     "size": fmt_size(qty), "trigger_price": fmt_price(tp // mk.tick * mk.tick)})
        return out


def oracle_publish_ts_supported() -> bool:
    """Whether ``oracle_price`` takes ``publish_ts`` (the guard rails add it; brief agreement #1)."""
    from ..core.commands import SPECS

    return "publish_ts" in SPECS["oracle_price"]


__all__ = ["Participants", "PricePathError", "SimMarket", "Simulator", "load_price_path"]
