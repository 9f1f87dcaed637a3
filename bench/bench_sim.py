"""Simulator and scenario benchmarks: setup at scale, steps per second, a whole scenario.

    python bench/bench_sim.py [--accounts 100000] [--steps 200] [--scenario paradex-2026-01]
                              [--scenario-accounts 2000]

Setup = generating the commands for N accounts (one deposit each, 10% of them as leveraged
long/short pairs with TP/SL) and applying them through an in-memory node (the gateway everyone
uses). Steps = the participants' commands for one step plus a tick, through the node. Then the
scenario runs headlessly end to end (both safeguard settings). Prints figures; no pass/fail.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import engine.store.store  # noqa: E402,F401  (the node imports it on its first batch: keep that one-off out of the figures)
from engine.node.node import Node  # noqa: E402
from engine.node.roles import SYSTEM  # noqa: E402
from engine.sim.runner import ScenarioRun  # noqa: E402
from engine.sim.simulator import Participants, Simulator  # noqa: E402


def bench_setup(accounts: int, steps: int) -> None:
    t0 = time.perf_counter()
    sim = Simulator(seed=1, accounts=accounts, participants=Participants(leveraged_share=0.1))
    cmds = sim.setup_commands(1_000)
    t1 = time.perf_counter()
    node = Node(clock=lambda: 1_000)
    for c in cmds[:-1]:
        node.submit(c, SYSTEM)
    assert node.call(cmds[-1], SYSTEM).ok
    t2 = time.perf_counter()
    eng = node.engine
    with_pos = sum(1 for a in eng.accounts.values() if a.positions)
    print(f"setup, {accounts:,} accounts: {len(cmds):,} commands generated in {t1 - t0:.2f} s, applied through "
          f"the node in {t2 - t1:.2f} s ({len(cmds) / (t2 - t1):,.0f} cmd/s); total {t2 - t0:.2f} s; "
          f"{len(eng.accounts):,} accounts, {with_pos:,} with positions, {len(eng.orders):,} live orders")
    n = 0
    t3 = time.perf_counter()
    ts = 1_000
    for _ in range(steps):
        ts += 1_000
        batch = sim.step(ts) + [{"type": "tick", "ts": ts}]
        for c in batch[:-1]:
            node.submit(c, SYSTEM)
        node.call(batch[-1], SYSTEM)
        n += len(batch)
    dt = time.perf_counter() - t3
    print(f"steps at {accounts:,} accounts: {steps / dt:,.0f} steps/s ({n / dt:,.0f} cmd/s, {n / steps:.1f} commands per step)")


def bench_scenario(name: str, accounts: int) -> None:
    for safeguards in (True, False):
        t0 = time.perf_counter()
        run = ScenarioRun(name, accounts=accounts, safeguards=safeguards)
        rep = run.run()
        run.close()
        dt = time.perf_counter() - t0
        liq = rep["liquidations"]
        print(f"scenario {name}, {accounts:,} accounts, safeguards {'on' if safeguards else 'off'}"
              f"{'' if rep['safeguards']['available'] else ' (not available)'}: {dt:.1f} s, {rep['commands']:,} commands, "
              f"{liq['total']} liquidations ({liq['unintended']} unintended: {liq['by_fault']})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--scenario", default="paradex-2026-01")
    ap.add_argument("--scenario-accounts", type=int, default=2000)
    a = ap.parse_args()
    bench_setup(a.accounts, a.steps)
    if a.scenario:
        bench_scenario(a.scenario, a.scenario_accounts)


if __name__ == "__main__":
    main()
