"""A price-time priority limit order book for one market.

Plain slotted classes and integers only: this is the hot path.

* Bids are kept in ``bid_keys`` ascending (best bid is the last element);
  asks are kept in ``ask_keys`` as negated prices ascending (best ask is
  ``-ask_keys[-1]``), so both sides pop their best level from the end.
* Each price level holds a FIFO ``deque`` of orders. A cancel is O(1): the
  order's ``remaining`` drops to 0 and the level's totals are adjusted; dead
  entries are skipped (and dropped) when matching reaches them, and a level
  whose deque is mostly dead is compacted.
* Trades print at the resting (maker) order's price. Self-trade prevention
  cancels the resting order of the taker's own account and matching goes on.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable, Iterator
from itertools import takewhile
from typing import Final

BUY: Final = 1
SELL: Final = -1


class Order:
    """A resting or incoming order. ``side`` is +1 (buy) or -1 (sell)."""

    __slots__ = (
        "id",
        "account",
        "market",
        "side",
        "price",
        "size",
        "remaining",
        "order_type",
        "tif",
        "post_only",
        "reduce_only",
        "client_order_id",
        "trigger_price",
        "ts",
    )

    def __init__(
        self,
        id: int,
        account: str | None,
        side: int,
        price: int,
        size: int,
        market: str = "",
        order_type: str = "limit",
        tif: str = "gtc",
        post_only: bool = False,
        reduce_only: bool = False,
        client_order_id: str | None = None,
        trigger_price: int = 0,
        ts: int = 0,
    ) -> None:
        self.id = id
        self.account = account
        self.market = market
        self.side = side
        self.price = price
        self.size = size
        self.remaining = size
        self.order_type = order_type
        self.tif = tif
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.client_order_id = client_order_id
        self.trigger_price = trigger_price
        self.ts = ts


def limit_order(id: int, account: str | None, side: int, price: int, size: int) -> Order:
    """A gtc limit order with the defaults: the same as ``Order(id, account, side, price, size)``.

    When the book is compiled (mypyc), calling this from interpreted code is much
    cheaper than calling the class: a plain positional call instead of the
    generic argument parsing of a class constructor with defaults.
    """
    return Order(id, account, side, price, size)


#: ``room(maker, fills_so_far)``: how much a reduce-only maker may still fill (see ``Book.match``)
RoRoom = Callable[[Order, list[tuple[Order, int]]], int]
FILL_OK: Final = 0  # the fill goes ahead
VETO_MAKER: Final = 1  # the maker may not fill: it is taken out of the book whole, matching goes on
VETO_TAKER: Final = 2  # the taker may not fill: matching stops here


class FillGate:
    """Asked by ``Book.match`` before every fill: may ``qty`` of ``maker`` fill now?

    A class rather than a callback so that, compiled, the book calls the engine's gate as a
    native method (no boxing of its arguments); the engine subclasses it."""

    def check(self, maker: Order, qty: int) -> int:
        return FILL_OK


class Level:
    __slots__ = ("price", "orders", "qty", "count")

    def __init__(self, price: int) -> None:
        self.price = price
        self.orders: deque[Order] = deque()
        self.qty = 0
        self.count = 0


class Book:
    __slots__ = ("bid_keys", "ask_keys", "bids", "asks")

    def __init__(self) -> None:
        self.bid_keys: list[int] = []
        self.ask_keys: list[int] = []  # negated prices
        self.bids: dict[int, Level] = {}
        self.asks: dict[int, Level] = {}

    # ---- queries -------------------------------------------------------
    def best_bid(self) -> int:
        """Best bid price, or 0 when there is none."""
        k = self.bid_keys
        return k[-1] if k else 0

    def best_ask(self) -> int:
        """Best ask price, or 0 when there is none."""
        k = self.ask_keys
        return -k[-1] if k else 0

    def crosses(self, side: int, price: int) -> bool:
        """Would a limit order at ``price`` on ``side`` take liquidity?"""
        if side > 0:
            k = self.ask_keys
            return bool(k) and -k[-1] <= price
        k = self.bid_keys
        return bool(k) and k[-1] >= price

    def available(self, side: int, limit: int, account: str | None, ro_room: RoRoom | None = None) -> int:
        """Quantity a taker on ``side`` could fill up to ``limit`` (own orders excluded).

        With ``ro_room`` (see :meth:`match`), reduce-only makers count only their room.
        """
        total = 0
        seen: list[tuple[Order, int]] = []
        if side > 0:
            levels = [self.asks[-nk] for nk in takewhile(lambda nk: -nk <= limit, reversed(self.ask_keys))]
        else:
            levels = [self.bids[p] for p in takewhile(lambda p: p >= limit, reversed(self.bid_keys))]
        for lv in levels:
            for o in lv.orders:
                if o.remaining and o.account != account:
                    q = o.remaining
                    if ro_room is not None:
                        if o.reduce_only:
                            q = min(q, ro_room(o, seen))
                        seen.append((o, q))
                    total += q
        return total

    def sweep(self, side: int, limit: int, qty: int, account: str | None) -> tuple[int, int]:
        """(quantity, sum of price x quantity) a taker would fill now, without changing anything.

        Own resting orders are skipped (self-trade prevention cancels them instead).
        """
        filled = 0
        cost = 0
        if side > 0:
            keys = self.ask_keys
            levels = self.asks
            for i in range(len(keys) - 1, -1, -1):
                p = -keys[i]
                if p > limit or filled >= qty:
                    break
                for o in levels[p].orders:
                    r = o.remaining
                    if r and o.account != account:
                        take = min(r, qty - filled)
                        filled += take
                        cost += take * p
                        if filled >= qty:
                            break
        else:
            keys = self.bid_keys
            levels = self.bids
            for i in range(len(keys) - 1, -1, -1):
                p = keys[i]
                if p < limit or filled >= qty:
                    break
                for o in levels[p].orders:
                    r = o.remaining
                    if r and o.account != account:
                        take = min(r, qty - filled)
                        filled += take
                        cost += take * p
                        if filled >= qty:
                            break
        return filled, cost

    def depth(self, side: int, levels: int = 10) -> list[tuple[int, int, int]]:
        """Top ``levels`` of one side as (price, qty, order count), best first."""
        out = []
        if side > 0:
            for p in reversed(self.bid_keys[-levels:]):
                lv = self.bids[p]
                out.append((p, lv.qty, lv.count))
        else:
            for nk in reversed(self.ask_keys[-levels:]):
                lv = self.asks[-nk]
                out.append((-nk, lv.qty, lv.count))
        return out

    def impact_price(self, bids: bool, target: int) -> int:
        """The average price of trading ``target`` (price x size units: notional x SIZE_SCALE) into one
        side, best level first (``bids``: selling into the bids, else buying from the asks); 0 when the
        side holds less than that. Walks only the levels the target reaches. Floored."""
        cost = 0
        size = 0
        if bids:
            keys = self.bid_keys
            levels = self.bids
        else:
            keys = self.ask_keys
            levels = self.asks
        for i in range(len(keys) - 1, -1, -1):
            k = keys[i]
            p = k if bids else -k
            q = levels[p].qty
            c = p * q
            if cost + c >= target:
                r = target - cost  # the part of this level the target still needs: r / p of size
                return target * p // (size * p + r)
            cost += c
            size += q
        return 0

    def iter_orders(self) -> Iterator[Order]:
        """Every live resting order, in priority order per side (bids then asks)."""
        for p in reversed(self.bid_keys):
            for o in self.bids[p].orders:
                if o.remaining:
                    yield o
        for nk in reversed(self.ask_keys):
            for o in self.asks[-nk].orders:
                if o.remaining:
                    yield o

    # ---- changes -------------------------------------------------------
    def add(self, o: Order) -> None:
        """Rest ``o`` (its ``remaining`` > 0) at the back of its price level."""
        p = o.price
        if o.side > 0:
            lv = self.bids.get(p)
            if lv is None:
                lv = self.bids[p] = Level(p)
                insort(self.bid_keys, p)
        else:
            lv = self.asks.get(p)
            if lv is None:
                lv = self.asks[p] = Level(p)
                insort(self.ask_keys, -p)
        lv.orders.append(o)
        lv.qty += o.remaining
        lv.count += 1

    def load(self, orders: list[Order]) -> None:
        """Rest ``orders`` (each with ``remaining`` > 0) in the given order, which is their time
        priority: the same book as ``add`` for each in turn, with the price keys sorted once."""
        if self.bid_keys or self.ask_keys:
            for o in orders:
                self.add(o)
            return
        bids = self.bids
        asks = self.asks
        for o in orders:
            p = o.price
            if o.side > 0:
                lv = bids.get(p)
                if lv is None:
                    lv = bids[p] = Level(p)
            else:
                lv = asks.get(p)
                if lv is None:
                    lv = asks[p] = Level(p)
            lv.orders.append(o)
            lv.qty += o.remaining
            lv.count += 1
        self.bid_keys = sorted(bids)
        self.ask_keys = sorted([-p for p in asks])

    def place(self, o: Order, fills: list[tuple[Order, int]], stp: list[tuple[Order, int]] | None = None) -> int:
        """Match ``o`` (its ``remaining`` > 0) if it crosses, then rest what is left.

        One call for a gtc limit order: the same as ``match`` followed by ``add``
        for the remainder. Appends to ``fills`` / ``stp`` as ``match`` does and
        returns the quantity rested (0 when ``o`` filled completely).
        """
        side = o.side
        price = o.price
        if side > 0:
            k = self.ask_keys
            crossing = bool(k) and -k[-1] <= price
        else:
            k = self.bid_keys
            crossing = bool(k) and k[-1] >= price
        rem = o.remaining
        if crossing:
            rem = self.match(side, price, rem, o.account, fills, stp)
            o.remaining = rem
            if not rem:
                return 0
        if side > 0:
            lv = self.bids.get(price)
            if lv is None:
                lv = self.bids[price] = Level(price)
                insort(self.bid_keys, price)
        else:
            lv = self.asks.get(price)
            if lv is None:
                lv = self.asks[price] = Level(price)
                insort(self.ask_keys, -price)
        lv.orders.append(o)
        lv.qty += rem
        lv.count += 1
        return rem

    def cancel(self, o: Order) -> int:
        """Remove a resting order; returns the quantity canceled (0 if it was not live)."""
        r = o.remaining
        if not r:
            return 0
        o.remaining = 0
        p = o.price
        if o.side > 0:
            levels = self.bids
            lv = levels[p]
            lv.qty -= r
            lv.count -= 1
            if not lv.count:
                del levels[p]
                keys = self.bid_keys
                del keys[bisect_left(keys, p)]
            elif len(lv.orders) > 2 * lv.count + 16:
                lv.orders = deque(x for x in lv.orders if x.remaining)
        else:
            levels = self.asks
            lv = levels[p]
            lv.qty -= r
            lv.count -= 1
            if not lv.count:
                del levels[p]
                keys = self.ask_keys
                del keys[bisect_left(keys, -p)]
            elif len(lv.orders) > 2 * lv.count + 16:
                lv.orders = deque(x for x in lv.orders if x.remaining)
        return r

    def match(
        self,
        side: int,
        limit: int,
        qty: int,
        account: str | None,
        fills: list[tuple[Order, int]],
        stp: list[tuple[Order, int]] | None = None,
        ro_room: RoRoom | None = None,
        ro_cut: list[tuple[Order, int]] | None = None,
        veto: FillGate | None = None,
        vetoed: list[tuple[Order, int]] | None = None,
    ) -> int:
        """Take liquidity for a taker on ``side`` up to price ``limit``.

        Appends ``(maker_order, qty)`` to ``fills`` (price = maker's price) and
        self-trade-canceled resting orders to ``stp``. Returns the quantity left.
        Filled-out makers have ``remaining == 0`` and are gone from the book.

        ``ro_room(maker, fills)``, when given, is asked for every reduce-only
        maker: how much of it may still fill (its position, less what the same
        account already filled in this sweep). A maker with less room is cut
        down to it first; ``(maker, cut)`` is appended to ``ro_cut``.

        ``veto.check(maker, q)``, when given, is asked before every fill of ``q`` from
        ``maker`` (after self-trade prevention and the reduce-only cut), before
        the book changes for it: ``FILL_OK`` commits the fill; ``VETO_MAKER``
        takes the maker out of the book whole (``remaining`` 0) and appends
        ``(maker, remaining)`` to ``vetoed``, and matching goes on;
        ``VETO_TAKER`` stops matching (the quantity left is returned).
        """
        stopped = False
        if side > 0:
            keys = self.ask_keys
            levels = self.asks
            while qty and keys:
                p = -keys[-1]
                if p > limit:
                    break
                lv = levels[p]
                dq = lv.orders
                while qty and dq:
                    o = dq[0]
                    r = o.remaining
                    if not r:
                        dq.popleft()
                        continue
                    if account is not None and o.account == account:
                        o.remaining = 0
                        dq.popleft()
                        lv.qty -= r
                        lv.count -= 1
                        if stp is not None:
                            stp.append((o, r))
                        continue
                    if ro_room is not None and o.reduce_only:
                        room = ro_room(o, fills)
                        if room < r:
                            if ro_cut is not None:
                                ro_cut.append((o, r - room))
                            lv.qty -= r - room
                            o.remaining = r = room
                            if not r:
                                dq.popleft()
                                lv.count -= 1
                                continue
                    if veto is not None:
                        v = veto.check(o, r if r <= qty else qty)
                        if v == VETO_MAKER:
                            o.remaining = 0
                            dq.popleft()
                            lv.qty -= r
                            lv.count -= 1
                            if vetoed is not None:
                                vetoed.append((o, r))
                            continue
                        if v == VETO_TAKER:
                            stopped = True
                            break
                    if r <= qty:
                        qty -= r
                        o.remaining = 0
                        dq.popleft()
                        lv.qty -= r
                        lv.count -= 1
                        fills.append((o, r))
                    else:
                        o.remaining = r - qty
                        lv.qty -= qty
                        fills.append((o, qty))
                        qty = 0
                if not lv.count:
                    del levels[p]
                    keys.pop()
                if stopped:
                    break
        else:
            keys = self.bid_keys
            levels = self.bids
            while qty and keys:
                p = keys[-1]
                if p < limit:
                    break
                lv = levels[p]
                dq = lv.orders
                while qty and dq:
                    o = dq[0]
                    r = o.remaining
                    if not r:
                        dq.popleft()
                        continue
                    if account is not None and o.account == account:
                        o.remaining = 0
                        dq.popleft()
                        lv.qty -= r
                        lv.count -= 1
                        if stp is not None:
                            stp.append((o, r))
                        continue
                    if ro_room is not None and o.reduce_only:
                        room = ro_room(o, fills)
                        if room < r:
                            if ro_cut is not None:
                                ro_cut.append((o, r - room))
                            lv.qty -= r - room
                            o.remaining = r = room
                            if not r:
                                dq.popleft()
                                lv.count -= 1
                                continue
                    if veto is not None:
                        v = veto.check(o, r if r <= qty else qty)
                        if v == VETO_MAKER:
                            o.remaining = 0
                            dq.popleft()
                            lv.qty -= r
                            lv.count -= 1
                            if vetoed is not None:
                                vetoed.append((o, r))
                            continue
                        if v == VETO_TAKER:
                            stopped = True
                            break
                    if r <= qty:
                        qty -= r
                        o.remaining = 0
                        dq.popleft()
                        lv.qty -= r
                        lv.count -= 1
                        fills.append((o, r))
                    else:
                        o.remaining = r - qty
                        lv.qty -= qty
                        fills.append((o, qty))
                        qty = 0
                if not lv.count:
                    del levels[p]
                    keys.pop()
                if stopped:
                    break
        return qty
