"""Operator controls through the node: roles (operator), the audit log, and the store's mirror of
canceled / rescheduled / extended maintenance windows (also after a restart)."""

from __future__ import annotations

import pytest

from engine.node.node import Node
from engine.node.roles import SYSTEM
from tests.kit import ADMIN, OPERATOR, VIEWER

MIN = 60_000

CONTROLS = [
    {"type": "set_withdrawals", "enabled": False},
    {"type": "set_account_mode", "account": "alice", "mode": "reduce_only"},
    {"type": "cancel_account_orders", "account": "bob"},
    {"type": "cancel_maintenance", "window_id": "w1"},
]


def _window(node, wid: str, start: int, dur: int = 10 * MIN) -> None:
    assert node.call({"type": "oracle_price", "market": "BTC-USD-PERP", "price": "97000", "ts": 10}, actor=SYSTEM).ok
    assert node.call({"type": "schedule_maintenance", "window_id": wid, "markets": ["BTC-USD-PERP"],
                      "start_ts": start, "duration_ms": dur, "kind": "database_upgrade", "ts": 10},
                     actor=ADMIN).ok


@pytest.mark.parametrize("cmd", CONTROLS, ids=[c["type"] for c in CONTROLS])
def test_a_viewer_is_refused_and_an_operator_may_and_both_are_audited(node, cmd) -> None:
    _window(node, "w1", 20 * MIN)
    node.call({"type": "place_order", "account": "bob", "market": "BTC-USD-PERP", "side": "buy", "size": "0.01",
               "price": "96000", "ts": 11}, actor=SYSTEM)
    res = node.call({**cmd, "reason": "drill", "ts": 12}, actor=VIEWER)
    assert (res.ok, res.code) == (False, "forbidden")
    res = node.call({**cmd, "reason": "drill", "ts": 12}, actor=OPERATOR)
    assert res.ok, res.message
    rows = [r for r in node.audit(50) if r["action"] == cmd["type"]]
    assert [(r["operator"], r["outcome"].split(":")[0]) for r in rows] == [("vic", "refused"), ("olga", "ok")]
    assert all(r["reason"] == "drill" for r in rows)


def test_store_mirrors_canceled_rescheduled_and_extended_windows_and_a_restart_keeps_them(node, db_url) -> None:
    _window(node, "w1", 20 * MIN)
    _window(node, "w2", 20 * MIN)
    _window(node, "w3", 20 * MIN)
    assert node.call({"type": "cancel_maintenance", "window_id": "w1", "reason": "not needed", "ts": 11},
                     actor=OPERATOR).ok
    assert node.call({"type": "reschedule_maintenance", "window_id": "w2", "start_ts": 60 * MIN, "reason": "later",
                      "ts": 11}, actor=OPERATOR).ok
    assert node.call({"type": "extend_maintenance", "window_id": "w3", "duration_ms": 25 * MIN, "reason": "slow",
                      "ts": 11}, actor=OPERATOR).ok
    assert node.store.get_maintenance("w1")["phase"] == "canceled"
    w2 = node.store.get_maintenance("w2")
    assert (w2["start_ts"], w2["phase"], w2["detail"]["end_ts"]) == (60 * MIN, "scheduled", 70 * MIN)
    w3 = node.store.get_maintenance("w3")
    assert (w3["duration_ms"], w3["detail"]["end_ts"]) == (25 * MIN, 45 * MIN)
    node.close()
    again = Node.open(db_url, actor=ADMIN, snapshot_every=0)
    try:
        assert again.call({"type": "tick", "ts": 20 * MIN}, actor=SYSTEM).ok
        phases = {w["window_id"]: w["phase"] for w in again.maintenance_windows()}
        assert phases == {"w1": "canceled", "w2": "scheduled", "w3": "cancel_only"}
        assert again.store.get_maintenance("w3")["phase"] == "cancel_only"
    finally:
        again.close()
