"""Exactly one sequencer per database: the lease (SQLite flock / PostgreSQL advisory lock), the
holder named on refusal, and the fencing token (leader epoch) checked in every journal append,
in the node and in its journal writer process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from engine.node.node import Node, NodeError
from engine.node.roles import SYSTEM
from engine.store.store import LeaseHeldError, Store
from engine.tools.verify import verify_store
from tests.kit import ADMIN

from .conftest import flow, seed_venue


def _deposit(i: int) -> dict:
    return {"type": "deposit", "account": "alice", "amount": "1", "ts": 100 + i}


def test_a_second_node_on_the_same_database_is_refused_with_the_holder_named(any_url):
    first = Node.open(any_url, actor=ADMIN, snapshot_every=0)
    try:
        assert first.leader_epoch == 1
        with pytest.raises(LeaseHeldError) as ei:
            Node.open(any_url, actor=ADMIN)
        held = ei.value.holder
        assert held["pid"] == os.getpid() and held["host"] == socket.gethostname() and held["epoch"] == 1
        assert isinstance(held["since"], int)
        msg = str(ei.value)
        assert f"pid {os.getpid()}" in msg and socket.gethostname() in msg and "since" in msg
        assert first.call(_deposit(0), actor=SYSTEM).ok  # the holder is untouched by the refusal
    finally:
        first.close()
    again = Node.open(any_url, actor=ADMIN)  # released on close: the next node takes it, one epoch on
    try:
        assert again.leader_epoch == 2
        assert again.store.leader_epoch() == 2
        assert again.call(_deposit(1), actor=SYSTEM).ok
    finally:
        again.close()


def test_the_lease_holds_against_another_process_and_dies_with_its_holder(tmp_path):
    url = f"sqlite:///{tmp_path / 'node.db'}"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    code = textwrap.dedent(f"""
        import sys, time
        from engine.node.node import Node
        n = Node.open({url!r})
        print("up", n.leader_epoch, flush=True)
        time.sleep(600)  # (the point: a live process that holds the lease until it is killed)
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().split() == ["up", "1"]
        with pytest.raises(LeaseHeldError, match=f"pid {holder.pid} on host"):
            Node.open(url, actor=ADMIN)
    finally:
        holder.send_signal(signal.SIGKILL)  # a crash: no close, nothing released by hand
        holder.wait()
    n = Node.open(url, actor=ADMIN)
    try:
        assert n.leader_epoch == 2
    finally:
        n.close()


def test_a_deposed_node_cannot_append(any_url):
    node = Node.open(any_url, actor=ADMIN, snapshot_every=0, writer_process=False).start()
    try:
        seed_venue(node)
        head = node.store.last_seq()
        # another node took over (this one was stopped and its lease lost): the epoch moves on
        with Store.open(any_url) as other:
            assert other.take_leadership({"host": "standby", "pid": 4242, "since": 1}) == 2
        with pytest.raises(NodeError) as ei:
            node.call(_deposit(0), actor=SYSTEM)
        assert ei.value.code == "fenced"
        assert "leader epoch is 1" in ei.value.message and "at leader epoch 2" in ei.value.message
        with pytest.raises(NodeError) as ei:
            node.call(_deposit(1), actor=SYSTEM)  # stopped for good
        assert ei.value.code == "fenced"
        assert any("fenced" in a["message"] for a in node.alerts if a["severity"] == "critical")
        assert node.store.last_seq() == head  # nothing was written
    finally:
        node.close()


def test_the_journal_writer_process_carries_the_epoch(tmp_path):
    url = f"sqlite:///{tmp_path / 'node.db'}"
    node = Node.open(url, actor=ADMIN, snapshot_every=0, writer_process=True).start()
    try:
        seed_venue(node)
        assert node.writer_process_ready(60)
        futs = [node.submit(c, SYSTEM) for c in flow(3_000)]
        assert all(f.result(120).seq for f in futs)
        assert node.writer_process_batches > 0  # the process journals the bursts
        head = node.store.last_seq()
        with Store.open(url) as other:
            other.take_leadership({"host": "standby", "pid": 4242, "since": 1})
        futs = [node.submit(c, SYSTEM) for c in flow(3_000, 10_000)]
        codes = set()
        for f in futs:
            with pytest.raises(NodeError) as ei:
                f.result(120)
            codes.add(ei.value.code)
        assert codes == {"fenced"}
        assert node.store.last_seq() == head
    finally:
        node.close()
    with Store.open(url) as st:
        assert verify_store(st).problems == []
