"""Funding, load_market_state, liquidations (fees, bad debt, ADL) and their pause switches."""

from __future__ import annotations

import pytest
from engine_helpers import BTC, ETH, A, P, S, Venue, of_type, one, rejected_code, types

from engine.core.engine import FUNDING_PERIOD_MS
from engine.core.fixedpoint import FRAC_SCALE
from engine.core.margin import funding_pnl


# ---- funding -------------------------------------------------------------------
def funded_pair():
    v = Venue.default()
    v.open_position("alice", "bob", "1")
    # a book at 97100 / 97200, 1 BTC a side (beyond the 20,000 USDC impact notional): the impact bid
    # is 97100, above the index, so the premium is (97100 - 97000) / 97000; one tick takes a sample
    v.limit("carol", "buy", "1", "97100")
    v.limit("dave", "sell", "1", "97200")
    v.oracle("97000")
    v.tick(5_000)
    mk = v.e.markets[BTC]
    assert mk.prem_n == 1 and P("97000") <= mk.mark_price <= P("97100")
    return v


def test_funding_accrues_on_tick_from_premium_and_longs_pay():
    v = funded_pair()
    mk = v.e.markets[BTC]
    f0 = mk.funding_index
    rem0 = mk.funding_rem
    mark0 = mk.mark_price
    value_a0 = v.e.margins("alice")["value"]
    value_b0 = v.e.margins("bob")["value"]
    evs = v.tick(3_600_000)  # one hour, at the average premium of the samples so far
    ev = one([e for e in evs if e.get("market") == BTC], "funding")
    premium = (P("97100") - P("97000")) * FRAC_SCALE // P("97000")
    rate = premium - 50_000  # premium above base + clamp: the clamp (0.05%) binds
    assert ev["rate"] == rate == mk.funding_rate and ev["premium"] == premium
    # the remainder of the last division is carried into this one
    delta = (P("97000") * 10**6 * rate * 3_600_000 + rem0) // (FRAC_SCALE * FUNDING_PERIOD_MS)
    assert delta > 0
    assert ev["funding_index"] == mk.funding_index == f0 + delta
    # paid through positions: the long's value falls, the short's rises, by the same amount (+-1 rounding)
    paid = funding_pnl(S("1"), mk.funding_index, f0)
    assert paid < 0
    moved = mk.mark_price - mark0  # the smoothed basis moved the mark too (1 BTC each way)
    assert v.e.margins("alice")["value"] == value_a0 + paid + moved
    gained = v.e.margins("bob")["value"] - value_b0 + moved
    assert gained + paid in (0, -1)
    assert v.checks() == []


def test_funding_settles_into_cash_on_a_fill_and_money_is_conserved():
    v = funded_pair()
    for _ in range(5):
        v.tick(3_600_000)
    mk = v.e.markets[BTC]
    pnl = funding_pnl(v.pos("alice"), mk.funding_index, v.e.accounts["alice"].positions[BTC].funding_entry)
    cash0 = v.cash("alice")
    evs = v.limit("alice", "sell", "1", "97100")  # closes against carol's bid
    t = one(evs, "trade")
    assert v.pos("alice") == 0
    assert v.cash("alice") == cash0 + pnl + P("97100") - t["taker_fee"]
    assert v.e.funding_pool == -pnl
    assert v.checks() == []


def test_funding_base_rate_when_mark_equals_index(venue):
    venue.open_position("alice", "bob", "1")
    venue.oracle("97000")
    ev = one([e for e in venue.tick(FUNDING_PERIOD_MS) if e.get("market") == BTC], "funding")
    assert ev["rate"] == 10_000  # 0.01% per period
    assert ev["funding_index"] == P("97000") * 10**6 * 10_000 // FRAC_SCALE


def test_no_funding_while_market_halted(venue):
    # positions exist in post_only, reduce_only and cancel_only: they pay funding there
    # (tests/engine/test_mark_funding.py); a halted venue has stopped, and so has funding
    venue.op("set_market_mode", market=BTC, mode="halted")
    evs = venue.tick(3_600_000)
    assert not [e for e in of_type(evs, "funding") if e["market"] == BTC]
    assert of_type(evs, "funding")  # the open markets still accrue
    assert venue.e.markets[BTC].funding_index == 0
    assert venue.e.markets[BTC].last_funding_ts == venue.ts  # the halted period is skipped, not caught up


def test_load_market_state_writes_mark_and_funding_index(venue):
    evs = venue.cmd("load_market_state", market=ETH, mark_price="3410", funding_index="-1.5", source="db")
    ev = one(evs, "market_state_loaded")
    assert ev["mark_price"] == P("3410") and ev["funding_index"] == -15 * 10**11
    mk = venue.e.markets[ETH]
    assert (mk.mark_price, mk.funding_index) == (P("3410"), -15 * 10**11)
    assert venue.checks() == []
    # without the guard rails, bad data from outside is accepted as data, and the checks see it
    # (with them it is quarantined: tests/engine/test_guards.py)
    venue.safeguards(False)
    venue.cmd("load_market_state", market=ETH, mark_price="0", funding_index="0")
    fails = venue.checks()
    assert [f.check for f in fails] == ["indices_bounded"]
    assert ETH in fails[0].detail


def test_load_market_state_refuses_negative_mark(venue):
    h = venue.hash()
    assert rejected_code(venue.cmd("load_market_state", market=BTC, mark_price="-1", funding_index="0")) == "negative"
    assert rejected_code(venue.cmd("load_market_state", market="NOPE", mark_price="1", funding_index="0")) == "unknown_market"
    assert venue.hash() == h


# ---- liquidations --------------------------------------------------------------
def thin_long(fund: str | None = None) -> Venue:
    """alice: 2,000 USDC, long 1 BTC at 97,000 (about 48x); bob is the short.

    alice is the whole long open interest, so the circuit breaker is off here: these tests are about
    the liquidation mechanics (tests/engine/test_guards.py is about the breaker)."""
    v = Venue.default(accounts=("bob", "carol", "dave"))
    v.no_breaker()
    v.deposit("alice", "2000")
    if fund:
        v.op("fund_insurance", amount=fund)
    v.open_position("alice", "bob", "1")
    return v


def test_liquidation_cancels_orders_and_closes_in_20pct_steps_with_fee_to_fund():
    v = thin_long()
    resting = v.order_id(v.limit("alice", "buy", "0.001", "90000"))
    v.limit("carol", "buy", "5", "95882")  # deep bids just under mark (above the bankruptcy price)
    fund0 = v.e.insurance_fund
    evs = v.oracle("95930")  # value 910.6 < maintenance 959.3: a partial step reaches the target after its fee
    assert v.e.markets[BTC].mark_price == P("95930")
    c = [e for e in of_type(evs, "order_canceled") if e["order_id"] == resting]
    assert c and c[0]["reason"] == "liquidation"
    liq = one(evs, "liquidation")
    assert liq["account"] == "alice" and liq["market"] == BTC
    assert liq["size"] in [S("0.2") * k for k in range(1, 6)]  # a whole number of 20% steps
    assert liq["size"] < S("1")  # not bankrupt: a partial step
    assert liq["price"] == P("95882") and liq["by"] == "book"
    assert liq["fee"] > 0 and v.e.insurance_fund == fund0 + liq["fee"]
    assert one(evs, "insurance_fund")["reason"] == "liquidation_fee"
    assert v.pos("alice") == S("1") - liq["size"]
    # 0.7% of the closed notional, capped at what the account has left
    full_fee = -(-(liq["size"] * P("95882") // 10**8) * 700_000 // FRAC_SCALE)
    value_before_fee = v.e.margins("alice")["value"] + liq["fee"]
    assert liq["fee"] == min(full_fee, value_before_fee)
    assert v.checks() == []


def test_bankrupt_account_closed_fully_and_bad_debt_covered_by_fund():
    """The bid (89,000) is past alice's bankruptcy price (95,019.4): the book is not used at that price for
    her; the insurance fund takes the position over at the bankruptcy price and closes it on the bid,
    paying the gap (the bad debt). (Before: she sold at 89,000 and the fund paid her negative balance.)"""
    v = thin_long(fund="10000")
    v.limit("carol", "buy", "5", "89000")
    evs = v.shock("90000")
    liq = one(evs, "liquidation")
    bp = P("90000") + A("5019.4") * 10**8 // S("1")  # mark + what alice's value is short of zero
    assert liq["by"] == "insurance" and liq["bankruptcy_price"] == bp
    assert liq["size"] == S("1") and liq["price"] == bp
    assert one(evs, "trade")["price"] == P("89000")
    assert v.pos("alice") == 0
    gap = A("6019.4")  # bankruptcy price - bid
    assert liq["bad_debt"] == gap
    ins = [e for e in of_type(evs, "insurance_fund") if e["reason"] == "liquidation_backstop"]
    assert len(ins) == 1 and ins[0]["change"] == -gap
    assert v.e.insurance_fund == A("10000") - gap
    assert v.cash("alice") == 0
    assert not of_type(evs, "socialized_loss") and not of_type(evs, "deleverage")
    assert v.checks() == []


def test_adl_when_fund_cannot_cover_bankruptcy():
    """Fund empty, bid past bankruptcy: ADL at the bankruptcy price, bounded to the price band (94,500 here;
    before: 95,019.4, beyond the band); the rest of the deficit is a recorded socialized loss."""
    v = thin_long()  # insurance fund is empty
    v.limit("carol", "buy", "5", "89000")
    assert v.e.margins("bob")["value"] == A("1000000")
    evs = v.shock("90000")
    dl = one(evs, "deleverage")
    assert dl["account"] == "alice" and dl["counterparty"] == "bob" and dl["size"] == S("1")
    assert dl["price"] == P("94500")
    assert not of_type(evs, "trade")  # the book was not used: losses go to the opposite side
    assert v.pos("alice") == 0 and v.pos("bob") == 0
    assert v.cash("alice") == 0  # nothing owed, nothing left
    sl = one(evs, "socialized_loss")
    assert sl["amount"] == A("519.4") == v.e.socialized_loss
    # bob absorbed the deficit up to the band edge: he gains 2,500, not the full 7,000 move
    assert v.e.margins("bob")["value"] == A("1000000") + A("2500")
    assert v.checks() == []


def test_no_adl_for_a_solvent_account_when_book_is_empty():
    """Below maintenance, not bankrupt, no bids at all: before, it was deleveraged at mark; now a solvent
    account is never deleveraged: it waits (cooldown) for the book."""
    v = thin_long(fund="100000")
    evs = v.oracle("95500")
    assert not of_type(evs, "deleverage") and not of_type(evs, "liquidation")
    assert v.pos("alice") == S("1") and v.pos("bob") == -S("1")
    assert v.e.liq_cooldown["alice"] > v.e.now
    assert v.checks() == []


def test_adl_picks_most_profitable_opposite_position_first():
    v = Venue.default(accounts=("bob", "carol", "dave"))
    v.deposit("alice", "2600")  # covers 2% initial margin plus the 500 paid above mark and the fee
    v.limit("bob", "sell", "0.5", "97000")
    v.limit("carol", "sell", "0.5", "98000")  # carol sold higher: more profit when price falls
    v.limit("alice", "buy", "1", "98000")
    v.no_breaker()
    evs = v.shock("90000")
    dls = of_type(evs, "deleverage")
    assert [d["counterparty"] for d in dls] == ["carol", "bob"]
    assert v.checks() == []


@pytest.mark.parametrize("scope", ["global", "market"])
def test_paused_liquidations_wait_until_resumed(scope):
    v = thin_long()
    v.limit("carol", "buy", "5", "95400")
    kw = {"market": BTC} if scope == "market" else {}
    assert types(v.op("pause_liquidations", **kw)) == ["liquidations_paused"]
    evs = v.oracle("95500")
    assert not of_type(evs, "liquidation")
    assert v.pos("alice") == S("1")
    evs = v.tick(1000)
    assert not of_type(evs, "liquidation")
    evs = v.op("resume_liquidations", **kw)
    assert one(evs, "liquidation")["account"] == "alice"
    assert rejected_code(v.op("resume_liquidations", **kw)) == "no_change"


def test_market_pause_only_protects_that_market():
    v = thin_long()
    v.limit("carol", "buy", "5", "95400")
    v.op("pause_liquidations", market=ETH)
    evs = v.oracle("95500")
    assert one(evs, "liquidation")["market"] == BTC


def test_no_liquidation_while_market_restricted():
    v = thin_long()
    v.limit("carol", "buy", "5", "95400")
    v.op("set_market_mode", market=BTC, mode="cancel_only")
    assert not of_type(v.oracle("95500"), "liquidation")
    assert one(v.op("set_market_mode", market=BTC, mode="open"), "liquidation")


def test_healthy_accounts_are_not_liquidated(venue):
    venue.open_position("alice", "bob", "1")
    venue.limit("carol", "buy", "5", "93000")
    evs = venue.oracle("93500")
    assert not of_type(evs, "liquidation") and not of_type(evs, "deleverage")


def test_an_account_waiting_in_a_restricted_market_is_parked_not_reexamined():
    """Below maintenance in a market that does not liquidate: parked out of the index after one look,
    examined again when the market reopens, and decided exactly as an engine restored from a snapshot
    (which has no parked set) decides."""
    from engine.core import Engine
    from engine.core.snapshot import decode, restore, take

    v = thin_long()
    v.limit("carol", "buy", "5", "95400")
    v.op("set_market_mode", market=BTC, mode="cancel_only")
    assert not of_type(v.oracle("95500"), "liquidation")
    idx = v.e.liq_index
    assert idx.parked == {"alice"}
    assert all(e[2] != "alice" for e in v.e.markets[BTC].liq_long)  # not in the heaps: not a candidate
    s = take(v.e, "mid", "manual")
    twin = Venue(Engine())
    restore(twin.e, decode(s.data, expect_hash=s.state_hash))
    assert twin.e.liq_index.parked == set()
    for venue in (v, twin):
        for px in ("95400", "95450", "95300"):  # price updates: alice stays parked, nothing happens
            assert not of_type(venue.oracle(px), "liquidation")
        assert venue.e.liq_index.parked == {"alice"}
    reopened = [venue.op("set_market_mode", market=BTC, mode="open") for venue in (v, twin)]
    assert one(reopened[0], "liquidation")["account"] == "alice"
    def no_seq(evs):  # (the restored twin counts its own commands)
        return [{k: x for k, x in ev.items() if k != "seq"} for ev in evs]

    assert no_seq(reopened[0]) == no_seq(reopened[1]) and v.hash() == twin.hash()
    assert v.e.liq_index.parked == set()
