"""Mark price and funding: a mark no small order can move, funding from averaged premium samples.

mark = oracle x (1 + smoothed basis), the basis an EMA (150 s) of the premium of the impact prices
(the average price of trading the impact notional, 20,000 USDC on BTC/ETH) over the oracle;
funding accrues on every tick but halted at the average of the premium samples of the hour (one
per 5 s of engine time at most), plus the interest clamp, capped, with the remainder of every
division carried so the tick size changes nothing.
"""

from __future__ import annotations

import pytest
from engine_helpers import BTC, P, Venue, of_type, one

from engine.core.engine import (
    FUNDING_BASE_RATE,
    FUNDING_CAP,
    FUNDING_CLAMP,
    FUNDING_DEN,
    FUNDING_PERIOD_MS,
)
from engine.core.fixedpoint import FRAC_SCALE


def _btc(evs, t: str) -> list[dict]:
    return [e for e in of_type(evs, t) if e.get("market") == BTC]


# ---- mark -------------------------------------------------------------------------------------------
def shorts_venue() -> Venue:
    """Three shorts of 1 BTC at 97,000 on 3,000 USDC each (about 32x); alice is long 3."""
    v = Venue.default(accounts=("alice", "mm", "lp"))
    v.no_breaker()
    for s in ("s1", "s2", "s3"):
        v.deposit(s, "3000")
        v.open_position("alice", s, "1")
    return v


def test_a_one_lot_bid_against_a_big_ask_does_not_move_the_mark():
    """The incident: with the oracle still, 3 BTC offered and 0.001 BTC bid just below set the mark
    5% up (median of index, bid, ask) and liquidated three shorts."""
    v = shorts_venue()
    v.limit("mm", "sell", "3", "101850")
    v.limit("lp", "buy", "0.001", "101800")
    evs: list[dict] = []
    for _ in range(60):
        evs += v.oracle("97000")
        evs += v.tick(1_000)
    mk = v.e.markets[BTC]
    assert abs(mk.mark_price - P("97000")) <= 2 * mk.tick
    assert not of_type(evs, "liquidation")
    assert all(v.pos(s) == -100_000_000 for s in ("s1", "s2", "s3"))
    assert v.checks() == []


def test_depth_beyond_the_impact_notional_moves_the_mark_smoothly():
    v = Venue.default()
    # 1 BTC a side (97,500 x 1 > 20,000 USDC): the impact bid is 97,500, 0.515% over the oracle
    v.limit("carol", "buy", "1", "97500")
    v.limit("dave", "sell", "1", "97600")
    v.oracle("97000")
    mk = v.e.markets[BTC]
    assert mk.mark_price == P("97000")  # no time has passed: no basis yet
    marks = []
    for _ in range(240):  # 20 minutes of 5 s ticks
        v.tick(5_000)
        v.oracle("97000")
        marks.append(mk.mark_price)
    assert P("97000") < marks[0] < P("97050")  # the first step is a small one (5 s of a 150 s EMA)
    assert marks == sorted(marks)  # and it only rises, towards the impact bid
    assert marks[30] < P("97400")  # after 150 s: about two thirds of the way
    assert P("97499") <= marks[-1] <= P("97500")
    # the depth goes away: the basis decays back towards the oracle, smoothly too
    v.cmd("cancel_all", account="carol")
    v.cmd("cancel_all", account="dave")
    v.tick(5_000)
    assert P("97400") < mk.mark_price < P("97500")


def test_an_impact_notional_parameter_per_market(venue):
    ev = one(venue.op("set_market_params", market=BTC, impact_notional="500"), "market_params_set")
    assert ev["impact_notional"] == "500" and ev["changed"] == ["impact_notional"]
    # now 0.01 BTC (970 USDC) is enough depth
    venue.limit("carol", "buy", "0.01", "97500")
    venue.tick(5_000)
    assert venue.e.markets[BTC].mark_price > P("97000")


def test_impact_notional_defaults_and_create_market():
    v = Venue.default()
    assert v.e.markets[BTC].impact_notional == 20_000 * 10**6
    assert v.e.markets["SOL-USD-PERP"].impact_notional == 6_000 * 10**6
    evs = v.op("create_market", market="PAXG-USD-PERP", tick_size="0.01", lot_size="0.001",
               initial_margin="0.1", maintenance_margin="0.05", maker_fee="0", taker_fee="0.0002",
               liquidation_fee="0.01", price_band="0.05", impact_notional="2500", index_price="2600")
    assert one(evs, "market_created")["impact_notional"] == "2500"


# ---- funding ----------------------------------------------------------------------------------------
def tiny_venue() -> Venue:
    v = Venue.default(accounts=())
    v.op("create_market", market="TINY-USD-PERP", tick_size="0.000001", lot_size="1", initial_margin="0.1",
         maintenance_margin="0.05", maker_fee="0", taker_fee="0.0002", liquidation_fee="0.01",
         price_band="0.05", index_price="0.000123")
    return v


def test_funding_does_not_depend_on_the_tick_size_on_a_tiny_priced_market():
    """3,600 one-second ticks accrue exactly what one 3,600-second tick does (before: zero)."""
    fine, coarse = tiny_venue(), tiny_venue()
    for _ in range(3_600):
        fine.tick(1_000)
    coarse.tick(3_600_000)
    f_fine = fine.e.markets["TINY-USD-PERP"].funding_index
    f_coarse = coarse.e.markets["TINY-USD-PERP"].funding_index
    expected = P("0.000123") * 10**6 * FUNDING_BASE_RATE * 3_600_000 // FUNDING_DEN
    assert f_fine == f_coarse == expected == 1537
    # and over a whole funding period, exactly the base rate of the index
    for _ in range(7):
        fine.tick(3_600_000)
    assert fine.e.markets["TINY-USD-PERP"].funding_index == P("0.000123") * 10**6 * FUNDING_BASE_RATE // FRAC_SCALE


def test_a_tick_after_a_long_gap_accrues_in_one_step_what_hourly_ticks_accrue():
    """A tick 1,000 hours (or centuries) after the last one: every interval in between has no
    sample, so the same rate; it is accrued in one step (a tick to the year 9999 stays cheap), to
    exactly what hour-by-hour ticks give, remainder and interval bookkeeping included."""
    hourly, once = tiny_venue(), tiny_venue()
    for _ in range(1_000):
        hourly.tick(3_600_000)
    once.tick(3_600_000 * 1_000)
    a, b = hourly.e.markets["TINY-USD-PERP"], once.e.markets["TINY-USD-PERP"]
    assert a.funding_index == b.funding_index > 0
    assert (a.funding_rem, a.prem_start, a.prem_n, a.prem_last) == (b.funding_rem, b.prem_start, b.prem_n, b.prem_last)


def _balanced(v: Venue) -> None:
    v.limit("carol", "buy", "1", "96990")
    v.limit("dave", "sell", "1", "97010")


def test_funding_uses_the_average_premium_not_the_last_sample():
    """One order sitting through one tick does not set the rate of the interval before it, and
    counts for one sample among the interval's after it."""
    v = Venue.default()
    v.open_position("alice", "bob", "1")
    _balanced(v)
    for _ in range(4):  # 40 minutes at no premium
        v.oracle("97000")
        v.tick(600_000)
    mk = v.e.markets[BTC]
    assert mk.funding_rate == FUNDING_BASE_RATE
    # a push: 2 BTC bid at 97,500 and 2 offered at 97,600, seen by one oracle print and one tick
    v.cmd("cancel_all", account="carol")
    v.cmd("cancel_all", account="dave")
    v.limit("carol", "buy", "2", "97500")
    v.limit("dave", "sell", "2", "97600")
    v.oracle("97000")
    f0, rem0 = mk.funding_index, mk.funding_rem
    ev = one(_btc(v.tick(600_000), "funding"), "funding")
    assert ev["rate"] == FUNDING_BASE_RATE  # the 10 minutes before it: the samples before it
    assert ev["funding_index"] - f0 == (P("97000") * 10**6 * FUNDING_BASE_RATE * 600_000 + rem0) // FUNDING_DEN
    pushed = (P("97500") - P("97000")) * FRAC_SCALE // P("97000")
    # gone again; the next 5 minutes pay the average of the samples so far, the push one among them
    v.cmd("cancel_all", account="carol")
    v.cmd("cancel_all", account="dave")
    _balanced(v)
    v.oracle("97000")
    ev = one(_btc(v.tick(300_000), "funding"), "funding")
    assert mk.prem_n == 6  # one sample a tick: 4 quiet, the push, and the one just taken
    assert ev["premium"] == pushed // 5  # one sample in five
    assert ev["rate"] == pushed // 5 - FUNDING_CLAMP
    assert v.checks() == []


def test_a_sustained_premium_sets_the_rate():
    v = Venue.default()
    v.open_position("alice", "bob", "1")
    v.limit("carol", "buy", "2", "97500")
    v.limit("dave", "sell", "2", "97600")
    for _ in range(30):
        v.oracle("97000")
        v.tick(60_000)
    ev = one(_btc(v.tick(60_000), "funding"), "funding")
    pushed = (P("97500") - P("97000")) * FRAC_SCALE // P("97000")
    assert ev["premium"] == pushed
    assert ev["rate"] == pushed - FUNDING_CLAMP


def test_the_funding_rate_is_capped():
    v = Venue.default()
    v.open_position("alice", "bob", "1")
    # a deep bid at the band's edge: a 5% premium, 4.95% after the clamp; the cap is 4% a period
    v.limit("carol", "buy", "1", "101850")
    v.oracle("97000")
    v.tick(5_000)
    ev = one(_btc(v.tick(3_600_000), "funding"), "funding")
    assert ev["premium"] == (P("101850") - P("97000")) * FRAC_SCALE // P("97000")
    assert ev["rate"] == FUNDING_CAP == 4_000_000
    assert v.e.markets[BTC].funding_rate == FUNDING_CAP


@pytest.mark.parametrize("mode", ["post_only", "reduce_only", "cancel_only"])
def test_funding_accrues_while_positions_exist_in_restricted_modes(mode):
    v = Venue.default()
    v.open_position("alice", "bob", "1")
    v.op("set_market_mode", market=BTC, mode=mode)
    mk = v.e.markets[BTC]
    f0 = mk.funding_index
    ev = one(_btc(v.tick(FUNDING_PERIOD_MS), "funding"), "funding")
    assert ev["rate"] == FUNDING_BASE_RATE
    assert mk.funding_index - f0 == P("97000") * 10**6 * FUNDING_BASE_RATE // FRAC_SCALE
    assert v.checks() == []


def test_mark_and_funding_state_survive_a_snapshot(venue):
    from engine.core import Engine
    from engine.core.snapshot import decode, encode, restore, state_hash

    venue.limit("carol", "buy", "1", "97500")
    for _ in range(7):
        venue.tick(1_000)
    mk = venue.e.markets[BTC]
    assert mk.mark_basis and mk.prem_n and mk.funding_rem
    other = Engine()
    restore(other, decode(encode(venue.e)))
    assert state_hash(other) == state_hash(venue.e)
    m2 = other.markets[BTC]
    assert (m2.mark_basis, m2.prem_sum, m2.prem_n, m2.funding_rem, m2.impact_notional) == (
        mk.mark_basis, mk.prem_sum, mk.prem_n, mk.funding_rem, mk.impact_notional)
