"""The node's reads: views of the engine (each under the engine lock, on a state whose every command
is durable), the snapshots known, a rollback's preview and the recent past re-derived from the
journal. None changes the venue. A part of :class:`engine.node.node.Node`.
"""

from __future__ import annotations

from collections.abc import Callable

from ..analysis import counterfactual as cf_mod
from ..analysis import rollback as rollback_mod
from . import views
from .errors import NodeError


class Reads:
    """Read-only methods of :class:`~engine.node.node.Node`."""

    # ---- gateway: reads -------------------------------------------------
    def read(self, fn: Callable, *args, **kwargs):
        """Run a read-only view (``engine.node.views``-style function) under the engine lock."""
        with self._reading():
            return fn(self.engine, *args, **kwargs)

    def status(self) -> dict:
        st = self.read(views.status)
        st["epoch"] = self.epoch
        st["leader_epoch"] = self.leader_epoch
        st["fenced"] = self._fenced is not None
        st["alerts"] = list(self.alerts)
        st["failed"] = self._failed  # fail-stopped: why (commands refused); None when serving
        return st

    def markets(self) -> list[dict]:
        return self.read(views.markets)

    def account(self, name: str) -> dict | None:
        return self.read(views.account, name)

    def accounts(self, limit: int = 500, offset: int = 0, query: str = "") -> list[dict]:
        return self.read(views.accounts, limit, offset, query)

    def book(self, market: str, levels: int = 10) -> dict:
        return self.read(views.book, market, levels)

    def accounts_by_risk(self, limit: int = 300, below_maintenance: bool = False) -> list[dict]:
        """Read-only (console): accounts with a position, riskiest first (views.accounts_by_risk)."""
        return self.read(views.accounts_by_risk, limit, below_maintenance)

    def reopen_backlog(self, market: str) -> dict:
        """Read-only (console): liquidations and TP/SL triggers waiting to fire when ``market`` reopens."""
        return self.read(views.reopen_backlog, market)

    def checks(self) -> list[dict]:
        return self.read(views.checks)

    def guard_status(self) -> dict:
        """Guard rails: safeguards on/off, per-market flags, breaker, pending oracle, quarantined writes, last audit."""
        return self.read(views.guard_status)

    def snapshots(self) -> list[dict]:
        """Snapshots known to the engine and, with a store, every stored one (newest last)."""
        mem = {s["snapshot_id"]: s for s in self.read(views.snapshots)}
        for i in self.persistence.list_snapshots():
            mem.setdefault(i.snapshot_id, {"snapshot_id": i.snapshot_id, "seq": i.seq, "ts": i.ts,
                                           "label": i.label, "trigger": i.trigger,
                                           "state_hash": i.state_hash, "size_bytes": i.size})
        return sorted(mem.values(), key=lambda s: s["seq"])

    def brake_preview(self) -> dict:
        with self._reading():
            return self.engine.brake_preview()

    def maintenance_windows(self) -> list[dict]:
        return self.read(lambda e: [dict(w) for w in e.maintenance.values()])

    # ---- rollback ----------------------------------------------------------
    def rollback_preview(self, snapshot_id: str) -> dict:
        """What rolling back to ``snapshot_id`` would change, account by account (changes nothing)."""
        with self._reading():
            eng = self.engine
            self._preload_snapshot(eng, snapshot_id)
            snap = eng.snapshots.get(snapshot_id)
            if snap is None:
                raise NodeError("unknown_snapshot", f"there is no snapshot {snapshot_id!r}")
            tail = [r.command for r in self.persistence.iter_journal(after_seq=snap.seq)]
            for c in tail:
                if c.get("type") == "rollback":
                    self._preload_snapshot(eng, c.get("snapshot_id"))
            return rollback_mod.preview(eng, snapshot_id, tail)

    # ---- read helper for the console: the recent past, re-derived from the journal ------------
    def history(self, max_commands: int = 50_000, gap_ms: int = 10_000, types=None) -> dict:
        """Read-only: the events of the journal's tail (events are not stored), re-derived by replaying
        the rows after a snapshot at or before ``head - max_commands`` on a scratch engine.

        Returns ``{"from_seq", "head", "events", "gaps"}``: ``events`` every event of the replayed
        rows, each with its row's ``seq`` and ``ts`` (the journal's stamp) and ``rolled_back`` true when
        a later ``rollback`` in the window undid it (seq after the rollback's snapshot, before the
        rollback); ``gaps``: ``(ts_before, ts_after, seq_after)`` where consecutive rows are further
        apart than ``gap_ms`` (the venue was down or idle); ``types``: keep only events of these types
        (``rolled_back`` is always kept). Never changes the venue.
        """
        with self._reading():
            head = self.engine.seq
        snap = self._base_snapshot(max(0, head - max_commands))
        if head - snap.seq > 4 * max_commands:  # no snapshot near the window: take the newest one instead
            snap = self._base_snapshot(head)
        rows = self._journal_rows(snap.seq, head)
        resolve = self._snapshot_resolver()
        eng = cf_mod.restore(snap)
        events: list[dict] = []
        gaps: list[tuple[int, int, int]] = []
        undo: list[tuple[int, int]] = []
        last_ts: int | None = snap.ts or None
        for cmd, _outcome in rows:
            seq = cmd["seq"]
            if seq != eng.seq + 1:
                break  # a gap in the journal: show what replays cleanly
            c = {k: v for k, v in cmd.items() if k != "seq"}
            if c.get("type") == "rollback":
                cf_mod.preload(eng, c.get("snapshot_id"), resolve, snap.seq)
            evs = eng.apply_obj(c)
            ts = c.get("ts") if isinstance(c.get("ts"), int) else eng.now
            if last_ts is not None and ts - last_ts > gap_ms:
                gaps.append((last_ts, ts, seq))
            last_ts = ts
            for ev in evs:
                if ev.get("type") == "rolled_back" and isinstance(ev.get("to_seq"), int):
                    undo.append((ev["to_seq"], seq))
                if types is None or ev.get("type") in types or ev.get("type") == "rolled_back":
                    events.append({**ev, "seq": seq, "ts": ts})
        for after_seq, rb_seq in undo:
            for ev in events:
                if after_seq < ev["seq"] < rb_seq:
                    ev["rolled_back"] = True
        return {"from_seq": snap.seq, "head": eng.seq, "events": events, "gaps": gaps, "last_ts": last_ts}
