"""One sequencer per database: the node's lease and its fencing token (leader epoch).

The lease
    A running node holds a lease on its database for its whole life:

    * SQLite: an exclusive ``flock`` on ``FILE.lease`` beside the database (0600; a separate file,
      never the database itself: closing any descriptor of the database would drop the process's
      POSIX locks on it, see ``engine/store/connect.py``). The holder's identity is written into the file.
    * PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) on a connection the node
      keeps open (per database: advisory locks are scoped to the current database).

    Either way the holder (host, pid, since, epoch) is also recorded in the ``lease_holder`` meta
    row. A second node on the same database is refused at start with :class:`LeaseHeldError`,
    which names the holder. The lock goes with the process (exit, crash, SIGKILL, or a lost
    PostgreSQL session), so a dead node never blocks the next one.

The fencing token
    Each node that takes the lease bumps ``leader_epoch`` in the meta table (in the same
    transaction that records it as holder) and checks it in the same transaction as every journal
    append (:meth:`engine.store.store.Store.append_journal`, in the node and in its journal writer
    process). A node whose epoch was superseded (it was stopped, its lease lost and another node
    took over) can never append: its append raises :class:`engine.store.store.FencedError` and the node
    stops taking commands (code ``fenced``).
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import orjson

#: the advisory lock key of the sequencer's lease (per PostgreSQL database)
PG_LEASE_KEY = 7074726564650001


def holder_identity(epoch: int = 0) -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time_ns() // 1_000_000,
            "epoch": epoch}


def describe(holder: dict | None) -> str:
    if not holder:
        return "another process (it recorded no identity)"
    since = holder.get("since")
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(since / 1000)) if isinstance(since, int) else "?"
    return f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')} since {when} " \
           f"(leader epoch {holder.get('epoch', '?')})"


def lease_path_for(store) -> Path | None:
    """``FILE.lease`` beside a SQLite file; None for PostgreSQL or an in-memory database."""
    if store.backend != "sqlite":
        return None
    db = store.url.database or ""
    if db in ("", ":memory:") or db.startswith("file::memory:") or "mode=memory" in db:
        return None
    return Path(db + ".lease")


class Lease:
    """The lease a node holds on its store (:func:`acquire`); :meth:`release` when the node closes."""

    def __init__(self, store, holder: dict, fd: int | None = None, conn=None, path: Path | None = None) -> None:
        self.store = store
        self.holder = holder
        self.epoch: int = int(holder.get("epoch", 0))
        self._fd = fd
        self._conn = conn
        self.path = path

    @property
    def kind(self) -> str:
        return "flock" if self._fd is not None else "advisory" if self._conn is not None else "none"

    def _write_file(self) -> None:
        if self._fd is None:
            return
        data = orjson.dumps(self.holder) + b"\n"
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        """Give the lease up (idempotent). The epoch stays in the database: the next holder bumps it."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            os.close(fd)  # closing the descriptor releases the flock
        conn, self._conn = self._conn, None
        if conn is not None:
            from sqlalchemy import text

            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LEASE_KEY})
            except Exception:  # the session is gone: so is its lock
                pass
            try:
                conn.close()
            except Exception:
                pass


def acquire(store) -> Lease:
    """Take the lease on ``store`` and bump its leader epoch; raise LeaseHeldError naming the holder.

    Also sets ``store.fence`` to the new epoch: from now on every journal append through this store
    (and through a writer process given its config) checks it."""
    from .errors import LeaseHeldError, StoreError

    path = lease_path_for(store)
    fd = conn = None
    if path is not None:
        import fcntl

        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # (not inherited by child processes)
        except OSError as e:
            raise StoreError(f"cannot open the lease file {path}: {e.strerror}. Check the directory's "
                             f"permissions.") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_holder_file(fd) or _meta_holder(store)
            os.close(fd)
            raise LeaseHeldError(store.where, holder) from None
    elif store.backend == "postgresql":
        from sqlalchemy import text

        conn = store.lease_connection()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": PG_LEASE_KEY}).scalar()
        except Exception as e:
            conn.close()
            raise StoreError(f"taking the sequencer lease on {store.where} failed: {e}") from None
        if not got:
            conn.close()
            raise LeaseHeldError(store.where, _meta_holder(store))
    lease = Lease(store, holder_identity(), fd=fd, conn=conn, path=path)
    try:
        lease.epoch = store.take_leadership(lease.holder)
        lease.holder["epoch"] = lease.epoch
        lease._write_file()
    except BaseException:
        lease.release()
        raise
    return lease


def _read_holder_file(fd: int) -> dict | None:
    try:
        data = os.pread(fd, 4096, 0)
        doc = orjson.loads(data) if data.strip() else None
    except (OSError, orjson.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def _meta_holder(store) -> dict | None:
    try:
        raw = store.meta().get("lease_holder")
        doc = orjson.loads(raw) if raw else None
    except Exception:
        return None
    return doc if isinstance(doc, dict) else None
