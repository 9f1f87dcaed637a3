"""Snapshots, rollback, restore into a fresh engine, and refusal of corrupt snapshots."""

from __future__ import annotations

import orjson
import pytest
from engine_helpers import BTC, ETH, Venue, of_type, one, rejected_code, types

from engine.core import Engine, liveorders
from engine.core.snapshot import (
    FORMAT,
    VERSION,
    SnapshotError,
    decode,
    encode,
    restore,
    same_state,
    state_hash,
)


def activity(v: Venue) -> None:
    v.open_position("alice", "bob", "1")
    v.limit("carol", "buy", "2", "96000", client_order_id="c1")
    v.limit("dave", "sell", "3", "3450", market=ETH)
    v.trigger("alice", "stop_loss", "sell", "1", "90000")
    v.oracle("97100")
    v.tick(60_000)


def test_snapshot_then_rollback_restores_the_hash(venue):
    activity(venue)
    evs = venue.op("take_snapshot", label="before")
    snap = one(evs, "snapshot_taken")
    assert snap["state_hash"] == venue.hash()
    sid, snap_seq = snap["snapshot_id"], snap["seq"]
    dave_cash = venue.cash("dave")
    # more commands
    venue.limit("bob", "sell", "2", "96000")
    venue.withdraw("dave", "10")
    venue.cancel("carol", client_order_id="c1")
    venue.oracle("96000")
    venue.tick(3_600_000)
    assert venue.hash() != snap["state_hash"]
    seq_before = venue.e.seq
    evs = venue.op("rollback", snapshot_id=sid)
    rb = one(evs, "rolled_back")
    assert rb["to_seq"] == snap_seq and rb["discarded_commands"] == seq_before - snap_seq
    assert rb["state_hash"] == snap["state_hash"]
    # dave's withdrawal crossed the venue's edge after the snapshot: it is re-applied, never rewound
    # (before the edge flows, the rollback gave him his 10 USDC back a second time)
    assert types(evs) == ["rolled_back", "edge_flows_reapplied"]  # controls did not change: no posture events
    assert one(evs, "edge_flows_reapplied")["flows"] == [{"account": "dave", "amount": -10 * 10**6}]
    assert venue.e.withdrawals == 10 * 10**6
    assert venue.cash("dave") == dave_cash - 10 * 10**6
    assert venue.checks() == []
    # the restored engine works: the client order id is live again, books and triggers are back
    assert rejected_code(venue.limit("carol", "buy", "1", "95000", client_order_id="c1")) == "duplicate_client_order_id"
    assert one(venue.cancel("carol", client_order_id="c1"), "order_canceled")
    assert of_type(venue.shock("89000"), "order_triggered")
    assert venue.checks() == []


def test_rollback_keeps_the_operator_posture_while_braked(venue):
    activity(venue)
    sid = one(venue.op("take_snapshot", label="open"), "snapshot_taken")["snapshot_id"]
    venue.op("emergency_brake")
    evs = venue.op("rollback", snapshot_id=sid)
    # access, brake, modes and pauses of *now* carry over: a rollback never reopens the venue
    e = venue.e
    assert e.brake_engaged and not e.platform_access and e.liquidations_paused and e.triggers_paused
    assert all(mk.mode == "halted" for mk in e.markets.values())
    evs_types = types(evs)
    assert evs_types[0] == "rolled_back"
    assert "platform_access" in evs_types and "market_mode" in evs_types
    # the brake's promise holds after the rollback too: the snapshot's resting orders come back canceled
    assert "order_canceled" in evs_types
    assert {ev["reason"] for ev in of_type(evs, "order_canceled")} == {"brake"}
    assert all(o.order_type in ("stop_loss", "take_profit") for o in e.orders.values())
    assert rejected_code(venue.limit("alice", "buy", "1", "96000")) == "access_disabled"
    assert not of_type(venue.oracle("85000"), "order_triggered")
    assert venue.checks() == []


def test_rollback_with_unchanged_controls_equals_snapshot_after_mode_round_trip(venue):
    sid = one(venue.op("take_snapshot", label="x"), "snapshot_taken")["snapshot_id"]
    h = venue.hash()
    venue.op("set_market_mode", market=BTC, mode="post_only")
    venue.op("set_market_mode", market=BTC, mode="open")
    venue.op("rollback", snapshot_id=sid)
    assert venue.hash() == h


def test_rollback_unknown_or_tampered_snapshot_is_refused(venue):
    activity(venue)
    sid = one(venue.op("take_snapshot", label="x"), "snapshot_taken")["snapshot_id"]
    venue.limit("bob", "sell", "1", "96000")
    h = venue.hash()
    assert rejected_code(venue.op("rollback", snapshot_id="snap-999999")) == "unknown_snapshot"
    snap = venue.e.snapshots[sid]
    snap.data = snap.data[:-10]
    assert rejected_code(venue.op("rollback", snapshot_id=sid)) == "bad_snapshot"
    assert venue.hash() == h


def test_restore_into_fresh_engine_and_continue_identically(venue):
    activity(venue)
    data = encode(venue.e)
    other = Engine()
    restore(other, decode(data, expect_hash=venue.hash()))
    assert state_hash(other) == venue.hash()
    other.seq, other.now = venue.e.seq, venue.e.now
    cont = [
        {"type": "place_order", "ts": venue.ts + 1, "account": "bob", "market": BTC, "side": "sell",
         "size": "3", "price": "96000"},
        {"type": "oracle_price", "ts": venue.ts + 2, "market": BTC, "price": "89500"},
        {"type": "tick", "ts": venue.ts + 3_600_000},
        {"type": "cancel_all", "ts": venue.ts + 3_600_001, "account": "dave"},
    ]
    for c in cont:
        assert venue.e.apply_obj(c) == other.apply_obj(c)
        assert venue.hash() == state_hash(other)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b[: len(b) // 2],  # truncated
        lambda b: b[:-1],
        lambda b: b"",
        lambda b: b"\x00\xff garbage",
        lambda b: b.replace(b'"format"', b'"f0rmat"'),
        lambda b: b.replace(FORMAT.encode(), b"other-format"),
        lambda b: b.replace(b'"version":%d' % orjson.loads(b)["version"], b'"version":99'),
        lambda b: b"[1,2,3]",
    ],
)
def test_decode_refuses_corrupt_snapshots(venue, mangle):
    activity(venue)
    data = mangle(encode(venue.e))
    with pytest.raises(SnapshotError):
        decode(data)


def test_decode_refuses_bytes_that_do_not_match_their_hash(venue):
    activity(venue)
    data = encode(venue.e)
    h = venue.hash()
    flipped = data.replace(b'"insurance_fund":0', b'"insurance_fund":1')
    assert flipped != data
    decode(flipped)  # well-formed ...
    with pytest.raises(SnapshotError):
        decode(flipped, expect_hash=h)  # ... but not what was recorded


@pytest.mark.parametrize("field", ["markets", "accounts", "orders", "next_order_id"])
def test_restore_refuses_malformed_records(venue, field):
    activity(venue)
    state = orjson.loads(encode(venue.e))
    del state[field]
    with pytest.raises(SnapshotError):
        restore(Engine(), state)


def test_restore_refuses_malformed_order_rows_without_touching_the_engine(venue):
    activity(venue)
    state = orjson.loads(encode(venue.e))
    state["orders"][0] = state["orders"][0][:5]
    target = Venue.default()
    h = target.hash()
    with pytest.raises(SnapshotError):
        restore(target.e, state)
    assert target.hash() == h


def test_snapshot_encoding_is_json_not_pickle(venue):
    activity(venue)
    data = encode(venue.e)
    obj = orjson.loads(data)
    # version 3 only when a version-3 field holds something (snapshot._scalars); else byte for byte version 2
    assert obj["format"] == FORMAT and obj["version"] == (VERSION if "socialized_loss" in obj else 2)
    assert data == orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)  # canonical: sorted, compact


# ---- the bulk restore rebuilds exactly what resting the orders one by one does ------------------

def _derived(e: Engine) -> dict:
    """Every index a restore rebuilds, as plain data (heaps as sorted lists: a heap's layout
    does not change what it pops)."""
    def levels(side: dict) -> dict:
        return {p: ([(o.id, o.remaining) for o in lv.orders], lv.qty, lv.count) for p, lv in side.items()}

    return {
        "orders": sorted(e.orders),
        "coids": sorted(e.coids.items()),
        "accounts": {
            n: (a.liq_version, sorted(a.orders),
                {m: (p.size, p.cost, p.funding_entry, p.open_buy, p.open_sell, p.reduce_orders)
                 for m, p in a.positions.items()})
            for n, a in e.accounts.items()},
        "markets": {
            m: (list(mk.book.bid_keys), list(mk.book.ask_keys), levels(mk.book.bids), levels(mk.book.asks),
                sorted(mk.trig_down), sorted(mk.trig_up), sorted(mk.liq_long), sorted(mk.liq_short),
                sorted(mk.holders))
            for m, mk in e.markets.items()},
        "liq_counter": e.liq_index.counter,
    }


def _one_by_one(data: bytes) -> Engine:
    """The plain restore: each order rested through the engine, each account reindexed in turn."""
    from engine.core.book import Order
    from engine.core.liqindex import LiquidationIndex

    state = decode(data)
    rows = state["orders"]
    e = Engine()
    restore(e, {**state, "orders": []})
    e.liq_index = LiquidationIndex()
    for mk in e.markets.values():
        mk.liq_long, mk.liq_short = [], []
    for (oid, acct, market, side, otype, price, size, remaining, tif, po, ro, coid, trig, ts) in rows:
        o = Order(oid, acct, side, price, size, market, otype, tif, po, ro, coid, trig, ts)
        o.remaining = remaining
        a, mk = e.accounts[acct], e.markets[market]
        if otype in ("stop_loss", "take_profit"):
            liveorders.rest_trigger(e, a, mk, o)
        else:
            liveorders.rest(e, a, mk, o)
    for name in sorted(e.accounts):
        a = e.accounts[name]
        a.liq_version = 0
    for name in sorted(e.accounts):
        a = e.accounts[name]
        if a.positions:
            e.liq_index.reindex(a, e.markets)
    return e


def _busy_engine() -> Engine:
    from test_build_equivalence import _commands

    from engine.tools.replay import replay_lines

    e = replay_lines([orjson.dumps(c) for c in _commands()])
    assert len(e.orders) > 50 and any(o.order_type != "limit" for o in e.orders.values())
    return e


def test_bulk_restore_equals_resting_orders_one_by_one(venue):
    activity(venue)
    venue.limit("bob", "buy", "0.5", "96000")  # queues behind carol's order at the same price
    venue.limit("carol", "buy", "0.25", "96000")
    assert venue.e.coids and venue.e.markets[BTC].book.bids[96_000 * 10**6].count == 3
    for e in (venue.e, _busy_engine()):
        data = encode(e)
        fast = Engine()
        restore(fast, decode(data))
        slow = _one_by_one(data)
        assert _derived(fast) == _derived(slow)
        assert state_hash(fast) == state_hash(slow) == state_hash(e)
        # and the restored engine's books and open quantities are the live engine's
        live = _derived(e)
        got = _derived(fast)
        for m in e.markets:
            assert got["markets"][m][:2] == (list(e.markets[m].book.bid_keys), list(e.markets[m].book.ask_keys))
            assert {p: lv[1:] for p, lv in got["markets"][m][2].items()} == {
                p: lv[1:] for p, lv in live["markets"][m][2].items() if lv[2]}
        assert got["orders"] == live["orders"] and got["coids"] == live["coids"]
        for n, a in e.accounts.items():
            for m, p in a.positions.items():
                q = fast.accounts[n].positions.get(m)
                if p.size or p.open_buy or p.open_sell or p.reduce_orders:
                    assert q is not None
                    assert (q.size, q.open_buy, q.open_sell, q.reduce_orders) == (
                        p.size, p.open_buy, p.open_sell, p.reduce_orders)


# ---- same_state: the state-hash comparison, record by record -------------------------------------

def _copy(e: Engine) -> Engine:
    c = Engine()
    restore(c, decode(encode(e)))
    return c


def test_same_state_agrees_with_the_state_hash_on_every_field(venue):
    """Rollback previews compare two engines with same_state instead of hashing both: it must say
    "same" exactly when the state hashes are equal, whichever canonical field differs."""
    activity(venue)
    for e in (venue.e, _busy_engine()):
        assert same_state(e, _copy(e)) and same_state(_copy(e), e)
        order_fields = ["id", "account", "market", "side", "order_type", "price", "size", "remaining", "tif",
                        "post_only", "reduce_only", "client_order_id", "trigger_price", "ts"]
        assert len(orjson.loads(encode(e))["orders"][0]) == len(order_fields)  # every canonical field is here
        some = sorted(e.orders)[len(e.orders) // 2]
        for f in order_fields:
            c = _copy(e)
            o = c.orders[some]
            v = getattr(o, f)
            setattr(o, f, (not v) if isinstance(v, bool) else (v + 1) if isinstance(v, int) else f"{v}x")
            assert state_hash(c) != state_hash(e) and not same_state(c, e) and not same_state(e, c), f
        c = _copy(e)
        del c.orders[some]
        assert not same_state(c, e) and not same_state(e, c)
        name, acct = next((n, a) for n, a in sorted(e.accounts.items()) if any(p.size for p in a.positions.values()))
        m = next(m for m, p in acct.positions.items() if p.size)
        for f in ("size", "cost", "funding_entry"):
            c = _copy(e)
            p = c.accounts[name].positions[m]
            setattr(p, f, getattr(p, f) + 1)
            assert state_hash(c) != state_hash(e) and not same_state(c, e) and not same_state(e, c), f
        c = _copy(e)
        c.accounts[name].cash += 1
        assert not same_state(c, e)
        c = _copy(e)
        del c.accounts[name].positions[m]
        assert not same_state(c, e) and not same_state(e, c)
        c = _copy(e)  # an empty position (orders only, or closed) is not canonical state
        from engine.core.model import Position
        c.accounts[name].positions["NEW-USD-PERP"] = Position(0)
        assert state_hash(c) == state_hash(e) and same_state(c, e) and same_state(e, c)
        c = _copy(e)
        from engine.core.model import Account
        c.accounts["zz-new"] = Account("zz-new")
        assert not same_state(c, e) and not same_state(e, c)
        c = _copy(e)
        c.insurance_fund += 1
        assert not same_state(c, e)
        c = _copy(e)
        next(iter(c.markets.values())).mark_price += 1
        assert not same_state(c, e)
        c = _copy(e)
        c.platform_access = not c.platform_access
        assert not same_state(c, e)
