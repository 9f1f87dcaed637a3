"""The node's errors: a refusal (:class:`NodeError`), and a journal or start it cannot trust
(:class:`RecoveryError`, :class:`TrustError`). All derive from :class:`engine.errors.PerpdeskError`
(a stable ``code`` and a ``message``; ``str(err)`` is the message)."""

from __future__ import annotations

from ..errors import PerpdeskError


class NodeError(PerpdeskError):
    """The node refused or could not take a command (not an engine rejection)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class RecoveryError(PerpdeskError):
    """The journal cannot be replayed into a trustworthy state (gap, divergence, corrupt data)."""

    code = "recovery_failed"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)


class TrustError(RecoveryError):
    """A start refused: what the node would trust does not verify (``record``: the first bad one)."""

    code = "untrusted_start"

    def __init__(self, where: str, record: str) -> None:
        self.record = record
        super().__init__(
            f"refusing to open {where}: {record}. Nothing was changed. Run `perpdesk verify --db {where}` "
            f"for the full report, then restore the database from a backup or an older snapshot (or, "
            f"if you restored an older copy on purpose, move its .anchor file aside).")


def is_fenced(err: BaseException) -> bool:
    """True for the store's refusal of an append by a deposed node (another node took the lease)."""
    from ..store.store import FencedError

    return isinstance(err, FencedError)


def is_store_error(err: BaseException) -> bool:
    """True for the store's own errors (engine.store.store.StoreError), imported only when one is raised."""
    from ..store.store import StoreError

    return isinstance(err, StoreError)
