"""Rollback preview: the fast preview (snapshot records compared with the live accounts, one
scratch restore) gives exactly what the plain computation over two restored engines gives."""

from __future__ import annotations

import orjson
from engine_helpers import ETH, one

from engine.analysis.rollback import preview
from engine.core import Engine, snapshot
from engine.core.margin import account_margins
from engine.tools.replay import replay_lines


def _reference_preview(engine: Engine, snapshot_id: str, tail: list[dict]) -> dict:
    """The straightforward algorithm: the "after" side is a copy of the engine that really rolls back
    (so the money that crossed the edge after the snapshot is re-applied, as the rollback does); what
    is undone comes from replaying the tail on the snapshot restored."""
    snap = engine.snapshots[snapshot_id]
    state = snapshot.decode(snap.data, expect_hash=snap.state_hash)

    def restored() -> Engine:
        e = Engine()
        e.snapshots = dict(engine.snapshots)
        snapshot.restore(e, snapshot.decode(snap.data, expect_hash=snap.state_hash))
        e.seq, e.now = snap.seq, snap.ts
        return e

    def summary(e: Engine) -> dict:
        out = {}
        for name, a in e.accounts.items():
            positions = {m: (p.size, p.cost) for m, p in a.positions.items() if p.size}
            out[name] = (a.cash + sum(p.cost for p in a.positions.values()), positions, len(a.orders), a.cash)
        return out

    def value(e: Engine, name: str) -> int:
        a = e.accounts.get(name)
        return account_margins(a, e.markets)[0] if a is not None else 0

    rolled = Engine()  # a copy of the live engine, rolled back for real
    snapshot.restore(rolled, snapshot.decode(snapshot.encode(engine)))
    rolled.snapshots = dict(engine.snapshots)
    rolled.seq, rolled.now = engine.seq, engine.now
    evs = rolled.apply_obj({"type": "rollback", "snapshot_id": snapshot_id, "operator": "x", "reason": "x"})
    flows_ev = next((ev for ev in evs if ev["type"] == "edge_flows_reapplied"), {"flows": [], "bad_debt": []})
    reapplied = {f["account"]: f["amount"] for f in flows_ev["flows"]}
    covered = {f["account"]: f["amount"] for f in flows_ev["bad_debt"]}
    after_eng = restored()
    after, now = summary(rolled), summary(engine)
    empty = (0, {}, 0, 0)
    changed = {n for n in set(now) | set(after) if now.get(n, empty) != after.get(n, empty)}
    trades: dict[str, int] = {}
    liqs: dict[str, int] = {}
    for cmd in tail:
        for ev in after_eng.apply_obj({k: v for k, v in cmd.items() if k != "seq"}):
            if ev["type"] == "trade":
                for k in ("maker_account", "taker_account"):
                    trades[ev[k]] = trades.get(ev[k], 0) + 1
            elif ev["type"] == "liquidation":
                liqs[ev["account"]] = liqs.get(ev["account"], 0) + 1
    rows = []
    for name in sorted(changed | set(trades) | set(liqs) | set(reapplied) | set(covered)):
        n, a = now.get(name, empty), after.get(name, empty)
        rows.append({
            "account": name, "collateral_now": n[0], "collateral_after": a[0],
            "edge_flow_reapplied": reapplied.get(name, 0), "bad_debt_covered": covered.get(name, 0),
            "value_now": value(engine, name), "value_after": value(rolled, name),
            "positions_now": {m: v[0] for m, v in n[1].items()}, "positions_after": {m: v[0] for m, v in a[1].items()},
            "orders_now": n[2], "orders_after": a[2],
            "trades_undone": trades.get(name, 0), "liquidations_undone": liqs.get(name, 0),
        })
    totals = {
        "accounts_affected": len(rows),
        "collateral_change": sum(r["collateral_after"] - r["collateral_now"] for r in rows),
        "value_change": sum(r["value_after"] - r["value_now"] for r in rows),
        "trades_undone": sum(trades.values()) // 2,
        "liquidations_undone": sum(liqs.values()),
        "orders_restored": max(0, sum(r["orders_after"] for r in rows) - sum(r["orders_now"] for r in rows)),
        "insurance_fund_now": engine.insurance_fund,
        "insurance_fund_after": rolled.insurance_fund,
        "edge_flows_reapplied": sum(reapplied.values()),
        "bad_debt_covered": sum(covered.values()),
    }
    assert state["accounts"] is not None
    return {
        "snapshot_id": snapshot_id, "to_seq": snap.seq, "label": snap.label, "state_hash": snap.state_hash,
        "discarded_commands": engine.seq - snap.seq,
        "tail_reproduces_current": snapshot.state_hash(after_eng) == snapshot.state_hash(engine),
        "refused": None,
        "accounts": rows, "totals": totals,
    }


def test_preview_of_a_simulated_incident_equals_the_plain_computation():
    from test_build_equivalence import _commands

    cmds = _commands()
    at = next(i for i, c in enumerate(cmds) if c["type"] == "take_snapshot")
    e = replay_lines([orjson.dumps(c) for c in cmds])
    (sid,) = e.snapshots
    tail = cmds[at + 1:]
    got = preview(e, sid, tail)
    assert got == _reference_preview(e, sid, tail)
    assert got["tail_reproduces_current"]
    assert got["totals"]["trades_undone"] > 0 and len(got["accounts"]) > 10


def test_preview_covers_new_closed_and_round_trip_accounts(venue):
    venue.open_position("alice", "bob", "1")
    venue.limit("carol", "buy", "2", "96000", client_order_id="c1")
    venue.limit("dave", "sell", "3", "3450", market=ETH)
    venue.trigger("alice", "stop_loss", "sell", "1", "90000")
    venue.deposit("hank", "1000")
    venue.limit("hank", "sell", "0.1", "3500", market=ETH, client_order_id="h1")
    sid = one(venue.op("take_snapshot", label="before"), "snapshot_taken")["snapshot_id"]
    start = len(venue.journal)
    venue.deposit("erin", "5000")  # an account the snapshot does not have
    venue.limit("erin", "buy", "0.01", "90000")
    venue.cancel("carol", client_order_id="c1")  # orders change, nothing else
    venue.withdraw("dave", "10")
    venue.cancel("hank", client_order_id="h1")  # only hank's orders change
    venue.open_position("alice", "bob", "1", price="97000")  # alice doubles, bob too
    venue.deposit("frank", "2000")  # a thin long, liquidated by the next mark
    venue.open_position("frank", "bob", "1")
    venue.limit("carol", "buy", "5", "95400")  # above frank's bankruptcy price (95,019.4)
    venue.oracle("95500")
    tail = venue.journal[start:]
    got = preview(venue.e, sid, tail)
    assert got == _reference_preview(venue.e, sid, tail)
    names = {r["account"] for r in got["accounts"]}
    assert {"erin", "carol", "dave", "alice", "bob", "frank", "hank"} <= names
    assert got["totals"]["liquidations_undone"] >= 1
    erin = next(r for r in got["accounts"] if r["account"] == "erin")
    # erin's deposit crossed the venue's edge after the snapshot: the rollback keeps it, her order goes
    assert erin["collateral_after"] == 5000 * 10**6 and erin["edge_flow_reapplied"] == 5000 * 10**6
    assert erin["orders_after"] == 0 and erin["orders_now"] == 1
    # a tail that does not reproduce the current state is reported as such, not hidden
    assert preview(venue.e, sid, tail[:-1])["tail_reproduces_current"] is False
    # nothing after the snapshot: nothing changes
    sid2 = one(venue.op("take_snapshot", label="now"), "snapshot_taken")["snapshot_id"]
    empty = preview(venue.e, sid2, [])
    assert empty["accounts"] == [] and empty["tail_reproduces_current"]
    assert empty == _reference_preview(venue.e, sid2, [])
