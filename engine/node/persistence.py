"""The node's persistence port: exactly what :class:`engine.node.node.Node` (its sequencer, write
pipeline, recovery, audit and refund desk) needs from storage.

Two implementations:

* :class:`engine.store.store.Store`, the durable one (SQLite or PostgreSQL). It satisfies
  :class:`Persistence` structurally (no base class, no adapter: the names and signatures below are
  the Store's own); ``tests/node/test_persistence.py`` checks it.
* :class:`engine.node.memory.MemoryPersistence`: what a node without a database (``Node()``: tests,
  frozen demos) keeps in memory: the journal, the audit log, refunds and alert deliveries, and
  nothing more (no snapshot library, no anchor, no lease).

Where the two truly behave differently the node asks :func:`is_durable` (a capability, not a type
test): a durable persistence is the library of record for snapshots (a ``rollback`` restores what
it holds), is journaled by a writer thread and process while the sequencer applies the next batch,
and is recovered from at a start or after a failed write; a non-durable one is none of these (its
node acknowledges on the sequencer thread, and the engine's own snapshots are the only copy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..core.snapshot import Snapshot


@runtime_checkable
class Persistence(Protocol):
    """What the node reads and writes outside the engine (see the module docstring)."""

    where: str  # what to call it in messages (a URL without its password, or "memory")
    key: bytes | None  # the chain key (engine/store/trust.py); None: unkeyed (memory)
    key_id: str | None
    anchor_path: Path | None  # where the node records the head it acknowledged (None: nowhere)

    # ---- the journal (hash-chained, group-committed) ----
    def append_journal(self, rows: Sequence[Any], rollbacks: Sequence[Any] = ()) -> Any:
        """Append one applied batch (JournalEntry fields, RollbackMark), durably: the head after it."""

    def head(self) -> tuple[int, str]:
        """(last seq, its hash)."""

    def journal_head(self, lock: bool = False) -> tuple[int, str]:
        """The head read in a transaction (``lock``: wait for a writer's transaction to end)."""

    def last_seq(self) -> int:
        """The journal's last seq (0: empty)."""

    def iter_journal(self, after_seq: int = 0, epoch: int | None = None, *, upto_seq: int | None = None,
                     live_only: bool = False, batch_size: int = 10_000) -> Iterator[Any]:
        """Rows after ``after_seq`` (through ``upto_seq``), each with ``seq, ts, command, outcome``."""

    def get_journal(self, seq: int) -> Any:
        """One row (``seq, ts, command, outcome, hash``) or None."""

    def current_epoch(self) -> int:
        """The rollback epoch the next row is journaled in."""

    def writer_config(self) -> dict | None:
        """How a journal writer process opens this storage itself (None: it cannot)."""

    # ---- snapshots ----
    def save_snapshot(self, snap: Snapshot, *, created_at: int | None = None) -> Any:
        """Store one snapshot taken by the engine."""

    def list_snapshots(self, trigger: str | None = None) -> list[Any]:
        """Stored snapshots without their bytes (``snapshot_id, seq, ts, label, trigger, state_hash, size``)."""

    def load_snapshot(self, snapshot_id: str) -> Snapshot:
        """One stored snapshot (raises StoreNotFoundError / StoreCorruptError)."""

    def latest_snapshot(self, max_seq: int | None = None, *, skip_corrupt: bool = False) -> Snapshot | None:
        """The newest stored snapshot at or before ``max_seq``."""

    def snapshot_trust(self, snap: Snapshot) -> str:
        """How far the start may trust ``snap`` (signed, ...)."""

    def prune_auto_snapshots(self, keep_last_n: int) -> list[str]:
        """Drop the older automatic snapshots; the ids dropped."""

    # ---- the audit log ----
    def append_audit(self, *, operator: str, role: str, action: str, command: Mapping | None = None,
                     reason: str = "", outcome: str = "", ts: int | None = None) -> Any:
        """Append one operator action."""

    def iter_audit(self, *, operator: str | None = None, role: str | None = None,
                   action: str | None = None, since_ts: int | None = None, until_ts: int | None = None,
                   query: str | None = None, after_id: int = 0, limit: int | None = None,
                   newest_first: bool = False) -> Iterator[Any]:
        """Audit records (each with ``as_dict()``) matching the filters."""

    # ---- maintenance windows (a mirror of engine state), refunds, alert deliveries ----
    def save_maintenance(self, window: Mapping) -> dict:
        """Mirror one maintenance window as the engine left it."""

    def create_refund(self, refund: Mapping) -> dict:
        """Store a proposed refund record."""

    def get_refund(self, refund_id: str) -> dict | None:
        """One refund record, or None."""

    def list_refunds(self, status: str | None = None, account: str | None = None) -> list[dict]:
        """Refund records, oldest first."""

    def update_refund(self, refund_id: str, *, expect_status: str | None, **changes: Any) -> dict:
        """Change a refund record whose status is ``expect_status`` (else a StoreError)."""

    def record_alert_delivery(self, rec: Mapping) -> dict:
        """Keep one alert delivery attempt."""

    def list_alert_deliveries(self, limit: int = 200, *, sink: str | None = None,
                              dedup_key: str | None = None) -> list[dict]:
        """The newest delivery attempts, newest first."""

    # ---- trust: the chains, the meta records the anchor check reads ----
    def verify_chains(self, *, journal: bool = True, audit: bool = True, journal_from: int = 0,
                      progress: Callable[[str, int], object] | None = None, live: bool = False) -> list[Any]:
        """The first bad record of each chain (empty: they verify)."""

    def verify_journal_prefix(self, upto_seq: int, stop: Callable[[], bool] | None = None) -> Any:
        """The first bad journal record up to ``upto_seq`` (None: sound)."""

    def meta(self) -> dict[str, str]:
        """The storage's meta records."""

    def set_meta(self, key: str, value: str) -> None:
        """Set one meta record."""

    def close(self) -> None:
        """Release the storage."""


def is_durable(p: Persistence) -> bool:
    """True unless ``p`` says it keeps nothing across a restart (``durable = False``, as
    :class:`engine.node.memory.MemoryPersistence` does); a :class:`engine.store.store.Store` is durable."""
    return bool(getattr(p, "durable", True))
