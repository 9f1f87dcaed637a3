"""TP/SL triggers: those the mark has crossed execute as market orders, at most ``TRIGGER_BATCH``
per market per evaluation, in order of order id."""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Final

from . import fills, liveorders
from .book import Order
from .fixedpoint import FRAC_SCALE
from .model import (
    Market,
    push_trigger,
)

if TYPE_CHECKING:
    from .engine import Engine

TRIGGER_TYPES: Final = ("stop_loss", "take_profit")
TRIGGER_BATCH: Final = 50  # at most this many TP/SL execute per market per evaluation (the rest wait)


def fire_triggers(eng: Engine, mk: Market) -> None:
    """Execute the triggers the mark has crossed, at most ``TRIGGER_BATCH`` per market per
    evaluation in order of order id; the rest stay armed for the next market data."""
    mark = mk.mark_price
    fired = []
    heap = mk.trig_down
    while heap and -heap[0][0] >= mark:
        _t, oid = heapq.heappop(heap)
        o = eng.orders.get(oid)
        if o is not None and o.remaining:
            fired.append(o)
    heap = mk.trig_up
    while heap and heap[0][0] <= mark:
        _t, oid = heapq.heappop(heap)
        o = eng.orders.get(oid)
        if o is not None and o.remaining:
            fired.append(o)
    fired.sort(key=lambda o: o.id)
    if len(fired) > TRIGGER_BATCH:  # staggered: never a wall of market orders at once
        for o in fired[TRIGGER_BATCH:]:
            push_trigger(mk, o)
        del fired[TRIGGER_BATCH:]
    for o in fired:
        if eng.orders.get(o.id) is not o:  # canceled by an earlier trigger's fill
            continue
        execute_trigger(eng, mk, o)


def execute_trigger(eng: Engine, mk: Market, o: Order) -> None:
    """Execute one crossed TP/SL as a reduce-only market order within the price band."""
    owner = o.account
    assert owner is not None
    acct = eng.accounts[owner]
    liveorders.forget(eng, o, acct)
    eng.emit({"type": "order_triggered", "order_id": o.id, "account": o.account, "market": mk.name,
                "order_type": o.order_type, "trigger_price": o.trigger_price, "mark_price": mk.mark_price})
    pos = acct.positions.get(mk.name)
    s = pos.size if pos is not None else 0
    if not s or (s > 0) == (o.side > 0):
        if pos is not None:
            liveorders.drop_if_empty(acct, mk.name, pos)
        o.remaining = 0
        eng.emit({"type": "order_canceled", "order_id": o.id, "account": o.account, "market": mk.name,
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
    rem = fills.take_liquidity(eng, mk, acct, o, limit, qty, mk.taker_fee)
    if rem:
        eng.emit({"type": "order_canceled", "order_id": o.id, "account": o.account, "market": mk.name,
                    "reason": "ioc_remainder", "size": rem})

