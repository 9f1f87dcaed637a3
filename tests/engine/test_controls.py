"""Operator controls: cancel / reschedule / extend a maintenance window, the withdrawals pause, per-account
modes (normal, reduce_only, frozen) and canceling an account's orders (docs/contract.md, "Operator controls")."""

from __future__ import annotations

from engine_helpers import BTC, ETH, SOL, Venue, of_type, one, rejected_code, types

from engine.core import Engine
from engine.core.snapshot import decode, encode, restore, state_hash

MIN = 60_000


def _phases(events) -> list[str]:
    return [e["phase"] for e in of_type(events, "maintenance_phase")]


def _schedule(v: Venue, start_in: int = 15 * MIN, duration: int = 30 * MIN, wid: str = "w1") -> int:
    start = v.ts + start_in
    evs = v.op("schedule_maintenance", window_id=wid, markets=[BTC], start_ts=start, duration_ms=duration,
               kind="scale_up")
    assert types(evs) == ["maintenance_scheduled"]
    return start


def _tick_to(v: Venue, ts: int) -> list[dict]:
    v.ts = ts
    return v.cmd("tick")


def _refused(v: Venue, type_: str, code: str, **fields) -> None:
    """Refused with ``code``, and nothing changed."""
    before = v.hash()
    assert rejected_code(v.op(type_, **fields)) == code
    assert v.hash() == before


# ---- maintenance: cancel ------------------------------------------------------------------------
def test_a_window_canceled_before_its_start_never_runs(venue: Venue) -> None:
    v = venue
    v.oracle("97000")
    start = _schedule(v)
    _tick_to(v, start - 10 * MIN)  # announced
    ev = one(v.op("cancel_maintenance", window_id="w1"), "maintenance_canceled")
    assert ev["phase"] == "announced" and ev["started"] is False and ev["markets"] == [BTC]
    assert ev["operator"] == "oncall" and ev["reason"] == "test"
    assert v.e.maintenance["w1"]["phase"] == "canceled"
    evs = _tick_to(v, start + 60 * MIN)
    assert _phases(evs) == []
    assert v.e.markets[BTC].mode == "open"
    _refused(v, "cancel_maintenance", "window_finished", window_id="w1")
    _refused(v, "cancel_maintenance", "unknown_window", window_id="nope")


def test_canceling_an_active_window_leaves_its_markets_restricted_until_an_operator_reopens(venue: Venue) -> None:
    v = venue
    v.oracle("97000")
    start = _schedule(v)
    _tick_to(v, start + 3 * MIN)  # cancel_only -> snapshot -> work
    assert v.e.maintenance["w1"]["phase"] == "work" and v.e.markets[BTC].mode == "cancel_only"
    ev = one(v.op("cancel_maintenance", window_id="w1"), "maintenance_canceled")
    assert ev["phase"] == "work" and ev["started"] is True and ev["market_modes"] == {BTC: "cancel_only"}
    # the window runs no further: never post-only or open by itself
    evs = _tick_to(v, start + 60 * MIN)
    assert _phases(evs) == [] and v.e.markets[BTC].mode == "cancel_only"
    assert types(v.op("set_market_mode", market=BTC, mode="open")) == ["market_mode"]


def test_canceling_in_post_only_restores_the_market_post_only_band(venue: Venue) -> None:
    v = venue
    v.oracle("97000")
    v.op("set_market_params", market=BTC, post_only_band="0.002")  # wider than the window's 5 bps
    band = v.e.markets[BTC].post_only_band
    start = _schedule(v)
    _tick_to(v, start + 28 * MIN)  # post_only: band narrowed to the window's
    assert v.e.maintenance["w1"]["phase"] == "post_only"
    assert v.e.markets[BTC].post_only_band != band
    v.op("cancel_maintenance", window_id="w1")
    assert v.e.markets[BTC].post_only_band == band and v.e.markets[BTC].mode == "post_only"


# ---- maintenance: reschedule --------------------------------------------------------------------
def test_reschedule_moves_a_window_that_has_not_started(venue: Venue) -> None:
    v = venue
    v.oracle("97000")
    start = _schedule(v)
    _tick_to(v, start - 10 * MIN)
    assert v.e.maintenance["w1"]["phase"] == "announced"
    later = start + 60 * MIN
    _refused(v, "reschedule_maintenance", "in_the_past", window_id="w1", start_ts=v.ts - 1)
    _refused(v, "reschedule_maintenance", "no_change", window_id="w1", start_ts=start)
    ev = one(v.op("reschedule_maintenance", window_id="w1", start_ts=later), "maintenance_rescheduled")
    assert ev["start_ts"] == later and ev["previous_start_ts"] == start and ev["phase"] == "scheduled"
    w = v.e.maintenance["w1"]
    assert w["phase"] == "scheduled" and w["end_ts"] == later + 30 * MIN and w["announce_ts"] == later - 10 * MIN
    assert _phases(_tick_to(v, start)) == []  # the old start passes: nothing
    assert v.e.markets[BTC].mode == "open"
    assert _phases(_tick_to(v, later - 10 * MIN)) == ["announced"]
    assert _phases(_tick_to(v, later)) == ["cancel_only"]
    _refused(v, "reschedule_maintenance", "window_started", window_id="w1", start_ts=later + 60 * MIN)


# ---- maintenance: extend ------------------------------------------------------------------------
def test_extend_an_active_window_delays_its_reopening(venue: Venue) -> None:
    v = venue
    v.oracle("97000")
    start = _schedule(v)
    _tick_to(v, start + 3 * MIN)  # work
    _refused(v, "extend_maintenance", "not_longer", window_id="w1", duration_ms=30 * MIN)
    ev = one(v.op("extend_maintenance", window_id="w1", duration_ms=60 * MIN), "maintenance_extended")
    assert ev["previous_duration_ms"] == 30 * MIN and ev["duration_ms"] == 60 * MIN
    assert ev["end_ts"] == start + 60 * MIN and ev["post_only_ts"] == start + 58 * MIN and ev["phase"] == "work"
    # where the window used to reopen, it keeps working
    assert _phases(_tick_to(v, start + 30 * MIN)) == []
    assert v.e.markets[BTC].mode == "cancel_only"
    assert _phases(_tick_to(v, start + 58 * MIN)) == ["validation", "post_only"]
    _refused(v, "extend_maintenance", "window_reopening", window_id="w1", duration_ms=90 * MIN)
    assert _phases(_tick_to(v, start + 60 * MIN)) == ["open", "done"]
    assert v.e.markets[BTC].mode == "open"
    _refused(v, "extend_maintenance", "window_finished", window_id="w1", duration_ms=90 * MIN)


def test_extend_before_the_start_lengthens_every_later_phase(venue: Venue) -> None:
    v = venue
    v.oracle("97000")
    start = _schedule(v, duration=4 * MIN)  # short: cancel_only and post_only take a minute each
    v.op("extend_maintenance", window_id="w1", duration_ms=20 * MIN)
    w = v.e.maintenance["w1"]
    assert (w["work_ts"], w["post_only_ts"], w["end_ts"]) == (start + 2 * MIN, start + 18 * MIN, start + 20 * MIN)
    assert w["phase"] == "scheduled"


# ---- withdrawals pause --------------------------------------------------------------------------
def test_withdrawals_paused_refuses_withdraw_while_deposits_and_trading_go_on(venue: Venue) -> None:
    v = venue
    v.oracle("97000")
    assert v.e.withdrawals_enabled
    ev = one(v.op("set_withdrawals", enabled=False), "withdrawals_set")
    assert ev == {"type": "withdrawals_set", "enabled": False, "operator": "oncall", "reason": "test", "seq": ev["seq"]}
    before = v.hash()
    assert rejected_code(v.withdraw("alice", "10")) == "withdrawals_paused"
    assert v.hash() == before
    assert types(v.deposit("alice", "10")) == ["deposited"]
    v.open_position("alice", "bob", "0.1")
    _refused(v, "set_withdrawals", "no_change", enabled=False)
    v.op("set_withdrawals", enabled=True)
    assert types(v.withdraw("alice", "10")) == ["withdrawn"]


# ---- per-account modes --------------------------------------------------------------------------
def test_freezing_an_account_cancels_its_orders_and_refuses_all_but_cancels(venue: Venue) -> None:
    v = venue
    v.oracle("97000")
    v.open_position("alice", "bob", "1")
    v.limit("alice", "buy", "0.5", "96000")
    v.limit("alice", "sell", "0.5", "98000", market=BTC)
    v.trigger("alice", "stop_loss", "sell", "1", "90000")
    assert len(v.e.accounts["alice"].orders) == 3
    _refused(v, "set_account_mode", "unknown_account", account="nobody", mode="frozen")
    evs = v.op("set_account_mode", account="alice", mode="frozen")
    canceled = of_type(evs, "order_canceled")
    assert len(canceled) == 3 and {e["reason"] for e in canceled} == {"account_frozen"}
    ev = one(evs, "account_mode_set")
    assert (ev["account"], ev["mode"], ev["previous"], ev["canceled_orders"]) == ("alice", "frozen", "normal", 3)
    assert not v.e.accounts["alice"].orders and v.pos("alice") != 0  # positions stay
    before = v.hash()
    assert rejected_code(v.limit("alice", "sell", "1", "97000", reduce_only=True)) == "account_frozen"
    assert rejected_code(v.deposit("alice", "1")) == "account_frozen"
    assert rejected_code(v.withdraw("alice", "1")) == "account_frozen"
    assert v.hash() == before
    assert not of_type(v.cmd("cancel_all", account="alice"), "rejected")  # cancels are never refused
    # other accounts are untouched
    assert types(v.limit("carol", "buy", "0.1", "96000")) == ["order_accepted"]
    _refused(v, "set_account_mode", "no_change", account="alice", mode="frozen")
    v.op("set_account_mode", account="alice", mode="normal")
    assert v.e.account_modes == {}
    assert types(v.limit("alice", "buy", "0.1", "96000")) == ["order_accepted"]


def test_a_frozen_account_is_still_liquidated() -> None:
    v = Venue.default(accounts=("bob", "carol", "dave"))
    for m in (BTC, ETH, SOL):
        v.no_breaker(m)
    v.deposit("alice", "2000")
    v.op("fund_insurance", amount="100000")
    v.oracle("97000")
    v.open_position("alice", "bob", "1")
    v.op("set_account_mode", account="alice", mode="frozen")
    v.limit("carol", "buy", "5", "95400")
    evs = v.oracle("95500")
    liqs = of_type(evs, "liquidation")
    assert liqs and all(e["account"] == "alice" for e in liqs)
    assert v.pos("alice") == 0


def test_a_reduce_only_account_may_only_shrink_its_positions(venue: Venue) -> None:
    v = venue
    v.oracle("97000")
    v.open_position("alice", "bob", "1")
    opening = v.order_id(v.limit("alice", "buy", "0.5", "96000"))
    closing = v.order_id(v.limit("alice", "sell", "0.5", "99000", reduce_only=True))
    stop = v.order_id(v.trigger("alice", "stop_loss", "sell", "1", "90000"))
    evs = v.op("set_account_mode", account="alice", mode="reduce_only")
    canceled = of_type(evs, "order_canceled")
    assert [(e["order_id"], e["reason"]) for e in canceled] == [(opening, "account_reduce_only")]
    assert set(v.e.accounts["alice"].orders) == {closing, stop}  # reduce-only orders and TP/SL stay
    before = v.hash()
    assert rejected_code(v.limit("alice", "buy", "0.1", "96000")) == "account_reduce_only"
    assert rejected_code(v.limit("alice", "buy", "0.1", "96000", market=ETH)) == "account_reduce_only"
    assert v.hash() == before
    # a sell shrinks the long: accepted, made reduce-only and clipped to the position
    ev = one(v.limit("alice", "sell", "3", "99500"), "order_accepted")
    assert ev["reduce_only"] is True and ev["size"] == 100_000_000
    assert types(v.deposit("alice", "5")) == ["deposited"]  # money moves freely
    v.op("set_account_mode", account="alice", mode="normal")
    assert types(v.limit("alice", "buy", "0.1", "96000")) == ["order_accepted"]


def test_cancel_account_orders_cancels_every_order_tpsl_included_for_reason_operator(venue: Venue) -> None:
    v = venue
    v.oracle("97000")
    v.oracle("3000", market=ETH)
    v.open_position("alice", "bob", "1")
    v.limit("alice", "buy", "0.5", "96000")
    v.trigger("alice", "stop_loss", "sell", "1", "90000")
    eth = v.order_id(v.limit("alice", "buy", "1", "2900", market=ETH))
    bob = v.order_id(v.limit("bob", "buy", "1", "96000"))
    evs = v.op("cancel_account_orders", account="alice", market=BTC)
    canceled = of_type(evs, "order_canceled")
    assert len(canceled) == 2 and {e["reason"] for e in canceled} == {"operator"}
    ev = one(evs, "account_orders_canceled")
    assert (ev["account"], ev["market"], ev["canceled"]) == ("alice", BTC, 2)
    assert set(v.e.accounts["alice"].orders) == {eth} and bob in v.e.orders
    _refused(v, "cancel_account_orders", "no_orders", account="alice", market=BTC)
    _refused(v, "cancel_account_orders", "unknown_market", account="alice", market="XRP-USD-PERP")
    assert one(v.op("cancel_account_orders", account="alice"), "account_orders_canceled")["canceled"] == 1
    assert not v.e.accounts["alice"].orders
    assert v.checks() == []


# ---- state: snapshot, replay, rollback ----------------------------------------------------------
def test_controls_are_canonical_state_and_restore_from_a_snapshot(venue: Venue) -> None:
    v = venue
    v.oracle("97000")
    plain = encode(v.e)
    assert b"account_modes" not in plain and b"withdrawals_enabled" not in plain  # unused: hash as before
    v.op("set_withdrawals", enabled=False)
    v.op("set_account_mode", account="carol", mode="frozen")
    v.op("set_account_mode", account="dave", mode="reduce_only")
    data = encode(v.e)
    e2 = Engine()
    restore(e2, decode(data))
    assert state_hash(e2) == v.hash()
    assert e2.withdrawals_enabled is False and e2.account_modes == {"carol": "frozen", "dave": "reduce_only"}
    replayed = Engine()
    for c in v.journal:
        replayed.apply_obj(c)
    assert state_hash(replayed) == v.hash()


def test_a_rollback_keeps_the_pause_and_the_modes_and_cancels_restored_orders_a_frozen_account_may_not_have(
        venue: Venue) -> None:
    v = venue
    v.oracle("97000")
    oid = v.order_id(v.limit("alice", "buy", "0.5", "96000"))
    sid = one(v.op("take_snapshot", label="before"), "snapshot_taken")["snapshot_id"]
    v.op("set_account_mode", account="alice", mode="frozen")
    v.op("set_withdrawals", enabled=False)
    assert oid not in v.e.orders
    evs = v.op("rollback", snapshot_id=sid)
    assert one(evs, "rolled_back")
    assert v.e.account_modes == {"alice": "frozen"} and v.e.withdrawals_enabled is False
    # the snapshot's resting order of the frozen account is canceled again
    assert [(e["order_id"], e["reason"]) for e in of_type(evs, "order_canceled")] == [(oid, "account_frozen")]
    assert not v.e.accounts["alice"].orders
    assert v.checks() == []
