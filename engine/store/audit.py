"""The audit log: every operator action, hash-chained like the journal (and keyed the same way).

``id`` 1, 2, 3, ... assigned under the chain's lock; ``hash`` = :func:`~engine.store.records.audit_hash`
of the previous row's hash and the record; the head (last id and hash) is kept in the meta table's
``audit_head`` record in the same transaction. :mod:`engine.store.verify` checks the chain.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from sqlalchemy import or_, select

from .base import StoreBase
from .records import AuditRecord, audit_hash, canonical_json, now_ms, split_head, split_key
from .schema import audit_t, meta_t, read_meta, write_meta


class StoreAudit(StoreBase):
    """The audit log's methods of :class:`engine.store.store.Store`."""

    def append_audit(self, *, operator: str, role: str, action: str, command: Mapping | None = None,
                     reason: str = "", outcome: str = "", ts: int | None = None) -> AuditRecord:
        """Append one operator action to the hash-chained audit log; return the stored record.

        ``ts`` defaults to the wall clock (ms). ``command`` is stored as canonical JSON.
        ``id`` is assigned 1, 2, 3, ... under the chain's lock.
        """
        cmd = canonical_json(dict(command)) if command is not None else None
        ts = now_ms() if ts is None else int(ts)
        with self.write("appending to the audit log") as conn:
            head_id, head_hash = split_head(read_meta(conn, ("audit_head",), lock=True)["audit_head"])
            rid = head_id + 1
            keyed = split_key(read_meta(conn).get("audit_key"))
            key = self.chain_key("audit", keyed)
            if keyed is None and key is not None:
                conn.execute(meta_t.insert(), [{"key": "audit_key", "value": f"{self.key_id} {rid}"}])
            h = audit_hash(head_hash, rid, ts, operator, role, action, cmd, reason, outcome, key)
            rec = AuditRecord(rid, ts, operator, role, action, cmd, reason, outcome, head_hash, h)
            conn.execute(audit_t.insert().values(**rec._asdict()))
            write_meta(conn, "audit_head", f"{rid} {h}")
        return rec

    def iter_audit(self, *, operator: str | None = None, role: str | None = None,
                   action: str | None = None, since_ts: int | None = None, until_ts: int | None = None,
                   query: str | None = None, after_id: int = 0, limit: int | None = None,
                   newest_first: bool = False) -> Iterator[AuditRecord]:
        """Stream audit records matching every given filter.

        ``query`` is a case-insensitive substring searched in operator, action, reason,
        outcome and command. ``since_ts``/``until_ts`` are inclusive.
        """
        c = audit_t.c
        stmt = select(c.id, c.ts, c.operator, c.role, c.action, c.command, c.reason, c.outcome,
                      c.prev_hash, c.hash).where(c.id > after_id)
        if operator is not None:
            stmt = stmt.where(c.operator == operator)
        if role is not None:
            stmt = stmt.where(c.role == role)
        if action is not None:
            stmt = stmt.where(c.action == action)
        if since_ts is not None:
            stmt = stmt.where(c.ts >= since_ts)
        if until_ts is not None:
            stmt = stmt.where(c.ts <= until_ts)
        if query:
            stmt = stmt.where(or_(*(col.icontains(query, autoescape=True)
                                    for col in (c.operator, c.action, c.reason, c.outcome, c.command))))
        stmt = stmt.order_by(c.id.desc() if newest_first else c.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        yield from self.stream(stmt, AuditRecord, "reading the audit log", 1000)
