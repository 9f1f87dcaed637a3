"""The maintenance runbook: a window runs as a state machine driven by tick times."""

from __future__ import annotations

from engine_helpers import BTC, ETH, Venue, of_type, types

from engine.core import Engine
from engine.core.snapshot import decode, encode, restore, state_hash

MIN = 60_000


def _phases(events) -> list[str]:
    return [e["phase"] for e in of_type(events, "maintenance_phase")]


def _schedule(v: Venue, start_in: int = 15 * MIN, duration: int = 30 * MIN, markets=(BTC,)) -> int:
    start = v.ts + start_in
    evs = v.op("schedule_maintenance", window_id="w1", markets=list(markets), start_ts=start,
               duration_ms=duration, kind="scale_up")
    assert types(evs) == ["maintenance_scheduled"]
    return start


def _tick_to(v: Venue, ts: int) -> list[dict]:
    v.ts = ts
    return v.cmd("tick")


def test_window_runs_every_phase_in_order_on_engine_time(venue: Venue) -> None:
    v = venue
    v.oracle("97000")
    v.deposit("lo", "3000")
    v.deposit("sh", "3000")
    v.open_position("lo", "sh", "1")
    v.open_position("alice", "bob", "10")  # sh holds a small share of the open interest (no circuit breaker)
    start = _schedule(v)
    evs = _tick_to(v, start - 11 * MIN)
    assert _phases(evs) == []
    evs = _tick_to(v, start - 10 * MIN)
    assert _phases(evs) == ["announced"]
    evs = _tick_to(v, start)
    assert _phases(evs) == ["cancel_only"]
    assert v.e.markets[BTC].mode == "cancel_only" and v.e.markets[ETH].mode == "open"
    ev = of_type(evs, "maintenance_phase")[0]
    assert ev["until_ts"] == start + 2 * MIN and ev["markets"] == [BTC] and ev["kind"] == "scale_up"
    # cancel_only refuses new orders but accepts cancels
    assert v.limit("carol", "buy", "0.1", "90000")[0]["code"] == "cancel_only"
    evs = _tick_to(v, start + 2 * MIN)
    assert _phases(evs) == ["snapshot", "work"]
    snap = of_type(evs, "snapshot_taken")[0]
    assert snap["trigger"] == "maintenance" and snap["snapshot_id"] in v.e.snapshots
    assert v.e.maintenance["w1"]["snapshot_id"] == snap["snapshot_id"]
    # liquidations are paused while restricted: a rally that ruins the short does nothing yet
    v.oracle("101800")
    assert not of_type(v.oracle("101800"), "liquidation")
    evs = _tick_to(v, start + 28 * MIN)
    assert _phases(evs) == ["validation", "post_only"]
    assert v.e.markets[BTC].mode == "post_only"
    assert v.e.markets[BTC].post_only_band == 50_000  # tight band: 5 bps
    v.ts = start + 30 * MIN
    v.oracle("101800")  # the oracle keeps publishing (a stale oracle would hold liquidations back with the guard rails)
    evs = v.cmd("tick")
    assert _phases(evs) == ["open", "done"]
    assert v.e.markets[BTC].mode == "open"
    assert {e["account"] for e in of_type(evs, "liquidation")} == {"sh"}, "reopening runs the held-back liquidation"
    assert v.e.maintenance["w1"]["phase"] == "done"


def test_validation_failure_holds_the_window_until_checks_pass(venue: Venue) -> None:
    v = venue
    v.oracle("97000")
    start = _schedule(v, duration=10 * MIN)
    _tick_to(v, start + 2 * MIN)
    v.e.fee_pool += 1  # a bookkeeping fault: money no longer adds up
    evs = _tick_to(v, start + 8 * MIN)
    assert _phases(evs) == ["validation"]
    mine = [e["check"] for e in of_type(evs, "validation_failed") if e.get("window_id") == "w1"]
    assert mine == ["money_conserved"]
    evs = _tick_to(v, start + 20 * MIN)
    assert _phases(evs) == [] and not [e for e in of_type(evs, "validation_failed") if e.get("window_id")]
    # reported once by the window, and no reopen
    assert v.e.markets[BTC].mode == "cancel_only"
    v.e.fee_pool -= 1
    evs = _tick_to(v, start + 21 * MIN)
    assert _phases(evs) == ["post_only", "open", "done"]  # overdue: straight through once checks pass
    assert v.e.markets[BTC].mode == "open"


def test_brake_aborts_an_active_window_and_rollback_keeps_the_schedule(venue: Venue) -> None:
    v = venue
    v.oracle("97000")
    start = _schedule(v, duration=10 * MIN)
    _tick_to(v, start + 3 * MIN)
    sid = v.e.maintenance["w1"]["snapshot_id"]
    evs = v.op("emergency_brake")
    assert _phases(evs) == ["aborted"]
    evs = v.op("rollback", snapshot_id=sid)
    assert v.e.maintenance["w1"]["phase"] == "aborted"  # the restored window does not run again
    evs = _tick_to(v, start + 60 * MIN)
    assert _phases(evs) == [] and all(mk.mode == "halted" for mk in v.e.markets.values())


def test_window_state_is_canonical(venue: Venue) -> None:
    v = venue
    v.oracle("97000")
    start = _schedule(v)
    _tick_to(v, start + 5 * MIN)
    e2 = Engine()
    restore(e2, decode(encode(v.e)))
    assert state_hash(e2) == v.hash()
    e2.now = v.e.now
    evs1 = _tick_to(v, start + 30 * MIN)
    evs2 = e2.apply_obj({"type": "tick", "ts": start + 30 * MIN})
    assert _phases(evs1) == _phases(evs2) == ["validation", "post_only", "open", "done"]
    assert state_hash(e2) == v.hash()


def test_operator_reopen_during_a_held_validation_ends_the_window(venue: Venue) -> None:
    v = venue
    v.oracle("97000")
    start = _schedule(v, duration=10 * MIN)
    _tick_to(v, start + 2 * MIN)
    v.e.fee_pool += 1
    _tick_to(v, start + 8 * MIN)
    assert v.e.maintenance["w1"]["phase"] == "validation"
    v.e.fee_pool -= 1  # (the guard rails' reopen gate decides whether an operator may do this)
    assert types(v.op("set_market_mode", market=BTC, mode="open")) == ["market_mode"]
    evs = _tick_to(v, start + 9 * MIN)
    assert _phases(evs) == ["done"] and v.e.markets[BTC].mode == "open"


def test_a_window_that_starts_under_the_brake_is_aborted(venue: Venue) -> None:
    v = venue
    v.oracle("97000")
    start = _schedule(v, duration=10 * MIN)
    v.op("emergency_brake")
    evs = _tick_to(v, start)
    assert _phases(evs) == ["announced", "aborted"]
    assert v.e.markets[BTC].mode == "halted"


def test_short_windows_scale_their_phases(venue: Venue) -> None:
    v = venue
    v.oracle("97000")
    start = _schedule(v, duration=4 * MIN)
    w = v.e.maintenance["w1"]
    assert (w["work_ts"], w["post_only_ts"], w["end_ts"]) == (start + MIN, start + 3 * MIN, start + 4 * MIN)


def test_the_maintenance_snapshot_is_the_state_after_its_tick(venue: Venue) -> None:
    """Recovery and rollback previews restore a snapshot and replay the journal after its seq, so a
    snapshot taken by a window must hold the state after the whole tick that took it, not a state
    from the middle of that tick (the phase change, funding, marks and liquidation pass after it)."""
    v = venue
    v.oracle("97000")
    v.deposit("lo", "3000")
    v.deposit("sh", "3000")
    v.open_position("lo", "sh", "1")
    start = _schedule(v)
    _tick_to(v, start)
    evs = _tick_to(v, start + 2 * MIN)
    (taken,) = of_type(evs, "snapshot_taken")
    snap = v.e.snapshots[taken["snapshot_id"]]
    assert snap.seq == v.e.seq and snap.state_hash == v.hash()  # nothing after it in that command
    # and a venue recovered from it follows the rest of the journal exactly
    e2 = Engine()
    restore(e2, decode(snap.data, expect_hash=snap.state_hash))
    e2.seq, e2.now = snap.seq, v.e.now
    for ts in (start + 10 * MIN, start + 28 * MIN, start + 31 * MIN):
        v.ts = ts
        cmd = {"type": "tick", "ts": ts}
        v.cmd("tick")
        e2.apply_obj(cmd)
        assert state_hash(e2) == v.hash()
