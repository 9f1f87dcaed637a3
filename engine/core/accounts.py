"""Account money at the edge of the venue: deposits and withdrawals (the withdrawal gates:
platform access, frozen accounts, paused withdrawals, negative equity anywhere, free collateral)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .commands import MAX_TOTAL_IN, CommandError
from .fixedpoint import fmt_amount
from .liqindex import y_long, y_short
from .margin import (
    account_value,
)
from .model import (
    Account,
)

if TYPE_CHECKING:
    from .engine import Engine


def deposit(eng: Engine, a: dict) -> None:
    """Handler of ``deposit``: credit an account (opened on its first deposit)."""
    eng.require_access()
    name = a["account"]
    if eng.account_modes:
        eng.refuse_frozen(name)
    amt = a["amount"]
    if eng.deposits + amt > MAX_TOTAL_IN:
        raise CommandError("too_large", f"deposits would total more than {fmt_amount(MAX_TOTAL_IN)} USDC, "
                                        "beyond what the venue's state holds")
    acct = eng.accounts.get(name)
    if acct is None:
        acct = eng.accounts[name] = Account(name)
    acct.cash += amt
    acct.flow += amt
    eng.deposits += amt
    acct.mcache = None
    eng.emit({"type": "deposited", "account": name, "amount": amt})
    eng.liq_dirty.add(name)


def withdraw(eng: Engine, a: dict) -> None:
    """Handler of ``withdraw``: pay out free collateral, behind the withdrawal gates."""
    eng.require_access()
    if not eng.withdrawals_enabled:
        raise CommandError("withdrawals_paused", "withdrawals are paused by the operators; deposits and "
                                                 "trading go on")
    acct = eng.require_account(a["account"])
    if eng.account_modes:
        eng.refuse_frozen(acct.name)
    amt = a["amount"]
    negative = negative_equity(eng)
    if negative:
        shown = ", ".join(negative[:5]) + (f" and {len(negative) - 5} more" if len(negative) > 5 else "")
        raise CommandError(
            "venue_insolvent",
            f"withdrawals are gated while any account has negative equity: {len(negative)} account(s) "
            f"below zero ({shown}); they wait for liquidation and the insurance fund",
        )
    value, im = eng.value_im(acct)
    free = value - im
    if amt > free:
        raise CommandError(
            "insufficient_margin",
            f"withdrawing {fmt_amount(amt)} USDC would breach initial margin; "
            f"free collateral is {fmt_amount(max(free, 0))} USDC",
        )
    acct.cash -= amt
    acct.flow -= amt
    eng.withdrawals += amt
    acct.mcache = None
    eng.emit({"type": "withdrawn", "account": acct.name, "amount": amt})
    eng.liq_dirty.add(acct.name)


def negative_equity(eng: Engine) -> list[str]:
    """Every account whose value is below zero, in name order, without a scan of all accounts.

    An account with positions and value < 0 is below maintenance, so the liquidation index
    holds it in one of three places: ``liq_dirty`` (changed since it was last indexed), the
    parked set (below maintenance in markets that do not liquidate now), or a heap entry
    whose threshold the current mark and funding index have crossed (a crossed entry's
    ancestors are crossed too, so they are found from the root without popping). Each of
    these suspects is then valued exactly. (Accounts without positions are not indexed: a
    negative cash balance there is uncovered bad debt, which the ``solvency`` check reports.)"""
    idx = eng.liq_index
    suspects: set[str] = set(idx.parked)
    suspects.update(eng.liq_dirty)
    for mk in eng.markets.values():
        if not mk.holders:
            continue
        _crossed(mk.liq_long, -y_long(mk), suspects)
        _crossed(mk.liq_short, y_short(mk), suspects)
    out: list[str] = []
    for name in sorted(suspects):
        a = eng.accounts.get(name)
        if a is not None and account_value(a, eng.markets) < 0:
            out.append(name)
    return out


def _crossed(heap: list[tuple[int, int, str, int]], bound: int, into: set[str]) -> None:
    """Names of the entries of a liquidation heap whose key is below ``bound`` (heap left as it is)."""
    stack = [0]
    n = len(heap)
    while stack:
        i = stack.pop()
        if i < n:
            e = heap[i]
            if e[0] < bound:
                into.add(e[2])
                stack.append(2 * i + 1)
                stack.append(2 * i + 2)

