"""engine.core.book: the bare price-time priority book."""

from __future__ import annotations

from engine.core.book import BUY, SELL, Book, Order


def mk(id_, side, price, size, account="m"):
    return Order(id_, account, side, price, size)


def test_empty_book():
    b = Book()
    assert b.best_bid() == 0 and b.best_ask() == 0
    assert not b.crosses(BUY, 10**9) and not b.crosses(SELL, 1)
    assert list(b.iter_orders()) == []
    assert b.match(BUY, 10**9, 5, "t", []) == 5


def test_add_keeps_best_prices_and_depth():
    b = Book()
    for i, (side, price) in enumerate([(BUY, 100), (BUY, 102), (BUY, 101), (SELL, 105), (SELL, 103), (SELL, 104)], 1):
        b.add(mk(i, side, price, 10))
    b.add(mk(7, BUY, 102, 5))
    assert b.best_bid() == 102 and b.best_ask() == 103
    assert b.depth(BUY) == [(102, 15, 2), (101, 10, 1), (100, 10, 1)]
    assert b.depth(SELL, 2) == [(103, 10, 1), (104, 10, 1)]
    assert b.crosses(BUY, 103) and not b.crosses(BUY, 102)
    assert b.crosses(SELL, 102) and not b.crosses(SELL, 103)
    assert [o.id for o in b.iter_orders()] == [2, 7, 3, 1, 5, 6, 4]


def test_cancel_removes_quantity_and_empty_levels():
    b = Book()
    o1, o2 = mk(1, BUY, 100, 10), mk(2, BUY, 100, 7)
    b.add(o1)
    b.add(o2)
    assert b.cancel(o1) == 10
    assert b.cancel(o1) == 0  # not live any more
    assert b.depth(BUY) == [(100, 7, 1)]
    assert b.cancel(o2) == 7
    assert b.best_bid() == 0 and b.bid_keys == [] and b.bids == {}


def test_cancel_many_compacts_level_and_keeps_fifo():
    b = Book()
    orders = [mk(i, SELL, 50, 1) for i in range(1, 101)]
    for o in orders:
        b.add(o)
    for o in orders[:-3]:
        b.cancel(o)
    assert len(b.asks[50].orders) < 50  # dead entries were compacted away
    fills = []
    assert b.match(BUY, 50, 3, "t", fills) == 0
    assert [(o.id, q) for o, q in fills] == [(98, 1), (99, 1), (100, 1)]


def test_match_price_then_time_priority_at_maker_price():
    b = Book()
    b.add(mk(1, SELL, 101, 5, "a"))
    b.add(mk(2, SELL, 100, 5, "b"))
    b.add(mk(3, SELL, 100, 5, "c"))
    fills = []
    left = b.match(BUY, 101, 12, "t", fills)
    assert left == 0
    assert [(o.id, o.price, q) for o, q in fills] == [(2, 100, 5), (3, 100, 5), (1, 101, 2)]
    assert b.best_ask() == 101 and b.depth(SELL) == [(101, 3, 1)]


def test_match_respects_limit_and_returns_rest():
    b = Book()
    b.add(mk(1, BUY, 99, 4))
    b.add(mk(2, BUY, 98, 4))
    fills = []
    assert b.match(SELL, 99, 10, "t", fills) == 6
    assert [(o.id, q) for o, q in fills] == [(1, 4)]
    assert b.best_bid() == 98


def test_partial_fill_keeps_queue_position():
    b = Book()
    o1, o2 = mk(1, SELL, 100, 10, "a"), mk(2, SELL, 100, 10, "b")
    b.add(o1)
    b.add(o2)
    b.match(BUY, 100, 4, "t", [])
    assert o1.remaining == 6
    fills = []
    b.match(BUY, 100, 8, "t", fills)
    assert [(o.id, q) for o, q in fills] == [(1, 6), (2, 2)]
    assert b.depth(SELL) == [(100, 8, 1)]


def test_self_trade_prevention_cancels_resting_and_continues():
    b = Book()
    b.add(mk(1, SELL, 100, 5, "me"))
    b.add(mk(2, SELL, 100, 5, "other"))
    b.add(mk(3, SELL, 101, 5, "me"))
    fills, stp = [], []
    left = b.match(BUY, 101, 5, "me", fills, stp)
    assert left == 0
    assert [(o.id, q) for o, q in fills] == [(2, 5)]
    assert [(o.id, q) for o, q in stp] == [(1, 5)]
    assert b.depth(SELL) == [(101, 5, 1)]  # matching stopped once filled; order 3 untouched


def test_available_excludes_own_orders_and_respects_limit():
    b = Book()
    b.add(mk(1, SELL, 100, 5, "me"))
    b.add(mk(2, SELL, 100, 3, "x"))
    b.add(mk(3, SELL, 102, 7, "y"))
    assert b.available(BUY, 101, "me") == 3
    assert b.available(BUY, 102, "me") == 10
    assert b.available(BUY, 102, None) == 15
    b.add(mk(4, BUY, 90, 2, "z"))
    assert b.available(SELL, 91, "me") == 0
    assert b.available(SELL, 90, "me") == 2
