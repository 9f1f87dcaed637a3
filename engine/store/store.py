"""The store: journal, snapshots, audit log, maintenance windows and refunds.

SQLModel table definitions over SQLAlchemy 2.x; the same code runs on an
embedded SQLite file (the default, under the platformdirs data directory) and
on PostgreSQL (``postgresql+psycopg://user:pass@host/db``). Only portable
column types are used (BigInteger, Text, LargeBinary, Boolean, integer
milliseconds for time).

Opening
    ``Store.open(url=None)`` resolves the URL (``--db`` value, ``PERPDESK_DB``,
    then ``sqlite:///<data dir>/perpdesk.db``, see :mod:`engine.settings.paths`), creates
    the parent directory of a SQLite file lazily, creates the schema in an
    empty database, and refuses (with a :class:`StoreError` subclass whose
    message names the problem and what to do) a file that is not a SQLite
    database, a database of another application, or a newer/unknown schema
    version. A refused database is never altered: a SQLite file is inspected
    before any pragma (such as WAL) is applied to it.
    An older schema version for which a migration exists is upgraded in the
    opening transaction (all or nothing; ``MIGRATIONS``): version 1 -> 2 adds
    the ``alert_deliveries`` table and records ``migrated_to_2_at``; 2 -> 3 adds the ``operators``
    table (engine/venue/operators.py: names, roles, token ids, salts and scrypt hashes, never a token).

SQLite settings
    Every connection gets ``busy_timeout``, ``journal_mode=WAL``,
    ``synchronous=FULL`` and ``foreign_keys=ON`` in a connect event. pysqlite's
    own transaction handling is switched off (``isolation_level = None``) and
    SQLAlchemy's ``begin`` event emits ``BEGIN IMMEDIATE`` for writers (so a
    writer takes the write lock up front and waits up to the busy timeout,
    instead of failing at COMMIT) and ``BEGIN`` for readers, as in SQLAlchemy's
    SQLite documentation ("Enabling Non-Legacy SQLite Transactional Modes").

The journal
    One row per command the sequencer accepted (including rejected ones):
    ``seq`` (1, 2, 3, ... without gaps), ``ts``, ``type``, ``payload`` (the
    command as canonical JSON: orjson with sorted keys, no whitespace),
    ``epoch``, ``outcome`` (``"ok"`` or ``"rejected:<code>"``), ``prev_hash``,
    ``hash`` and ``rolled_back_epoch``.

    Hash chain: ``hash = sha256(prev_hash + "|" + orjson.dumps([seq, ts, type,
    epoch, outcome, payload]))`` as lowercase hex, with ``prev_hash`` of the
    first row = 64 zeros (:data:`GENESIS`). The store also records the chain's
    head (last seq and hash) in its meta table in the same transaction as each
    append, so rows deleted from the end are detected too.

    :meth:`Store.append_journal` writes a whole batch in one transaction with
    one batched SQLAlchemy Core ``INSERT`` (group commit): either every row of
    the batch is durable when it returns, or it raises and none is.

Epochs and rollback
    ``epoch`` is the epoch current when the row was written (starts at 1; part
    of the hashed content, never changed). A rollback starts a new epoch:
    :meth:`Store.mark_rolled_back` (or the ``rollbacks`` argument of
    :meth:`Store.append_journal`, which does it in the same transaction as the
    batch holding the ``rollback`` command) sets ``rolled_back_epoch`` on the
    discarded rows (``after_seq < seq <= upto_seq``; the first rollback that
    discarded a row wins) and records the rollback in the ``epochs`` table.
    Rows are never deleted. ``rolled_back_epoch`` is an annotation for
    forensics and the console, outside the hash: **recovery replays every
    journal row in seq order** after the newest snapshot, because the engine
    replays the journaled ``rollback`` commands deterministically.

Errors
    Every database failure surfaces as a :class:`StoreError` subclass with a
    message that says what happened and what to do: :class:`StoreLockedError`
    (busy beyond the timeout), :class:`StoreFullError` (disk or database
    full), :class:`StoreCorruptError`, :class:`NotAPerpdeskDatabaseError`,
    :class:`SchemaVersionError`, :class:`StoreUnavailableError`,
    :class:`JournalConflictError`, :class:`StoreNotFoundError`.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Field, SQLModel

from ..core.journalchain import ChainError, chain_rows, verify_rows
from ..core.snapshot import Snapshot
from ..settings import paths
from . import trust

APPLICATION_ID = "perpdesk"
#: 1: journal, epochs, snapshots, audit, maintenance windows, refunds; 2: + alert_deliveries; 3: + operators
SCHEMA_VERSION = 3
GENESIS = "0" * 64
SNAPSHOT_TRIGGERS = ("auto", "manual", "maintenance")
REFUND_STATUSES = ("proposed", "approved", "rejected", "paid")
SQLITE_HEADER = b"SQLite format 3\x00"

#: the PostgreSQL channel every journal append NOTIFYs (payload: the new head seq); see Store.notify
JOURNAL_CHANNEL = "perpdesk_journal"

#: 64-bit integer; on SQLite plain INTEGER so a primary key is the rowid (faster appends)
BigInt = BigInteger().with_variant(Integer(), "sqlite")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def canonical_json(obj: Any) -> str:
    """Canonical JSON text: sorted keys, no whitespace (orjson)."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()


# =====================================================================
# errors
# =====================================================================
class StoreError(Exception):
    """A store failure; ``str(e)`` says what happened and what to do."""


class StoreNotFoundError(StoreError):
    """The database does not exist and the caller asked not to create one."""


class NotAPerpdeskDatabaseError(StoreError):
    """The file or database is not a perpdesk database (another kind of file, or another app's)."""


class SchemaVersionError(StoreError):
    """The database records a schema version this build does not know (newer or unknown)."""


class StoreCorruptError(StoreError):
    """The database file, or a record in it, is damaged."""


class StoreLockedError(StoreError):
    """Another process held the database lock beyond the busy timeout."""


class StoreFullError(StoreError):
    """The disk (or the database's size limit) is full."""


class StoreUnavailableError(StoreError):
    """The database cannot be reached or opened (server down, permissions, I/O error)."""


class JournalConflictError(StoreError):
    """A journal append that does not continue the chain (wrong seq, or another writer)."""


class ChainKeyMissingError(StoreError):
    """The database's chain is keyed and this store has no key, or another one."""


class SnapshotForgedError(StoreCorruptError):
    """A snapshot whose content no longer matches its MAC (altered, hash recomputed) or lacks one."""


class LeaseHeldError(StoreError):
    """Another node holds this database's sequencer lease (``holder``: host, pid, since, epoch)."""

    def __init__(self, where: str, holder: dict | None) -> None:
        from .lease import describe

        self.holder = holder
        super().__init__(
            f"{where} is held by another perpdesk node: {describe(holder)}. Exactly one node may "
            f"sequence a database: stop that node first (or attach to it), or use another database.")


class FencedError(StoreError):
    """A journal append by a node whose leader epoch was superseded (another node took the lease)."""


class JournalChainBrokenError(StoreCorruptError):
    """A journal row read by a standby does not continue the chain it verified so far."""


class RecordConflictError(StoreError):
    """A snapshot, refund or window that already exists differently, or changed underneath."""


# =====================================================================
# tables (SQLModel)
# =====================================================================
class Meta(SQLModel, table=True):
    """Key/value facts about the database: application id, schema version, chain heads, epoch."""

    __tablename__ = "perpdesk_meta"
    key: str = Field(primary_key=True, sa_type=String(64))
    value: str = Field(sa_type=Text)


class JournalRow(SQLModel, table=True):
    __tablename__ = "journal"
    seq: int = Field(primary_key=True, sa_type=BigInt, sa_column_kwargs={"autoincrement": False})
    ts: int | None = Field(default=None, sa_type=BigInteger)
    type: str = Field(sa_type=String(64))
    payload: str = Field(sa_type=Text)
    epoch: int = Field(sa_type=BigInteger)
    outcome: str = Field(sa_type=Text)
    rolled_back_epoch: int | None = Field(default=None, sa_type=BigInteger)
    prev_hash: str = Field(sa_type=String(64))
    hash: str = Field(sa_type=String(64))


class EpochRow(SQLModel, table=True):
    """One row per rollback: the epoch it started and the journal range it discarded."""

    __tablename__ = "epochs"
    epoch: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    after_seq: int = Field(sa_type=BigInteger)
    upto_seq: int = Field(sa_type=BigInteger)
    rollback_seq: int | None = Field(default=None, sa_type=BigInteger)
    snapshot_id: str | None = Field(default=None, sa_type=Text)
    created_at: int = Field(sa_type=BigInteger)


class SnapshotRow(SQLModel, table=True):
    __tablename__ = "snapshots"
    id: str = Field(primary_key=True, sa_type=String(128))
    seq: int = Field(sa_type=BigInteger, index=True)
    ts: int = Field(sa_type=BigInteger)
    label: str = Field(sa_type=Text)
    trigger: str = Field(sa_type=String(16))
    state_hash: str = Field(sa_type=String(64))
    size: int = Field(sa_type=BigInteger)
    data: bytes = Field(sa_type=LargeBinary)
    created_at: int = Field(sa_type=BigInteger)


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit"
    id: int = Field(primary_key=True, sa_type=BigInt, sa_column_kwargs={"autoincrement": False})
    ts: int = Field(sa_type=BigInteger)
    operator: str = Field(sa_type=Text)
    role: str = Field(sa_type=String(32))
    action: str = Field(sa_type=String(64))
    command: str | None = Field(default=None, sa_type=Text)
    reason: str = Field(sa_type=Text)
    outcome: str = Field(sa_type=Text)
    prev_hash: str = Field(sa_type=String(64))
    hash: str = Field(sa_type=String(64))


class MaintenanceWindowRow(SQLModel, table=True):
    __tablename__ = "maintenance_windows"
    window_id: str = Field(primary_key=True, sa_type=String(128))
    markets: str = Field(sa_type=Text)  # JSON list
    start_ts: int = Field(sa_type=BigInteger)
    duration_ms: int = Field(sa_type=BigInteger)
    kind: str = Field(sa_type=Text)
    phase: str = Field(sa_type=String(32))
    snapshot_id: str | None = Field(default=None, sa_type=Text)
    detail: str | None = Field(default=None, sa_type=Text)  # JSON object
    created_ts: int = Field(sa_type=BigInteger)
    updated_ts: int = Field(sa_type=BigInteger)


class RefundRow(SQLModel, table=True):
    __tablename__ = "refunds"
    refund_id: str = Field(primary_key=True, sa_type=String(128))
    account: str = Field(sa_type=Text)
    amount: int = Field(sa_type=BigInteger)  # micro-USDC
    reason: str = Field(sa_type=Text)
    evidence: str = Field(sa_type=Text)  # JSON object
    proposer: str = Field(sa_type=Text)
    status: str = Field(sa_type=String(16))
    approver: str | None = Field(default=None, sa_type=Text)
    decision_reason: str | None = Field(default=None, sa_type=Text)
    fund: str | None = Field(default=None, sa_type=String(32))
    paid_seq: int | None = Field(default=None, sa_type=BigInteger)
    created_ts: int = Field(sa_type=BigInteger)
    decided_ts: int | None = Field(default=None, sa_type=BigInteger)
    paid_ts: int | None = Field(default=None, sa_type=BigInteger)


class AlertDeliveryRow(SQLModel, table=True):
    """One attempt to deliver one alert to one sink (schema version 2). Never holds a secret."""

    __tablename__ = "alert_deliveries"
    id: int | None = Field(default=None, primary_key=True, sa_type=BigInt)
    ts: int = Field(sa_type=BigInteger, index=True)
    kind: str = Field(sa_type=String(64))
    action: str = Field(sa_type=String(16))
    dedup_key: str = Field(sa_type=String(255))
    severity: str = Field(sa_type=String(16))
    sink: str = Field(sa_type=String(64))
    sink_kind: str = Field(sa_type=String(16))
    attempt: int = Field(sa_type=Integer)
    status: str = Field(sa_type=String(16))
    http_status: int | None = Field(default=None, sa_type=Integer)
    error: str = Field(default="", sa_type=Text)


class OperatorRow(SQLModel, table=True):
    """One operator token (schema version 3): who (normalised name), what role, and how to check a
    token: its public id, a random salt and the scrypt hash of its secret. Never the token itself.
    At most one active (not revoked) row per name (a partial unique index)."""

    __tablename__ = "operators"
    __table_args__ = (Index("operators_active_name", "name", unique=True,
                            sqlite_where=text("revoked_ms IS NULL"), postgresql_where=text("revoked_ms IS NULL")),)
    token_id: str = Field(primary_key=True, sa_type=String(32))
    name: str = Field(sa_type=String(64))
    role: str = Field(sa_type=String(16))
    salt: str = Field(sa_type=String(64))  # hex
    hash: str = Field(sa_type=String(128))  # hex scrypt(secret, salt)
    created_ms: int = Field(sa_type=BigInteger)
    created_by: str = Field(sa_type=Text)
    revoked_ms: int | None = Field(default=None, sa_type=BigInteger)
    revoked_by: str | None = Field(default=None, sa_type=Text)
    last_seen_ms: int | None = Field(default=None, sa_type=BigInteger)


meta_t = Meta.__table__
journal_t = JournalRow.__table__
epochs_t = EpochRow.__table__
snapshots_t = SnapshotRow.__table__
audit_t = AuditRow.__table__
maintenance_t = MaintenanceWindowRow.__table__
refunds_t = RefundRow.__table__
alert_deliveries_t = AlertDeliveryRow.__table__
operators_t = OperatorRow.__table__
TABLES = (meta_t, journal_t, epochs_t, snapshots_t, audit_t, maintenance_t, refunds_t, alert_deliveries_t,
          operators_t)
TABLE_NAMES = frozenset(t.name for t in TABLES)


# =====================================================================
# records
# =====================================================================
class JournalEntry(NamedTuple):
    """One command to append. ``payload``: the command dict, or its canonical JSON text."""

    seq: int
    ts: int | None
    type: str
    payload: Mapping | str | bytes
    outcome: str = "ok"
    epoch: int | None = None  # None: the store's current epoch


class JournalRecord(NamedTuple):
    """One stored journal row (``payload`` is canonical JSON text; ``command`` decodes it)."""

    seq: int
    ts: int | None
    type: str
    payload: str
    epoch: int
    outcome: str
    rolled_back_epoch: int | None
    prev_hash: str
    hash: str

    @property
    def command(self) -> dict:
        return orjson.loads(self.payload)

    @property
    def rolled_back(self) -> bool:
        return self.rolled_back_epoch is not None


class RollbackMark(NamedTuple):
    """Rows ``after_seq < seq <= upto_seq`` were discarded by a rollback that starts ``new_epoch``."""

    after_seq: int
    upto_seq: int
    new_epoch: int
    snapshot_id: str | None = None
    rollback_seq: int | None = None


class EpochRecord(NamedTuple):
    epoch: int
    after_seq: int
    upto_seq: int
    rollback_seq: int | None
    snapshot_id: str | None
    created_at: int


class SnapshotInfo(NamedTuple):
    """A stored snapshot without its bytes."""

    snapshot_id: str
    seq: int
    ts: int
    label: str
    trigger: str
    state_hash: str
    size: int
    created_at: int


class AuditRecord(NamedTuple):
    id: int
    ts: int
    operator: str
    role: str
    action: str
    command: str | None  # canonical JSON text, or None
    reason: str
    outcome: str
    prev_hash: str
    hash: str

    def as_dict(self) -> dict:
        d = self._asdict()
        d["command"] = orjson.loads(self.command) if self.command is not None else None
        return d


@dataclass(frozen=True)
class ChainProblem:
    """The first bad record of a chain (``record`` is the seq or audit id, None for the chain's end)."""

    chain: str  # "journal" or "audit"
    record: int | None
    problem: str

    def __str__(self) -> str:
        label = "seq" if self.chain == "journal" else "id"
        where = f"{self.chain} {label} {self.record}" if self.record is not None else self.chain
        return f"{where}: {self.problem}"


def journal_hash(prev_hash: str, seq: int, ts: int | None, type_: str, epoch: int, outcome: str,
                 payload: str, key: bytes | None = None) -> str:
    """A journal row's hash: SHA-256 (unkeyed, the public function) or, with ``key``, HMAC-SHA256."""
    msg = prev_hash.encode() + b"|" + orjson.dumps([seq, ts, type_, epoch, outcome, payload])
    return hashlib.sha256(msg).hexdigest() if key is None else hmac.digest(key, msg, "sha256").hex()


def audit_hash(prev_hash: str, id_: int, ts: int, operator: str, role: str, action: str,
               command: str | None, reason: str, outcome: str, key: bytes | None = None) -> str:
    msg = prev_hash.encode() + b"|" + orjson.dumps([id_, ts, operator, role, action, command, reason, outcome])
    return hashlib.sha256(msg).hexdigest() if key is None else hmac.digest(key, msg, "sha256").hex()


def _split_key(value: str | None) -> tuple[str, int] | None:
    """``journal_key``/``audit_key`` meta value ``"<key id> <first keyed seq or id>"``."""
    if value is None:
        return None
    kid, n = value.split(" ", 1)
    return kid, int(n)


def snapshot_mac_key(snapshot_id: str) -> str:
    return "smac:" + hashlib.sha256(snapshot_id.encode()).hexdigest()[:40]


AUTO_KEY = b"auto"  # Store.open's default: the key from PERPDESK_JOURNAL_KEY or the key file


# =====================================================================
# error translation
# =====================================================================
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR = 5, 6, 8, 10
_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_TOOBIG, _SQLITE_NOTADB = 11, 13, 14, 18, 26


def _translate(err: BaseException, action: str, where: str, busy_timeout_ms: int) -> StoreError:
    """Map a DBAPI/SQLAlchemy error to a StoreError subclass with advice."""
    orig = getattr(err, "orig", None) or err
    msg = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        primary = code & 0xFF if isinstance(code, int) else None
        low = msg.lower()
        if primary in (_SQLITE_BUSY, _SQLITE_LOCKED) or "locked" in low or "busy" in low:
            return StoreLockedError(
                f"{action} failed: the database {where} is locked by another process or connection "
                f"(waited {busy_timeout_ms} ms). Close the other program writing to it (another "
                f"perpdesk node, a sqlite3 shell in a transaction) and retry, or use a longer busy timeout.")
        if primary == _SQLITE_FULL or "full" in low:
            return StoreFullError(
                f"{action} failed: the disk holding {where} is full ({msg}). Nothing from this "
                f"operation was written. Free disk space (or move the database with --db/PERPDESK_DB) "
                f"and retry; the journal is intact up to the last acknowledged command.")
        # TOOBIG on a read: a damaged record header claims a size perpdesk never writes
        if (primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB, _SQLITE_TOOBIG) or "malformed" in low
                or "not a database" in low or "too big" in low):
            return StoreCorruptError(
                f"{action} failed: the database {where} is damaged ({msg}). Stop writing to it, keep "
                f"a copy for forensics, and restore it from a backup (or recover with "
                f"`sqlite3 FILE .recover`); perpdesk will not modify it.")
        if primary == _SQLITE_READONLY or "readonly" in low or "read-only" in low:
            return StoreUnavailableError(
                f"{action} failed: the database {where} is read-only ({msg}). Check the file's and "
                f"its directory's permissions (SQLite needs to write FILE-wal and FILE-shm next to it).")
        if primary in (_SQLITE_IOERR, _SQLITE_CANTOPEN) or "unable to open" in low or "i/o" in low:
            return StoreUnavailableError(
                f"{action} failed: cannot read or write the database {where} ({msg}). Check the "
                f"path exists, its permissions and the disk's health.")
        return StoreError(f"{action} failed on {where}: {msg}")
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate:
        if sqlstate == "53100":
            return StoreFullError(
                f"{action} failed: the PostgreSQL server's disk is full ({msg}). Nothing from this "
                f"operation was written. Free space on the server and retry.")
        if sqlstate in ("55P03", "40P01", "57014", "40001"):
            return StoreLockedError(
                f"{action} failed: PostgreSQL could not get a lock in time or aborted a conflicting "
                f"transaction ({msg}). Another writer holds the database; retry, or stop the other writer.")
        if sqlstate.startswith("XX"):
            return StoreCorruptError(
                f"{action} failed: PostgreSQL reports damaged data ({msg}). Ask the database's "
                f"administrator to check and restore it; perpdesk will not modify it.")
        if sqlstate.startswith("08") or sqlstate.startswith("57P") or sqlstate.startswith("28"):
            return StoreUnavailableError(
                f"{action} failed: cannot use the PostgreSQL database {where} ({msg}). Check the "
                f"server is running, the URL, the credentials and the network.")
        if sqlstate.startswith("53"):
            return StoreFullError(f"{action} failed: the PostgreSQL server is out of resources ({msg}).")
        return StoreError(f"{action} failed on {where}: {msg} (SQLSTATE {sqlstate})")
    if isinstance(err, sa_exc.OperationalError | sa_exc.InterfaceError) or type(orig).__name__ in (
            "OperationalError", "InterfaceError", "ConnectionTimeout"):
        kind = "PostgreSQL " if where.startswith("postgresql") else ""
        return StoreUnavailableError(
            f"{action} failed: cannot use the {kind}database {where} ({msg}). Check that the server "
            f"is running and reachable, and the URL and credentials are right.")
    return StoreError(f"{action} failed on {where}: {msg}")


# =====================================================================
# the store
# =====================================================================
class Store:
    """A perpdesk database. Thread-safe: every method uses its own pooled connection.

    Use :meth:`Store.open`; close with :meth:`close` (or a ``with`` block).
    """

    def __init__(self, engine: Engine, url: URL, busy_timeout_ms: int) -> None:
        self.engine = engine
        self.url = url
        self.backend = url.get_backend_name()
        self.busy_timeout_ms = busy_timeout_ms
        self.where = url.render_as_string(hide_password=True)
        self.pragmas: dict[str, Any] = {}
        self._closed = False
        self.key: bytes | None = None  # the chain key (engine/store/trust.py); None: an unkeyed store
        self.key_id: str | None = None
        self.anchor_path = trust.anchor_path_for(url.database, self.backend, self.where)
        self.fence: int | None = None  # the leader epoch every journal append checks (engine/store/lease.py)
        # PostgreSQL: every journal append NOTIFYs JOURNAL_CHANNEL with the new head seq, in its own
        # transaction (delivered at COMMIT): a standby (engine/node/standby.py) LISTENs for it
        self.notify: bool = self.backend == "postgresql"

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
            engine = cls._sqlite_engine(sa_url, create, busy_timeout_ms, pragmas)
        elif backend == "postgresql":
            engine = cls._postgres_engine(sa_url)
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

    @staticmethod
    def _sqlite_engine(sa_url: URL, create: bool, busy_timeout_ms: int,
                       pragmas: Mapping[str, Any] | None) -> Engine:
        database = sa_url.database or ""
        memory = database in ("", ":memory:") or database.startswith("file::memory:")
        connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": busy_timeout_ms / 1000}
        if memory:
            engine = create_engine(sa_url, connect_args=connect_args, poolclass=StaticPool)
        else:
            path = Path(database)
            _precheck_sqlite_file(path, create)
            if not path.exists():
                try:
                    paths.ensure_dir(path.parent)
                except OSError as e:
                    raise StoreUnavailableError(
                        f"cannot create the directory {path.parent} for the database: {e.strerror}. "
                        f"Choose another location with --db or PERPDESK_DB (or PERPDESK_HOME).") from None
            engine = create_engine(sa_url, connect_args=connect_args, pool_size=8, max_overflow=16)
        extra = dict(pragmas or {})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised via every test
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see module doc)
            cur = dbapi_conn.cursor()
            try:
                cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
                cur.execute("PRAGMA journal_mode = WAL")
                cur.execute("PRAGMA synchronous = FULL")
                cur.execute("PRAGMA foreign_keys = ON")
                for k, v in extra.items():
                    cur.execute(f"PRAGMA {k} = {v}")
            finally:
                cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):  # pragma: no cover - exercised via every test
            write = conn.get_execution_options().get("perpdesk_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    @staticmethod
    def _postgres_engine(sa_url: URL) -> Engine:
        try:
            return create_engine(sa_url, pool_pre_ping=True, pool_size=8, max_overflow=16)
        except ModuleNotFoundError as e:
            raise StoreError(
                f"PostgreSQL support needs the {e.name!r} driver: pip install 'psycopg[binary]' "
                f"and use a postgresql+psycopg:// URL") from None

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except (sa_exc.DBAPIError, sqlite3.Error) as e:
            raise _translate(e, action, self.where, self.busy_timeout_ms) from e
        except sa_exc.SQLAlchemyError as e:
            raise StoreError(f"{action} failed on {self.where}: {e}") from e

    @contextmanager
    def _write(self, action: str) -> Iterator[Connection]:
        """One write transaction (BEGIN IMMEDIATE on SQLite); commits on success."""
        self._check_open()
        with self._errors(action), self.engine.connect() as conn:
            conn.execution_options(perpdesk_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self, action: str) -> Iterator[Connection]:
        self._check_open()
        with self._errors(action), self.engine.connect() as conn, conn.begin():
            yield conn

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    def _init_or_check(self, create: bool) -> None:
        with self._write("opening the database") as conn:
            if self.backend == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(7074726564657368)"))
            tables = set(inspect(conn).get_table_names())
            meta = _read_meta(conn) if meta_t.name in tables else None
            state = _check_meta(tables, meta, self.where, sqlite=self.backend == "sqlite")
            if state == "ok":
                return
            if state == "migrate":
                assert meta is not None
                _migrate(conn, int(meta["schema_version"]))
                return
            if not create:
                raise StoreNotFoundError(f"{self.where} holds no perpdesk database yet (nothing to read)")
            SQLModel.metadata.create_all(conn, tables=list(TABLES))
            now = str(now_ms())
            conn.execute(meta_t.insert(), [
                {"key": "application_id", "value": APPLICATION_ID},
                {"key": "schema_version", "value": str(SCHEMA_VERSION)},
                {"key": "created_at", "value": now},
                {"key": "journal_head", "value": f"0 {GENESIS}"},
                {"key": "audit_head", "value": f"0 {GENESIS}"},
                {"key": "epoch", "value": "1"},
            ])

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
        with self._write("taking the sequencer lease") as conn:
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
        self._check_open()
        with self._errors("connecting for the sequencer lease"):
            return self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def close(self) -> None:
        """Release every connection. The store refuses further calls."""
        if not self._closed:
            self._closed = True
            self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.where!r})"

    # ---------------------------------------------------------------- meta
    def meta(self) -> dict[str, str]:
        """The meta table as a dict (application_id, schema_version, heads, epoch, ...)."""
        with self._read("reading the database's metadata") as conn:
            return _read_meta(conn)

    def _chain_key(self, chain: str, keyed: tuple[str, int] | None) -> bytes | None:
        """The key to hash new ``chain`` rows with; refuses a keyed chain this store cannot key."""
        if keyed is None:
            return self.key
        if self.key is None:
            raise ChainKeyMissingError(
                f"the {chain} chain of {self.where} is keyed (key id {keyed[0]}) but no journal key is "
                f"available: set {trust.ENV_KEY} or restore {trust.key_file()}. Nothing was written.")
        if keyed[0] != self.key_id:
            raise ChainKeyMissingError(
                f"the {chain} chain of {self.where} is keyed with key id {keyed[0]}, not this key "
                f"({self.key_id}): use the key this database was written with ({trust.ENV_KEY} or "
                f"{trust.key_file()}). Nothing was written.")
        return self.key

    def key_status(self) -> dict:
        """Which guarantee the chains give: ``journal``/``audit``: (key id, first keyed seq/id) or None."""
        m = self.meta()
        return {"journal": _split_key(m.get("journal_key")), "audit": _split_key(m.get("audit_key")),
                "key_id": self.key_id}

    def set_meta(self, key: str, value: str) -> None:
        """Insert or replace one meta record (not the chain heads: the journal and audit own those)."""
        if key in ("journal_head", "audit_head", "epoch", "application_id", "schema_version", "leader_epoch"):
            raise StoreError(f"meta record {key} is not set by hand")
        with self._write(f"recording {key}") as conn:
            conn.execute(meta_t.delete().where(meta_t.c.key == key))
            conn.execute(meta_t.insert(), [{"key": key, "value": value}])

    def current_epoch(self) -> int:
        """The epoch new journal rows belong to (1 until the first rollback)."""
        return int(self.meta()["epoch"])

    # ------------------------------------------------------------- journal
    def append_journal(self, rows: Sequence[JournalEntry | Mapping],
                       rollbacks: Sequence[RollbackMark] = ()) -> tuple[int, str]:
        """Durably append ``rows`` (in seq order) in ONE transaction; return the new (seq, hash) head.

        Each row is a :class:`JournalEntry` or a mapping with the same keys. ``seq`` must
        continue the journal without gaps (``last_seq() + 1``, ``+2``, ...; an empty journal may
        start at any seq >= 1, e.g. after a snapshot import). ``payload`` is the command as a
        dict (encoded as canonical JSON here) or already-canonical JSON text. ``epoch``
        defaults to :meth:`current_epoch`; give it per row when a batch spans a rollback.

        ``rollbacks`` are applied in the same transaction after the rows (see
        :meth:`mark_rolled_back`), so a ``rollback`` command and its marking are atomic.

        On any failure (bad row, seq conflict, locked, disk full) it raises and writes nothing.
        With SQLite the rows are on disk (``synchronous=FULL``) when this returns.
        """
        if not rows and not rollbacks:
            return self.head()
        with self._write("appending to the journal") as conn:
            sql = self._hot_sql()
            meta = dict(conn.exec_driver_sql(sql["read_head"]).all())
            try:
                head_seq, head_hash = _split_head(meta["journal_head"])
                epoch_now = int(meta["epoch"])
                keyed = _split_key(meta.get("journal_key"))
                fenced = self.fence is not None and meta.get("leader_epoch") != str(self.fence)
            except (KeyError, ValueError):
                raise StoreCorruptError(
                    "the database's perpdesk_meta table lacks a valid journal_head or epoch: it was "
                    "damaged or edited by hand; restore it from a backup") from None
            if fenced:
                raise FencedError(
                    f"journal append refused (fenced): this node's leader epoch is {self.fence} but "
                    f"{self.where} is at leader epoch {meta.get('leader_epoch')}: another node took the "
                    f"sequencer lease. Nothing was written; this node must stop (restart it to follow "
                    f"the database as it is now).")
            key = self._chain_key("journal", keyed)
            if keyed is None and key is not None and rows:  # from the first row this store appends: keyed
                first = rows[0]
                seq0 = first[0] if isinstance(first, tuple) else first.get("seq")
                if type(seq0) is int:
                    conn.execute(meta_t.insert(), [{"key": "journal_key", "value": f"{self.key_id} {seq0}"}])
                else:
                    key = None  # a malformed row: _chain_journal refuses it below
            params = _chain_journal(rows, head_seq, head_hash, epoch_now, key)
            if params:
                try:
                    conn.exec_driver_sql(sql["insert"], params)
                except sa_exc.IntegrityError as e:
                    raise JournalConflictError(
                        f"journal append refused: seq {params[0][0]}..{params[-1][0]} collides "
                        f"with rows already in the journal (another writer?). Nothing was written.") from e
                head = (params[-1][0], params[-1][-1])
                if self.notify and self.backend == "postgresql":  # the same statement: no extra round trip (delivered at COMMIT)
                    conn.exec_driver_sql(sql["write_head_notify"], (f"{head[0]} {head[1]}", str(head[0])))
                else:
                    conn.exec_driver_sql(sql["write_head"], (f"{head[0]} {head[1]}",))
            else:
                head = (head_seq, head_hash)
            for mark in rollbacks:
                epoch_now = self._mark(conn, mark, epoch_now)
        return head

    def _hot_sql(self) -> dict[str, str]:
        """The journal hot path's SQL in the driver's own placeholder style.

        Executed with ``Connection.exec_driver_sql`` (still SQLAlchemy Core) and tuples, so a
        batch costs one ``executemany`` without SQLAlchemy's per-row parameter processing and
        statement compilation, which on a small machine cost more than SQLite's insert itself
        (see bench/bench_store.py).
        """
        sql = getattr(self, "_hot", None)
        if sql is None:
            style = self.engine.dialect.paramstyle
            mark = "?" if style == "qmark" else "%s" if style in ("format", "pyformat") else None
            if mark is None:  # pragma: no cover - sqlite3 and psycopg are qmark / pyformat
                raise StoreError(f"unsupported DBAPI paramstyle {style!r}")
            cols = _JOURNAL_INSERT_COLUMNS
            lock = " FOR UPDATE" if self.backend == "postgresql" else ""
            sql = {
                "insert": f"INSERT INTO {journal_t.name} ({', '.join(cols)}) "
                          f"VALUES ({', '.join([mark] * len(cols))})",
                "read_head": f"SELECT key, value FROM {meta_t.name} "
                             f"WHERE key IN ('journal_head', 'epoch', 'journal_key', 'leader_epoch'){lock}",
                "write_head": f"UPDATE {meta_t.name} SET value = {mark} WHERE key = 'journal_head'",
                "write_head_notify": f"UPDATE {meta_t.name} SET value = {mark} WHERE key = 'journal_head' "
                                     f"RETURNING pg_notify('{JOURNAL_CHANNEL}', {mark})",
            }
            self._hot = sql
        return sql

    def head(self) -> tuple[int, str]:
        """(last seq, its hash) of the journal; (0, GENESIS) when empty."""
        with self._read("reading the journal head") as conn:
            return _split_head(_read_meta(conn, ("journal_head",))["journal_head"])

    def journal_head(self, lock: bool = False) -> tuple[int, str]:
        """(last seq, its hash); ``lock``: read in a write transaction (row lock on PostgreSQL, the
        write lock on SQLite), so a writer's transaction still in progress has ended first."""
        if not lock:
            return self.head()
        with self._write("reading the journal head") as conn:
            return _split_head(_read_meta(conn, ("journal_head",), lock=True)["journal_head"])

    def last_seq(self) -> int:
        """The last journaled seq (0 when the journal is empty)."""
        return self.head()[0]

    def count_journal(self) -> int:
        with self._read("counting the journal") as conn:
            return conn.execute(select(func.count()).select_from(journal_t)).scalar_one()

    def iter_journal(self, after_seq: int = 0, epoch: int | None = None, *, upto_seq: int | None = None,
                     live_only: bool = False, batch_size: int = 10_000) -> Iterator[JournalRecord]:
        """Stream journal rows with ``seq > after_seq`` in seq order (constant memory).

        ``epoch``: only rows written in that epoch. ``upto_seq``: stop after that seq.
        ``live_only``: skip rows a rollback discarded (for display; recovery replays all rows).
        Uses server-side cursors on PostgreSQL and chunked fetches on SQLite
        (``yield_per=batch_size``). The connection is held until the iterator is exhausted
        or closed.
        """
        c = journal_t.c
        stmt = select(c.seq, c.ts, c.type, c.payload, c.epoch, c.outcome, c.rolled_back_epoch,
                      c.prev_hash, c.hash).where(c.seq > after_seq).order_by(c.seq)
        if epoch is not None:
            stmt = stmt.where(c.epoch == epoch)
        if upto_seq is not None:
            stmt = stmt.where(c.seq <= upto_seq)
        if live_only:
            stmt = stmt.where(c.rolled_back_epoch.is_(None))
        yield from self._stream(stmt, JournalRecord, "reading the journal", batch_size)

    def follow_journal(self, after_seq: int, after_hash: str, limit: int = 10_000) -> list[JournalRecord]:
        """Up to ``limit`` committed journal rows after ``after_seq``, their chain verified as they are
        read (a standby, engine/node/standby.py): the first row must be ``after_seq + 1`` and link to
        ``after_hash`` (the hash of row ``after_seq``, :data:`GENESIS` for 0), each row's hash must
        match its content (keyed rows with the key) and the next row must link to it. Raises
        :class:`JournalChainBrokenError` naming the first bad row; never returns a row past it."""
        keyed_from, p = self._keyed_from("journal", self.meta())
        if p is not None:
            raise JournalChainBrokenError(str(p))
        key = self.key if keyed_from < (1 << 62) else None
        c = journal_t.c
        stmt = (select(c.seq, c.ts, c.type, c.epoch, c.outcome, c.payload, c.prev_hash, c.hash)
                .where(c.seq > after_seq).order_by(c.seq).limit(int(limit)))
        with self._read("following the journal") as conn:
            rows = [tuple(r) for r in conn.execute(stmt).all()]
        if not rows:
            return []
        bad, problem, _last, _h = verify_rows(rows, after_hash, after_seq if after_seq > 0 else -1, key, keyed_from)
        if bad >= 0:
            raise JournalChainBrokenError(f"{ChainProblem('journal', bad, problem)}")
        return [JournalRecord(r[0], r[1], r[2], r[5], r[3], r[4], None, r[6], r[7]) for r in rows]

    def journal_listener(self) -> JournalListener:
        """A connection of its own that LISTENs for the journal's NOTIFYs (PostgreSQL only)."""
        return JournalListener(self)

    def get_journal(self, seq: int) -> JournalRecord | None:
        c = journal_t.c
        with self._read("reading the journal") as conn:
            row = conn.execute(select(c.seq, c.ts, c.type, c.payload, c.epoch, c.outcome,
                                      c.rolled_back_epoch, c.prev_hash, c.hash).where(c.seq == seq)).first()
        return JournalRecord(*row) if row is not None else None

    def _stream(self, stmt, record, action: str, batch_size: int) -> Iterator:
        self._check_open()
        with self._errors(action), self.engine.connect() as conn:
            conn.execution_options(stream_results=True, yield_per=batch_size)
            with conn.begin():
                result = conn.execute(stmt)
                for part in result.partitions():
                    for row in part:
                        yield record(*row)

    def mark_rolled_back(self, after_seq: int, upto_seq: int, new_epoch: int, *,
                         snapshot_id: str | None = None, rollback_seq: int | None = None) -> int:
        """Record a rollback: rows ``after_seq < seq <= upto_seq`` are discarded; ``new_epoch`` starts.

        Sets ``rolled_back_epoch = new_epoch`` on those rows that no earlier rollback already
        marked (rows are kept, their hashed content unchanged), adds an ``epochs`` row, and
        makes ``new_epoch`` the current epoch. ``new_epoch`` must be greater than the current
        epoch. Returns the number of rows newly marked. Prefer passing a
        :class:`RollbackMark` to :meth:`append_journal` so the ``rollback`` command row and
        its marking commit together.
        """
        mark = RollbackMark(after_seq, upto_seq, new_epoch, snapshot_id, rollback_seq)
        with self._write("marking rolled-back journal rows") as conn:
            epoch_now = int(_read_meta(conn, ("epoch",), lock=True)["epoch"])
            before = conn.execute(select(func.count()).select_from(journal_t).where(
                journal_t.c.rolled_back_epoch == new_epoch)).scalar_one()
            self._mark(conn, mark, epoch_now)
            after = conn.execute(select(func.count()).select_from(journal_t).where(
                journal_t.c.rolled_back_epoch == new_epoch)).scalar_one()
        return after - before

    @staticmethod
    def _mark(conn: Connection, mark: RollbackMark, epoch_now: int) -> int:
        after_seq, upto_seq, new_epoch, snapshot_id, rollback_seq = mark
        if new_epoch <= epoch_now:
            raise JournalConflictError(
                f"rollback marking refused: new epoch {new_epoch} is not after the current epoch "
                f"{epoch_now}. Nothing was written.")
        if not (0 <= after_seq <= upto_seq):
            raise StoreError(f"rollback marking refused: bad range after_seq={after_seq}, upto_seq={upto_seq}")
        c = journal_t.c
        conn.execute(update(journal_t).where(c.seq > after_seq, c.seq <= upto_seq,
                                              c.rolled_back_epoch.is_(None))
                     .values(rolled_back_epoch=new_epoch))
        conn.execute(epochs_t.insert().values(epoch=new_epoch, after_seq=after_seq, upto_seq=upto_seq,
                                              rollback_seq=rollback_seq, snapshot_id=snapshot_id,
                                              created_at=now_ms()))
        _write_meta(conn, "epoch", str(new_epoch))
        return new_epoch

    def list_epochs(self) -> list[EpochRecord]:
        """Every rollback recorded, oldest first (epoch 1 has no row: it is the beginning)."""
        c = epochs_t.c
        with self._read("reading the epochs") as conn:
            rows = conn.execute(select(c.epoch, c.after_seq, c.upto_seq, c.rollback_seq, c.snapshot_id,
                                       c.created_at).order_by(c.epoch)).all()
        return [EpochRecord(*r) for r in rows]

    # ------------------------------------------------------------ snapshots
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
        with self._write(f"saving snapshot {snap.snapshot_id}") as conn:
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
        keyed = _split_key(m.get("journal_key"))
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
        with self._read("listing snapshots") as conn:
            return [SnapshotInfo(*r) for r in conn.execute(stmt).all()]

    def load_snapshot(self, snapshot_id: str) -> Snapshot:
        """The snapshot with its bytes, checked against its hash.

        Raises :class:`StoreNotFoundError` if absent and :class:`StoreCorruptError` if its bytes
        no longer match the recorded state hash.
        """
        c = snapshots_t.c
        with self._read(f"loading snapshot {snapshot_id}") as conn:
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
        with self._write("pruning automatic snapshots") as conn:
            autos = [r[0] for r in conn.execute(
                select(c.id).where(c.trigger == "auto").order_by(c.seq.desc(), c.created_at.desc(), c.id.desc()))]
            used = {r[0] for r in conn.execute(select(epochs_t.c.snapshot_id)) if r[0] is not None}
            doomed = [sid for sid in autos[keep_last_n:] if sid not in used]
            if doomed:
                conn.execute(snapshots_t.delete().where(c.id.in_(doomed), c.trigger == "auto"))
                conn.execute(meta_t.delete().where(meta_t.c.key.in_([snapshot_mac_key(d) for d in doomed])))
        return doomed

    # ---------------------------------------------------------------- audit
    def append_audit(self, *, operator: str, role: str, action: str, command: Mapping | None = None,
                     reason: str = "", outcome: str = "", ts: int | None = None) -> AuditRecord:
        """Append one operator action to the hash-chained audit log; return the stored record.

        ``ts`` defaults to the wall clock (ms). ``command`` is stored as canonical JSON.
        ``id`` is assigned 1, 2, 3, ... under the chain's lock.
        """
        cmd = canonical_json(dict(command)) if command is not None else None
        ts = now_ms() if ts is None else int(ts)
        with self._write("appending to the audit log") as conn:
            head_id, head_hash = _split_head(_read_meta(conn, ("audit_head",), lock=True)["audit_head"])
            rid = head_id + 1
            keyed = _split_key(_read_meta(conn).get("audit_key"))
            key = self._chain_key("audit", keyed)
            if keyed is None and key is not None:
                conn.execute(meta_t.insert(), [{"key": "audit_key", "value": f"{self.key_id} {rid}"}])
            h = audit_hash(head_hash, rid, ts, operator, role, action, cmd, reason, outcome, key)
            rec = AuditRecord(rid, ts, operator, role, action, cmd, reason, outcome, head_hash, h)
            conn.execute(audit_t.insert().values(**rec._asdict()))
            _write_meta(conn, "audit_head", f"{rid} {h}")
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
            from sqlalchemy import or_

            stmt = stmt.where(or_(*(col.icontains(query, autoescape=True)
                                    for col in (c.operator, c.action, c.reason, c.outcome, c.command))))
        stmt = stmt.order_by(c.id.desc() if newest_first else c.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        yield from self._stream(stmt, AuditRecord, "reading the audit log", 1000)

    # ---------------------------------------------------------- verification
    def verify_chains(self, *, journal: bool = True, audit: bool = True, journal_from: int = 0,
                      progress: Callable[[str, int], object] | None = None, live: bool = False) -> list[ChainProblem]:
        """Check the journal and audit hash chains; return the first problem of each (empty: sound).

        Detects an altered row (its content no longer matches its hash), an altered and
        re-hashed row (the next row's ``prev_hash`` no longer matches), deleted rows (a gap in
        seq/id or a broken link), rows deleted from the end (the recorded head is ahead) and a
        missing head record. Keyed rows (see :mod:`engine.store.trust`) are checked with the key: a
        row edited and re-hashed with the public function is caught where it was edited.

        ``journal_from`` (a node start: the restored snapshot's seq): the journal rows from that seq
        to the head are checked as above, row ``journal_from`` linked to the stored hash of the row
        before it; the rows before it only cheaply: seqs contiguous (row count = last - first + 1)
        and the last row = the head record (:meth:`verify_journal_prefix` checks their hashes).

        ``progress(chain, rows checked)`` (``perpdesk verify`` on a terminal) is called between
        batches of rows, never per row.

        ``live`` (a standby, while the leader appends): each chain is checked up to its head record
        as read first, which must be its last row checked; rows appended meanwhile are left out.
        """
        problems: list[ChainProblem] = []
        heads = self.meta()
        jupto = aupto = None
        if live:
            try:
                jupto = _split_head(heads["journal_head"])[0]
                aupto = _split_head(heads["audit_head"])[0]
            except (KeyError, ValueError):
                live = False  # a missing or damaged head record: the full checks name it
                jupto = aupto = None
        if journal:
            p = self._journal_extent_problem(heads, jupto) if journal_from > 0 else None
            if p is None:
                p = self._verify_journal(heads, journal_from, jupto, progress=progress, check_head=True)
            if p is not None:
                problems.append(p)
        if audit:
            c = audit_t.c
            stmt = select(c.id, c.ts, c.operator, c.role, c.action, c.command, c.reason, c.outcome,
                          c.prev_hash, c.hash).order_by(c.id)
            if aupto is not None:
                stmt = stmt.where(c.id <= aupto)
            p = self._verify_chain("audit", stmt, audit_hash, heads, progress)
            if p is not None:
                problems.append(p)
        return problems

    def _keyed_from(self, chain: str, heads: dict[str, str]) -> tuple[int, ChainProblem | None]:
        """(first keyed seq/id, or a huge number when unkeyed; a problem with the key record)."""
        try:
            keyed = _split_key(heads.get(f"{chain}_key"))
        except ValueError:
            return 1, ChainProblem(chain, None, f"the {chain}_key record is damaged: restore the database")
        if keyed is None:
            return 1 << 62, None
        if self.key is not None and keyed[0] != self.key_id:
            return keyed[1], ChainProblem(chain, None, f"the chain is keyed with key id {keyed[0]}, not the key "
                                                       f"given ({self.key_id}): use the key it was written with")
        return keyed[1], None

    def verify_journal_prefix(self, upto_seq: int, stop: Callable[[], bool] | None = None) -> ChainProblem | None:
        """The journal chain from its first row through ``upto_seq`` (what a node start checks only
        cheaply: the node verifies it in the background after it started). ``stop()`` True: give up
        (returns None)."""
        return self._verify_journal(self.meta(), 0, upto_seq, stop)

    def _journal_extent_problem(self, heads: dict[str, str], upto: int | None = None) -> ChainProblem | None:
        """Cheap: the journal's seqs are contiguous (count = last - first + 1) and end at the head record."""
        sql = f"SELECT COUNT(*), MIN(seq), MAX(seq) FROM {journal_t.name}"
        if upto is not None:
            sql += f" WHERE seq <= {int(upto)}"
        with self._read("checking the journal's extent") as conn:
            n, lo, hi = conn.exec_driver_sql(sql).one()
        if n and n != hi - lo + 1:
            return ChainProblem("journal", None, f"seq {lo}..{hi} holds {n:,} rows, not {hi - lo + 1:,}: "
                                                 f"{hi - lo + 1 - n:,} rows were deleted")
        head = heads.get("journal_head")
        if head is None:
            return self._check_head("journal", heads, 0, GENESIS)
        try:
            head_key = _split_head(head)[0]
        except ValueError:
            return ChainProblem("journal", None, f"the journal_head record is damaged ({head[:40]!r})")
        if (hi or 0) != head_key:
            return ChainProblem("journal", None, f"the journal ends at seq {hi or 0} but the store recorded its "
                                                 f"head at seq {head_key}: rows at the end were deleted, or the "
                                                 f"head record was altered")
        return None

    def _verify_journal(self, heads: dict[str, str], from_seq: int = 0, upto_seq: int | None = None,
                        stop: Callable[[], bool] | None = None,
                        progress: Callable[[str, int], object] | None = None,
                        check_head: bool = False) -> ChainProblem | None:
        keyed_from, p = self._keyed_from("journal", heads)
        if p is not None:
            return p
        key = self.key if keyed_from < (1 << 62) else None
        where = []
        if from_seq > 0:
            where.append(f"seq >= {int(from_seq)}")
        if upto_seq is not None:
            where.append(f"seq <= {int(upto_seq)}")
        sql = (f"SELECT seq, ts, type, epoch, outcome, payload, prev_hash, hash FROM {journal_t.name}"
               f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY seq")
        prev_hash, prev_key = GENESIS, -1
        checked = 0
        self._check_open()
        # the DBAPI cursor itself (plain tuples, no Row objects): a node start runs this over the
        # journal from its snapshot (bench/bench_store.py --startup); PostgreSQL streams from a named cursor
        with self._errors("verifying the journal chain"), self.engine.connect() as conn, conn.begin():
            if from_seq > 0:  # the first row checked must link to the stored hash of the row before it
                before = conn.exec_driver_sql(f"SELECT seq, hash FROM {journal_t.name} WHERE seq < {int(from_seq)} "
                                              f"ORDER BY seq DESC LIMIT 1").first()
                if before is not None:
                    prev_key, prev_hash = int(before[0]), str(before[1])
            raw = conn.connection.dbapi_connection
            cur = raw.cursor(name="perpdesk_verify") if self.backend == "postgresql" else raw.cursor()
            try:
                cur.execute(sql)
                while True:
                    part = cur.fetchmany(20_000)
                    if not part:
                        break
                    bad, problem, prev_key, prev_hash = verify_rows(part, prev_hash, prev_key, key, keyed_from)
                    if bad >= 0:
                        return ChainProblem("journal", bad, problem)
                    if progress is not None:
                        checked += len(part)
                        progress("journal", checked)
                    if stop is not None and stop():
                        return None
            finally:
                cur.close()
        if upto_seq is not None and not check_head:
            return None
        return self._check_head("journal", heads, max(prev_key, 0), prev_hash)

    def _check_head(self, chain: str, heads: dict[str, str], last: int, last_hash: str) -> ChainProblem | None:
        label = "seq" if chain == "journal" else "id"
        head = heads.get(f"{chain}_head")
        if head is None:
            return ChainProblem(chain, None, f"the {chain}_head record is missing from perpdesk_meta (deleted by "
                                             f"hand, or lost with the WAL): the journal's true end cannot be "
                                             f"trusted")
        try:
            head_key, head_hash = _split_head(head)
        except ValueError:
            return ChainProblem(chain, None, f"the {chain}_head record is damaged ({head[:40]!r})")
        if head_key != last or (last and head_hash != last_hash):
            return ChainProblem(chain, None, f"the {chain} ends at {label} {last} but the store "
                                             f"recorded its head at {label} {head_key}: rows at the "
                                             f"end were deleted, or the head record was altered")
        return None

    def _verify_chain(self, chain: str, stmt, hasher, heads: dict[str, str],
                      progress: Callable[[str, int], object] | None = None) -> ChainProblem | None:
        label = "seq" if chain == "journal" else "id"
        keyed_from, p = self._keyed_from(chain, heads)
        if p is not None:
            return p
        prev_hash, prev_key = GENESIS, None
        checked = 0
        for row in self._stream(stmt, _as_tuple, f"verifying the {chain} chain", 10_000):
            checked += 1
            if progress is not None and not checked & 0x1FFF:
                progress(chain, checked)
            key, fields, stored_prev, stored_hash = row[0], row[:-2], row[-2], row[-1]
            if prev_key is not None and key != prev_key + 1:
                return ChainProblem(chain, key, f"{label} {prev_key + 1}..{key - 1} missing: rows were "
                                                f"deleted between {label} {prev_key} and {key}")
            if stored_prev != prev_hash:
                before = f"{label} {prev_key}" if prev_key is not None else "the chain's start"
                return ChainProblem(chain, key, f"prev_hash does not match the hash of {before}: a row "
                                                f"before it was altered and re-hashed, removed or inserted")
            if key >= keyed_from:
                if self.key is None:
                    return ChainProblem(chain, key, "the row is keyed but no journal key is available to check it")
                if hasher(stored_prev, *fields, key=self.key) != stored_hash:
                    return ChainProblem(chain, key, "its content does not match its keyed hash (HMAC): the row "
                                                    "was altered, or re-hashed without the key")
            elif hasher(stored_prev, *fields) != stored_hash:
                return ChainProblem(chain, key, "its content does not match its hash: the row was altered")
            prev_hash, prev_key = stored_hash, key
        return self._check_head(chain, heads, prev_key or 0, prev_hash)

    # ---------------------------------------------------------- maintenance
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
        with self._write(f"saving maintenance window {wid}") as conn:
            c = maintenance_t.c
            n = conn.execute(update(maintenance_t).where(c.window_id == wid)
                             .values(**values, updated_ts=now)).rowcount
            if not n:
                conn.execute(maintenance_t.insert().values(window_id=wid, **values, created_ts=now,
                                                           updated_ts=now))
            row = conn.execute(select(maintenance_t).where(c.window_id == wid)).one()
        return _window_dict(row)

    def get_maintenance(self, window_id: str) -> dict | None:
        with self._read("reading maintenance windows") as conn:
            row = conn.execute(select(maintenance_t).where(maintenance_t.c.window_id == window_id)).first()
        return _window_dict(row) if row is not None else None

    def list_maintenance(self, phase: str | None = None) -> list[dict]:
        """Maintenance windows ordered by start time."""
        c = maintenance_t.c
        stmt = select(maintenance_t).order_by(c.start_ts, c.window_id)
        if phase is not None:
            stmt = stmt.where(c.phase == phase)
        with self._read("reading maintenance windows") as conn:
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
        with self._write(f"saving refund {values['refund_id']}") as conn:
            c = refunds_t.c
            if conn.execute(select(c.refund_id).where(c.refund_id == values["refund_id"])).first():
                raise RecordConflictError(f"refund {values['refund_id']!r} already exists")
            conn.execute(refunds_t.insert().values(**values))
            row = conn.execute(select(refunds_t).where(c.refund_id == values["refund_id"])).one()
        return _refund_dict(row)

    def get_refund(self, refund_id: str) -> dict | None:
        with self._read("reading refunds") as conn:
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
        with self._read("reading refunds") as conn:
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
        with self._write(f"updating refund {refund_id}") as conn:
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
        with self._write("recording an alert delivery") as conn:
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
        with self._read("reading alert deliveries") as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]


    # -------------------------------------------------------------- operators
    _OPERATOR_COLUMNS = ("token_id", "name", "role", "salt", "hash", "created_ms", "created_by", "revoked_ms",
                         "revoked_by", "last_seen_ms")

    def add_operator(self, row: Mapping) -> dict:
        """Insert one operator token row (keys as :class:`OperatorRow`). Refuses
        (:class:`RecordConflictError`) a second active operator of the same name, or a token id in use."""
        values = {k: row.get(k) for k in self._OPERATOR_COLUMNS}
        c = operators_t.c
        with self._write(f"adding operator {values['name']}") as conn:
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
        with self._read("reading operators") as conn:
            r = conn.execute(select(operators_t).where(operators_t.c.token_id == token_id)).first()
        return dict(r._mapping) if r is not None else None

    def list_operators(self) -> list[dict]:
        """Every operator row, oldest first (revoked ones included)."""
        c = operators_t.c
        with self._read("reading operators") as conn:
            return [dict(r._mapping) for r in conn.execute(select(operators_t).order_by(c.created_ms, c.token_id))]

    def revoke_operator(self, name: str, *, by: str, ts: int) -> dict:
        """Revoke the active operator ``name``; return its row. :class:`StoreNotFoundError` if none."""
        c = operators_t.c
        with self._write(f"revoking operator {name}") as conn:
            r = conn.execute(select(operators_t).where(c.name == name, c.revoked_ms.is_(None))
                             .with_for_update()).first()
            if r is None:
                raise StoreNotFoundError(f"there is no active operator named {name!r}")
            conn.execute(update(operators_t).where(c.token_id == r.token_id).values(revoked_ms=ts, revoked_by=by))
        return {**dict(r._mapping), "revoked_ms": ts, "revoked_by": by}

    def touch_operator(self, token_id: str, ts: int) -> None:
        """Record that ``token_id`` was used at ``ts`` (ms)."""
        with self._write("recording an operator's last use") as conn:
            conn.execute(update(operators_t).where(operators_t.c.token_id == token_id).values(last_seen_ms=ts))


class JournalListener:
    """LISTEN on :data:`JOURNAL_CHANNEL` over a dedicated autocommit psycopg connection (a standby).

    :meth:`wait` returns the highest head seq notified within ``timeout`` seconds (None: none came).
    A lost connection raises :class:`StoreUnavailableError` (the standby keeps polling and listens
    again later): a missed NOTIFY costs at most one poll interval, never a row."""

    def __init__(self, store: Store) -> None:
        if store.backend != "postgresql":
            raise StoreError(f"{store.where} is not PostgreSQL: there is no NOTIFY to listen for")
        self.where = store.where
        try:
            import psycopg

            conninfo = store.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._conn = psycopg.connect(conninfo, autocommit=True)
            self._conn.execute(f"LISTEN {JOURNAL_CHANNEL}")
        except Exception as e:
            raise _translate(e, "listening for the journal", self.where, store.busy_timeout_ms) from None

    def wait(self, timeout: float) -> int | None:
        best: int | None = None
        try:
            for n in self._conn.notifies(timeout=timeout, stop_after=1):
                try:
                    seq = int(n.payload)
                except ValueError:
                    continue
                best = seq if best is None else max(best, seq)
        except Exception as e:
            raise _translate(e, "listening for the journal", self.where, 0) from None
        return best

    def close(self) -> None:
        try:
            self._conn.close()
        except Exception:
            pass


# =====================================================================
# helpers
# =====================================================================
_JOURNAL_INSERT_COLUMNS = ("seq", "ts", "type", "payload", "epoch", "outcome", "prev_hash", "hash")


def _chain_journal(rows: Iterable[JournalEntry | Mapping], head_seq: int, head_hash: str,
                   epoch_now: int, key: bytes | None = None) -> list[tuple]:
    """Validate, encode and hash-chain ``rows``; return INSERT parameter tuples.

    The hot path of the journal: one tight loop (compiled: engine/core/journalchain.py), no
    per-row objects beyond the tuple.
    """
    try:
        return chain_rows(rows, head_seq, head_hash, epoch_now, key)
    except ChainError as e:
        raise (JournalConflictError if e.conflict else StoreError)(e.message) from None


def _as_tuple(*row: Any) -> tuple:
    return row


def _split_head(value: str) -> tuple[int, str]:
    n, h = value.split(" ", 1)
    return int(n), h


def _read_meta(conn: Connection, keys: Sequence[str] | None = None, lock: bool = False) -> dict[str, str]:
    c = meta_t.c
    stmt = select(c.key, c.value)
    if keys is not None:
        stmt = stmt.where(c.key.in_(list(keys)))
    if lock:
        stmt = stmt.with_for_update()
    out = {k: v for k, v in conn.execute(stmt).all()}
    if keys is not None:
        missing = [k for k in keys if k not in out]
        if missing:
            raise StoreCorruptError(f"the database's perpdesk_meta table lacks {', '.join(missing)}: it was "
                                    f"damaged or edited by hand; restore it from a backup")
    return out


def _write_meta(conn: Connection, key: str, value: str) -> None:
    conn.execute(update(meta_t).where(meta_t.c.key == key).values(value=value))


def _check_meta(tables: set[str], meta: dict[str, str] | None, where: str, *, sqlite: bool) -> str:
    """'new' (empty: create the schema), 'ok', or 'migrate' (an older version with a migration); raises
    for anything else."""
    if meta is None:
        ours = sorted(tables & TABLE_NAMES)
        if ours:
            raise NotAPerpdeskDatabaseError(
                f"{where} has tables named like perpdesk's ({', '.join(ours)}) but no perpdesk_meta "
                f"table: it is not a perpdesk database (or a damaged one). perpdesk did not change it; "
                f"point --db/PERPDESK_DB at another database.")
        if sqlite and tables:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise NotAPerpdeskDatabaseError(
                f"{where} is a SQLite database of another application (tables: {shown}). perpdesk did "
                f"not change it; point --db/PERPDESK_DB at another file.")
        return "new"
    app = meta.get("application_id")
    if app != APPLICATION_ID:
        raise NotAPerpdeskDatabaseError(
            f"{where} belongs to application {app!r}, not perpdesk. perpdesk did not change it; point "
            f"--db/PERPDESK_DB at another database.")
    version = meta.get("schema_version")
    try:
        v = int(version) if version is not None else None
    except ValueError:
        v = None
    if v is None:
        raise SchemaVersionError(
            f"{where} records an unknown schema version {version!r}. perpdesk did not change it; "
            f"restore it from a backup or use another database.")
    if v > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{where} has schema version {v}, newer than this perpdesk understands ({SCHEMA_VERSION}). "
            f"It was written by a newer perpdesk: upgrade perpdesk to open it. perpdesk did not change it.")
    if v < SCHEMA_VERSION and all(n in MIGRATIONS for n in range(v, SCHEMA_VERSION)):
        return "migrate"
    if v < SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{where} has schema version {v}, older than this perpdesk's {SCHEMA_VERSION}, and no "
            f"migration exists for it. perpdesk did not change it.")
    return "ok"


def _migrate_1_to_2(conn: Connection) -> None:
    """Version 2 adds the alert delivery log (additive: nothing existing changes)."""
    alert_deliveries_t.create(conn, checkfirst=True)


def _migrate_2_to_3(conn: Connection) -> None:
    """Version 3 adds the operator registry (additive: nothing existing changes)."""
    operators_t.create(conn, checkfirst=True)


#: from version N to N + 1, run in the opening transaction (all or nothing)
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _migrate_1_to_2, 2: _migrate_2_to_3}


def _migrate(conn: Connection, version: int) -> None:
    for v in range(version, SCHEMA_VERSION):
        MIGRATIONS[v](conn)
        _write_meta(conn, "schema_version", str(v + 1))
        conn.execute(meta_t.insert(), [{"key": f"migrated_to_{v + 1}_at", "value": str(now_ms())}])


def _precheck_sqlite_file(path: Path, create: bool) -> None:
    """Refuse a non-SQLite or foreign file before any pragma could modify it."""
    shown = str(path)
    if path.is_dir():
        raise StoreUnavailableError(f"{shown} is a directory, not a database file; give a file path")
    if not path.exists():
        if not create:
            raise StoreNotFoundError(f"there is no database at {shown}. Check --db / PERPDESK_DB / "
                                     f"PERPDESK_HOME, or run the node once to create it.")
        return
    # The header is read by SQLite itself, never with open()/close() on the file: closing any file
    # descriptor of the database drops every POSIX lock this process holds on it (fcntl semantics),
    # including the shared locks of this process's live SQLite connections (a second Store on the
    # file in a node's process: a reader, a test). Another process's connection then believes it
    # is the last one when it closes, checkpoints and deletes the WAL under the running node, whose
    # later commits land in the unlinked WAL: lost for every other process (the journal writer
    # process then sees an older head: "seq N does not follow the journal's last seq M").
    not_sqlite = NotAPerpdeskDatabaseError(
        f"{shown} is not a SQLite database (it does not start with the SQLite header): it is "
        f"another kind of file, or damaged beyond use. perpdesk did not change it; point "
        f"--db/PERPDESK_DB at another file, or restore this one from a backup.")
    try:
        if path.stat().st_size == 0:
            return  # an empty file is an empty SQLite database
    except OSError as e:
        raise StoreUnavailableError(f"cannot read {shown}: {e.strerror}. Check its permissions.") from None
    try:
        con = sqlite3.connect(str(path), timeout=5, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as e:
        raise _translate(e, "opening the database", shown, 5000) from None
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        meta = None
        if meta_t.name in tables:
            meta = dict(con.execute(f"SELECT key, value FROM {meta_t.name}").fetchall())
    except sqlite3.Error as e:
        if getattr(e, "sqlite_errorcode", None) == _SQLITE_NOTADB:
            raise not_sqlite from None
        raise _translate(e, "opening the database", shown, 5000) from None
    finally:
        con.close()
    _check_meta(tables, meta, shown, sqlite=True)


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
