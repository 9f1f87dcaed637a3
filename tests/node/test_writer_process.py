"""The journal writer process (engine/node/journalwriter.py): the same journal, nothing lost when it goes.

The node hands big batches to a writer process that runs the store's own append_journal on its own
connection. What must hold: the rows and hashes are exactly those the node writes in-process, every
acknowledged command is durable, a writer process that dies mid-burst costs nothing (the node
journals in-process again, and a batch the process committed before it died is not written twice),
and a full disk fails the batches through the process as it does in-process.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

import engine.node.pipeline as pipeline_mod  # (where the writer thread reads WRITER_PROCESS_ROWS)
from engine.node.journalwriter import WriterGone, WriterProcess
from engine.node.node import Node, NodeError
from engine.node.roles import SYSTEM
from engine.store.store import Store
from engine.tools.verify import verify_store
from tests.kit import ADMIN, wait_until

from .conftest import flow, full_disk_node, seed_venue


def _journal(store: Store) -> list[tuple]:
    return [(r.seq, r.ts, r.type, r.payload, r.epoch, r.outcome, r.prev_hash, r.hash)
            for r in store.iter_journal()]


def _until_the_process_writes(node: Node, start: int = 0, chunk: int = 3_000, limit: float = 60) -> int:
    """Submit bursts until a batch went through the writer process; returns the next flow index."""
    deadline = time.monotonic() + limit
    i = start
    while node.writer_process_batches == 0:
        assert time.monotonic() < deadline, "the writer process never journaled a batch"
        futs = [node.submit(c, SYSTEM) for c in flow(chunk, i)]
        i += chunk
        assert all(f.result(120).seq for f in futs)
    return i


@pytest.fixture
def small_batches_spawn(monkeypatch):
    monkeypatch.setattr(pipeline_mod, "WRITER_PROCESS_ROWS", 1)


def test_the_writer_process_writes_the_same_rows_and_hashes(tmp_path, monkeypatch, small_batches_spawn):
    journals, used, first = {}, {}, 0
    for mode in ("1", "0"):  # the same commands through the process, then in-process only
        monkeypatch.setenv("PERPDESK_WRITER_PROCESS", mode)
        url = f"sqlite:///{tmp_path / f'wp{mode}.db'}"
        n = Node.open(url, actor=ADMIN, snapshot_every=0).start()  # (auto snapshots land where batches end)
        seed_venue(n)
        snap = n.call({"type": "take_snapshot", "label": "pre", "ts": 10}, actor=ADMIN).events[0]
        if mode == "1":
            first = _until_the_process_writes(n)
        else:
            futs = [n.submit(c, SYSTEM) for c in flow(first)]
            assert all(f.result(120).seq for f in futs)
        # what a batch carries besides plain rows: a snapshot, a rollback (its mark and the new epoch)
        futs = [n.submit(c, SYSTEM) for c in flow(4_000, 50_000)]
        futs.append(n.submit({"type": "take_snapshot", "label": "mid", "ts": 11}, actor=ADMIN))
        rb = n.submit({"type": "rollback", "snapshot_id": snap["snapshot_id"], "reason": "drill", "ts": 11},
                      actor=ADMIN)
        futs += [n.submit(c, SYSTEM) for c in flow(4_000, 60_000)]
        assert all(f.result(120).seq for f in futs)
        assert rb.result(120).ok
        used[mode] = n.writer_process_batches
        assert n.store.last_seq() == n.engine.seq
        n.close()
        with Store.open(url) as st:
            assert verify_store(st).problems == []
            assert [(e.after_seq, e.upto_seq) for e in st.list_epochs()][-1:] == [(snap["seq"], rb.result().seq - 1)]
            journals[mode] = _journal(st)
    assert used["0"] == 0 and used["1"] > 0
    assert len(journals["1"]) > 10_000
    assert journals["1"] == journals["0"]  # row for row: payloads, outcomes, epochs and hashes


def test_a_dead_writer_process_loses_nothing(tmp_path, small_batches_spawn):
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    n = Node.open(url, actor=ADMIN, snapshot_every=0).start()
    seed_venue(n)
    i = _until_the_process_writes(n)
    pid = n._wproc.proc.pid
    futs = [n.submit(c, SYSTEM) for c in flow(20_000, i)]
    os.kill(pid, signal.SIGKILL)  # mid-burst: a batch may be half sent, committed or not
    results = [f.result(120) for f in futs]  # every command acknowledged: none failed
    assert all(r.seq for r in results)
    assert [r.seq for r in results] == sorted(r.seq for r in results)
    assert n.store.last_seq() == n.engine.seq == results[-1].seq
    assert n._wproc is None  # journaling in-process again
    assert any("in-process" in a["message"] for a in n.alerts)
    h = n.engine.state_hash()
    assert verify_store(n.store).problems == []
    n.close()
    again = Node.open(url, actor=ADMIN)
    try:
        assert (again.engine.seq, again.engine.state_hash()) == (results[-1].seq, h)
    finally:
        again.close()


def test_a_full_disk_fails_the_batches_through_the_writer_process(tmp_path, small_batches_spawn):
    node, url = full_disk_node(tmp_path, spare_pages=3000)
    _until_the_process_writes(node, chunk=500)
    junk = "x" * 3000
    futs = [node.submit({"type": "deposit", "account": "alice", "amount": "1", "note": junk + str(i)}, actor=SYSTEM)
            for i in range(8000)]  # about 25 MB: far beyond the limit the process inherited
    acked, failed = [], []
    for f in futs:
        try:
            acked.append(f.result(120))
        except NodeError as e:
            assert e.code == "not_durable", e.message
            assert "full" in e.message
            failed.append(e)
    assert failed, "the disk never filled up"
    head = node.store.last_seq()
    assert all(r.seq <= head for r in acked)
    assert node.engine.seq == head
    assert node.writer_process_batches > 0 and node._wproc is not None  # the process reported it; it lives on
    h = node.engine.state_hash()
    node.close()
    again = Node.open(url, actor=ADMIN)
    try:
        assert (again.engine.seq, again.engine.state_hash()) == (head, h)
    finally:
        again.close()


def test_a_writer_process_that_cannot_open_the_store_says_why(tmp_path):
    wp = WriterProcess({"url": f"sqlite:///{tmp_path / 'missing.db'}", "busy_timeout_ms": 1000, "pragmas": {}})
    try:
        with pytest.raises(WriterGone) as e:
            wait_until(wp.ready, 60, what="the writer process to start or say why not")
        assert "there is no database at" in str(e.value)
    finally:
        wp.close()


def test_an_in_memory_store_never_starts_a_writer_process(small_batches_spawn):
    n = Node.open("sqlite://", actor=ADMIN, snapshot_every=0).start()
    try:
        seed_venue(n)
        futs = [n.submit(c, SYSTEM) for c in flow(3_000)]
        assert all(f.result(120).seq for f in futs)
        assert n._wproc is None and n.writer_process_batches == 0
    finally:
        n.close()


def test_the_writer_process_on_each_backend(any_url, small_batches_spawn):
    n = Node.open(any_url, actor=ADMIN, snapshot_every=2_000).start()
    seed_venue(n)
    snap = n.call({"type": "take_snapshot", "label": "pre", "ts": 10}, actor=ADMIN).events[0]
    i = _until_the_process_writes(n)
    futs = [n.submit(c, SYSTEM) for c in flow(5_000, i)]
    futs.append(n.submit({"type": "rollback", "snapshot_id": snap["snapshot_id"], "reason": "drill", "ts": 11},
                         actor=ADMIN))
    futs += [n.submit(c, SYSTEM) for c in flow(2_000, i + 10_000)]
    assert all(f.result(120).seq for f in futs)
    assert futs[5_000].result().ok
    assert n.writer_process_batches > 0 and n._wproc is not None
    seq, h = n.engine.seq, n.engine.state_hash()
    assert n.store.last_seq() == seq
    n.close()
    again = Node.open(any_url, actor=ADMIN)
    try:
        assert (again.engine.seq, again.engine.state_hash()) == (seq, h)
        assert again.epoch == 2
        assert verify_store(again.store).problems == []
    finally:
        again.close()


def test_writer_process_true_starts_it_with_the_node(tmp_path):
    url = f"sqlite:///{tmp_path / 'eager.db'}"
    n = Node.open(url, actor=ADMIN, snapshot_every=0, writer_process=True).start()
    try:
        assert n.writer_process_ready(60)
        seed_venue(n)  # small batches: through the process all the same once it is up
        assert n.writer_process_batches > 0
        assert verify_store(n.store).problems == []
    finally:
        n.close()
    off = Node.open(url, actor=ADMIN, snapshot_every=0, writer_process=False).start()
    try:
        assert not off.writer_process_ready(1)
        futs = [off.submit(c, SYSTEM) for c in flow(3_000)]
        assert all(f.result(120).seq for f in futs)
        assert off.writer_process_batches == 0 and off._wproc is None
    finally:
        off.close()
    mem = Node.open("sqlite://", actor=ADMIN, writer_process=True).start()
    try:
        assert not mem.writer_process_ready(1)
    finally:
        mem.close()


def test_closing_a_node_whose_writer_process_is_still_starting_does_not_wait_for_it(tmp_path):
    n = Node.open(f"sqlite:///{tmp_path / 'quick.db'}", actor=ADMIN, writer_process=True).start()
    wait_until(lambda: n._wproc is not None, 30, what="the writer process to be spawned", interval=0.001)
    proc = n._wproc.proc
    t0 = time.monotonic()
    n.close()
    assert proc.poll() is not None  # gone, not orphaned
    assert time.monotonic() - t0 < 5
