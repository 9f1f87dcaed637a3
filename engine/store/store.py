"""The store: journal, snapshots, audit log, maintenance windows and refunds, in one database.

:class:`Store` is assembled here from the package's parts, one idea a module:

============================  ===========================================================
:mod:`.errors`                every store error (:class:`StoreError` and its subclasses, each a
                              :class:`engine.errors.PerpdeskError` with a stable ``code``)
:mod:`.records`               the NamedTuples the methods take and return; the chain hashes
:mod:`.schema`                the tables (SQLModel), the meta records, the migrations
:mod:`.connect`               the SQLite/PostgreSQL engines, the SQLite file precheck, error translation
:mod:`.base`                  :class:`~engine.store.base.StoreBase`: the handle and connection helpers
:mod:`.journal`               append (the hot path), read, follow; epochs and rollbacks; NOTIFY
:mod:`.snapshots`             save (with a MAC), trust, list, load, prune
:mod:`.audit`                 the operators' hash-chained audit log
:mod:`.verify`                the chains' verification
:mod:`.desk`                  maintenance windows, refunds, alert deliveries, operators
:mod:`.lease`, :mod:`.trust`  the sequencer lease; the chain key and anchor
============================  ===========================================================

Every name these modules export that callers use (``Store``, the errors, the records,
``GENESIS``, ``SCHEMA_VERSION``, ``JOURNAL_CHANNEL``, ``journal_hash``...) is importable from
here too, as it always was.

Opening
    ``Store.open(url=None)`` resolves the URL (``--db`` value, ``PERPDESK_DB``,
    then ``sqlite:///<data dir>/perpdesk.db``, see :mod:`engine.settings.paths`), creates
    the parent directory of a SQLite file lazily, creates the schema in an
    empty database, and refuses (with a :class:`StoreError` subclass whose
    message names the problem and what to do) a file that is not a SQLite
    database, a database of another application, or a newer/unknown schema
    version. A refused database is never altered: a SQLite file is inspected
    before any pragma (such as WAL) is applied to it (:mod:`.connect`).
    An older schema version for which a migration exists is upgraded in the
    opening transaction (all or nothing; :data:`~engine.store.schema.MIGRATIONS`).

Errors
    Every database failure surfaces as a :class:`StoreError` subclass with a
    message that says what happened and what to do: :class:`StoreLockedError`
    (busy beyond the timeout), :class:`StoreFullError` (disk or database
    full), :class:`StoreCorruptError`, :class:`NotAPerpdeskDatabaseError`,
    :class:`SchemaVersionError`, :class:`StoreUnavailableError`,
    :class:`JournalConflictError`, :class:`StoreNotFoundError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection, make_url

from ..settings import paths
from . import trust
from .audit import StoreAudit
from .base import StoreBase
from .connect import postgres_engine, sqlite_engine, translate
from .desk import REFUND_STATUSES, StoreDesk
from .errors import (
    ChainKeyMissingError,
    FencedError,
    JournalChainBrokenError,
    JournalConflictError,
    LeaseHeldError,
    NotAPerpdeskDatabaseError,
    RecordConflictError,
    SchemaVersionError,
    SnapshotForgedError,
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreLockedError,
    StoreNotFoundError,
    StoreUnavailableError,
)
from .journal import JOURNAL_CHANNEL, JournalListener, StoreJournal, chain_journal
from .records import (
    GENESIS,
    AuditRecord,
    ChainProblem,
    EpochRecord,
    JournalEntry,
    JournalRecord,
    RollbackMark,
    SnapshotInfo,
    audit_hash,
    canonical_json,
    journal_hash,
    now_ms,
    snapshot_mac_key,
    split_head,
    split_key,
)
from .schema import (
    APPLICATION_ID,
    MIGRATIONS,
    SCHEMA_VERSION,
    SQLITE_HEADER,
    TABLE_NAMES,
    TABLES,
    AlertDeliveryRow,
    AuditRow,
    BigInt,
    EpochRow,
    JournalRow,
    MaintenanceWindowRow,
    Meta,
    OperatorRow,
    RefundRow,
    SnapshotRow,
    alert_deliveries_t,
    audit_t,
    check_meta,
    create_schema,
    epochs_t,
    journal_t,
    maintenance_t,
    meta_t,
    migrate,
    operators_t,
    read_meta,
    refunds_t,
    snapshots_t,
)
from .snapshots import SNAPSHOT_TRIGGERS, StoreSnapshots
from .verify import StoreVerify

__all__ = [
    "APPLICATION_ID", "AUTO_KEY", "GENESIS", "JOURNAL_CHANNEL", "MIGRATIONS", "REFUND_STATUSES", "SCHEMA_VERSION",
    "SNAPSHOT_TRIGGERS", "SQLITE_HEADER", "TABLES", "TABLE_NAMES",
    "AlertDeliveryRow", "AuditRecord", "AuditRow", "BigInt", "ChainKeyMissingError", "ChainProblem", "EpochRecord",
    "EpochRow", "FencedError", "JournalChainBrokenError", "JournalConflictError", "JournalEntry", "JournalListener",
    "JournalRecord", "JournalRow", "LeaseHeldError", "MaintenanceWindowRow", "Meta", "NotAPerpdeskDatabaseError",
    "OperatorRow", "RecordConflictError", "RefundRow", "RollbackMark", "SchemaVersionError", "SnapshotForgedError",
    "SnapshotInfo", "SnapshotRow", "Store", "StoreCorruptError", "StoreError", "StoreFullError", "StoreLockedError",
    "StoreNotFoundError", "StoreUnavailableError",
    "alert_deliveries_t", "audit_hash", "audit_t", "canonical_json", "chain_journal", "check_meta", "epochs_t",
    "journal_hash", "journal_t", "maintenance_t", "meta_t", "migrate", "now_ms", "operators_t", "read_meta",
    "refunds_t", "snapshot_mac_key", "snapshots_t", "split_head", "split_key", "translate",
]

AUTO_KEY = b"auto"  # Store.open's default: the key from PERPDESK_JOURNAL_KEY or the key file


class Store(StoreJournal, StoreSnapshots, StoreAudit, StoreVerify, StoreDesk, StoreBase):
    """A perpdesk database. Thread-safe: every method uses its own pooled connection.

    Use :meth:`Store.open`; close with :meth:`close` (or a ``with`` block).
    """

    # ---------------------------------------------------------------- open
    @classmethod
    def open(cls, url: str | None = None, *, create: bool = True, busy_timeout_ms: int = 5000,
             pragmas: Mapping[str, Any] | None = None, key: bytes | None = AUTO_KEY) -> Store:
        """Open (and, in an empty database, create) the store at ``url``.

        ``url``: a SQLAlchemy URL (``sqlite:///path``, ``postgresql+psycopg://...``), a
        bare SQLite file path, or None for :func:`engine.settings.paths.resolve_db_url` (``PERPDESK_DB``
        or the default file under the data directory). ``create=False`` refuses to create a
        new database (:class:`StoreNotFoundError`), for commands that only inspect one.
        ``pragmas``: extra SQLite pragmas applied to every connection after the standard
        ones (tests use ``max_page_count`` to simulate a full disk).

        ``key``: the chain key (engine/store/trust.py); by default ``PERPDESK_JOURNAL_KEY`` or the key
        file if it exists (a node creates it on first use: :meth:`engine.node.node.Node.open`); None
        for an unkeyed store (older databases' writers, tests of compatibility).

        Raises a :class:`StoreError` subclass for a missing/foreign/corrupt/newer database.
        """
        if key is AUTO_KEY:
            try:
                key = trust.load_key(create=False)
            except trust.ChainKeyError as e:
                raise StoreError(str(e)) from None
        raw = paths.resolve_db_url(url)
        try:
            sa_url = make_url(raw)
        except sa_exc.ArgumentError:
            raise StoreError(
                f"{raw!r} is not a database URL: use sqlite:///PATH, a file path, or "
                f"postgresql+psycopg://USER:PASSWORD@HOST:PORT/DBNAME") from None
        backend = sa_url.get_backend_name()
        if backend == "sqlite":
            engine = sqlite_engine(sa_url, create, busy_timeout_ms, pragmas)
        elif backend == "postgresql":
            engine = postgres_engine(sa_url)
        else:
            raise StoreError(f"unsupported database {backend!r} in {sa_url.render_as_string(hide_password=True)}:"
                             f" perpdesk stores data in SQLite (sqlite:///PATH) or PostgreSQL"
                             f" (postgresql+psycopg://...)")
        store = cls(engine, sa_url, busy_timeout_ms)
        store.pragmas = dict(pragmas or {})
        if key is not None:
            store.key, store.key_id = bytes(key), trust.key_id(bytes(key))
        try:
            store._init_or_check(create)
        except BaseException:
            engine.dispose()
            raise
        return store

    def _init_or_check(self, create: bool) -> None:
        with self.write("opening the database") as conn:
            if self.backend == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(7074726564657368)"))
            tables = set(inspect(conn).get_table_names())
            meta = read_meta(conn) if meta_t.name in tables else None
            state = check_meta(tables, meta, self.where, sqlite=self.backend == "sqlite")
            if state == "ok":
                return
            if state == "migrate":
                assert meta is not None
                migrate(conn, int(meta["schema_version"]))
                return
            if not create:
                raise StoreNotFoundError(f"{self.where} holds no perpdesk database yet (nothing to read)")
            create_schema(conn)

    def writer_config(self) -> dict | None:
        """How another process opens this same database (for the node's journal writer process);
        None when it cannot (an in-memory SQLite database). Holds the password: never log it."""
        if self.backend == "sqlite":
            database = self.url.database or ""
            if database in ("", ":memory:") or database.startswith("file::memory:") or "mode=memory" in database:
                return None
        return {"url": self.url.render_as_string(hide_password=False), "busy_timeout_ms": self.busy_timeout_ms,
                "pragmas": self.pragmas, "key": self.key.decode("latin-1") if self.key is not None else None,
                "fence": self.fence, "notify": self.notify}

    # ------------------------------------------------------------ lease (engine/store/lease.py)
    def take_leadership(self, holder: Mapping) -> int:
        """Bump ``leader_epoch`` and record ``holder`` (its ``epoch`` set to the new one) in one
        transaction; from now on this store's journal appends are fenced by it. Returns the epoch."""
        with self.write("taking the sequencer lease") as conn:
            c = meta_t.c
            stmt = select(c.value).where(c.key == "leader_epoch")
            if self.backend == "postgresql":
                stmt = stmt.with_for_update()
            old = conn.execute(stmt).scalar()
            try:
                epoch = int(old) + 1 if old is not None else 1
            except ValueError:
                raise StoreCorruptError(f"the leader_epoch record of {self.where} is damaged ({old!r}): "
                                        f"restore the database from a backup") from None
            conn.execute(meta_t.delete().where(c.key.in_(["leader_epoch", "lease_holder"])))
            conn.execute(meta_t.insert(), [
                {"key": "leader_epoch", "value": str(epoch)},
                {"key": "lease_holder", "value": canonical_json({**dict(holder), "epoch": epoch})}])
        self.fence = epoch
        return epoch

    def leader_epoch(self) -> int:
        """The database's current leader epoch (0: no node ever took the lease)."""
        v = self.meta().get("leader_epoch")
        return int(v) if v is not None else 0

    def lease_connection(self) -> Connection:
        """A connection of its own (autocommit) for a session-level lock held for the node's life."""
        self.check_open()
        with self.errors("connecting for the sequencer lease"):
            return self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    # ---------------------------------------------------------------- meta
    def key_status(self) -> dict:
        """Which guarantee the chains give: ``journal``/``audit``: (key id, first keyed seq/id) or None."""
        m = self.meta()
        return {"journal": split_key(m.get("journal_key")), "audit": split_key(m.get("audit_key")),
                "key_id": self.key_id}

    def set_meta(self, key: str, value: str) -> None:
        """Insert or replace one meta record (not the chain heads: the journal and audit own those)."""
        if key in ("journal_head", "audit_head", "epoch", "application_id", "schema_version", "leader_epoch"):
            raise StoreError(f"meta record {key} is not set by hand")
        with self.write(f"recording {key}") as conn:
            conn.execute(meta_t.delete().where(meta_t.c.key == key))
            conn.execute(meta_t.insert(), [{"key": key, "value": value}])
