"""The desk's records: maintenance windows, refunds, alert deliveries and operators.

Plain tables beside the chains (not hashed): maintenance windows (inserted or updated by id),
refunds (proposed, then decided and paid by compare-and-set on their status, paid at most once),
alert delivery attempts (schema version 2; never a secret) and operator tokens (schema version 3:
names, roles, token ids, salts and scrypt hashes, never a token; engine/venue/operators.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import select, text, update

from .base import StoreBase
from .errors import RecordConflictError, StoreError, StoreNotFoundError
from .records import canonical_json, now_ms
from .schema import alert_deliveries_t, maintenance_t, operators_t, refunds_t

REFUND_STATUSES = ("proposed", "approved", "rejected", "paid")


class StoreDesk(StoreBase):
    """The maintenance, refund, alert delivery and operator methods of :class:`engine.store.store.Store`."""

    def save_maintenance(self, window: Mapping) -> dict:
        """Insert or update a maintenance window (by ``window_id``); return it as stored.

        Keys: window_id, markets (list), start_ts, duration_ms, kind, phase (default
        "scheduled"), snapshot_id (optional), detail (optional dict).
        """
        w = dict(window)
        try:
            wid = str(w["window_id"])
            values = {
                "markets": canonical_json(list(w.get("markets", []))),
                "start_ts": int(w["start_ts"]),
                "duration_ms": int(w["duration_ms"]),
                "kind": str(w.get("kind", "")),
                "phase": str(w.get("phase", "scheduled")),
                "snapshot_id": w.get("snapshot_id"),
                "detail": canonical_json(w["detail"]) if w.get("detail") is not None else None,
            }
        except (KeyError, TypeError, ValueError) as e:
            raise StoreError(f"maintenance window not saved: missing or bad field {e}") from None
        now = now_ms()
        with self.write(f"saving maintenance window {wid}") as conn:
            c = maintenance_t.c
            n = conn.execute(update(maintenance_t).where(c.window_id == wid)
                             .values(**values, updated_ts=now)).rowcount
            if not n:
                conn.execute(maintenance_t.insert().values(window_id=wid, **values, created_ts=now,
                                                           updated_ts=now))
            row = conn.execute(select(maintenance_t).where(c.window_id == wid)).one()
        return _window_dict(row)

    def get_maintenance(self, window_id: str) -> dict | None:
        with self.read("reading maintenance windows") as conn:
            row = conn.execute(select(maintenance_t).where(maintenance_t.c.window_id == window_id)).first()
        return _window_dict(row) if row is not None else None

    def list_maintenance(self, phase: str | None = None) -> list[dict]:
        """Maintenance windows ordered by start time."""
        c = maintenance_t.c
        stmt = select(maintenance_t).order_by(c.start_ts, c.window_id)
        if phase is not None:
            stmt = stmt.where(c.phase == phase)
        with self.read("reading maintenance windows") as conn:
            return [_window_dict(r) for r in conn.execute(stmt).all()]

    # --------------------------------------------------------------- refunds
    def create_refund(self, refund: Mapping) -> dict:
        """Insert a proposed refund; return it as stored.

        Keys: refund_id, account, amount (int micro-USDC), reason, evidence (dict), proposer,
        status (default "proposed"), created_ts (default now). An existing id is refused.
        """
        r = dict(refund)
        try:
            values = {
                "refund_id": str(r["refund_id"]),
                "account": str(r["account"]),
                "amount": _int_amount(r["amount"]),
                "reason": str(r.get("reason", "")),
                "evidence": canonical_json(r.get("evidence") or {}),
                "proposer": str(r["proposer"]),
                "status": str(r.get("status", "proposed")),
                "approver": r.get("approver"),
                "decision_reason": r.get("decision_reason"),
                "fund": r.get("fund"),
                "paid_seq": r.get("paid_seq"),
                "created_ts": int(r["created_ts"]) if r.get("created_ts") is not None else now_ms(),
            }
        except (KeyError, TypeError, ValueError) as e:
            raise StoreError(f"refund not saved: missing or bad field {e}") from None
        if values["status"] not in REFUND_STATUSES:
            raise StoreError(f"refund status must be one of {', '.join(REFUND_STATUSES)}")
        with self.write(f"saving refund {values['refund_id']}") as conn:
            c = refunds_t.c
            if conn.execute(select(c.refund_id).where(c.refund_id == values["refund_id"])).first():
                raise RecordConflictError(f"refund {values['refund_id']!r} already exists")
            conn.execute(refunds_t.insert().values(**values))
            row = conn.execute(select(refunds_t).where(c.refund_id == values["refund_id"])).one()
        return _refund_dict(row)

    def get_refund(self, refund_id: str) -> dict | None:
        with self.read("reading refunds") as conn:
            row = conn.execute(select(refunds_t).where(refunds_t.c.refund_id == refund_id)).first()
        return _refund_dict(row) if row is not None else None

    def list_refunds(self, status: str | None = None, account: str | None = None) -> list[dict]:
        """Refunds, oldest first."""
        c = refunds_t.c
        stmt = select(refunds_t).order_by(c.created_ts, c.refund_id)
        if status is not None:
            stmt = stmt.where(c.status == status)
        if account is not None:
            stmt = stmt.where(c.account == account)
        with self.read("reading refunds") as conn:
            return [_refund_dict(r) for r in conn.execute(stmt).all()]

    _REFUND_MUTABLE = frozenset({"status", "approver", "decision_reason", "decided_ts", "fund", "paid_seq",
                                 "paid_ts"})

    def update_refund(self, refund_id: str, *, expect_status: str | None, **changes: Any) -> dict:
        """Change a refund if its status is still ``expect_status`` (compare-and-set); return it.

        Changeable: status, approver, decision_reason, decided_ts, fund, paid_seq, paid_ts.
        Raises :class:`RecordConflictError` if the refund's status is no longer
        ``expect_status`` (someone decided or paid it meanwhile) or ``paid_seq`` is already set
        (a refund is paid at most once), :class:`StoreNotFoundError` if it does not exist.
        """
        bad = set(changes) - self._REFUND_MUTABLE
        if bad:
            raise StoreError(f"refund fields {sorted(bad)} cannot be changed")
        if "status" in changes and changes["status"] not in REFUND_STATUSES:
            raise StoreError(f"refund status must be one of {', '.join(REFUND_STATUSES)}")
        c = refunds_t.c
        with self.write(f"updating refund {refund_id}") as conn:
            row = conn.execute(select(c.status, c.paid_seq).where(c.refund_id == refund_id)
                               .with_for_update()).first()
            if row is None:
                raise StoreNotFoundError(f"there is no refund {refund_id!r}")
            if expect_status is not None and row.status != expect_status:
                raise RecordConflictError(f"refund {refund_id} is {row.status}, not {expect_status}: "
                                          f"it changed meanwhile; reload it")
            if changes.get("paid_seq") is not None and row.paid_seq is not None:
                raise RecordConflictError(f"refund {refund_id} was already paid at seq {row.paid_seq}")
            if changes:
                conn.execute(update(refunds_t).where(c.refund_id == refund_id).values(**changes))
            out = conn.execute(select(refunds_t).where(c.refund_id == refund_id)).one()
        return _refund_dict(out)

    # ------------------------------------------------------- alert deliveries
    def record_alert_delivery(self, rec: Mapping) -> dict:
        """Store one delivery attempt (keys as :class:`AlertDeliveryRow`, ``id`` assigned); return it."""
        cols = {c.name for c in alert_deliveries_t.columns} - {"id"}
        row = {k: rec.get(k) for k in cols}
        row["error"] = row.get("error") or ""
        missing = [k for k in ("ts", "kind", "action", "dedup_key", "severity", "sink", "sink_kind", "attempt",
                               "status") if row.get(k) is None]
        if missing:
            raise StoreError(f"an alert delivery record needs {', '.join(missing)}")
        with self.write("recording an alert delivery") as conn:
            rid = conn.execute(alert_deliveries_t.insert().values(**row)).inserted_primary_key[0]
        return {"id": rid, **row}

    def list_alert_deliveries(self, limit: int = 200, *, sink: str | None = None,
                              dedup_key: str | None = None) -> list[dict]:
        """The newest ``limit`` delivery attempts (newest first), optionally of one sink or dedup key."""
        c = alert_deliveries_t.c
        stmt = select(alert_deliveries_t)
        if sink is not None:
            stmt = stmt.where(c.sink == sink)
        if dedup_key is not None:
            stmt = stmt.where(c.dedup_key == dedup_key)
        stmt = stmt.order_by(c.id.desc()).limit(limit)
        with self.read("reading alert deliveries") as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    # -------------------------------------------------------------- operators
    _OPERATOR_COLUMNS = ("token_id", "name", "role", "salt", "hash", "created_ms", "created_by", "revoked_ms",
                         "revoked_by", "last_seen_ms")

    def add_operator(self, row: Mapping) -> dict:
        """Insert one operator token row (keys as :class:`OperatorRow`). Refuses
        (:class:`RecordConflictError`) a second active operator of the same name, or a token id in use."""
        values = {k: row.get(k) for k in self._OPERATOR_COLUMNS}
        c = operators_t.c
        with self.write(f"adding operator {values['name']}") as conn:
            if self.backend == "postgresql":  # serialise adds (the partial unique index is the backstop)
                conn.execute(text("SELECT pg_advisory_xact_lock(7074726564657369)"))
            taken = conn.execute(select(c.token_id).where(c.name == values["name"], c.revoked_ms.is_(None))).first()
            if taken is not None:
                raise RecordConflictError(f"an active operator named {values['name']!r} already exists")
            if conn.execute(select(c.token_id).where(c.token_id == values["token_id"])).first() is not None:
                raise RecordConflictError(f"token id {values['token_id']!r} is in use")
            conn.execute(operators_t.insert().values(**values))
        return dict(values)

    def get_operator(self, token_id: str) -> dict | None:
        """The operator row of a token id (revoked or not), or None."""
        with self.read("reading operators") as conn:
            r = conn.execute(select(operators_t).where(operators_t.c.token_id == token_id)).first()
        return dict(r._mapping) if r is not None else None

    def list_operators(self) -> list[dict]:
        """Every operator row, oldest first (revoked ones included)."""
        c = operators_t.c
        with self.read("reading operators") as conn:
            return [dict(r._mapping) for r in conn.execute(select(operators_t).order_by(c.created_ms, c.token_id))]

    def revoke_operator(self, name: str, *, by: str, ts: int) -> dict:
        """Revoke the active operator ``name``; return its row. :class:`StoreNotFoundError` if none."""
        c = operators_t.c
        with self.write(f"revoking operator {name}") as conn:
            r = conn.execute(select(operators_t).where(c.name == name, c.revoked_ms.is_(None))
                             .with_for_update()).first()
            if r is None:
                raise StoreNotFoundError(f"there is no active operator named {name!r}")
            conn.execute(update(operators_t).where(c.token_id == r.token_id).values(revoked_ms=ts, revoked_by=by))
        return {**dict(r._mapping), "revoked_ms": ts, "revoked_by": by}

    def touch_operator(self, token_id: str, ts: int) -> None:
        """Record that ``token_id`` was used at ``ts`` (ms)."""
        with self.write("recording an operator's last use") as conn:
            conn.execute(update(operators_t).where(operators_t.c.token_id == token_id).values(last_seen_ms=ts))



def _int_amount(value: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str):
        from ..core.fixedpoint import parse_decimal

        return parse_decimal(value, 6, "amount")
    raise TypeError(f"amount must be int micro-USDC or a decimal string, not {type(value).__name__}")


def _window_dict(row) -> dict:
    d = dict(row._mapping)
    d["markets"] = orjson.loads(d["markets"])
    d["detail"] = orjson.loads(d["detail"]) if d["detail"] is not None else None
    return d


def _refund_dict(row) -> dict:
    d = dict(row._mapping)
    d["evidence"] = orjson.loads(d["evidence"])
    return d
