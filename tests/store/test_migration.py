"""Schema version 2 (alert_deliveries): a version-1 database opens and is upgraded in place."""

from __future__ import annotations

import pytest

from engine.store.store import SCHEMA_VERSION, SchemaVersionError, Store

from .helpers import entries, raw_exec


def make_v1(url: str) -> None:
    """A database exactly as version 1 left it: no alert_deliveries table, schema_version 1."""
    with Store.open(url) as s:
        s.append_journal(entries(1, 6))
        s.append_audit(operator="ada", role="admin", action="emergency_brake", reason="drill", outcome="ok")
    raw_exec(url, "DROP TABLE alert_deliveries")
    raw_exec(url, "UPDATE perpdesk_meta SET value = '1' WHERE key = 'schema_version'")


def test_a_version_1_database_is_upgraded_and_keeps_everything(store_url):
    assert SCHEMA_VERSION == 3
    make_v1(store_url)
    raw_exec(store_url, "DROP TABLE operators")
    with Store.open(store_url) as s:
        meta = s.meta()
        assert meta["schema_version"] == "3" and "migrated_to_2_at" in meta and "migrated_to_3_at" in meta
        assert s.last_seq() == 5 and s.verify_chains() == []  # journal and audit untouched
        assert [r.action for r in s.iter_audit()] == ["emergency_brake"]
        rec = s.record_alert_delivery({"ts": 1, "kind": "brake_engaged", "action": "trigger", "dedup_key": "v:brake",
                                       "severity": "critical", "sink": "ops", "sink_kind": "slack", "attempt": 1,
                                       "status": "delivered", "http_status": 200, "error": ""})
        assert rec["id"] == 1
        assert s.list_alert_deliveries()[0]["dedup_key"] == "v:brake"
    with Store.open(store_url) as s:  # a second open finds version 3: nothing to do
        assert s.meta()["schema_version"] == "3" and len(s.list_alert_deliveries()) == 1


def test_a_version_2_database_gains_the_operator_registry(store_url):
    """Version 3 adds the operators table (engine/venue/operators.py); nothing else changes."""
    with Store.open(store_url) as s:  # a database exactly as version 2 left it
        s.append_journal(entries(1, 6))
    raw_exec(store_url, "DROP TABLE operators")
    raw_exec(store_url, "UPDATE perpdesk_meta SET value = '2' WHERE key = 'schema_version'")
    from engine.venue.operators import Operators

    with Store.open(store_url) as s:
        assert s.meta()["schema_version"] == "3" and s.list_operators() == []
        token = Operators(s).add("alice", "approver")
        assert Operators(s).authenticate(token).role == "approver"
        assert s.verify_chains() == [] and s.last_seq() == 5


def test_a_version_without_a_migration_is_still_refused(store_url):
    Store.open(store_url).close()
    raw_exec(store_url, "UPDATE perpdesk_meta SET value = '0' WHERE key = 'schema_version'")
    with pytest.raises(SchemaVersionError, match="no migration exists"):
        Store.open(store_url)
    raw_exec(store_url, "UPDATE perpdesk_meta SET value = '4' WHERE key = 'schema_version'")
    with pytest.raises(SchemaVersionError, match="newer"):
        Store.open(store_url)


def test_delivery_log_newest_first_and_filters(store):
    for i in range(5):
        store.record_alert_delivery({"ts": i, "kind": "k", "action": "trigger", "dedup_key": f"d{i % 2}",
                                     "severity": "error", "sink": "a" if i < 3 else "b", "sink_kind": "webhook",
                                     "attempt": 1, "status": "failed", "http_status": None, "error": "timeout"})
    rows = store.list_alert_deliveries(3)
    assert [r["ts"] for r in rows] == [4, 3, 2]
    assert {r["sink"] for r in store.list_alert_deliveries(sink="b")} == {"b"}
    assert len(store.list_alert_deliveries(dedup_key="d0")) == 3
    with pytest.raises(Exception, match="needs"):
        store.record_alert_delivery({"ts": 1})
