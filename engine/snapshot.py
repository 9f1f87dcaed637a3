"""Canonical state, its hash, snapshots and restore.

The canonical encoding is JSON (sorted keys, no whitespace, integers only for
money, prices and sizes) with a ``format`` and ``version``; it is never
pickled. ``state_hash`` is SHA-256 of exactly those bytes. The journal's
position (``seq``) and the engine clock are not part of it, so a rollback
restores a snapshot's hash exactly.

Derived indexes (books, trigger heaps, liquidation index, client order ids,
open quantities) are rebuilt on restore from the canonical records: resting
orders are re-added in id order, which is their time priority.
"""

from __future__ import annotations

import hashlib

import orjson

from .book import Order
from .model import Account, Market, Position
from .runtime import gc_paused

FORMAT = "perpdesk-state"
VERSION = 2  # 2: guard rails (safeguards, audit, per-market guard parameters, flags, pending oracle)
READABLE = (1, 2)  # a version-1 state predates the guard rails: it restores with safeguards off


class SnapshotError(Exception):
    """A snapshot that cannot be trusted: corrupt, truncated, wrong hash or version."""


class Snapshot:
    __slots__ = ("snapshot_id", "seq", "ts", "label", "trigger", "state_hash", "data", "markets")

    def __init__(self, snapshot_id, seq, ts, label, trigger, state_hash, data, markets=None) -> None:
        self.snapshot_id = snapshot_id
        self.seq = seq
        self.ts = ts
        self.label = label
        self.trigger = trigger
        self.state_hash = state_hash
        self.data = data
        # market -> (mark, index, funding index) at the snapshot; from ``data`` on first use if not given
        self.markets = markets


def market_summary(snap: Snapshot) -> dict:
    """Each market's (mark price, index price, funding index) in the snapshot (decoded once, then kept)."""
    if snap.markets is None:
        try:
            state = decode(snap.data, expect_hash=None)
            snap.markets = {row[0]: (row[12], row[11], row[13]) for row in state["markets"]}
        except (SnapshotError, KeyError, TypeError, IndexError):
            snap.markets = {}
    return snap.markets


def canonical(engine) -> dict:
    markets = [
        [mk.name, mk.tick, mk.lot, mk.imf, mk.mmf, mk.maker_fee, mk.taker_fee, mk.liq_fee, mk.band,
         mk.post_only_band, mk.mode, mk.index_price, mk.mark_price, mk.funding_index, mk.funding_rate,
         mk.last_funding_ts, mk.oracle_ts, mk.long_oi, mk.short_oi, mk.liquidations_paused, mk.triggers_paused,
         mk.oracle_band, mk.oracle_stale_ms, mk.breaker_accounts, mk.breaker_oi_share, mk.flags, mk.oracle_pending,
         mk.quarantined]
        for mk in engine.markets.values()
    ]
    accounts = {}
    for name, a in engine.accounts.items():
        accounts[name] = [a.cash, {m: [p.size, p.cost, p.funding_entry] for m, p in a.positions.items() if p.size}]
    orders = [
        [o.id, o.account, o.market, o.side, o.order_type, o.price, o.size, o.remaining, o.tif, o.post_only,
         o.reduce_only, o.client_order_id, o.trigger_price, o.ts]
        for o in sorted(engine.orders.values(), key=_order_id)
    ]
    return {
        "format": FORMAT,
        "version": VERSION,
        "markets": markets,
        "accounts": accounts,
        "orders": orders,
        "next_order_id": engine.next_order_id,
        "insurance_fund": engine.insurance_fund,
        "fee_pool": engine.fee_pool,
        "funding_pool": engine.funding_pool,
        "deposits": engine.deposits,
        "withdrawals": engine.withdrawals,
        "treasury_in": engine.treasury_in,
        "platform_access": engine.platform_access,
        "brake_engaged": engine.brake_engaged,
        "liquidations_paused": engine.liquidations_paused,
        "triggers_paused": engine.triggers_paused,
        "pre_brake_pauses": engine.pre_brake_pauses,
        "credits": engine.credits,
        "maintenance": engine.maintenance,
        "safeguards": engine.safeguards,
        "audit": engine.audit,
    }


def _order_id(o) -> int:
    return o.id


def encode(engine) -> bytes:
    with gc_paused():
        return orjson.dumps(canonical(engine), option=orjson.OPT_SORT_KEYS)


def hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def state_hash(engine) -> str:
    return hash_bytes(encode(engine))


def take(engine, label: str, trigger: str) -> Snapshot:
    data = encode(engine)
    summary = {m: (mk.mark_price, mk.index_price, mk.funding_index) for m, mk in engine.markets.items()}
    return Snapshot(f"snap-{engine.seq}", engine.seq, engine.now, label, trigger, hash_bytes(data), data, summary)


def decode(data: bytes, expect_hash: str | None = None) -> dict:
    if expect_hash is not None and hash_bytes(data) != expect_hash:
        raise SnapshotError("snapshot bytes do not match their recorded SHA-256: it is corrupt or truncated")
    try:
        with gc_paused():
            state = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise SnapshotError(f"snapshot is not valid JSON (corrupt or truncated): {e}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise SnapshotError("not a perpdesk state snapshot")
    if state.get("version") not in READABLE:
        raise SnapshotError(f"snapshot version {state.get('version')!r} is not supported "
                            f"(this build reads {', '.join(map(str, READABLE))})")
    return state


def restore(engine, state: dict) -> None:
    """Replace ``engine``'s state with ``state`` (from :func:`decode`) and rebuild indexes."""
    with gc_paused():
        _restore(engine, state)


def _restore(engine, state: dict) -> None:
    from .liqindex import LiquidationIndex

    try:
        markets: dict[str, Market] = {}
        v1 = state["version"] == 1
        for row in state["markets"]:
            (name, tick, lot, imf, mmf, maker, taker, liq, band, pob, mode, index, mark, fidx, rate,
             lfts, ots, loi, soi, lpaused, tpaused) = row[:21]
            mk = Market(name, tick, lot, imf, mmf, maker, taker, liq, band, pob)
            mk.mode = mode
            mk.index_price, mk.mark_price, mk.funding_index, mk.funding_rate = index, mark, fidx, rate
            mk.last_funding_ts, mk.oracle_ts, mk.long_oi, mk.short_oi = lfts, ots, loi, soi
            mk.liquidations_paused, mk.triggers_paused = lpaused, tpaused
            if not v1:
                (mk.oracle_band, mk.oracle_stale_ms, mk.breaker_accounts, mk.breaker_oi_share, flags, pending,
                 mk.quarantined) = row[21:]
                mk.flags = dict(flags)
                mk.oracle_pending = list(pending) if pending is not None else None
            markets[name] = mk
        accounts: dict[str, Account] = {}
        for name, (cash, positions) in state["accounts"].items():
            a = Account(name)
            a.cash = cash
            for m, (size, cost, fentry) in positions.items():
                p = Position(fentry)
                p.size, p.cost = size, cost
                a.positions[m] = p
                markets[m].holders.add(name)
            accounts[name] = a
        orders: list[Order] = []
        for (oid, acct, market, side, otype, price, size, remaining, tif, po, ro, coid, trig, ts) in state["orders"]:
            if acct not in accounts:
                raise KeyError(acct)
            if market not in markets:
                raise KeyError(market)
            o = Order(oid, acct, side, price, size, market, otype, tif, po, ro, coid, trig, ts)
            o.remaining = remaining
            orders.append(o)
        scalars = {k: state[k] for k in (
            "next_order_id", "insurance_fund", "fee_pool", "funding_pool", "deposits", "withdrawals",
            "treasury_in", "platform_access", "brake_engaged", "liquidations_paused", "triggers_paused",
            "credits", "maintenance")}
        scalars["pre_brake_pauses"] = state.get("pre_brake_pauses")
        # a version-1 state predates the guard rails: it carries on as it was, without them
        scalars["safeguards"] = False if v1 else bool(state["safeguards"])
        audit = state.get("audit") or [-1, []]
        scalars["audit"] = [audit[0], [list(f) for f in audit[1]]]
    except (KeyError, TypeError, ValueError) as e:
        raise SnapshotError(f"snapshot is missing or has malformed records: {e!r}") from None
    engine.markets = markets
    engine.accounts = accounts
    engine.orders = {}
    engine.coids = {}
    for k, v in scalars.items():
        setattr(engine, k, v)
    _rest_all(engine, accounts, markets, orders)
    engine.liq_index = LiquidationIndex()
    engine.liq_dirty = set()
    engine.mark_epoch += 1
    engine.liq_index.reindex_all([a for _n, a in sorted(accounts.items()) if a.positions], markets)


def _rest_all(engine, accounts: dict[str, Account], markets: dict[str, Market], orders: list[Order]) -> None:
    """``engine._rest`` / ``engine._rest_trigger`` for every order (in id order, their time
    priority), with each market's book loaded in one go instead of an insert per order.
    Leaves the very same registries, quantities, books and trigger heaps (a test pins it)."""
    eng_orders: dict[int, Order] = engine.orders
    coids: dict[tuple[str, str], int] = engine.coids
    book_orders: dict[str, list[Order]] = {m: [] for m in markets}
    for o in orders:
        acct = accounts[o.account]  # type: ignore[index]  # restored orders always have an account
        mk = markets[o.market]
        if o.order_type == "stop_loss" or o.order_type == "take_profit":
            engine._rest_trigger(acct, mk, o)
            continue
        book_orders[o.market].append(o)
        pos = acct.positions.get(mk.name)
        if pos is None:
            pos = acct.positions[mk.name] = Position(mk.funding_index)
        if o.side > 0:
            pos.open_buy += o.remaining
        else:
            pos.open_sell += o.remaining
        if o.reduce_only:
            pos.reduce_orders += 1
        oid = o.id
        eng_orders[oid] = o
        acct.orders[oid] = o
        coid = o.client_order_id
        if coid is not None:
            coids[(acct.name, coid)] = oid
    for m, lst in book_orders.items():
        if lst:
            markets[m].book.load(lst)


def controls(engine) -> dict:
    return {
        "platform_access": engine.platform_access,
        "brake_engaged": engine.brake_engaged,
        "liquidations_paused": engine.liquidations_paused,
        "triggers_paused": engine.triggers_paused,
        "pre_brake_pauses": engine.pre_brake_pauses,
        # the maintenance schedule is the operators' too: a restored window must not run again and reopen
        "maintenance": orjson.loads(orjson.dumps(engine.maintenance)),
        "safeguards": engine.safeguards,
        "markets": {m: (mk.mode, mk.liquidations_paused, mk.triggers_paused, dict(mk.flags),
                        (mk.post_only_band, mk.oracle_band, mk.oracle_stale_ms, mk.breaker_accounts, mk.breaker_oi_share))
                    for m, mk in engine.markets.items()},
    }


def apply_controls(engine, c: dict) -> list[dict]:
    """Put back an operator posture after a restore; returns the events for what changed."""
    events = []
    if engine.platform_access != c["platform_access"]:
        engine.platform_access = c["platform_access"]
        events.append({"type": "platform_access", "enabled": engine.platform_access})
    engine.brake_engaged = c["brake_engaged"]
    engine.pre_brake_pauses = c["pre_brake_pauses"]
    for flag, on_ev, off_ev in (("liquidations_paused", "liquidations_paused", "liquidations_resumed"),
                                ("triggers_paused", "triggers_paused", "triggers_resumed")):
        if getattr(engine, flag) != c[flag]:
            setattr(engine, flag, c[flag])
            events.append({"type": on_ev if c[flag] else off_ev, "market": None})
    if engine.safeguards != c["safeguards"]:
        engine.safeguards = c["safeguards"]
        events.append({"type": "safeguards_set", "enabled": engine.safeguards})
    for m, (mode, lp, tp, flags, params) in c["markets"].items():
        mk = engine.markets.get(m)
        if mk is None:
            continue
        if mk.mode != mode:
            mk.mode = mode
            events.append({"type": "market_mode", "market": m, "mode": mode})
        mk.liquidations_paused = lp
        mk.triggers_paused = tp
        # guard flags are posture too: a rollback never clears a flag (or a tripped breaker) by itself
        for f in sorted(mk.flags):
            if f not in flags:
                events.append({"type": "market_unflagged", "market": m, "flag": f})
        for f in sorted(flags):
            if mk.flags.get(f) != flags[f]:
                events.append({"type": "market_flagged", "market": m, "flag": f, "detail": flags[f]})
        mk.flags = dict(flags)
        (mk.post_only_band, mk.oracle_band, mk.oracle_stale_ms, mk.breaker_accounts, mk.breaker_oi_share) = params
    if "maintenance" in c:
        engine.maintenance = c["maintenance"]
    return events
