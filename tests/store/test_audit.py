"""Audit log: hash chain, filters, tamper detection."""

from __future__ import annotations

from engine.store.store import GENESIS, audit_hash

from .helpers import raw_exec


def _fill(store):
    store.append_audit(operator="ana", role="operator", action="emergency_brake",
                       command={"type": "emergency_brake", "reason": "oracle spike"},
                       reason="oracle spike", outcome="ok", ts=1000)
    store.append_audit(operator="bo", role="viewer", action="emergency_brake", command=None,
                       reason="", outcome="refused: role", ts=2000)
    store.append_audit(operator="cy", role="approver", action="rollback",
                       command={"type": "rollback", "snapshot_id": "snap-4"},
                       reason="bad mark 50% off", outcome="ok", ts=3000)
    return store.append_audit(operator="ana", role="operator", action="propose_refund",
                              command={"refund_id": "r0001"}, reason="counterfactual",
                              outcome="ok", ts=4000)


def test_chain_and_records(store):
    last = _fill(store)
    recs = list(store.iter_audit())
    assert [r.id for r in recs] == [1, 2, 3, 4] and recs[-1] == last
    assert recs[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(recs, recs[1:], strict=False))
    r = recs[2]
    assert r.hash == audit_hash(r.prev_hash, r.id, r.ts, r.operator, r.role, r.action, r.command,
                                r.reason, r.outcome, key=store.key)
    assert r.as_dict()["command"] == {"type": "rollback", "snapshot_id": "snap-4"}
    assert store.verify_chains() == []


def test_filters(store):
    _fill(store)
    ids = lambda **kw: [r.id for r in store.iter_audit(**kw)]  # noqa: E731
    assert ids(operator="ana") == [1, 4]
    assert ids(action="emergency_brake") == [1, 2]
    assert ids(role="viewer") == [2]
    assert ids(since_ts=2000, until_ts=3000) == [2, 3]
    assert ids(query="SNAP-4") == [3]
    assert ids(query="50%") == [3]  # LIKE wildcards are escaped
    assert ids(query="refused") == [2]
    assert ids(newest_first=True, limit=2) == [4, 3]
    assert ids(after_id=2) == [3, 4]


def test_tampered_audit_row_is_named(store, store_url):
    _fill(store)
    store.append_journal([])  # no-op
    raw_exec(store_url, "UPDATE audit SET operator = 'mallory' WHERE id = 3")
    [p] = store.verify_chains()
    assert (p.chain, p.record) == ("audit", 3)
    assert str(p).startswith("audit id 3:")
    assert store.verify_chains(audit=False) == []


def test_deleted_last_audit_row_is_caught(store, store_url):
    _fill(store)
    raw_exec(store_url, "DELETE FROM audit WHERE id = 4")
    [p] = store.verify_chains()
    assert p.chain == "audit" and "ends at id 3" in p.problem
