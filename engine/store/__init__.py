"""Persistence: the SQL store (SQLite/PostgreSQL), the writer lease, the journal trust (chain key, anchor)."""
