"""Fail-stop: a batch that fails after the engine applied it in memory never leaves memory ahead of
the journal. Its callers get ``node_failed``, the node alerts, refuses commands while it rebuilds
the engine from the journal (store: snapshot + journal; in memory: the in-memory journal), and the
state it then serves is exactly a replay of the journal."""

from __future__ import annotations

import pytest

from engine.core import Engine
from engine.node.node import Node, NodeError
from engine.node.roles import SYSTEM
from tests.kit import ADMIN

from .conftest import seed_venue


class _Booming:
    """The node's engine, failing *after* it applied a command of one account. (A wrapper, not a
    patched method: compiled with mypyc, an Engine's methods cannot be replaced.)"""

    def __init__(self, eng, account: str) -> None:
        self._eng = eng
        self._account = account

    def apply_obj(self, obj):
        evs = self._eng.apply_obj(obj)
        if obj.get("account") == self._account:
            raise RuntimeError("simulated failure after apply")
        return evs

    def __getattr__(self, name):
        return getattr(self._eng, name)


def _boom_on(node: Node, account: str, monkeypatch) -> None:
    """Make the engine fail *after* applying a deposit to ``account`` (a bug or an encoding failure
    half-way through a batch): the deposit is in memory, the batch is never journaled."""
    monkeypatch.setattr(node, "engine", _Booming(node.engine, account))


def _replay_hash(journal: list[dict]) -> str:
    e = Engine()
    for rec in journal:
        e.apply_obj({k: v for k, v in rec.items() if k != "seq"})
    return e.state_hash()


def _journal_of(node: Node) -> list[dict]:
    if node.store is None:
        return node.journal
    return [{**r.command, "seq": r.seq} for r in node.store.iter_journal()]


def _fail_a_batch(node: Node, monkeypatch) -> list:
    _boom_on(node, "mallory", monkeypatch)
    futs = [node.submit({"type": "deposit", "account": "alice", "amount": "5"}, actor=SYSTEM),
            node.submit({"type": "deposit", "account": "mallory", "amount": "7"}, actor=SYSTEM),
            node.submit({"type": "deposit", "account": "bob", "amount": "9"}, actor=SYSTEM)]
    if node._thread is None:
        with node._cv:
            batch = list(node._queue)
            node._queue.clear()
        node._process(batch)  # one batch, as the sequencer would take it
    out = []  # per command: its Result, or the NodeError it got
    for f in futs:
        try:
            out.append(f.result(60))
        except NodeError as e:
            out.append(e)
    return out


@pytest.mark.parametrize("where", ["memory", "store", "started"])
def test_a_batch_failing_after_apply_fails_its_callers_and_the_node_rebuilds_from_the_journal(
        where, db_url, monkeypatch):
    if where == "memory":
        node = Node(actor=ADMIN, snapshot_every=0)
    else:
        node = Node.open(db_url, actor=ADMIN, snapshot_every=0)
        if where == "started":
            node.start()
    try:
        seed_venue(node)
        before = node.engine.state_hash()
        seq = node.engine.seq
        got = _fail_a_batch(node, monkeypatch)
        assert isinstance(got[1], NodeError) and got[1].code == "node_failed"
        assert any("fail-stop" in a["message"] for a in node.alerts if a["severity"] == "critical")
        # nothing of the failed batch is in memory: the engine is a replay of the journal
        j = _journal_of(node)
        assert node.engine.state_hash() == _replay_hash(j), (got, j[-4:], node.engine.seq, node.alerts)
        assert "mallory" not in node.engine.accounts
        ok = [r for r in got if not isinstance(r, NodeError)]  # (started: the others may be other batches)
        assert all(e.code == "node_failed" for e in got if isinstance(e, NodeError))
        assert node.engine.seq == seq + len(ok) == (node.store.last_seq() if node.store else len(node.journal))
        if where != "started":  # one batch: all three failed, the state is what it was
            assert not ok and node.engine.state_hash() == before
        assert node.status()["failed"] is None  # rebuilt: it takes commands again
        res = node.call({"type": "deposit", "account": "carol", "amount": "1"}, actor=SYSTEM)
        assert res.ok and res.seq == seq + 1
        assert node.engine.state_hash() == _replay_hash(_journal_of(node))
    finally:
        node.close()


def test_a_node_that_cannot_rebuild_stays_stopped_and_refuses_every_command(db_url, monkeypatch):
    node = Node.open(db_url, actor=ADMIN, snapshot_every=0)
    try:
        seed_venue(node)

        def broken_recover():
            raise RuntimeError("the store is gone")

        monkeypatch.setattr(node, "recover", broken_recover)
        got = _fail_a_batch(node, monkeypatch)
        assert {e.code for e in got} == {"node_failed"}
        assert "the store is gone" in node.status()["failed"]
        with pytest.raises(NodeError) as ei:
            node.call({"type": "deposit", "account": "carol", "amount": "1"}, actor=SYSTEM)
        assert ei.value.code == "node_failed"
    finally:
        node.close()


def test_a_periodic_snapshot_that_cannot_be_encoded_is_refused_not_a_crash(db_url):
    node = Node.open(db_url, actor=ADMIN, snapshot_every=3)
    try:
        seed_venue(node)
        node.engine.accounts["alice"].cash += 2**64  # as if some path had let it through
        node.engine.accounts["alice"].flow += 2**64
        for _ in range(4):  # one of them is followed by the periodic snapshot
            assert node.call({"type": "deposit", "account": "bob", "amount": "1"}, actor=SYSTEM).ok
        assert any("periodic snapshot refused: state_unencodable" in a["message"] for a in node.alerts)
    finally:
        node.close()
