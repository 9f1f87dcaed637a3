"""Conformance: every matching rule of CONTRACT.md, through the engine's command API."""

from __future__ import annotations

import pytest
from engine_helpers import BTC, ETH, A, P, S, Venue, of_type, one, rejected_code, types

from engine.core.fixedpoint import fmt_amount

# BTC-USD-PERP: tick 0.1, lot 0.001, band 5% (mark 97000 -> 92150 .. 101850), post-only band 5 bps


def trades(evs):
    return [(t["maker_account"], t["taker_account"], t["price"], t["size"]) for t in of_type(evs, "trade")]


# ---- price-time priority, maker's price ---------------------------------
def test_price_time_priority_and_maker_price(venue):
    venue.limit("bob", "sell", "1", "97010")
    venue.limit("carol", "sell", "1", "97000")
    venue.limit("dave", "sell", "1", "97000")
    evs = venue.limit("alice", "buy", "2.5", "97020")
    assert trades(evs) == [
        ("carol", "alice", P("97000"), S("1")),
        ("dave", "alice", P("97000"), S("1")),
        ("bob", "alice", P("97010"), S("0.5")),
    ]
    assert venue.pos("alice") == S("2.5")
    assert venue.pos("bob") == -S("0.5") and venue.pos("carol") == -S("1")
    assert venue.e.markets[BTC].book.best_ask() == P("97010")
    assert venue.checks() == []


def test_sell_taker_prints_at_resting_bid(venue):
    venue.limit("bob", "buy", "1", "96990")
    evs = venue.limit("alice", "sell", "1", "96900")
    assert trades(evs) == [("bob", "alice", P("96990"), S("1"))]
    t = one(evs, "trade")
    assert t["side"] == "sell" and t["taker_order_id"] == venue.order_id(evs)


def test_gtc_remainder_rests_at_limit(venue):
    venue.limit("bob", "sell", "1", "97000")
    evs = venue.limit("alice", "buy", "3", "97000")
    oid = venue.order_id(evs)
    assert venue.live(oid)
    assert venue.e.orders[oid].remaining == S("2")
    assert venue.e.markets[BTC].book.depth(1) == [(P("97000"), S("2"), 1)]


# ---- post_only -------------------------------------------------------------
def test_post_only_crossing_is_rejected_not_repriced(venue):
    venue.limit("bob", "sell", "1", "97000")
    h = venue.hash()
    evs = venue.limit("alice", "buy", "1", "97000", post_only=True)
    assert rejected_code(evs) == "post_only_would_cross"
    assert evs[0]["command_type"] == "place_order" and "cross" in evs[0]["message"]
    assert venue.hash() == h
    evs = venue.limit("alice", "buy", "1", "96999.9", post_only=True)
    assert types(evs) == ["order_accepted"]
    assert venue.e.orders[venue.order_id(evs)].price == P("96999.9")  # rests at its own price


# ---- ioc / fok -------------------------------------------------------------
def test_ioc_fills_what_it_can_and_cancels_the_rest(venue):
    venue.limit("bob", "sell", "1", "97000")
    venue.limit("bob", "sell", "1", "97100")
    evs = venue.limit("alice", "buy", "3", "97050", time_in_force="ioc")
    oid = venue.order_id(evs)
    assert trades(evs) == [("bob", "alice", P("97000"), S("1"))]
    c = one(evs, "order_canceled")
    assert (c["order_id"], c["reason"], c["size"]) == (oid, "ioc_remainder", S("2"))
    assert not venue.live(oid)
    assert venue.e.markets[BTC].book.best_bid() == 0


def test_ioc_with_nothing_to_take_is_fully_canceled(venue):
    evs = venue.limit("alice", "buy", "1", "96000", time_in_force="ioc")
    assert types(evs) == ["order_accepted", "order_canceled"]
    assert evs[1]["reason"] == "ioc_remainder" and evs[1]["size"] == S("1")
    assert venue.e.orders == {}


def test_fok_all_or_nothing(venue):
    venue.limit("bob", "sell", "1", "97000")
    venue.limit("carol", "sell", "1", "97100")
    h = venue.hash()
    evs = venue.limit("alice", "buy", "2.001", "97100", time_in_force="fok")
    assert rejected_code(evs) == "fok_not_filled"
    assert venue.hash() == h
    evs = venue.limit("alice", "buy", "2", "97050", time_in_force="fok")  # only 1 within the limit
    assert rejected_code(evs) == "fok_not_filled"
    assert venue.hash() == h
    evs = venue.limit("alice", "buy", "2", "97100", time_in_force="fok")
    assert trades(evs) == [("bob", "alice", P("97000"), S("1")), ("carol", "alice", P("97100"), S("1"))]
    assert not of_type(evs, "order_canceled")
    assert venue.pos("alice") == S("2")


def test_fok_does_not_count_own_resting_orders(venue):
    venue.limit("alice", "sell", "1", "97000")
    venue.limit("bob", "sell", "1", "97000")
    h = venue.hash()
    assert rejected_code(venue.limit("alice", "buy", "2", "97000", time_in_force="fok")) == "fok_not_filled"
    assert venue.hash() == h


# ---- market orders -----------------------------------------------------------
def test_market_order_is_ioc_bounded_by_band_around_mark(venue):
    venue.limit("bob", "sell", "1", "97000")
    venue.limit("bob", "sell", "1", "101850")  # exactly the band edge (97000 * 1.05)
    venue.limit("carol", "sell", "1", "101850.1")  # just beyond it
    evs = venue.market("alice", "buy", "5")
    acc = one(evs, "order_accepted")
    assert acc["order_type"] == "market" and acc["time_in_force"] == "ioc" and acc["price"] is None
    assert trades(evs) == [("bob", "alice", P("97000"), S("1")), ("bob", "alice", P("101850"), S("1"))]
    c = one(evs, "order_canceled")
    assert c["reason"] == "ioc_remainder" and c["size"] == S("3")
    assert venue.e.markets[BTC].book.best_ask() == P("101850.1")  # untouched


def test_market_sell_bounded_below(venue):
    venue.limit("bob", "buy", "1", "92150")  # band edge 97000 * 0.95
    venue.limit("carol", "buy", "1", "92149.9")
    evs = venue.market("alice", "sell", "2")
    assert trades(evs) == [("bob", "alice", P("92150"), S("1"))]
    assert one(evs, "order_canceled")["size"] == S("1")


def test_market_order_rejects_price_and_post_only(venue):
    h = venue.hash()
    assert rejected_code(venue.market("alice", "buy", "1", price="97000")) == "unexpected_field"
    assert rejected_code(venue.market("alice", "buy", "1", post_only=True)) == "bad_flag"
    assert venue.hash() == h


def test_limit_beyond_band_is_rejected(venue):
    h = venue.hash()
    assert rejected_code(venue.limit("alice", "buy", "1", "101850.1")) == "price_band"
    assert rejected_code(venue.limit("alice", "sell", "1", "92149.9")) == "price_band"
    assert venue.hash() == h
    assert types(venue.limit("alice", "buy", "1", "101850")) == ["order_accepted"]


# ---- self-trade prevention ---------------------------------------------------
def test_self_trade_prevention_cancels_resting_order_and_continues(venue):
    own = venue.order_id(venue.limit("alice", "sell", "1", "97000"))
    venue.limit("bob", "sell", "1", "97000")
    evs = venue.limit("alice", "buy", "1", "97000")
    c = one(evs, "order_canceled")
    assert (c["order_id"], c["reason"], c["size"]) == (own, "self_trade", S("1"))
    assert trades(evs) == [("bob", "alice", P("97000"), S("1"))]
    assert not venue.live(own)
    assert venue.pos("alice") == S("1")
    assert venue.checks() == []


def test_self_trade_only_cancels_what_is_reached(venue):
    venue.limit("bob", "sell", "1", "97000")
    far = venue.order_id(venue.limit("alice", "sell", "1", "97100"))
    evs = venue.limit("alice", "buy", "1", "97100")
    assert not of_type(evs, "order_canceled")
    assert venue.live(far)


# ---- reduce_only -----------------------------------------------------------
def test_reduce_only_rejected_without_position(venue):
    h = venue.hash()
    evs = venue.limit("alice", "sell", "1", "97000", reduce_only=True)
    assert rejected_code(evs) == "no_position"
    assert venue.hash() == h


def test_reduce_only_rejected_when_it_would_grow_the_position(venue):
    venue.open_position("alice", "bob", "1")
    h = venue.hash()
    assert rejected_code(venue.limit("alice", "buy", "1", "97000", reduce_only=True)) == "no_position"
    assert rejected_code(venue.limit("bob", "sell", "1", "97000", reduce_only=True)) == "no_position"
    assert venue.hash() == h


def test_reduce_only_is_clipped_to_the_position(venue):
    venue.open_position("alice", "bob", "1")
    evs = venue.limit("alice", "sell", "3", "97500", reduce_only=True)
    acc = one(evs, "order_accepted")
    assert acc["size"] == S("1") and acc["reduce_only"] is True
    venue.limit("carol", "buy", "3", "97500")
    assert venue.pos("alice") == 0


def test_reduce_only_taker_clipped_and_never_flips(venue):
    venue.open_position("alice", "bob", "1")
    venue.limit("carol", "buy", "5", "97000")
    evs = venue.limit("alice", "sell", "5", "97000", reduce_only=True)
    assert trades(evs) == [("carol", "alice", P("97000"), S("1"))]
    assert venue.pos("alice") == 0


def test_resting_reduce_only_orders_never_flip_a_position(venue):
    """Two reduce-only orders, each clipped to the whole position, swept by one taker:
    the second must not turn the long into a short."""
    venue.open_position("alice", "bob", "2")
    venue.limit("alice", "sell", "2", "97100", reduce_only=True)
    venue.limit("alice", "sell", "2", "97100", reduce_only=True)
    evs = venue.limit("carol", "buy", "4", "97100")
    assert venue.pos("alice") == 0, f"a reduce-only order flipped the position: {trades(evs)}"
    assert sum(t["size"] for t in of_type(evs, "trade")) == S("2")
    assert venue.checks() == []


def test_resting_reduce_only_after_own_fill_in_same_sweep(venue):
    """A plain sell fills first in the sweep, then a reduce-only sell: together they must not flip."""
    venue.open_position("alice", "bob", "2")
    venue.limit("alice", "sell", "1", "97050")  # plain order (margin-checked)
    venue.limit("alice", "sell", "2", "97100", reduce_only=True)
    evs = venue.limit("carol", "buy", "3", "97100")
    # the reduce-only order may only close what the plain order left: 1, and is canceled beyond that
    assert venue.pos("alice") == 0
    assert sum(t["size"] for t in of_type(evs, "trade")) == S("2")
    c = one(evs, "order_canceled")
    assert c["reason"] == "reduce_only" and c["size"] == S("1")
    assert venue.e.accounts["alice"].orders == {}
    assert venue.pos("carol") == S("2") and venue.e.orders[venue.order_id(evs)].remaining == S("1")
    assert venue.checks() == []


def test_reduce_only_maker_partly_clipped_stays_live_with_the_position(venue):
    venue.open_position("alice", "bob", "2")
    venue.limit("alice", "sell", "1", "97050")
    ro = venue.order_id(venue.limit("alice", "sell", "2", "97100", reduce_only=True))
    evs = venue.limit("carol", "buy", "1.5", "97100")
    c = one(evs, "order_canceled")
    assert (c["order_id"], c["reason"], c["size"], c["remaining"]) == (ro, "reduce_only", S("1"), S("0.5"))
    assert venue.pos("alice") == S("0.5")
    assert venue.e.orders[ro].remaining == S("0.5")
    venue.limit("dave", "buy", "5", "97100")
    assert venue.pos("alice") == 0
    assert venue.checks() == []


def test_fok_counts_reduce_only_makers_only_up_to_their_position(venue):
    venue.open_position("alice", "bob", "1")
    venue.limit("alice", "sell", "1", "97100", reduce_only=True)
    venue.limit("alice", "sell", "1", "97100", reduce_only=True)
    h = venue.hash()
    assert rejected_code(venue.limit("carol", "buy", "2", "97100", time_in_force="fok")) == "fok_not_filled"
    assert venue.hash() == h
    evs = venue.limit("carol", "buy", "1", "97100", time_in_force="fok")
    assert sum(t["size"] for t in of_type(evs, "trade")) == S("1")
    assert venue.pos("alice") == 0


def test_reduce_only_orders_canceled_when_position_closes(venue):
    venue.open_position("alice", "bob", "1")
    ro = venue.order_id(venue.limit("alice", "sell", "1", "98000", reduce_only=True))
    venue.limit("carol", "buy", "1", "96000")
    evs = venue.limit("alice", "sell", "1", "96000")  # closes the long with a plain order
    c = one(evs, "order_canceled")
    assert (c["order_id"], c["reason"]) == (ro, "reduce_only")
    assert venue.e.accounts["alice"].orders == {}


# ---- stop_loss / take_profit ---------------------------------------------------
def setup_long_with_bids(venue):
    venue.open_position("alice", "bob", "1")
    venue.limit("carol", "buy", "5", "90000")


def test_stop_loss_triggers_on_mark_and_executes_reduce_only_market(venue):
    setup_long_with_bids(venue)
    evs = venue.trigger("alice", "stop_loss", "sell", "3", "95000")
    acc = one(evs, "order_accepted")
    sl = acc["order_id"]
    assert acc["size"] == S("1") and acc["reduce_only"] is True  # clipped to the position
    assert venue.e.markets[BTC].book.best_ask() == 0  # it rests off the book
    evs = venue.oracle("94000")
    assert venue.e.markets[BTC].mark_price == P("94000")
    trig = one(evs, "order_triggered")
    assert trig["order_id"] == sl and trig["mark_price"] == P("94000")
    assert trades(evs) == [("carol", "alice", P("90000"), S("1"))]  # within 5% of 94000
    assert venue.pos("alice") == 0
    assert not venue.live(sl)
    assert venue.checks() == []


def test_triggers_use_mark_not_index(venue):
    setup_long_with_bids(venue)
    # mark = oracle x (1 + smoothed impact basis): a deep book at 95500/95600 (1 BTC a side, beyond the
    # 20,000 USDC impact notional) over an oracle at 94900 lifts the mark towards 95500 as time passes
    venue.limit("dave", "buy", "1", "95500")
    venue.limit("dave", "sell", "1", "95600")
    venue.oracle("94900")
    for _ in range(120):
        venue.tick(5_000)
        venue.oracle("94900")
    mk = venue.e.markets[BTC]
    assert mk.index_price == P("94900") and P("95400") < mk.mark_price <= P("95500")
    sl = venue.order_id(venue.trigger("alice", "stop_loss", "sell", "1", "95000"))
    evs = venue.tick(5_000)  # the index is below the trigger, the mark is not: nothing fires
    assert not of_type(evs, "order_triggered") and venue.live(sl)
    # and the mark alone (index untouched) fires it
    venue.cmd("cancel_all", account="dave")
    venue.limit("carol", "buy", "1", "94500")
    evs = venue.cmd("load_market_state", market=BTC, mark_price="94999.9", funding_index="0")
    assert one(evs, "order_triggered")
    assert venue.pos("alice") == 0


def test_take_profit_long_and_stop_loss_short(venue):
    venue.open_position("alice", "bob", "1")
    venue.limit("carol", "buy", "1", "99000")
    venue.limit("dave", "sell", "1", "99100")
    tp = venue.order_id(venue.trigger("alice", "take_profit", "sell", "1", "99000"))
    sl = venue.order_id(venue.trigger("bob", "stop_loss", "buy", "1", "99000"))
    evs = venue.oracle("99050")  # mark = median(99050, 99000, 99100) = 99050
    fired = [e["order_id"] for e in of_type(evs, "order_triggered")]
    assert fired == [tp, sl]
    assert venue.pos("alice") == 0 and venue.pos("bob") == 0
    assert venue.checks() == []


def test_trigger_rejected_without_position_or_bad_fields(venue):
    h = venue.hash()
    assert rejected_code(venue.trigger("alice", "stop_loss", "sell", "1", "95000")) == "no_position"
    venue.open_position("alice", "bob", "1")
    h = venue.hash()
    assert rejected_code(venue.trigger("alice", "stop_loss", "buy", "1", "95000")) == "no_position"
    assert rejected_code(venue.cmd("place_order", account="alice", market=BTC, side="sell",
                                   order_type="stop_loss", size="1")) == "missing_field"
    assert rejected_code(venue.trigger("alice", "stop_loss", "sell", "1", "95000.05")) == "off_tick"
    assert rejected_code(venue.trigger("alice", "stop_loss", "sell", "1", "95000", time_in_force="ioc")) == "bad_value"
    assert rejected_code(venue.limit("alice", "sell", "1", "97000", trigger_price="95000")) == "unexpected_field"
    assert venue.hash() == h


@pytest.mark.parametrize("mode", ["post_only", "reduce_only", "cancel_only", "halted"])
def test_triggers_do_not_fire_while_market_restricted(venue, mode):
    setup_long_with_bids(venue)
    sl = venue.order_id(venue.trigger("alice", "stop_loss", "sell", "1", "95000"))
    venue.op("set_market_mode", market=BTC, mode=mode)
    evs = venue.oracle("94000")
    assert not of_type(evs, "order_triggered")
    assert venue.live(sl) and venue.pos("alice") == S("1")
    evs = venue.op("set_market_mode", market=BTC, mode="open")
    assert one(evs, "order_triggered")["order_id"] == sl
    assert venue.pos("alice") == 0


@pytest.mark.parametrize("market", [None, BTC])
def test_triggers_do_not_fire_while_paused(venue, market):
    setup_long_with_bids(venue)
    sl = venue.order_id(venue.trigger("alice", "stop_loss", "sell", "1", "95000"))
    kw = {"market": market} if market else {}
    assert types(venue.op("pause_triggers", **kw)) == ["triggers_paused"]
    evs = venue.oracle("94000")
    assert not of_type(evs, "order_triggered") and venue.live(sl)
    evs = venue.op("resume_triggers", **kw)
    assert one(evs, "order_triggered")["order_id"] == sl


def test_trigger_canceled_when_position_closed(venue):
    venue.open_position("alice", "bob", "1")
    sl = venue.order_id(venue.trigger("alice", "stop_loss", "sell", "1", "95000"))
    venue.limit("carol", "buy", "1", "97000")
    evs = venue.market("alice", "sell", "1")
    c = one(evs, "order_canceled")
    assert (c["order_id"], c["reason"]) == (sl, "reduce_only")
    assert venue.e.orders == {}


# ---- mode rules ------------------------------------------------------------------
def test_post_only_mode(venue):
    venue.limit("bob", "sell", "1", "97040")
    venue.op("set_market_mode", market=BTC, mode="post_only")
    h = venue.hash()
    assert rejected_code(venue.market("alice", "buy", "1")) == "post_only_mode"
    assert rejected_code(venue.limit("alice", "buy", "1", "97000", time_in_force="ioc")) == "post_only_mode"
    assert rejected_code(venue.limit("alice", "buy", "1", "97040")) == "post_only_would_cross"
    # post-only band is 5 bps: 97000 * 1.0005 = 97048.5
    assert rejected_code(venue.limit("alice", "sell", "1", "96951.4")) == "post_only_band"
    assert venue.hash() == h
    assert rejected_code(venue.limit("alice", "buy", "1", "97048.6")) == "post_only_band"
    evs = venue.limit("alice", "buy", "1", "96900")
    acc = one(evs, "order_accepted")
    assert acc["post_only"] is True  # forced by the mode
    assert types(venue.limit("carol", "sell", "1", "96951.5")) == ["order_accepted"]  # band edge, no cross
    assert venue.checks() == []


def test_reduce_only_mode(venue):
    venue.open_position("alice", "bob", "1")
    venue.op("set_market_mode", market=BTC, mode="reduce_only")
    h = venue.hash()
    code = rejected_code(venue.limit("carol", "buy", "1", "96000"))
    assert code == "reduce_only_mode"
    assert rejected_code(venue.limit("alice", "buy", "1", "96000")) == "reduce_only_mode"
    assert venue.hash() == h
    evs = venue.limit("alice", "sell", "2", "97100")  # shrinks alice: accepted, clipped, reduce-only
    acc = one(evs, "order_accepted")
    assert acc["size"] == S("1") and acc["reduce_only"] is True
    evs = venue.limit("bob", "buy", "1", "97100")  # shrinks bob's short
    assert trades(evs) == [("alice", "bob", P("97100"), S("1"))]
    assert venue.pos("alice") == 0 and venue.pos("bob") == 0


def test_cancel_only_mode(venue):
    oid = venue.order_id(venue.limit("alice", "buy", "1", "96000"))
    venue.op("set_market_mode", market=BTC, mode="cancel_only")
    h = venue.hash()
    assert rejected_code(venue.limit("bob", "buy", "1", "96000")) == "cancel_only"
    assert venue.hash() == h
    evs = venue.cancel("alice", oid)
    assert one(evs, "order_canceled")["reason"] == "user"
    # other markets are unaffected
    assert types(venue.limit("bob", "buy", "1", "3390", market=ETH)) == ["order_accepted"]


def test_halted_mode_accepts_nothing_from_users(venue):
    oid = venue.order_id(venue.limit("alice", "buy", "1", "96000"))
    venue.op("set_market_mode", market=BTC, mode="halted")
    h = venue.hash()
    assert rejected_code(venue.limit("bob", "buy", "1", "96000")) == "market_halted"
    assert rejected_code(venue.cancel("alice", oid)) == "market_halted"
    venue.cmd("cancel_all", account="alice")
    assert venue.live(oid)  # cancel_all skips halted markets
    assert venue.hash() == h


def test_set_market_mode_no_change_is_rejected(venue):
    assert rejected_code(venue.op("set_market_mode", market=BTC, mode="open")) == "no_change"


# ---- fees --------------------------------------------------------------------
FEE_MARKET = {"market": "FEE-USD-PERP", "tick_size": "0.01", "lot_size": "0.01", "initial_margin": "0.1",
              "maintenance_margin": "0.05", "maker_fee": "-0.0001", "taker_fee": "0.0005",
              "liquidation_fee": "0.01", "price_band": "0.1", "index_price": "100"}


def test_maker_taker_fees_and_rebate():
    v = Venue.default()
    assert types(v.op("create_market", **FEE_MARKET))[0] == "market_created"
    m = "FEE-USD-PERP"
    cash_a, cash_b = v.cash("alice"), v.cash("bob")
    v.limit("bob", "sell", "10", "100", market=m)
    evs = v.limit("alice", "buy", "10", "100", market=m)
    t = one(evs, "trade")
    notional = A("1000")
    assert t["taker_fee"] == A("0.5")  # 5 bps
    assert t["maker_fee"] == -A("0.1")  # 1 bp rebate
    assert v.cash("alice") == cash_a - notional - A("0.5")
    assert v.cash("bob") == cash_b + notional + A("0.1")
    assert v.e.fee_pool == A("0.4")
    assert v.checks() == []


def test_default_fees(venue):
    venue.limit("bob", "sell", "1", "97000")
    t = one(venue.limit("alice", "buy", "1", "97000"), "trade")
    assert (t["maker_fee"], t["taker_fee"]) == (0, A("19.4"))  # 2 bps taker, 0 maker
    assert venue.e.fee_pool == A("19.4")


def test_client_order_id_cancel_and_reuse(venue):
    oid = venue.order_id(venue.limit("alice", "buy", "1", "96000", client_order_id="c-1"))
    assert rejected_code(venue.limit("alice", "buy", "1", "96000", client_order_id="c-1")) == "duplicate_client_order_id"
    # another account may use the same id
    assert types(venue.limit("bob", "buy", "1", "96000", client_order_id="c-1")) == ["order_accepted"]
    evs = venue.cancel("alice", client_order_id="c-1")
    assert one(evs, "order_canceled")["order_id"] == oid
    assert types(venue.limit("alice", "buy", "1", "96000", client_order_id="c-1")) == ["order_accepted"]


def test_cancel_someone_elses_order_is_refused(venue):
    oid = venue.order_id(venue.limit("alice", "buy", "1", "96000"))
    h = venue.hash()
    assert rejected_code(venue.cancel("bob", oid)) == "unknown_order"
    assert venue.hash() == h and venue.live(oid)


def test_cancel_all_by_market(venue):
    a = venue.order_id(venue.limit("alice", "buy", "1", "96000"))
    b = venue.order_id(venue.limit("alice", "buy", "1", "3300", market=ETH))
    evs = venue.cmd("cancel_all", account="alice", market=BTC)
    assert [e["order_id"] for e in of_type(evs, "order_canceled")] == [a]
    assert venue.live(b)
    evs = venue.cmd("cancel_all", account="alice")
    assert [e["order_id"] for e in of_type(evs, "order_canceled")] == [b]


# ---- initial margin gate ------------------------------------------------------------
def test_initial_margin_gates_orders_and_counts_open_orders():
    v = Venue.default(accounts=("bob",))
    v.deposit("alice", "2000")
    # 2% of 97000 = 1940 per BTC: one BTC of resting bids fits, a second does not
    assert types(v.limit("alice", "buy", "1", "96000")) == ["order_accepted"]
    h = v.hash()
    assert rejected_code(v.limit("alice", "buy", "0.1", "96000")) == "insufficient_margin"
    assert v.hash() == h
    # an order on the other side does not add risk (worst case stays one BTC)
    assert types(v.limit("alice", "sell", "1", "98000")) == ["order_accepted"]


def test_withdraw_up_to_free_collateral():
    v = Venue.default(accounts=("bob",))
    v.deposit("alice", "2000")
    v.open_position("alice", "bob", "0.5")
    free = v.e.margins("alice")["free_collateral"]
    h = v.hash()
    assert rejected_code(v.withdraw("alice", fmt_amount(free + 1))) == "insufficient_margin"
    assert v.hash() == h
    assert types(v.withdraw("alice", fmt_amount(free))) == ["withdrawn"]
    assert v.e.margins("alice")["free_collateral"] == 0
    assert v.checks() == []


def test_an_accepted_order_never_leaves_its_account_below_maintenance():
    v = Venue.default(accounts=("bob",))
    v.deposit("alice", "2000")
    v.limit("bob", "sell", "5", "101000")  # 4% above mark, inside the 5% band
    evs = v.limit("alice", "buy", "0.9", "101000")
    if of_type(evs, "trade"):
        m = v.e.margins("alice")
        assert m["value"] >= m["maintenance_margin"], m


# ---- order_accepted: the command's fields, as the engine accepted them --------------------------
ACCEPTED_KEYS = {"type", "order_id", "account", "market", "side", "order_type", "size", "price", "trigger_price",
                 "time_in_force", "post_only", "reduce_only", "client_order_id", "seq"}


def test_order_accepted_carries_every_field_and_the_adjusted_ones(venue):
    evs = venue.limit("alice", "buy", "1", "96000", client_order_id="c-1")
    acc = one(evs, "order_accepted")
    assert set(acc) == ACCEPTED_KEYS
    assert (acc["account"], acc["market"], acc["side"], acc["order_type"], acc["size"], acc["price"],
            acc["trigger_price"], acc["time_in_force"], acc["post_only"], acc["reduce_only"],
            acc["client_order_id"]) == ("alice", BTC, "buy", "limit", S("1"), P("96000"), None, "gtc", False,
                                        False, "c-1")
    # adjusted by the engine: a market order's gtc becomes ioc; post_only mode forces post_only
    acc = one(venue.market("bob", "buy", "0.5"), "order_accepted")
    assert set(acc) == ACCEPTED_KEYS and acc["time_in_force"] == "ioc" and acc["price"] is None
    venue.op("set_market_mode", market=BTC, mode="post_only")
    acc = one(venue.limit("carol", "sell", "1", "97010"), "order_accepted")
    assert acc["post_only"] is True and acc["time_in_force"] == "gtc"


def test_order_accepted_key_order_does_not_depend_on_the_input(venue):
    a = {"type": "place_order", "account": "alice", "market": BTC, "side": "buy", "size": "1", "price": "96000"}
    b = dict(reversed(list(a.items())))
    b["type"] = "place_order"
    ka = list(one(venue.apply(a), "order_accepted"))
    kb = list(one(venue.apply(b), "order_accepted"))
    assert ka == kb
