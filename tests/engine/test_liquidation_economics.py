"""Liquidation economics: bankruptcy-bounded fills, the insurance fund's backstop, steps that leave the
account healthier, cooldown, fee cap, liquidation order; ADL only for negative equity, split by
maintenance requirement, ranked by PnL x leverage, never pushing a counterparty below zero, waiting for
a halted market; and a recorded socialized loss with money conserved.

Each test here fails on the engine before these rules (commit 2253780) and passes on this one."""

from __future__ import annotations

from engine_helpers import BTC, ETH, SOL, P, S, Venue, of_type, one

from engine.core import Engine
from engine.core.checks import run_checks
from engine.core.fixedpoint import FRAC_SCALE, SIZE_SCALE
from engine.core.margin import requirement, value_and_mm
from engine.core.snapshot import decode, restore, state_hash, take


def long_alice(fund: str | None = None, deposit: str = "2000", size: str = "1") -> Venue:
    """alice: ``deposit`` USDC, long ``size`` BTC at 97,000 from bob (rich); breaker off (tiny venue)."""
    v = Venue.default(accounts=("bob", "carol", "dave"))
    v.no_breaker()
    v.no_breaker(ETH)
    v.no_breaker(SOL)
    v.deposit("alice", deposit)
    if fund:
        v.op("fund_insurance", amount=fund)
    v.open_position("alice", "bob", size)
    return v


def value(v: Venue, name: str) -> int:
    return value_and_mm(v.e.accounts[name], v.e.markets)[0]


def ratio(v: Venue, name: str) -> tuple[int, int]:
    val, mm, _n = value_and_mm(v.e.accounts[name], v.e.markets)
    return val, mm


# ---- 1. fills never past bankruptcy; the fund covers to it ---------------------------------------
def test_solvent_account_closed_into_a_bid_3pct_under_mark_ends_at_zero_or_more():
    """A bid 3% under mark is past alice's bankruptcy price: the book is not used past it; the insurance
    fund takes the position over at the bankruptcy price (closing it on that bid, paying the gap)."""
    v = long_alice(fund="100000")
    v.limit("carol", "buy", "5", "92600")  # ~3% under the 95,500 mark
    evs = v.oracle("95500")
    assert v.e.markets[BTC].mark_price == P("95500")
    liqs = of_type(evs, "liquidation")
    assert liqs and all(e["account"] == "alice" for e in liqs)
    assert value(v, "alice") >= 0 and v.cash("alice") >= 0
    assert v.pos("alice") == 0
    for e in liqs:  # the account's own price is never past its bankruptcy price
        assert e["price"] >= e["bankruptcy_price"]
    ins = [e for e in liqs if e["by"] == "insurance"]
    assert ins and ins[0]["bad_debt"] > 0
    assert [e for e in of_type(evs, "insurance_fund") if e["reason"] == "liquidation_backstop"]
    assert not of_type(evs, "socialized_loss")
    assert v.checks() == []


def test_solvent_account_is_never_deleveraged_and_never_pushed_negative_by_the_book():
    """Fund empty, a bid 3% under mark, a profitable short standing by: alice is solvent, so she is not
    deleveraged and the book does not take her below zero: she waits (cooldown) with her value intact."""
    v = long_alice()
    v.limit("carol", "buy", "5", "92600")
    evs = v.oracle("95500")
    assert not of_type(evs, "deleverage")
    assert not of_type(evs, "trade")  # nothing at or above the bankruptcy price
    assert value(v, "alice") > 0
    assert v.e.liq_cooldown["alice"] > v.e.now
    assert v.checks() == []


def test_adl_is_not_used_for_a_solvent_account_even_with_an_empty_book():
    v = long_alice(fund="100000")
    evs = v.oracle("95500")  # below maintenance, not bankrupt, no bids at all
    assert not of_type(evs, "deleverage")
    assert v.pos("alice") == S("1") and v.pos("bob") == -S("1")
    assert v.checks() == []


# ---- 2. steps sized after fee and slippage ------------------------------------------------------
MARK = "95930"  # alice (2,000 USDC, long 1 BTC at 97,000): value 910.6, maintenance 959.3 (ratio ~0.95)


def test_a_step_leaves_the_account_healthier_after_its_fee_and_slippage():
    """Only 0.2 BTC is bid, 1% under mark: a 20% step into it (fee 0.7% + 1% slippage) would leave
    (value - MM) / MM worse than before; the step is enlarged until it helps (here: all of it, the fund
    taking over what the book cannot take at the bankruptcy price)."""
    v = long_alice(fund="100000")
    v.limit("carol", "buy", "0.2", "94970")
    v.limit("dave", "buy", "5", "94000")
    v0, mm0 = ratio(v, "alice")
    evs = v.oracle(MARK)
    v0, mm0 = 2000 * 10**6 - 19_400_000 + P(MARK) - P("97000"), requirement(S("1"), P(MARK), 1_000_000)
    assert 0 < v0 < mm0  # below maintenance, solvent
    assert of_type(evs, "liquidation")
    v1, mm1 = ratio(v, "alice")
    before = (v0 - mm0) * FRAC_SCALE // mm0
    after = (v1 - mm1) * FRAC_SCALE // mm1 if mm1 else FRAC_SCALE
    assert after > before and v1 >= 0
    assert v.checks() == []


def test_a_partial_step_reaches_the_target_after_its_own_fee():
    """Deep bids just under mark: the step is the smallest multiple of 20% that brings maintenance / value
    under 90% after its liquidation fee (a 20% step would not: its fee is 70% of the maintenance it frees)."""
    v = long_alice()
    v.limit("dave", "buy", "5", "95882")
    evs = v.oracle(MARK)
    liqs = of_type(evs, "liquidation")
    assert liqs and v.pos("alice") > 0  # partial
    v1, mm1 = ratio(v, "alice")
    assert 10 * mm1 < 9 * v1
    assert liqs[0]["step"] > 1
    assert v.checks() == []


# ---- 3. cooldown ------------------------------------------------------------------------------
def test_partial_steps_of_one_account_wait_for_the_cooldown():
    v = long_alice()
    v.limit("dave", "buy", "5", "95882")
    evs = v.oracle(MARK)
    assert of_type(evs, "liquidation") and v.pos("alice") > 0  # a partial step
    # the price keeps falling: alice is below maintenance again, but her next step waits for engine time
    evs = v.oracle("95600")
    val, mm = ratio(v, "alice")
    assert 0 < val < mm
    assert not of_type(evs, "liquidation")
    assert v.e.liq_cooldown["alice"] == v.ts + 30_000
    evs = v.tick(10_000)
    assert not of_type(evs, "liquidation")
    evs = v.tick(20_000)  # 30 s after the first step
    assert of_type(evs, "liquidation")
    assert v.checks() == []


# ---- 4. fee cap -------------------------------------------------------------------------------
def test_liquidation_fee_is_capped_at_the_max_penalty():
    """SOL's liquidation fee rate is 1.75%; the fee charged is never more than 1.5% of the notional."""
    v = Venue.default(accounts=("bob", "carol", "dave"))
    v.no_breaker(SOL)
    v.deposit("alice", "9500")
    v.open_position("alice", "bob", "1000", price="180", market=SOL)
    v.limit("carol", "buy", "5000", "174.75", market=SOL)
    evs = v.oracle("174.8", market=SOL)
    liqs = [e for e in of_type(evs, "liquidation") if e.get("by", "book") == "book"]
    assert liqs
    for e in liqs:
        notional = e["size"] * e["price"] // SIZE_SCALE
        assert e["fee"] <= -(-notional * 1_500_000 // FRAC_SCALE)
        assert e["fee"] < -(-notional * 1_750_000 // FRAC_SCALE)
    assert v.checks() == []


# ---- 5. order of liquidation ------------------------------------------------------------------
def test_the_most_under_collateralized_account_is_liquidated_first_not_by_name():
    v = Venue.default(accounts=("bob", "carol", "dave"))
    v.no_breaker()
    v.deposit("aaron", "2300")  # the better collateralized of the two
    v.deposit("zed", "2050")
    v.op("fund_insurance", amount="100000")
    v.open_position("aaron", "bob", "1")
    v.open_position("zed", "bob", "1")
    v.limit("carol", "buy", "1", "95400")  # liquidity for one of them
    evs = v.oracle("95500")
    liqs = of_type(evs, "liquidation")
    assert [e["account"] for e in liqs][:1] == ["zed"]
    assert v.checks() == []


# ---- 6. ADL: negative equity only, split by MM, ranked, counterparties never below zero --------
def two_market_bankrupt(halt_eth: bool = False) -> Venue:
    """alice long 1 BTC at 97,000 and 20 ETH at 3,400 (6,000 USDC), both fall ~6%: negative equity,
    no fund, no bids: ADL. carol is the BTC short, dave the ETH short (both rich)."""
    v = Venue.default(accounts=("bob", "carol", "dave"))
    for m in (BTC, ETH):
        v.no_breaker(m)
    v.deposit("alice", "6000")
    v.open_position("alice", "carol", "1")
    v.open_position("alice", "dave", "20", price="3400", market=ETH)
    if halt_eth:
        v.op("set_market_mode", market=ETH, mode="halted")
    v.op("pause_liquidations")
    v.shock("91200")
    v.shock("3196", market=ETH)
    return v


def test_adl_deficit_is_split_across_markets_by_maintenance_requirement():
    v = two_market_bankrupt()
    val, mm = ratio(v, "alice")
    assert val < 0
    mm_btc = requirement(S("1"), P("91200"), 1_000_000)
    evs = v.op("resume_liquidations")
    dls = of_type(evs, "deleverage")
    assert {d["market"] for d in dls} == {BTC, ETH}
    absorbed = {}
    for d in dls:
        mark = v.e.markets[d["market"]].mark_price
        absorbed[d["market"]] = absorbed.get(d["market"], 0) + abs(d["price"] - mark) * d["size"] // SIZE_SCALE
    deficit = -val
    # each market takes its share (up to rounding of the per-unit price: a micro-USDC per unit)
    assert abs(absorbed[BTC] - deficit * mm_btc // mm) <= 100
    assert abs(absorbed[ETH] - deficit * (mm - mm_btc) // mm) <= 100
    assert 0 <= v.cash("alice") <= 100 and v.pos("alice") == 0 and v.pos("alice", ETH) == 0  # (rounding: toward alice)
    assert v.checks() == []


def test_a_halted_markets_loss_waits_for_that_market():
    v = two_market_bankrupt(halt_eth=True)
    val, mm = ratio(v, "alice")
    mm_btc = requirement(S("1"), P("91200"), 1_000_000)
    evs = v.op("resume_liquidations")
    dls = of_type(evs, "deleverage")
    assert dls and {d["market"] for d in dls} == {BTC}
    mark = v.e.markets[BTC].mark_price
    absorbed = sum((d["price"] - mark) * d["size"] // SIZE_SCALE for d in dls)
    assert abs(absorbed - (-val) * mm_btc // mm) <= 100  # only BTC's share, not the whole deficit
    assert v.pos("alice", ETH) == S("20")  # the ETH position waits, and its share of the loss with it
    assert value(v, "alice") < 0
    evs = v.oracle("91200")  # nothing moves it to BTC's traders meanwhile
    assert not of_type(evs, "deleverage") and "alice" in v.e.liq_index.parked
    assert not of_type(evs, "socialized_loss")
    assert v.checks() == []
    v.op("set_market_mode", market=ETH, mode="open")  # reopened: its loss goes to ETH's shorts
    assert v.pos("alice", ETH) == 0
    assert v.cash("alice") >= 0
    assert v.checks() == []


def test_adl_counterparty_is_never_pushed_below_zero():
    """bob's BTC short is the most profitable x leveraged (his ETH long lost), but absorbing alice's
    deficit would take him below zero: he is skipped and carol (rich) takes it."""
    v = Venue.default(accounts=("carol", "dave"))
    for m in (BTC, ETH):
        v.no_breaker(m)
    v.deposit("alice", "2000")
    v.deposit("bob", "4100")
    v.open_position("alice", "bob", "0.5")
    v.open_position("alice", "carol", "0.5")
    v.open_position("dave", "bob", "0.5")
    v.open_position("bob", "dave", "30", price="3400", market=ETH)
    v.op("pause_liquidations")
    v.shock("91000")
    v.shock("3180", market=ETH)
    assert value(v, "alice") < 0 and 0 < value(v, "bob")
    evs = v.op("resume_liquidations")
    dls = of_type(evs, "deleverage")
    assert dls
    assert value(v, "bob") >= 0
    assert all(d["counterparty"] != "bob" or value(v, "bob") >= 0 for d in dls)
    for name in v.e.accounts:
        assert value(v, name) >= 0 or v.e.accounts[name].positions, name
    assert v.checks() == []


def test_adl_is_never_priced_at_zero_or_beyond_the_band():
    """A large ETH loss and a tiny BTC short: the deficit is not dumped on the BTC short (price 0 before)."""
    v = Venue.default(accounts=("bob", "carol", "dave"))
    for m in (BTC, ETH):
        v.no_breaker(m)
    v.deposit("alice", "7000")
    v.open_position("alice", "dave", "100", price="3400", market=ETH)
    v.open_position("carol", "alice", "0.01")  # alice short 0.01 BTC
    v.op("pause_liquidations")
    v.shock("3200", market=ETH)
    assert value(v, "alice") < 0
    evs = v.op("resume_liquidations")
    dls = of_type(evs, "deleverage")
    assert dls
    for d in dls:
        mk = v.e.markets[d["market"]]
        assert d["price"] > 0
        assert abs(d["price"] - mk.mark_price) <= mk.mark_price * mk.band // FRAC_SCALE
    assert v.checks() == []


def test_adl_ranks_counterparties_by_pnl_times_leverage():
    """carol sold higher (more PnL) but with a huge account (leverage ~0); bob's PnL% x leverage is higher."""
    v = Venue.default(accounts=("dave",))
    v.no_breaker()
    v.deposit("alice", "2600")
    v.deposit("bob", "5000")
    v.deposit("carol", "1000000")
    v.limit("bob", "sell", "0.5", "97000")
    v.limit("carol", "sell", "0.5", "98000")
    v.limit("alice", "buy", "1", "98000")
    evs = v.shock("90000")
    dls = of_type(evs, "deleverage")
    assert [d["counterparty"] for d in dls][:1] == ["bob"]
    assert v.checks() == []


# ---- 7. socialized loss ----------------------------------------------------------------------
def test_residual_loss_is_socialized_recorded_and_money_is_conserved():
    """A 12% gap with an empty fund: ADL takes what it can at the band edge; the rest of the deficit is a
    recorded socialized loss, alice is at zero, money is conserved, and the ledger survives a snapshot."""
    v = long_alice()
    v.op("pause_liquidations")
    v.shock("91000")
    v.shock("85000")
    assert value(v, "alice") < 0
    evs = v.op("resume_liquidations")
    sl = of_type(evs, "socialized_loss")
    assert len(sl) == 1 and sl[0]["account"] == "alice" and sl[0]["amount"] > 0
    assert sl[0]["total"] == v.e.socialized_loss == sl[0]["amount"]
    assert v.cash("alice") == 0 and v.pos("alice") == 0
    assert run_checks(v.e) == []
    snap = take(v.e, "after", "manual")
    twin = Engine()
    restore(twin, decode(snap.data, expect_hash=snap.state_hash))
    assert state_hash(twin) == snap.state_hash and twin.socialized_loss == v.e.socialized_loss
    assert run_checks(twin) == []


def test_a_negative_balance_without_positions_is_settled_not_left():
    """alice tries to close her bankrupt long herself while liquidations are paused: the fill check
    refuses it (she would end below zero with no position). When liquidations resume she is closed out
    and what she owes is settled (fund, then socialized loss), never left behind as negative cash."""
    v = long_alice(fund="1000")
    v.op("pause_liquidations")
    v.shock("91000")
    v.shock("85000")
    v.limit("carol", "buy", "1", "84000")
    evs = v.market("alice", "sell", "1")
    assert not of_type(evs, "trade") and one(evs, "order_canceled")["reason"] == "margin"
    assert v.pos("alice") == 100_000_000 and value(v, "alice") < 0
    evs = v.op("resume_liquidations")
    assert [e for e in of_type(evs, "insurance_fund") if e["change"] < 0]  # the fund paid first
    assert v.e.insurance_fund == 0
    sl = of_type(evs, "socialized_loss")
    assert len(sl) == 1 and sl[0]["amount"] == v.e.socialized_loss > 0
    assert v.pos("alice") == 0 and v.cash("alice") == 0
    assert run_checks(v.e) == []
