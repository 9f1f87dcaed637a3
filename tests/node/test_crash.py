"""A node killed with SIGKILL in the middle of a write burst loses nothing it acknowledged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from engine.core.checks import run_checks
from engine.node.node import Node
from engine.node.roles import SYSTEM
from engine.tools.verify import verify_store

CHILD = textwrap.dedent(
    """
    import sys
    from engine.node.node import Node
    from engine.node.roles import SYSTEM
    from engine.core.markets import default_market_commands
    node = Node.open(sys.argv[1], snapshot_every=3000).start()
    for c in default_market_commands(1):
        node.call(c)
    def ack(f, i):
        r = f.result()
        sys.stdout.write(f"ack {r.seq} {i}\\n")
        sys.stdout.flush()
    i = 0
    while True:  # a burst that never ends: the parent kills us
        i += 1
        cmd = {"type": "deposit", "account": f"acct{i % 500}", "amount": f"{i}.5"}
        if i % 3 == 0:
            cmd = {"type": "place_order", "account": f"acct{i % 500}", "market": "ETH-USD-PERP",
                   "side": "buy" if i % 2 else "sell", "size": "0.01", "price": f"{3300 + i % 50}"}
        node.submit(cmd, SYSTEM).add_done_callback(lambda f, i=i: ack(f, i))
        if i % 500 == 0:
            import time; time.sleep(0.001)  # (the point: a paced burst, so the kill lands mid-burst)
    """
)


def test_sigkill_mid_burst_loses_no_acknowledged_command(tmp_path, home):
    db = f"sqlite:///{tmp_path / 'crash.db'}"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, db], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    acked: dict[int, int] = {}
    deadline = time.monotonic() + 60
    try:
        while len(acked) < 6000 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            _, seq, i = line.split()
            acked[int(seq)] = int(i)
        os.kill(proc.pid, signal.SIGKILL)  # mid-burst: commands are queued and being written
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) >= 6000, "the child did not acknowledge enough commands before the deadline"

    node = Node.open(db)
    try:
        assert node.engine.seq >= max(acked)
        rows = {r.seq: r for r in node.store.iter_journal()}
        for seq, i in acked.items():  # every acknowledged command is in the journal, as sent
            cmd = rows[seq].command
            assert cmd["account"] == f"acct{i % 500}"
        assert run_checks(node.engine) == []
        assert verify_store(node.store).problems == []
        # and the recovered node carries on
        assert node.call({"type": "deposit", "account": "after", "amount": "1"}, actor=SYSTEM).ok
    finally:
        node.close()
