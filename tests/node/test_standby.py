"""A hot standby on PostgreSQL (engine/node/standby.py): it follows the journal (LISTEN/NOTIFY plus
catch-up) with its chain verified, keeps a state equal to a full replay, takes over when the
leader's lease is gone (SIGKILL under load: within 5 s, nothing acknowledged lost), and the deposed
leader can never append."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
from sqlalchemy import create_engine, text

from engine.core.engine import Engine
from engine.node.node import Node, NodeError
from engine.node.roles import SYSTEM
from engine.node.standby import Standby, StandbyError, run_standby
from engine.store.store import (
    JOURNAL_CHANNEL,
    FencedError,
    JournalEntry,
    LeaseHeldError,
    Store,
)
from tests.kit import ADMIN

from .conftest import flow, seed_venue

REPO = Path(__file__).resolve().parents[2]
KEY = "standby-test-key-0123456789abcdef"


@pytest.fixture
def pgdb(request):
    """A fresh PostgreSQL database (tests/store/conftest.py's pg_url)."""
    return request.getfixturevalue("pg_url")


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("PERPDESK_JOURNAL_KEY", KEY)  # leader and standby key the chain alike


def full_replay(store: Store) -> Engine:
    """The journal replayed from an empty engine, every row on its seq with its outcome."""
    eng = Engine()
    for rec in store.iter_journal():
        evs = eng.apply_obj(rec.command)
        outcome = f"rejected:{evs[0]['code']}" if len(evs) == 1 and evs[0]["type"] == "rejected" else "ok"
        assert (eng.seq, outcome) == (rec.seq, rec.outcome)
    return eng


def _admin(url: str):
    from sqlalchemy.engine import make_url

    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def _lease_backends(url: str) -> list[int]:
    from sqlalchemy.engine import make_url

    db = make_url(url).database
    eng = _admin(url)
    try:
        with eng.connect() as c:
            return [r[0] for r in c.execute(text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
                "database = (SELECT oid FROM pg_database WHERE datname = :db)"), {"db": db})]
    finally:
        eng.dispose()


def test_a_standby_on_sqlite_refuses_with_a_clear_message(tmp_path):
    with pytest.raises(StandbyError, match="PostgreSQL") as ei:
        Standby(f"sqlite:///{tmp_path / 'node.db'}")
    assert "SQLite" in str(ei.value)
    assert not (tmp_path / "node.db").exists()  # refused before anything was opened


def test_every_journal_append_notifies_its_head_in_one_notify(pgdb):
    with Store.open(pgdb) as st:
        listener = st.journal_listener()
        try:
            st.append_journal([JournalEntry(1, 1, "deposit", {"type": "deposit", "account": "a", "amount": "1"}),
                               JournalEntry(2, 1, "deposit", {"type": "deposit", "account": "a", "amount": "1"})])
            assert listener.wait(10) == 2  # one NOTIFY per batch, carrying the new head seq
            st.notify = False  # (the bench's comparison): no NOTIFY, the standby's poll still reads it
            st.append_journal([JournalEntry(3, 1, "deposit", {"type": "deposit", "account": "a", "amount": "1"})])
            st.notify = True
            st.append_journal([JournalEntry(4, 1, "deposit", {"type": "deposit", "account": "a", "amount": "1"})])
            assert listener.wait(10) == 4
        finally:
            listener.close()
    assert JOURNAL_CHANNEL == "perpdesk_journal"


def test_the_standby_follows_with_a_state_equal_to_a_full_replay(pgdb):
    leader = Node.open(pgdb, actor=ADMIN, snapshot_every=300).start()
    try:
        seed_venue(leader)
        for c in flow(200):
            leader.call(c, actor=SYSTEM)
        sb = Standby(pgdb, snapshot_every=300).open()  # restores the newest snapshot, then follows
        try:
            assert sb.state == "following" and sb.seq == leader.store.last_seq()
            for c in flow(700, 1000):
                leader.call(c, actor=SYSTEM)
            assert sb.catch_up() > 0
            assert sb.seq == leader.store.last_seq() > 600
            with Store.open(pgdb) as st:
                assert sb.engine.state_hash() == full_replay(st).state_hash() == leader.engine.state_hash()
        finally:
            sb.close()
    finally:
        leader.close()


def test_a_chain_break_refuses_the_standby_loudly(pgdb):
    leader = Node.open(pgdb, actor=ADMIN, snapshot_every=0).start()
    try:
        seed_venue(leader)
        sb = Standby(pgdb, snapshot_every=0).open()
        at = sb.seq
        for c in flow(20):
            leader.call(c, actor=SYSTEM)
        db = create_engine(pgdb, isolation_level="AUTOCOMMIT")
        with db.connect() as c:  # an edited row the standby has not read yet
            c.execute(text("UPDATE journal SET payload = replace(payload, '0.001', '9.001') WHERE seq = :s"),
                      {"s": at + 3})
        db.dispose()
        with pytest.raises(StandbyError) as ei:
            sb.catch_up()
        assert f"seq {at + 3}" in str(ei.value) and "hash" in str(ei.value)
        assert sb.state == "refused" and sb.seq == at  # nothing of the broken batch applied
        with pytest.raises(StandbyError):
            sb.run()  # and it never takes over
        assert leader.call(flow(1, 500)[0], actor=SYSTEM).seq  # the leader was not disturbed
    finally:
        leader.close()


def test_the_standby_takes_over_a_deposed_leader_that_then_cannot_append(pgdb):
    leader = Node.open(pgdb, actor=ADMIN, snapshot_every=0).start()
    try:
        seed_venue(leader)
        got: dict = {}
        stop = threading.Event()
        t = threading.Thread(target=lambda: got.setdefault("node", run_standby(pgdb, snapshot_every=0, stop=stop)),
                             daemon=True)
        t.start()
        for c in flow(100):
            leader.call(c, actor=SYSTEM)
        t.join(1.0)
        assert t.is_alive() and "node" not in got  # still following: the leader holds the lease
        head = leader.store.last_seq()
        # the leader is paused past the loss of its lease: its session is ended by the server
        pids = _lease_backends(pgdb)
        assert len(pids) == 1
        eng = _admin(pgdb)
        with eng.connect() as c:
            c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pids[0]})
        eng.dispose()
        t.join(30)
        new = got.get("node")
        assert new is not None, "the standby did not take over"
        try:
            assert new.leader_epoch == leader.leader_epoch + 1
            assert new.engine.seq == head
            with pytest.raises(NodeError) as ei:
                leader.call(flow(1, 900)[0], actor=SYSTEM)
            assert ei.value.code == "fenced"
            r = new.call(flow(1, 901)[0], actor=SYSTEM)
            assert r.seq == head + 1
            assert new.store.last_seq() == head + 1
            with Store.open(pgdb) as st:
                assert full_replay(st).state_hash() == new.engine.state_hash()
        finally:
            new.close()
    finally:
        stop.set()
        leader.close()


class Worker:
    """A bench/failover_worker.py process and its stdout lines, read on a thread."""

    def __init__(self, url: str, env: dict, acks: bool) -> None:
        args = [sys.executable, "-m", "bench.failover_worker", url] + (["--acks"] if acks else [])
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                     cwd=REPO)
        self.lines: queue.Queue = queue.Queue()
        self.acks: list[dict] = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            obj = orjson.loads(line)
            if obj["ev"] == "ack":
                self.acks.append(obj)
            else:
                self.lines.put(obj)
        self.lines.put({"ev": "eof"})

    def expect(self, ev: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            obj = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if obj["ev"] == ev:
                return obj
            assert obj["ev"] != "eof", f"the worker ended before {ev!r} (exit {self.proc.wait()})"

    def wait_acks(self, n: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acks) < n:
            assert self.proc.poll() is None and time.monotonic() < deadline, "the load stopped"
            self._t.join(0.02)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def test_failover_under_load_kill_the_leader_the_standby_serves_within_5s_and_loses_nothing(pgdb, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "PERPDESK_HOME": str(tmp_path / "home"),
           "PERPDESK_JOURNAL_KEY": KEY, "DRILL_SNAPSHOT_EVERY": "700"}
    a = Worker(pgdb, env, acks=True)
    b = None
    try:
        led = a.expect("leader")
        a.wait_acks(200)
        b = Worker(pgdb, env, acks=False)
        b.expect("following")
        n = len(a.acks)
        a.wait_acks(n + 800)  # the standby follows a leader under a steady load
        t_kill = time.monotonic()
        a.kill()  # SIGKILL: no close, no release by hand
        acked = list(a.acks)  # every command the leader acknowledged before it died
        took = b.expect("leader", timeout=30)
        served = b.expect("served", timeout=30)
        assert served["t"] - t_kill < 5.0, f"the standby served {served['t'] - t_kill:.2f} s after the kill"
        assert took["epoch"] == led["epoch"] + 1
        # 0 acknowledged commands lost: each is in the journal, as sent, and in the standby's state
        assert acked and took["seq"] >= acked[-1]["seq"]
        with Store.open(pgdb) as st:
            for ack in acked:
                rec = st.get_journal(ack["seq"])
                assert rec is not None and rec.type == ack["type"]
                assert rec.command["client_order_id"] == ack["cid"]
            # the old leader, brought back with its epoch, cannot append
            old = Store.open(pgdb)
            try:
                old.fence = led["epoch"]
                head = old.last_seq()
                with pytest.raises(FencedError, match=f"leader epoch is {led['epoch']}"):
                    old.append_journal([JournalEntry(head + 1, 1, "deposit",
                                                     {"type": "deposit", "account": "x", "amount": "1"})])
            finally:
                old.close()
            with pytest.raises(LeaseHeldError, match=f"pid {b.proc.pid} "):
                Node.open(pgdb, actor=ADMIN)  # and a node restarted there is refused: the standby leads
        b.proc.stdin.write("stop\n")
        b.proc.stdin.flush()
        state = b.expect("state")
        assert b.proc.wait(60) == 0
        with Store.open(pgdb) as st:
            assert st.last_seq() == state["seq"] > took["seq"]
            assert full_replay(st).state_hash() == state["hash"]  # its state hash = a full replay
    finally:
        a.kill()
        if b is not None:
            b.kill()


def test_the_standby_tool_refuses_sqlite_with_exit_2(tmp_path, capsys):
    from engine.tools.standby import main

    assert main(["--db", f"sqlite:///{tmp_path / 'node.db'}"]) == 2
    assert "follows a PostgreSQL database" in capsys.readouterr().err
    assert not (tmp_path / "node.db").exists()
