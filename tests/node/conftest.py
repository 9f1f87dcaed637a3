from __future__ import annotations

import pytest

from engine.core.markets import default_market_commands
from engine.node.node import Node
from engine.node.roles import SYSTEM
from engine.store.store import Store
from tests.kit import ADMIN


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'node.db'}"


def seed_venue(node: Node) -> None:
    for c in default_market_commands(1):
        assert node.call(c, actor=ADMIN).ok
    assert node.call({"type": "fund_insurance", "amount": "100000", "ts": 1}, actor=ADMIN).ok
    for name in ("alice", "bob", "carol"):
        assert node.call({"type": "deposit", "account": name, "amount": "10000", "ts": 2}, actor=SYSTEM).ok


@pytest.fixture(params=["sqlite", "postgres"])
def any_url(request, tmp_path):
    """The node's database on each backend: a SQLite file, then a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'node.db'}"
    return request.getfixturevalue("pg_url")


def flow(n: int, start: int = 0) -> list[dict]:
    """Resting orders from two accounts that cross now and then, and cancels: real matching work."""
    out = []
    for i in range(start, start + n):
        side = "buy" if i % 2 else "sell"
        px = 97000 + (i * 37) % 200 - (100 if side == "buy" else 0)
        out.append({"type": "place_order", "account": "alice" if i % 3 else "bob", "market": "BTC-USD-PERP",
                    "side": side, "size": "0.001", "price": str(px), "client_order_id": f"p{i}", "ts": 10})
        if i % 4 == 3:
            out.append({"type": "cancel_order", "account": "alice" if (i - 2) % 3 else "bob",
                        "client_order_id": f"p{i - 2}", "ts": 10})
    return out


def full_disk_node(tmp_path, spare_pages: int) -> tuple[Node, str]:
    """A seeded, started node on a SQLite file that may grow by only ``spare_pages`` pages more
    (``max_page_count``: the disk fills up), and the file's URL."""
    url = f"sqlite:///{tmp_path / 'full.db'}"
    with Store.open(url):
        pass
    pages = (tmp_path / "full.db").stat().st_size // 4096
    node = Node(store=Store.open(url, pragmas={"max_page_count": pages + spare_pages}), actor=ADMIN,
                snapshot_every=0)
    node.recover()
    seed_venue(node)
    node.start()
    return node, url


@pytest.fixture
def node(db_url):
    n = Node.open(db_url, actor=ADMIN, snapshot_every=0)
    seed_venue(n)
    yield n
    n.close()
