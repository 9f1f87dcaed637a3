"""Operators: who is calling the venue, proven by a token, and what role they hold.

The venue service turns a request's token into an :class:`engine.node.roles.Actor` with
:meth:`Operators.authenticate` and hands it to the node, which decides what that role may do
(engine/node/roles.py). Nothing here trusts the caller's environment.

Tokens
    ``pd_<id>_<secret>``: a public id (12 hex characters: the lookup key, safe to log and audit)
    and a secret (``secrets.token_urlsafe(32)``). The registry keeps only the id, a random per-token
    salt and ``scrypt(secret, salt, n=2**14, r=8, p=1)``; the token is shown once, by :meth:`add`.
    A verification costs one scrypt (~50 ms): successful ones are cached in memory, keyed by the
    full token's SHA-256, for :data:`CACHE_TTL_S`; a revoke in this process drops them at once, and a
    cached token's row is re-read at most every :data:`RECHECK_S` so a revoke from another process
    (``perpdesk operators revoke``) takes effect within that.

Names
    NFKC, then casefolded; must then match ``[a-z0-9][a-z0-9._-]{0,31}`` (ASCII only: look-alikes from
    other scripts are refused), with no surrounding spaces; ``Alice`` and ``alice`` are one operator.
    ``system`` (the venue's own actor) and ``anonymous`` are reserved.

Failed logins
    Per source (the client address the service passes) and per token id: after
    :data:`MAX_FAILURES` failures within :data:`WINDOW_S` seconds, ``rate_limited`` for
    :data:`BLOCK_S` seconds (the injected monotonic ``clock``). Every failure is audited (action
    ``authenticate``, outcome ``refused: <code>: ...``) with the token's public id only, never its
    secret: with a store, through the store's hash-chained audit log (the node's own); without one,
    to :attr:`Operators.audit_hook` (give it ``node.audit_auth_failure``) or the in-memory
    :attr:`Operators.failures`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from engine.errors import PerpdeskError

from ..node.roles import ROLES, Actor, normalize_name
from ..settings.paths import ensure_dir

TOKEN_PREFIX = "pd"
ID_HEX = 12
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**14, 8, 1, 32
CACHE_TTL_S = 60.0
RECHECK_S = 1.0
MAX_FAILURES = 5
WINDOW_S = 60.0
BLOCK_S = 60.0
TOUCH_EVERY_MS = 60_000  # last_seen_ms is written at most once a minute per token
NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
RESERVED_NAMES = frozenset({"system", "anonymous"})
CODES = ("unauthenticated", "revoked", "rate_limited", "bad_name", "exists", "unknown_operator", "bad_role")
_TRACK_MAX = 10_000  # failure trackers kept at most (oldest dropped): random ids cannot grow memory


class AuthError(PerpdeskError):
    """A refused login or registry change; ``code`` in :data:`CODES`, ``str(e)`` is the message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def check_name(name: str) -> str:
    """The normalised name, or :class:`AuthError` ``bad_name``."""
    if not isinstance(name, str) or not name:
        raise AuthError("bad_name", "an operator name is required")
    if name != name.strip():
        raise AuthError("bad_name", f"operator name {name!r} has surrounding spaces")
    norm = normalize_name(name)
    if not norm.isascii() or not NAME_RE.fullmatch(norm):
        raise AuthError("bad_name", f"operator name {name!r} is not allowed: after normalisation it must be "
                                    f"1-32 of a-z 0-9 . _ - (ASCII only), starting with a letter or digit")
    if norm in RESERVED_NAMES:
        raise AuthError("bad_name", f"operator name {norm!r} is reserved")
    return norm


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AuthError("bad_role", f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def _scrypt(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_LEN)


def split_token(token: str) -> tuple[str, str] | None:
    """(public id, secret) of a well-formed token, else None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    tid, secret = parts[1], parts[2]
    if len(tid) != ID_HEX or any(ch not in "0123456789abcdef" for ch in tid) or not 20 <= len(secret) <= 200:
        return None
    return tid, secret


class _MemoryRegistry:
    """The store's operator methods, in memory (``Operators(None)``)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}
        self.lock = threading.Lock()

    def add_operator(self, row: dict) -> dict:
        with self.lock:
            if any(r["name"] == row["name"] and r["revoked_ms"] is None for r in self.rows.values()):
                raise AuthError("exists", f"an active operator named {row['name']!r} already exists")
            self.rows[row["token_id"]] = dict(row)
            return dict(row)

    def get_operator(self, token_id: str) -> dict | None:
        with self.lock:
            r = self.rows.get(token_id)
            return dict(r) if r is not None else None

    def list_operators(self) -> list[dict]:
        with self.lock:
            return [dict(r) for r in sorted(self.rows.values(), key=lambda r: (r["created_ms"], r["token_id"]))]

    def revoke_operator(self, name: str, *, by: str, ts: int) -> dict:
        with self.lock:
            for r in self.rows.values():
                if r["name"] == name and r["revoked_ms"] is None:
                    r["revoked_ms"], r["revoked_by"] = ts, by
                    return dict(r)
        raise AuthError("unknown_operator", f"there is no active operator named {name!r}")

    def touch_operator(self, token_id: str, ts: int) -> None:
        with self.lock:
            if token_id in self.rows:
                self.rows[token_id]["last_seen_ms"] = ts


class _Failures:
    """Failures per key within the window, and blocks."""

    def __init__(self) -> None:
        self.times: dict[str, deque] = {}
        self.blocked_until: dict[str, float] = {}

    def blocked(self, key: str, now: float) -> bool:
        until = self.blocked_until.get(key)
        if until is None:
            return False
        if now < until:
            return True
        del self.blocked_until[key]
        return False

    def fail(self, key: str, now: float) -> bool:
        """Count one failure; True when this one starts a block."""
        q = self.times.get(key)
        if q is None:
            if len(self.times) >= _TRACK_MAX:
                self.times.pop(next(iter(self.times)))
            q = self.times[key] = deque(maxlen=MAX_FAILURES)
        while q and now - q[0] >= WINDOW_S:
            q.popleft()
        q.append(now)
        if len(q) >= MAX_FAILURES:
            q.clear()
            if len(self.blocked_until) >= _TRACK_MAX:
                self.blocked_until.pop(next(iter(self.blocked_until)))
            self.blocked_until[key] = now + BLOCK_S
            return True
        return False


class Operators:
    """The operator registry: add, list, revoke, authenticate (see the module's docstring)."""

    def __init__(self, store=None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self._reg = store if store is not None else _MemoryRegistry()
        self.clock = clock
        self._lock = threading.Lock()
        # sha256(token) -> [actor, token_id, verified_at, checked_at]
        self._cache: dict[bytes, list] = {}
        self._touched: dict[str, int] = {}
        self._by_source = _Failures()
        self._by_id = _Failures()
        #: without a store, where failures are audited: (source, code, detail, token_id) -> None
        self.audit_hook: Callable[..., None] | None = None
        self.failures: list[dict] = []  # without a store nor a hook

    # ---- the registry ---------------------------------------------------------------
    def add(self, name: str, role: str, *, by: str = "cli") -> str:
        """Register ``name`` with ``role``; returns its token, the only time it is ever shown."""
        norm = check_name(name)
        check_role(role)
        tid = secrets.token_hex(ID_HEX // 2)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        row = {"token_id": tid, "name": norm, "role": role, "salt": salt.hex(), "hash": _scrypt(secret, salt).hex(),
               "created_ms": wall_ms(), "created_by": str(by), "revoked_ms": None, "revoked_by": None,
               "last_seen_ms": None}
        try:
            self._reg.add_operator(row)
        except AuthError:
            raise
        except Exception as e:
            if self._is_conflict(e):
                raise AuthError("exists", f"an active operator named {norm!r} already exists: revoke it first "
                                          f"to issue a new token") from None
            raise
        self._audit_change(by, "operators_add", {"name": norm, "role": role, "token_id": tid})
        return f"{TOKEN_PREFIX}_{tid}_{secret}"

    def list(self) -> list[dict]:
        """Every operator token, oldest first: name, role, created_ms, revoked_ms, last_seen_ms, created_by."""
        return [{"name": r["name"], "role": r["role"], "created_ms": r["created_ms"], "revoked_ms": r["revoked_ms"],
                 "last_seen_ms": r["last_seen_ms"], "created_by": r["created_by"]}
                for r in self._reg.list_operators()]

    def revoke(self, name: str, *, by: str = "cli") -> None:
        """Revoke the active operator ``name`` (normalised): its token fails with ``revoked`` from now on."""
        norm = check_name(name)
        try:
            row = self._reg.revoke_operator(norm, by=str(by), ts=wall_ms())
        except AuthError:
            raise
        except Exception as e:
            from ..store.store import StoreNotFoundError

            if isinstance(e, StoreNotFoundError):
                raise AuthError("unknown_operator", f"there is no active operator named {norm!r}") from None
            raise
        with self._lock:
            for k in [k for k, v in self._cache.items() if v[1] == row["token_id"]]:
                del self._cache[k]
        self._audit_change(by, "operators_revoke", {"name": norm, "token_id": row["token_id"]})

    def _audit_change(self, by: str, action: str, cmd: dict) -> None:
        """A registry change, in the store's audit chain (public token id only)."""
        if self.store is None:
            return
        from ..store.store import StoreError

        try:
            self.store.append_audit(operator=str(by), role="registry", action=action, command=cmd, reason="",
                                    outcome="ok")
        except StoreError:
            pass

    @staticmethod
    def _is_conflict(e: Exception) -> bool:
        from ..store.store import RecordConflictError, StoreError

        return isinstance(e, RecordConflictError) or (isinstance(e, StoreError) and "unique" in str(e).lower())

    # ---- authentication ----------------------------------------------------------
    def authenticate(self, token: str | None, *, source: str = "") -> Actor:
        """The operator ``token`` proves, as an Actor; raises :class:`AuthError` (``unauthenticated``,
        ``revoked``, ``rate_limited``), each failure counted and audited."""
        now = self.clock()
        src = f"source:{source}"
        with self._lock:
            if self._by_source.blocked(src, now):
                raise AuthError("rate_limited", f"too many failed logins from {source or 'this source'}: "
                                                f"try again in a minute")
        if not token:
            self._failed(source, None, "unauthenticated", "no token: every request needs an operator token")
        assert token is not None
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        parts = split_token(token)
        tid = parts[0] if parts is not None else None
        with self._lock:
            if tid is not None and self._by_id.blocked(f"id:{tid}", now):
                raise AuthError("rate_limited", f"too many failed logins for token {tid}: try again in a minute")
            hit = self._cache.get(digest)
            if hit is not None and now - hit[2] >= CACHE_TTL_S:
                del self._cache[digest]
                hit = None
        if hit is not None:
            if now - hit[3] < RECHECK_S:
                return hit[0]
            row = self._reg.get_operator(hit[1])  # a revoke from another process: seen within RECHECK_S
            if row is not None and row["revoked_ms"] is None:
                hit[3] = now
                self._touch(hit[1])
                return hit[0]
            with self._lock:
                self._cache.pop(digest, None)
        if parts is None:
            self._failed(source, None, "unauthenticated", "that is not an operator token")
        assert parts is not None and tid is not None
        row = self._reg.get_operator(tid)
        if row is None or not hmac.compare_digest(_scrypt(parts[1], bytes.fromhex(row["salt"])),
                                                  bytes.fromhex(row["hash"])):
            self._failed(source, tid, "unauthenticated", "unknown or wrong operator token")
        assert row is not None
        if row["revoked_ms"] is not None:
            self._failed(source, tid, "revoked", f"the token of {row['name']} was revoked")
        if row["role"] not in ROLES:  # never "system": no token maps to the venue's own actor
            self._failed(source, tid, "bad_role", f"the token of {row['name']} holds no known role")
        actor = Actor(row["name"], row["role"])
        with self._lock:
            self._cache[digest] = [actor, tid, now, now]
        self._touch(tid)
        return actor

    def _touch(self, tid: str) -> None:
        ms = wall_ms()
        if ms - self._touched.get(tid, -TOUCH_EVERY_MS) < TOUCH_EVERY_MS:
            return
        self._touched[tid] = ms
        try:
            self._reg.touch_operator(tid, ms)
        except Exception:  # last seen is informational: never refuse a login for it
            pass

    def _failed(self, source: str, tid: str | None, code: str, detail: str):
        """Count, audit and raise one failed login (rate_limited once a limit is reached)."""
        now = self.clock()
        with self._lock:
            blocked = self._by_source.fail(f"source:{source}", now)
            if tid is not None:
                blocked = self._by_id.fail(f"id:{tid}", now) or blocked
        self._audit(source, code, detail, tid)
        if blocked:
            self._audit(source, "rate_limited", f"{MAX_FAILURES} failures within {int(WINDOW_S)} s: "
                                                f"refused for {int(BLOCK_S)} s", tid)
        raise AuthError(code, detail)

    def _audit(self, source: str, code: str, detail: str, tid: str | None) -> None:
        cmd = {"source": str(source)[:200], "code": code}
        if tid is not None:
            cmd["token_id"] = tid
        if self.store is not None:
            from ..store.store import StoreError

            try:
                self.store.append_audit(operator=f"token:{tid}" if tid else "anonymous", role="none",
                                        action="authenticate", command=cmd, reason="",
                                        outcome=f"refused: {code}: {detail}"[:500])
            except StoreError:
                pass  # the refusal stands; an unwritable audit log is the node's alarm to raise
            return
        if self.audit_hook is not None:
            self.audit_hook(source, code, detail, token_id=tid)
            return
        self.failures.append({"ts": wall_ms(), **cmd, "detail": detail})

    # ---- the local sandbox --------------------------------------------------------------
    def local_admin_token(self, path: str | os.PathLike) -> str:
        """Zero set-up for the local sandbox: the OS user as an admin operator, its token kept in
        ``path`` (0600, created if absent) and returned. A token file that no longer authenticates
        (lost registry, revoked) is replaced by a new token (the old one revoked)."""
        from ..node.roles import _os_user

        p = Path(path)
        name = check_name(_local_name(_os_user()))
        try:
            token = p.read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            token = ""
        if token:
            actor = self._check_quietly(token)
            if actor is not None and actor.name == name and actor.role == "admin":
                return token
        current = [r for r in self._reg.list_operators() if r["name"] == name and r["revoked_ms"] is None]
        if current and current[0]["role"] != "admin":
            raise AuthError("exists", f"operator {name!r} exists as {current[0]['role']}, not admin: the local "
                                      f"sandbox will not promote it (revoke it, or use a token)")
        if current:
            self.revoke(name, by="local sandbox")
        token = self.add(name, "admin", by="local sandbox")
        ensure_dir(p.parent)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, (token + "\n").encode())
        finally:
            os.close(fd)
        return token

    def _check_quietly(self, token: str) -> Actor | None:
        """Verify without counting or auditing a failure (our own token file)."""
        parts = split_token(token)
        if parts is None:
            return None
        row = self._reg.get_operator(parts[0])
        if row is None or row["revoked_ms"] is not None or row["role"] not in ROLES:
            return None
        if not hmac.compare_digest(_scrypt(parts[1], bytes.fromhex(row["salt"])), bytes.fromhex(row["hash"])):
            return None
        return Actor(row["name"], row["role"])


def _local_name(user: str) -> str:
    """An OS user name as an operator name (characters outside the allowed set become ``-``)."""
    norm = normalize_name(user)
    out = "".join(ch if (ch.isascii() and (ch.isalnum() or ch in "._-")) else "-" for ch in norm)[:32]
    if not out or not out[0].isalnum():
        out = ("u" + out)[:32]
    return "operator" if out in RESERVED_NAMES else out


__all__ = ["AuthError", "Operators", "check_name", "split_token"]
