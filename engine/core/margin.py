"""Margin arithmetic: account value, initial and maintenance requirements.

All integers. Value and requirements round against the account (value down,
requirements up), so rounding can never make an account look safer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .fixedpoint import FRAC_SCALE, SIZE_SCALE

if TYPE_CHECKING:
    from .model import Account, Market, Position

#: size (1e-8 base) x funding index (1e-12 USDC/base) -> micro-USDC
FUNDING_DIV: Final = 100_000_000_000_000  # SIZE_SCALE * 10**6
_REQ_DIV: Final = 10_000_000_000_000_000  # SIZE_SCALE * FRAC_SCALE


def funding_pnl(size: int, funding_index: int, funding_entry: int) -> int:
    """Funding the position has earned (+) or owes (-) since entry, rounded down."""
    return (-size * (funding_index - funding_entry)) // FUNDING_DIV


def notional(size: int, price: int) -> int:
    return size * price // SIZE_SCALE


def requirement(qty: int, price: int, fraction: int) -> int:
    """ceil(|qty| * price * fraction / 10**16), in micro-USDC, exactly.

    Computed in pieces so that, for any realistic size, price and fraction, no intermediate
    exceeds 63 bits (compiled, every step stays a native integer operation instead of a
    heap-allocated big integer): with n = |qty| * price = a * 1e8 + b and a * fraction =
    hi * 1e8 + r, the product is hi * 1e16 + (r * 1e8 + b * fraction). Exact for all integers.
    """
    n = (qty if qty >= 0 else -qty) * price
    a = n // SIZE_SCALE
    b = n - a * SIZE_SCALE
    x = a * fraction
    hi = x // FRAC_SCALE
    lo = (x - hi * FRAC_SCALE) * SIZE_SCALE + b * fraction
    return hi - ((-lo) // _REQ_DIV)


def fee_amount(notional_: int, rate: int) -> int:
    """Fee on a notional, rounded up for a charge and down (toward 0) for a rebate."""
    # (products of non-negative operands: compiled, small ones stay native integer operations)
    if rate >= 0:
        return -(-(notional_ * rate) // FRAC_SCALE)
    return -((notional_ * -rate) // FRAC_SCALE)


def worst_side(size: int, open_buy: int, open_sell: int) -> int:
    """max(|size + open_buy|, |size - open_sell|): the exposure initial margin is charged on.

    Written with comparisons, not abs()/max(): compiled, those builtins box their arguments."""
    b = size + open_buy
    if b < 0:
        b = -b
    s = size - open_sell
    if s < 0:
        s = -s
    return b if b >= s else s


def position_im(pos: Position, worst: int, mark: int, imf: int) -> int:
    """requirement(worst, mark, imf), remembered on the position until one of the three changes."""
    if worst == pos.im_worst and mark == pos.im_mark and imf == pos.im_frac:
        return pos.im_req
    r = requirement(worst, mark, imf)
    pos.im_worst = worst
    pos.im_mark = mark
    pos.im_frac = imf
    pos.im_req = r
    return r


def position_mm(pos: Position, size: int, mark: int, mmf: int) -> tuple[int, int]:
    """(size * mark // SIZE_SCALE, requirement(size, mark, mmf)), remembered like ``position_im``."""
    if size == pos.mm_size and mark == pos.mm_mark and mmf == pos.mm_frac:
        return pos.mm_notional, pos.mm_req
    n = size * mark // SIZE_SCALE
    r = requirement(size, mark, mmf)
    pos.mm_size = size
    pos.mm_mark = mark
    pos.mm_frac = mmf
    pos.mm_notional = n
    pos.mm_req = r
    return n, r


def account_margins(acct: Account, markets: dict[str, Market]) -> tuple[int, int, int]:
    """(value, initial requirement incl. open orders, maintenance requirement)."""
    value = acct.cash
    im = 0
    mm = 0
    for name, pos in acct.positions.items():
        mk = markets[name]
        mark = mk.mark_price
        s = pos.size
        if s:
            n, r = position_mm(pos, s, mark, mk.mmf)
            value += n
            d = mk.funding_index - pos.funding_entry
            if d:
                value += (-s * d) // FUNDING_DIV
            mm += r
        worst = worst_side(s, pos.open_buy, pos.open_sell)
        if worst:
            im += position_im(pos, worst, mark, mk.imf)
    return value, im, mm


def account_value(acct: Account, markets: dict[str, Market]) -> int:
    value = acct.cash
    for name, pos in acct.positions.items():
        s = pos.size
        if s:
            mk = markets[name]
            value += s * mk.mark_price // SIZE_SCALE + (-s * (mk.funding_index - pos.funding_entry)) // FUNDING_DIV
    return value


def value_and_mm(acct: Account, markets: dict[str, Market]) -> tuple[int, int, int]:
    """(value, maintenance requirement, number of positions)."""
    value = acct.cash
    mm = 0
    n = 0
    for name, pos in acct.positions.items():
        s = pos.size
        if s:
            mk = markets[name]
            mark = mk.mark_price
            value += s * mark // SIZE_SCALE
            d = mk.funding_index - pos.funding_entry
            if d:  # (compiled, the product of a negative operand is a big-integer operation even when d is 0)
                value += (-s * d) // FUNDING_DIV
            mm += requirement(s, mark, mk.mmf)
            n += 1
    return value, mm, n
