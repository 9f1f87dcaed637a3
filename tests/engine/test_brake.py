"""Emergency brake, its preview, release, and platform access."""

from __future__ import annotations

from engine_helpers import BTC, ETH, SOL, Venue, of_type, one, rejected_code, types


def busy_venue() -> tuple[Venue, dict]:
    v = Venue.default()
    v.open_position("alice", "bob", "1")
    ids = {
        "btc_bid": v.order_id(v.limit("carol", "buy", "1", "96000")),
        "btc_ask": v.order_id(v.limit("dave", "sell", "1", "98000")),
        "eth_bid": v.order_id(v.limit("carol", "buy", "2", "3300", market=ETH)),
        "sol_ask": v.order_id(v.limit("dave", "sell", "10", "185", market=SOL)),
        "ro": v.order_id(v.limit("alice", "sell", "1", "99000", reduce_only=True)),
        "sl": v.order_id(v.trigger("alice", "stop_loss", "sell", "1", "95000")),
        "tp": v.order_id(v.trigger("bob", "take_profit", "buy", "1", "95000")),
    }
    return v, ids


def test_preview_matches_the_brake_and_changes_nothing():
    v, ids = busy_venue()
    h = v.hash()
    preview = v.e.brake_preview()
    assert v.e.brake_preview() == preview
    assert v.hash() == h
    assert preview["canceled_orders"] == 5 and preview["kept_tpsl"] == 2
    assert preview["canceled_by_market"] == {BTC: 3, ETH: 1, SOL: 1}
    assert preview["accounts_affected"] == 3
    assert preview["markets_to_halt"] == [BTC, ETH, SOL]
    assert preview["already_engaged"] is False

    evs = v.op("emergency_brake")
    eng = one(evs, "brake_engaged")
    assert eng["canceled_orders"] == preview["canceled_orders"]
    assert eng["kept_tpsl"] == preview["kept_tpsl"]
    assert eng["canceled_by_market"] == preview["canceled_by_market"]
    canceled = of_type(evs, "order_canceled")
    assert sorted(c["order_id"] for c in canceled) == sorted(
        ids[k] for k in ("btc_bid", "btc_ask", "eth_bid", "sol_ask", "ro"))
    assert all(c["reason"] == "brake" for c in canceled)
    assert v.live(ids["sl"]) and v.live(ids["tp"])
    # one step: access off, every market halted, liquidations and triggers paused
    assert one(evs, "platform_access")["enabled"] is False
    assert sorted(e["market"] for e in of_type(evs, "market_mode") if e["mode"] == "halted") == [BTC, ETH, SOL]
    assert of_type(evs, "liquidations_paused")
    e = v.e
    assert not e.platform_access and e.brake_engaged and e.liquidations_paused and e.triggers_paused
    assert all(mk.mode == "halted" for mk in e.markets.values())
    assert all(mk.book.best_bid() == 0 and mk.book.best_ask() == 0 for mk in e.markets.values())
    assert v.checks() == []
    after = v.e.brake_preview()
    assert after["canceled_orders"] == 0 and after["kept_tpsl"] == 2 and after["already_engaged"] is True


def test_brake_refuses_users_and_freezes_triggers_and_liquidations():
    v, ids = busy_venue()
    v.op("emergency_brake")
    h = v.hash()
    assert rejected_code(v.deposit("alice", "1")) == "access_disabled"
    assert rejected_code(v.withdraw("alice", "1")) == "access_disabled"
    assert rejected_code(v.limit("alice", "buy", "1", "96000")) == "access_disabled"
    assert rejected_code(v.cancel("alice", ids["sl"])) == "access_disabled"
    assert rejected_code(v.cmd("cancel_all", account="alice")) == "access_disabled"
    assert v.hash() == h
    evs = v.oracle("94000")  # market data still flows ...
    assert not of_type(evs, "order_triggered") and not of_type(evs, "liquidation")  # ... but nothing fires
    assert v.live(ids["sl"])
    assert rejected_code(v.op("emergency_brake")) == "brake_engaged"
    assert rejected_code(v.op("set_platform_access", enabled=True)) == "brake_engaged"
    assert rejected_code(v.op("set_market_mode", market=BTC, mode="open")) == "brake_engaged"


def test_release_refused_while_a_check_fails_then_reopens_post_only():
    v, _ids = busy_venue()
    v.op("emergency_brake")
    # bad data gets in only without the guard rails (with them it is quarantined: test_guards.py)
    v.safeguards(False)
    v.cmd("load_market_state", market=BTC, mark_price="0", funding_index="0")
    h = v.hash()
    evs = v.op("release_brake")
    assert rejected_code(evs) == "validation_failed"
    assert "indices_bounded" in evs[0]["message"]
    assert v.hash() == h and v.e.brake_engaged
    v.cmd("load_market_state", market=BTC, mark_price="97000", funding_index="0")
    evs = v.op("release_brake")
    assert one(evs, "brake_released")
    assert one(evs, "platform_access")["enabled"] is True
    assert all(mk.mode == "post_only" for mk in v.e.markets.values())
    assert not v.e.brake_engaged and not v.e.liquidations_paused and not v.e.triggers_paused
    # post_only, never straight to open
    assert rejected_code(v.market("carol", "buy", "1")) == "post_only_mode"
    assert types(v.limit("carol", "buy", "1", "96990")) == ["order_accepted"]
    assert types(v.op("set_market_mode", market=BTC, mode="open")) == ["market_mode"]


def test_release_without_brake_is_refused(venue):
    assert rejected_code(venue.op("release_brake")) == "brake_not_engaged"


def test_brake_on_an_empty_venue(bare):
    evs = bare.op("emergency_brake")
    eng = one(evs, "brake_engaged")
    assert eng["canceled_orders"] == 0 and eng["kept_tpsl"] == 0


def test_platform_access_toggle(venue):
    assert types(venue.op("set_platform_access", enabled=False)) == ["platform_access"]
    h = venue.hash()
    assert rejected_code(venue.deposit("alice", "1")) == "access_disabled"
    assert venue.hash() == h
    assert rejected_code(venue.op("set_platform_access", enabled=False)) == "no_change"
    venue.op("set_platform_access", enabled=True)
    assert types(venue.deposit("alice", "1")) == ["deposited"]


def test_release_keeps_a_global_pause_set_before_the_brake(venue):
    """Releasing the brake undoes the brake only: an operator's own earlier pause stays."""
    assert types(venue.op("pause_liquidations")) == ["liquidations_paused"]
    venue.op("emergency_brake")
    evs = venue.op("release_brake")
    assert "brake_released" in types(evs)
    assert "liquidations_resumed" not in types(evs)
    assert venue.e.liquidations_paused and not venue.e.triggers_paused
    assert venue.checks() == []
