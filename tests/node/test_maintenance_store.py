"""The node mirrors maintenance windows, phase by phase, into the store's table."""

from __future__ import annotations

from engine.node.node import Node
from engine.node.roles import SYSTEM
from tests.kit import ADMIN

MIN = 60_000


def test_store_table_follows_the_phases_and_survives_recovery(node, db_url) -> None:
    assert node.call({"type": "oracle_price", "market": "BTC-USD-PERP", "price": "97000", "ts": 10}, actor=SYSTEM).ok
    res = node.call({"type": "schedule_maintenance", "window_id": "w9", "markets": ["BTC-USD-PERP"],
                     "start_ts": 20 * MIN, "duration_ms": 10 * MIN, "kind": "database_upgrade", "ts": 10},
                    actor=ADMIN)
    assert res.ok
    assert node.store.get_maintenance("w9")["phase"] == "scheduled"
    seen = []
    for t in (10 * MIN, 20 * MIN, 22 * MIN, 28 * MIN):
        assert node.call({"type": "tick", "ts": t}, actor=SYSTEM).ok
        seen.append(node.store.get_maintenance("w9")["phase"])
    assert seen == ["announced", "cancel_only", "work", "post_only"]
    row = node.store.get_maintenance("w9")
    assert row["snapshot_id"] and row["detail"]["end_ts"] == 30 * MIN
    # the maintenance snapshot is persisted like any other
    assert any(s["snapshot_id"] == row["snapshot_id"] and s["trigger"] == "maintenance" for s in node.snapshots())
    node.close()
    again = Node.open(db_url, actor=ADMIN, snapshot_every=0)
    try:
        assert again.maintenance_windows()[0]["phase"] == "post_only"
        assert again.call({"type": "tick", "ts": 30 * MIN}, actor=SYSTEM).ok
        assert again.store.get_maintenance("w9")["phase"] == "done"
        assert again.engine.markets["BTC-USD-PERP"].mode == "open"
    finally:
        again.close()
