"""Liquidations: find accounts below maintenance margin and close them down.

* Candidates come from the liquidation index (``liqindex``): only accounts whose
  threshold a price or funding move crossed are looked at. In one pass they are
  liquidated most under-collateralized first (value / maintenance ascending,
  ties by name), never in name order.
* An account below maintenance has every order canceled, then each position is
  cut by the smallest multiple of 20% that brings maintenance / value under 90%
  *after* the step's own liquidation fee and expected slippage (estimated from
  the book's depth within the step's limit; the part the book cannot take is
  assumed to close at the bankruptcy price). A step that would not make the
  account healthier is enlarged, up to the whole position. A bankrupt account
  (value <= 0) is closed in full.
* Bankruptcy price (dYdX v4): for a cut of q in a market, the account may lose
  its value times that cut's share of the account's maintenance requirement
  (other positions at mark); the bankruptcy price is the price at which that
  share is used up. Each cut is closed in up to three ways, each its own
  ``liquidation`` event (``by``):
    1. ``book``: an IOC against the book whose limit is the nearer of the price
       band edge and the bankruptcy price: no fill is ever past bankruptcy. The
       liquidation fee (capped at the smaller of ``liq_fee`` x notional,
       ``MAX_PENALTY`` x notional and the account's value above zero) goes to
       the insurance fund.
    2. ``insurance``: the insurance fund takes the remainder over at the
       bankruptcy price and closes it at once on the book, beyond bankruptcy
       but within the band; it pays the gap (book price vs bankruptcy price)
       and takes over only as much as it can pay for. The account's price is
       the bankruptcy price.
    3. ``adl``: only for an account with negative equity (value < 0). The fund
       first pays what it can of the negative equity of the part left; the rest
       is taken by auto-deleveraging at the bankruptcy price (bounded to the
       price band around mark, so never 0 or absurd) against opposite positions
       ranked by PnL% x effective leverage (most first, ties by name); a
       counterparty whose value would fall below zero is skipped.
  A solvent account (value >= 0) the book cannot take waits (cooldown) and is
  never deleveraged.
* Partial steps of one account are ``COOLDOWN_MS`` of engine time apart
  (Hyperliquid: 30 s); a bankrupt account is not subject to the cooldown.
* A negative balance with no positions left (after a liquidation, or any
  account that ends a command so) is bad debt: the insurance fund covers what
  it can, the rest is a recorded socialized loss (``socialized_loss`` event and
  the engine's ``socialized_loss`` ledger, counted by ``checks.money_conserved``).
* Nothing is liquidated in a market that is restricted (mode != open), paused
  or flagged by the guard rails; its accounts wait (and so does their share of
  any loss) and are evaluated again when it clears. With the safeguards on, the
  circuit breaker counts, before anything happens, the accounts and the share
  of open interest a pass would liquidate in each market; a market over its
  limits is flagged ``circuit_breaker`` (its liquidations wait for an
  operator's ``resume_liquidations``).
"""

from __future__ import annotations

from typing import Final

from .book import Order
from .fixedpoint import FRAC_SCALE, SIZE_SCALE, fmt_frac
from .margin import fee_amount, requirement, value_and_mm
from .model import OPEN, Account, Market, Position

STEP_PARTS: Final = 5  # 20% steps
COOLDOWN_MS: Final = 30_000  # engine time between partial steps of one account (Hyperliquid)
MAX_PENALTY: Final = 1_500_000  # the liquidation fee never exceeds 1.5% of the notional closed (dYdX v4)


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
    Accounts are processed most under-collateralized first (value over
    maintenance requirement ascending, ties by name). A changed account left
    with a negative balance and no position is settled as bad debt.
    """
    idx = engine.liq_index
    markets = engine.markets
    accounts = engine.accounts
    dirty = engine.liq_dirty
    engine.adl_ranking = {}  # a fresh ADL ranking for this pass
    parked = idx.parked
    broke: list[Account] = []
    if dirty:
        for name in sorted(dirty):
            a = accounts.get(name)
            if a is not None:
                idx.reindex(a, markets)
                if a.cash < 0 and not _has_position(a):
                    broke.append(a)
            parked.discard(name)  # changed: examined again when its threshold says so
        dirty.clear()
    for a in broke:
        settle_bad_debt(engine, a, None)
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
    cooldown: dict[str, int] = engine.liq_cooldown
    now: int = engine.now
    order: list[tuple[int, str, int, int, int]] = []
    for name, acct in found.items():
        value, mm, npos = value_and_mm(acct, markets)
        order.append((value * FRAC_SCALE // mm if mm > 0 else value * FRAC_SCALE, name, value, mm, npos))
    order.sort()
    n = 0
    for _ratio, name, value, mm, npos in order:
        acct = found[name]
        if npos and value < mm:
            if any(p.size and liquidation_active(engine, markets[m]) for m, p in acct.positions.items()):
                if value > 0 and cooldown.get(name, now) > now:
                    idx.reindex(acct, markets)  # still below maintenance: a candidate again next pass
                    continue
                value, mm, npos = value_and_mm(acct, markets)  # (an earlier liquidation may have moved it)
                if npos and value < mm:
                    liquidate(engine, acct, value, mm)
                    n += 1
                    if _has_position(acct):
                        cooldown[name] = now + COOLDOWN_MS
                    elif name in cooldown:
                        del cooldown[name]
            else:
                # nothing can happen to it while its markets do not liquidate: park it instead of
                # re-examining it on every price update (examining it would change nothing)
                parked.add(name)
                continue
        elif name in cooldown:
            del cooldown[name]
        idx.reindex(acct, markets)
    return n


def _has_position(acct: Account) -> bool:
    for p in acct.positions.values():
        if p.size:
            return True
    return False


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
        engine.emit({"type": "circuit_breaker_tripped", "market": m, "accounts": count, "oi_share": fmt_frac(share),
                      "limit_accounts": mk.breaker_accounts, "limit_oi_share": fmt_frac(mk.breaker_oi_share)})
        engine.flag(mk, "circuit_breaker",
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


def _limit_price(mk: Market, side: int, bp: int) -> int:
    """The liquidation IOC's limit: the nearer of the band edge and the bankruptcy price (on the tick grid,
    rounded so that no fill is past bankruptcy); 0 when no price qualifies (a buy below one tick)."""
    mark = mk.mark_price
    tick = mk.tick
    d = mark * mk.band // FRAC_SCALE
    if side > 0:
        hi = mark + d
        hi -= hi % tick
        b = bp - bp % tick  # a buyer pays at most bp: round down
        lim = hi if hi < b else b
        return lim if lim > 0 else 0
    lo = mark - d
    lo += (-lo) % tick
    b = bp + (-bp) % tick  # a seller gets at least bp: round up
    return lo if lo > b else b


def _band_edge(mk: Market, side: int) -> int:
    mark = mk.mark_price
    d = mark * mk.band // FRAC_SCALE
    if side > 0:
        hi = mark + d
        return hi - hi % mk.tick
    lo = mark - d
    return lo + (-lo) % mk.tick


def bankruptcy_price(mark: int, side: int, loss: int, q: int) -> int:
    """The price at which closing ``q`` (``side``: the closing side) loses exactly ``loss`` against mark.

    The loss per unit is rounded down, so the price errs toward the account (a seller's up, a
    buyer's down). A negative ``loss`` (an account with negative equity) moves it past mark."""
    per = loss * SIZE_SCALE // q
    return mark - per if side < 0 else mark + per


def _loss_share(value: int, mm_part: int, mm: int) -> int:
    """The share of the account's value a cut may lose: value x the cut's share of maintenance."""
    if mm <= 0:
        return value
    return value * mm_part // mm


def choose_step(engine, acct: Account, value: int, mm: int, active: list) -> int:
    """How many fifths of every position to cut: the smallest step that brings maintenance / value under
    90% after its own liquidation fee and expected slippage (all of it when none does, or when the
    account is bankrupt). The book's depth within the step's limit estimates the fill; what it cannot
    take is assumed to close at the bankruptcy price (the account loses that cut's whole share)."""
    if value <= 0 or mm <= 0:
        return STEP_PARTS
    name = acct.name
    for k in range(1, STEP_PARTS):
        v2 = value
        mm2 = mm
        for mk, pos in active:
            s: int = pos.size
            q = _cut(s, k, mk.lot)
            if not q:
                continue
            side = -1 if s > 0 else 1
            mark = mk.mark_price
            mmf = mk.mmf
            held = s if s > 0 else -s
            req_q = requirement(held, mark, mmf) - requirement(held - q, mark, mmf)
            loss_cap = _loss_share(value, requirement(q, mark, mmf), mm)
            bp = bankruptcy_price(mark, side, loss_cap, q)
            limit = _limit_price(mk, side, bp)
            filled = 0
            cost = 0
            if limit > 0:
                filled, cost = mk.book.sweep(side, limit, q, name)
            notional = cost // SIZE_SCALE
            at_mark = filled * mark // SIZE_SCALE
            slip = at_mark - notional if side < 0 else notional - at_mark
            if filled < q:
                slip += -((-loss_cap * (q - filled)) // q)
            fee = min(fee_amount(notional, mk.liq_fee), fee_amount(notional, MAX_PENALTY))
            v2 -= slip + fee
            mm2 -= req_q
        if 10 * mm2 < 9 * v2:
            return k
    return STEP_PARTS


def liquidate(engine, acct: Account, value: int, mm: int) -> None:
    markets = engine.markets
    # every order goes, except TP/SL in markets where liquidation is paused (those positions stay)
    for o in sorted(acct.orders.values(), key=lambda o: o.id):
        if o.order_type not in ("stop_loss", "take_profit") or liquidation_active(engine, markets[o.market]):
            engine.remove_order(o, "liquidation")
    active: list[tuple[Market, Position]] = []
    for mname in sorted(acct.positions):
        pos = acct.positions[mname]
        if pos.size and liquidation_active(engine, markets[mname]):
            active.append((markets[mname], pos))
    k = choose_step(engine, acct, value, mm, active)
    events: list[dict] = []
    for mk, _p in active:
        cur = acct.positions.get(mk.name)
        if cur is None or not cur.size:
            continue
        _close_position(engine, acct, mk, _cut(cur.size, k, mk.lot), k, events)
    if not _has_position(acct) and acct.cash < 0:
        settle_bad_debt(engine, acct, events[-1] if events else None)


def _liq_event(engine, acct: Account, mk: Market, side: int, by: str, size: int, notional: int, fee: int,
               bad_debt: int, bp: int, k: int) -> dict:
    ev = {"type": "liquidation", "account": acct.name, "market": mk.name, "side": "sell" if side < 0 else "buy",
          "size": size, "price": notional * SIZE_SCALE // size, "mark_price": mk.mark_price, "fee": fee,
          "bad_debt": bad_debt, "bankruptcy_price": bp, "step": k, "by": by}
    engine.emit(ev)
    return ev


def _close_position(engine, acct: Account, mk: Market, q: int, k: int, events: list) -> None:
    """Close ``q`` of ``acct``'s position in ``mk``: book (never past bankruptcy), then the insurance fund's
    backstop, then (negative equity only) ADL at the bankruptcy price."""
    markets = engine.markets
    pos = acct.positions[mk.name]
    side = -1 if pos.size > 0 else 1
    mark = mk.mark_price
    value, mm, _n = value_and_mm(acct, markets)
    loss_cap = _loss_share(value, requirement(q, mark, mk.mmf), mm)
    bp = bankruptcy_price(mark, side, loss_cap, q)
    oid = engine.next_order_id
    engine.next_order_id = oid + 1
    limit = _limit_price(mk, side, bp)
    taker = Order(oid, acct.name, side, limit, q, mk.name, "market", "ioc", False, True, None, 0, engine.now)
    rem = q
    # 1. the book, never past the bankruptcy price
    if limit > 0:
        filled, notional = _take(engine, acct, mk, taker, limit, rem)
        if filled:
            rem -= filled
            v_after, _m, _c = value_and_mm(acct, markets)
            fee = min(fee_amount(notional, mk.liq_fee), fee_amount(notional, MAX_PENALTY), max(0, v_after))
            if fee:
                acct.cash -= fee
                acct.mcache = None
                engine.insurance_fund += fee
                engine.emit({"type": "insurance_fund", "change": fee, "balance": engine.insurance_fund,
                              "reason": "liquidation_fee", "account": acct.name})
            events.append(_liq_event(engine, acct, mk, side, "book", filled, notional, fee, 0, bp, k))
    # 2. the insurance fund takes the rest over at the bankruptcy price and closes it on the book
    if rem and engine.insurance_fund > 0:
        filled, at_bp, paid = _backstop(engine, acct, mk, taker, side, rem, bp)
        if filled:
            rem -= filled
            events.append(_liq_event(engine, acct, mk, side, "insurance", filled, at_bp, 0, paid, bp, k))
    # 3. negative equity the fund cannot cover: auto-deleverage at the bankruptcy price
    if rem:
        cur = acct.positions.get(mk.name)
        if cur is not None and cur.size:
            value, mm, _n = value_and_mm(acct, markets)
            if value < 0:
                loss = _loss_share(value, requirement(rem, mark, mk.mmf), mm)  # < 0: what the part must gain
                cover = min(engine.insurance_fund, -loss) if loss < 0 else 0  # the fund first, then ADL
                adl_bp = bankruptcy_price(mark, side, loss + cover, rem)
                d = mark * mk.band // FRAC_SCALE
                # never absurd, never 0: bounded to the band around mark (a deficit beyond it stays with the
                # account and, once it holds no position, is bad debt: fund, then socialized loss)
                if side < 0 and adl_bp > mark + d:
                    adl_bp = mark + d
                elif side > 0 and adl_bp < mark - d:
                    adl_bp = mark - d
                done, notional, absorbed = _deleverage(engine, acct, mk, side, rem, adl_bp)
                if done:
                    rem -= done
                    covered = cover if not rem else cover * done // (done + rem)
                    if covered:
                        engine.insurance_fund -= covered
                        acct.cash += covered
                        acct.mcache = None
                        engine.emit({"type": "insurance_fund", "change": -covered, "balance": engine.insurance_fund,
                                      "reason": "bankruptcy", "account": acct.name})
                    events.append(_liq_event(engine, acct, mk, side, "adl", done, notional, 0,
                                             absorbed + covered, adl_bp, k))
    cur = acct.positions.get(mk.name)
    if cur is not None:
        engine.drop_if_empty(acct, mk.name, cur)
    engine.liq_dirty.add(acct.name)


def _take(engine, acct: Account, mk: Market, taker: Order, limit: int, q: int) -> tuple[int, int]:
    """An IOC of ``q`` up to ``limit`` for the liquidated account; returns (filled, notional)."""
    evs = engine.current_events
    n_before = len(evs)
    rem = engine.take_liquidity(mk, acct, taker, limit, q, 0, liquidation=True)
    filled = q - rem
    notional = 0
    if filled:
        oid = taker.id
        for i in range(n_before, len(evs)):
            ev = evs[i]
            if ev["type"] == "trade" and ev["taker_order_id"] == oid:
                notional += ev["price"] * ev["size"] // SIZE_SCALE
    return filled, notional


def _backstop(engine, acct: Account, mk: Market, taker: Order, side: int, q: int, bp: int) -> tuple[int, int, int]:
    """The insurance fund takes over up to ``q`` at the bankruptcy price ``bp`` and closes it at once on the
    book within the band, paying the gap; level by level, only as much as it can pay for.
    Returns (filled, notional at the bankruptcy price, paid by the fund)."""
    book = mk.book
    edge = _band_edge(mk, side)
    lot = mk.lot
    done = 0
    at_bp_total = 0
    paid_total = 0
    while done < q and engine.insurance_fund > 0:
        p = book.best_bid() if side < 0 else book.best_ask()
        if not p or (side < 0 and p < edge) or (side > 0 and p > edge):
            break
        gap_unit = bp - p if side < 0 else p - bp
        if gap_unit <= 0:
            break  # not past bankruptcy: what is left there could not fill for the book step either
        want = q - done
        afford = engine.insurance_fund * SIZE_SCALE // gap_unit
        afford -= afford % lot
        if afford < want:
            want = afford
        if not want:
            break
        filled, notional = _take(engine, acct, mk, taker, p, want)
        if not filled:
            break
        if side < 0:
            at_bp = bp * filled // SIZE_SCALE
            gap = at_bp - notional
        else:
            at_bp = -((-bp * filled) // SIZE_SCALE)
            gap = notional - at_bp
        if gap > engine.insurance_fund:
            gap = engine.insurance_fund
        if gap > 0:
            engine.insurance_fund -= gap
            acct.cash += gap
            acct.mcache = None
            engine.emit({"type": "insurance_fund", "change": -gap, "balance": engine.insurance_fund,
                          "reason": "liquidation_backstop", "account": acct.name})
            paid_total += gap
        done += filled
        at_bp_total += at_bp
    return done, at_bp_total, paid_total


def settle_bad_debt(engine, acct: Account, ev: dict | None) -> None:
    """A negative balance with no position: the insurance fund covers what it can, the rest is a recorded
    socialized loss (the account is brought to zero against the ``socialized_loss`` ledger)."""
    bad = -acct.cash
    if bad <= 0:
        return
    paid = min(bad, engine.insurance_fund)
    if paid:
        engine.insurance_fund -= paid
        acct.cash += paid
        engine.emit({"type": "insurance_fund", "change": -paid, "balance": engine.insurance_fund,
                      "reason": "bad_debt", "account": acct.name})
    if ev is not None:
        ev["bad_debt"] += bad
    rest = bad - paid
    if rest:
        acct.cash += rest
        engine.socialized_loss += rest
        engine.emit({"type": "socialized_loss", "account": acct.name, "amount": rest,
                      "total": engine.socialized_loss})
    acct.mcache = None


def _adl_score(engine, a: Account, p, mark: int) -> int | None:
    """PnL% x effective leverage (FRAC units), Binance/Hyperliquid style; None when the account has no
    positive value (it could absorb nothing). A losing position scores PnL% / leverage (lowest)."""
    value, _mm, _n = value_and_mm(a, engine.markets)
    if value <= 0:
        return None
    s = p.size
    notional = (s if s > 0 else -s) * mark // SIZE_SCALE
    pnl = s * mark // SIZE_SCALE - p.cost
    cost = p.cost if p.cost > 0 else -p.cost
    pnl_frac = pnl * FRAC_SCALE // cost if cost else 0
    lev = notional * FRAC_SCALE // value
    if pnl_frac >= 0:
        return pnl_frac * lev // FRAC_SCALE
    return pnl_frac * FRAC_SCALE // (lev if lev > 0 else 1)


def _adl_ranking(engine, mk: Market, want_long: bool) -> list[str]:
    """Opposite positions ranked by PnL% x effective leverage, highest first (ties by name).

    Made once per liquidation pass and market side (marks do not move within a
    pass), so a cascade costs one ranking, not one per liquidated account.
    """
    key = (mk.name, want_long)
    cached = engine.adl_ranking.get(key)
    if cached is not None:
        return cached
    mark = mk.mark_price
    ranked: list[tuple[int, str]] = []
    for name in mk.holders:
        a = engine.accounts[name]
        p = a.positions[mk.name]
        if (p.size > 0) == want_long:
            score = _adl_score(engine, a, p, mark)
            if score is not None:
                ranked.append((-score, name))
    ranked.sort()
    names = [n for _neg, n in ranked]
    engine.adl_ranking[key] = names
    return names


def _deleverage(engine, acct: Account, mk: Market, side: int, qty: int, price: int) -> tuple[int, int, int]:
    """Close ``qty`` of ``acct``'s position at ``price`` against the ranked opposite positions.

    ``side`` is the liquidated account's closing side. A counterparty whose value would fall below
    zero is skipped. Returns (qty closed, notional, loss the counterparties absorbed against mark).
    """
    mark = mk.mark_price
    markets = engine.markets
    # the liquidated account sells (side < 0) to shorts, who buy back; buys (side > 0) from longs
    want_long = side > 0
    ranked = _adl_ranking(engine, mk, want_long)
    done = 0
    total = 0
    absorbed = 0
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
        notional = price * x // SIZE_SCALE
        at_mark = x * mark // SIZE_SCALE
        # what the counterparty gains (+) or gives up (-) against mark
        dv = notional - at_mark if want_long else at_mark - notional
        v_other, _mm, _n = value_and_mm(other, markets)
        if v_other + dv - 1 < 0:
            continue  # it would be pushed below zero: skipped (dYdX v4)
        pos = acct.positions[mk.name]
        engine.apply_fill(acct, mk, pos, x * side, notional, 0)
        engine.apply_fill(other, mk, op, -x * side, notional, 0)
        engine.enforce_reduce_only(other, mk, op)
        engine.drop_if_empty(other, mk.name, op)
        engine.emit({"type": "deleverage", "market": mk.name, "account": acct.name, "counterparty": name,
                      "size": x, "price": price, "side": "sell" if side < 0 else "buy"})
        engine.liq_dirty.add(other.name)
        done += x
        total += notional
        if dv < 0:
            absorbed -= dv
    cur = acct.positions.get(mk.name)
    if cur is not None:
        engine.drop_if_empty(acct, mk.name, cur)
    # drop the exhausted head of the ranking so a long cascade does not walk it again and again
    j = 0
    while j < len(ranked):
        p = engine.accounts[ranked[j]].positions.get(mk.name)
        if p is not None and p.size and (p.size > 0) == want_long:
            break
        j += 1
    if j:
        del ranked[:j]
    return done, total, absorbed
