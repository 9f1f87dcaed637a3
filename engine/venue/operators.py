"""Operators and their tokens: a minimal **stand-in** with the interface of the real registry.

The real registry (stored, slow hashes, rate-limited and audited logins, normalised names) is being
written beside this work and replaces this file at merge; this stand-in keeps the same interface so
the service and its tests run: an in-memory dict of sha256(token) -> operator, no persistence, no
rate limit.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import secrets
import threading
import time
from pathlib import Path

from engine.node.roles import ROLES, Actor


class AuthError(Exception):
    """A token refused: ``code`` (unauthenticated, revoked, rate_limited, ...) and a message to show."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _norm(name: str) -> str:
    return " ".join(name.split()).lower()


class Operators:
    """Stand-in registry: name -> {role, digest, revoked, added_by}."""

    def __init__(self, store=None, *, clock=time.monotonic) -> None:
        self.store = store
        self.clock = clock
        self._lock = threading.Lock()
        self._by_name: dict[str, dict] = {}
        self._by_digest: dict[str, str] = {}

    def add(self, name: str, role: str, *, by: str = "cli") -> str:
        name = _norm(name)
        if not name:
            raise ValueError("an operator needs a name")
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
        return self._register(name, role, "pd_" + secrets.token_urlsafe(32), by)

    def _register(self, name: str, role: str, token: str, by: str) -> str:
        with self._lock:
            old = self._by_name.get(name)
            if old is not None:
                self._by_digest.pop(old["digest"], None)
            self._by_name[name] = {"name": name, "role": role, "digest": _digest(token), "revoked": False,
                                   "added_by": by, "since": int(time.time() * 1000)}
            self._by_digest[_digest(token)] = name
        return token

    def list(self) -> list[dict]:
        with self._lock:
            return [{"name": r["name"], "role": r["role"], "revoked": r["revoked"], "added_by": r["added_by"],
                     "since": r["since"]} for r in sorted(self._by_name.values(), key=lambda r: r["name"])]

    def revoke(self, name: str, *, by: str = "cli") -> None:
        with self._lock:
            rec = self._by_name.get(_norm(name))
            if rec is None:
                raise KeyError(name)
            rec["revoked"] = True

    def authenticate(self, token: str | None, *, source: str = "") -> Actor:
        if not token:
            raise AuthError("unauthenticated", "no token: send Authorization: Bearer TOKEN")
        with self._lock:
            name = self._by_digest.get(_digest(token))
            rec = self._by_name.get(name) if name is not None else None
        if rec is None:
            raise AuthError("unauthenticated", "unknown token")
        if rec["revoked"]:
            raise AuthError("revoked", f"the token of {rec['name']} was revoked")
        return Actor(rec["name"], rec["role"])

    def local_admin_token(self, path) -> str:
        """The sandbox's zero set-up: the OS user as admin; a fresh token in ``path`` (0600)."""
        try:
            user = getpass.getuser()
        except Exception:
            user = "operator"
        name = _norm(os.environ.get("PERPDESK_OPERATOR") or user)
        p = Path(path)
        try:  # a restarted sandbox keeps its token: attached consoles reconnect without a new one
            old = p.read_text().strip()
        except OSError:
            old = ""
        if old.startswith("pd_"):
            return self._register(name, "admin", old, "sandbox")
        token = self.add(name, "admin", by="sandbox")
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(str(p) + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        os.replace(str(p) + ".tmp", p)
        os.chmod(p, 0o600)
        return token


__all__ = ["AuthError", "Operators"]
