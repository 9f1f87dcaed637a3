"""Journal trust: the chain key and the acknowledged-head anchor, both kept outside the database.

The chain key
    An HMAC-SHA256 key that keys the journal and audit hash chains and the snapshot MACs
    (see :mod:`engine.store.store`). Without it, nobody can recompute a chain after editing a row:
    ``verify`` and every node start would see the edit. It comes from ``PERPDESK_JOURNAL_KEY``
    (any text, at least 16 characters; hex of 32+ bytes recommended) or, when that is unset,
    from ``journal.key`` in the perpdesk config directory (``$PERPDESK_HOME/config`` in tests),
    created on first use with 32 random bytes and file mode 0600. The database records only
    the key's id (an HMAC of a fixed label, never the key).

The anchor
    ``FILE.anchor`` beside a SQLite database (``<data dir>/anchors/<url hash>.anchor`` for a
    server database): the head the node has acknowledged (seq and hash), the chain key's id,
    MAC'd with the key, replaced atomically and fsynced at most every
    :data:`ANCHOR_INTERVAL_S` while the node writes and when it closes. A journal shorter than
    the anchored head (a lost WAL, rows deleted from the end, a restored older copy) is named
    at start and by ``perpdesk verify``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

import orjson

from ..errors import PerpdeskError
from ..settings import paths

ENV_KEY = "PERPDESK_JOURNAL_KEY"
KEY_FILENAME = "journal.key"
ANCHOR_INTERVAL_S = 0.25
ANCHOR_VERSION = 1


class ChainKeyError(PerpdeskError):
    """The chain key cannot be read or created (its message says what to do)."""

    code = "chain_key_unavailable"


def key_file() -> Path:
    return paths.config_dir() / KEY_FILENAME


def load_key(create: bool = True) -> bytes | None:
    """The chain key: ``PERPDESK_JOURNAL_KEY``, else the key file (created when ``create``)."""
    env = os.environ.get(ENV_KEY, "").strip()
    if env:
        if len(env) < 16:
            raise ChainKeyError(f"{ENV_KEY} is too short ({len(env)} characters): give at least 16 "
                            f"(e.g. the hex of 32 random bytes)")
        return env.encode()
    path = key_file()
    try:
        data = path.read_bytes().strip()
    except FileNotFoundError:
        if not create:
            return None
        return _create_key(path)
    except OSError as e:
        raise ChainKeyError(f"cannot read the journal key {path}: {e.strerror}. Check its permissions, "
                        f"or give the key in {ENV_KEY}.") from None
    if len(data) < 16:
        raise ChainKeyError(f"the journal key {path} is empty or too short: restore it from your backup "
                        f"(or give it in {ENV_KEY}); without it the keyed chain cannot be checked")
    return data


def _create_key(path: Path) -> bytes:
    key = secrets.token_hex(32).encode()
    try:
        paths.ensure_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile
        return load_key(create=False) or key
    except OSError as e:
        raise ChainKeyError(f"cannot create the journal key {path}: {e.strerror}. Give one in {ENV_KEY}.") from None
    try:
        os.write(fd, key + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def key_id(key: bytes) -> str:
    """A public name for the key (recorded in the database; reveals nothing of the key)."""
    return hmac.new(key, b"perpdesk journal key id", hashlib.sha256).hexdigest()[:16]


def mac(key: bytes, text: str) -> str:
    return hmac.digest(key, text.encode(), "sha256").hex()


def snapshot_mac(key: bytes, snapshot_id: str, seq: int, state_hash: str) -> str:
    return mac(key, f"snapshot|{snapshot_id}|{seq}|{state_hash}")


# --------------------------------------------------------------------- anchor
class AnchorProblem(PerpdeskError):
    """The anchor file exists but cannot be trusted (unreadable, altered, another key)."""

    code = "anchor_untrusted"


def anchor_path_for(url_database: str | None, backend: str, where: str) -> Path | None:
    """Where the anchor of a database lives; None for an in-memory database."""
    if backend == "sqlite":
        db = url_database or ""
        if db in ("", ":memory:") or db.startswith("file::memory:") or "mode=memory" in db:
            return None
        return Path(db + ".anchor")
    digest = hashlib.sha256(where.encode()).hexdigest()[:24]
    return paths.data_dir() / "anchors" / f"{digest}.anchor"


def _anchor_body(kid: str, seq: int, head_hash: str) -> str:
    return orjson.dumps({"v": ANCHOR_VERSION, "key_id": kid, "seq": seq, "hash": head_hash},
                        option=orjson.OPT_SORT_KEYS).decode()


def read_anchor(path: Path, key: bytes | None) -> tuple[int, str, str] | None:
    """(acknowledged seq, its hash, key id) from the anchor, None when there is none."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise AnchorProblem(f"the anchor file {path} cannot be read ({e.strerror})") from None
    try:
        doc = orjson.loads(raw)
        body = _anchor_body(str(doc["key_id"]), int(doc["seq"]), str(doc["hash"]))
        got = str(doc["mac"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise AnchorProblem(f"the anchor file {path} is damaged (not the JSON perpdesk writes)") from None
    if key is None:
        raise AnchorProblem(f"the anchor file {path} cannot be checked: no journal key is available "
                            f"(set {ENV_KEY} or restore {key_file()})")
    if doc["key_id"] != key_id(key):
        raise AnchorProblem(f"the anchor file {path} was written with another journal key "
                            f"({doc['key_id']}, this key is {key_id(key)})")
    if not hmac.compare_digest(got, mac(key, body)):
        raise AnchorProblem(f"the anchor file {path} was altered (its MAC does not match)")
    return int(doc["seq"]), str(doc["hash"]), str(doc["key_id"])


def write_anchor(path: Path, key: bytes, seq: int, head_hash: str) -> None:
    """Replace the anchor atomically and durably (temp file, fsync, rename, fsync the directory)."""
    kid = key_id(key)
    body = _anchor_body(kid, seq, head_hash)
    doc = orjson.dumps({"v": ANCHOR_VERSION, "key_id": kid, "seq": seq, "hash": head_hash,
                        "mac": mac(key, body)}, option=orjson.OPT_SORT_KEYS)
    paths.ensure_dir(path.parent)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, doc + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - a platform without directory fds
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class Anchor:
    """The node's anchor writer: :meth:`note` after each durable batch, written at most every
    :data:`ANCHOR_INTERVAL_S` (and by :meth:`flush`). Never ahead of what the store committed."""

    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        self.key = key
        self._seq = 0
        self._hash = ""
        self._written = -1
        self._last = 0.0
        self.error: str | None = None

    def note(self, seq: int, head_hash: str) -> None:
        if seq > self._seq:
            self._seq, self._hash = seq, head_hash
        if time.monotonic() - self._last >= ANCHOR_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        if self._seq == self._written or not self._hash:
            return
        self._last = time.monotonic()
        try:
            write_anchor(self.path, self.key, self._seq, self._hash)
        except OSError as e:
            self.error = f"the anchor file {self.path} cannot be written: {e.strerror or e}"
            return
        self.error = None
        self._written = self._seq
