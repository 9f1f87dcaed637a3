"""``perpdesk operators add|list|revoke``: the operator registry on a SQLite file or a PostgreSQL URL.

``add`` prints the new token once (it is stored only as a scrypt hash: engine/venue/operators.py);
``list`` shows names, roles and dates (never a token); ``revoke`` ends a token at once.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _by() -> str:
    from ..node.roles import _os_user

    return f"cli:{_os_user()}"


def run(command: str, db: str | None, *, name: str | None = None, role: str | None = None, out=None,
        err=None) -> int:
    """Exit 0 done, 1 refused (bad name or role, exists, unknown operator), 2 the database failed."""
    from ..store.store import Store, StoreError
    from ..venue.operators import AuthError, Operators

    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        with Store.open(db, create=command == "add") as store:
            reg = Operators(store)
            if command == "add":
                assert name is not None and role is not None
                token = reg.add(name, role, by=_by())
                shown = next(r["name"] for r in reg.list() if r["revoked_ms"] is None
                             and r["name"] == _norm(name))
                print(f"operator {shown} added as {role} on {store.where}", file=out)
                print(f"token: {token}", file=out)
                print("This token is shown only now: it is stored only as a hash and cannot be shown again. "
                      "Keep it in a password manager; revoke it with `perpdesk operators revoke "
                      f"{shown}` if it leaks.", file=out)
            elif command == "list":
                rows = reg.list()
                print(f"{'name':<32}  {'role':<8}  {'created':<20}  {'by':<16}  {'last seen':<20}  revoked", file=out)
                for r in rows:
                    print(f"{r['name']:<32}  {r['role']:<8}  {_when(r['created_ms']):<20}  {r['created_by'][:16]:<16}  "
                          f"{_when(r['last_seen_ms']):<20}  {_when(r['revoked_ms'])}", file=out)
                if not rows:
                    print("(no operators yet: perpdesk operators add NAME --role ROLE)", file=out)
            elif command == "revoke":
                assert name is not None
                reg.revoke(name, by=_by())
                print(f"operator {_norm(name)} revoked: its token is refused from now on", file=out)
            else:
                raise ValueError(command)
    except AuthError as e:
        print(f"perpdesk operators {command}: {e} ({e.code})", file=err)
        return 1
    except StoreError as e:
        print(f"perpdesk operators {command}: {e}", file=err)
        return 2
    return 0


def _norm(name: str) -> str:
    from ..node.roles import normalize_name

    return normalize_name(name)
