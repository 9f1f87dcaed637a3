"""Read-only views of the engine as plain data, for the console and scripts.

Everything here returns fresh dicts and lists of ints, strings and bools, never
engine objects, so a screen can keep what it gets without holding engine state.
Money and prices are integers at the engine's fixed-point scales
(``engine.core.fixedpoint``); format them with its ``fmt_*`` helpers.
"""

from __future__ import annotations

from ..core.checks import run_checks
from ..core.engine import FUNDING_INTERVAL_MS, Engine
from ..core.guards import guard_status as _guard_status
from ..core.margin import account_margins, funding_pnl


def status(engine) -> dict:
    return {
        "seq": engine.seq,
        "now": engine.now,
        "platform_access": engine.platform_access,
        "brake_engaged": engine.brake_engaged,
        "liquidations_paused": engine.liquidations_paused,
        "triggers_paused": engine.triggers_paused,
        "safeguards": engine.safeguards,
        "withdrawals_enabled": engine.withdrawals_enabled,
        "insurance_fund": engine.insurance_fund,
        "fee_pool": engine.fee_pool,
        "socialized_loss": engine.socialized_loss,
        "accounts": len(engine.accounts),
        "open_orders": len(engine.orders),
        "markets": len(engine.markets),
        "maintenance": [dict(w) for w in engine.maintenance.values()],
    }


def next_funding_ts(now: int) -> int:
    """When the funding interval holding ``now`` closes (intervals are whole hours of engine time)."""
    return now - now % FUNDING_INTERVAL_MS + FUNDING_INTERVAL_MS


def markets(engine) -> list[dict]:
    out = []
    next_ts = next_funding_ts(engine.now)
    for mk in engine.markets.values():
        b = mk.book
        out.append({
            "market": mk.name,
            "mode": mk.mode,
            "index_price": mk.index_price,
            "mark_price": mk.mark_price,
            "funding_rate": mk.funding_rate,
            "funding_index": mk.funding_index,
            # read-only: the rate the current interval's samples give so far (the last interval's average
            # while it has none) and when that interval closes; halted markets accrue nothing meanwhile
            "funding_rate_next": Engine.funding_rate_of(mk)[0],
            "next_funding_ts": next_ts,
            "open_interest": mk.long_oi,
            "open_orders": sum(lv.count for lv in b.bids.values()) + sum(lv.count for lv in b.asks.values()),
            "best_bid": b.best_bid(),
            "best_ask": b.best_ask(),
            "oracle_ts": mk.oracle_ts,
            # a guard flag (stale or refused oracle, tripped circuit breaker) pauses both on the market
            "liquidations_paused": mk.liquidations_paused or engine.liquidations_paused or bool(mk.flags),
            "triggers_paused": mk.triggers_paused or engine.triggers_paused or bool(mk.flags),
            "tick_size": mk.tick,
            "lot_size": mk.lot,
            "price_band": mk.band,
            "holders": len(mk.holders),
            "flags": sorted(mk.flags),
        })
    return out


def book(engine, market: str, levels: int = 10) -> dict:
    mk = engine.markets[market]
    return {"market": market, "bids": mk.book.depth(1, levels), "asks": mk.book.depth(-1, levels)}


def reopen_backlog(engine, market: str) -> dict:
    """Read-only, asked for by an operator before reopening a restricted market: what would fire at the
    current mark once liquidations and TP/SL triggers run there again. ``liquidatable``: accounts holding
    a position in the market whose value is at or below their maintenance margin (O(holders of the
    market)); ``triggers``: armed TP/SL orders of the market whose trigger price the mark has crossed
    (walks only the crossed part of the trigger heaps)."""
    mk = engine.markets[market]
    names = []
    for n in sorted(mk.holders):
        a = engine.accounts.get(n)
        if a is None:
            continue
        value, _im, mm = account_margins(a, engine.markets)
        if value <= mm:
            names.append(n)
    mark = mk.mark_price
    crossed: set[int] = set()
    _crossed_triggers(mk.trig_down, -mark, crossed)  # (-trigger, id): fires when mark <= trigger
    _crossed_triggers(mk.trig_up, mark, crossed)  # (trigger, id): fires when mark >= trigger
    live = sorted(oid for oid in crossed if oid in engine.orders and engine.orders[oid].remaining)
    return {"market": market, "mode": mk.mode, "mark_price": mark, "liquidatable": len(names),
            "accounts": names[:20], "triggers": len(live), "trigger_orders": live[:20]}


def _crossed_triggers(heap: list, bound: int, into: set) -> None:
    """Order ids of the heap entries whose key is at or below ``bound`` (a crossed entry's ancestors are
    crossed too, so they are found from the root; the heap is left as it is)."""
    stack = [0]
    n = len(heap)
    while stack:
        i = stack.pop()
        if i < n and heap[i][0] <= bound:
            into.add(heap[i][1])
            stack.append(2 * i + 1)
            stack.append(2 * i + 2)


def account(engine, name: str) -> dict | None:
    a = engine.accounts.get(name)
    if a is None:
        return None
    value, im, mm = account_margins(a, engine.markets)
    positions = []
    for m in sorted(a.positions):
        p = a.positions[m]
        mk = engine.markets[m]
        positions.append({
            "market": m, "size": p.size,
            "entry_price": abs(p.cost) * 10**8 // abs(p.size) if p.size else 0,
            "mark_price": mk.mark_price,
            "unrealized_pnl": p.size * mk.mark_price // 10**8 - p.cost,
            "funding_pnl": funding_pnl(p.size, mk.funding_index, p.funding_entry) if p.size else 0,
            "open_buy": p.open_buy, "open_sell": p.open_sell,
        })
    orders = [order(o) for o in sorted(a.orders.values(), key=lambda o: o.id)]
    return {
        "account": name,
        "cash": a.cash,
        "collateral": a.cash + sum(p.cost for p in a.positions.values()),
        "value": value,
        "initial_margin": im,
        "maintenance_margin": mm,
        "free_collateral": value - im,
        "margin_ratio_bps": (mm * 10_000 // value) if value > 0 else None,
        "mode": engine.account_modes.get(name, "normal"),
        "positions": positions,
        "orders": orders,
    }


def order(o) -> dict:
    return {"order_id": o.id, "account": o.account, "market": o.market, "side": "buy" if o.side > 0 else "sell",
            "order_type": o.order_type, "price": o.price, "trigger_price": o.trigger_price, "size": o.size,
            "remaining": o.remaining, "client_order_id": o.client_order_id, "reduce_only": o.reduce_only}


def accounts(engine, limit: int = 500, offset: int = 0, query: str = "") -> list[dict]:
    """Account summaries sorted by name (bounded: ``limit`` rows from ``offset``)."""
    names = sorted(n for n in engine.accounts if query in n) if query else sorted(engine.accounts)
    out = []
    for n in names[offset:offset + limit]:
        a = engine.accounts[n]
        value, im, mm = account_margins(a, engine.markets)
        out.append({"account": n, "value": value, "initial_margin": im, "maintenance_margin": mm,
                    "positions": sum(1 for p in a.positions.values() if p.size), "orders": len(a.orders)})
    return out


def accounts_by_risk(engine, limit: int = 300, below_maintenance: bool = False) -> list[dict]:
    """Read-only, for the console: accounts holding a position, riskiest first (maintenance margin over
    value, highest first; value <= 0 first of all); ``below_maintenance``: only those at or past it.
    O(accounts with a position): asked for only while an operator looks at it."""
    rows = []
    for n, a in engine.accounts.items():
        npos = sum(1 for p in a.positions.values() if p.size)
        if not npos:
            continue
        value, im, mm = account_margins(a, engine.markets)
        ratio = mm * 10_000 // value if value > 0 else None
        if below_maintenance and ratio is not None and ratio < 10_000:
            continue
        rows.append({"account": n, "value": value, "initial_margin": im, "maintenance_margin": mm,
                     "positions": npos, "orders": len(a.orders), "ratio_bps": ratio})
    rows.sort(key=lambda r: (r["ratio_bps"] is not None, -(r["ratio_bps"] or 0), r["value"], r["account"]))
    return rows[:limit]


def checks(engine) -> list[dict]:
    return [{"check": f.check, "detail": f.detail, "market": f.market} for f in run_checks(engine)]


def guard_status(engine) -> dict:
    """Per-market guard flags, breaker, pending oracle, quarantined writes, parameters; safeguards; last audit."""
    return _guard_status(engine)


def snapshots(engine) -> list[dict]:
    return [{"snapshot_id": s.snapshot_id, "seq": s.seq, "ts": s.ts, "label": s.label, "trigger": s.trigger,
             "state_hash": s.state_hash, "size_bytes": len(s.data)} for s in engine.snapshots.values()]
