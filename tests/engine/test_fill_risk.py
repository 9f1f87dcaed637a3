"""Fill risk: every fill is margin-checked on both sides (dYdX v4's state-transition rule), nothing
fills past an account's bankruptcy price, rebates come only out of fees collected, withdrawals wait
while an account has negative equity, and TP/SL are refused on the wrong side, not paused by the
liquidation circuit breaker and released in batches at a reopen.

Each test fails on the engine before these rules (noted per test)."""

from __future__ import annotations

import pytest
from engine_helpers import BTC, A, P, S, Venue, of_type, one, rejected_code, types

from engine.core.engine import TRIGGER_BATCH
from engine.core.margin import account_margins, account_value


def _levered_long(v: Venue, who: str = "lev", deposit: str = "2000", size: str = "1") -> None:
    """``who`` holds a 50x long of ``size`` BTC at 97000 (bob is short)."""
    v.deposit(who, deposit)
    v.open_position(who, "bob", size, "97000")
    assert v.pos(who) == S(size)


def _value(v: Venue, who: str) -> int:
    return account_value(v.e.accounts[who], v.e.markets)


# ---- rule 1: every fill is margin-checked; nothing fills past the bankruptcy price ----------------
@pytest.mark.parametrize("how", ["limit", "reduce_only_limit", "market_reduce_only", "market"])
def test_a_50x_long_cannot_close_into_a_colluding_bid_5pct_under_mark(venue, how):
    """Old engine: the close fills at 92150, the closer ends with about -2,888 USDC of cash and no
    position (nobody liquidates it) and the colluder pockets the difference."""
    v = venue
    _levered_long(v)
    v.deposit("col", "1000000")
    assert of_type(v.limit("col", "buy", "1", "92150"), "order_accepted")  # the band's lower edge
    if how == "limit":
        evs = v.limit("lev", "sell", "1", "92150")
    elif how == "reduce_only_limit":
        evs = v.limit("lev", "sell", "1", "92150", reduce_only=True)
    elif how == "market_reduce_only":
        evs = v.market("lev", "sell", "1", reduce_only=True)
    else:
        evs = v.market("lev", "sell", "1")
    assert not of_type(evs, "trade"), evs
    canceled = one(evs, "order_canceled")
    assert canceled["reason"] == "margin" and canceled["size"] == S("1")
    assert v.pos("lev") == S("1") and v.pos("col") == 0
    assert v.cash("col") == A("1000000")
    assert _value(v, "lev") > 0
    assert v.checks() == []


def test_a_flip_into_a_colluding_bid_is_refused_too(venue):
    """Old engine: sell 2 flips the 50x long into a short at 92150; the account's value is about -7,700."""
    v = venue
    _levered_long(v)
    v.deposit("col", "1000000")
    v.limit("col", "buy", "2", "92150")
    evs = v.limit("lev", "sell", "2", "92150")
    assert not of_type(evs, "trade")
    assert one(evs, "order_canceled")["reason"] == "margin"
    assert v.pos("lev") == S("1") and _value(v, "lev") > 0
    assert v.checks() == []


def test_a_close_stops_at_the_first_fill_past_bankruptcy(venue):
    """The fair part of a sweep fills; the taker stops where a fill would take it below zero and its
    remainder is canceled (reason margin). Old engine: both fills, negative cash."""
    v = venue
    _levered_long(v)
    v.deposit("col", "1000000")
    v.limit("alice", "buy", "0.5", "96900")
    v.limit("col", "buy", "0.5", "92150")
    evs = v.market("lev", "sell", "1", reduce_only=True)
    trades = of_type(evs, "trade")
    assert [(t["price"], t["size"], t["maker_account"]) for t in trades] == [(P("96900"), S("0.5"), "alice")]
    c = one(evs, "order_canceled")
    assert (c["reason"], c["size"]) == ("margin", S("0.5"))
    assert v.pos("lev") == S("0.5") and _value(v, "lev") > 0
    assert v.checks() == []


def test_a_fair_close_of_a_50x_long_still_fills(venue):
    v = venue
    _levered_long(v)
    v.limit("alice", "buy", "1", "96900")
    evs = v.market("lev", "sell", "1", reduce_only=True)
    assert one(evs, "trade")["size"] == S("1")
    assert v.pos("lev") == 0 and v.cash("lev") > 0
    assert v.checks() == []


# ---- rule 2: a maker below initial margin is canceled at match --------------------------------
def test_a_risk_increasing_maker_below_initial_margin_is_canceled_at_match(venue):
    """Old engine: the bid fills and the account, already below initial margin, doubles its risk."""
    v = venue
    _levered_long(v, "mk", deposit="4000")
    bid = v.order_id(v.limit("mk", "buy", "1", "96000"))  # accepted while healthy
    v.oracle("95500")  # the long loses 1,500: below initial margin, above maintenance
    a = v.e.accounts["mk"]
    value, im, mm = account_margins(a, v.e.markets)
    assert mm <= value < im
    evs = v.limit("carol", "sell", "1", "96000", time_in_force="ioc")
    assert not of_type(evs, "trade"), evs
    canceled = [c for c in of_type(evs, "order_canceled") if c["order_id"] == bid]
    assert canceled and canceled[0]["reason"] == "margin"
    assert not v.live(bid) and v.pos("mk") == S("1")
    assert v.checks() == []


# ---- rules 3 and 4: solvency; rebates only out of fees collected ---------------------------------
REBATE = "REB-USD-PERP"


def _rebate_market(v: Venue) -> None:
    evs = v.op("create_market", market=REBATE, tick_size="0.1", lot_size="0.001", initial_margin="0.02",
               maintenance_margin="0.01", maker_fee="-0.0001", taker_fee="0.0002", liquidation_fee="0.007",
               price_band="0.05", index_price="97000")
    assert "market_created" in types(evs), evs
    v.no_breaker(REBATE)


def test_a_liquidation_fill_pays_no_maker_rebate_and_the_fee_pool_stays_non_negative(venue):
    """Old engine: the liquidation fill (no taker fee) pays the maker a rebate out of the fee pool."""
    v = venue
    _rebate_market(v)
    v.op("fund_insurance", amount="10000")  # covers the liquidation's loss past bankruptcy (liq's business)
    v.deposit("lev", "2000")
    v.open_position("lev", "bob", "1", "97000", market=REBATE)
    pool_after_open = v.e.fee_pool
    v.limit("carol", "buy", "1", "95000", market=REBATE)
    evs = v.oracle("95200", market=REBATE)
    liq = one(evs, "liquidation")
    assert liq["account"] == "lev"
    trades = [t for t in of_type(evs, "trade") if t["taker_account"] == "lev"]
    assert trades and all(t["taker_fee"] == 0 and t["maker_fee"] == 0 for t in trades)
    assert v.e.fee_pool == pool_after_open >= 0
    assert v.checks() == []


def test_a_regular_rebate_never_exceeds_the_taker_fee_of_the_same_fill(venue):
    v = venue
    _rebate_market(v)
    v.limit("alice", "buy", "0.001", "97000", market=REBATE)
    t = one(v.limit("bob", "sell", "0.001", "97000", market=REBATE), "trade")
    assert t["maker_fee"] < 0 and -t["maker_fee"] <= t["taker_fee"]
    assert v.e.fee_pool >= 0


def test_solvency_check_reports_negative_cash_without_positions_and_negative_pools(venue):
    v = venue
    assert v.checks() == []
    v.e.accounts["alice"].cash = -1
    v.e.fee_pool = -2
    v.e.insurance_fund = -3
    found = [f for f in v.checks() if f.check == "solvency"]
    assert len(found) == 3
    assert "alice" in found[0].detail


def test_the_old_collusion_leaves_what_the_solvency_check_catches(bare):
    """The shape of the incident, built by hand: a closed account with negative cash fails ``solvency``."""
    v = bare
    v.deposit("x", "10")
    v.e.accounts["x"].cash = -A("2887")
    assert [f.check for f in v.checks()] == ["money_conserved", "solvency"]


# ---- rule 5: withdrawals gated while any account has negative equity -----------------------------
@pytest.mark.parametrize("where", ["dirty", "heap", "parked"])
def test_withdrawals_wait_while_an_account_has_negative_equity(venue, where):
    """Old engine: alice withdraws while lev is under water (liquidations paused). ``where``: how the
    liquidation index holds lev when the withdrawal comes (changed since indexed; indexed, threshold
    crossed; parked below maintenance in a market that does not liquidate)."""
    v = venue
    _levered_long(v)
    if where == "dirty":
        v.op("pause_liquidations")
    elif where == "heap":
        v.tick()  # indexed
        v.op("pause_liquidations")
    else:
        v.tick()
        v.op("pause_liquidations", market=BTC)
    v.oracle("94000")  # -3,000 on a 1,980 account: value < 0
    assert _value(v, "lev") < 0
    idx = v.e.liq_index
    assert ("lev" in v.e.liq_dirty) == (where == "dirty")
    assert ("lev" in idx.parked) == (where == "parked")
    evs = v.withdraw("alice", "1")
    assert rejected_code(evs) == "venue_insolvent"
    assert "lev" in evs[0]["message"] and "1 account(s)" in evs[0]["message"]
    # nobody under water: withdrawals flow again
    v.e.accounts["lev"].cash += A("5000")
    v.e.deposits += A("5000")
    v.e.liq_dirty.add("lev")
    assert _value(v, "lev") > 0
    assert types(v.withdraw("alice", "1")) == ["withdrawn"]


def test_the_gate_is_not_fooled_by_accounts_merely_below_maintenance(venue):
    v = venue
    _levered_long(v)
    v.tick()
    v.op("pause_liquidations")
    v.oracle("95800")  # below maintenance, value still positive
    a = v.e.accounts["lev"]
    value, _im, mm = account_margins(a, v.e.markets)
    assert 0 < value < mm
    assert types(v.withdraw("alice", "1")) == ["withdrawn"]


# ---- rule 6: TP/SL -----------------------------------------------------------------------------
@pytest.mark.parametrize("holder,side,kind,trigger", [
    ("alice", "sell", "stop_loss", "98000"),  # a long's stop above the mark would fire at once
    ("alice", "sell", "stop_loss", "97000"),  # at the mark, likewise
    ("alice", "sell", "take_profit", "96000"),
    ("bob", "buy", "stop_loss", "96000"),  # a short's stop below the mark
    ("bob", "buy", "take_profit", "98000"),
])
def test_a_stop_on_the_wrong_side_of_the_mark_is_refused(venue, holder, side, kind, trigger):
    """Old engine: accepted, and it fires at the next market data."""
    v = venue
    v.open_position("alice", "bob", "1")
    assert rejected_code(v.trigger(holder, kind, side, "1", trigger)) == "trigger_wrong_side"


@pytest.mark.parametrize("holder,side,kind,trigger", [
    ("alice", "sell", "stop_loss", "96000"), ("alice", "sell", "take_profit", "98000"),
    ("bob", "buy", "stop_loss", "98000"), ("bob", "buy", "take_profit", "96000"),
])
def test_a_stop_on_the_right_side_is_accepted(venue, holder, side, kind, trigger):
    v = venue
    v.open_position("alice", "bob", "1")
    assert types(v.trigger(holder, kind, side, "1", trigger)) == ["order_accepted"]


def test_the_liquidation_circuit_breaker_does_not_pause_other_users_stops(venue):
    """Old engine: a market flagged only ``circuit_breaker`` holds every stop while trading goes on."""
    v = venue
    v.op("set_market_params", market=BTC, breaker_oi_share="0.1")
    _levered_long(v)
    v.open_position("alice", "carol", "1")
    stop = v.order_id(v.trigger("alice", "stop_loss", "sell", "1", "95000"))
    v.limit("dave", "buy", "2", "94000")
    evs = v.oracle("95300")  # lev falls below maintenance; liquidating it would cut > 10% of long OI
    assert of_type(evs, "circuit_breaker_tripped") and not of_type(evs, "liquidation")
    assert set(v.e.markets[BTC].flags) == {"circuit_breaker"}
    evs = v.oracle("94500")  # crosses alice's stop
    trig = one(evs, "order_triggered")
    assert trig["order_id"] == stop
    assert v.pos("alice") == 0
    assert not of_type(evs, "liquidation")  # the breaker still holds the liquidations


def test_an_untrusted_price_flag_still_pauses_stops(venue):
    v = venue
    v.open_position("alice", "bob", "1")
    v.trigger("alice", "stop_loss", "sell", "1", "96000")
    v.limit("dave", "buy", "1", "95000")
    v.tick(31_000)  # no oracle price for longer than oracle_stale_ms
    assert "oracle_stale" in v.e.markets[BTC].flags
    evs = v.cmd("load_market_state", market=BTC, mark_price="95500", funding_index="0")
    assert one(evs, "market_state_loaded")["mark_price"] == P("95500")
    assert not of_type(evs, "order_triggered")
    assert v.pos("alice") == S("1")


def test_held_stops_are_released_in_batches_at_a_reopen(venue):
    """Old engine: all held stops fire together at the reopen."""
    v = venue
    n = TRIGGER_BATCH + 10
    holders = [f"u{i:03d}" for i in range(n)]
    v.limit("dave", "sell", S_str(n), "97000")
    stops = []
    for h in holders:
        v.deposit(h, "10000")
        assert of_type(v.limit(h, "buy", "0.01", "97000"), "trade")
        stops.append(v.order_id(v.trigger(h, "stop_loss", "sell", "0.01", "96000")))
    v.limit("carol", "buy", S_str(n), "95000")
    v.op("set_market_mode", market=BTC, mode="post_only")
    evs = v.oracle("95500")
    assert not of_type(evs, "order_triggered")  # restricted: held
    evs = v.op("set_market_mode", market=BTC, mode="open")
    fired = [e["order_id"] for e in of_type(evs, "order_triggered")]
    assert fired == stops[:TRIGGER_BATCH]  # in order of order id, at most one batch
    for e in of_type(evs, "trade"):
        assert e["price"] >= P("95500") * 95 // 100  # within the band around mark
    evs = v.tick()
    assert [e["order_id"] for e in of_type(evs, "order_triggered")] == stops[TRIGGER_BATCH:]
    assert all(v.pos(h) == 0 for h in holders)
    assert v.checks() == []


def S_str(n: int) -> str:
    """n x 0.01 BTC as a size string."""
    return f"{n // 100}.{n % 100:02d}"
