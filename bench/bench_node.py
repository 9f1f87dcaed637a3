"""Node benchmarks: durable throughput, recovery, rollback preview and rollback.

    python bench/bench_node.py [--ops 200000] [--recovery-commands 1000000] [--accounts 100000]

Targets (issue 3): >= 50,000 durable commands/s end to end through the node on
SQLite with synchronous=FULL and group commit (submitted one command per
``Node.submit`` call from the caller's thread, timed to the last acknowledgement;
printed with the node's journal writer process started with the node, and with the
journal written in-process); recovery of a node with 1,000,000
journaled commands and a recent snapshot < 5 s; rollback preview and rollback
of a 100,000-account state < 2 s each. Prints figures; no pass/fail.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.bench_engine import order_flow_commands  # noqa: E402
from engine.core import Engine, parse_command  # noqa: E402
from engine.node.node import Node  # noqa: E402
from engine.node.roles import SYSTEM, Actor  # noqa: E402

ADMIN = Actor("bench", "admin")


def engine_only_rate(cmds: list[dict]) -> float:
    parsed = [parse_command(c) for c in cmds]
    e = Engine()
    t0 = time.perf_counter()
    for c in parsed:
        e.apply(c)
    return len(parsed) / (time.perf_counter() - t0)


def durable_rate(cmds: list[dict], url: str, writer_process: bool) -> tuple[float, int, int, float]:
    """Submit every command from this thread with ``Node.submit`` (one call per command); the
    clock stops when the last is acknowledged durable. With ``writer_process`` the node starts
    its journal writer process with it and the clock starts once that is up (node startup, like
    recovery, is not in the figure; it is returned). Returns (cmd/s, last seq, batches journaled
    through the writer process, seconds the writer process took to come up)."""
    node = Node.open(url, actor=ADMIN, snapshot_every=0, writer_process=writer_process).start()
    try:
        t0 = time.perf_counter()
        up = node.writer_process_ready(60) if writer_process else False
        warm = time.perf_counter() - t0
        if writer_process and not up:
            print("  (the journal writer process did not come up: journaling in-process)")
        t0 = time.perf_counter()
        futs = [node.submit(c, SYSTEM) for c in cmds]  # the venue's own flow
        last = futs[-1].result(timeout=600)
        dt = time.perf_counter() - t0
        return len(cmds) / dt, last.seq, node.writer_process_batches, warm
    finally:
        node.close()


def bench_throughput(n: int, seed: int, d: str) -> None:
    cmds = order_flow_commands(n, seed)
    for c in cmds:
        c.setdefault("ts", 10)
    rate, last, via, warm = durable_rate(cmds, f"sqlite:///{d}/throughput.db", True)
    size = os.path.getsize(f"{d}/throughput.db") + (os.path.getsize(f"{d}/throughput.db-wal")
                                                   if os.path.exists(f"{d}/throughput.db-wal") else 0)
    one, _, _, _ = durable_rate(cmds, f"sqlite:///{d}/throughput-1p.db", False)
    eng = engine_only_rate(cmds)
    print(f"durable        {len(cmds):>9,} commands through the node (Node.submit, one call per command; SQLite WAL, "
          f"synchronous=FULL, group commit)")
    print(f"  {rate:>12,.0f} cmd/s acknowledged-durable, journal writer process (last seq {last:,}; "
          f"{size / 1e6:.0f} MB on disk; {via} batches through it; it came up in {warm:.2f} s, before the clock)"
          f"  target >= 50,000  ratio {rate / 50_000:.2f}x")
    print(f"  {one:>12,.0f} cmd/s with the journal written in-process (writer_process=False)")
    print(f"  engine alone on the same commands {eng:,.0f} cmd/s: journaling keeps {rate / eng:.0%} of it")


def bench_recovery(n: int, seed: int, d: str) -> None:
    url = f"sqlite:///{d}/recovery.db"
    cmds = order_flow_commands(n, seed)
    for c in cmds:
        c.setdefault("ts", 10)
    node = Node.open(url, actor=ADMIN, snapshot_every=0).start()
    t0 = time.perf_counter()
    tail_from = len(cmds) - 2_000
    futs = []
    for i, c in enumerate(cmds):
        if i == tail_from:
            futs.append(node.submit({"type": "take_snapshot", "label": "recent", "ts": 10}, actor=ADMIN))
        futs.append(node.submit(c, SYSTEM))
    futs[-1].result(timeout=3600)
    build = time.perf_counter() - t0
    seq, h = node.engine.seq, node.engine.state_hash()
    node.close()
    t0 = time.perf_counter()
    again = Node.open(url, actor=ADMIN)
    dt = time.perf_counter() - t0
    same = (again.engine.seq, again.engine.state_hash()) == (seq, h)
    again.close()
    print(f"recovery       {seq:,} journaled commands (built in {build:.0f}s), snapshot 2,000 commands back")
    print(f"  open + recover {dt * 1e3:8.0f} ms   target < 5000 ms; state hash {'matches' if same else 'DIFFERS'}")


def bench_rollback(accounts: int) -> None:
    from bench.bench_engine import build_positions

    t0 = time.perf_counter()
    eng = build_positions(accounts)
    node = Node(engine=eng, actor=ADMIN, snapshot_every=0)
    setup = time.perf_counter() - t0
    snap = node.call({"type": "take_snapshot", "label": "pre-incident", "ts": 100}, actor=ADMIN).events[0]
    # the incident: a bad mark liquidates ~1% of the accounts
    res = node.call({"type": "load_market_state", "market": "BTC-USD-PERP", "mark_price": "9880",
                     "funding_index": "0", "ts": 101}, actor=SYSTEM)
    liqs = sum(1 for e in res.events if e["type"] == "liquidation")
    t0 = time.perf_counter()
    preview = node.rollback_preview(snap["snapshot_id"])
    t_prev = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = node.call({"type": "rollback", "snapshot_id": snap["snapshot_id"], "reason": "bench", "ts": 102},
                    actor=ADMIN)
    t_rb = time.perf_counter() - t0
    ok = out.events[0]["state_hash"] == snap["state_hash"]
    print(f"rollback       {len(eng.accounts):,} accounts (setup {setup:.0f}s); the incident liquidated {liqs:,}")
    print(f"  preview {t_prev * 1e3:8.0f} ms ({preview['totals']['accounts_affected']:,} accounts affected, "
          f"{preview['totals']['liquidations_undone']:,} liquidations undone)   target < 2000 ms")
    print(f"  rollback {t_rb * 1e3:7.0f} ms (restore + verify hash; {'hash matches snapshot' if ok else 'HASH DIFFERS'})"
          f"   target < 2000 ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=200_000)
    ap.add_argument("--recovery-commands", type=int, default=1_000_000)
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--only", nargs="*", choices=["throughput", "recovery", "rollback"])
    a = ap.parse_args()
    only = set(a.only or ["throughput", "recovery", "rollback"])
    with tempfile.TemporaryDirectory() as d:
        if "throughput" in only:
            bench_throughput(a.ops, a.seed, d)
        if "recovery" in only:
            bench_recovery(a.recovery_commands, a.seed, d)
        if "rollback" in only:
            bench_rollback(a.accounts)


if __name__ == "__main__":
    main()
