"""Store fixtures: every store test runs on SQLite and on PostgreSQL (``pg_url``, tests/conftest.py: from
``PERPDESK_TEST_PG_URL`` or a throwaway server; skipped with the reason when there is none, except in
CI). The isolated home is the shared one (tests/conftest.py)."""

from __future__ import annotations

import pytest


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
