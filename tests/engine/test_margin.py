"""engine.core.margin: value and requirements, rounded against the account."""

from __future__ import annotations

from engine_helpers import BTC, SOL, A, P, S

from engine.core.margin import (
    FUNDING_DIV,
    account_margins,
    account_value,
    fee_amount,
    funding_pnl,
    notional,
    requirement,
    value_and_mm,
)
from engine.core.model import Account, Market, Position


def market(name, mark, imf="0.02", mmf="0.01"):
    from engine.core.fixedpoint import frac

    mk = Market(name, P("0.1"), S("0.001"), frac(imf), frac(mmf), 0, frac("0.0002"), frac("0.007"),
                frac("0.05"), 0)
    mk.mark_price = mark
    return mk


def test_notional_and_requirement():
    assert notional(S("2"), P("100")) == A("200")
    assert notional(S("-2"), P("100")) == A("-200")
    # 0.5 * 97000 * 0.02 = 970 exactly
    assert requirement(S("0.5"), P("97000"), 2_000_000) == A("970")
    assert requirement(S("-0.5"), P("97000"), 2_000_000) == A("970")  # sign does not matter
    # a requirement that is not a whole micro-USDC rounds UP: 1e-8 * 1 * 0.01 -> 1e-10 USDC -> 1 micro
    assert requirement(1, P("1"), 1_000_000) == 1


def test_fee_rounding():
    assert fee_amount(A("100"), 20_000) == A("0.02")  # 2 bps of 100
    assert fee_amount(1, 20_000) == 1  # a charge rounds up
    assert fee_amount(1, -20_000) == 0  # a rebate rounds toward zero
    assert fee_amount(A("100"), -10_000) == -A("0.01")
    assert fee_amount(A("100"), 0) == 0


def test_funding_pnl_sign_and_rounding():
    # funding index rose by 1 USDC per base unit: a long of 2 owes 2, a short of 2 earns 2
    d = 10**12
    assert funding_pnl(S("2"), d, 0) == -A("2")
    assert funding_pnl(S("-2"), d, 0) == A("2")
    # rounding is down: never credits a fraction of a micro-USDC that is not there
    assert funding_pnl(1, 1, 0) == -1
    assert funding_pnl(-1, 1, 0) == 0
    assert FUNDING_DIV == 10**14


def test_account_margins_long_and_short_with_orders():
    btc = market(BTC, P("100000"))
    sol = market(SOL, P("200"), imf="0.05", mmf="0.025")
    markets = {BTC: btc, SOL: sol}
    acct = Account("a")
    acct.cash = A("1000")
    p = Position()
    p.size = S("0.1")  # long 0.1 BTC
    p.cost = A("9000")
    p.open_sell = S("0.3")  # resting sells could flip to short 0.2
    acct.positions[BTC] = p
    q = Position()
    q.size = S("-10")  # short 10 SOL
    q.open_buy = S("4")
    acct.positions[SOL] = q
    value, im, mm = account_margins(acct, markets)
    # value = cash + 0.1*100000 - 10*200
    assert value == A("1000") + A("10000") - A("2000")
    # IM: BTC worst |0.1 - 0.3| vs |0.1| -> 0.2 * 100000 * 0.02 = 400; SOL worst 10 * 200 * 0.05 = 100
    assert im == A("400") + A("100")
    # MM: 0.1*100000*0.01 = 100; 10*200*0.025 = 50
    assert mm == A("150")
    assert account_value(acct, markets) == value
    assert value_and_mm(acct, markets) == (value, mm, 2)


def test_account_margins_include_unsettled_funding():
    btc = market(BTC, P("100000"))
    acct = Account("a")
    p = Position(funding_entry=0)
    p.size = S("1")
    acct.positions[BTC] = p
    btc.funding_index = 5 * 10**12  # 5 USDC per BTC owed by longs
    value, _im, _mm = account_margins(acct, {BTC: btc})
    assert value == A("100000") - A("5")


def test_position_with_only_orders_counts_for_initial_margin_only():
    btc = market(BTC, P("100000"))
    acct = Account("a")
    p = Position()
    p.open_buy = S("1")
    acct.positions[BTC] = p
    value, im, mm = account_margins(acct, {BTC: btc})
    assert (value, im, mm) == (0, A("2000"), 0)
    assert value_and_mm(acct, {BTC: btc}) == (0, 0, 0)


# ---- requirement in pieces and the per-position caches (speed work must not change a figure) ----
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=3000, deadline=None)
@given(st.integers(-10**22, 10**22), st.integers(-10**16, 10**16), st.integers(-10**10, 10**10))
def test_requirement_equals_the_one_line_formula(qty, price, fraction):
    assert requirement(qty, price, fraction) == -((-abs(qty) * price * fraction) // 10**16)


def test_position_caches_follow_their_inputs():
    from engine.core.margin import position_im, position_mm

    mk = market("BTC-USD-PERP", P("10000"))
    a = Account("u")
    a.cash = A("1000")
    pos = a.positions["BTC-USD-PERP"] = Position()
    pos.size = S("0.5")
    pos.open_buy = S("0.2")
    markets = {"BTC-USD-PERP": mk}
    for mark in ("10000", "10000", "9000.1", "9000.1", "12000"):  # repeated inputs hit the cache
        mk.mark_price = P(mark)
        m = mk.mark_price
        want = (a.cash + S("0.5") * m // 10**8,
                requirement(S("0.7"), m, mk.imf), requirement(S("0.5"), m, mk.mmf))
        assert account_margins(a, markets) == want
        assert position_im(pos, S("0.7"), m, mk.imf) == want[1]
        assert position_mm(pos, S("0.5"), m, mk.mmf) == (S("0.5") * m // 10**8, want[2])
    pos.size = S("-0.25")  # a new size and a new fraction are new inputs, never a stale answer
    mk.mmf = mk.mmf * 2
    m = mk.mark_price
    assert account_margins(a, markets)[2] == requirement(S("0.25"), m, mk.mmf)
