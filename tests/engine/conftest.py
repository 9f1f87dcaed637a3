"""Fixtures and helpers for the engine tests.

``Venue`` wraps an :class:`engine.Engine` with the default markets and a few
funded accounts, stamps a monotonically increasing ``ts`` on every command and
offers short helpers that speak the wire form (decimal strings).
"""

from __future__ import annotations

import pytest
from engine_helpers import Venue
from hypothesis import HealthCheck, settings

# CI must be stable: no example database, derandomized search, no wall-clock deadlines.
settings.register_profile(
    "perpdesk-ci",
    database=None,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("perpdesk-ci")


@pytest.fixture
def venue() -> Venue:
    """Default BTC/ETH/SOL markets; alice, bob, carol, dave hold 1,000,000 USDC each."""
    return Venue.default()


@pytest.fixture
def bare() -> Venue:
    """Default markets, no accounts."""
    return Venue.default(accounts=())
