"""Validation checks: named invariants that must hold after every command.

``run_checks(engine)`` returns every failing check with its detail (an empty
list means all hold). They recompute from the records rather than trusting
running totals, so they catch a bookkeeping bug, not just a crossed book.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from .fixedpoint import FRAC_SCALE, fmt_amount, fmt_price, fmt_size

if TYPE_CHECKING:
    from .engine import Engine

TRIGGERS: Final = ("stop_loss", "take_profit")
#: |funding index| may not exceed this many times the index price (per base unit)
FUNDING_BOUND_MULTIPLE: Final = 10


@dataclass(frozen=True)
class Failure:
    check: str
    detail: str
    market: str | None = None  # the market it concerns; None: the whole venue


def money_conserved(engine: Engine) -> list[Failure]:
    held = sum(a.cash for a in engine.accounts.values()) + engine.insurance_fund + engine.fee_pool + engine.funding_pool
    # bad debt written off against the socialized-loss ledger brought accounts up to zero: the ledger is
    # the claim that balances it (held - socialized loss = what came in)
    social = engine.socialized_loss
    inflow = engine.deposits - engine.withdrawals + engine.treasury_in
    if held - social != inflow:
        return [Failure("money_conserved",
                        f"accounts + insurance fund + fees + funding clearing - socialized loss hold {fmt_amount(held - social)} USDC, "
                        f"but deposits - withdrawals + treasury credits are {fmt_amount(inflow)} (off by {fmt_amount(held - social - inflow)})")]
    return []


def open_interest_balanced(engine: Engine) -> list[Failure]:
    out = []
    longs = dict.fromkeys(engine.markets, 0)
    shorts = dict.fromkeys(engine.markets, 0)
    for a in engine.accounts.values():
        for m, p in a.positions.items():
            if m not in longs:
                out.append(Failure("orders_consistent", f"{a.name} holds a position in unknown market {m}"))
                continue
            if p.size > 0:
                longs[m] += p.size
            else:
                shorts[m] -= p.size
    for m, mk in engine.markets.items():
        if longs[m] != shorts[m]:
            out.append(Failure("open_interest_balanced", f"{m}: long OI {fmt_size(longs[m])} != short OI {fmt_size(shorts[m])}", m))
        if (mk.long_oi, mk.short_oi) != (longs[m], shorts[m]):
            out.append(Failure("open_interest_balanced", f"{m}: recorded OI {fmt_size(mk.long_oi)}/{fmt_size(mk.short_oi)} "
                                                         f"differs from positions {fmt_size(longs[m])}/{fmt_size(shorts[m])}", m))
    return out


def book_not_crossed(engine: Engine) -> list[Failure]:
    out = []
    for m, mk in engine.markets.items():
        bid, ask = mk.book.best_bid(), mk.book.best_ask()
        if bid and ask and bid >= ask:
            out.append(Failure("book_not_crossed", f"{m}: best bid {fmt_price(bid)} >= best ask {fmt_price(ask)}", m))
    return out


def orders_consistent(engine: Engine) -> list[Failure]:
    out = []
    open_qty: dict[tuple[str, str], list[int]] = {}
    for oid, o in engine.orders.items():
        if o.account not in engine.accounts:
            out.append(Failure("orders_consistent", f"order {oid} belongs to unknown account {o.account}"))
            continue
        if o.market not in engine.markets:
            out.append(Failure("orders_consistent", f"order {oid} is in unknown market {o.market}"))
            continue
        if engine.accounts[o.account].orders.get(oid) is not o:
            out.append(Failure("orders_consistent", f"order {oid} is missing from {o.account}'s orders", o.market))
        if o.remaining <= 0:
            out.append(Failure("orders_consistent", f"order {oid} is live with nothing remaining", o.market))
        if o.order_type not in TRIGGERS:
            q = open_qty.setdefault((o.account, o.market), [0, 0])
            q[0 if o.side > 0 else 1] += o.remaining
    for a in engine.accounts.values():
        for m, p in a.positions.items():
            want = open_qty.get((a.name, m), [0, 0])
            if [p.open_buy, p.open_sell] != want:
                out.append(Failure("orders_consistent", f"{a.name} {m}: open quantity {p.open_buy}/{p.open_sell} != orders {want}",
                                   m if m in engine.markets else None))
    for m, mk in engine.markets.items():
        live = sum(1 for _ in mk.book.iter_orders())
        expect = sum(1 for o in engine.orders.values() if o.market == m and o.order_type not in TRIGGERS)
        if live != expect:
            out.append(Failure("orders_consistent", f"{m}: book holds {live} orders, registry {expect}", m))
    return out


def indices_bounded(engine: Engine) -> list[Failure]:
    out = []
    for m, mk in engine.markets.items():
        if not mk.index_price:
            continue
        if mk.mark_price <= 0:
            out.append(Failure("indices_bounded", f"{m}: mark price {fmt_price(mk.mark_price)} is not positive", m))
            continue
        cap = mk.index_price * mk.band // FRAC_SCALE
        if abs(mk.mark_price - mk.index_price) > cap:
            out.append(Failure("indices_bounded", f"{m}: mark {fmt_price(mk.mark_price)} is outside the band around index {fmt_price(mk.index_price)}", m))
        if abs(mk.funding_index) > FUNDING_BOUND_MULTIPLE * mk.index_price * 10**6:
            out.append(Failure("indices_bounded", f"{m}: funding index is beyond {FUNDING_BOUND_MULTIPLE}x the index price", m))
    return out


def solvency(engine: Engine) -> list[Failure]:
    """No account without positions holds negative cash; the insurance fund and the fee pool are never
    negative. (The funding pool is a clearing balance that may sit on either side of zero: not checked.)"""
    out = []
    broke = [a.name for a in engine.accounts.values()
             if a.cash < 0 and not any(p.size for p in a.positions.values())]
    if broke:
        broke.sort()
        out.append(Failure("solvency", f"{len(broke)} account(s) without positions hold negative cash: "
                                       f"{', '.join(broke[:5])}{' ...' if len(broke) > 5 else ''}"))
    if engine.insurance_fund < 0:
        out.append(Failure("solvency", f"the insurance fund is negative: {fmt_amount(engine.insurance_fund)} USDC"))
    if engine.fee_pool < 0:
        out.append(Failure("solvency", f"the fee pool is negative: {fmt_amount(engine.fee_pool)} USDC"))
    return out


CHECKS = {
    "money_conserved": money_conserved,
    "open_interest_balanced": open_interest_balanced,
    "book_not_crossed": book_not_crossed,
    "orders_consistent": orders_consistent,
    "indices_bounded": indices_bounded,
    "solvency": solvency,
}


def run_checks(engine: Engine, names: Iterable[str] | None = None) -> list[Failure]:
    out: list[Failure] = []
    for name, fn in CHECKS.items():
        if names is None or name in names:
            out.extend(fn(engine))
    return out
