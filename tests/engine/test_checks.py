"""Validation checks: each named invariant fails, with detail, when state is corrupted on purpose."""

from __future__ import annotations

import pytest
from engine_helpers import BTC, ETH, P, S, Venue

from engine.core.book import BUY, Order
from engine.core.checks import CHECKS, run_checks


@pytest.fixture
def busy():
    v = Venue.default()
    v.open_position("alice", "bob", "1")
    v.limit("carol", "buy", "1", "96000")
    v.limit("dave", "sell", "1", "98000")
    v.trigger("alice", "stop_loss", "sell", "1", "95000")
    assert v.checks() == []
    return v


def failing(v, name):
    fails = run_checks(v.e)
    hits = [f for f in fails if f.check == name]
    assert hits, f"{name} did not fail: {fails}"
    assert all(f.detail for f in hits)
    return hits


def test_checks_registry_names():
    assert set(CHECKS) == {"money_conserved", "open_interest_balanced", "book_not_crossed",
                           "orders_consistent", "indices_bounded", "solvency"}


def test_money_conserved_catches_a_changed_balance(busy):
    busy.e.accounts["carol"].cash += 1
    (f,) = failing(busy, "money_conserved")
    assert "0.000001" in f.detail  # says by how much


def test_money_conserved_catches_a_changed_fund(busy):
    busy.e.insurance_fund -= 5
    failing(busy, "money_conserved")


def test_open_interest_counter(busy):
    busy.e.markets[BTC].long_oi += 1
    (f,) = failing(busy, "open_interest_balanced")
    assert BTC in f.detail


def test_open_interest_positions_unbalanced(busy):
    busy.e.accounts["alice"].positions[BTC].size += S("0.001")
    busy.e.markets[BTC].long_oi += S("0.001")
    (f,) = failing(busy, "open_interest_balanced")
    assert "long OI" in f.detail


def test_crossed_book(busy):
    o = Order(10_000, "carol", BUY, P("99000"), S("1"), BTC)
    busy.e.markets[BTC].book.add(o)
    (f,) = failing(busy, "book_not_crossed")
    assert BTC in f.detail and "99000" in f.detail


def test_order_of_unknown_account(busy):
    o = next(iter(busy.e.orders.values()))
    o.account = "ghost"
    failing(busy, "orders_consistent")


def test_order_of_unknown_market(busy):
    o = next(iter(busy.e.orders.values()))
    o.market = "GONE-USD-PERP"
    assert any("GONE-USD-PERP" in f.detail for f in failing(busy, "orders_consistent"))


def test_open_quantity_mismatch(busy):
    busy.e.accounts["carol"].positions[BTC].open_buy += 1
    failing(busy, "orders_consistent")


def test_book_and_registry_disagree(busy):
    oid = next(o.id for o in busy.e.orders.values() if o.account == "dave")
    del busy.e.orders[oid]
    failing(busy, "orders_consistent")


def test_mark_not_positive(busy):
    busy.e.markets[ETH].mark_price = 0
    (f,) = failing(busy, "indices_bounded")
    assert ETH in f.detail


def test_mark_outside_band(busy):
    busy.e.markets[BTC].mark_price = P("110000")
    failing(busy, "indices_bounded")


def test_funding_index_out_of_bounds(busy):
    busy.e.markets[BTC].funding_index = -11 * P("97000") * 10**6
    (f,) = failing(busy, "indices_bounded")
    assert "funding" in f.detail


def test_run_checks_returns_every_failure_and_filters_by_name(busy):
    busy.e.accounts["carol"].cash += 1
    busy.e.markets[ETH].mark_price = 0
    names = {f.check for f in run_checks(busy.e)}
    assert names == {"money_conserved", "indices_bounded"}
    assert [f.check for f in run_checks(busy.e, names={"indices_bounded"})] == ["indices_bounded"]
