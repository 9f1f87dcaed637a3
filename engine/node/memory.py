"""In-memory persistence: what a node without a database (``Node()``: tests, frozen demos) keeps.

The journal (command dicts as applied, each with its ``seq``), the audit log, refund records and
alert deliveries (the newest 1,000) live in this object, so they last as long as the node. There
is no snapshot library (the engine's own snapshots are the only copy), no mirror of maintenance
windows (the engine holds them), no chains to verify, no anchor and no lease: ``durable = False``
tells the node so (see :mod:`engine.node.persistence`).
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from ..core.snapshot import Snapshot


class MemoryRecord(NamedTuple):
    """One in-memory journal row. ``command`` is the row as kept (the command with its ``seq``); the
    outcome is not kept (None), as a node without a store never kept it."""

    seq: int
    ts: int | None
    command: dict
    outcome: str | None = None


class AuditEntry:
    """One in-memory audit record as the Store's iter_audit gives one: ``as_dict()`` is the kept dict
    itself (id, ts, operator, role, action, command, reason, outcome), as the node always returned it."""

    __slots__ = ("row",)

    def __init__(self, row: dict) -> None:
        self.row = row

    def as_dict(self) -> dict:
        return self.row


class MemoryPersistence:
    """The node's :class:`~engine.node.persistence.Persistence`, in memory (see the module docstring)."""

    durable = False

    def __init__(self, where: str = "memory") -> None:
        self.where = where
        self.key: bytes | None = None
        self.key_id: str | None = None
        self.anchor_path: Path | None = None
        self.journal: list[dict] = []  # command dicts as applied (with "seq"); the node exposes it as Node.journal
        self.audit_log: list[dict] = []
        self.refund_book: dict[str, dict] = {}
        self.deliveries: deque = deque(maxlen=1000)
        self._delivery_ids = itertools.count(1)  # next() is atomic: sink workers record concurrently
        self._lock = threading.Lock()  # guards the refunds and the audit log (readers copy under it)

    # ---- the journal ----
    def append_journal(self, rows: Sequence[Any], rollbacks: Sequence[Any] = ()) -> None:
        """Keep the batch's commands (``rows``: JournalEntry fields); there is no head hash (None)."""
        journal = self.journal
        for r in rows:  # (seq, ts, type, payload, outcome, epoch)
            journal.append({**r[3], "seq": r[0]})
        return None

    def head(self) -> tuple[int, str]:
        return (self.journal[-1]["seq"], "") if self.journal else (0, "")

    def journal_head(self, lock: bool = False) -> tuple[int, str]:
        return self.head()

    def last_seq(self) -> int:
        return self.head()[0]

    def iter_journal(self, after_seq: int = 0, epoch: int | None = None, *, upto_seq: int | None = None,
                     live_only: bool = False, batch_size: int = 10_000) -> Iterator[MemoryRecord]:
        for c in list(self.journal):
            seq = c["seq"]
            if seq <= after_seq:
                continue
            if upto_seq is not None and seq > upto_seq:
                break
            yield MemoryRecord(seq, c.get("ts"), c)

    def get_journal(self, seq: int) -> MemoryRecord | None:
        for c in self.journal:
            if c["seq"] == seq:
                return MemoryRecord(seq, c.get("ts"), c)
        return None

    def current_epoch(self) -> int:
        return 1

    def writer_config(self) -> dict | None:
        return None

    # ---- snapshots: none kept here (the engine's own are the only copy) ----
    def save_snapshot(self, snap: Snapshot, *, created_at: int | None = None) -> None:
        return None

    def list_snapshots(self, trigger: str | None = None) -> list[Any]:
        return []

    def load_snapshot(self, snapshot_id: str) -> Snapshot:
        from ..store.store import StoreNotFoundError

        raise StoreNotFoundError(f"there is no stored snapshot {snapshot_id!r} (in memory: none are stored)")

    def latest_snapshot(self, max_seq: int | None = None, *, skip_corrupt: bool = False) -> Snapshot | None:
        return None

    def snapshot_trust(self, snap: Snapshot) -> str:
        return "none"

    def prune_auto_snapshots(self, keep_last_n: int) -> list[str]:
        return []

    # ---- the audit log ----
    def append_audit(self, *, operator: str, role: str, action: str, command: Mapping | None = None,
                     reason: str = "", outcome: str = "", ts: int | None = None) -> AuditEntry:
        with self._lock:
            row = {"id": len(self.audit_log) + 1, "ts": ts, "operator": operator, "role": role, "action": action,
                   "command": command, "reason": reason, "outcome": outcome}
            self.audit_log.append(row)
        return AuditEntry(row)

    def iter_audit(self, *, operator: str | None = None, role: str | None = None,
                   action: str | None = None, since_ts: int | None = None, until_ts: int | None = None,
                   query: str | None = None, after_id: int = 0, limit: int | None = None,
                   newest_first: bool = False) -> Iterator[AuditEntry]:
        """As the Store's, except ``query``: a case-insensitive substring of the whole record."""
        q = (query or "").lower()
        with self._lock:
            rows = [r for r in self.audit_log
                    if r["id"] > after_id and (operator is None or r["operator"] == operator)
                    and (role is None or r["role"] == role) and (action is None or r["action"] == action)
                    and (since_ts is None or r["ts"] >= since_ts) and (until_ts is None or r["ts"] <= until_ts)
                    and (not q or q in str(r).lower())]
        if newest_first:
            rows.reverse()
        return iter([AuditEntry(r) for r in (rows[:limit] if limit else rows)])  # (0: all, as before)

    # ---- maintenance windows: the engine holds them; nothing is mirrored in memory ----
    def save_maintenance(self, window: Mapping) -> dict:
        return dict(window)

    # ---- refunds ----
    def create_refund(self, refund: Mapping) -> dict:
        from ..store.store import RecordConflictError

        rec = dict(refund)
        with self._lock:
            if rec["refund_id"] in self.refund_book:
                raise RecordConflictError(f"refund {rec['refund_id']} already exists")
            self.refund_book[rec["refund_id"]] = rec
            return dict(rec)

    def get_refund(self, refund_id: str) -> dict | None:
        with self._lock:
            rec = self.refund_book.get(refund_id)
            return dict(rec) if rec is not None else None

    def list_refunds(self, status: str | None = None, account: str | None = None) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self.refund_book.values()
                    if (status is None or r["status"] == status) and (account is None or r["account"] == account)]

    def update_refund(self, refund_id: str, *, expect_status: str | None, **changes: Any) -> dict:
        from ..store.store import RecordConflictError

        with self._lock:
            rec = self.refund_book[refund_id]
            if expect_status is not None and rec["status"] != expect_status:
                raise RecordConflictError(f"refund {refund_id} is {rec['status']}, not {expect_status}")
            rec.update(changes)
            return dict(rec)

    # ---- alert deliveries ----
    def record_alert_delivery(self, rec: Mapping) -> dict:
        row = {"id": next(self._delivery_ids), **rec}
        self.deliveries.append(row)
        return row

    def list_alert_deliveries(self, limit: int = 200, *, sink: str | None = None,
                              dedup_key: str | None = None) -> list[dict]:
        rows = [r for r in list(self.deliveries)[::-1]
                if (sink is None or r.get("sink") == sink) and (dedup_key is None or r.get("dedup_key") == dedup_key)]
        return rows[:limit]

    # ---- trust: nothing to verify in memory ----
    def verify_chains(self, *, journal: bool = True, audit: bool = True, journal_from: int = 0,
                      progress: Callable[[str, int], object] | None = None, live: bool = False) -> list[Any]:
        return []

    def verify_journal_prefix(self, upto_seq: int, stop: Callable[[], bool] | None = None) -> None:
        return None

    def meta(self) -> dict[str, str]:
        return {}

    def set_meta(self, key: str, value: str) -> None:
        return None

    def close(self) -> None:
        return None
