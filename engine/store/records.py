"""The store's records and hashes: the NamedTuples its methods take and return, the chain hashes.

Pure functions and values, no database: :func:`journal_hash` and :func:`audit_hash` (a chain row's
SHA-256, or HMAC-SHA256 with the chain key; :func:`engine.core.journalchain.chain_rows` computes
the journal's exactly the same way), :func:`snapshot_mac_key` (the meta record holding a snapshot's
MAC), and the parsers of the meta records ``"<seq> <hash>"`` (:func:`split_head`) and
``"<key id> <first keyed seq>"`` (:func:`split_key`), shared by the store's modules.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

#: the ``prev_hash`` of a chain's first row (and the hash of an empty chain's head)
GENESIS = "0" * 64


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def canonical_json(obj: Any) -> str:
    """Canonical JSON text: sorted keys, no whitespace (orjson)."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()


class JournalEntry(NamedTuple):
    """One command to append. ``payload``: the command dict, or its canonical JSON text."""

    seq: int
    ts: int | None
    type: str
    payload: Mapping | str | bytes
    outcome: str = "ok"
    epoch: int | None = None  # None: the store's current epoch


class JournalRecord(NamedTuple):
    """One stored journal row (``payload`` is canonical JSON text; ``command`` decodes it)."""

    seq: int
    ts: int | None
    type: str
    payload: str
    epoch: int
    outcome: str
    rolled_back_epoch: int | None
    prev_hash: str
    hash: str

    @property
    def command(self) -> dict:
        return orjson.loads(self.payload)

    @property
    def rolled_back(self) -> bool:
        return self.rolled_back_epoch is not None


class RollbackMark(NamedTuple):
    """Rows ``after_seq < seq <= upto_seq`` were discarded by a rollback that starts ``new_epoch``."""

    after_seq: int
    upto_seq: int
    new_epoch: int
    snapshot_id: str | None = None
    rollback_seq: int | None = None


class EpochRecord(NamedTuple):
    epoch: int
    after_seq: int
    upto_seq: int
    rollback_seq: int | None
    snapshot_id: str | None
    created_at: int


class SnapshotInfo(NamedTuple):
    """A stored snapshot without its bytes."""

    snapshot_id: str
    seq: int
    ts: int
    label: str
    trigger: str
    state_hash: str
    size: int
    created_at: int


class AuditRecord(NamedTuple):
    id: int
    ts: int
    operator: str
    role: str
    action: str
    command: str | None  # canonical JSON text, or None
    reason: str
    outcome: str
    prev_hash: str
    hash: str

    def as_dict(self) -> dict:
        d = self._asdict()
        d["command"] = orjson.loads(self.command) if self.command is not None else None
        return d


@dataclass(frozen=True)
class ChainProblem:
    """The first bad record of a chain (``record`` is the seq or audit id, None for the chain's end)."""

    chain: str  # "journal" or "audit"
    record: int | None
    problem: str

    def __str__(self) -> str:
        label = "seq" if self.chain == "journal" else "id"
        where = f"{self.chain} {label} {self.record}" if self.record is not None else self.chain
        return f"{where}: {self.problem}"


def journal_hash(prev_hash: str, seq: int, ts: int | None, type_: str, epoch: int, outcome: str,
                 payload: str, key: bytes | None = None) -> str:
    """A journal row's hash: SHA-256 (unkeyed, the public function) or, with ``key``, HMAC-SHA256."""
    msg = prev_hash.encode() + b"|" + orjson.dumps([seq, ts, type_, epoch, outcome, payload])
    return hashlib.sha256(msg).hexdigest() if key is None else hmac.digest(key, msg, "sha256").hex()


def audit_hash(prev_hash: str, id_: int, ts: int, operator: str, role: str, action: str,
               command: str | None, reason: str, outcome: str, key: bytes | None = None) -> str:
    msg = prev_hash.encode() + b"|" + orjson.dumps([id_, ts, operator, role, action, command, reason, outcome])
    return hashlib.sha256(msg).hexdigest() if key is None else hmac.digest(key, msg, "sha256").hex()


def split_key(value: str | None) -> tuple[str, int] | None:
    """``journal_key``/``audit_key`` meta value ``"<key id> <first keyed seq or id>"``."""
    if value is None:
        return None
    kid, n = value.split(" ", 1)
    return kid, int(n)


def snapshot_mac_key(snapshot_id: str) -> str:
    return "smac:" + hashlib.sha256(snapshot_id.encode()).hexdigest()[:40]


def split_head(value: str) -> tuple[int, str]:
    """A chain head meta value ``"<last seq or id> <its hash>"``."""
    n, h = value.split(" ", 1)
    return int(n), h


def as_tuple(*row: Any) -> tuple:
    """A row as a plain tuple (the record type :meth:`StoreBase.stream` builds when none is wanted)."""
    return row
