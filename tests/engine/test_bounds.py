"""Bounds at the boundary: nothing the canonical state holds can exceed what its encoding holds
(signed 64-bit integers); every such value is a ``rejected`` event with a clear code, never a crash
later. Per-market bounds (max_order_size, max_position_notional, open_interest_cap, margin tiers)
are checked at order placement."""

from __future__ import annotations

import io

import orjson
import pytest
from engine_helpers import BTC, ETH, Venue, one, rejected_code

from engine.core import Engine, snapshot
from engine.core.commands import MAX_TS
from engine.tools.replay import run

# create_market for a cheap token (0.000012 USDC): the market of "a 200-billion-token position"
CHEAP = {"market": "CHEAP-USD-PERP", "tick_size": "0.000001", "lot_size": "1", "initial_margin": "0.1",
         "maintenance_margin": "0.05", "maker_fee": "0", "taker_fee": "0.0002", "liquidation_fee": "0.02",
         "price_band": "0.05", "index_price": "0.000012"}


def _cheap(v: Venue) -> None:
    assert one(v.op("create_market", **CHEAP), "market_created")


# ---- every huge value from the incident is refused, too_large ----------------------------------------
HUGE = [
    ("a 200-billion-token order", lambda v: v.limit("alice", "buy", "200000000000", "0.000012", market="CHEAP-USD-PERP")),
    ("a deposit beyond 1e13 USDC", lambda v: v.deposit("alice", "18000000000000")),
    ("an oracle print of 1e14", lambda v: v.oracle("100000000000000", source="x")),
    ("a tick at ts 1e15", lambda v: v.apply({"type": "tick", "ts": 10**15})),
    ("a mark price of 1e14", lambda v: v.cmd("load_market_state", market=BTC, mark_price="100000000000000",
                                             funding_index="0")),
    ("a funding index of 1e20", lambda v: v.cmd("load_market_state", market=BTC, mark_price="97000",
                                                 funding_index="100000000")),
    ("a limit price of 1e13", lambda v: v.limit("alice", "buy", "0.001", "10000000000000")),
    ("a trigger price of 1e13", lambda v: v.trigger("alice", "stop_loss", "sell", "0.001", "10000000000000")),
    ("a credit of 1e11", lambda v: v.op("credit", account="alice", amount="100000000000", refund_id="r",
                                        fund="treasury")),
    ("a fund_insurance of 1e11", lambda v: v.op("fund_insurance", amount="100000000000")),
    ("a withdrawal of 1e11", lambda v: v.withdraw("alice", "100000000000")),
    ("a maintenance window in year 30000", lambda v: v.op("schedule_maintenance", window_id="w", markets=[BTC],
                                                          start_ts=10**15, duration_ms=1, kind="scale_up")),
    ("a publish_ts of 1e15", lambda v: v.oracle("97000", publish_ts=10**15)),
    ("an order id beyond 2**62", lambda v: v.cancel("alice", order_id=2**70)),
    ("a breaker count of 1e12", lambda v: v.op("set_market_params", market=BTC, breaker_accounts=10**12)),
    ("a lot size of 1e11 units", lambda v: v.op("create_market", **{**CHEAP, "market": "X", "lot_size": "100000000000"})),
]


@pytest.mark.parametrize("what,send", HUGE, ids=[h[0] for h in HUGE])
def test_a_value_the_state_could_not_encode_is_refused_too_large(venue, what, send):
    _cheap(venue)
    before = venue.hash()
    now = venue.e.now
    assert rejected_code(send(venue)) == "too_large", what
    assert venue.hash() == before and venue.e.now == now  # nothing changed, not even the clock
    # and the state still encodes: a snapshot works after the attempt
    assert one(venue.op("take_snapshot", label="after"), "snapshot_taken")


def test_the_largest_ts_is_accepted_and_funding_stays_encodable(venue):
    """A tick at the last millisecond of year 9999 on a market at the price cap: the funding index is
    clamped at its ceiling instead of growing beyond 64 bits."""
    assert one(venue.op("create_market", **{**CHEAP, "market": "BIG", "tick_size": "1", "lot_size": "0.01",
                                            "index_price": "1000000"}), "market_created")
    venue.open_position("alice", "bob", "0.01", price="1000000", market="BIG")
    venue.ts = MAX_TS
    assert venue.tick(0)[0]["type"] != "rejected"
    assert abs(venue.e.markets["BIG"].funding_index) <= 4 * 10**18
    assert one(venue.op("take_snapshot", label="end of time"), "snapshot_taken")
    assert rejected_code(venue.apply({"type": "tick", "ts": MAX_TS + 1})) == "too_large"


def test_deposits_stop_before_their_total_leaves_the_encoding(bare):
    for i in range(100):
        assert one(bare.deposit(f"whale{i}", "10000000000"), "deposited")  # 1e10 USDC each: 1e12 in all
    assert rejected_code(bare.deposit("one_more", "1")) == "too_large"
    assert one(bare.op("take_snapshot", label="full"), "snapshot_taken")


def test_a_state_that_cannot_be_encoded_raises_a_typed_error_and_take_snapshot_is_refused(venue):
    venue.e.accounts["alice"].cash = 2**64  # as if some path had let it through
    with pytest.raises(snapshot.StateEncodeError, match=r"accounts\.alice\[0\] = 18446744073709551616"):
        snapshot.encode(venue.e)
    with pytest.raises(snapshot.SnapshotError):
        snapshot.state_hash(venue.e)
    evs = venue.op("take_snapshot", label="x")
    assert rejected_code(evs) == "state_unencodable" and "beyond signed 64 bits" in evs[0]["message"]


def test_replay_of_a_stream_of_huge_values_exits_0_and_writes_the_state(tmp_path):
    cmds = [{"type": "create_market", "ts": 1, "operator": "op", "reason": "r", **CHEAP},
            {"type": "deposit", "ts": 2, "account": "a", "amount": "18000000000000"},
            {"type": "deposit", "ts": 2, "account": "a", "amount": "1000"},
            {"type": "place_order", "ts": 3, "account": "a", "market": "CHEAP-USD-PERP", "side": "buy",
             "size": "200000000000", "price": "0.000012"},
            {"type": "oracle_price", "ts": 4, "market": "CHEAP-USD-PERP", "price": "100000000000000"},
            {"type": "tick", "ts": 10**15},
            {"type": "take_snapshot", "ts": 5, "operator": "op", "reason": "r"}]
    src = tmp_path / "c.jsonl"
    src.write_bytes(b"".join(orjson.dumps(c) + b"\n" for c in cmds))
    out, err = io.StringIO(), io.StringIO()
    rc = run(str(src), str(tmp_path / "e.jsonl"), str(tmp_path / "s.json"), out=out, err=err)
    assert rc == 0, err.getvalue()
    codes = [orjson.loads(line).get("code") for line in (tmp_path / "e.jsonl").read_bytes().splitlines()]
    assert codes.count("too_large") == 4
    assert orjson.loads((tmp_path / "s.json").read_bytes())["accounts"]["a"]["cash"] == "1000"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl", "e.jsonl", "s.json"]


# ---- per-market bounds -------------------------------------------------------------------------------
def _bounded(v: Venue, **params) -> None:
    evs = v.op("set_market_params", market=BTC, **params)
    assert one(evs, "market_params_set"), evs


def test_max_order_size(venue):
    _bounded(venue, max_order_size="5")
    assert rejected_code(venue.limit("alice", "buy", "5.001", "96000")) == "order_too_large"
    assert one(venue.limit("alice", "buy", "5", "96000"), "order_accepted")
    assert rejected_code(venue.op("set_market_params", market=BTC, max_order_size="0.0001")) == "off_lot"


def test_max_position_notional_counts_open_orders_and_the_band_price_of_market_orders(venue):
    _bounded(venue, max_position_notional="500000")  # 500k USDC: ~5.15 BTC at 97000
    assert one(venue.limit("alice", "buy", "3", "96000"), "order_accepted")
    # 3 resting + 3 more = 6 BTC ~ 576k at 96000: refused though nothing has filled yet
    assert rejected_code(venue.limit("alice", "buy", "3", "96000")) == "position_too_large"
    assert one(venue.limit("alice", "buy", "2", "96000"), "order_accepted")  # 5 BTC = 480k
    venue.limit("bob", "sell", "5", "97000")
    # a market buy is priced at the band's top (97000 * 1.05): 5 BTC ~ 509k
    assert rejected_code(venue.market("carol", "buy", "5")) == "position_too_large"
    assert one(venue.market("carol", "buy", "4"), "trade")


def test_open_interest_cap(venue):
    _bounded(venue, open_interest_cap="10")
    venue.open_position("alice", "bob", "8")
    assert rejected_code(venue.limit("carol", "sell", "3", "97000")) == "open_interest_cap"  # 8 + 3 > 10
    assert one(venue.limit("carol", "sell", "2", "97000"), "order_accepted")  # 8 + 2 <= 10
    assert rejected_code(venue.limit("dave", "buy", "3", "97000")) == "open_interest_cap"
    # closing never needs room: bob buys back part of his short (from carol, who opens: OI stays 8)
    assert one(venue.limit("bob", "buy", "2", "97000"), "trade")
    assert venue.e.markets[BTC].long_oi == venue.e.markets[BTC].short_oi == 8 * 10**8
    assert one(venue.limit("alice", "sell", "3", "97000"), "order_accepted")  # closing: rests
    assert one(venue.limit("dave", "buy", "2", "97000"), "trade")  # 8 + 2 <= 10
    assert venue.e.markets[BTC].long_oi <= 10 * 10**8


def test_margin_tiers_raise_initial_margin_for_large_positions(bare):
    bare.deposit("alice", "30000")
    bare.deposit("bob", "10000000")
    bare.limit("bob", "sell", "20", "97000")
    # below the 1M tier the market's own 2%: 10 BTC (970k) needs ~19.4k
    assert one(bare.limit("alice", "buy", "1", "97000"), "trade")
    _bounded(bare, margin_tiers=[["1000000", "0.05"], ["5000000", "0.1"]])
    # 11 BTC (~1.07M) falls in the 5% tier: ~53k of initial margin, alice has 30k
    evs = bare.limit("alice", "buy", "10", "97000")
    assert rejected_code(evs) == "insufficient_margin" and "margin tier of 0.05" in evs[0]["message"]
    assert one(bare.limit("alice", "buy", "9", "97000"), "trade")  # 10 BTC = 970k: still 2%
    assert rejected_code(bare.op("set_market_params", market=BTC, margin_tiers=[["1", "0.01"]])) == "bad_margin"
    assert rejected_code(bare.op("set_market_params", market=BTC,
                                 margin_tiers=[["1000", "0.1"], ["500", "0.2"]])) == "bad_value"


def test_bounds_are_canonical_state_and_survive_a_snapshot(venue):
    _bounded(venue, max_order_size="5", max_position_notional="1000000", open_interest_cap="100",
             margin_tiers=[["500000", "0.05"]])
    e2 = Engine()
    snapshot.restore(e2, snapshot.decode(snapshot.encode(venue.e)))
    mk = e2.markets[BTC]
    assert (mk.max_order_size, mk.max_position_notional, mk.open_interest_cap, mk.margin_tiers) == (
        5 * 10**8, 10**12, 100 * 10**8, [[500_000 * 10**6, 5_000_000]])
    assert snapshot.state_hash(e2) == venue.hash()


def test_the_default_venue_has_bounds(venue):
    for m in (BTC, ETH):
        mk = venue.e.markets[m]
        assert mk.max_order_size < 10**18 and mk.max_position_notional < 10**17 and mk.margin_tiers
