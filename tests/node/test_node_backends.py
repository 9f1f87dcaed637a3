"""The same node on SQLite and on a real PostgreSQL server: journal, rollback, recovery, verify."""

from __future__ import annotations

from engine.node.node import Node
from engine.node.roles import SYSTEM
from engine.tools.verify import verify_store
from tests.kit import ADMIN

from .conftest import seed_venue


def test_node_round_trip_on_each_backend(any_url):
    n = Node.open(any_url, actor=ADMIN, snapshot_every=7).start()
    seed_venue(n)
    snap = n.call({"type": "take_snapshot", "label": "pre", "ts": 5}).events[0]
    acks = []
    for ts in range(10, 40):
        acks.append(n.submit({"type": "place_order", "account": "alice", "market": "SOL-USD-PERP",
                              "side": "sell", "size": "1", "price": "180", "ts": ts}, actor=SYSTEM))
        acks.append(n.submit({"type": "place_order", "account": "bob", "market": "SOL-USD-PERP",
                              "side": "buy", "size": "1", "price": "180", "ts": ts}, actor=SYSTEM))
    assert all(a.result(30).ok for a in acks)
    assert n.call({"type": "rollback", "snapshot_id": snap["snapshot_id"], "reason": "drill", "ts": 50}).ok
    assert n.engine.state_hash() == snap["state_hash"]
    h, seq = n.engine.state_hash(), n.engine.seq
    n.close()
    again = Node.open(any_url, actor=ADMIN)
    try:
        assert (again.engine.seq, again.engine.state_hash()) == (seq, h)
        assert again.epoch == 2
        assert verify_store(again.store).problems == []
        assert [a["action"] for a in again.audit()][-1] == "rollback"
    finally:
        again.close()
