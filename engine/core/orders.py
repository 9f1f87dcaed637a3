"""Placing and cancelling orders: the pre-trade checks (modes, grid, price band, bounds, initial
margin, fill-or-kill), then taking liquidity and resting the rest; ``cancel_order`` and ``cancel_all``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import fills, guards, liveorders
from .book import BUY, SELL, Order
from .commands import MAX_SIZE, CommandError
from .fixedpoint import FRAC_SCALE, SIZE_SCALE, fmt_amount, fmt_frac, fmt_price, fmt_size
from .margin import (
    fee_amount,
    position_im,
    requirement,
    worst_side,
)
from .model import (
    Account,
    Market,
    Position,
)

if TYPE_CHECKING:
    from .engine import Engine


def place_order(eng: Engine, a: dict) -> None:
    """Handler of ``place_order`` (the hottest path): every check, then take liquidity, rest or arm the rest."""
    if not eng.platform_access:
        eng.require_access()
    # hot path: plain dict lookups; the refusing helpers only when missing
    acct = eng.accounts.get(a["account"]) or eng.require_account(a["account"])
    mk = eng.markets.get(a["market"]) or eng.require_market(a["market"])
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
    if eng.account_modes:
        am = eng.account_modes.get(acct.name)
        if am is not None:
            if am == "frozen":
                eng.refuse_frozen(acct.name)
            acct_ro = True
    if size % mk.lot:
        raise CommandError("off_lot", f"size {fmt_size(size)} is not a multiple of the lot size {fmt_size(mk.lot)}")
    if coid is not None and (acct.name, coid) in eng.coids:
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
        if eng.safeguards:  # aggressive post-only orders beyond the band around the fair (index) price
            check_post_only_band(mk, side, price)
        elif mk.post_only_band:
            band = mk.post_only_band
    if mk.band_mark != mark or mk.band_frac != band:
        set_band(mk, mark, band)
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
        check_bounds(eng, acct, mk, pos, pos_size, side, size, max(mark, limit))
    # ---- end bounds ----
    # initial margin gate (risk-increasing orders only)
    if not reduce_only:
        ob = pos.open_buy if pos is not None else 0
        os_ = pos.open_sell if pos is not None else 0
        before = worst_side(pos_size, ob, os_)
        after = worst_side(pos_size, ob + size, os_) if side > 0 else worst_side(pos_size, ob, os_ + size)
        if after > before:
            value, im = eng.value_im(acct)
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
    if tif == "fok" and book.available(side, limit, acct.name, fills.ro_room(eng, mk)) < size:
        raise CommandError("fok_not_filled", f"fill-or-kill for {fmt_size(size)} cannot be filled completely at {fmt_price(limit)} or better")
    # ---- accepted: from here on, state changes ----
    oid = eng.next_order_id
    eng.next_order_id = oid + 1
    name = acct.name
    o = Order(oid, name, side, limit, size, mk.name, otype, tif, post_only, reduce_only, coid, trigger, eng.now)
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
    ev["seq"] = eng.event_seq
    eng.current_events.append(ev)
    if is_trigger:
        liveorders.rest_trigger(eng, acct, mk, o)
        return
    rem = fills.take_liquidity(eng, mk, acct, o, limit, size, mk.taker_fee) if crossing else size
    if rem:
        if otype == "limit" and tif == "gtc":
            o.remaining = rem
            pos = acct.positions.get(mk.name)
            if pos is None:
                pos = liveorders.position_of(acct, mk)
            ps = pos.size
            w0 = worst_side(ps, pos.open_buy, pos.open_sell)
            liveorders.rest(eng, acct, mk, o, pos)
            c = acct.mcache
            if c is not None and c[0] == eng.mark_epoch:  # resting changes only this market's IM term
                w1 = worst_side(ps, pos.open_buy, pos.open_sell)
                if w1 != w0:
                    imf = mk.imf
                    before_im = position_im(pos, w0, mark, imf) if w0 else 0
                    c[2] += position_im(pos, w1, mark, imf) - before_im
        else:
            eng.emit({"type": "order_canceled", "order_id": oid, "account": name, "market": mk.name,
                        "reason": "ioc_remainder", "size": rem})


def check_bounds(eng: Engine, acct: Account, mk: Market, pos: Position | None, pos_size: int, side: int, size: int,
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
                value, im = eng.value_im(acct)
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


def set_band(mk: Market, mark: int, band: int) -> None:
    """Remember the price band around ``mark`` (two big multiplications, once per mark)."""
    d = mark * band // FRAC_SCALE
    mk.band_hi = mark + d
    mk.band_lo = mark - d
    mk.band_mark = mark
    mk.band_frac = band


def check_post_only_band(mk: Market, side: int, price: int) -> None:
    """Refuse a post-only order beyond the post-only band around the fair (index) price."""
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


def cancel_order(eng: Engine, a: dict) -> None:
    """Handler of ``cancel_order``: by order_id or client_order_id."""
    if not eng.platform_access:
        eng.require_access()
    acct = eng.accounts.get(a["account"]) or eng.require_account(a["account"])
    oid = a["order_id"]
    coid = a["client_order_id"]
    if (oid is None) == (coid is None):
        raise CommandError("bad_value", "give exactly one of order_id and client_order_id")
    if oid is None:
        oid = eng.coids.get((acct.name, coid))
        if oid is None:
            raise CommandError("unknown_order", f"{acct.name} has no live order with client_order_id {coid!r}")
    o = acct.orders.get(oid)
    if o is None:
        raise CommandError("unknown_order", f"{acct.name} has no live order {oid}")
    if eng.markets[o.market].mode == "halted":
        raise CommandError("market_halted", f"{o.market} is halted; it accepts nothing from users")
    liveorders.remove_order(eng, o, "user")


def cancel_all(eng: Engine, a: dict) -> None:
    """Handler of ``cancel_all``: the account's orders (all markets, or one; not in halted markets)."""
    eng.require_access()
    acct = eng.require_account(a["account"])
    m = a["market"]
    if m is not None:
        eng.require_market(m)
    todo = [o for o in acct.orders.values() if (m is None or o.market == m) and eng.markets[o.market].mode != "halted"]
    for o in sorted(todo, key=lambda o: o.id):
        liveorders.remove_order(eng, o, "user")

