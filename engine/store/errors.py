"""Every error the store raises on purpose: :class:`StoreError` and its subclasses.

Each derives from :class:`engine.errors.PerpdeskError`, with a stable machine ``code`` per class
(``store_locked``, ``journal_conflict``...) and the message, written for people, that says what
happened and what to do (``str(e)``). The constructors are the store's own (``StoreLockedError(message)``,
``LeaseHeldError(where, holder)``). A caller that only knows the error's class name (the node's
journal writer process reports it by name) finds every class here, and in :mod:`engine.store.store`.
"""

from __future__ import annotations

from ..errors import PerpdeskError


class StoreError(PerpdeskError):
    """A store failure; ``str(e)`` says what happened and what to do."""

    code = "store_error"


class StoreNotFoundError(StoreError):
    """The database does not exist and the caller asked not to create one."""

    code = "store_not_found"


class NotAPerpdeskDatabaseError(StoreError):
    """The file or database is not a perpdesk database (another kind of file, or another app's)."""

    code = "not_a_perpdesk_database"


class SchemaVersionError(StoreError):
    """The database records a schema version this build does not know (newer or unknown)."""

    code = "schema_version"


class StoreCorruptError(StoreError):
    """The database file, or a record in it, is damaged."""

    code = "store_corrupt"


class StoreLockedError(StoreError):
    """Another process held the database lock beyond the busy timeout."""

    code = "store_locked"


class StoreFullError(StoreError):
    """The disk (or the database's size limit) is full."""

    code = "store_full"


class StoreUnavailableError(StoreError):
    """The database cannot be reached or opened (server down, permissions, I/O error)."""

    code = "store_unavailable"


class JournalConflictError(StoreError):
    """A journal append that does not continue the chain (wrong seq, or another writer)."""

    code = "journal_conflict"


class ChainKeyMissingError(StoreError):
    """The database's chain is keyed and this store has no key, or another one."""

    code = "chain_key_missing"


class SnapshotForgedError(StoreCorruptError):
    """A snapshot whose content no longer matches its MAC (altered, hash recomputed) or lacks one."""

    code = "snapshot_forged"


class LeaseHeldError(StoreError):
    """Another node holds this database's sequencer lease (``holder``: host, pid, since, epoch)."""

    code = "lease_held"

    def __init__(self, where: str, holder: dict | None) -> None:
        from .lease import describe

        self.holder = holder
        super().__init__(
            f"{where} is held by another perpdesk node: {describe(holder)}. Exactly one node may "
            f"sequence a database: stop that node first (or attach to it), or use another database.")


class FencedError(StoreError):
    """A journal append by a node whose leader epoch was superseded (another node took the lease)."""

    code = "fenced"


class JournalChainBrokenError(StoreCorruptError):
    """A journal row read by a standby does not continue the chain it verified so far."""

    code = "journal_chain_broken"


class RecordConflictError(StoreError):
    """A snapshot, refund or window that already exists differently, or changed underneath."""

    code = "record_conflict"

