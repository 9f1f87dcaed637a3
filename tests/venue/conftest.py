from __future__ import annotations

import pytest

from tests.store.conftest import store_url  # noqa: F401  (fixture: SQLite and PostgreSQL)


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
