"""Snapshots: save/load round trip, hash check, listing, pruning rules."""

from __future__ import annotations

import pytest

from engine.core import snapshot
from engine.core.engine import Engine
from engine.core.snapshot import Snapshot
from engine.store.store import (
    RecordConflictError,
    StoreCorruptError,
    StoreError,
    StoreNotFoundError,
)

from .helpers import raw_exec


def _engine() -> Engine:
    eng = Engine()
    eng.apply_obj({"type": "create_market", "market": "BTC-USD", "tick_size": "0.5", "lot_size": "0.001",
                   "initial_margin": "0.1", "maintenance_margin": "0.05", "maker_fee": "0.0002",
                   "taker_fee": "0.0005", "liquidation_fee": "0.01", "price_band": "0.05",
                   "operator": "t", "reason": "t", "ts": 1})
    eng.apply_obj({"type": "deposit", "account": "alice", "amount": "1000", "ts": 2})
    return eng


def _snap(seq: int, trigger: str, data: bytes = b'{"x":1}', label: str = "") -> Snapshot:
    return Snapshot(f"snap-{seq}", seq, 1000 + seq, label or f"{trigger} {seq}", trigger,
                    snapshot.hash_bytes(data), data)


def test_round_trip_of_an_engine_snapshot(store):
    eng = _engine()
    snap = snapshot.take(eng, "before maintenance", "maintenance")
    info = store.save_snapshot(snap, created_at=123)
    assert (info.snapshot_id, info.seq, info.trigger, info.size, info.created_at) == (
        snap.snapshot_id, snap.seq, "maintenance", len(snap.data), 123)
    back = store.load_snapshot(snap.snapshot_id)
    assert (back.snapshot_id, back.seq, back.ts, back.label, back.trigger, back.state_hash, back.data) == (
        snap.snapshot_id, snap.seq, snap.ts, snap.label, snap.trigger, snap.state_hash, snap.data)
    fresh = Engine()
    snapshot.restore(fresh, snapshot.decode(back.data, expect_hash=back.state_hash))
    assert snapshot.state_hash(fresh) == eng.state_hash()
    # saving the same snapshot again is a no-op; a different one under the same id is refused
    assert store.save_snapshot(snap).snapshot_id == snap.snapshot_id
    with pytest.raises(RecordConflictError):
        store.save_snapshot(Snapshot(snap.snapshot_id, 99, 1, "x", "auto", snapshot.hash_bytes(b"{}"), b"{}"))


def test_refuses_bad_trigger_and_bad_hash(store):
    with pytest.raises(StoreError, match="trigger"):
        store.save_snapshot(_snap(1, "whenever"))
    s = _snap(2, "manual")
    s.data = b'{"x":2}'
    with pytest.raises(StoreCorruptError):
        store.save_snapshot(s)
    assert store.list_snapshots() == []
    with pytest.raises(StoreNotFoundError):
        store.load_snapshot("snap-404")
    assert store.latest_snapshot() is None


def test_list_latest_and_prune(store):
    for seq, trig in [(10, "auto"), (20, "manual"), (30, "auto"), (40, "maintenance"), (50, "auto"),
                      (60, "auto"), (70, "auto")]:
        store.save_snapshot(_snap(seq, trig))
    assert [i.seq for i in store.list_snapshots()] == [10, 20, 30, 40, 50, 60, 70]
    assert [i.seq for i in store.list_snapshots(trigger="auto")] == [10, 30, 50, 60, 70]
    assert store.latest_snapshot().snapshot_id == "snap-70"
    assert store.latest_snapshot(max_seq=45).snapshot_id == "snap-40"
    # an auto snapshot a rollback restored is kept (replaying that rollback needs it)
    store.append_journal([])
    store.mark_rolled_back(10, 11, 2, snapshot_id="snap-10", rollback_seq=12)
    deleted = store.prune_auto_snapshots(keep_last_n=2)
    assert sorted(deleted) == ["snap-30", "snap-50"]
    assert [i.snapshot_id for i in store.list_snapshots()] == [
        "snap-10", "snap-20", "snap-40", "snap-60", "snap-70"]
    assert store.prune_auto_snapshots(keep_last_n=0) == ["snap-70", "snap-60"]
    assert {i.trigger for i in store.list_snapshots()} == {"auto", "manual", "maintenance"}
    assert [i.snapshot_id for i in store.list_snapshots()] == ["snap-10", "snap-20", "snap-40"]


def test_corrupt_snapshot_is_refused_and_can_be_skipped(store, store_url):
    store.save_snapshot(_snap(10, "manual"))
    store.save_snapshot(_snap(20, "auto"))
    raw_exec(store_url, "UPDATE snapshots SET data = :d WHERE id = 'snap-20'", {"d": b'{"x":'})
    with pytest.raises(StoreCorruptError, match="snap-20.*corrupt or truncated"):
        store.load_snapshot("snap-20")
    with pytest.raises(StoreCorruptError):
        store.latest_snapshot()
    assert store.latest_snapshot(skip_corrupt=True).snapshot_id == "snap-10"
