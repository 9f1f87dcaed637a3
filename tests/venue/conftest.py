from __future__ import annotations

import pytest

from tests.store.conftest import pg_server_url, pg_url, store_url  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("PERPDESK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PERPDESK_DB", raising=False)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s


@pytest.fixture
def clock():
    return FakeClock()
