"""The writer watchdog: a stopped (SIGSTOP) journal writer process is noticed, killed, alerted on,
and the node journals in-process; the callers of the stalled batch get their results (committed
exactly once), nothing is lost or doubled, and the stopped process can never commit late."""

from __future__ import annotations

import os
import signal

from engine.node.node import Node
from engine.node.roles import SYSTEM
from engine.store.store import Store
from engine.tools.verify import verify_store
from tests.kit import ADMIN

from .conftest import flow, seed_venue


def test_a_stopped_writer_process_is_killed_and_the_node_journals_in_process(any_url):
    url = any_url
    node = Node.open(url, actor=ADMIN, snapshot_every=0, writer_process=True)
    node.writer_timeout_s = 1.0
    node.start()
    try:
        seed_venue(node)
        assert node.writer_process_ready(60)
        futs = [node.submit(c, SYSTEM) for c in flow(3_000)]
        assert all(f.result(120).seq for f in futs)
        assert node.writer_process_batches > 0
        wp = node._wproc
        os.kill(wp.proc.pid, signal.SIGSTOP)  # stalled: alive, holding its pipe, answering nothing
        before = node.writer_process_batches
        futs = [node.submit(c, SYSTEM) for c in flow(6_000, 10_000)]
        results = [f.result(120) for f in futs]  # old node: blocks forever (TimeoutError here)
        assert wp.proc.returncode == -signal.SIGKILL  # killed and reaped: it can commit nothing late
        assert node._wproc is None and node.writer_process_batches == before
        alerts = [a["message"] for a in node.alerts if a["severity"] == "critical"]
        assert any(f"pid {wp.proc.pid}" in m and "killed it" in m and "in-process" in m for m in alerts), alerts
        more = [node.submit(c, SYSTEM) for c in flow(2_000, 30_000)]  # and it keeps going, in-process
        assert all(f.result(120).seq for f in more)
        seqs = [r.seq for r in results] + [f.result().seq for f in more]
        assert len(set(seqs)) == len(seqs)
        h, seq = node.engine.state_hash(), node.engine.seq
        assert node.store.last_seq() == seq
        for r in results[::250]:  # each acknowledged command is in the journal with its outcome, once
            rec = node.store.get_journal(r.seq)
            assert rec is not None and rec.outcome == ("ok" if r.ok else f"rejected:{r.code}")
    finally:
        node.close()
    with Store.open(url) as st:
        assert verify_store(st).problems == []  # no gap, no doubled row, replay = state
    again = Node.open(url, actor=ADMIN)
    try:
        assert (again.engine.seq, again.engine.state_hash()) == (seq, h)
    finally:
        again.close()
