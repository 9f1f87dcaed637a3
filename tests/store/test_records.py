"""Maintenance windows and refunds (maker-checker, paid at most once)."""

from __future__ import annotations

import pytest

from engine.store.store import RecordConflictError, StoreError, StoreNotFoundError


def test_maintenance_crud(store):
    w = store.save_maintenance({"window_id": "w1", "markets": ["BTC-USD", "ETH-USD"], "start_ts": 5000,
                                "duration_ms": 60_000, "kind": "database_upgrade"})
    assert w["phase"] == "scheduled" and w["markets"] == ["BTC-USD", "ETH-USD"] and w["detail"] is None
    store.save_maintenance({"window_id": "w0", "markets": [], "start_ts": 1000, "duration_ms": 1,
                            "kind": "oracle_restart"})
    w2 = store.save_maintenance({**w, "phase": "cancel_only", "snapshot_id": "snap-9",
                                 "detail": {"note": "announced"}})
    assert w2["phase"] == "cancel_only" and w2["snapshot_id"] == "snap-9"
    assert w2["created_ts"] == w["created_ts"] and w2["detail"] == {"note": "announced"}
    assert [x["window_id"] for x in store.list_maintenance()] == ["w0", "w1"]
    assert [x["window_id"] for x in store.list_maintenance(phase="cancel_only")] == ["w1"]
    assert store.get_maintenance("w1") == w2 and store.get_maintenance("nope") is None
    with pytest.raises(StoreError, match="missing or bad field"):
        store.save_maintenance({"window_id": "w3"})


def test_refund_maker_checker_flow(store):
    r = store.create_refund({"refund_id": "r0001", "account": "alice", "amount": "12.5",
                             "reason": "bad mark", "evidence": {"window": [10, 20], "delta": "12.5"},
                             "proposer": "ana", "created_ts": 100})
    assert r["amount"] == 12_500_000 and r["status"] == "proposed" and r["evidence"]["delta"] == "12.5"
    with pytest.raises(RecordConflictError):
        store.create_refund({"refund_id": "r0001", "account": "x", "amount": 1, "proposer": "ana"})
    store.create_refund({"refund_id": "r0002", "account": "bob", "amount": 7, "proposer": "ana",
                         "created_ts": 200})
    r = store.update_refund("r0001", expect_status="proposed", status="approved", approver="cy",
                            decision_reason="checked", decided_ts=300)
    assert (r["status"], r["approver"]) == ("approved", "cy")
    with pytest.raises(RecordConflictError, match="is approved, not proposed"):
        store.update_refund("r0001", expect_status="proposed", status="rejected")
    r = store.update_refund("r0001", expect_status="approved", status="paid", paid_seq=42, fund="insurance",
                            paid_ts=400)
    assert (r["status"], r["paid_seq"], r["fund"]) == ("paid", 42, "insurance")
    with pytest.raises(RecordConflictError):
        store.update_refund("r0001", expect_status="paid", paid_seq=43)
    assert [x["refund_id"] for x in store.list_refunds()] == ["r0001", "r0002"]
    assert [x["refund_id"] for x in store.list_refunds(status="proposed")] == ["r0002"]
    assert [x["refund_id"] for x in store.list_refunds(account="alice")] == ["r0001"]
    with pytest.raises(StoreNotFoundError):
        store.update_refund("r9999", expect_status=None, status="paid")
    with pytest.raises(StoreError, match="cannot be changed"):
        store.update_refund("r0002", expect_status=None, amount=1)
    with pytest.raises(StoreError, match="missing or bad field"):
        store.create_refund({"refund_id": "r3", "account": "a", "amount": 1.5, "proposer": "p"})
