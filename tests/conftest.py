"""The fixtures every test folder shares (the kit's constants and waits are in tests/kit.py):

* ``home``: every test runs with its own PERPDESK_HOME (autouse; every platformdirs path perpdesk uses
  lives under it): nothing ever touches the real home's data. No PERPDESK_DB from the environment.
* ``pg_server_url`` / ``pg_url``: PostgreSQL, from ``PERPDESK_TEST_PG_URL`` or a throwaway server
  (``.ci/postgres.sh``); without one the PostgreSQL variants are skipped with the reason, except in
  CI (``CI=true``), where a missing PostgreSQL fails them.
"""

from __future__ import annotations

import uuid

import pytest

from tests.kit import find_pg_server, in_ci, stop_pg_server


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """This test's PERPDESK_HOME (tmp_path/home, not created until something writes there)."""
    path = tmp_path / "home"
    monkeypatch.setenv("PERPDESK_HOME", str(path))
    for var in ("PERPDESK_DB", "PERPDESK_VENUE", "PERPDESK_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    return path


@pytest.fixture(scope="session")
def pg_server_url():
    """URL of a PostgreSQL server's admin database, or a skip/fail with the reason."""
    url, started_dir, reason = find_pg_server()
    if not url:
        if in_ci():
            pytest.fail(f"CI requires the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    yield url
    if started_dir:
        stop_pg_server(started_dir)


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
