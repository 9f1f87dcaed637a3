from __future__ import annotations

import pytest

from engine.markets import default_market_commands
from engine.node import Node
from engine.roles import Actor

ADMIN = Actor("ada", "admin")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("PERPDESK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PERPDESK_DB", raising=False)


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'node.db'}"


def seed_venue(node: Node) -> None:
    for c in default_market_commands(1):
        assert node.call(c, actor=ADMIN).ok
    assert node.call({"type": "fund_insurance", "amount": "100000", "ts": 1}, actor=ADMIN).ok
    for name in ("alice", "bob", "carol"):
        assert node.call({"type": "deposit", "account": name, "amount": "10000", "ts": 2}).ok


@pytest.fixture
def node(db_url):
    n = Node.open(db_url, actor=ADMIN, snapshot_every=0)
    seed_venue(n)
    yield n
    n.close()
