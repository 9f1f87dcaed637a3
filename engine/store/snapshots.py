"""Snapshots: saving the engine's snapshots, their MACs, listing, loading (checked), pruning.

A snapshot (:class:`engine.core.snapshot.Snapshot`) is stored with its bytes, checked against its
state hash when saved and when loaded. With a chain key the store also records the snapshot's MAC
(:func:`engine.store.trust.snapshot_mac`) in the meta table (:func:`~engine.store.records.snapshot_mac_key`),
so :meth:`StoreSnapshots.snapshot_trust` can tell a snapshot saved by a node holding the key from a
forged one. Snapshots are never overwritten; only automatic ones are pruned, never one a recorded
rollback restored.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..core.snapshot import Snapshot
from . import trust
from .base import StoreBase
from .errors import (
    ChainKeyMissingError,
    RecordConflictError,
    SnapshotForgedError,
    StoreCorruptError,
    StoreError,
    StoreNotFoundError,
)
from .records import SnapshotInfo, now_ms, snapshot_mac_key, split_key
from .schema import epochs_t, meta_t, snapshots_t

SNAPSHOT_TRIGGERS = ("auto", "manual", "maintenance")


class StoreSnapshots(StoreBase):
    """The snapshot methods of :class:`engine.store.store.Store`."""

    def save_snapshot(self, snap: Snapshot, *, created_at: int | None = None) -> SnapshotInfo:
        """Store an engine snapshot (:class:`engine.core.snapshot.Snapshot`).

        The bytes must match ``snap.state_hash`` (a corrupt snapshot is refused). Saving the
        same snapshot twice is a no-op; a different snapshot under an existing id is refused.
        """
        if snap.trigger not in SNAPSHOT_TRIGGERS:
            raise StoreError(f"snapshot trigger must be one of {', '.join(SNAPSHOT_TRIGGERS)}, "
                             f"not {snap.trigger!r}")
        data = bytes(snap.data)
        if hashlib.sha256(data).hexdigest() != snap.state_hash:
            raise StoreCorruptError(f"snapshot {snap.snapshot_id} was not saved: its bytes do not match "
                                    f"its state hash {snap.state_hash[:12]}... (corrupt in memory?)")
        info = SnapshotInfo(snap.snapshot_id, snap.seq, snap.ts, snap.label or "", snap.trigger,
                            snap.state_hash, len(data), created_at if created_at is not None else now_ms())
        with self.write(f"saving snapshot {snap.snapshot_id}") as conn:
            c = snapshots_t.c
            old = conn.execute(select(c.seq, c.state_hash).where(c.id == snap.snapshot_id)).first()
            if old is not None:
                if tuple(old) == (snap.seq, snap.state_hash):
                    return self._snapshot_info(conn, snap.snapshot_id)
                raise RecordConflictError(
                    f"a different snapshot {snap.snapshot_id!r} (seq {old[0]}) is already stored; "
                    f"snapshots are never overwritten")
            conn.execute(snapshots_t.insert().values(
                id=info.snapshot_id, seq=info.seq, ts=info.ts, label=info.label, trigger=info.trigger,
                state_hash=info.state_hash, size=info.size, data=data, created_at=info.created_at))
            if self.key is not None:
                mk = snapshot_mac_key(info.snapshot_id)
                conn.execute(meta_t.delete().where(meta_t.c.key == mk))
                conn.execute(meta_t.insert(), [{"key": mk, "value": trust.snapshot_mac(
                    self.key, info.snapshot_id, info.seq, info.state_hash)}])
        return info

    def snapshot_trust(self, snap: Snapshot) -> str:
        """"keyed" when the snapshot carries a valid MAC of this key, "unkeyed" when it has none and
        predates the keyed journal; raises :class:`SnapshotForgedError` otherwise."""
        m = self.meta()
        mac = m.get(snapshot_mac_key(snap.snapshot_id))
        keyed = split_key(m.get("journal_key"))
        if mac is None:
            if keyed is not None and snap.seq >= keyed[1]:
                raise SnapshotForgedError(
                    f"snapshot {snap.snapshot_id} (seq {snap.seq}) has no MAC although the journal is keyed "
                    f"from seq {keyed[1]}: it was not saved by a perpdesk node holding the key (forged or "
                    f"inserted by hand)")
            return "unkeyed"
        if self.key is None:
            raise ChainKeyMissingError(
                f"snapshot {snap.snapshot_id} is keyed but no journal key is available: set "
                f"{trust.ENV_KEY} or restore {trust.key_file()}")
        if not hmac.compare_digest(mac, trust.snapshot_mac(self.key, snap.snapshot_id, snap.seq, snap.state_hash)):
            raise SnapshotForgedError(
                f"snapshot {snap.snapshot_id} (seq {snap.seq}): its MAC does not match its content: it was "
                f"altered and its hash recomputed (forged), or written with another key")
        return "keyed"

    @staticmethod
    def _snapshot_info(conn: Connection, snapshot_id: str) -> SnapshotInfo:
        c = snapshots_t.c
        row = conn.execute(select(c.id, c.seq, c.ts, c.label, c.trigger, c.state_hash, c.size,
                                  c.created_at).where(c.id == snapshot_id)).one()
        return SnapshotInfo(*row)

    def list_snapshots(self, trigger: str | None = None) -> list[SnapshotInfo]:
        """Stored snapshots without their bytes, oldest (lowest seq) first."""
        c = snapshots_t.c
        stmt = select(c.id, c.seq, c.ts, c.label, c.trigger, c.state_hash, c.size, c.created_at) \
            .order_by(c.seq, c.created_at, c.id)
        if trigger is not None:
            stmt = stmt.where(c.trigger == trigger)
        with self.read("listing snapshots") as conn:
            return [SnapshotInfo(*r) for r in conn.execute(stmt).all()]

    def load_snapshot(self, snapshot_id: str) -> Snapshot:
        """The snapshot with its bytes, checked against its hash.

        Raises :class:`StoreNotFoundError` if absent and :class:`StoreCorruptError` if its bytes
        no longer match the recorded state hash.
        """
        c = snapshots_t.c
        with self.read(f"loading snapshot {snapshot_id}") as conn:
            row = conn.execute(select(c.id, c.seq, c.ts, c.label, c.trigger, c.state_hash, c.data)
                               .where(c.id == snapshot_id)).first()
        if row is None:
            raise StoreNotFoundError(f"there is no snapshot {snapshot_id!r} in {self.where}")
        sid, seq, ts, label, trigger, state_hash, data = row
        data = bytes(data)
        if hashlib.sha256(data).hexdigest() != state_hash:
            raise StoreCorruptError(
                f"snapshot {sid} (seq {seq}) is corrupt or truncated: its {len(data)} bytes no longer "
                f"match the recorded state hash {state_hash[:12]}.... Use an older snapshot (recovery "
                f"then replays more of the journal) and keep the database for forensics.")
        return Snapshot(sid, seq, ts, label, trigger, state_hash, data)

    def latest_snapshot(self, max_seq: int | None = None, *, skip_corrupt: bool = False) -> Snapshot | None:
        """The newest snapshot (highest seq, optionally ``<= max_seq``), or None if there is none.

        With ``skip_corrupt=True`` a corrupt newest snapshot is passed over for the next older
        sound one (recovery then replays more journal); otherwise it raises StoreCorruptError.
        """
        infos = [i for i in self.list_snapshots() if max_seq is None or i.seq <= max_seq]
        for info in reversed(infos):
            try:
                return self.load_snapshot(info.snapshot_id)
            except StoreCorruptError:
                if not skip_corrupt:
                    raise
        return None

    def prune_auto_snapshots(self, keep_last_n: int) -> list[str]:
        """Delete all but the newest ``keep_last_n`` snapshots with trigger ``auto``.

        Manual and maintenance snapshots are never pruned, nor an auto snapshot that a recorded
        rollback restored (replaying that rollback needs it). Returns the deleted ids.
        """
        if keep_last_n < 0:
            raise StoreError("keep_last_n must be >= 0")
        c = snapshots_t.c
        with self.write("pruning automatic snapshots") as conn:
            autos = [r[0] for r in conn.execute(
                select(c.id).where(c.trigger == "auto").order_by(c.seq.desc(), c.created_at.desc(), c.id.desc()))]
            used = {r[0] for r in conn.execute(select(epochs_t.c.snapshot_id)) if r[0] is not None}
            doomed = [sid for sid in autos[keep_last_n:] if sid not in used]
            if doomed:
                conn.execute(snapshots_t.delete().where(c.id.in_(doomed), c.trigger == "auto"))
                conn.execute(meta_t.delete().where(meta_t.c.key.in_([snapshot_mac_key(d) for d in doomed])))
        return doomed
