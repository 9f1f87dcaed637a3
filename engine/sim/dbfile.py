"""The file a durable scenario run's node writes: a database of the run's own, never another running demo's."""

from __future__ import annotations

import os
from pathlib import Path

from .scenario import ScenarioError


def claim_db(d: Path, stem: str) -> tuple[Path, int]:
    """A database file of a run's own, and the descriptor of its held ``.lock`` (close it when the run ends):
    created exclusively (0600) under the lock.

    ``STEM.db`` is reused only when no other process holds its ``.lock`` (a finished run's
    files are then replaced); otherwise ``STEM-2.db``, ``STEM-3.db``, ...: never a file
    another running demo holds."""
    import fcntl  # (POSIX: imported when a durable run needs it)

    for n in range(1, 1000):
        path = d / (f"{stem}.db" if n == 1 else f"{stem}-{n}.db")
        fd = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # another run holds it
        for suffix in ("", "-wal", "-shm", "-journal", ".anchor"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:  # created between the unlink and here by something else: skip it
            os.close(fd)
            continue
        return path, fd
    raise ScenarioError(stem, [(str(d), "", "no free demo database name (999 runs of this scenario at once?)")])
