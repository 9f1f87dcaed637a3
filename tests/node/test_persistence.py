"""The node's persistence port (engine/node/persistence.py): the Store and MemoryPersistence both
satisfy it, the node talks only to it, and the node's errors are PerpdeskErrors."""

from __future__ import annotations

import inspect

import pytest

from engine.errors import PerpdeskError
from engine.node.errors import NodeError, RecoveryError, TrustError
from engine.node.memory import MemoryPersistence
from engine.node.node import Node
from engine.node.persistence import Persistence, is_durable
from engine.node.roles import SYSTEM, Actor
from engine.store.store import Store
from tests.kit import ADMIN
from tests.node.conftest import seed_venue

_METHODS = [n for n, v in vars(Persistence).items() if inspect.isfunction(v) and not n.startswith("_")]


def _params(fn) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_the_port_names_what_the_node_needs():
    assert {"append_journal", "iter_journal", "head", "save_snapshot", "load_snapshot", "latest_snapshot",
            "list_snapshots", "append_audit", "iter_audit", "save_maintenance", "create_refund", "get_refund",
            "list_refunds", "update_refund", "record_alert_delivery", "list_alert_deliveries",
            "current_epoch", "verify_chains", "close"} <= set(_METHODS)


@pytest.mark.parametrize("impl", [Store, MemoryPersistence])
def test_store_and_memory_have_every_method_with_the_ports_signature(impl):
    for name in _METHODS:
        assert _params(getattr(impl, name)) == _params(getattr(Persistence, name)), name


def test_a_real_store_and_memory_are_persistences(db_url):
    with Store.open(db_url) as store:
        assert isinstance(store, Persistence) and is_durable(store)
    mem = MemoryPersistence()
    assert isinstance(mem, Persistence) and not is_durable(mem)


def test_a_node_without_a_store_keeps_everything_in_its_memory_persistence():
    node = Node(actor=ADMIN)
    assert isinstance(node.persistence, MemoryPersistence) and node.store is None and not node.durable
    seed_venue(node)
    assert node.journal is node.persistence.journal and node.journal[-1]["seq"] == node.engine.seq
    rec = node.propose_refund("alice", "5", "goodwill")
    assert node.persistence.get_refund(rec["refund_id"])["status"] == "proposed"
    assert [r["action"] for r in node.audit()][-1] == "propose_refund"
    node.record_alert_delivery({"sink": "pager", "status": "sent"})
    assert node.alert_deliveries() == [{"id": 1, "sink": "pager", "status": "sent"}]
    assert node.recover() == {"snapshot_id": None, "replayed": 0}


def test_a_node_talks_to_the_persistence_it_is_given():
    """Any persistence will do: the node writes its journal, audit and refunds through the port."""

    class Counting(MemoryPersistence):
        def __init__(self) -> None:
            super().__init__("counting")
            self.appends = 0

        def append_journal(self, rows, rollbacks=()):
            self.appends += 1
            return super().append_journal(rows, rollbacks)

    p = Counting()
    node = Node(actor=ADMIN, persistence=p)
    assert node.db == "counting" and node.persistence is p
    seed_venue(node)
    assert p.appends == node.engine.seq and len(p.journal) == node.engine.seq
    res = node.call({"type": "deposit", "account": "dave", "amount": "1", "ts": 3}, actor=Actor("eve", "viewer"))
    assert res.code == "forbidden" and p.audit_log[-1]["operator"] == "eve"
    assert node.call({"type": "deposit", "account": "dave", "amount": "1", "ts": 3}, actor=SYSTEM).ok


def test_the_nodes_errors_are_perpdesk_errors_with_their_codes_and_messages():
    e = NodeError("forbidden", "no")
    assert isinstance(e, PerpdeskError) and (e.code, e.message, str(e)) == ("forbidden", "no", "no")
    r = RecoveryError("journal gap: expected seq 2, found 3")
    assert isinstance(r, PerpdeskError) and r.code == "recovery_failed" and str(r) == r.message
    t = TrustError("db.sqlite", "journal chain: bad")
    assert isinstance(t, RecoveryError) and t.code == "untrusted_start" and t.record == "journal chain: bad"
    assert str(t).startswith("refusing to open db.sqlite: journal chain: bad. Nothing was changed.")
