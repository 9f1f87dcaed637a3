"""The store's errors: one base (engine.errors.PerpdeskError), a stable code per class, the same messages."""

from __future__ import annotations

import pytest

from engine.errors import PerpdeskError
from engine.store import errors, store, trust

CODES = {
    "StoreError": "store_error",
    "StoreNotFoundError": "store_not_found",
    "NotAPerpdeskDatabaseError": "not_a_perpdesk_database",
    "SchemaVersionError": "schema_version",
    "StoreCorruptError": "store_corrupt",
    "StoreLockedError": "store_locked",
    "StoreFullError": "store_full",
    "StoreUnavailableError": "store_unavailable",
    "JournalConflictError": "journal_conflict",
    "ChainKeyMissingError": "chain_key_missing",
    "SnapshotForgedError": "snapshot_forged",
    "FencedError": "fenced",
    "JournalChainBrokenError": "journal_chain_broken",
    "RecordConflictError": "record_conflict",
}


@pytest.mark.parametrize("name", sorted(CODES))
def test_each_store_error_is_a_perpdesk_error_with_its_code(name):
    cls = getattr(errors, name)
    assert getattr(store, name) is cls  # still importable from engine.store.store
    e = cls("the database is locked: retry")
    assert isinstance(e, PerpdeskError) and isinstance(e, errors.StoreError)
    assert (e.code, e.message, str(e)) == (CODES[name], "the database is locked: retry", "the database is locked: retry")


def test_the_subclasses_keep_their_parents():
    assert issubclass(errors.SnapshotForgedError, errors.StoreCorruptError)
    assert issubclass(errors.JournalChainBrokenError, errors.StoreCorruptError)


def test_lease_held_keeps_its_constructor_and_message():
    e = errors.LeaseHeldError("sqlite:///x.db", {"host": "h1", "pid": 42, "since": 0, "epoch": 3})
    assert isinstance(e, PerpdeskError) and e.code == "lease_held"
    assert e.holder["pid"] == 42
    assert str(e).startswith("sqlite:///x.db is held by another perpdesk node: ")
    assert "Exactly one node may sequence a database" in str(e)


def test_a_refusal_raised_by_the_store_carries_its_code(tmp_path):
    with pytest.raises(PerpdeskError) as info:
        store.Store.open(f"sqlite:///{tmp_path / 'absent.db'}", create=False, key=None)
    assert info.value.code == "store_not_found"
    assert str(info.value).startswith(f"there is no database at {tmp_path / 'absent.db'}")


def test_trust_errors_are_perpdesk_errors():
    for cls, code in ((trust.ChainKeyError, "chain_key_unavailable"), (trust.AnchorProblem, "anchor_untrusted")):
        e = cls("the anchor file is damaged")
        assert isinstance(e, PerpdeskError) and (e.code, str(e)) == (code, "the anchor file is damaged")


def test_every_name_callers_import_from_the_store_module_is_still_there():
    names = ("APPLICATION_ID", "GENESIS", "JOURNAL_CHANNEL", "SCHEMA_VERSION", "AUTO_KEY", "JournalEntry",
             "JournalRecord", "RollbackMark", "EpochRecord", "SnapshotInfo", "AuditRecord", "ChainProblem",
             "JournalListener", "Store", "journal_hash", "audit_hash", "canonical_json", "now_ms", "split_head",
             "meta_t", "journal_t", "TABLES", "MIGRATIONS", "LeaseHeldError", *CODES)
    assert [n for n in names if not hasattr(store, n)] == []
