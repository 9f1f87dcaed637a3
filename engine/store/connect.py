"""Connecting to a database: the SQLAlchemy engines, the SQLite file precheck, error translation.

SQLite settings
    Every connection gets ``busy_timeout``, ``journal_mode=WAL``,
    ``synchronous=FULL`` and ``foreign_keys=ON`` in a connect event. pysqlite's
    own transaction handling is switched off (``isolation_level = None``) and
    SQLAlchemy's ``begin`` event emits ``BEGIN IMMEDIATE`` for writers (so a
    writer takes the write lock up front and waits up to the busy timeout,
    instead of failing at COMMIT) and ``BEGIN`` for readers, as in SQLAlchemy's
    SQLite documentation ("Enabling Non-Legacy SQLite Transactional Modes").
    A refused database is never altered: a SQLite file is inspected
    (:func:`precheck_sqlite_file`) before any pragma (such as WAL) is applied to it.

Errors
    :func:`translate` maps a DBAPI/SQLAlchemy failure to a :class:`~engine.store.errors.StoreError`
    subclass whose message says what happened and what to do (locked, full, corrupt, read-only,
    unreachable...), from SQLite's result codes or PostgreSQL's SQLSTATE.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import StaticPool

from ..settings import paths
from .errors import (
    NotAPerpdeskDatabaseError,
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreLockedError,
    StoreNotFoundError,
    StoreUnavailableError,
)
from .schema import check_meta, meta_t

_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR = 5, 6, 8, 10
_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_TOOBIG, _SQLITE_NOTADB = 11, 13, 14, 18, 26


def translate(err: BaseException, action: str, where: str, busy_timeout_ms: int) -> StoreError:
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


def sqlite_engine(sa_url: URL, create: bool, busy_timeout_ms: int,
                  pragmas: Mapping[str, Any] | None) -> Engine:
    database = sa_url.database or ""
    memory = database in ("", ":memory:") or database.startswith("file::memory:")
    connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": busy_timeout_ms / 1000}
    if memory:
        engine = create_engine(sa_url, connect_args=connect_args, poolclass=StaticPool)
    else:
        path = Path(database)
        precheck_sqlite_file(path, create)
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

def postgres_engine(sa_url: URL) -> Engine:
    try:
        return create_engine(sa_url, pool_pre_ping=True, pool_size=8, max_overflow=16)
    except ModuleNotFoundError as e:
        raise StoreError(
            f"PostgreSQL support needs the {e.name!r} driver: pip install 'psycopg[binary]' "
            f"and use a postgresql+psycopg:// URL") from None


def precheck_sqlite_file(path: Path, create: bool) -> None:
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
        raise translate(e, "opening the database", shown, 5000) from None
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        meta = None
        if meta_t.name in tables:
            meta = dict(con.execute(f"SELECT key, value FROM {meta_t.name}").fetchall())
    except sqlite3.Error as e:
        if getattr(e, "sqlite_errorcode", None) == _SQLITE_NOTADB:
            raise not_sqlite from None
        raise translate(e, "opening the database", shown, 5000) from None
    finally:
        con.close()
    check_meta(tables, meta, shown, sqlite=True)
