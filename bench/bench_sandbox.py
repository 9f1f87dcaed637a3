"""How calm is the default sandbox? The console's default desk (``perpdesk`` with no flags: seed 7,
200 accounts, the live desk's leveraged pairs) driven headless on a frozen clock for N simulated
minutes: each market's price range and the liquidations.

    python bench/bench_sandbox.py [--minutes 10] [--seed 7] [--accounts 200]

Prints figures; no pass/fail (tests/engine/test_sim_calm.py holds the bounds).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def measure(minutes: int = 10, seed: int = 7, accounts: int = 200) -> dict:
    from console import factory
    from console.factory import STEP_MS, build_desk, leveraged_pairs

    desk = build_desk(seed, accounts, frozen=True, warmup_steps=0, incident=False)
    ladder = getattr(factory, "live_leveraged_ladder", None)  # what a live default desk opens at start
    ladder(desk) if ladder is not None else leveraged_pairs(desk, 40)
    liqs: list[dict] = []
    desk.node.subscribe(lambda evs: liqs.extend(e for e in evs if e["type"] == "liquidation"))
    lo = {m.name: m.price for m in desk.sim.markets}
    hi = dict(lo)
    first = dict(lo)
    steps = minutes * 60_000 // STEP_MS
    for _ in range(steps // 10):
        desk.drive(10)
        for m in desk.sim.markets:
            lo[m.name] = min(lo[m.name], m.price)
            hi[m.name] = max(hi[m.name], m.price)
    out = {"minutes": minutes, "liquidations": len(liqs), "accounts_liquidated": len({e["account"] for e in liqs}),
           "markets": {m: {"start": first[m] / 1e6, "low": lo[m] / 1e6, "high": hi[m] / 1e6,
                           "range_pct": round((hi[m] - lo[m]) * 100 / first[m], 2)} for m in first}}
    desk.node.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--accounts", type=int, default=200)
    a = ap.parse_args()
    t0 = time.perf_counter()
    r = measure(a.minutes, a.seed, a.accounts)
    print(f"default sandbox, seed {a.seed}, {a.accounts} accounts, {r['minutes']} simulated minutes "
          f"({time.perf_counter() - t0:.1f} s):")
    for m, v in r["markets"].items():
        print(f"  {m:<14} {v['start']:>10,.2f} -> low {v['low']:>10,.2f} high {v['high']:>10,.2f}  "
              f"range {v['range_pct']:.2f}%")
    print(f"  liquidations: {r['liquidations']} ({r['accounts_liquidated']} accounts)")


if __name__ == "__main__":
    main()
