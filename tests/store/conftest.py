"""Store fixtures: every store test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``PERPDESK_TEST_PG_URL`` (``.ci/postgres.sh`` prints it). When
unset, the fixture starts a throwaway server with ``.ci/postgres.sh`` if PostgreSQL's
binaries are installed, and stops it at the end of the session. Without a server the
PostgreSQL variants are skipped with the reason shown, except in CI (``CI=true``),
where a missing PostgreSQL fails them.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / ".ci" / "postgres.sh"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Never touch the real home: every perpdesk path lives under tmp_path/home."""
    monkeypatch.setenv("PERPDESK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PERPDESK_DB", raising=False)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _pg_binaries() -> bool:
    return bool(shutil.which("pg_ctl") or glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))


@pytest.fixture(scope="session")
def pg_server_url():
    """URL of a PostgreSQL server's admin database, or a skip/fail with the reason."""
    url = os.environ.get("PERPDESK_TEST_PG_URL", "").strip()
    started_dir = None
    reason = ""
    if not url:
        if not _pg_binaries():
            reason = "PostgreSQL not available: PERPDESK_TEST_PG_URL is unset and no pg_ctl is installed"
        else:
            proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=180)
            exports = dict(line.removeprefix("export ").split("=", 1)
                           for line in proc.stdout.splitlines() if line.startswith("export "))
            url = exports.get("PERPDESK_TEST_PG_URL", "")
            started_dir = exports.get("PERPDESK_TEST_PG_DIR")
            if proc.returncode != 0 or not url:
                reason = f"could not start PostgreSQL with {SCRIPT.name}: {proc.stderr.strip()[-500:]}"
                url = ""
    if url:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            reason, url = "PostgreSQL tests need psycopg: pip install 'psycopg[binary]'", ""
    if not url:
        if _in_ci():
            pytest.fail(f"CI requires the PostgreSQL store tests: {reason}")
        pytest.skip(reason)
    yield url
    if started_dir:
        subprocess.run(["bash", str(SCRIPT), "--stop", started_dir], capture_output=True, timeout=120)


@pytest.fixture
def pg_url(pg_server_url):
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"perpdesk_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path):
    """A URL for a database that does not exist yet (SQLite file) or is empty (PostgreSQL)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'perpdesk.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(store_url):
    from engine.store.store import Store

    s = Store.open(store_url)
    yield s
    s.close()
