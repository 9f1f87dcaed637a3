"""The registries of live orders: resting an order or a TP/SL trigger, forgetting one that is no
longer live, cancelling one (``order_canceled``), dropping an empty position, enforcing reduce-only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .book import Order
from .model import (
    Account,
    Market,
    Position,
    hold_order,
    push_trigger,
)

if TYPE_CHECKING:
    from .engine import Engine


def position_of(acct: Account, mk: Market) -> Position:
    """``acct``'s position in ``mk``, created (empty, at the market's funding index) if it has none."""
    pos = acct.positions.get(mk.name)
    if pos is None:
        pos = acct.positions[mk.name] = Position(mk.funding_index)
    return pos


def rest(eng: Engine, acct: Account, mk: Market, o: Order, pos: Position | None = None) -> None:
    """Rest ``o`` in the book and the registries; ``pos`` is ``acct``'s position in ``mk`` if known."""
    mk.book.add(o)
    if pos is None:
        pos = position_of(acct, mk)
    hold_order(pos, o)
    oid = o.id
    eng.orders[oid] = o
    acct.orders[oid] = o
    coid = o.client_order_id
    if coid is not None:
        eng.coids[(acct.name, coid)] = oid


def rest_trigger(eng: Engine, acct: Account, mk: Market, o: Order) -> None:
    """Arm a TP/SL order: in the registries and the market's trigger heaps (not in the book)."""
    position_of(acct, mk).reduce_orders += 1
    eng.orders[o.id] = o
    acct.orders[o.id] = o
    if o.client_order_id is not None:
        eng.coids[(acct.name, o.client_order_id)] = o.id
    push_trigger(mk, o)


def forget(eng: Engine, o: Order, acct: Account | None = None) -> None:
    """Drop a no-longer-live order from the registries (the caller settles book and quantities).

    ``acct`` is the order's account if the caller has it at hand."""
    oid = o.id
    del eng.orders[oid]
    owner = o.account
    assert owner is not None  # engine orders always have an account (only a bare Book allows None)
    if acct is None:
        acct = eng.accounts[owner]
    del acct.orders[oid]
    coid = o.client_order_id
    if coid is not None:
        try:  # (not dict.pop(k, None): compiled, that is a generic method call)
            del eng.coids[(owner, coid)]
        except KeyError:
            pass
    if o.reduce_only:
        acct.positions[o.market].reduce_orders -= 1


def remove_order(eng: Engine, o: Order, reason: str) -> None:
    """Cancel a live order (resting or trigger) and emit ``order_canceled``."""
    mname = o.market
    mk = eng.markets[mname]
    owner = o.account
    assert owner is not None
    acct = eng.accounts[owner]
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
    forget(eng, o, acct)
    if not pos.size and not pos.open_buy and not pos.open_sell and not pos.reduce_orders:
        drop_if_empty(acct, mname, pos)
    eng.current_events.append({"type": "order_canceled", "order_id": o.id, "account": o.account, "market": mname,
                         "reason": reason, "size": qty, "seq": eng.event_seq})


def drop_if_empty(acct: Account, mname: str, pos: Position) -> None:
    """Drop ``acct``'s position in ``mname`` if nothing is left in it (no size, orders or TP/SL)."""
    if (not pos.size and not pos.open_buy and not pos.open_sell and not pos.reduce_orders
            and acct.positions.get(mname) is pos):
        del acct.positions[mname]


def enforce_reduce_only(eng: Engine, acct: Account, mk: Market, pos: Position) -> None:
    """Cancel reduce-only and TP/SL orders that would no longer shrink the position."""
    if not pos.reduce_orders:
        return
    s = pos.size
    bad = [o for o in acct.orders.values()
           if o.market == mk.name and o.reduce_only and (not s or (s > 0) == (o.side > 0))]
    for o in sorted(bad, key=lambda o: o.id):
        remove_order(eng, o, "reduce_only")
    drop_if_empty(acct, mk.name, pos)

