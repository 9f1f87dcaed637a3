"""Helpers for the store tests."""

from __future__ import annotations


def raw_exec(url: str, sql: str, params: dict | None = None) -> None:
    """Run SQL behind the store's back (to tamper with rows), committed."""
    from pathlib import Path

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database:
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)
    eng = create_engine(url)
    try:
        with eng.begin() as c:
            c.execute(text(sql), params or {})
    finally:
        eng.dispose()


def entries(start: int, stop: int, epoch: int | None = None):
    """Journal entries seq start..stop-1 with small deposit commands."""
    from engine.store.store import JournalEntry

    return [JournalEntry(s, 1_000 + s, "deposit", {"type": "deposit", "account": f"a{s % 7}",
                                                   "amount": "1.5", "ts": 1_000 + s, "seq": s},
                         "ok" if s % 5 else "rejected:insufficient", epoch)
            for s in range(start, stop)]
