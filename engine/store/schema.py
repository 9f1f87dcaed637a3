"""The database schema: the tables (SQLModel), the meta table's records, the migrations.

SQLModel table definitions over SQLAlchemy 2.x; the same tables on SQLite and PostgreSQL. Only
portable column types are used (BigInteger, Text, LargeBinary, Boolean, integer milliseconds for
time).

The meta table (``perpdesk_meta``) holds key/value facts: ``application_id``, ``schema_version``,
``created_at``, the chain heads ``journal_head``/``audit_head`` (``"<last seq or id> <hash>"``),
the current ``epoch``, and later the chain keys' records, the leader epoch and lease holder, the
snapshots' MACs. :func:`read_meta`/:func:`write_meta` read and update them inside a transaction.

:func:`check_meta` decides what opening a database does: create the schema in an empty one, use
it, migrate an older version for which a migration exists (:data:`MIGRATIONS`, run by
:func:`migrate` in the opening transaction: all or nothing; version 1 -> 2 adds the
``alert_deliveries`` table and records ``migrated_to_2_at``; 2 -> 3 adds the ``operators`` table),
or refuse (another application's database, a newer or unknown version) without changing anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text, select, text, update
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from .errors import NotAPerpdeskDatabaseError, SchemaVersionError, StoreCorruptError
from .records import GENESIS, now_ms

APPLICATION_ID = "perpdesk"
#: 1: journal, epochs, snapshots, audit, maintenance windows, refunds; 2: + alert_deliveries; 3: + operators
SCHEMA_VERSION = 3
SQLITE_HEADER = b"SQLite format 3\x00"

#: 64-bit integer; on SQLite plain INTEGER so a primary key is the rowid (faster appends)
BigInt = BigInteger().with_variant(Integer(), "sqlite")


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


def create_schema(conn: Connection) -> None:
    """Create every table in an empty database and its first meta records (empty chains, epoch 1)."""
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


def read_meta(conn: Connection, keys: Sequence[str] | None = None, lock: bool = False) -> dict[str, str]:
    """The meta records (only ``keys``, each required, if given; ``lock``: FOR UPDATE) as a dict."""
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


def write_meta(conn: Connection, key: str, value: str) -> None:
    """Update the existing meta record ``key``."""
    conn.execute(update(meta_t).where(meta_t.c.key == key).values(value=value))


def check_meta(tables: set[str], meta: dict[str, str] | None, where: str, *, sqlite: bool) -> str:
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


def migrate(conn: Connection, version: int) -> None:
    """Upgrade a database at schema ``version`` to :data:`SCHEMA_VERSION` (inside the caller's transaction)."""
    for v in range(version, SCHEMA_VERSION):
        MIGRATIONS[v](conn)
        write_meta(conn, "schema_version", str(v + 1))
        conn.execute(meta_t.insert(), [{"key": f"migrated_to_{v + 1}_at", "value": str(now_ms())}])
