"""The pipelined node: the writer thread journals batch N while the sequencer applies batch N+1.

What must hold: nothing is acknowledged or published before its batch is durable, the journal's
order is the apply order, readers never see a command that is not durable, a rollback restores a
snapshot taken in an earlier batch, and a failed write fails every batch applied after the last
durable one and puts the engine back to what the store holds.
"""

from __future__ import annotations

import threading

import pytest

from engine.node.node import Node, NodeError
from engine.node.roles import SYSTEM
from engine.store.store import Store
from engine.tools.verify import verify_store
from tests.kit import ADMIN

from .conftest import flow, full_disk_node, seed_venue


@pytest.fixture
def started(db_url):
    n = Node.open(db_url, actor=ADMIN, snapshot_every=0).start()
    assert n._writer is not None  # the pipeline runs
    seed_venue(n)
    yield n
    n.close()


def test_acks_and_events_come_only_after_their_rows_are_durable(started, db_url):
    node = started
    reader = Store.open(db_url)  # another connection sees only committed rows
    late: list[str] = []

    def on_events(evs: list[dict]) -> None:
        head = reader.last_seq()
        top = max(e["seq"] for e in evs if "seq" in e)
        if top > head:
            late.append(f"event seq {top} published with the journal at {head}")

    def on_ack(fut) -> None:
        seq = fut.result().seq
        head = reader.last_seq()
        if seq > head:
            late.append(f"seq {seq} acknowledged with the journal at {head}")

    node.subscribe(on_events)
    cmds = flow(12_000)
    futs = [node.submit(c, SYSTEM) for c in cmds]
    for f in futs[::97]:
        f.add_done_callback(on_ack)
    results = [f.result(120) for f in futs]
    assert late == []
    seqs = [r.seq for r in results]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # acknowledged in submission order
    # the journal holds exactly the applied commands, in apply order
    rows = {rec.seq: rec for rec in reader.iter_journal(after_seq=seqs[0] - 1)}
    assert [rows[r.seq].command["client_order_id"] for r in results] == [c["client_order_id"] for c in cmds]
    assert all(rows[r.seq].outcome == ("ok" if r.ok else f"rejected:{r.code}") for r in results)
    h, seq = node.engine.state_hash(), node.engine.seq
    reader.close()
    node.close()
    again = Node.open(db_url, actor=ADMIN)
    try:
        assert (again.engine.seq, again.engine.state_hash()) == (seq, h)
        assert verify_store(again.store).problems == []  # the hash chain links, the replay matches
    finally:
        again.close()


def test_readers_never_see_a_command_that_is_not_durable(started, db_url):
    node = started
    reader = Store.open(db_url)
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            seq = node.read(lambda e: e.seq)
            seen.append((seq, reader.last_seq()))  # the journal only grows: durable then means <= now

    t = threading.Thread(target=poll)
    t.start()
    try:
        futs = [node.submit(c, SYSTEM) for c in flow(15_000)]
        futs[-1].result(120)
    finally:
        stop.set()
        t.join()
    reader.close()
    assert len(seen) > 3
    assert [s for s in seen if s[0] > s[1]] == []


def test_a_rollback_restores_a_snapshot_from_an_earlier_batch(started):
    node = started
    snap = node.call({"type": "take_snapshot", "label": "before the burst"}, actor=ADMIN).events[0]
    futs = [node.submit(c, SYSTEM) for c in flow(6_000)]
    rb = node.submit({"type": "rollback", "snapshot_id": snap["snapshot_id"], "reason": "test"}, actor=ADMIN)
    assert all(f.result(120).seq for f in futs)
    res = rb.result(120)
    assert res.ok, res.message
    assert res.events[0]["state_hash"] == snap["state_hash"] == node.engine.state_hash()
    assert node.store.last_seq() == node.engine.seq


def test_a_failed_write_fails_the_later_batches_and_recovers_to_the_store(tmp_path):
    node, url = full_disk_node(tmp_path, spare_pages=1500)
    assert node._writer is not None
    junk = "x" * 3000  # an unknown field: rejected, but journaled with its payload
    def burst(lo: int, hi: int) -> list:
        return [node.submit({"type": "deposit", "account": "alice", "amount": "1", "note": junk + str(i)}, actor=SYSTEM)
                for i in range(lo, hi)]

    futs = burst(0, 400)
    futs[-1].result(120)  # about 1.2 MB: fits
    futs += burst(400, 4000)  # about 11 MB more in a few batches: does not
    acked, failed = [], []
    for f in futs:
        try:
            acked.append(f.result(120))
        except NodeError as e:
            assert e.code == "not_durable", e.message
            failed.append(e)
    assert failed, "the disk never filled up"
    assert acked  # some batches made it before it did
    head = node.store.last_seq()
    # every acknowledged command is in the journal, with its outcome
    for r in acked:
        assert r.seq <= head
        rec = node.store.get_journal(r.seq)
        assert rec is not None and rec.outcome == f"rejected:{r.code}"
    # the engine is back on what the store holds (no trace of the batches that failed)
    assert node.engine.seq == head
    h = node.engine.state_hash()
    node.close()
    again = Node.open(url, actor=ADMIN)
    assert (again.engine.seq, again.engine.state_hash()) == (head, h)
    again.close()
