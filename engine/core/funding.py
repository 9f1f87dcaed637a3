"""Mark price and funding: the impact premium of the book over the oracle, the smoothed basis that
makes the mark, the hourly premium samples, and the funding rate and index they accrue (Hyperliquid)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .fixedpoint import FRAC_SCALE, SIZE_SCALE
from .model import (
    Market,
)

if TYPE_CHECKING:
    from .engine import Engine

FUNDING_PERIOD_MS: Final = 28_800_000  # 8 h
FUNDING_BASE_RATE: Final = 10_000  # 0.01% per period, in FRAC units (1e-8)
FUNDING_CLAMP: Final = 50_000  # 0.05%
FUNDING_CAP: Final = 4_000_000  # |rate| <= 4% per period (and never more than the market's price band)
FUNDING_DEN: Final = FRAC_SCALE * FUNDING_PERIOD_MS  # funding index step = index x 1e6 x rate x dt / this
FUNDING_INTERVAL_MS: Final = 3_600_000  # premium samples are averaged per hour of engine time (Hyperliquid)
FUNDING_SAMPLE_MS: Final = 5_000  # at most one premium sample per 5 s of engine time
MARK_EMA_MS: Final = 150_000  # time constant of the mark's smoothed basis (Hyperliquid: 150 s EMA)
MARK_STEP_MS: Final = 5_000  # one basis update weighs at most this much engine time
BASIS_SCALE: Final = 1_000_000_000_000  # the smoothed basis is kept at 1e-12
BASIS_TO_FRAC: Final = 10_000  # BASIS_SCALE // FRAC_SCALE
MAX_FUNDING_INDEX: Final = 4_000_000_000_000_000_000  # |funding index| ceiling (bounds; docs/contract.md)


def trunc_div(a: int, b: int) -> int:
    """a / b rounded toward zero (b > 0): symmetric, so a premium and its opposite average alike."""
    return a // b if a >= 0 else -((-a) // b)


def roll_interval(mk: Market, t: int) -> None:
    """Close the funding interval before ``t``: its average premium becomes ``prem_last``."""
    start = t - t % FUNDING_INTERVAL_MS
    n = mk.prem_n
    # the interval just before t's: its average; none sampled (or long gone): no premium
    mk.prem_last = trunc_div(mk.prem_sum, n) if n and start == mk.prem_start + FUNDING_INTERVAL_MS else 0
    mk.prem_sum = 0
    mk.prem_n = 0
    mk.prem_start = start


def funding_rate_of(mk: Market) -> tuple[int, int]:
    """(rate per period, average premium): the interval's average premium so far (the last
    interval's while none is sampled yet), plus the interest clamp, capped."""
    n = mk.prem_n
    prem = trunc_div(mk.prem_sum, n) if n else mk.prem_last
    rate = prem + max(-FUNDING_CLAMP, min(FUNDING_CLAMP, FUNDING_BASE_RATE - prem))
    cap = min(FUNDING_CAP, mk.band)
    return max(-cap, min(cap, rate)), prem


def accrue_funding(eng: Engine, mk: Market, t0: int, t1: int, charge: bool) -> None:
    """Accrue funding over [t0, t1] (``charge``: else only the intervals advance), interval by
    interval, carrying the remainder of the division so no time is lost to flooring."""
    index = mk.index_price
    f0 = mk.funding_index
    rate = mk.funding_rate
    prem = 0
    t = t0
    while t < t1:
        if t >= mk.prem_start + FUNDING_INTERVAL_MS:
            roll_interval(mk, t)
        end = mk.prem_start + FUNDING_INTERVAL_MS
        if end > t1:
            end = t1
        elif mk.prem_n == 0 and mk.prem_last == 0:
            # nothing sampled and nothing carried: every interval from here to t1 rolls to the
            # same (zero) premium, so the same rate: one step instead of one per hour (a tick
            # after a long gap, up to the year 9999, stays O(1)); exactly what the intervals one by
            # one give, since the remainder carries and the final roll below lands on t1's interval
            end = t1
        if charge:
            rate, prem = funding_rate_of(mk)
            num = index * 1_000_000 * rate * (end - t) + mk.funding_rem
            delta = num // FUNDING_DEN
            mk.funding_rem = num - delta * FUNDING_DEN
            fi = mk.funding_index + delta
            # (bounds) the index never leaves what the state encodes: clamped at +/- MAX_FUNDING_INDEX
            if fi > MAX_FUNDING_INDEX or fi < -MAX_FUNDING_INDEX:
                fi = MAX_FUNDING_INDEX if fi > 0 else -MAX_FUNDING_INDEX
                mk.funding_rem = 0
            mk.funding_index = fi
        t = end
    if t1 >= mk.prem_start + FUNDING_INTERVAL_MS:
        roll_interval(mk, t1)
    if not charge:
        return
    mk.funding_rate = rate
    if mk.funding_index != f0:
        eng.mark_epoch += 1
        eng.emit({"type": "funding", "market": mk.name, "rate": rate, "funding_index": mk.funding_index,
                    "premium": prem})


def premium(eng: Engine, mk: Market) -> int:
    """The premium of the book over the oracle at impact notional, BASIS_SCALE:
    (max(impact bid - oracle, 0) - max(oracle - impact ask, 0)) / oracle. A side without
    impact-notional depth contributes nothing (the oracle)."""
    index = mk.index_price
    book = mk.book
    target = mk.impact_notional * SIZE_SCALE
    if book.bid_keys and book.bid_keys[-1] > index:
        ib = book.impact_price(True, target)
        if ib > index:
            return (ib - index) * BASIS_SCALE // index
    if book.ask_keys and -book.ask_keys[-1] < index:
        ia = book.impact_price(False, target)
        if 0 < ia < index:
            return -((index - ia) * BASIS_SCALE // index)
    return 0


def update_mark(eng: Engine, mk: Market, prem: int | None) -> None:
    """mark = oracle x (1 + smoothed basis), the basis an EMA (MARK_EMA_MS) of the impact premium
    over engine time, its offset rounded toward the oracle to the tick, within the price band."""
    index = mk.index_price
    now = eng.now
    dt = now - mk.basis_ts
    if dt > 0:
        if dt > MARK_STEP_MS:
            dt = MARK_STEP_MS
        sample: int = premium(eng, mk) if prem is None else prem
        d = sample - mk.mark_basis
        den = MARK_EMA_MS + dt
        mk.mark_basis += d * dt // den if d >= 0 else -((-d) * dt // den)
        mk.basis_ts = now
    basis = mk.mark_basis
    tick = mk.tick
    if basis >= 0:
        off = index * basis // BASIS_SCALE
        off -= off % tick
    else:
        off = (index * -basis) // BASIS_SCALE
        off = -(off - off % tick)
    cap = index * mk.band // FRAC_SCALE
    if off > cap:
        off = cap
    elif off < -cap:
        off = -cap
    mark = index + off
    if mark != mk.mark_price:
        mk.mark_price = mark
        eng.mark_epoch += 1
        eng.emit({"type": "mark_price", "market": mk.name, "mark_price": mark, "index_price": index})

