"""Rollback preview: what restoring a snapshot would change, account by account.

The "after" state is the snapshot itself: its decoded records are compared with
the live engine's accounts directly (no second engine is built for that). What
the rollback undoes (trades, liquidations) is found by replaying the journal
tail after the snapshot on a scratch engine restored from it; as a self-check,
that replay must land on the current state (``tail_reproduces_current``: the
same canonical state, so the same state hash, compared record by record).
Values "after" are at the snapshot's marks, computed for the listed accounts only.
"""

from __future__ import annotations

from ..core import snapshot
from ..core.engine import Engine
from ..core.margin import account_margins
from ..core.runtime import gc_paused

_EMPTY = (0, {}, 0, 0)


def restore_scratch(engine: Engine, snap, state: dict | None = None) -> Engine:
    """A scratch engine restored from ``snap`` (``state``: its records, when already decoded)."""
    scratch = Engine()
    scratch.snapshots = dict(engine.snapshots)
    with gc_paused():
        if state is None:
            state = snapshot.decode(snap.data, expect_hash=snap.state_hash)
        snapshot.restore(scratch, state)
    scratch.seq = snap.seq
    scratch.now = snap.ts
    return scratch


def _summary_now(a) -> tuple:
    """An account's ledger: (collateral, positions {market: (size, cost)}, live orders, cash)."""
    collateral = a.cash
    positions = {}
    for m, p in a.positions.items():
        collateral += p.cost
        if p.size:
            positions[m] = (p.size, p.cost)
    return (collateral, positions, len(a.orders), a.cash)


def _summary(eng: Engine) -> dict[str, tuple]:
    """Every account's ledger (see :func:`_summary_now`)."""
    with gc_paused():
        return {name: _summary_now(a) for name, a in eng.accounts.items()}


def _summary_after(row, n_orders: int) -> tuple:
    """The same ledger from a snapshot's account record ``[cash, {market: [size, cost, entry]}]``
    (a snapshot keeps only non-zero positions; a restore adds only empty ones, at cost 0)."""
    cash = row[0]
    positions = row[1]
    collateral = cash
    out = {}
    for m, (size, cost, _entry) in positions.items():
        collateral += cost
        out[m] = (size, cost)
    return (collateral, out, n_orders, cash)


def _changed(engine: Engine, rows: dict, n_orders: dict[str, int]) -> list[str]:
    """Accounts whose ledger differs between the live engine and the snapshot's records."""
    changed = []
    # the common case (untouched since the snapshot) is sifted out by a compiled quick check;
    # anything else is decided by comparing the full ledgers
    for name in snapshot.ledger_candidates(engine.accounts, rows, n_orders):
        row = rows.get(name)
        after = _summary_after(row, n_orders.get(name, 0)) if row is not None else _EMPTY
        if _summary_now(engine.accounts[name]) != after:
            changed.append(name)
    accounts = engine.accounts
    for name, row in rows.items():
        if name not in accounts and _summary_after(row, n_orders.get(name, 0)) != _EMPTY:
            changed.append(name)
    changed.sort()
    return changed


def _values_at_snapshot(state: dict, names: list[str], extra: dict[str, int] | None = None) -> dict[str, int]:
    """Account value of ``names`` in the snapshot (at its marks), from a restore of just them, with
    ``extra`` cash (the edge flows a rollback re-applies) added."""
    rows = state["accounts"]
    mini = Engine()
    snapshot.restore(mini, {**state, "accounts": {n: rows[n] for n in names if n in rows}, "orders": []})
    out = {n: _value(mini, n) for n in names}
    for n, d in (extra or {}).items():
        if n in out:
            out[n] += d
    return out


def _value(eng: Engine, name: str) -> int:
    a = eng.accounts.get(name)
    return account_margins(a, eng.markets)[0] if a is not None else 0


def preview(engine: Engine, snapshot_id: str, tail: list[dict]) -> dict:
    """``tail``: the journaled command dicts with seq > the snapshot's seq, in order."""
    snap = engine.snapshots.get(snapshot_id)
    if snap is None:
        raise KeyError(f"there is no snapshot {snapshot_id!r}")
    with gc_paused():
        return _preview(engine, snapshot_id, snap, tail)


def _preview(engine: Engine, snapshot_id: str, snap, tail: list[dict]) -> dict:
    state = snapshot.decode(snap.data, expect_hash=snap.state_hash)
    rows = state["accounts"]
    n_orders: dict[str, int] = {}
    for o in state["orders"]:
        n_orders[o[1]] = n_orders.get(o[1], 0) + 1
    changed = _changed(engine, rows, n_orders)
    plan = snapshot.edge_plan(engine, state)  # the money that crossed the edge after it stays
    extra = {n: plan.deltas.get(n, 0) + plan.bad_debt.get(n, 0) for n in set(plan.deltas) | set(plan.bad_debt)}
    insurance_after = plan.fund_after if not plan.code else state["insurance_fund"]
    # replay the tail on a scratch engine restored from the snapshot to learn what would be undone
    undo_eng = restore_scratch(engine, snap, state)
    trades: dict[str, int] = {}
    liqs: dict[str, int] = {}
    for cmd in tail:
        for ev in undo_eng.apply_obj({k: v for k, v in cmd.items() if k != "seq"}):
            t = ev["type"]
            if t == "trade":
                trades[ev["maker_account"]] = trades.get(ev["maker_account"], 0) + 1
                trades[ev["taker_account"]] = trades.get(ev["taker_account"], 0) + 1
            elif t == "liquidation":
                liqs[ev["account"]] = liqs.get(ev["account"], 0) + 1
    reproduces = snapshot.same_state(undo_eng, engine)  # equal state hashes, without encoding both
    del undo_eng
    # other accounts: same ledger, only marks move; traded ones are listed even if they ended
    # where they started
    listed = sorted(set(changed) | set(trades) | set(liqs) | set(extra))
    value_after = _values_at_snapshot(state, listed, extra)
    rows_out = []
    for name in listed:
        a_now = engine.accounts.get(name)
        n = _summary_now(a_now) if a_now is not None else _EMPTY
        row = rows.get(name)
        a = _summary_after(row, n_orders.get(name, 0)) if row is not None else _EMPTY
        rows_out.append({
            "account": name,
            "collateral_now": n[0], "collateral_after": a[0] + extra.get(name, 0),
            "edge_flow_reapplied": plan.deltas.get(name, 0),
            "bad_debt_covered": plan.bad_debt.get(name, 0),
            "value_now": _value(engine, name), "value_after": value_after[name],
            "positions_now": {m: v[0] for m, v in n[1].items()},
            "positions_after": {m: v[0] for m, v in a[1].items()},
            "orders_now": n[2], "orders_after": a[2],
            "trades_undone": trades.get(name, 0),
            "liquidations_undone": liqs.get(name, 0),
        })
    totals = {
        "accounts_affected": len(rows_out),
        "collateral_change": sum(r["collateral_after"] - r["collateral_now"] for r in rows_out),
        "value_change": sum(r["value_after"] - r["value_now"] for r in rows_out),
        "trades_undone": sum(trades.values()) // 2,
        "liquidations_undone": sum(liqs.values()),
        "orders_restored": max(0, sum(r["orders_after"] for r in rows_out) - sum(r["orders_now"] for r in rows_out)),
        "insurance_fund_now": engine.insurance_fund,
        "insurance_fund_after": insurance_after,
        "edge_flows_reapplied": sum(plan.deltas.values()),
        "bad_debt_covered": sum(plan.bad_debt.values()),
    }
    return {
        "snapshot_id": snapshot_id,
        "to_seq": snap.seq,
        "label": snap.label,
        "state_hash": snap.state_hash,
        "discarded_commands": engine.seq - snap.seq,
        "tail_reproduces_current": reproduces,
        # non-empty: the rollback would be refused with this code and reason (nothing re-applied)
        "refused": {"code": plan.code, "message": plan.problem} if plan.code else None,
        "accounts": rows_out,
        "totals": totals,
    }
