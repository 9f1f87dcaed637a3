"""The engine core: a pure, deterministic state machine, ``apply(command) -> events``.

No wall clock, no randomness, no I/O: time comes from commands (``ts``), money
is integer fixed point (see ``fixedpoint``), and every handler validates fully
before it changes anything, so a refused command changes nothing.
"""

from __future__ import annotations

import heapq
from typing import Final

from . import guards, liquidation, maintenance, snapshot
from .book import BUY, FILL_OK, SELL, VETO_MAKER, VETO_TAKER, FillGate, Order, RoRoom
from .commands import (
    MAX_SIZE,
    MAX_TOTAL_IN,
    MAX_TS,
    Command,
    CommandError,
    NotACommand,
    parse_command,
)
from .fixedpoint import (
    FRAC_SCALE,
    SIZE_SCALE,
    fmt_amount,
    fmt_frac,
    fmt_price,
    fmt_size,
)
from .liqindex import LiquidationIndex, y_long, y_short
from .margin import (
    FUNDING_DIV,
    account_margins,
    account_value,
    fee_amount,
    position_im,
    requirement,
    worst_side,
)
from .model import (
    DEFAULT_BREAKER_ACCOUNTS,
    DEFAULT_BREAKER_OI_SHARE,
    DEFAULT_ORACLE_STALE_MS,
    OPEN,
    Account,
    Market,
    Position,
    default_impact_notional,
    hold_order,
    push_trigger,
)

FUNDING_PERIOD_MS: Final = 28_800_000  # 8 h
FUNDING_BASE_RATE: Final = 10_000  # 0.01% per period, in FRAC units (1e-8)
FUNDING_CLAMP: Final = 50_000  # 0.05%
FUNDING_CAP: Final = 4_000_000  # |rate| <= 4% per period (and never more than the market's price band)
FUNDING_DEN: Final = FRAC_SCALE * FUNDING_PERIOD_MS  # funding index step = index x 1e6 x rate x dt / this
FUNDING_INTERVAL_MS: Final = 3_600_000  # premium samples are averaged per hour of engine time (Hyperliquid)
FUNDING_SAMPLE_MS: Final = 5_000  # at most one premium sample per 5 s of engine time
MARK_EMA_MS: Final = 150_000  # time constant of the mark's smoothed basis (Hyperliquid: 150 s EMA)
MARK_STEP_MS: Final = 5_000  # one basis update weighs at most this much engine time
BASIS_SCALE: Final = 1_000_000_000_000  # the smoothed basis is kept at 1e-12
BASIS_TO_FRAC: Final = 10_000  # BASIS_SCALE // FRAC_SCALE
TRIGGER_TYPES: Final = ("stop_loss", "take_profit")
MAX_FUNDING_INDEX: Final = 4_000_000_000_000_000_000  # |funding index| ceiling (bounds; docs/contract.md)
TRIGGER_BATCH: Final = 50  # at most this many TP/SL execute per market per evaluation (the rest wait)
USER_ACCESS_CMDS = frozenset({"deposit", "withdraw", "place_order", "cancel_order", "cancel_all"})


# command type -> the Engine method that handles it (looked up per call: a table of bound methods
# on the instance would make every engine a reference cycle, freed only by the cyclic collector)
_HANDLERS: Final[dict[str, str]] = {
    "deposit": "_deposit",
    "withdraw": "_withdraw",
    "place_order": "_place_order",
    "cancel_order": "_cancel_order",
    "cancel_all": "_cancel_all",
    "oracle_price": "_oracle_price",
    "load_market_state": "_load_market_state",
    "tick": "_tick",
    "create_market": "_create_market",
    "set_market_mode": "_set_market_mode",
    "set_platform_access": "_set_platform_access",
    "emergency_brake": "_emergency_brake",
    "release_brake": "_release_brake",
    "pause_liquidations": "_pause_liquidations",
    "resume_liquidations": "_resume_liquidations",
    "pause_triggers": "_pause_triggers",
    "resume_triggers": "_resume_triggers",
    "take_snapshot": "_take_snapshot",
    "rollback": "_rollback",
    "schedule_maintenance": "_schedule_maintenance",
    "credit": "_credit",
    "fund_insurance": "_fund_insurance",
    "set_safeguards": "_set_safeguards",
    "set_market_params": "_set_market_params",
    "accept_oracle_price": "_accept_oracle_price",
    "cancel_maintenance": "_cancel_maintenance",
    "reschedule_maintenance": "_reschedule_maintenance",
    "extend_maintenance": "_extend_maintenance",
    "set_withdrawals": "_set_withdrawals",
    "set_account_mode": "_set_account_mode",
    "cancel_account_orders": "_cancel_account_orders",
}

class Engine:
    """One venue. ``apply`` is the only way in; everything else is a read."""

    def __init__(self) -> None:
        # ---- canonical state (hashed) ----
        self.markets: dict[str, Market] = {}
        self.accounts: dict[str, Account] = {}
        self.orders: dict[int, Order] = {}
        self.next_order_id = 1
        self.insurance_fund = 0
        self.fee_pool = 0
        self.funding_pool = 0
        self.deposits = 0
        self.withdrawals = 0
        self.treasury_in = 0
        self.fund_in = 0  # cumulative fund_insurance (treasury -> insurance fund); a rollback keeps it
        self.fund_paid = 0  # cumulative credits paid from the insurance fund; a rollback keeps them paid
        self.platform_access = True
        self.brake_engaged = False
        self.liquidations_paused = False
        self.triggers_paused = False
        self.pre_brake_pauses: list[bool] | None = None  # global pauses as they were when the brake tripped
        self.credits: dict[str, dict] = {}
        self.maintenance: dict[str, dict] = {}
        self.snapshot_due: str | None = None  # a maintenance window's snapshot, taken at the end of its tick
        self.safeguards = True  # guard rails on (guards.py); off: the engine behaves as before they existed
        self.audit: list = [-1, []]  # last continuous audit: [engine ts or -1, [[check, detail, market], ...]]
        # bad debt neither the insurance fund nor ADL could take: a recorded claim against the venue
        # (Paradex: a socialized-loss factor on withdrawals), counted by checks.money_conserved
        self.socialized_loss = 0
        self.liq_cooldown: dict[str, int] = {}  # account -> engine time its next partial liquidation step may run
        self.withdrawals_enabled = True  # set_withdrawals: off, every withdraw is refused (withdrawals_paused)
        # set_account_mode: account -> "reduce_only" | "frozen"; normal accounts are absent (empty: no cost)
        self.account_modes: dict[str, str] = {}
        # ---- journal position and library (not hashed) ----
        self.seq = 0
        self.now = 0
        self.snapshots: dict[str, snapshot.Snapshot] = {}
        # ---- derived indexes (rebuilt on restore) ----
        self.coids: dict[tuple[str, str], int] = {}
        self.liq_index = LiquidationIndex()
        self.liq_dirty: set[str] = set()  # accounts changed since they were last indexed
        self.adl_ranking: dict[tuple[str, bool], list[str]] = {}  # per liquidation pass
        self.mark_epoch = 0  # bumps whenever any mark or funding index changes (margin cache key)
        self.current_events: list[dict] = []
        self._seq_ev = 0

    # ==================================================================
    # entry points
    # ==================================================================
    def apply(self, cmd: Command) -> list[dict]:
        """Apply one parsed command; returns its events (a ``rejected`` event if refused)."""
        self.seq += 1
        seq = self.seq
        events: list[dict] = []
        self.current_events = events
        self._seq_ev = seq
        ts = cmd.ts
        if ts is not None:
            if ts < self.now:
                return [self._rejected(cmd.type, "ts_backwards",
                                       f"ts {ts} is before the engine's time {self.now}; time never goes backwards")]
            self.now = ts
        t = cmd.type
        try:
            # the two hottest commands call their handlers directly (native calls when compiled)
            if t == "place_order":
                self._place_order(cmd.args)
            elif t == "cancel_order":
                self._cancel_order(cmd.args)
            else:
                getattr(self, _HANDLERS[t])(cmd.args)
        except CommandError as e:
            if events:  # a handler must validate before it changes anything
                raise AssertionError(f"{cmd.type} refused after emitting events: {e.message}") from e
            return [self._rejected(cmd.type, e.code, e.message)]
        return events

    def apply_obj(self, obj: object) -> list[dict]:
        """Parse and apply a wire-form command. Raises NotACommand for a non-command."""
        try:
            cmd = parse_command(obj)
        except CommandError as e:
            assert isinstance(obj, dict)  # only a command object gets as far as a CommandError
            ctype = obj["type"]
            ts = obj.get("ts")
            self.seq += 1
            if type(ts) is int and self.now <= ts <= MAX_TS:
                self.now = ts
            return [self._rejected(ctype, e.code, e.message)]
        return self.apply(cmd)

    def _rejected(self, ctype: str, code: str, message: str) -> dict:
        return {"type": "rejected", "seq": self.seq, "command_type": ctype, "code": code, "message": message}

    def emit(self, ev: dict) -> None:
        ev["seq"] = self._seq_ev
        self.current_events.append(ev)

    # ==================================================================
    # lookups that refuse
    # ==================================================================
    def _market(self, name: str) -> Market:
        mk = self.markets.get(name)
        if mk is None:
            raise CommandError("unknown_market", f"there is no market {name!r}")
        return mk

    def _account(self, name: str) -> Account:
        a = self.accounts.get(name)
        if a is None:
            raise CommandError("unknown_account", f"there is no account {name!r}")
        return a

    def _require_access(self) -> None:
        if not self.platform_access:
            raise CommandError("access_disabled", "platform access is disabled by the operators")

    def _refuse_frozen(self, name: str) -> None:
        if self.account_modes.get(name) == "frozen":
            raise CommandError("account_frozen", f"{name} is frozen by the operators; it may only cancel orders")

    # ==================================================================
    # user commands
    # ==================================================================
    def _deposit(self, a: dict) -> None:
        self._require_access()
        name = a["account"]
        if self.account_modes:
            self._refuse_frozen(name)
        amt = a["amount"]
        if self.deposits + amt > MAX_TOTAL_IN:
            raise CommandError("too_large", f"deposits would total more than {fmt_amount(MAX_TOTAL_IN)} USDC, "
                                            "beyond what the venue's state holds")
        acct = self.accounts.get(name)
        if acct is None:
            acct = self.accounts[name] = Account(name)
        acct.cash += amt
        acct.flow += amt
        self.deposits += amt
        acct.mcache = None
        self.emit({"type": "deposited", "account": name, "amount": amt})
        self.liq_dirty.add(name)

    def _withdraw(self, a: dict) -> None:
        self._require_access()
        if not self.withdrawals_enabled:
            raise CommandError("withdrawals_paused", "withdrawals are paused by the operators; deposits and "
                                                     "trading go on")
        acct = self._account(a["account"])
        if self.account_modes:
            self._refuse_frozen(acct.name)
        amt = a["amount"]
        negative = self._negative_equity()
        if negative:
            shown = ", ".join(negative[:5]) + (f" and {len(negative) - 5} more" if len(negative) > 5 else "")
            raise CommandError(
                "venue_insolvent",
                f"withdrawals are gated while any account has negative equity: {len(negative)} account(s) "
                f"below zero ({shown}); they wait for liquidation and the insurance fund",
            )
        value, im = self._value_im(acct)
        free = value - im
        if amt > free:
            raise CommandError(
                "insufficient_margin",
                f"withdrawing {fmt_amount(amt)} USDC would breach initial margin; "
                f"free collateral is {fmt_amount(max(free, 0))} USDC",
            )
        acct.cash -= amt
        acct.flow -= amt
        self.withdrawals += amt
        acct.mcache = None
        self.emit({"type": "withdrawn", "account": acct.name, "amount": amt})
        self.liq_dirty.add(acct.name)

    def _negative_equity(self) -> list[str]:
        """Every account whose value is below zero, in name order, without a scan of all accounts.

        An account with positions and value < 0 is below maintenance, so the liquidation index
        holds it in one of three places: ``liq_dirty`` (changed since it was last indexed), the
        parked set (below maintenance in markets that do not liquidate now), or a heap entry
        whose threshold the current mark and funding index have crossed (a crossed entry's
        ancestors are crossed too, so they are found from the root without popping). Each of
        these suspects is then valued exactly. (Accounts without positions are not indexed: a
        negative cash balance there is uncovered bad debt, which the ``solvency`` check reports.)"""
        idx = self.liq_index
        suspects: set[str] = set(idx.parked)
        suspects.update(self.liq_dirty)
        for mk in self.markets.values():
            if not mk.holders:
                continue
            self._crossed(mk.liq_long, -y_long(mk), suspects)
            self._crossed(mk.liq_short, y_short(mk), suspects)
        out: list[str] = []
        for name in sorted(suspects):
            a = self.accounts.get(name)
            if a is not None and account_value(a, self.markets) < 0:
                out.append(name)
        return out

    @staticmethod
    def _crossed(heap: list[tuple[int, int, str, int]], bound: int, into: set[str]) -> None:
        """Names of the entries of a liquidation heap whose key is below ``bound`` (heap left as it is)."""
        stack = [0]
        n = len(heap)
        while stack:
            i = stack.pop()
            if i < n:
                e = heap[i]
                if e[0] < bound:
                    into.add(e[2])
                    stack.append(2 * i + 1)
                    stack.append(2 * i + 2)

    def _place_order(self, a: dict) -> None:
        if not self.platform_access:
            self._require_access()
        # hot path: plain dict lookups; the refusing helpers only when missing
        acct = self.accounts.get(a["account"]) or self._account(a["account"])
        mk = self.markets.get(a["market"]) or self._market(a["market"])
        side = BUY if a["side"] == "buy" else SELL
        # typed locals: compiled, the arithmetic and comparisons below are native
        otype: str = a["order_type"]
        size: int = a["size"]
        price_o: int | None = a["price"]
        tif: str = a["time_in_force"]
        post_only: bool = a["post_only"]
        reduce_only: bool = a["reduce_only"]
        coid: str | None = a["client_order_id"]
        trigger_o: int | None = a["trigger_price"]
        price: int = 0 if price_o is None else price_o
        trigger: int = 0 if trigger_o is None else trigger_o
        adjusted = False  # size, time_in_force, post_only or reduce_only differ from the command's
        mode = mk.mode
        if mode == "halted":
            raise CommandError("market_halted", f"{mk.name} is halted; it accepts no orders")
        if mode == "cancel_only":
            raise CommandError("cancel_only", f"{mk.name} is in cancel_only; it accepts only cancels")
        acct_ro = False  # the account is reduce-only (set_account_mode); one truth test for a normal venue
        if self.account_modes:
            am = self.account_modes.get(acct.name)
            if am is not None:
                if am == "frozen":
                    self._refuse_frozen(acct.name)
                acct_ro = True
        if size % mk.lot:
            raise CommandError("off_lot", f"size {fmt_size(size)} is not a multiple of the lot size {fmt_size(mk.lot)}")
        if coid is not None and (acct.name, coid) in self.coids:
            raise CommandError("duplicate_client_order_id", f"client_order_id {coid!r} is already in use by a live order")
        is_trigger = otype == "stop_loss" or otype == "take_profit"
        if otype == "limit":
            if price_o is None:
                raise CommandError("missing_field", "a limit order needs a price")
            if trigger_o is not None:
                raise CommandError("unexpected_field", "trigger_price is only for stop_loss and take_profit orders")
            if price % mk.tick:
                raise CommandError("off_tick", f"price {fmt_price(price)} is not on the tick grid of {fmt_price(mk.tick)}")
        else:
            if price_o is not None:
                raise CommandError("unexpected_field", f"a {otype} order takes no price; it executes within the price band")
            if post_only:
                raise CommandError("bad_flag", "post_only needs a limit order")
            if is_trigger:
                if trigger_o is None:
                    raise CommandError("missing_field", f"a {otype} order needs a trigger_price")
                if trigger % mk.tick:
                    raise CommandError("off_tick", f"trigger_price {fmt_price(trigger)} is not on the tick grid of {fmt_price(mk.tick)}")
                if tif != "gtc":
                    raise CommandError("bad_value", f"a {otype} order executes as a market order; time_in_force must be gtc")
            elif trigger_o is not None:
                raise CommandError("unexpected_field", "trigger_price is only for stop_loss and take_profit orders")
        mark = mk.mark_price
        if mark <= 0:
            raise CommandError("no_mark_price", f"{mk.name} has no mark price yet")
        pos = acct.positions.get(mk.name)
        pos_size = pos.size if pos is not None else 0
        if mode == "post_only":
            if otype != "limit":
                raise CommandError("post_only_mode", f"{mk.name} is in post_only; only non-crossing limit orders are accepted")
            if tif != "gtc":
                raise CommandError("post_only_mode", f"{mk.name} is in post_only; ioc and fok orders cannot rest")
            post_only = True
            adjusted = True
        if is_trigger or reduce_only or mode == "reduce_only" or acct_ro:
            if not pos_size or (pos_size > 0) == (side > 0):
                if mode == "reduce_only" and not (is_trigger or reduce_only):
                    raise CommandError("reduce_only_mode", f"{mk.name} is in reduce_only; only orders that shrink a position are accepted")
                if acct_ro and not (is_trigger or reduce_only):
                    raise CommandError("account_reduce_only", f"{acct.name} is reduce-only (set by the operators); "
                                                              "only orders that shrink a position are accepted")
                raise CommandError("no_position", f"{acct.name} has no {'short' if side > 0 else 'long'} position in {mk.name} to reduce")
            held = pos_size if pos_size > 0 else -pos_size
            if size > held:
                size = held
            reduce_only = True
            adjusted = True
        if is_trigger:  # a stop on the wrong side of the mark would fire at once: refused
            down = (otype == "stop_loss") == (side < 0)  # fires on a falling mark
            if (down and trigger >= mark) or (not down and trigger <= mark):
                raise CommandError(
                    "trigger_wrong_side",
                    f"a {a['side']} {otype} triggers when the mark {'falls to' if down else 'rises to'} "
                    f"{fmt_price(trigger)}; it must be {'below' if down else 'above'} the mark {fmt_price(mark)}")
        # price band around mark
        band = mk.band
        if mode == "post_only":
            if self.safeguards:  # aggressive post-only orders beyond the band around the fair (index) price
                self._check_post_only_band(mk, side, price)
            elif mk.post_only_band:
                band = mk.post_only_band
        if mk.band_mark != mark or mk.band_frac != band:
            self._band(mk, mark, band)
        hi = mk.band_hi
        lo = mk.band_lo
        if otype == "limit":
            if side > 0 and price > hi:
                raise CommandError("price_band", f"buy at {fmt_price(price)} is beyond the price band (max {fmt_price(hi)} around mark {fmt_price(mark)})")
            if side < 0 and price < lo:
                raise CommandError("price_band", f"sell at {fmt_price(price)} is beyond the price band (min {fmt_price(lo)} around mark {fmt_price(mark)})")
            limit = price
        elif otype == "market":
            limit = hi - hi % mk.tick if side > 0 else lo + (-lo) % mk.tick
            if tif == "gtc":
                tif = "ioc"
                adjusted = True
        else:
            limit = 0
        book = mk.book
        crossing = (not is_trigger) and book.crosses(side, limit)
        if post_only and crossing:
            raise CommandError("post_only_would_cross", f"post-only {a['side']} at {fmt_price(limit)} would cross the book")
        # ---- bounds (order size, position notional, open interest, margin tiers): bounds engineer ----
        if not reduce_only:
            self._check_bounds(acct, mk, pos, pos_size, side, size, max(mark, limit))
        # ---- end bounds ----
        # initial margin gate (risk-increasing orders only)
        if not reduce_only:
            ob = pos.open_buy if pos is not None else 0
            os_ = pos.open_sell if pos is not None else 0
            before = worst_side(pos_size, ob, os_)
            after = worst_side(pos_size, ob + size, os_) if side > 0 else worst_side(pos_size, ob, os_ + size)
            if after > before:
                value, im = self._value_im(acct)
                need = im + requirement(after - before, max(mark, limit), mk.imf)
                if crossing:  # what executing away from mark would cost at once, and its fee
                    filled, cost = book.sweep(side, limit, size, acct.name)
                    notional_ = cost // SIZE_SCALE
                    at_mark = filled * mark // SIZE_SCALE
                    need += max(0, notional_ - at_mark if side > 0 else at_mark - notional_)
                    need += fee_amount(notional_, mk.taker_fee)
                if value < need:
                    raise CommandError(
                        "insufficient_margin",
                        f"order needs {fmt_amount(need)} USDC of initial margin; account value is {fmt_amount(value)}",
                    )
        if tif == "fok" and book.available(side, limit, acct.name, self._ro_room(mk)) < size:
            raise CommandError("fok_not_filled", f"fill-or-kill for {fmt_size(size)} cannot be filled completely at {fmt_price(limit)} or better")
        # ---- accepted: from here on, state changes ----
        oid = self.next_order_id
        self.next_order_id = oid + 1
        name = acct.name
        o = Order(oid, name, side, limit, size, mk.name, otype, tif, post_only, reduce_only, coid, trigger, self.now)
        # the event is the command's fields (a copy of its args: one memcpy, not 14 inserts) plus the
        # order id, with the fields the engine adjusted (clipped size, ioc, forced post/reduce-only)
        ev = a.copy()
        ev["type"] = "order_accepted"
        ev["order_id"] = oid
        if adjusted:
            ev["size"] = size
            ev["time_in_force"] = tif
            ev["post_only"] = post_only
            ev["reduce_only"] = reduce_only
        ev["seq"] = self._seq_ev
        self.current_events.append(ev)
        if is_trigger:
            self._rest_trigger(acct, mk, o)
            return
        rem = self.take_liquidity(mk, acct, o, limit, size, mk.taker_fee) if crossing else size
        if rem:
            if otype == "limit" and tif == "gtc":
                o.remaining = rem
                pos = acct.positions.get(mk.name)
                if pos is None:
                    pos = self._pos(acct, mk)
                ps = pos.size
                w0 = worst_side(ps, pos.open_buy, pos.open_sell)
                self._rest(acct, mk, o, pos)
                c = acct.mcache
                if c is not None and c[0] == self.mark_epoch:  # resting changes only this market's IM term
                    w1 = worst_side(ps, pos.open_buy, pos.open_sell)
                    if w1 != w0:
                        imf = mk.imf
                        before_im = position_im(pos, w0, mark, imf) if w0 else 0
                        c[2] += position_im(pos, w1, mark, imf) - before_im
            else:
                self.emit({"type": "order_canceled", "order_id": oid, "account": name, "market": mk.name,
                            "reason": "ioc_remainder", "size": rem})

    def _check_bounds(self, acct: Account, mk: Market, pos: Position | None, pos_size: int, side: int, size: int,
                      px: int) -> None:
        """The market's bounds for a risk-increasing order of ``size`` priced at ``px`` (the limit, or the
        band price of a market order, and never below mark): its size, the account's position notional
        after a full fill (open orders on the same side included), the open interest if it would grow,
        and the margin tier of that notional. Refuses with order_too_large / position_too_large /
        open_interest_cap / insufficient_margin; changes nothing."""
        if size > mk.max_order_size:
            raise CommandError("order_too_large", f"size {fmt_size(size)} is above {mk.name}'s max_order_size "
                                                  f"{fmt_size(mk.max_order_size)}")
        ob = pos.open_buy if pos is not None else 0
        os_ = pos.open_sell if pos is not None else 0
        before = worst_side(pos_size, ob, os_)
        after = worst_side(pos_size, ob + size, os_) if side > 0 else worst_side(pos_size, ob, os_ + size)
        if after > before:
            notional_after = after * px // SIZE_SCALE
            if after > MAX_SIZE or notional_after > mk.max_position_notional:
                raise CommandError("position_too_large",
                                   f"{acct.name}'s position in {mk.name} with its open orders would be "
                                   f"{fmt_size(after)} ({fmt_amount(notional_after)} USDC at {fmt_price(px)}), above "
                                   f"max_position_notional {fmt_amount(mk.max_position_notional)} USDC")
            tiers = mk.margin_tiers
            if tiers:
                timf = mk.imf
                for t in tiers:
                    if notional_after >= t[0] and t[1] > timf:
                        timf = t[1]
                if timf > mk.imf:
                    value, im = self._value_im(acct)
                    mark = mk.mark_price
                    need = im - requirement(before, mark, mk.imf) + requirement(after, px, timf)
                    if value < need:
                        raise CommandError(
                            "insufficient_margin",
                            f"a {fmt_amount(notional_after)} USDC position in {mk.name} is in the margin tier of "
                            f"{fmt_frac(timf)}: it needs {fmt_amount(need)} USDC of initial margin; account value is "
                            f"{fmt_amount(value)}")
        opening = (max(0, pos_size + size) - max(0, pos_size)) if side > 0 else (max(0, size - pos_size) - max(0, -pos_size))
        if opening:
            oi = mk.long_oi if mk.long_oi >= mk.short_oi else mk.short_oi
            if oi + opening > mk.open_interest_cap:
                raise CommandError("open_interest_cap",
                                   f"{mk.name}'s open interest {fmt_size(oi)} would exceed its cap "
                                   f"{fmt_size(mk.open_interest_cap)} (this order opens {fmt_size(opening)})")

    @staticmethod
    def _band(mk: Market, mark: int, band: int) -> None:
        """Remember the price band around ``mark`` (two big multiplications, once per mark)."""
        d = mark * band // FRAC_SCALE
        mk.band_hi = mark + d
        mk.band_lo = mark - d
        mk.band_mark = mark
        mk.band_frac = band

    @staticmethod
    def _check_post_only_band(mk: Market, side: int, price: int) -> None:
        fair = mk.index_price or mk.mark_price
        pob = guards.post_only_band(mk)
        hi = fair + fair * pob // FRAC_SCALE
        lo = fair - fair * pob // FRAC_SCALE
        if side > 0 and price > hi:
            raise CommandError("post_only_band", f"{mk.name} is in post_only: buy at {fmt_price(price)} is beyond the "
                                                 f"post-only band (max {fmt_price(hi)}, {fmt_frac(pob)} around fair price {fmt_price(fair)})")
        if side < 0 and price < lo:
            raise CommandError("post_only_band", f"{mk.name} is in post_only: sell at {fmt_price(price)} is beyond the "
                                                 f"post-only band (min {fmt_price(lo)}, {fmt_frac(pob)} around fair price {fmt_price(fair)})")

    def _cancel_order(self, a: dict) -> None:
        if not self.platform_access:
            self._require_access()
        acct = self.accounts.get(a["account"]) or self._account(a["account"])
        oid = a["order_id"]
        coid = a["client_order_id"]
        if (oid is None) == (coid is None):
            raise CommandError("bad_value", "give exactly one of order_id and client_order_id")
        if oid is None:
            oid = self.coids.get((acct.name, coid))
            if oid is None:
                raise CommandError("unknown_order", f"{acct.name} has no live order with client_order_id {coid!r}")
        o = acct.orders.get(oid)
        if o is None:
            raise CommandError("unknown_order", f"{acct.name} has no live order {oid}")
        if self.markets[o.market].mode == "halted":
            raise CommandError("market_halted", f"{o.market} is halted; it accepts nothing from users")
        self.remove_order(o, "user")

    def _cancel_all(self, a: dict) -> None:
        self._require_access()
        acct = self._account(a["account"])
        m = a["market"]
        if m is not None:
            self._market(m)
        todo = [o for o in acct.orders.values() if (m is None or o.market == m) and self.markets[o.market].mode != "halted"]
        for o in sorted(todo, key=lambda o: o.id):
            self.remove_order(o, "user")

    # ==================================================================
    # order plumbing
    # ==================================================================
    def _pos(self, acct: Account, mk: Market) -> Position:
        pos = acct.positions.get(mk.name)
        if pos is None:
            pos = acct.positions[mk.name] = Position(mk.funding_index)
        return pos

    def _rest(self, acct: Account, mk: Market, o: Order, pos: Position | None = None) -> None:
        """Rest ``o`` in the book and the registries; ``pos`` is ``acct``'s position in ``mk`` if known."""
        mk.book.add(o)
        if pos is None:
            pos = self._pos(acct, mk)
        hold_order(pos, o)
        oid = o.id
        self.orders[oid] = o
        acct.orders[oid] = o
        coid = o.client_order_id
        if coid is not None:
            self.coids[(acct.name, coid)] = oid

    def _rest_trigger(self, acct: Account, mk: Market, o: Order) -> None:
        self._pos(acct, mk).reduce_orders += 1
        self.orders[o.id] = o
        acct.orders[o.id] = o
        if o.client_order_id is not None:
            self.coids[(acct.name, o.client_order_id)] = o.id
        push_trigger(mk, o)

    def _forget(self, o: Order, acct: Account | None = None) -> None:
        """Drop a no-longer-live order from the registries (the caller settles book and quantities).

        ``acct`` is the order's account if the caller has it at hand."""
        oid = o.id
        del self.orders[oid]
        owner = o.account
        assert owner is not None  # engine orders always have an account (only a bare Book allows None)
        if acct is None:
            acct = self.accounts[owner]
        del acct.orders[oid]
        coid = o.client_order_id
        if coid is not None:
            try:  # (not dict.pop(k, None): compiled, that is a generic method call)
                del self.coids[(owner, coid)]
            except KeyError:
                pass
        if o.reduce_only:
            acct.positions[o.market].reduce_orders -= 1

    def remove_order(self, o: Order, reason: str) -> None:
        """Cancel a live order (resting or trigger) and emit ``order_canceled``."""
        mname = o.market
        mk = self.markets[mname]
        owner = o.account
        assert owner is not None
        acct = self.accounts[owner]
        pos = acct.positions[mname]
        acct.mcache = None
        ot = o.order_type
        if ot == "stop_loss" or ot == "take_profit":
            qty = o.remaining
            o.remaining = 0
        else:
            qty = mk.book.cancel(o)
            if o.side > 0:
                pos.open_buy -= qty
            else:
                pos.open_sell -= qty
        self._forget(o, acct)
        if not pos.size and not pos.open_buy and not pos.open_sell and not pos.reduce_orders:
            self.drop_if_empty(acct, mname, pos)
        self.current_events.append({"type": "order_canceled", "order_id": o.id, "account": o.account, "market": mname,
                             "reason": reason, "size": qty, "seq": self._seq_ev})

    @staticmethod
    def drop_if_empty(acct: Account, mname: str, pos: Position) -> None:
        if (not pos.size and not pos.open_buy and not pos.open_sell and not pos.reduce_orders
                and acct.positions.get(mname) is pos):
            del acct.positions[mname]

    def take_liquidity(self, mk: Market, acct: Account, taker: Order, limit: int, qty: int, taker_fee_rate: int,
              liquidation: bool = False) -> int:
        """Match ``qty`` of ``taker`` against the book; settle every fill. Returns what is left.

        Every fill is margin-checked on both sides before the book commits it (``_fill_ok``,
        asked by the book through ``_FillSettler``, which settles the fill when both pass):
        a maker that fails has its resting order canceled (reason ``margin``) and matching goes
        on; a taker that fails stops matching, its remainder is canceled here (reason
        ``margin``) and 0 is returned (nothing is left for the caller to rest or cancel).

        ``liquidation=True``: the taker is an account being liquidated (liquidation.py); it is
        exempt from the fill check (its bound is the bankruptcy price, the liquidation engine's
        business), its makers are still checked. Liquidation fills pay no taker fee, so their
        makers get no rebate (a rebate is capped at the taker fee of the same fill).
        """
        fills: list[tuple[Order, int]] = []
        stp: list[tuple[Order, int]] = []
        cut: list[tuple[Order, int]] = []
        vetoed: list[tuple[Order, int]] = []
        gate = _FillSettler(self, mk, acct, taker, taker_fee_rate, liquidation, stp)
        touched = gate.touched
        mname = mk.name
        accounts = self.accounts
        rem = mk.book.match(taker.side, limit, qty, acct.name, fills, stp, self._ro_room(mk, True), cut,
                            gate, vetoed)
        if stp:
            gate.settle_stp()
        for o, _q in fills:  # filled-out makers leave the registries
            if not o.remaining:
                owner = o.account
                assert owner is not None
                if self.orders.get(o.id) is o:
                    self._forget(o, accounts[owner])
        for o, _q in vetoed:  # makers the margin check refused: canceled (their event is in sequence)
            owner = o.account
            assert owner is not None
            a = accounts[owner]
            self._forget(o, a)
            self.drop_if_empty(a, mname, a.positions[mname])
        events = self.current_events
        if gate.stp_events:
            events.extend(gate.stp_events)
        if gate.fill_events:
            events.extend(gate.fill_events)
        for o, q in cut:  # reduce-only makers clipped to what their position had left
            owner = o.account
            assert owner is not None
            a = touched[owner] = accounts[owner]
            pos = a.positions[mname]
            if o.side > 0:
                pos.open_buy -= q
            else:
                pos.open_sell -= q
            a.mcache = None
            if not o.remaining and self.orders.get(o.id) is o:
                self._forget(o, a)
            self.drop_if_empty(a, mname, pos)
            self.emit({"type": "order_canceled", "order_id": o.id, "account": o.account, "market": mname,
                        "reason": "reduce_only", "size": q, "remaining": o.remaining})
        if fills or cut or vetoed:
            for name in sorted(touched):
                a = touched[name]
                tpos = a.positions.get(mname)
                if tpos is not None:
                    if tpos.reduce_orders:
                        self.enforce_reduce_only(a, mk, tpos)
                    else:
                        self.drop_if_empty(a, mname, tpos)
                self.liq_dirty.add(name)
        else:
            tpos = acct.positions.get(mname)
            if tpos is not None:
                self.drop_if_empty(acct, mname, tpos)
        if gate.stopped and rem:
            self.emit({"type": "order_canceled", "order_id": taker.id, "account": acct.name, "market": mname,
                        "reason": "margin", "size": rem})
            return 0
        return rem

    def _fill_ok(self, acct: Account, mk: Market, pos: Position, dq: int, notional: int, fee: int,
                 open_dq: int) -> bool:
        """May ``acct`` take a fill of signed size ``dq`` for ``notional`` and ``fee``? (dYdX v4's rule)

        ``open_dq``: how much of its resting quantity the fill uses (signed like ``dq``; 0 for a
        taker). Passes when the account meets initial margin afterwards (value >= IM of positions
        *and* open orders); otherwise only when the fill does not add risk in this market (the
        position shrinks, no flip), the account's value stays >= 0 (nothing fills past the
        bankruptcy price) and its value - maintenance requirement does not fall. When it passes,
        the account's (value, IM) cache is set to the figures after the fill (exact, so the next
        check and the next order need no recomputation)."""
        epoch = self.mark_epoch
        c = acct.mcache
        if c is not None and c[0] == epoch:
            value = c[1]
            im = c[2]
        else:
            value, im = self._value_im(acct)
        mark = mk.mark_price
        s = pos.size
        n = s + dq
        signed = notional if dq > 0 else -notional
        v1 = value + n * mark // SIZE_SCALE - s * mark // SIZE_SCALE - signed - fee
        ob = pos.open_buy
        os_ = pos.open_sell
        # worst sides before and after (margin.worst_side, written out: this runs for every fill)
        b = s + ob
        x = s - os_
        w0 = b if b >= 0 else -b
        if (x if x >= 0 else -x) > w0:
            w0 = x if x >= 0 else -x
        if open_dq > 0:
            ob -= open_dq
        elif open_dq < 0:
            os_ += open_dq
        b = n + ob
        x = n - os_
        w1 = b if b >= 0 else -b
        if (x if x >= 0 else -x) > w1:
            w1 = x if x >= 0 else -x
        imf = mk.imf
        im1 = im
        if w1 != w0:
            before_im = position_im(pos, w0, mark, imf) if w0 else 0
            im1 += (position_im(pos, w1, mark, imf) if w1 else 0) - before_im  # (remembered for after the fill)
        if v1 >= im1:
            acct.mcache = [epoch, v1, im1]
            return True
        if n and (not s or (n > 0) != (s > 0) or (n if n > 0 else -n) > (s if s > 0 else -s)):
            return False  # below initial margin afterwards: no new risk
        if v1 < 0:
            return False  # past the bankruptcy price
        _v, _im, mm = account_margins(acct, self.markets)
        mmf = mk.mmf
        mm1 = mm - (requirement(s, mark, mmf) if s else 0) + (requirement(n, mark, mmf) if n else 0)
        if v1 - mm1 < value - mm:
            return False
        acct.mcache = [epoch, v1, im1]
        return True

    def _ro_room(self, mk: Market, live: bool = False) -> RoRoom:
        """For the book: how much a reduce-only maker may still fill in this sweep.

        ``live``: fills are settled as the book makes them (``take_liquidity``), so the position already
        reflects the sweep's earlier fills; otherwise (a dry run) they are subtracted here."""
        accounts = self.accounts
        mname = mk.name

        def room(o: Order, fills: list[tuple[Order, int]]) -> int:
            owner = o.account
            assert owner is not None
            pos = accounts[owner].positions.get(mname)
            s = pos.size if pos is not None else 0
            if not s or (s > 0) == (o.side > 0):
                return 0
            done = 0
            if not live:
                for m, q in fills:
                    if m.account == o.account:
                        done += q
            return max(0, abs(s) - done)

        return room

    def _settle_fill(self, mk: Market, taker_acct: Account, taker: Order, maker: Order, q: int, notional: int,
                     mfee: int, tfee: int, mpos: Position, tpos: Position, events: list[dict],
                     taker_checked: bool) -> None:
        """Settle one checked fill of ``q`` between ``taker`` and the resting ``maker`` (still in the book's
        hands: the book takes ``q`` off it right after); the trade event goes to ``events``.

        ``_fill_ok`` left both accounts' (value, IM) caches at the figures after the fill; they are
        kept (the taker's only if it was checked: a liquidated taker's is dropped)."""
        owner = maker.account
        assert owner is not None
        maker_acct = self.accounts[owner]
        mcache = maker_acct.mcache
        tcache = taker_acct.mcache
        if maker.side > 0:
            mpos.open_buy -= q
            self.apply_fill(maker_acct, mk, mpos, q, notional, mfee)
        else:
            mpos.open_sell -= q
            self.apply_fill(maker_acct, mk, mpos, -q, notional, mfee)
        self.apply_fill(taker_acct, mk, tpos, q if taker.side > 0 else -q, notional, tfee)
        maker_acct.mcache = mcache  # the figures after this fill, set by _fill_ok
        if taker_checked:
            taker_acct.mcache = tcache
        mname = mk.name
        self.drop_if_empty(maker_acct, mname, mpos)
        events.append({"type": "trade", "market": mname, "price": maker.price, "size": q,
                       "side": "buy" if taker.side > 0 else "sell",
                       "maker_order_id": maker.id, "taker_order_id": taker.id,
                       "maker_account": maker.account, "taker_account": taker_acct.name,
                       "maker_fee": mfee, "taker_fee": tfee, "seq": self._seq_ev})

    def apply_fill(self, acct: Account, mk: Market, pos: Position, dq: int, notional: int, fee: int) -> None:
        """Move a fill of signed size ``dq`` for ``notional`` micro-USDC into ``acct``."""
        s = pos.size
        fi = mk.funding_index
        if s and fi != pos.funding_entry:
            earned = (-s * (fi - pos.funding_entry)) // FUNDING_DIV
            acct.cash += earned
            self.funding_pool -= earned
        pos.funding_entry = fi
        n = s + dq
        signed = notional if dq > 0 else -notional
        acct.cash -= signed + fee
        acct.mcache = None
        self.fee_pool += fee
        adq = dq if dq >= 0 else -dq  # (comparisons, not abs(): compiled, abs() boxes its argument)
        if not s or (s > 0) == (dq > 0):
            pos.cost += signed
        elif adq <= (s if s >= 0 else -s):
            if n:
                cost = pos.cost
                released = (cost if cost >= 0 else -cost) * adq // (s if s >= 0 else -s)
                pos.cost -= released if cost > 0 else -released
            else:
                pos.cost = 0
        else:  # flips side: the rest opens at this fill's price
            r = n if n >= 0 else -n
            part = notional * r // adq
            pos.cost = part if n > 0 else -part
        pos.size = n
        mk.long_oi += (n if n > 0 else 0) - (s if s > 0 else 0)
        mk.short_oi += (-n if n < 0 else 0) - (-s if s < 0 else 0)
        if n:
            mk.holders.add(acct.name)
        else:
            mk.holders.discard(acct.name)

    def enforce_reduce_only(self, acct: Account, mk: Market, pos: Position) -> None:
        """Cancel reduce-only and TP/SL orders that would no longer shrink the position."""
        if not pos.reduce_orders:
            return
        s = pos.size
        bad = [o for o in acct.orders.values()
               if o.market == mk.name and o.reduce_only and (not s or (s > 0) == (o.side > 0))]
        for o in sorted(bad, key=lambda o: o.id):
            self.remove_order(o, "reduce_only")
        self.drop_if_empty(acct, mk.name, pos)

    # ==================================================================
    # market data
    # ==================================================================
    def _oracle_price(self, a: dict) -> None:
        mk = self._market(a["market"])
        p = a["price"]
        source = a["source"]
        extra: dict = {}
        if not self.safeguards:
            if p <= 0:
                raise CommandError("non_positive", f"oracle price for {mk.name} must be greater than zero, got {fmt_price(p)}")
        else:
            sources = a["sources"]
            bad = guards.check_oracle(self, mk.name, p, source, a["publish_ts"], sources)
            if bad is not None:  # refused: the market is flagged; a jump waits for confirmation
                code, message = bad
                if code == "jump_unconfirmed":
                    mk.oracle_pending = [p, source, self.now]
                    guards.note_refused_jump(mk, p, self.now)
                self.emit({"type": "oracle_rejected", "market": mk.name, "price": p, "source": source,
                            "code": code, "message": message})
                self.flag(mk, guards.FLAG_ORACLE_REJECTED, f"{code}: {message}")
                self.after_market_data((mk,))  # like any market data: whoever is due elsewhere is evaluated
                return
            if guards.is_jump(mk, p):  # a jump check_oracle let through: say why
                why = guards.jump_acceptance(mk, p, source, sources, self.now)
                assert why is not None  # check_oracle refuses a jump nothing accepts
                if why == "confirmed":
                    pend = mk.oracle_pending
                    assert pend is not None
                    extra["confirmed_by"] = source
                    extra["first_source"] = pend[1]
                else:
                    self._emit_jump_accepted(mk, p, why, {})
        self._set_index(mk, p, source, a["publish_ts"], extra)

    def _emit_jump_accepted(self, mk: Market, p: int, why: str, extra: dict) -> None:
        j = mk.oracle_jump
        self.emit({"type": "oracle_jump_accepted", "market": mk.name, "price": p, "reason": why,
                    "since_ts": j[0] if j is not None else None, "refused_count": j[2] if j is not None else 0,
                    "previous_index": mk.index_price, **extra})

    def _set_index(self, mk: Market, p: int, source: str | None, publish_ts: int | None, extra: dict) -> None:
        """Apply an accepted oracle price: the index, its time, the flags, the mark, what is due."""
        mk.oracle_pending = None
        mk.oracle_jump = None
        mk.index_price = p
        mk.oracle_ts = self.now
        if not mk.last_funding_ts:
            mk.last_funding_ts = self.now
        ev = {"type": "oracle_updated", "market": mk.name, "price": p, "source": source}
        if publish_ts is not None:
            ev["publish_ts"] = publish_ts
        ev.update(extra)
        self.emit(ev)
        if mk.flags:
            for f in guards.ORACLE_FLAGS:
                self._unflag(mk, f)
        self._update_mark(mk, None)
        self.after_market_data((mk,))

    def _accept_oracle_price(self, a: dict) -> None:
        """An approver accepts an oracle price by hand (e.g. one the guard rails held after a real move)."""
        mk = self._market(a["market"])
        if not a["reason"].strip():
            raise CommandError("missing_reason", "accepting an oracle price by hand needs a reason")
        p = a["price"]
        self._emit_jump_accepted(mk, p, "manual", {"operator": a["operator"], "operator_reason": a["reason"]})
        self._set_index(mk, p, "manual", None, {"operator": a["operator"]})

    def flag(self, mk: Market, flag: str, detail: str) -> None:
        """Flag ``mk`` (liquidations and triggers pause on it); an event when the flag is new."""
        if flag not in mk.flags:
            mk.flags[flag] = detail
            self.emit({"type": "market_flagged", "market": mk.name, "flag": flag, "detail": detail})

    def _unflag(self, mk: Market, flag: str) -> None:
        if flag in mk.flags:
            del mk.flags[flag]
            self.emit({"type": "market_unflagged", "market": mk.name, "flag": flag})

    def _load_market_state(self, a: dict) -> None:
        mk = self._market(a["market"])
        mark = a["mark_price"]
        if mark < 0:
            raise CommandError("negative", "mark_price must not be negative")
        if self.safeguards:
            reasons = guards.check_market_state(self, mk.name, mark, a["funding_index"])
            if reasons:  # quarantined: recorded, never applied
                mk.quarantined += 1
                self.emit({"type": "market_data_quarantined", "market": mk.name, "mark_price": mark,
                            "funding_index": a["funding_index"], "source": a["source"], "reasons": reasons})
                self.after_market_data((mk,))  # nothing applied, but whoever is due is still evaluated
                return
        mk.mark_price = mark
        mk.funding_index = a["funding_index"]
        self.mark_epoch += 1
        self.emit({"type": "market_state_loaded", "market": mk.name, "mark_price": mark,
                    "funding_index": mk.funding_index, "source": a["source"]})
        self.after_market_data((mk,))

    def _tick(self, a: dict) -> None:
        if self.maintenance:
            maintenance.advance(self)
        now = self.now
        for mk in self.markets.values():
            if not mk.index_price:
                continue
            live = mk.mode != "halted"  # positions exist in every mode but halted (the venue stopped)
            if mk.last_funding_ts and now > mk.last_funding_ts:
                self._accrue_funding(mk, mk.last_funding_ts, now, live)
                mk.last_funding_ts = now
            prem = self._premium(mk)
            self._update_mark(mk, prem)
            if live and now - mk.sample_ts >= FUNDING_SAMPLE_MS:
                if now >= mk.prem_start + FUNDING_INTERVAL_MS:
                    self._roll_interval(mk, now)
                mk.prem_sum += _trunc_div(prem, BASIS_TO_FRAC)
                mk.prem_n += 1
                mk.sample_ts = now
        if self.safeguards:
            for mk in self.markets.values():
                if mk.index_price and now - mk.oracle_ts > mk.oracle_stale_ms:
                    self.flag(mk, guards.FLAG_ORACLE_STALE,
                               f"no accepted oracle price within {mk.oracle_stale_ms} ms")
            last = self.audit[0]
            if last < 0 or now - last >= guards.AUDIT_INTERVAL_MS:
                self._audit()
        self.after_market_data(self.markets.values())
        label = self.snapshot_due
        if label is not None:  # after everything this tick did: the snapshot is the state after its seq
            self.snapshot_due = None
            try:
                self._take_snapshot({"label": label, "trigger": "maintenance"})
            except CommandError as e:  # this tick already changed state: reported, not refused
                self.emit({"type": "snapshot_failed", "label": label, "code": e.code, "message": e.message})

    def _audit(self) -> None:
        """The continuous audit: run the validation checks; halt what fails into cancel_only."""
        from .checks import run_checks

        failures = run_checks(self)
        self.audit = [self.now, [[f.check, f.detail, f.market] for f in failures[:20]]]
        if not failures:
            return
        affected: set[str] = set()
        for i, f in enumerate(failures):
            if i < 20:  # one event per failure, up to 20 (the audit record keeps the same 20)
                self.emit({"type": "validation_failed", "check": f.check, "detail": f.detail, "market": f.market,
                            "source": "audit"})
            if f.market is None:
                affected.update(self.markets)
            elif f.market in self.markets:
                affected.add(f.market)
        for m in sorted(affected):
            mk = self.markets[m]
            if mk.mode not in ("cancel_only", "halted"):  # never loosen a stricter mode
                self.set_mode(mk, "cancel_only")

    @staticmethod
    def _roll_interval(mk: Market, t: int) -> None:
        """Close the funding interval before ``t``: its average premium becomes ``prem_last``."""
        start = t - t % FUNDING_INTERVAL_MS
        n = mk.prem_n
        # the interval just before t's: its average; none sampled (or long gone): no premium
        mk.prem_last = _trunc_div(mk.prem_sum, n) if n and start == mk.prem_start + FUNDING_INTERVAL_MS else 0
        mk.prem_sum = 0
        mk.prem_n = 0
        mk.prem_start = start

    @staticmethod
    def funding_rate_of(mk: Market) -> tuple[int, int]:
        """(rate per period, average premium): the interval's average premium so far (the last
        interval's while none is sampled yet), plus the interest clamp, capped."""
        n = mk.prem_n
        prem = _trunc_div(mk.prem_sum, n) if n else mk.prem_last
        rate = prem + max(-FUNDING_CLAMP, min(FUNDING_CLAMP, FUNDING_BASE_RATE - prem))
        cap = min(FUNDING_CAP, mk.band)
        return max(-cap, min(cap, rate)), prem

    def _accrue_funding(self, mk: Market, t0: int, t1: int, charge: bool) -> None:
        """Accrue funding over [t0, t1] (``charge``: else only the intervals advance), interval by
        interval, carrying the remainder of the division so no time is lost to flooring."""
        index = mk.index_price
        f0 = mk.funding_index
        rate = mk.funding_rate
        prem = 0
        t = t0
        while t < t1:
            if t >= mk.prem_start + FUNDING_INTERVAL_MS:
                self._roll_interval(mk, t)
            end = mk.prem_start + FUNDING_INTERVAL_MS
            if end > t1:
                end = t1
            elif mk.prem_n == 0 and mk.prem_last == 0:
                # nothing sampled and nothing carried: every interval from here to t1 rolls to the
                # same (zero) premium, so the same rate: one step instead of one per hour (a tick
                # after a long gap, up to the year 9999, stays O(1)); exactly what the intervals one by
                # one give, since the remainder carries and the final roll below lands on t1's interval
                end = t1
            if charge:
                rate, prem = self.funding_rate_of(mk)
                num = index * 1_000_000 * rate * (end - t) + mk.funding_rem
                delta = num // FUNDING_DEN
                mk.funding_rem = num - delta * FUNDING_DEN
                fi = mk.funding_index + delta
                # (bounds) the index never leaves what the state encodes: clamped at +/- MAX_FUNDING_INDEX
                if fi > MAX_FUNDING_INDEX or fi < -MAX_FUNDING_INDEX:
                    fi = MAX_FUNDING_INDEX if fi > 0 else -MAX_FUNDING_INDEX
                    mk.funding_rem = 0
                mk.funding_index = fi
            t = end
        if t1 >= mk.prem_start + FUNDING_INTERVAL_MS:
            self._roll_interval(mk, t1)
        if not charge:
            return
        mk.funding_rate = rate
        if mk.funding_index != f0:
            self.mark_epoch += 1
            self.emit({"type": "funding", "market": mk.name, "rate": rate, "funding_index": mk.funding_index,
                        "premium": prem})

    def _premium(self, mk: Market) -> int:
        """The premium of the book over the oracle at impact notional, BASIS_SCALE:
        (max(impact bid - oracle, 0) - max(oracle - impact ask, 0)) / oracle. A side without
        impact-notional depth contributes nothing (the oracle)."""
        index = mk.index_price
        book = mk.book
        target = mk.impact_notional * SIZE_SCALE
        if book.bid_keys and book.bid_keys[-1] > index:
            ib = book.impact_price(True, target)
            if ib > index:
                return (ib - index) * BASIS_SCALE // index
        if book.ask_keys and -book.ask_keys[-1] < index:
            ia = book.impact_price(False, target)
            if 0 < ia < index:
                return -((index - ia) * BASIS_SCALE // index)
        return 0

    def _update_mark(self, mk: Market, prem: int | None) -> None:
        """mark = oracle x (1 + smoothed basis), the basis an EMA (MARK_EMA_MS) of the impact premium
        over engine time, its offset rounded toward the oracle to the tick, within the price band."""
        index = mk.index_price
        now = self.now
        dt = now - mk.basis_ts
        if dt > 0:
            if dt > MARK_STEP_MS:
                dt = MARK_STEP_MS
            sample: int = self._premium(mk) if prem is None else prem
            d = sample - mk.mark_basis
            den = MARK_EMA_MS + dt
            mk.mark_basis += d * dt // den if d >= 0 else -((-d) * dt // den)
            mk.basis_ts = now
        basis = mk.mark_basis
        tick = mk.tick
        if basis >= 0:
            off = index * basis // BASIS_SCALE
            off -= off % tick
        else:
            off = (index * -basis) // BASIS_SCALE
            off = -(off - off % tick)
        cap = index * mk.band // FRAC_SCALE
        if off > cap:
            off = cap
        elif off < -cap:
            off = -cap
        mark = index + off
        if mark != mk.mark_price:
            mk.mark_price = mark
            self.mark_epoch += 1
            self.emit({"type": "mark_price", "market": mk.name, "mark_price": mark, "index_price": index})

    def after_market_data(self, markets, breaker_exempt: set[str] | None = None) -> None:
        """Fire due TP/SL triggers market by market, then liquidate whoever is below maintenance.

        Nothing fires or liquidates on a market that is restricted, paused or flagged (a market
        flagged only ``circuit_breaker`` still fires its triggers: the breaker pauses liquidations);
        ``breaker_exempt``: markets an operator just resumed (their waiting liquidations run)."""
        for mk in markets:
            if mk.mode == OPEN and not (self.triggers_paused or mk.triggers_paused):
                flags = mk.flags
                # the circuit breaker pauses liquidations only; any other flag (an untrusted price) pauses stops
                if not flags or (len(flags) == 1 and guards.FLAG_CIRCUIT_BREAKER in flags):
                    self._fire_triggers(mk)
        if not self.liquidations_paused:
            liquidation.evaluate(self, breaker_exempt)

    def _value_im(self, acct: Account) -> tuple[int, int]:
        """(account value, initial margin incl. open orders), cached until the account or a mark changes."""
        c = acct.mcache
        if c is not None and c[0] == self.mark_epoch:
            return c[1], c[2]
        value, im, _mm = account_margins(acct, self.markets)
        acct.mcache = [self.mark_epoch, value, im]
        return value, im

    def _fire_triggers(self, mk: Market) -> None:
        """Execute the triggers the mark has crossed, at most ``TRIGGER_BATCH`` per market per
        evaluation in order of order id; the rest stay armed for the next market data."""
        mark = mk.mark_price
        fired = []
        heap = mk.trig_down
        while heap and -heap[0][0] >= mark:
            _t, oid = heapq.heappop(heap)
            o = self.orders.get(oid)
            if o is not None and o.remaining:
                fired.append(o)
        heap = mk.trig_up
        while heap and heap[0][0] <= mark:
            _t, oid = heapq.heappop(heap)
            o = self.orders.get(oid)
            if o is not None and o.remaining:
                fired.append(o)
        fired.sort(key=lambda o: o.id)
        if len(fired) > TRIGGER_BATCH:  # staggered: never a wall of market orders at once
            for o in fired[TRIGGER_BATCH:]:
                push_trigger(mk, o)
            del fired[TRIGGER_BATCH:]
        for o in fired:
            if self.orders.get(o.id) is not o:  # canceled by an earlier trigger's fill
                continue
            self._execute_trigger(mk, o)

    def _execute_trigger(self, mk: Market, o: Order) -> None:
        owner = o.account
        assert owner is not None
        acct = self.accounts[owner]
        self._forget(o, acct)
        self.emit({"type": "order_triggered", "order_id": o.id, "account": o.account, "market": mk.name,
                    "order_type": o.order_type, "trigger_price": o.trigger_price, "mark_price": mk.mark_price})
        pos = acct.positions.get(mk.name)
        s = pos.size if pos is not None else 0
        if not s or (s > 0) == (o.side > 0):
            if pos is not None:
                self.drop_if_empty(acct, mk.name, pos)
            o.remaining = 0
            self.emit({"type": "order_canceled", "order_id": o.id, "account": o.account, "market": mk.name,
                        "reason": "reduce_only", "size": o.size})
            return
        qty = min(o.remaining, abs(s))
        o.remaining = 0
        mark = mk.mark_price
        if o.side > 0:
            hi = mark + mark * mk.band // FRAC_SCALE
            limit = hi - hi % mk.tick
        else:
            lo = mark - mark * mk.band // FRAC_SCALE
            limit = lo + (-lo) % mk.tick
        rem = self.take_liquidity(mk, acct, o, limit, qty, mk.taker_fee)
        if rem:
            self.emit({"type": "order_canceled", "order_id": o.id, "account": o.account, "market": mk.name,
                        "reason": "ioc_remainder", "size": rem})

    # ==================================================================
    # operator commands
    # ==================================================================
    def _create_market(self, a: dict) -> None:
        name = a["market"]
        if name in self.markets:
            raise CommandError("market_exists", f"market {name!r} already exists")
        tick, lot = a["tick_size"], a["lot_size"]
        if (tick * lot) % SIZE_SCALE:
            raise CommandError("grid_not_exact", "tick_size x lot_size must be a whole number of micro-USDC (1e-6) so every fill's notional is exact")
        imf, mmf = a["initial_margin"], a["maintenance_margin"]
        if not (0 < mmf < imf <= FRAC_SCALE):
            raise CommandError("bad_margin", "need 0 < maintenance_margin < initial_margin <= 1")
        maker, taker, liq = a["maker_fee"], a["taker_fee"], a["liquidation_fee"]
        if taker > FRAC_SCALE // 10 or abs(maker) > taker and maker < 0 or maker > FRAC_SCALE // 10:
            raise CommandError("bad_fee", "fees must be below 10%, and a maker rebate no larger than the taker fee")
        if liq >= mmf:
            raise CommandError("bad_fee", "liquidation_fee must be smaller than maintenance_margin")
        band = a["price_band"]
        if not (0 < band < FRAC_SCALE // 2):
            raise CommandError("bad_band", "price_band must be between 0 and 0.5")
        params = self._guard_params(a, band)
        bounds = self._bound_params(a, imf, lot)
        idx = a["index_price"]
        if idx is not None and idx % tick:
            raise CommandError("off_tick", "index_price must be on the tick grid")
        mk = Market(name, tick, lot, imf, mmf, maker, taker, liq, band, params.get("post_only_band", 0))
        mk.oracle_band = params.get("oracle_band", band)
        mk.oracle_stale_ms = params.get("oracle_stale_ms", DEFAULT_ORACLE_STALE_MS)
        mk.breaker_accounts = params.get("breaker_accounts", DEFAULT_BREAKER_ACCOUNTS)
        mk.breaker_oi_share = params.get("breaker_oi_share", DEFAULT_BREAKER_OI_SHARE)
        self._set_bounds(mk, bounds)
        mk.impact_notional = params.get("impact_notional", default_impact_notional(name))
        mk.basis_ts = mk.sample_ts = self.now
        mk.prem_start = self.now - self.now % FUNDING_INTERVAL_MS
        self.markets[name] = mk
        self.emit({"type": "market_created", "market": name, "tick_size": fmt_price(tick), "lot_size": fmt_size(lot),
                    "initial_margin": fmt_frac(imf), "maintenance_margin": fmt_frac(mmf),
                    "maker_fee_rate": fmt_frac(maker), "taker_fee_rate": fmt_frac(taker),
                    "liquidation_fee_rate": fmt_frac(liq), "price_band": fmt_frac(band),
                    **self._params_wire(mk), **self._bounds_wire(mk)})
        if idx is not None:
            mk.index_price = mk.mark_price = idx
            mk.oracle_ts = mk.last_funding_ts = self.now
            self.emit({"type": "mark_price", "market": name, "mark_price": idx, "index_price": idx})

    @staticmethod
    def _guard_params(a: dict, band: int) -> dict:
        """The guard-rail parameters given in ``a`` (validated); absent ones are left out."""
        out = {}
        pob = a["post_only_band"]
        if pob is not None:
            if not (0 < pob <= band):
                raise CommandError("bad_band", "post_only_band must be between 0 and price_band")
            out["post_only_band"] = pob
        ob = a["oracle_band"]
        if ob is not None:
            if not (0 < ob < FRAC_SCALE // 2):
                raise CommandError("bad_band", "oracle_band must be between 0 and 0.5")
            out["oracle_band"] = ob
        st = a["oracle_stale_ms"]
        if st is not None:
            if st <= 0:
                raise CommandError("bad_value", "oracle_stale_ms must be positive")
            out["oracle_stale_ms"] = st
        if a["breaker_accounts"] is not None:
            out["breaker_accounts"] = a["breaker_accounts"]
        share = a["breaker_oi_share"]
        if share is not None:
            if share > FRAC_SCALE:
                raise CommandError("bad_value", "breaker_oi_share must be between 0 and 1 (0: no limit)")
            out["breaker_oi_share"] = share
        imp = a["impact_notional"]
        if imp is not None:
            out["impact_notional"] = imp
        return out

    @staticmethod
    def _params_wire(mk: Market) -> dict:
        return {"post_only_band": fmt_frac(guards.post_only_band(mk)), "oracle_band": fmt_frac(mk.oracle_band),
                "oracle_stale_ms": mk.oracle_stale_ms, "breaker_accounts": mk.breaker_accounts,
                "breaker_oi_share": fmt_frac(mk.breaker_oi_share), "impact_notional": fmt_amount(mk.impact_notional)}

    @staticmethod
    def _bound_params(a: dict, imf: int, lot: int) -> dict:
        """The bound parameters given in ``a`` (validated); absent ones are left out."""
        out: dict = {}
        mos = a["max_order_size"]
        if mos is not None:
            if mos % lot:
                raise CommandError("off_lot", "max_order_size must be a multiple of the lot size")
            out["max_order_size"] = mos
        if a["max_position_notional"] is not None:
            out["max_position_notional"] = a["max_position_notional"]
        if a["open_interest_cap"] is not None:
            out["open_interest_cap"] = a["open_interest_cap"]
        tiers = a["margin_tiers"]
        if tiers is not None:
            if tiers and tiers[0][1] <= imf:
                raise CommandError("bad_margin", "margin_tiers must raise the initial margin above the market's own")
            out["margin_tiers"] = tiers
        return out

    @staticmethod
    def _set_bounds(mk: Market, bounds: dict) -> None:
        for k, v in bounds.items():
            if k == "max_order_size":
                mk.max_order_size = v
            elif k == "max_position_notional":
                mk.max_position_notional = v
            elif k == "open_interest_cap":
                mk.open_interest_cap = v
            else:
                mk.margin_tiers = [list(t) for t in v]

    @staticmethod
    def _bounds_wire(mk: Market) -> dict:
        return {"max_order_size": fmt_size(mk.max_order_size),
                "max_position_notional": fmt_amount(mk.max_position_notional),
                "open_interest_cap": fmt_size(mk.open_interest_cap),
                "margin_tiers": [[fmt_amount(t[0]), fmt_frac(t[1])] for t in mk.margin_tiers]}

    def _set_market_params(self, a: dict) -> None:
        mk = self._market(a["market"])
        params = self._guard_params(a, mk.band)
        bounds = self._bound_params(a, mk.imf, mk.lot)
        if not params and not bounds:
            raise CommandError("missing_field", "set_market_params needs at least one of post_only_band, oracle_band, "
                                                "oracle_stale_ms, breaker_accounts, breaker_oi_share, impact_notional, "
                                                "max_order_size, max_position_notional, open_interest_cap, margin_tiers")
        self._set_bounds(mk, bounds)
        for k, v in params.items():
            if k == "post_only_band":
                mk.post_only_band = v
            elif k == "oracle_band":
                mk.oracle_band = v
            elif k == "oracle_stale_ms":
                mk.oracle_stale_ms = v
            elif k == "breaker_accounts":
                mk.breaker_accounts = v
            elif k == "impact_notional":
                mk.impact_notional = v
            else:
                mk.breaker_oi_share = v
        self.emit({"type": "market_params_set", "market": mk.name, "changed": sorted(params) + sorted(bounds),
                    **self._params_wire(mk), **self._bounds_wire(mk), "operator": a["operator"], "reason": a["reason"]})

    def _set_safeguards(self, a: dict) -> None:
        en = a["enabled"]
        if en == self.safeguards:
            raise CommandError("no_change", f"safeguards are already {'on' if en else 'off'}")
        if not en and not a["reason"].strip():
            raise CommandError("missing_reason", "turning the safeguards off needs a reason")
        self.safeguards = en
        self.emit({"type": "safeguards_set", "enabled": en, "operator": a["operator"], "reason": a["reason"]})
        if not en:  # as before the guard rails existed: no flags, nothing pending
            for mk in self.markets.values():
                for f in sorted(mk.flags):
                    self._unflag(mk, f)
                mk.oracle_pending = None
                mk.oracle_jump = None
            self.after_market_data(self.markets.values())

    def set_mode(self, mk: Market, mode: str) -> None:
        if mk.mode != mode:
            mk.mode = mode
            self.emit({"type": "market_mode", "market": mk.name, "mode": mode})

    def _set_market_mode(self, a: dict) -> None:
        mk = self._market(a["market"])
        mode = a["mode"]
        if mode == mk.mode:
            raise CommandError("no_change", f"{mk.name} is already {mode}")
        if self.brake_engaged and mode != "halted":
            raise CommandError("brake_engaged", "the emergency brake is engaged; release it first")
        overridden = guards.reopen_gate(self, a, f"opening {mk.name}") if (mode == OPEN and self.safeguards) else []
        if overridden:
            self._emit_override("set_market_mode", overridden, a)
        self.set_mode(mk, mode)
        if mode == OPEN:
            self.after_market_data((mk,))

    def _set_platform_access(self, a: dict) -> None:
        en = a["enabled"]
        if en == self.platform_access:
            raise CommandError("no_change", f"platform access is already {'enabled' if en else 'disabled'}")
        if en and self.brake_engaged:
            raise CommandError("brake_engaged", "the emergency brake is engaged; release it to restore access")
        self.platform_access = en
        self.emit({"type": "platform_access", "enabled": en})

    def brake_preview(self) -> dict:
        """What ``emergency_brake`` would do now, without doing it."""
        per_market: dict[str, int] = {m: 0 for m in self.markets}
        kept = 0
        accounts = set()
        for o in self.orders.values():
            if o.order_type in TRIGGER_TYPES:
                kept += 1
            else:
                per_market[o.market] += 1
                accounts.add(o.account)
        return {
            "canceled_orders": sum(per_market.values()),
            "canceled_by_market": per_market,
            "kept_tpsl": kept,
            "accounts_affected": len(accounts),
            "markets_to_halt": [m for m, mk in self.markets.items() if mk.mode != "halted"],
            "already_engaged": self.brake_engaged,
        }

    def _emergency_brake(self, a: dict) -> None:
        if self.brake_engaged:
            raise CommandError("brake_engaged", "the emergency brake is already engaged")
        preview = self.brake_preview()
        self.brake_engaged = True
        if self.platform_access:
            self.platform_access = False
            self.emit({"type": "platform_access", "enabled": False})
        for mk in self.markets.values():
            self.set_mode(mk, "halted")
        self.pre_brake_pauses = [self.liquidations_paused, self.triggers_paused]
        self.liquidations_paused = True
        self.triggers_paused = True
        self.emit({"type": "liquidations_paused", "market": None})
        for o in sorted((o for o in self.orders.values() if o.order_type not in TRIGGER_TYPES), key=lambda o: o.id):
            self.remove_order(o, "brake")
        if self.maintenance:
            maintenance.on_brake(self)
        self.emit({"type": "brake_engaged", "canceled_orders": preview["canceled_orders"],
                    "canceled_by_market": preview["canceled_by_market"], "kept_tpsl": preview["kept_tpsl"],
                    "accounts_affected": preview["accounts_affected"], "operator": a["operator"], "reason": a["reason"]})

    def _release_brake(self, a: dict) -> None:
        if not self.brake_engaged:
            raise CommandError("brake_not_engaged", "the emergency brake is not engaged")
        overridden = guards.reopen_gate(self, a, "releasing the brake")
        if overridden:
            self._emit_override("release_brake", overridden, a)
        self.brake_engaged = False
        self.platform_access = True
        self.emit({"type": "platform_access", "enabled": True})
        # pauses an operator set before the brake stay set: releasing the brake only undoes the brake
        liq, trig = self.pre_brake_pauses if self.pre_brake_pauses is not None else [False, False]
        self.pre_brake_pauses = None
        self.liquidations_paused = liq
        self.triggers_paused = trig
        if not liq:
            self.emit({"type": "liquidations_resumed", "market": None})
        for mk in self.markets.values():
            if mk.mode in ("halted", "cancel_only", OPEN):
                self.set_mode(mk, "post_only")
        self.emit({"type": "brake_released", "operator": a["operator"], "reason": a["reason"],
                    "override": bool(overridden)})

    def _emit_override(self, command: str, failures: list, a: dict) -> None:
        self.emit({"type": "validation_overridden", "command": command,
                    "failures": [{"check": f.check, "detail": f.detail} for f in failures],
                    "operator": a["operator"], "reason": a["reason"]})

    def _pause_flag(self, a: dict, attr: str, value: bool, event: str) -> None:
        m = a["market"]
        target = self._market(m) if m is not None else self
        if getattr(target, attr) == value:
            raise CommandError("no_change", f"{attr.replace('_', ' ')} already {'on' if value else 'off'}" + (f" for {m}" if m else ""))
        setattr(target, attr, value)
        self.emit({"type": event, "market": m})
        if not value:
            self.after_market_data([target] if m is not None else list(self.markets.values()))

    def _pause_liquidations(self, a: dict) -> None:
        self._pause_flag(a, "liquidations_paused", True, "liquidations_paused")

    def _resume_liquidations(self, a: dict) -> None:
        """Resume liquidations (all markets, or one) and reset tripped circuit breakers there."""
        m = a["market"]
        targets = [self._market(m)] if m is not None else list(self.markets.values())
        tripped = [mk for mk in targets if guards.FLAG_CIRCUIT_BREAKER in mk.flags]
        paused = self._market(m).liquidations_paused if m is not None else self.liquidations_paused
        if not tripped or paused:
            self._pause_flag(a, "liquidations_paused", False, "liquidations_resumed")  # no_change when neither
        else:
            self.emit({"type": "liquidations_resumed", "market": m})
        for mk in tripped:
            self._unflag(mk, guards.FLAG_CIRCUIT_BREAKER)
        if tripped:  # what waited for the operator runs now, without tripping the breaker again
            self.after_market_data(tripped, {mk.name for mk in tripped})

    def _pause_triggers(self, a: dict) -> None:
        self._pause_flag(a, "triggers_paused", True, "triggers_paused")

    def _resume_triggers(self, a: dict) -> None:
        self._pause_flag(a, "triggers_paused", False, "triggers_resumed")

    def _take_snapshot(self, a: dict) -> None:
        try:
            snap = snapshot.take(self, a["label"], a["trigger"])
        except snapshot.StateEncodeError as e:  # (before any change: a clean refusal)
            raise CommandError("state_unencodable", str(e)) from None
        self.snapshots[snap.snapshot_id] = snap
        self.emit({"type": "snapshot_taken", "snapshot_id": snap.snapshot_id, "seq": snap.seq,
                    "state_hash": snap.state_hash, "label": snap.label, "trigger": snap.trigger})

    def _rollback(self, a: dict) -> None:
        sid = a["snapshot_id"]
        snap = self.snapshots.get(sid)
        if snap is None:
            raise CommandError("unknown_snapshot", f"there is no snapshot {sid!r}")
        try:
            state = snapshot.decode(snap.data, expect_hash=snap.state_hash)
        except snapshot.SnapshotError as e:
            raise CommandError("bad_snapshot", str(e)) from None
        # money that crossed the venue's edge after the snapshot (deposits, withdrawals, credits) is
        # re-applied, never rewound; refused (nothing changed) when that cannot be done exactly
        plan = snapshot.edge_plan(self, state)
        if plan.code:
            raise CommandError(plan.code, plan.problem)
        kept = (self.deposits, self.withdrawals, self.treasury_in, self.fund_in, self.fund_paid, self.credits)
        # the operator's current posture (access, brake, modes, pauses) carries over:
        # rolling back must never reopen a venue by itself
        controls = snapshot.controls(self)
        snapshot.restore(self, state)
        restored_hash = snap.state_hash  # restored from bytes verified against this hash
        self.emit({"type": "rolled_back", "snapshot_id": sid, "to_seq": snap.seq,
                    "discarded_commands": self.seq - snap.seq - 1, "state_hash": restored_hash,
                    "operator": a["operator"], "reason": a["reason"]})
        self._reapply_edge(plan, kept)
        for ev in snapshot.apply_controls(self, controls):
            self.emit(ev)
        if self.brake_engaged:  # the brake's promise holds after a rollback too: no live non-TP/SL orders
            for o in sorted((o for o in self.orders.values() if o.order_type not in TRIGGER_TYPES),
                            key=lambda o: o.id):
                self.remove_order(o, "brake")
        for name in sorted(self.account_modes):  # and an account's mode's: restored orders it forbids go
            acct = self.accounts.get(name)
            if acct is not None:
                self._cancel_for_mode(acct, self.account_modes[name])

    def _reapply_edge(self, plan: snapshot.EdgePlan, kept: tuple) -> None:
        """After a restore: put back the money that crossed the edge since the snapshot (``plan``) and the
        running totals and paid-refund register as they were (``kept``)."""
        (self.deposits, self.withdrawals, self.treasury_in, self.fund_in, self.fund_paid, self.credits) = kept
        fund_before = self.insurance_fund
        self.insurance_fund = plan.fund_after + sum(plan.bad_debt.values())
        flows = []
        below_zero = []
        for name in sorted(plan.flows):
            acct = self.accounts.get(name)
            if acct is None:  # opened after the snapshot: re-created with its money
                acct = self.accounts[name] = Account(name)
            acct.flow = plan.flows[name]
            d = plan.deltas.get(name, 0)
            if d:
                acct.cash += d
                acct.mcache = None
                self.liq_dirty.add(name)
                flows.append({"account": name, "amount": d})
        for name in sorted(plan.bad_debt):  # no positions left to liquidate: the fund covers the debt
            amt = plan.bad_debt[name]
            self.accounts[name].cash += amt
            self.insurance_fund -= amt
        for name in sorted(plan.deltas):
            acct = self.accounts[name]
            if acct.positions and account_margins(acct, self.markets)[0] < 0:
                below_zero.append(name)  # liquidated at the next evaluation (fund, then ADL)
        if flows or plan.bad_debt:
            self.emit({"type": "edge_flows_reapplied", "flows": flows, "bad_debt": [
                {"account": n, "amount": plan.bad_debt[n]} for n in sorted(plan.bad_debt)],
                "accounts_below_zero": below_zero, "refunds_kept": len(self.credits)})
        if self.insurance_fund != fund_before:
            self.emit({"type": "insurance_fund", "change": self.insurance_fund - fund_before,
                        "balance": self.insurance_fund, "reason": "rollback_edge_flows"})

    def _schedule_maintenance(self, a: dict) -> None:
        wid = a["window_id"]
        if wid in self.maintenance:
            raise CommandError("window_exists", f"maintenance window {wid!r} already exists")
        for m in a["markets"]:
            self._market(m)
        if a["start_ts"] < self.now:
            raise CommandError("in_the_past", "start_ts is before the engine's current time")
        if a["duration_ms"] <= 0:
            raise CommandError("bad_value", "duration_ms must be positive")
        w = maintenance.new_window(a)
        self.maintenance[wid] = w
        self.emit({"type": "maintenance_scheduled", "window_id": wid, "markets": list(w["markets"]),
                    "start_ts": w["start_ts"], "duration_ms": w["duration_ms"], "kind": w["kind"],
                    "phase": "scheduled"})

    # ---- operator controls (docs/contract.md, "Operator controls") ----
    def _cancel_maintenance(self, a: dict) -> None:
        maintenance.cancel(self, a)

    def _reschedule_maintenance(self, a: dict) -> None:
        maintenance.reschedule(self, a)

    def _extend_maintenance(self, a: dict) -> None:
        maintenance.extend(self, a)

    def _set_withdrawals(self, a: dict) -> None:
        en = a["enabled"]
        if en == self.withdrawals_enabled:
            raise CommandError("no_change", f"withdrawals are already {'enabled' if en else 'paused'}")
        self.withdrawals_enabled = en
        self.emit({"type": "withdrawals_set", "enabled": en, "operator": a["operator"], "reason": a["reason"]})

    def _cancel_for_mode(self, acct: Account, mode: str) -> int:
        """Cancel the orders ``mode`` forbids: every order of a frozen account (TP/SL included), the
        orders of a reduce-only account that are not reduce-only (TP/SL always are: kept)."""
        if mode == "frozen":
            todo = sorted(acct.orders.values(), key=lambda o: o.id)
            why = "account_frozen"
        elif mode == "reduce_only":
            todo = sorted((o for o in acct.orders.values() if not o.reduce_only), key=lambda o: o.id)
            why = "account_reduce_only"
        else:
            return 0
        for o in todo:
            self.remove_order(o, why)
        return len(todo)

    def _set_account_mode(self, a: dict) -> None:
        acct = self._account(a["account"])
        mode = a["mode"]
        before = self.account_modes.get(acct.name, "normal")
        if mode == before:
            raise CommandError("no_change", f"{acct.name} is already {mode}")
        if mode == "normal":
            del self.account_modes[acct.name]
        else:
            self.account_modes[acct.name] = mode
        n = self._cancel_for_mode(acct, mode)
        self.emit({"type": "account_mode_set", "account": acct.name, "mode": mode, "previous": before,
                    "canceled_orders": n, "operator": a["operator"], "reason": a["reason"]})

    def _cancel_account_orders(self, a: dict) -> None:
        acct = self._account(a["account"])
        m = a["market"]
        if m is not None:
            self._market(m)
        todo = sorted((o for o in acct.orders.values() if m is None or o.market == m), key=lambda o: o.id)
        if not todo:
            raise CommandError("no_orders", f"{acct.name} has no live orders" + (f" in {m}" if m else ""))
        for o in todo:
            self.remove_order(o, "operator")
        self.emit({"type": "account_orders_canceled", "account": acct.name, "market": m, "canceled": len(todo),
                    "operator": a["operator"], "reason": a["reason"]})

    def _credit(self, a: dict) -> None:
        acct = self._account(a["account"])
        rid = a["refund_id"]
        if rid in self.credits:
            raise CommandError("already_paid", f"refund {rid!r} was already paid at seq {self.credits[rid]['seq']}")
        amt = a["amount"]
        fund = a["fund"]
        if fund == "insurance":
            if self.insurance_fund < amt:
                raise CommandError("insufficient_fund", f"the insurance fund holds {fmt_amount(self.insurance_fund)} USDC, less than {fmt_amount(amt)}")
            self.insurance_fund -= amt
            self.fund_paid += amt
        else:
            if self.treasury_in + amt > MAX_TOTAL_IN:
                raise CommandError("too_large", f"treasury inflows would total more than {fmt_amount(MAX_TOTAL_IN)} USDC")
            self.treasury_in += amt
        acct.cash += amt
        acct.flow += amt
        acct.mcache = None
        self.credits[rid] = {"account": acct.name, "amount": amt, "fund": fund, "seq": self.seq}
        self.emit({"type": "credited", "account": acct.name, "amount": amt, "refund_id": rid, "fund": fund,
                    "operator": a["operator"], "reason": a["reason"]})
        if fund == "insurance":
            self.emit({"type": "insurance_fund", "change": -amt, "balance": self.insurance_fund, "reason": "refund"})
        self.liq_dirty.add(acct.name)

    def _fund_insurance(self, a: dict) -> None:
        amt = a["amount"]
        if self.treasury_in + amt > MAX_TOTAL_IN:
            raise CommandError("too_large", f"treasury inflows would total more than {fmt_amount(MAX_TOTAL_IN)} USDC")
        self.insurance_fund += amt
        self.treasury_in += amt
        self.fund_in += amt
        self.emit({"type": "insurance_fund", "change": amt, "balance": self.insurance_fund, "reason": "funded"})

    # ==================================================================
    # reads
    # ==================================================================
    def state_hash(self) -> str:
        return snapshot.state_hash(self)

    def guard_status(self) -> dict:
        """Guard rails at a glance: per-market flags, breaker, pending oracle, quarantined writes; last audit."""
        return guards.guard_status(self)

    def margins(self, account: str) -> dict:
        acct = self.accounts[account]
        value, im, mm = account_margins(acct, self.markets)
        return {"account": account, "value": value, "initial_margin": im, "maintenance_margin": mm,
                "free_collateral": value - im, "cash": acct.cash,
                "collateral": acct.cash + sum(p.cost for p in acct.positions.values())}



class _FillSettler(FillGate):
    """``Engine.take_liquidity``'s gate for the book: checks each fill on both sides and settles it when both pass.

    Settling as the book goes keeps every check exact: the next fill of the same sweep is checked
    against the accounts as the previous fills left them. Events are collected here and emitted by
    ``take_liquidity`` in the old order (self-trade cancels first, then trades and margin cancels)."""

    def __init__(self, engine: Engine, mk: Market, acct: Account, taker: Order, fee_rate: int,
                 liquidation: bool, stp: list[tuple[Order, int]]) -> None:
        self.engine = engine
        self.mk = mk
        self.acct = acct
        self.taker = taker
        self.fee_rate = fee_rate
        self.liquidation = liquidation
        self.stp = stp
        self.stp_done = 0
        self.stp_events: list[dict] = []
        self.fill_events: list[dict] = []
        self.touched: dict[str, Account] = {acct.name: acct}
        self.stopped = False

    def settle_stp(self) -> None:
        """The taker's own resting orders the book canceled so far (self-trade prevention)."""
        stp = self.stp
        i = self.stp_done
        acct = self.acct
        mname = self.mk.name
        seq = self.engine._seq_ev
        while i < len(stp):
            o, q = stp[i]
            i += 1
            pos = acct.positions[mname]
            if o.side > 0:
                pos.open_buy -= q
            else:
                pos.open_sell -= q
            acct.mcache = None
            self.engine._forget(o, acct)
            self.stp_events.append({"type": "order_canceled", "order_id": o.id, "account": o.account,
                                    "market": mname, "reason": "self_trade", "size": q, "seq": seq})
        self.stp_done = i

    def check(self, maker: Order, qty: int) -> int:
        if len(self.stp) > self.stp_done:
            self.settle_stp()
        engine = self.engine
        mk = self.mk
        mname = mk.name
        owner = maker.account
        assert owner is not None
        maker_acct = engine.accounts[owner]
        notional = maker.price * qty // SIZE_SCALE
        tfee = fee_amount(notional, self.fee_rate)
        mfee = fee_amount(notional, mk.maker_fee)
        if mfee < -tfee:  # a rebate is paid only out of the taker fee of the same fill
            mfee = -tfee
        mpos = maker_acct.positions[mname]
        mdq = qty if maker.side > 0 else -qty
        if not engine._fill_ok(maker_acct, mk, mpos, mdq, notional, mfee, mdq):
            left = maker.remaining
            if maker.side > 0:
                mpos.open_buy -= left
            else:
                mpos.open_sell -= left
            maker_acct.mcache = None
            self.touched[owner] = maker_acct
            self.fill_events.append({"type": "order_canceled", "order_id": maker.id, "account": owner,
                                     "market": mname, "reason": "margin", "size": left, "seq": engine._seq_ev})
            return VETO_MAKER
        acct = self.acct
        tpos = acct.positions.get(mname)
        if tpos is None:
            tpos = engine._pos(acct, mk)
        checked = not self.liquidation
        if checked and not engine._fill_ok(acct, mk, tpos, -mdq, notional, tfee, 0):
            maker_acct.mcache = None  # _fill_ok left the maker's figures after a fill that does not happen
            engine.drop_if_empty(acct, mname, tpos)
            self.stopped = True
            return VETO_TAKER
        engine._settle_fill(mk, acct, self.taker, maker, qty, notional, mfee, tfee, mpos, tpos, self.fill_events,
                            checked)
        self.touched[owner] = maker_acct
        return FILL_OK


__all__ = ["Engine", "NotACommand", "CommandError"]


def _trunc_div(a: int, b: int) -> int:
    """a / b rounded toward zero (b > 0): symmetric, so a premium and its opposite average alike."""
    return a // b if a >= 0 else -((-a) // b)
