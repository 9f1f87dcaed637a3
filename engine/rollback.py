"""Rollback preview: what restoring a snapshot would change, account by account.

The "after" state is the snapshot itself. What the rollback undoes (trades,
liquidations) is found by replaying the journal tail after the snapshot on a
scratch engine restored from it; as a self-check, that replay must land on the
current state hash (``tail_reproduces_current``).
"""

from __future__ import annotations

from . import snapshot
from .core import Engine
from .margin import account_margins
from .runtime import gc_paused


def restore_scratch(engine: Engine, snap) -> Engine:
    scratch = Engine()
    scratch.snapshots = dict(engine.snapshots)
    with gc_paused():
        snapshot.restore(scratch, snapshot.decode(snap.data, expect_hash=snap.state_hash))
    scratch.seq = snap.seq
    scratch.now = snap.ts
    return scratch


def _summary(eng: Engine) -> dict[str, tuple]:
    with gc_paused():
        return _summary_of(eng)


def _summary_of(eng: Engine) -> dict[str, tuple]:
    """Each account's ledger: (collateral, positions {market: (size, cost)}, live orders)."""
    out = {}
    for name, a in eng.accounts.items():
        collateral = a.cash
        positions = {}
        for m, p in a.positions.items():
            collateral += p.cost
            if p.size:
                positions[m] = (p.size, p.cost)
        out[name] = (collateral, positions, len(a.orders), a.cash)
    return out


def _value(eng: Engine, name: str) -> int:
    a = eng.accounts.get(name)
    return account_margins(a, eng.markets)[0] if a is not None else 0


def preview(engine: Engine, snapshot_id: str, tail: list[dict]) -> dict:
    """``tail``: the journaled command dicts with seq > the snapshot's seq, in order."""
    snap = engine.snapshots.get(snapshot_id)
    if snap is None:
        raise KeyError(f"there is no snapshot {snapshot_id!r}")
    after_eng = restore_scratch(engine, snap)
    after = _summary(after_eng)
    insurance_after = after_eng.insurance_fund
    now = _summary(engine)
    empty = (0, {}, 0, 0)
    changed = [name for name in sorted(set(now) | set(after)) if now.get(name, empty) != after.get(name, empty)]
    value_after = {name: _value(after_eng, name) for name in changed}  # at the snapshot's marks
    # replay the tail on the same scratch engine to learn what would be undone
    undo_eng = after_eng
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
    reproduces = snapshot.state_hash(undo_eng) == snapshot.state_hash(engine)
    rows = []
    extra = sorted((set(trades) | set(liqs)) - set(changed))  # traded and ended where it started
    if extra:
        again = restore_scratch(engine, snap)
        for name in extra:
            value_after[name] = _value(again, name)
    for name in sorted(set(changed) | set(extra)):  # other accounts: same ledger, only marks move
        n = now.get(name, empty)
        a = after.get(name, empty)
        rows.append({
            "account": name,
            "collateral_now": n[0], "collateral_after": a[0],
            "value_now": _value(engine, name), "value_after": value_after[name],
            "positions_now": {m: v[0] for m, v in n[1].items()},
            "positions_after": {m: v[0] for m, v in a[1].items()},
            "orders_now": n[2], "orders_after": a[2],
            "trades_undone": trades.get(name, 0),
            "liquidations_undone": liqs.get(name, 0),
        })
    totals = {
        "accounts_affected": len(rows),
        "collateral_change": sum(r["collateral_after"] - r["collateral_now"] for r in rows),
        "value_change": sum(r["value_after"] - r["value_now"] for r in rows),
        "trades_undone": sum(trades.values()) // 2,
        "liquidations_undone": sum(liqs.values()),
        "orders_restored": max(0, sum(r["orders_after"] for r in rows) - sum(r["orders_now"] for r in rows)),
        "insurance_fund_now": engine.insurance_fund,
        "insurance_fund_after": insurance_after,
    }
    return {
        "snapshot_id": snapshot_id,
        "to_seq": snap.seq,
        "label": snap.label,
        "state_hash": snap.state_hash,
        "discarded_commands": engine.seq - snap.seq,
        "tail_reproduces_current": reproduces,
        "accounts": rows,
        "totals": totals,
    }
