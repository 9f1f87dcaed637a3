"""The journal's hot loop: validate, encode and hash-chain the rows of one group commit.

Compiled with mypyc (setup.py ``COMPILED``): it runs once per journaled command on the
node's writer thread, whose interpreter time would otherwise hold the GIL against the
sequencer. :func:`engine.store.journal.chain_journal` wraps it with the store's errors; the
hash is :func:`engine.store.store.journal_hash` exactly (a test pins it).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from engine.errors import PerpdeskError


def hmac_pads(key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256's inner and outer hash states for ``key`` (RFC 2104), copied per message: the
    same digest as ``hmac.digest(key, msg, "sha256")`` at about a third of its per-call cost."""
    k: bytes = hashlib.sha256(key).digest() if len(key) > 64 else key
    k = k.ljust(64, b"\0")
    return hashlib.sha256(bytes([b ^ 0x36 for b in k])), hashlib.sha256(bytes([b ^ 0x5C for b in k]))


def keyed_hex(inner: Any, outer: Any, msg: bytes) -> str:
    i = inner.copy()
    i.update(msg)
    o = outer.copy()
    o.update(i.digest())
    return o.hexdigest()


class ChainError(PerpdeskError):
    """A row that cannot be appended; ``conflict``: its seq does not follow the journal."""

    def __init__(self, conflict: bool, message: str) -> None:
        super().__init__(message, code="journal_conflict" if conflict else "bad_journal_row")
        self.conflict = conflict


def chain_rows(rows: Any, head_seq: int, head_hash: str, epoch_now: int, key: bytes | None = None) -> list[tuple]:
    """INSERT parameter tuples ``(seq, ts, type, payload, epoch, outcome, prev_hash, hash)``.

    With ``key`` the hash is HMAC-SHA256(key, the same message) (a keyed chain, see engine/store/trust.py).

    Each row is a ``(seq, ts, type, payload, outcome, epoch)`` tuple (a JournalEntry) or a
    mapping with those keys; ``payload`` a dict (encoded here as canonical JSON) or JSON text.
    """
    out: list[tuple] = []
    dumps = orjson.dumps
    sort = orjson.OPT_SORT_KEYS
    sha256 = hashlib.sha256
    prev: str = head_hash
    expect: int = head_seq + 1
    inner: Any = None
    outer: Any = None
    if key is not None:
        inner, outer = hmac_pads(key)
    for r in rows:
        try:
            if isinstance(r, tuple):
                seq, ts, type_, payload, outcome, epoch = r
            else:
                seq, ts, type_, payload = r["seq"], r.get("ts"), r["type"], r["payload"]
                outcome, epoch = r.get("outcome", "ok"), r.get("epoch")
            if type(payload) is not str:
                if isinstance(payload, (bytes, bytearray, memoryview)):
                    payload = bytes(payload).decode()
                else:
                    payload = dumps(payload, option=sort).decode()
        except (KeyError, TypeError, ValueError, orjson.JSONEncodeError, UnicodeDecodeError) as e:
            raise ChainError(False, f"journal append refused: a row is malformed ({e!r}). "
                                    f"Nothing was written.") from None
        if epoch is None:
            epoch = epoch_now
        if type(seq) is not int or (ts is not None and type(ts) is not int) \
                or type(type_) is not str or not type_ or type(outcome) is not str or not outcome \
                or type(epoch) is not int or epoch < 1:
            raise ChainError(False, f"journal append refused: row seq={seq!r} type={type_!r} has a bad seq, "
                                    f"ts, type, outcome or epoch. Nothing was written.")
        if seq != expect and not (head_seq == 0 and not out and seq >= 1):
            raise ChainError(True,
                             f"journal append refused: seq {seq} does not follow the journal's last seq "
                             f"{expect - 1} (expected {expect}). Another node may be writing to this "
                             f"database, or the node's sequence is out of step with the journal; stop and "
                             f"recover the node from the store. Nothing was written.")
        msg: bytes = prev.encode() + b"|" + dumps([seq, ts, type_, epoch, outcome, payload])
        h: str = sha256(msg).hexdigest() if key is None else keyed_hex(inner, outer, msg)
        out.append((seq, ts, type_, payload, epoch, outcome, prev, h))
        prev = h
        expect = seq + 1
    return out


def verify_rows(rows: Any, prev_hash: str, prev_key: int, key: bytes | None, keyed_from: int) -> tuple:
    """Check journal rows ``(seq, ts, type, epoch, outcome, payload, prev_hash, hash)`` in seq order.

    Rows with ``seq >= keyed_from`` must carry HMAC hashes (``key`` required), earlier ones plain
    SHA-256. Returns ``(problem_seq, problem, last_key, last_hash)``; ``problem_seq`` -1 when sound.
    """
    dumps = orjson.dumps
    sha256 = hashlib.sha256
    prev: str = prev_hash
    last: int = prev_key
    inner: Any = None
    outer: Any = None
    if key is not None:
        inner, outer = hmac_pads(key)
    for row in rows:
        seq = row[0]
        if last >= 0 and seq != last + 1:
            return (seq, f"seq {last + 1}..{seq - 1} missing: rows were deleted between seq {last} and {seq}",
                    last, prev)
        if row[6] != prev:
            before = f"seq {last}" if last >= 0 else "the chain's start"
            return (seq, f"prev_hash does not match the hash of {before}: a row before it was altered and "
                         f"re-hashed, removed or inserted", last, prev)
        msg: bytes = prev.encode() + b"|" + dumps([seq, row[1], row[2], row[3], row[4], row[5]])
        if seq >= keyed_from:
            if key is None:
                return (seq, "the row is keyed but no journal key is available to check it", last, prev)
            h: str = keyed_hex(inner, outer, msg)
        else:
            h = sha256(msg).hexdigest()
        if h != row[7]:
            what = "its content does not match its keyed hash (HMAC): the row was altered, or re-hashed " \
                   "without the key" if seq >= keyed_from else "its content does not match its hash: the row was altered"
            return (seq, what, last, prev)
        prev = row[7]
        last = seq
    return (-1, "", last, prev)
