"""Failover on PostgreSQL: a leader killed under load, a hot standby takes over (engine/node/standby.py).

    python -m bench.bench_failover [--kills 20] [--commands 20000]

1. ``--kills`` rounds: the leader (a bench/failover_worker.py process, commands acknowledged one by
   one) runs under load with a standby following it; the leader is SIGKILLed; the failover time is
   from the kill to the first command the standby served as the new leader (both stamps on the
   system-wide monotonic clock). A new standby is started for the next round. p50 / p95 / max.
2. The durable node's throughput on PostgreSQL with the lease and fencing in place, with the journal
   NOTIFY (one per write batch, in the head update's statement) and without it (``Store.notify``
   off): ``--commands`` commands submitted at once, from the first submit to the last acknowledgement,
   the best of three each, interleaved.

PostgreSQL comes from ``PERPDESK_TEST_PG_URL`` or is started (and stopped) with ``.ci/postgres.sh``.
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / ".ci" / "postgres.sh"


class Proc:
    def __init__(self, url: str, env: dict) -> None:
        self.p = subprocess.Popen([sys.executable, "-m", "bench.failover_worker", url], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
        self.q: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.p.stdout:
            self.q.put(orjson.loads(line))
        self.q.put({"ev": "eof"})

    def expect(self, ev: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            obj = self.q.get(timeout=max(0.01, deadline - time.monotonic()))
            if obj["ev"] == ev:
                return obj
            if obj["ev"] == "eof":
                raise RuntimeError(f"worker {self.p.pid} ended before {ev!r}")

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def new_db(server: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"perpdesk_b_{uuid.uuid4().hex[:10]}"
    eng = create_engine(server, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def failovers(server: str, kills: int, load_s: float) -> list[float]:
    url = new_db(server)
    home = tempfile.mkdtemp(prefix="perpdesk-failover-")
    env = {**os.environ, "PYTHONPATH": str(REPO), "PERPDESK_HOME": home,
           "PERPDESK_JOURNAL_KEY": os.environ.get("PERPDESK_JOURNAL_KEY") or uuid.uuid4().hex}
    leader = Proc(url, env)
    leader.expect("served")
    times: list[float] = []
    try:
        for k in range(kills):
            standby = Proc(url, env)
            standby.expect("following")
            time.sleep(load_s)  # the leader under its steady load, the standby following
            t_kill = time.monotonic()
            leader.kill()
            took = standby.expect("leader", 60)
            served = standby.expect("served", 60)
            dt = served["t"] - t_kill
            times.append(dt)
            print(f"  kill {k + 1:2d}: served {dt * 1000:7.1f} ms after the kill (epoch {took['epoch']}, "
                  f"seq {took['seq']:,})", flush=True)
            leader = standby
    finally:
        leader.kill()
    return times


def throughput(server: str, n: int, notify: bool) -> float:
    from engine.core.markets import default_market_commands
    from engine.node.node import Node
    from engine.node.roles import SYSTEM, Actor

    from .failover_worker import command

    admin = Actor("bench", "admin")
    node = Node.open(new_db(server), actor=admin, snapshot_every=0)
    try:
        node.store.notify = notify  # (before start: the journal writer process is given it too)
        node.start()
        for c in default_market_commands(1):
            node.call(c, actor=admin)
        for name in ("alice", "bob"):
            node.call({"type": "deposit", "account": name, "amount": "1000000"}, actor=SYSTEM)
        cmds = [command(i, "t") for i in range(n)]
        t0 = time.perf_counter()
        futs = [node.submit(c, actor=SYSTEM) for c in cmds]
        futs[-1].result(600)
        dt = time.perf_counter() - t0
        assert all(f.done() for f in futs)
        return n / dt
    finally:
        node.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_failover")
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--load-s", type=float, default=1.0, help="seconds of load before each kill")
    ap.add_argument("--commands", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3, help="throughput runs of each kind (best taken)")
    ap.add_argument("--skip-throughput", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("PERPDESK_HOME", tempfile.mkdtemp(prefix="perpdesk-bench-"))
    server = os.environ.get("PERPDESK_TEST_PG_URL", "").strip()
    started = None
    if not server:
        proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=300)
        exports = dict(line.removeprefix("export ").split("=", 1)
                       for line in proc.stdout.splitlines() if line.startswith("export "))
        server, started = exports.get("PERPDESK_TEST_PG_URL", ""), exports.get("PERPDESK_TEST_PG_DIR")
        if not server:
            print(f"no PostgreSQL: {proc.stderr.strip()[-300:]}", file=sys.stderr)
            return 2
    try:
        if args.kills > 0:
            print(f"failover: {args.kills} kills of the leader under load ({args.load_s:g} s of load each)")
            times = failovers(server, args.kills, args.load_s)
            q = statistics.quantiles(times, n=20, method="inclusive") if len(times) > 1 else times * 19
            print(f"failover (kill -> first command served): p50 {statistics.median(times) * 1000:.0f} ms, "
                  f"p95 {q[18] * 1000:.0f} ms, max {max(times) * 1000:.0f} ms over {len(times)} kills "
                  f"(target p95 < 5000 ms)")
        if not args.skip_throughput:
            on: list[float] = []
            off: list[float] = []
            for _ in range(args.rounds):
                off.append(throughput(server, args.commands, notify=False))
                on.append(throughput(server, args.commands, notify=True))
            print(f"durable node on PostgreSQL, lease + fencing, {args.commands:,} commands: "
                  f"with NOTIFY {max(on):,.0f} cmd/s, without {max(off):,.0f} cmd/s "
                  f"({(max(on) / max(off) - 1) * 100:+.1f}%)")
    finally:
        if started:
            subprocess.run(["bash", str(SCRIPT), "--stop", started], capture_output=True, timeout=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
