"""Databases the store must refuse (never altering them) and faults it must explain."""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import threading

import pytest

from engine.store.store import (
    NotAPerpdeskDatabaseError,
    SchemaVersionError,
    Store,
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreLockedError,
    StoreUnavailableError,
)

from .helpers import entries, raw_exec


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_newer_schema_version_is_refused(store_url):
    with Store.open(store_url) as s:
        s.append_journal(entries(1, 4))
    raw_exec(store_url, "UPDATE perpdesk_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(SchemaVersionError, match="schema version 99, newer") as ei:
        Store.open(store_url)
    assert "upgrade perpdesk" in str(ei.value)
    raw_exec(store_url, "UPDATE perpdesk_meta SET value = 'x7' WHERE key = 'schema_version'")
    with pytest.raises(SchemaVersionError, match="unknown schema version"):
        Store.open(store_url)
    # untouched: put the version back and everything is there
    raw_exec(store_url, "UPDATE perpdesk_meta SET value = '1' WHERE key = 'schema_version'")
    with Store.open(store_url) as s:
        assert s.last_seq() == 3 and s.verify_chains() == []


def test_another_applications_meta_is_refused(store_url):
    Store.open(store_url).close()
    raw_exec(store_url, "UPDATE perpdesk_meta SET value = 'ledgerly' WHERE key = 'application_id'")
    with pytest.raises(NotAPerpdeskDatabaseError, match="'ledgerly', not perpdesk"):
        Store.open(store_url)


def test_tables_without_meta_are_refused(store_url):
    raw_exec(store_url, "CREATE TABLE journal (id INTEGER PRIMARY KEY, note TEXT)")
    with pytest.raises(NotAPerpdeskDatabaseError, match="no perpdesk_meta"):
        Store.open(store_url)


def test_foreign_sqlite_file_is_refused_untouched(tmp_path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total TEXT)")
    con.execute("INSERT INTO invoices (total) VALUES ('9.99')")
    con.commit()
    con.close()
    before = _digest(path)
    with pytest.raises(NotAPerpdeskDatabaseError, match="another application.*invoices"):
        Store.open(f"sqlite:///{path}")
    assert _digest(path) == before
    assert sorted(os.listdir(tmp_path)) == ["other.db"]  # no -wal / -shm, not switched to WAL


@pytest.mark.parametrize("content", [random.Random(0).randbytes(4096), b"hello, I am a text file\n", b"\x00" * 10])
def test_not_a_database_is_refused_untouched(tmp_path, content):
    path = tmp_path / "random.db"
    path.write_bytes(content)
    with pytest.raises(NotAPerpdeskDatabaseError, match="is not a SQLite database") as ei:
        Store.open(f"sqlite:///{path}")
    assert "did not change it" in str(ei.value)
    assert path.read_bytes() == content
    assert sorted(os.listdir(tmp_path)) == ["random.db"]


def test_sqlite_header_with_garbage_is_a_clear_error(tmp_path):
    path = tmp_path / "fake.db"
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    with pytest.raises(StoreError) as ei:
        Store.open(f"sqlite:///{path}")
    assert isinstance(ei.value, StoreCorruptError | NotAPerpdeskDatabaseError)
    assert str(path) in str(ei.value)


@pytest.mark.parametrize("seed", range(6))
def test_damaged_pages_are_a_clear_error(tmp_path, seed):
    path = tmp_path / "perpdesk.db"
    url = f"sqlite:///{path}"
    with Store.open(url) as s:
        s.append_journal(entries(1, 5001))
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    size = path.stat().st_size
    # wreck the middle of the file (journal pages, not the schema) with seeded garbage: SQLite
    # reports such damage in several ways (malformed image, a record "too big", ...), each one
    # must come out as the same clear error
    with open(path, "r+b") as f:
        f.seek(size // 3)
        f.write(random.Random(seed).randbytes(size // 3))
    with pytest.raises(StoreCorruptError, match="damaged"):
        with Store.open(url) as s:
            s.verify_chains()
            list(s.iter_journal())


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(StoreUnavailableError, match="is a directory"):
        Store.open(f"sqlite:///{tmp_path}")


def test_unsupported_and_malformed_urls():
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        Store.open("mysql://u@h/db")
    with pytest.raises(StoreError, match="not a database URL"):
        Store.open("::::://")


def test_unreachable_postgres_is_a_clear_error():
    pytest.importorskip("psycopg")
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(StoreUnavailableError, match="cannot use the PostgreSQL database") as ei:
        Store.open(f"postgresql+psycopg://nobody:secret@127.0.0.1:{port}/nothing")
    assert "secret" not in str(ei.value)  # passwords are masked


def test_locked_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'perpdesk.db'}"
    with Store.open(url, busy_timeout_ms=200) as s:
        s.append_journal(entries(1, 3))
        other = sqlite3.connect(tmp_path / "perpdesk.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        try:
            with pytest.raises(StoreLockedError, match="locked by another process") as ei:
                s.append_journal(entries(3, 5))
            assert "retry" in str(ei.value)
            assert s.last_seq() == 2  # readers are not blocked in WAL mode
        finally:
            other.execute("ROLLBACK")
            other.close()
        s.append_journal(entries(3, 5))
        assert s.last_seq() == 4


def test_writer_waits_for_a_short_lock(tmp_path):
    url = f"sqlite:///{tmp_path / 'perpdesk.db'}"
    with Store.open(url, busy_timeout_ms=5000) as s:
        other = sqlite3.connect(tmp_path / "perpdesk.db", isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        threading.Timer(0.3, lambda: (other.execute("ROLLBACK"), other.close())).start()
        s.append_journal(entries(1, 3))  # waits for the lock instead of failing
        assert s.last_seq() == 2


def test_disk_full_writes_nothing_and_recovers(tmp_path):
    path = tmp_path / "perpdesk.db"
    url = f"sqlite:///{path}"
    with Store.open(url) as s:
        s.append_journal(entries(1, 11))
        pages = sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0]
    with Store.open(url, pragmas={"max_page_count": pages + 2}) as s:
        with pytest.raises(StoreFullError, match="full") as ei:
            s.append_journal(entries(11, 5011))
        assert "Nothing from this operation was written" in str(ei.value)
        assert s.last_seq() == 10 and s.count_journal() == 10
        s.append_journal(entries(11, 12))  # a small append still fits
        assert s.verify_chains() == []
    with Store.open(url) as s:  # with room again, the big batch goes through
        s.append_journal(entries(12, 5012))
        assert s.last_seq() == 5011 and s.verify_chains() == []


def test_closed_store_refuses(store):
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.last_seq()


def test_concurrent_writers_never_fork_the_chain(store_url):
    stores = [Store.open(store_url) for _ in range(3)]
    errors: list[Exception] = []

    def writer(s: Store) -> None:
        for _ in range(20):
            try:
                seq = s.last_seq() + 1
                s.append_journal(entries(seq, seq + 5))
            except StoreError as e:  # losing a race is a clear conflict, never a fork
                errors.append(e)

    threads = [threading.Thread(target=writer, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = stores[0]
    assert s.verify_chains() == []
    assert s.count_journal() == s.last_seq()
    assert all("refused" in str(e) or "locked" in str(e) for e in errors)
    for x in stores:
        x.close()
