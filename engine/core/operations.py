"""Incident operations: snapshots and rollback (edge flows re-applied), maintenance-window commands,
the withdrawals switch, account modes, cancelling an account's orders, credits (refunds) and funding
the insurance fund."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import liveorders, maintenance, snapshot
from .commands import MAX_TOTAL_IN, CommandError
from .fixedpoint import fmt_amount
from .margin import (
    account_margins,
)
from .model import (
    Account,
)
from .triggers import TRIGGER_TYPES

if TYPE_CHECKING:
    from .engine import Engine


def take_snapshot(eng: Engine, a: dict) -> None:
    """Handler of ``take_snapshot``: the state after this command, kept in the engine's library."""
    try:
        snap = snapshot.take(eng, a["label"], a["trigger"])
    except snapshot.StateEncodeError as e:  # (before any change: a clean refusal)
        raise CommandError("state_unencodable", str(e)) from None
    eng.snapshots[snap.snapshot_id] = snap
    eng.emit({"type": "snapshot_taken", "snapshot_id": snap.snapshot_id, "seq": snap.seq,
                "state_hash": snap.state_hash, "label": snap.label, "trigger": snap.trigger})


def rollback(eng: Engine, a: dict) -> None:
    """Handler of ``rollback``: restore a snapshot, re-apply the edge flows since, keep the operators' posture."""
    sid = a["snapshot_id"]
    snap = eng.snapshots.get(sid)
    if snap is None:
        raise CommandError("unknown_snapshot", f"there is no snapshot {sid!r}")
    try:
        state = snapshot.decode(snap.data, expect_hash=snap.state_hash)
    except snapshot.SnapshotError as e:
        raise CommandError("bad_snapshot", str(e)) from None
    # money that crossed the venue's edge after the snapshot (deposits, withdrawals, credits) is
    # re-applied, never rewound; refused (nothing changed) when that cannot be done exactly
    plan = snapshot.edge_plan(eng, state)
    if plan.code:
        raise CommandError(plan.code, plan.problem)
    kept = (eng.deposits, eng.withdrawals, eng.treasury_in, eng.fund_in, eng.fund_paid, eng.credits)
    # the operator's current posture (access, brake, modes, pauses) carries over:
    # rolling back must never reopen a venue by itself
    controls = snapshot.controls(eng)
    snapshot.restore(eng, state)
    restored_hash = snap.state_hash  # restored from bytes verified against this hash
    eng.emit({"type": "rolled_back", "snapshot_id": sid, "to_seq": snap.seq,
                "discarded_commands": eng.seq - snap.seq - 1, "state_hash": restored_hash,
                "operator": a["operator"], "reason": a["reason"]})
    reapply_edge(eng, plan, kept)
    for ev in snapshot.apply_controls(eng, controls):
        eng.emit(ev)
    if eng.brake_engaged:  # the brake's promise holds after a rollback too: no live non-TP/SL orders
        for o in sorted((o for o in eng.orders.values() if o.order_type not in TRIGGER_TYPES),
                        key=lambda o: o.id):
            liveorders.remove_order(eng, o, "brake")
    for name in sorted(eng.account_modes):  # and an account's mode's: restored orders it forbids go
        acct = eng.accounts.get(name)
        if acct is not None:
            cancel_for_mode(eng, acct, eng.account_modes[name])


def reapply_edge(eng: Engine, plan: snapshot.EdgePlan, kept: tuple) -> None:
    """After a restore: put back the money that crossed the edge since the snapshot (``plan``) and the
    running totals and paid-refund register as they were (``kept``)."""
    (eng.deposits, eng.withdrawals, eng.treasury_in, eng.fund_in, eng.fund_paid, eng.credits) = kept
    fund_before = eng.insurance_fund
    eng.insurance_fund = plan.fund_after + sum(plan.bad_debt.values())
    flows = []
    below_zero = []
    for name in sorted(plan.flows):
        acct = eng.accounts.get(name)
        if acct is None:  # opened after the snapshot: re-created with its money
            acct = eng.accounts[name] = Account(name)
        acct.flow = plan.flows[name]
        d = plan.deltas.get(name, 0)
        if d:
            acct.cash += d
            acct.mcache = None
            eng.liq_dirty.add(name)
            flows.append({"account": name, "amount": d})
    for name in sorted(plan.bad_debt):  # no positions left to liquidate: the fund covers the debt
        amt = plan.bad_debt[name]
        eng.accounts[name].cash += amt
        eng.insurance_fund -= amt
    for name in sorted(plan.deltas):
        acct = eng.accounts[name]
        if acct.positions and account_margins(acct, eng.markets)[0] < 0:
            below_zero.append(name)  # liquidated at the next evaluation (fund, then ADL)
    if flows or plan.bad_debt:
        eng.emit({"type": "edge_flows_reapplied", "flows": flows, "bad_debt": [
            {"account": n, "amount": plan.bad_debt[n]} for n in sorted(plan.bad_debt)],
            "accounts_below_zero": below_zero, "refunds_kept": len(eng.credits)})
    if eng.insurance_fund != fund_before:
        eng.emit({"type": "insurance_fund", "change": eng.insurance_fund - fund_before,
                    "balance": eng.insurance_fund, "reason": "rollback_edge_flows"})


def schedule_maintenance(eng: Engine, a: dict) -> None:
    """Handler of ``schedule_maintenance``: a new maintenance window (maintenance.py runs it)."""
    wid = a["window_id"]
    if wid in eng.maintenance:
        raise CommandError("window_exists", f"maintenance window {wid!r} already exists")
    for m in a["markets"]:
        eng.require_market(m)
    if a["start_ts"] < eng.now:
        raise CommandError("in_the_past", "start_ts is before the engine's current time")
    if a["duration_ms"] <= 0:
        raise CommandError("bad_value", "duration_ms must be positive")
    w = maintenance.new_window(a)
    eng.maintenance[wid] = w
    eng.emit({"type": "maintenance_scheduled", "window_id": wid, "markets": list(w["markets"]),
                "start_ts": w["start_ts"], "duration_ms": w["duration_ms"], "kind": w["kind"],
                "phase": "scheduled"})


def cancel_maintenance(eng: Engine, a: dict) -> None:
    """Handler of ``cancel_maintenance`` (maintenance.cancel)."""
    maintenance.cancel(eng, a)


def reschedule_maintenance(eng: Engine, a: dict) -> None:
    """Handler of ``reschedule_maintenance`` (maintenance.reschedule)."""
    maintenance.reschedule(eng, a)


def extend_maintenance(eng: Engine, a: dict) -> None:
    """Handler of ``extend_maintenance`` (maintenance.extend)."""
    maintenance.extend(eng, a)


def set_withdrawals(eng: Engine, a: dict) -> None:
    """Handler of ``set_withdrawals``: withdrawals on or off for everyone."""
    en = a["enabled"]
    if en == eng.withdrawals_enabled:
        raise CommandError("no_change", f"withdrawals are already {'enabled' if en else 'paused'}")
    eng.withdrawals_enabled = en
    eng.emit({"type": "withdrawals_set", "enabled": en, "operator": a["operator"], "reason": a["reason"]})


def cancel_for_mode(eng: Engine, acct: Account, mode: str) -> int:
    """Cancel the orders ``mode`` forbids: every order of a frozen account (TP/SL included), the
    orders of a reduce-only account that are not reduce-only (TP/SL always are: kept)."""
    if mode == "frozen":
        todo = sorted(acct.orders.values(), key=lambda o: o.id)
        why = "account_frozen"
    elif mode == "reduce_only":
        todo = sorted((o for o in acct.orders.values() if not o.reduce_only), key=lambda o: o.id)
        why = "account_reduce_only"
    else:
        return 0
    for o in todo:
        liveorders.remove_order(eng, o, why)
    return len(todo)


def set_account_mode(eng: Engine, a: dict) -> None:
    """Handler of ``set_account_mode``: normal, reduce_only or frozen; cancels the orders the mode forbids."""
    acct = eng.require_account(a["account"])
    mode = a["mode"]
    before = eng.account_modes.get(acct.name, "normal")
    if mode == before:
        raise CommandError("no_change", f"{acct.name} is already {mode}")
    if mode == "normal":
        del eng.account_modes[acct.name]
    else:
        eng.account_modes[acct.name] = mode
    n = cancel_for_mode(eng, acct, mode)
    eng.emit({"type": "account_mode_set", "account": acct.name, "mode": mode, "previous": before,
                "canceled_orders": n, "operator": a["operator"], "reason": a["reason"]})


def cancel_account_orders(eng: Engine, a: dict) -> None:
    """Handler of ``cancel_account_orders``: an operator cancels an account's orders (all markets, or one)."""
    acct = eng.require_account(a["account"])
    m = a["market"]
    if m is not None:
        eng.require_market(m)
    todo = sorted((o for o in acct.orders.values() if m is None or o.market == m), key=lambda o: o.id)
    if not todo:
        raise CommandError("no_orders", f"{acct.name} has no live orders" + (f" in {m}" if m else ""))
    for o in todo:
        liveorders.remove_order(eng, o, "operator")
    eng.emit({"type": "account_orders_canceled", "account": acct.name, "market": m, "canceled": len(todo),
                "operator": a["operator"], "reason": a["reason"]})


def credit(eng: Engine, a: dict) -> None:
    """Handler of ``credit``: pay a refund once (by refund_id) from the insurance fund or the treasury."""
    acct = eng.require_account(a["account"])
    rid = a["refund_id"]
    if rid in eng.credits:
        raise CommandError("already_paid", f"refund {rid!r} was already paid at seq {eng.credits[rid]['seq']}")
    amt = a["amount"]
    fund = a["fund"]
    if fund == "insurance":
        if eng.insurance_fund < amt:
            raise CommandError("insufficient_fund", f"the insurance fund holds {fmt_amount(eng.insurance_fund)} USDC, less than {fmt_amount(amt)}")
        eng.insurance_fund -= amt
        eng.fund_paid += amt
    else:
        if eng.treasury_in + amt > MAX_TOTAL_IN:
            raise CommandError("too_large", f"treasury inflows would total more than {fmt_amount(MAX_TOTAL_IN)} USDC")
        eng.treasury_in += amt
    acct.cash += amt
    acct.flow += amt
    acct.mcache = None
    eng.credits[rid] = {"account": acct.name, "amount": amt, "fund": fund, "seq": eng.seq}
    eng.emit({"type": "credited", "account": acct.name, "amount": amt, "refund_id": rid, "fund": fund,
                "operator": a["operator"], "reason": a["reason"]})
    if fund == "insurance":
        eng.emit({"type": "insurance_fund", "change": -amt, "balance": eng.insurance_fund, "reason": "refund"})
    eng.liq_dirty.add(acct.name)


def fund_insurance(eng: Engine, a: dict) -> None:
    """Handler of ``fund_insurance``: treasury money into the insurance fund."""
    amt = a["amount"]
    if eng.treasury_in + amt > MAX_TOTAL_IN:
        raise CommandError("too_large", f"treasury inflows would total more than {fmt_amount(MAX_TOTAL_IN)} USDC")
    eng.insurance_fund += amt
    eng.treasury_in += amt
    eng.fund_in += amt
    eng.emit({"type": "insurance_fund", "change": amt, "balance": eng.insurance_fund, "reason": "funded"})

