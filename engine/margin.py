"""Margin arithmetic: account value, initial and maintenance requirements.

All integers. Value and requirements round against the account (value down,
requirements up), so rounding can never make an account look safer.
"""

from __future__ import annotations

from .fixedpoint import FRAC_SCALE, SIZE_SCALE

#: size (1e-8 base) x funding index (1e-12 USDC/base) -> micro-USDC
FUNDING_DIV = SIZE_SCALE * 10**6
_REQ_DIV = SIZE_SCALE * FRAC_SCALE


def funding_pnl(size: int, funding_index: int, funding_entry: int) -> int:
    """Funding the position has earned (+) or owes (-) since entry, rounded down."""
    return (-size * (funding_index - funding_entry)) // FUNDING_DIV


def notional(size: int, price: int) -> int:
    return size * price // SIZE_SCALE


def requirement(qty: int, price: int, fraction: int) -> int:
    """ceil(|qty| * price * fraction), in micro-USDC."""
    return -((-abs(qty) * price * fraction) // _REQ_DIV)


def fee_amount(notional_: int, rate: int) -> int:
    """Fee on a notional, rounded up for a charge and down (toward 0) for a rebate."""
    if rate >= 0:
        return -((-notional_ * rate) // FRAC_SCALE)
    return -((notional_ * -rate) // FRAC_SCALE)


def account_margins(acct, markets) -> tuple[int, int, int]:
    """(value, initial requirement incl. open orders, maintenance requirement)."""
    value = acct.cash
    im = 0
    mm = 0
    for name, pos in acct.positions.items():
        mk = markets[name]
        mark = mk.mark_price
        s = pos.size
        if s:
            value += s * mark // SIZE_SCALE + (-s * (mk.funding_index - pos.funding_entry)) // FUNDING_DIV
            mm += -((-abs(s) * mark * mk.mmf) // _REQ_DIV)
        worst = max(abs(s + pos.open_buy), abs(s - pos.open_sell))
        if worst:
            im += -((-worst * mark * mk.imf) // _REQ_DIV)
    return value, im, mm


def account_value(acct, markets) -> int:
    value = acct.cash
    for name, pos in acct.positions.items():
        s = pos.size
        if s:
            mk = markets[name]
            value += s * mk.mark_price // SIZE_SCALE + (-s * (mk.funding_index - pos.funding_entry)) // FUNDING_DIV
    return value


def value_and_mm(acct, markets) -> tuple[int, int, int]:
    """(value, maintenance requirement, number of positions)."""
    value = acct.cash
    mm = 0
    n = 0
    for name, pos in acct.positions.items():
        s = pos.size
        if s:
            mk = markets[name]
            mark = mk.mark_price
            value += s * mark // SIZE_SCALE + (-s * (mk.funding_index - pos.funding_entry)) // FUNDING_DIV
            mm += -((-abs(s) * mark * mk.mmf) // _REQ_DIV)
            n += 1
    return value, mm, n
