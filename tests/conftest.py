"""Every test runs with its own PERPDESK_HOME: nothing ever touches the real home's data."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _perpdesk_home(tmp_path, monkeypatch):
    monkeypatch.setenv("PERPDESK_HOME", str(tmp_path / "perpdesk-home"))
    monkeypatch.delenv("PERPDESK_DB", raising=False)
