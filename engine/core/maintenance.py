"""Maintenance runbook: a scheduled window runs as a state machine driven by engine time.

Phases (brief agreement #2, Paradex's mechanics in shared/VENUES.md)::

    scheduled -> announced -> cancel_only -> snapshot -> work -> validation -> post_only -> open -> done

* ``announced``: ``ANNOUNCE_LEAD_MS`` before the start (at once if scheduled later than that).
* ``cancel_only`` at ``start_ts``: the window's markets accept only cancels (~2 min).
* ``snapshot``: an engine snapshot with trigger ``maintenance`` (the node persists it), then ``work``.
* ``work``: the work itself (database upgrade, oracle restart, scale-up) until the post-only
  phase is due; the markets stay in ``cancel_only``.
* ``validation``: :func:`engine.core.checks.run_checks`. While any check fails the window stays here
  (a ``validation_failed`` event per failing check, once per change of the failing set) and never
  reopens by itself; an operator who reopens the markets (``set_market_mode``) ends the window.
* ``post_only`` (~2 min) with tight price bands: the market's post-only band is narrowed to the
  window's ``post_only_band`` (5 bps by default) for the phase and restored afterwards.
* ``open`` at ``start_ts + duration_ms`` (or later if validation held it), then ``done``.

Liquidations and TP/SL triggers do not run while a market is restricted (mode != open, see
``liquidation.liquidation_active`` and ``marketdata.after_market_data``); reopening runs them at once.
The emergency brake aborts an active window (phase ``aborted``): the operators own the venue then.

Every transition emits ``maintenance_phase`` {window_id, phase, markets, kind, until_ts}. The window
dicts live in ``engine.maintenance`` (canonical state, hashed, snapshotted). Pure: time comes from
``engine.now``; called from ``marketdata.tick``.
"""

from __future__ import annotations

from .checks import run_checks
from .commands import CommandError
from .model import DEFAULT_POST_ONLY_BAND  # 5 bps, the guard rails' post-only band

ANNOUNCE_LEAD_MS = 10 * 60 * 1000
CANCEL_ONLY_MS = 2 * 60 * 1000
POST_ONLY_MS = 2 * 60 * 1000

PHASES = ("scheduled", "announced", "cancel_only", "snapshot", "work", "validation", "post_only", "open", "done")
ACTIVE = frozenset({"cancel_only", "snapshot", "work", "validation", "post_only"})
FINISHED = frozenset({"done", "aborted", "canceled"})
NOT_STARTED = frozenset({"scheduled", "announced"})


def new_window(a: dict) -> dict:
    """The canonical record of a newly scheduled window (from ``schedule_maintenance`` args)."""
    start, dur = a["start_ts"], a["duration_ms"]
    # phases scale down for short windows: cancel_only and post_only take a quarter each at most
    co = min(CANCEL_ONLY_MS, dur // 4)
    po = min(POST_ONLY_MS, dur // 4)
    return {"window_id": a["window_id"], "markets": list(a["markets"]), "start_ts": start,
            "duration_ms": dur, "kind": a["kind"], "phase": "scheduled",
            "announce_ts": max(0, start - ANNOUNCE_LEAD_MS), "work_ts": start + co,
            "post_only_ts": start + dur - po, "end_ts": start + dur,
            "post_only_band": DEFAULT_POST_ONLY_BAND, "saved_bands": {}, "snapshot_id": None,
            "failing": [], "phase_ts": 0}


def _until(w: dict, phase: str) -> int | None:
    return {"scheduled": w["announce_ts"], "announced": w["start_ts"], "cancel_only": w["work_ts"],
            "snapshot": w["work_ts"], "work": w["post_only_ts"], "validation": None,
            "post_only": w["end_ts"]}.get(phase)


def _enter(engine, w: dict, phase: str, **extra) -> None:
    w["phase"] = phase
    w["phase_ts"] = engine.now
    ev = {"type": "maintenance_phase", "window_id": w["window_id"], "phase": phase,
          "markets": list(w["markets"]), "kind": w["kind"], "until_ts": _until(w, phase)}
    ev.update(extra)
    engine.emit(ev)


def advance(engine) -> None:
    """Move every window as far as ``engine.now`` allows (several phases in one tick if overdue)."""
    for wid in sorted(engine.maintenance):
        w = engine.maintenance[wid]
        for _ in range(len(PHASES) + 1):  # bounded: each pass moves at most one phase
            if not _step(engine, w):
                break


def _markets(engine, w: dict) -> list:
    return [engine.markets[m] for m in w["markets"] if m in engine.markets]


def _step(engine, w: dict) -> bool:
    """One transition if due; True if the phase changed."""
    now = engine.now
    phase = w["phase"]
    if phase in FINISHED:
        return False
    if phase == "scheduled":
        if now >= w["announce_ts"]:
            _enter(engine, w, "announced")
            return True
        return False
    if phase == "announced":
        if now >= w["start_ts"]:
            if engine.brake_engaged:
                _enter(engine, w, "aborted", reason="brake engaged")
                return True
            _enter(engine, w, "cancel_only")
            for mk in _markets(engine, w):
                if mk.mode != "halted":
                    engine.set_mode(mk, "cancel_only")
            return True
        return False
    if phase == "cancel_only":
        if now >= w["work_ts"]:
            _enter(engine, w, "snapshot")
            # taken when this tick is complete (marketdata.tick): recovery and rollback previews replay the
            # journal after a snapshot's seq, so it must hold the state after the whole command
            w["snapshot_id"] = f"snap-{engine.seq}"
            engine.snapshot_due = f"maintenance {w['window_id']} ({w['kind'].replace('_', ' ')})"
            return True
        return False
    if phase == "snapshot":
        _enter(engine, w, "work")
        return True
    if phase == "work":
        if now >= w["post_only_ts"]:
            _enter(engine, w, "validation")
            return True
        return False
    if phase == "validation":
        mks = _markets(engine, w)
        if mks and all(mk.mode == "open" for mk in mks):  # an operator reopened them (override)
            _enter(engine, w, "done", reason="reopened by an operator")
            return True
        failures = run_checks(engine)
        if failures:
            names = sorted({f.check for f in failures})
            if names != w["failing"]:
                w["failing"] = names
                for f in failures:
                    engine.emit({"type": "validation_failed", "check": f.check, "detail": f.detail,
                                  "window_id": w["window_id"]})
            return False
        w["failing"] = []
        _enter(engine, w, "post_only")
        saved = {}
        for mk in mks:
            saved[mk.name] = mk.post_only_band
            band = w["post_only_band"]
            if not mk.post_only_band or band < mk.post_only_band:
                mk.post_only_band = min(band, mk.band)
            if mk.mode == "cancel_only":
                engine.set_mode(mk, "post_only")
        w["saved_bands"] = saved
        return True
    if phase == "post_only":
        if now >= w["end_ts"] and not engine.brake_engaged:
            mks = _markets(engine, w)
            _enter(engine, w, "open")
            for mk in mks:
                if mk.name in w["saved_bands"]:
                    mk.post_only_band = w["saved_bands"][mk.name]
                if mk.mode == "post_only":
                    engine.set_mode(mk, "open")
            w["saved_bands"] = {}
            engine.mark_epoch += 1
            engine.after_market_data(mks)  # triggers and liquidations resume on reopened markets
            return True
        return False
    if phase == "open":
        _enter(engine, w, "done")
        return True
    return False


# ---- operator controls: cancel, reschedule, extend (docs/contract.md, "Operator controls") ----------
# Each validates fully (CommandError) before it changes anything.

def _window(engine, wid: str) -> dict:
    w = engine.maintenance.get(wid)
    if w is None:
        raise CommandError("unknown_window", f"there is no maintenance window {wid!r}")
    if w["phase"] in FINISHED:
        raise CommandError("window_finished", f"maintenance window {wid!r} is already {w['phase']}")
    return w


def cancel(engine, a: dict) -> None:
    """Cancel a window. Before its start it simply never runs. Once active it ends *safely*: the markets
    stay in the mode they are in (cancel_only or post_only; never reopened by a cancel), the post-only
    bands it narrowed are restored, and the operators reopen them through the validation gate
    (``set_market_mode`` open)."""
    w = _window(engine, a["window_id"])
    was = w["phase"]
    for m, band in sorted(w["saved_bands"].items()):
        mk = engine.markets.get(m)
        if mk is not None:
            mk.post_only_band = band
    w["saved_bands"] = {}
    w["phase"] = "canceled"
    w["phase_ts"] = engine.now
    left = {m: engine.markets[m].mode for m in w["markets"] if m in engine.markets}
    engine.emit({"type": "maintenance_canceled", "window_id": w["window_id"], "markets": list(w["markets"]),
                  "kind": w["kind"], "phase": was, "started": was not in NOT_STARTED, "market_modes": left,
                  "operator": a["operator"], "reason": a["reason"]})


def reschedule(engine, a: dict) -> None:
    """Move a window that has not started to a new start (not in the past); it is announced again from
    there (phase back to ``scheduled``, the next tick announces it when due)."""
    w = _window(engine, a["window_id"])
    if w["phase"] not in NOT_STARTED:
        raise CommandError("window_started", f"maintenance window {w['window_id']!r} has started "
                                             f"(phase {w['phase']}); cancel or extend it instead")
    start = a["start_ts"]
    if start < engine.now:
        raise CommandError("in_the_past", "start_ts is before the engine's current time")
    if start == w["start_ts"]:
        raise CommandError("no_change", f"maintenance window {w['window_id']!r} already starts at {start}")
    before = w["start_ts"]
    fresh = new_window({"window_id": w["window_id"], "markets": w["markets"], "start_ts": start,
                        "duration_ms": w["duration_ms"], "kind": w["kind"]})
    fresh["phase_ts"] = engine.now
    w.clear()
    w.update(fresh)
    engine.emit({"type": "maintenance_rescheduled", "window_id": w["window_id"], "markets": list(w["markets"]),
                  "kind": w["kind"], "start_ts": start, "previous_start_ts": before,
                  "duration_ms": w["duration_ms"], "phase": "scheduled",
                  "operator": a["operator"], "reason": a["reason"]})


def extend(engine, a: dict) -> None:
    """Make a window longer (``duration_ms`` is the new total, longer than the current one): before it
    starts, or while it is active up to the end of its work phase (the work phase grows; the post-only
    phase keeps its length and moves to the new end). Refused once the markets are being reopened
    (validation, post_only) or when the new end has already passed."""
    w = _window(engine, a["window_id"])
    phase = w["phase"]
    dur = a["duration_ms"]
    if phase == "validation" or phase == "post_only":
        raise CommandError("window_reopening", f"maintenance window {w['window_id']!r} is in {phase}: its markets "
                                               "are being reopened, it can no longer be extended")
    if dur <= w["duration_ms"]:
        raise CommandError("not_longer", f"duration_ms must be longer than the window's {w['duration_ms']} ms")
    end = w["start_ts"] + dur
    if end <= engine.now:
        raise CommandError("in_the_past", "the extended window would already have ended")
    before = w["duration_ms"]
    if phase in NOT_STARTED:
        fresh = new_window({"window_id": w["window_id"], "markets": w["markets"], "start_ts": w["start_ts"],
                            "duration_ms": dur, "kind": w["kind"]})
        w["work_ts"], w["post_only_ts"] = fresh["work_ts"], fresh["post_only_ts"]
    else:
        w["post_only_ts"] = end - (w["end_ts"] - w["post_only_ts"])
    w["duration_ms"] = dur
    w["end_ts"] = end
    engine.emit({"type": "maintenance_extended", "window_id": w["window_id"], "markets": list(w["markets"]),
                  "kind": w["kind"], "phase": phase, "duration_ms": dur, "previous_duration_ms": before,
                  "post_only_ts": w["post_only_ts"], "end_ts": end,
                  "operator": a["operator"], "reason": a["reason"]})


def on_brake(engine) -> None:
    """The emergency brake takes the venue out of any active window's hands."""
    for wid in sorted(engine.maintenance):
        w = engine.maintenance[wid]
        if w["phase"] in ACTIVE or w["phase"] == "open":
            for m, band in sorted(w["saved_bands"].items()):
                mk = engine.markets.get(m)
                if mk is not None:
                    mk.post_only_band = band
            w["saved_bands"] = {}
            _enter(engine, w, "aborted", reason="emergency brake")


def active_markets(engine) -> set[str]:
    """Markets currently held by an active maintenance window."""
    out: set[str] = set()
    for w in engine.maintenance.values():
        if w["phase"] in ACTIVE:
            out.update(w["markets"])
    return out
