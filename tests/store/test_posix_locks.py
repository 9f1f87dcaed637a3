"""A second Store on a database file must not make a running writer's commits disappear.

POSIX (fcntl) locks belong to the process and are all dropped when the process closes ANY file
descriptor of the file. The store's opening check once read the SQLite header with open()/close():
in a node's process (a second Store: a reader, a test) that dropped the shared locks of the node's
own connections, so a connection closing in another process (the journal writer process's opening
check) believed it was the last one, checkpointed and deleted the WAL under the node, and every
later commit of the node landed in the unlinked WAL (test_pipeline's "seq 18213 does not follow
the journal's last seq 14116" flake).
"""

from __future__ import annotations

import subprocess
import sys

from engine.store.store import JournalEntry, Store


def test_opening_a_second_store_in_the_process_keeps_the_writers_commits_visible(tmp_path):
    path = tmp_path / "locks.db"
    url = f"sqlite:///{path}"
    writer = Store.open(url, key=None)
    writer.append_journal([JournalEntry(1, 1, "tick", {"type": "tick", "ts": 1})])
    assert writer.last_seq() == 1  # its pooled connections are open (and hold their locks)
    reader = Store.open(url, key=None)  # the opening check runs in the writer's process
    # another process opens and closes a connection (as the journal writer process's check does)
    code = f"import sqlite3; c = sqlite3.connect({str(path)!r}); c.execute('select 1').fetchall(); c.close()"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    writer.append_journal([JournalEntry(2, 2, "tick", {"type": "tick", "ts": 2})])
    code = (f"import sqlite3; c = sqlite3.connect({str(path)!r}); "
            f"print(c.execute('select max(seq) from journal').fetchone()[0])")
    seen = subprocess.run([sys.executable, "-c", code], check=True, timeout=60, capture_output=True, text=True)
    assert seen.stdout.strip() == "2"  # another process sees the commit (old code: 1, the WAL was deleted)
    assert (tmp_path / "locks.db-wal").exists()
    reader.close()
    writer.close()
