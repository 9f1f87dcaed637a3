"""Matching and settlement: a taker against the book, every fill margin-checked on both sides before
the book commits it (dYdX v4's rule, ``fill_ok``), then moved into the accounts (``apply_fill``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import liveorders
from .book import FILL_OK, VETO_MAKER, VETO_TAKER, FillGate, Order, RoRoom
from .fixedpoint import SIZE_SCALE
from .margin import (
    FUNDING_DIV,
    account_margins,
    fee_amount,
    position_im,
    requirement,
)
from .model import (
    Account,
    Market,
    Position,
)

if TYPE_CHECKING:
    from .engine import Engine


def take_liquidity(eng: Engine, mk: Market, acct: Account, taker: Order, limit: int, qty: int, taker_fee_rate: int,
                   liquidation: bool = False) -> int:
    """Match ``qty`` of ``taker`` against the book; settle every fill. Returns what is left.

    Every fill is margin-checked on both sides before the book commits it (``fill_ok``,
    asked by the book through ``FillSettler``, which settles the fill when both pass):
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
    gate = FillSettler(eng, mk, acct, taker, taker_fee_rate, liquidation, stp)
    touched = gate.touched
    mname = mk.name
    accounts = eng.accounts
    rem = mk.book.match(taker.side, limit, qty, acct.name, fills, stp, ro_room(eng, mk, True), cut,
                        gate, vetoed)
    if stp:
        gate.settle_stp()
    for o, _q in fills:  # filled-out makers leave the registries
        if not o.remaining:
            owner = o.account
            assert owner is not None
            if eng.orders.get(o.id) is o:
                liveorders.forget(eng, o, accounts[owner])
    for o, _q in vetoed:  # makers the margin check refused: canceled (their event is in sequence)
        owner = o.account
        assert owner is not None
        a = accounts[owner]
        liveorders.forget(eng, o, a)
        liveorders.drop_if_empty(a, mname, a.positions[mname])
    events = eng.current_events
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
        if not o.remaining and eng.orders.get(o.id) is o:
            liveorders.forget(eng, o, a)
        liveorders.drop_if_empty(a, mname, pos)
        eng.emit({"type": "order_canceled", "order_id": o.id, "account": o.account, "market": mname,
                    "reason": "reduce_only", "size": q, "remaining": o.remaining})
    if fills or cut or vetoed:
        for name in sorted(touched):
            a = touched[name]
            tpos = a.positions.get(mname)
            if tpos is not None:
                if tpos.reduce_orders:
                    liveorders.enforce_reduce_only(eng, a, mk, tpos)
                else:
                    liveorders.drop_if_empty(a, mname, tpos)
            eng.liq_dirty.add(name)
    else:
        tpos = acct.positions.get(mname)
        if tpos is not None:
            liveorders.drop_if_empty(acct, mname, tpos)
    if gate.stopped and rem:
        eng.emit({"type": "order_canceled", "order_id": taker.id, "account": acct.name, "market": mname,
                    "reason": "margin", "size": rem})
        return 0
    return rem


def fill_ok(eng: Engine, acct: Account, mk: Market, pos: Position, dq: int, notional: int, fee: int,
            open_dq: int) -> bool:
    """May ``acct`` take a fill of signed size ``dq`` for ``notional`` and ``fee``? (dYdX v4's rule)

    ``open_dq``: how much of its resting quantity the fill uses (signed like ``dq``; 0 for a
    taker). Passes when the account meets initial margin afterwards (value >= IM of positions
    *and* open orders); otherwise only when the fill does not add risk in this market (the
    position shrinks, no flip), the account's value stays >= 0 (nothing fills past the
    bankruptcy price) and its value - maintenance requirement does not fall. When it passes,
    the account's (value, IM) cache is set to the figures after the fill (exact, so the next
    check and the next order need no recomputation)."""
    epoch = eng.mark_epoch
    c = acct.mcache
    if c is not None and c[0] == epoch:
        value = c[1]
        im = c[2]
    else:
        value, im = eng.value_im(acct)
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
    _v, _im, mm = account_margins(acct, eng.markets)
    mmf = mk.mmf
    mm1 = mm - (requirement(s, mark, mmf) if s else 0) + (requirement(n, mark, mmf) if n else 0)
    if v1 - mm1 < value - mm:
        return False
    acct.mcache = [epoch, v1, im1]
    return True


def ro_room(eng: Engine, mk: Market, live: bool = False) -> RoRoom:
    """For the book: how much a reduce-only maker may still fill in this sweep.

    ``live``: fills are settled as the book makes them (``take_liquidity``), so the position already
    reflects the sweep's earlier fills; otherwise (a dry run) they are subtracted here."""
    accounts = eng.accounts
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


def settle_fill(eng: Engine, mk: Market, taker_acct: Account, taker: Order, maker: Order, q: int, notional: int,
                mfee: int, tfee: int, mpos: Position, tpos: Position, events: list[dict],
                taker_checked: bool) -> None:
    """Settle one checked fill of ``q`` between ``taker`` and the resting ``maker`` (still in the book's
    hands: the book takes ``q`` off it right after); the trade event goes to ``events``.

    ``fill_ok`` left both accounts' (value, IM) caches at the figures after the fill; they are
    kept (the taker's only if it was checked: a liquidated taker's is dropped)."""
    owner = maker.account
    assert owner is not None
    maker_acct = eng.accounts[owner]
    mcache = maker_acct.mcache
    tcache = taker_acct.mcache
    if maker.side > 0:
        mpos.open_buy -= q
        apply_fill(eng, maker_acct, mk, mpos, q, notional, mfee)
    else:
        mpos.open_sell -= q
        apply_fill(eng, maker_acct, mk, mpos, -q, notional, mfee)
    apply_fill(eng, taker_acct, mk, tpos, q if taker.side > 0 else -q, notional, tfee)
    maker_acct.mcache = mcache  # the figures after this fill, set by fill_ok
    if taker_checked:
        taker_acct.mcache = tcache
    mname = mk.name
    liveorders.drop_if_empty(maker_acct, mname, mpos)
    events.append({"type": "trade", "market": mname, "price": maker.price, "size": q,
                   "side": "buy" if taker.side > 0 else "sell",
                   "maker_order_id": maker.id, "taker_order_id": taker.id,
                   "maker_account": maker.account, "taker_account": taker_acct.name,
                   "maker_fee": mfee, "taker_fee": tfee, "seq": eng.event_seq})


def apply_fill(eng: Engine, acct: Account, mk: Market, pos: Position, dq: int, notional: int, fee: int) -> None:
    """Move a fill of signed size ``dq`` for ``notional`` micro-USDC into ``acct``."""
    s = pos.size
    fi = mk.funding_index
    if s and fi != pos.funding_entry:
        earned = (-s * (fi - pos.funding_entry)) // FUNDING_DIV
        acct.cash += earned
        eng.funding_pool -= earned
    pos.funding_entry = fi
    n = s + dq
    signed = notional if dq > 0 else -notional
    acct.cash -= signed + fee
    acct.mcache = None
    eng.fee_pool += fee
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



class FillSettler(FillGate):
    """``take_liquidity``'s gate for the book: checks each fill on both sides and settles it when both pass.

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
        seq = self.engine.event_seq
        while i < len(stp):
            o, q = stp[i]
            i += 1
            pos = acct.positions[mname]
            if o.side > 0:
                pos.open_buy -= q
            else:
                pos.open_sell -= q
            acct.mcache = None
            liveorders.forget(self.engine, o, acct)
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
        if not fill_ok(engine, maker_acct, mk, mpos, mdq, notional, mfee, mdq):
            left = maker.remaining
            if maker.side > 0:
                mpos.open_buy -= left
            else:
                mpos.open_sell -= left
            maker_acct.mcache = None
            self.touched[owner] = maker_acct
            self.fill_events.append({"type": "order_canceled", "order_id": maker.id, "account": owner,
                                     "market": mname, "reason": "margin", "size": left, "seq": engine.event_seq})
            return VETO_MAKER
        acct = self.acct
        tpos = acct.positions.get(mname)
        if tpos is None:
            tpos = liveorders.position_of(acct, mk)
        checked = not self.liquidation
        if checked and not fill_ok(engine, acct, mk, tpos, -mdq, notional, tfee, 0):
            maker_acct.mcache = None  # fill_ok left the maker's figures after a fill that does not happen
            liveorders.drop_if_empty(acct, mname, tpos)
            self.stopped = True
            return VETO_TAKER
        settle_fill(engine, mk, acct, self.taker, maker, qty, notional, mfee, tfee, mpos, tpos, self.fill_events,
                            checked)
        self.touched[owner] = maker_acct
        return FILL_OK
