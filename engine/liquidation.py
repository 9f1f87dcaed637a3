"""Liquidations: find accounts below maintenance margin and close them down.

* Candidates come from the liquidation index (``liqindex``): only accounts whose
  threshold a price or funding move crossed are looked at, in name order.
* An account below maintenance has every order canceled, then each position is
  cut by the smallest multiple of 20% that brings maintenance / value under
  90% (all of it when the account is bankrupt), against the book as an IOC
  bounded by the price band around mark. The liquidation fee (capped at what
  the account has left) goes to the insurance fund.
* What the book cannot take is auto-deleveraged against the most profitable
  opposite positions at mark. If the account is bankrupt and the insurance
  fund cannot cover the deficit, the positions are deleveraged at the
  bankruptcy price, so the opposite side absorbs the loss instead of the fund.
* A remaining negative balance with no positions left is bad debt: the
  insurance fund covers what it can.
* Nothing is liquidated in a market that is restricted (mode != open), paused
  or flagged by the guard rails; its accounts wait and are evaluated again when
  it clears. With the safeguards on, the circuit breaker counts, before anything
  happens, the accounts and the share of open interest a pass would liquidate in
  each market; a market over its limits is flagged ``circuit_breaker`` (its
  liquidations wait for an operator's ``resume_liquidations``).
"""

from __future__ import annotations

from typing import Final

from .fixedpoint import FRAC_SCALE, SIZE_SCALE, fmt_frac
from .margin import fee_amount, value_and_mm
from .model import OPEN, Account

STEP_PARTS: Final = 5  # 20% steps


def liquidation_active(engine, mk) -> bool:
    return mk.mode == OPEN and not (engine.liquidations_paused or mk.liquidations_paused or mk.flags)


def _activity(engine) -> tuple:
    """Where liquidations run now: a parked account is examined again when this changes."""
    return (engine.liquidations_paused, tuple(liquidation_active(engine, mk) for mk in engine.markets.values()))


def evaluate(engine, breaker_exempt=None) -> int:
    """Liquidate every account now below maintenance; returns how many were liquidated.

    Runs once per market-data command, over all markets together: the index
    guarantees every account below maintenance is among the candidates of
    *some* market, so the set examined is exact and independent of the
    index's history (a restored engine decides exactly as the original).
    Accounts are processed in name order.
    """
    idx = engine.liq_index
    markets = engine.markets
    accounts = engine.accounts
    dirty = engine.liq_dirty
    engine.adl_ranking = {}  # a fresh ADL ranking for this pass
    parked = idx.parked
    if dirty:
        for name in sorted(dirty):
            a = accounts.get(name)
            if a is not None:
                idx.reindex(a, markets)
            parked.discard(name)  # changed: examined again when its threshold says so
        dirty.clear()
    found: dict[str, Account] = {}
    for mk in markets.values():
        for a in idx.candidates(mk, accounts):
            found[a.name] = a
    # accounts waiting below maintenance are examined again once the set of markets where
    # liquidations run changes (a market reopens, a pause or a flag is lifted)
    if _activity(engine) != idx.parked_key:
        for name in parked:
            a = accounts.get(name)
            if a is not None:
                found[name] = a
        parked.clear()
    if not found:
        idx.parked_key = _activity(engine)
        return 0
    if engine.safeguards:
        circuit_breaker(engine, found, breaker_exempt)
    idx.parked_key = _activity(engine)  # what the parking below is decided under (after the breaker)
    n = 0
    for name in sorted(found):
        acct = found[name]
        value, mm, npos = value_and_mm(acct, markets)
        if npos and value < mm:
            if any(p.size and liquidation_active(engine, markets[m]) for m, p in acct.positions.items()):
                liquidate(engine, acct, value, mm)
                n += 1
            else:
                # nothing can happen to it while its markets do not liquidate: park it instead of
                # re-examining it on every price update (examining it would change nothing)
                parked.add(name)
                continue
        idx.reindex(acct, markets)
    return n


def _cut(size: int, k: int, lot: int) -> int:
    """What a liquidation step of k fifths cuts from a position of ``size`` (rounded up to the lot)."""
    s = abs(size)
    q = s if k == STEP_PARTS else -((-s * k) // STEP_PARTS)
    return min(s, -((-q) // lot) * lot)


def circuit_breaker(engine, found: dict, exempt=None) -> list[str]:
    """Trip the breaker of every market this pass would liquidate too much of; returns those markets.

    Counts, per market where liquidations are active, the accounts now below
    maintenance holding a position there and what their first step would cut,
    as a share of that side's open interest. Only the candidates are examined.
    """
    markets = engine.markets
    per: dict[str, list[int]] = {}  # market -> [accounts, long cut, short cut]
    for name in sorted(found):
        acct = found[name]
        value, mm, npos = value_and_mm(acct, markets)
        if not npos or value >= mm:
            continue
        k = _step_parts(value, mm)
        for m, p in acct.positions.items():
            if not p.size:
                continue
            mk = markets[m]
            if (exempt is not None and m in exempt) or not liquidation_active(engine, mk):
                continue
            c = per.get(m)
            if c is None:
                c = per[m] = [0, 0, 0]
            c[0] += 1
            c[1 if p.size > 0 else 2] += _cut(p.size, k, mk.lot)
    tripped = []
    for m in sorted(per):
        mk = markets[m]
        count, long_cut, short_cut = per[m]
        share = max(long_cut * FRAC_SCALE // mk.long_oi if mk.long_oi else 0,
                    short_cut * FRAC_SCALE // mk.short_oi if mk.short_oi else 0)
        over_count = mk.breaker_accounts and count > mk.breaker_accounts
        over_share = mk.breaker_oi_share and share > mk.breaker_oi_share
        if not (over_count or over_share):
            continue
        tripped.append(m)
        engine._emit({"type": "circuit_breaker_tripped", "market": m, "accounts": count, "oi_share": fmt_frac(share),
                      "limit_accounts": mk.breaker_accounts, "limit_oi_share": fmt_frac(mk.breaker_oi_share)})
        engine._flag(mk, "circuit_breaker",
                     f"one evaluation would liquidate {count} account(s) and {fmt_frac(share)} of open interest "
                     f"(limits {mk.breaker_accounts} and {fmt_frac(mk.breaker_oi_share)}); liquidations wait "
                     "for resume_liquidations")
    return tripped


def _step_parts(value: int, mm: int) -> int:
    if value <= 0:
        return STEP_PARTS
    for k in range(1, STEP_PARTS):
        # maintenance after cutting k/5 of every position, over value, below 90%
        if 10 * mm * (STEP_PARTS - k) < 9 * STEP_PARTS * value:
            return k
    return STEP_PARTS


def liquidate(engine, acct, value: int, mm: int) -> None:
    markets = engine.markets
    # every order goes, except TP/SL in markets where liquidation is paused (those positions stay)
    for o in sorted(acct.orders.values(), key=lambda o: o.id):
        if o.order_type not in ("stop_loss", "take_profit") or liquidation_active(engine, markets[o.market]):
            engine._remove_order(o, "liquidation")
    k = _step_parts(value, mm)
    adl_at_bankruptcy = value < 0 and engine.insurance_fund < -value
    events = []
    for mname in sorted(acct.positions):
        pos = acct.positions.get(mname)
        if pos is None or not pos.size:
            continue
        mk = markets[mname]
        if not liquidation_active(engine, mk):
            continue
        s = pos.size
        q = abs(s) if k == STEP_PARTS else -((-abs(s) * k) // STEP_PARTS)
        q = min(abs(s), -((-q) // mk.lot) * mk.lot)
        side = -1 if s > 0 else 1
        filled = 0
        total_notional = 0
        fee = 0
        if not adl_at_bankruptcy:
            filled, total_notional, fee = _close_against_book(engine, acct, mk, side, q)
        rem = q - filled
        if rem:
            deficit = 0
            if adl_at_bankruptcy:
                v_now, _mm, _n = value_and_mm(acct, markets)
                deficit = max(0, -v_now)
            adl_qty, adl_notional = _deleverage(engine, acct, mk, side, rem, deficit)
            filled += adl_qty
            total_notional += adl_notional
        ev = {"type": "liquidation", "account": acct.name, "market": mname,
              "side": "sell" if side < 0 else "buy", "size": filled,
              "price": (total_notional * SIZE_SCALE // filled) if filled else mk.mark_price,
              "mark_price": mk.mark_price, "fee": fee, "bad_debt": 0}
        engine._emit(ev)
        events.append(ev)
    if not any(p.size for p in acct.positions.values()) and acct.cash < 0:
        bad = -acct.cash
        paid = min(bad, engine.insurance_fund)
        if paid:
            engine.insurance_fund -= paid
            acct.cash += paid
            engine._emit({"type": "insurance_fund", "change": -paid, "balance": engine.insurance_fund,
                          "reason": "bad_debt", "account": acct.name})
        if events:
            events[-1]["bad_debt"] = bad
        if bad > paid:
            engine._emit({"type": "bad_debt_uncovered", "account": acct.name, "amount": bad - paid})


def _close_against_book(engine, acct, mk, side: int, q: int) -> tuple[int, int, int]:
    """IOC against the book within the band; returns (filled, notional, liquidation fee)."""
    from .book import Order

    mark = mk.mark_price
    if side > 0:
        hi = mark + mark * mk.band // FRAC_SCALE
        limit = hi - hi % mk.tick
    else:
        lo = mark - mark * mk.band // FRAC_SCALE
        limit = lo + (-lo) % mk.tick
    oid = engine.next_order_id
    engine.next_order_id = oid + 1
    taker = Order(oid, acct.name, side, limit, q, mk.name, "market", "ioc", False, True, None, 0, engine.now)
    n_before = len(engine._events)
    rem = engine._take(mk, acct, taker, limit, q, 0, liquidation=True)
    filled = q - rem
    notional = 0
    for ev in engine._events[n_before:]:
        if ev["type"] == "trade" and ev["taker_order_id"] == oid:
            notional += ev["price"] * ev["size"] // SIZE_SCALE
    fee = 0
    if filled:
        fee = fee_amount(notional, mk.liq_fee)
        value, _mm, _n = value_and_mm(acct, engine.markets)
        fee = max(0, min(fee, value))
        if fee:
            acct.cash -= fee
            engine.insurance_fund += fee
            engine._emit({"type": "insurance_fund", "change": fee, "balance": engine.insurance_fund,
                          "reason": "liquidation_fee", "account": acct.name})
    return filled, notional, fee


def _adl_ranking(engine, mk, want_long: bool) -> list[str]:
    """Opposite positions by unrealized PnL at mark, most profitable first (ties by name).

    Made once per liquidation pass and market side (marks do not move within a
    pass), so a cascade costs one sort, not one per liquidated account.
    """
    key = (mk.name, want_long)
    cached = engine.adl_ranking.get(key)
    if cached is not None:
        return cached
    mark = mk.mark_price
    ranked = []
    for name in mk.holders:
        p = engine.accounts[name].positions[mk.name]
        if (p.size > 0) == want_long:
            ranked.append((-(p.size * mark // SIZE_SCALE - p.cost), name))
    ranked.sort()
    names = [n for _neg, n in ranked]
    engine.adl_ranking[key] = names
    return names


def _deleverage(engine, acct, mk, side: int, qty: int, deficit: int) -> tuple[int, int]:
    """Close ``qty`` of ``acct``'s position against the most profitable opposite positions.

    ``side`` is the liquidated account's closing side. At mark, unless
    ``deficit`` > 0: then the price moves against the counterparties so that
    they absorb the deficit (bankruptcy price). Returns (qty closed, notional).
    """
    mark = mk.mark_price
    # the liquidated account sells (side < 0) to shorts, who buy back; buys (side > 0) from longs
    want_long = side > 0
    ranked = _adl_ranking(engine, mk, want_long)
    done = 0
    total = 0
    remaining_deficit = deficit
    for name in ranked:
        if done >= qty:
            break
        if name == acct.name:
            continue
        other = engine.accounts[name]
        op = other.positions.get(mk.name)
        if op is None or not op.size or (op.size > 0) != want_long:
            continue  # closed or flipped since the ranking was made
        x = min(qty - done, abs(op.size))
        base = x * mark // SIZE_SCALE
        share = remaining_deficit if done + x >= qty else deficit * x // qty
        share = min(share, remaining_deficit)
        remaining_deficit -= share
        # bankrupt long sells higher / bankrupt short buys lower: counterparty pays the deficit
        notional = base + share if side < 0 else max(0, base - share)
        pos = acct.positions[mk.name]
        engine._apply_fill(acct, mk, pos, x * side, notional, 0)
        engine._apply_fill(other, mk, op, -x * side, notional, 0)
        engine._enforce_reduce_only(other, mk, op)
        engine._drop_if_empty(other, mk.name, op)
        engine._emit({"type": "deleverage", "market": mk.name, "account": acct.name, "counterparty": name,
                      "size": x, "price": notional * SIZE_SCALE // x, "side": "sell" if side < 0 else "buy"})
        engine.liq_dirty.add(other.name)
        done += x
        total += notional
    pos = acct.positions.get(mk.name)
    if pos is not None:
        engine._drop_if_empty(acct, mk.name, pos)
    # drop the exhausted head of the ranking so a long cascade does not walk it again and again
    k = 0
    while k < len(ranked):
        p = engine.accounts[ranked[k]].positions.get(mk.name)
        if p is not None and p.size and (p.size > 0) == want_long:
            break
        k += 1
    if k:
        del ranked[:k]
    return done, total
