"""The engine's state records: markets, accounts, positions. Plain slotted classes."""

from __future__ import annotations

import heapq

from .book import Book, Order
from .commands import MAX_OPEN_INTEREST, MAX_POSITION_NOTIONAL, MAX_SIZE

OPEN = "open"

# guard-rail defaults (see guards.py; realistic figures from shared/VENUES.md)
DEFAULT_POST_ONLY_BAND = 50_000  # 5 bps around the fair (index) price in post_only (Paradex, Feb 2026)
DEFAULT_ORACLE_STALE_MS = 30_000  # dYdX v4 takes only venues updated within 30 s into its index
DEFAULT_BREAKER_ACCOUNTS = 500  # accounts one evaluation may liquidate in one market
DEFAULT_BREAKER_OI_SHARE = 50_000_000  # share (FRAC, 0.5) of a side's open interest one evaluation may cut
# mark and funding (funding.update_mark / accrue_funding): impact notional in micro-USDC
IMPACT_NOTIONAL_MAJOR = 20_000_000_000  # 20,000 USDC on BTC and ETH (Hyperliquid)
IMPACT_NOTIONAL_OTHER = 6_000_000_000  # 6,000 USDC elsewhere


def default_impact_notional(name: str) -> int:
    """The impact notional of a market created (or restored from an older snapshot) without one."""
    return IMPACT_NOTIONAL_MAJOR if name.startswith(("BTC-", "ETH-")) else IMPACT_NOTIONAL_OTHER


class Market:
    __slots__ = (
        "name",
        "tick",
        "lot",
        "imf",
        "mmf",
        "maker_fee",
        "taker_fee",
        "liq_fee",
        "band",
        "post_only_band",
        "mode",
        "index_price",
        "mark_price",
        "band_mark",
        "band_frac",
        "band_hi",
        "band_lo",
        "funding_index",
        "funding_rate",
        "last_funding_ts",
        "oracle_ts",
        "long_oi",
        "short_oi",
        "liquidations_paused",
        "triggers_paused",
        # guard rails (see guards.py): parameters, flags, pending oracle jump, quarantined writes
        "oracle_band",
        "oracle_stale_ms",
        "breaker_accounts",
        "breaker_oi_share",
        "flags",
        "oracle_pending",
        "quarantined",
        # bounds (see commands.py hard limits and docs/contract.md "Bounds")
        "max_order_size",
        "max_position_notional",
        "open_interest_cap",
        "margin_tiers",
        # mark and funding (funding.update_mark, accrue_funding)
        "impact_notional",  # parameter: micro-USDC traded into the book for the impact bid / ask
        "mark_basis",  # smoothed basis (EMA) of the impact prices over the oracle, BASIS_SCALE (1e-12)
        "basis_ts",  # engine time of the last basis update
        "prem_start",  # start of the current funding interval (engine ms, a multiple of the interval)
        "prem_sum",  # sum of the premium samples (FRAC) taken in the current interval
        "prem_n",  # how many
        "prem_last",  # average premium (FRAC) of the last completed interval
        "sample_ts",  # engine time of the last premium sample
        "funding_rem",  # remainder of the funding-index division, carried so nothing is lost to flooring
        "oracle_jump",  # [since_ts, direction, refused_count, last_price, last_ts] of a jump refused so far, or None
        "book",
        "holders",
        # derived, rebuilt on restore (not part of the canonical state)
        "trig_down",
        "trig_up",
        "liq_long",
        "liq_short",
    )

    def __init__(self, name: str, tick: int, lot: int, imf: int, mmf: int, maker_fee: int,
                 taker_fee: int, liq_fee: int, band: int, post_only_band: int) -> None:
        self.name = name
        self.tick = tick
        self.lot = lot
        self.imf = imf
        self.mmf = mmf
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self.liq_fee = liq_fee
        self.band = band
        self.post_only_band = post_only_band
        self.mode = OPEN
        self.index_price = 0
        self.mark_price = 0
        # derived, not state: the price band [band_lo, band_hi] around mark_price for the band fraction
        # computed for band_mark and band_frac (orders.set_band)
        self.band_mark = 0
        self.band_frac = -1
        self.band_hi = 0
        self.band_lo = 0
        self.funding_index = 0
        self.funding_rate = 0
        self.last_funding_ts = 0
        self.oracle_ts = 0
        self.long_oi = 0
        self.short_oi = 0
        self.liquidations_paused = False
        self.triggers_paused = False
        self.oracle_band = band  # an oracle move beyond this fraction of the trusted index needs a 2nd source
        self.oracle_stale_ms = DEFAULT_ORACLE_STALE_MS  # no accepted oracle price for longer than this: flagged oracle_stale
        self.breaker_accounts = DEFAULT_BREAKER_ACCOUNTS  # one evaluation liquidating more accounts than this trips the breaker (0: no limit)
        self.breaker_oi_share = DEFAULT_BREAKER_OI_SHARE  # ... or more than this share of open interest (FRAC; 0: no limit)
        self.flags: dict[str, str] = {}  # flag -> detail; any flag pauses liquidations and triggers here
        self.oracle_pending: list | None = None  # [price, source, ts] of a jump waiting for a second source
        self.quarantined = 0  # load_market_state writes refused by validation
        # bounds: the hard ceilings unless the market sets its own (markets.py has the defaults of the
        # shipped venue); checked at order placement (orders.check_bounds)
        self.max_order_size = MAX_SIZE  # size units, one order
        self.max_position_notional = MAX_POSITION_NOTIONAL  # micro-USDC, one account's position incl. open orders
        self.open_interest_cap = MAX_OPEN_INTEREST  # size units, per side
        self.margin_tiers: list[list[int]] = []  # [[notional_floor, imf], ...]: initial margin for large positions
        self.impact_notional = default_impact_notional(name)
        self.mark_basis = 0
        self.basis_ts = 0
        self.prem_start = 0
        self.prem_sum = 0
        self.prem_n = 0
        self.prem_last = 0
        self.sample_ts = 0
        self.funding_rem = 0
        self.oracle_jump: list | None = None
        self.book = Book()
        self.holders: set[str] = set()  # accounts with a non-zero position
        self.trig_down: list[tuple[int, int]] = []  # heap of (-trigger, order_id): fire when mark <= trigger
        self.trig_up: list[tuple[int, int]] = []  # heap of (trigger, order_id): fire when mark >= trigger
        self.liq_long: list[tuple[int, int, str, int]] = []  # heap of (-threshold, n, account, version)
        self.liq_short: list[tuple[int, int, str, int]] = []  # heap of (threshold, n, account, version)


class Position:
    """Exposure of one account in one market: a position and/or resting orders.

    ``cost`` is the signed average-cost basis of the open size (display only:
    entry price = cost / size); money itself lives in the account's ``cash``.
    """

    __slots__ = ("size", "cost", "funding_entry", "open_buy", "open_sell", "reduce_orders",
                 "im_worst", "im_mark", "im_frac", "im_req", "mm_size", "mm_mark", "mm_frac", "mm_req", "mm_notional")

    def __init__(self, funding_entry: int = 0) -> None:
        self.size = 0
        self.cost = 0
        self.funding_entry = funding_entry
        self.open_buy = 0
        self.open_sell = 0
        self.reduce_orders = 0  # live reduce-only and TP/SL orders in this market
        # derived, not state: the last initial-margin requirement of the worst side and the last
        # maintenance requirement and notional of the size, with the inputs they were computed from
        # (margin.position_im / position_mm); -1 never matches a size
        self.im_worst = -1
        self.im_mark = 0
        self.im_frac = 0
        self.im_req = 0
        self.mm_size = -1
        self.mm_mark = 0
        self.mm_frac = 0
        self.mm_req = 0
        self.mm_notional = 0


class Account:
    """``cash`` is the exact cash ledger: deposits - withdrawals - buys + sells - fees
    +/- settled funding. Account value = cash + sum(size * mark) + unsettled funding.
    The collateral shown to people is ``cash + sum(cost)`` (realized view)."""

    __slots__ = ("name", "cash", "flow", "positions", "orders", "liq_version", "mcache")

    def __init__(self, name: str) -> None:
        self.name = name
        self.cash = 0
        # money that crossed the venue's edge for this account: deposits - withdrawals + credits paid
        # to it (canonical; a rollback re-applies what changed since the snapshot)
        self.flow = 0
        self.positions: dict[str, Position] = {}
        self.orders: dict[int, Order] = {}  # live order id -> Order (resting and triggers)
        self.liq_version = 0
        self.mcache: list[int] | None = None  # [mark_epoch, value, initial margin] while valid


def hold_order(pos: Position, o: Order) -> None:
    """Count a resting book order in its position: its open size on its side and, if reduce-only,
    one more reduce order. (The engine's ``rest`` and a snapshot's bulk restore both use it.)"""
    if o.side > 0:
        pos.open_buy += o.remaining
    else:
        pos.open_sell += o.remaining
    if o.reduce_only:
        pos.reduce_orders += 1


def push_trigger(mk: Market, o: Order) -> None:
    """Put a TP/SL order on its market's trigger heap: a sell stop (a long's stop-loss) and a buy
    take-profit fire on a falling mark, the others on a rising one."""
    down = (o.order_type == "stop_loss") == (o.side < 0)
    if down:
        heapq.heappush(mk.trig_down, (-o.trigger_price, o.id))
    else:
        heapq.heappush(mk.trig_up, (o.trigger_price, o.id))
