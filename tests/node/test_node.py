"""The node over a real SQLite file: roles, audit, refunds, rollback epochs, faults."""

from __future__ import annotations

import pytest

from engine.node.node import Node, NodeError
from engine.node.roles import SYSTEM, Actor
from engine.store.store import Store, StoreError
from engine.tools.verify import verify_store
from tests.kit import ADMIN, APPROVER, OPERATOR, VIEWER

from .conftest import seed_venue


def trade(node: Node, ts: int) -> None:
    assert node.call({"type": "place_order", "account": "alice", "market": "BTC-USD-PERP", "side": "sell",
                      "size": "0.01", "price": "97000", "ts": ts}, actor=SYSTEM).ok
    res = node.call({"type": "place_order", "account": "bob", "market": "BTC-USD-PERP", "side": "buy",
                     "size": "0.01", "price": "97000", "ts": ts}, actor=SYSTEM)
    assert [e["type"] for e in res.events] == ["order_accepted", "trade"]


def test_roles_refuse_and_the_refusal_is_audited(node):
    before = node.engine.state_hash()
    res = node.call({"type": "emergency_brake", "reason": "curious"}, actor=VIEWER)
    assert (res.ok, res.code) == (False, "forbidden")
    assert "vic (viewer) may not issue emergency_brake" in res.message
    res = node.call({"type": "rollback", "snapshot_id": "snap-1", "reason": "x"}, actor=OPERATOR)
    assert res.code == "forbidden"
    assert node.engine.state_hash() == before
    audit = node.audit()
    refused = [a for a in audit if a["outcome"].startswith("refused")]
    assert [(a["operator"], a["action"]) for a in refused] == [("vic", "emergency_brake"), ("olga", "rollback")]
    assert node.store.verify_chains() == []


def test_operator_commands_carry_who_and_why(node):
    res = node.call({"type": "pause_liquidations", "reason": "oracle looks wrong", "ts": 10}, actor=OPERATOR)
    assert res.ok
    rec = node.audit()[-1]
    assert (rec["operator"], rec["role"], rec["action"], rec["reason"], rec["outcome"]) == (
        "olga", "operator", "pause_liquidations", "oracle looks wrong", "ok")
    row = node.store.get_journal(res.seq)
    assert row.command["operator"] == "olga"


def test_refunds_are_maker_checker_and_paid_once(node):
    rec = node.propose_refund("carol", "125.5", "liquidated on a zeroed funding index", {"seq": 3}, actor=OPERATOR)
    with pytest.raises(NodeError) as e:
        node.decide_refund(rec["refund_id"], True, "looks right", actor=Actor("olga", "admin"))
    assert e.value.code == "self_approval"
    with pytest.raises(NodeError) as e:
        node.decide_refund(rec["refund_id"], True, "ok", actor=OPERATOR)
    assert e.value.code == "forbidden"
    with pytest.raises(NodeError) as e:
        node.pay_refund(rec["refund_id"], actor=APPROVER)
    assert e.value.code == "not_approved"
    out = node.decide_refund(rec["refund_id"], True, "checked the journal", actor=APPROVER)
    assert out["status"] == "approved" and out["approver"] == "april"
    before = node.account("carol")["cash"]
    res = node.pay_refund(rec["refund_id"], actor=APPROVER)
    assert res.ok and node.account("carol")["cash"] == before + 125_500_000
    with pytest.raises(NodeError):
        node.pay_refund(rec["refund_id"], actor=APPROVER)
    again = node.call({"type": "credit", "account": "carol", "amount": "125.5", "refund_id": rec["refund_id"],
                       "fund": "insurance", "reason": "again"}, actor=APPROVER)
    assert (again.ok, again.code) == (False, "forbidden")  # a raw credit: never from an operator
    assert node.store.get_refund(rec["refund_id"])["status"] == "paid"
    assert node.checks() == []


def test_rollback_keeps_discarded_commands_and_recovers(node, db_url):
    snap = node.call({"type": "take_snapshot", "label": "pre-maintenance", "ts": 5}).events[0]
    trade(node, 6)
    trade(node, 7)
    preview = node.rollback_preview(snap["snapshot_id"])
    assert preview["totals"]["trades_undone"] == 2
    assert {r["account"] for r in preview["accounts"]} == {"alice", "bob"}
    assert preview["tail_reproduces_current"]
    assert node.engine.state_hash() != snap["state_hash"]  # preview changed nothing
    res = node.call({"type": "rollback", "snapshot_id": snap["snapshot_id"], "reason": "bad data", "ts": 8},
                    actor=APPROVER)
    ev = res.events[0]
    assert ev["type"] == "rolled_back" and ev["state_hash"] == snap["state_hash"]
    assert ev["discarded_commands"] == 4
    assert node.engine.state_hash() == snap["state_hash"]
    rows = list(node.store.iter_journal(after_seq=snap["seq"]))
    assert [r.rolled_back for r in rows] == [True, True, True, True, False]
    assert node.store.current_epoch() == 2 and node.epoch == 2
    h = node.engine.state_hash()
    node.close()
    again = Node.open(db_url, actor=ADMIN)
    try:
        assert again.engine.state_hash() == h
        assert verify_store(again.store).problems == []
    finally:
        again.close()


def test_recovery_from_snapshot_and_tail_equals_full_replay(db_url):
    n = Node.open(db_url, actor=ADMIN, snapshot_every=5)
    seed_venue(n)
    for ts in range(10, 30):
        trade(n, ts)
    h = n.engine.state_hash()
    seq = n.engine.seq
    autos = [s for s in n.snapshots() if s["trigger"] == "auto"]
    assert 1 <= len(autos) <= 3  # pruned to keep_auto
    n.close()
    m = Node.open(db_url, actor=ADMIN)
    try:
        info = m.recover()
        assert info["snapshot_id"] is not None and info["replayed"] < seq
        assert (m.engine.seq, m.engine.state_hash()) == (seq, h)
        assert verify_store(m.store).problems == []
    finally:
        m.close()


def test_disk_full_fails_the_batch_and_changes_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'full.db'}"
    with Store.open(url):
        pass
    pages = (tmp_path / "full.db").stat().st_size // 4096
    store = Store.open(url, pragmas={"max_page_count": pages + 30})
    node = Node(store=store, actor=ADMIN, snapshot_every=0)
    node.recover()
    seed_venue(node)
    before = (node.engine.seq, node.engine.state_hash())
    big = "x" * 900
    with pytest.raises(NodeError) as e:
        for i in range(2000):
            node.call({"type": "take_snapshot", "label": big + str(i), "reason": big}, actor=ADMIN)
            before = (node.engine.seq, node.engine.state_hash())
    assert e.value.code == "not_durable"
    assert "full" in e.value.message
    assert (node.engine.seq, node.engine.state_hash()) == before  # the failed batch left no trace
    assert node.store.last_seq() == node.engine.seq
    node.close()


def test_opening_something_that_is_not_a_perpdesk_database(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError) as e:
        Node.open(f"sqlite:///{junk}")
    assert "not" in str(e.value).lower()
    assert junk.read_bytes() == b"this is not sqlite at all" * 100


def test_nan_cannot_be_journaled(node):
    before = node.engine.seq
    with pytest.raises(NodeError) as e:
        node.call({"type": "oracle_price", "market": "BTC-USD-PERP", "price": float("nan")}, actor=SYSTEM)
    assert e.value.code == "not_finite"
    assert node.engine.seq == before and node.store.last_seq() == before
    res = node.call({"type": "oracle_price", "market": "BTC-USD-PERP", "price": 97000.0}, actor=SYSTEM)
    assert (res.ok, res.code) == (False, "float_not_allowed")  # a finite float is journaled, then refused
