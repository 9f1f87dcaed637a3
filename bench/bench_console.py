"""Console under load: key press -> effect on screen, and memory over simulated time.

    python bench/bench_console.py [--accounts 2000] [--minutes 10]

The simulated market runs flat out in the app's market worker (>= 5,000
commands/s), a cascade liquidates about 2,000 leveraged accounts, and the
console is driven headlessly with Textual's pilot. Prints figures; no pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import statistics
import time


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def run(accounts: int, pairs: int, minutes: float, samples: int, speed: float) -> None:
    import os
    import tempfile

    # the live console is durable: keep the bench's database out of the real home
    os.environ.setdefault("PERPDESK_HOME", tempfile.mkdtemp(prefix="perpdesk-bench-"))
    from console.factory import leveraged_pairs, make_app, oracle_shock
    from console.screens.brake import BrakeModal
    from console.screens.dashboard import DashboardScreen
    from console.screens.liquidations import LiquidationsScreen

    t = time.perf_counter()
    app = make_app(seed=11, frozen=False, accounts=accounts, incident=False, refresh_s=0.25,
                   sim_speed=speed, sim_steps_per_batch=20)
    desk = app.desk
    leveraged_pairs(desk, pairs)  # 2 x pairs thin-margin accounts
    # the cascade is the load under test: the BTC circuit breaker (500 accounts, half the open interest)
    # would stop it at once, so its limits are off here (the guard rails themselves stay on)
    desk.system({"type": "set_market_params", "market": "BTC-USD-PERP", "breaker_accounts": 0,
                 "breaker_oi_share": "0", "reason": "bench: a 2,000-account cascade is the load"})
    print(f"setup: {accounts} accounts + {2 * pairs} leveraged, {time.perf_counter() - t:.1f}s")
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.pause(2.0)
        seq0, t0 = app.gateway.status()["seq"], time.perf_counter()
        await pilot.pause(3.0)
        rate = (app.gateway.status()["seq"] - seq0) / (time.perf_counter() - t0)
        print(f"market load: {rate:,.0f} commands/s through the sequencer while the console renders")

        # the cascade
        liq0 = app.feed.counters()["liquidations"]
        t = time.perf_counter()
        oracle_shock(desk, "BTC-USD-PERP", -400)
        await pilot.pause(0.5)
        print(f"cascade: {app.feed.counters()['liquidations'] - liq0:,} liquidations "
              f"in {time.perf_counter() - t:.2f}s (shock -4% on BTC)")

        async def measure(key: str, done) -> float:
            t = time.perf_counter()
            await pilot.press(key)
            while not done():
                await asyncio.sleep(0.001)
            await pilot.pause(0)  # the frame after the change
            return (time.perf_counter() - t) * 1000

        lat: dict[str, list[float]] = {"l (go to liquidations)": [], "d (go to dashboard)": [],
                                       "ctrl+b (brake preview modal)": [], "n (dismiss modal)": []}
        for _ in range(samples):
            lat["l (go to liquidations)"].append(await measure("l", lambda: isinstance(app.screen, LiquidationsScreen)))
            lat["d (go to dashboard)"].append(await measure("d", lambda: isinstance(app.screen, DashboardScreen)))
            lat["ctrl+b (brake preview modal)"].append(await measure("ctrl+b", lambda: isinstance(app.screen, BrakeModal)))
            lat["n (dismiss modal)"].append(await measure("n", lambda: not isinstance(app.screen, BrakeModal)))
        allv = [v for vs in lat.values() for v in vs]
        print(f"\nkey press -> effect on screen under load ({samples} samples per key):")
        for k, vs in lat.items():
            print(f"  {k:32s} p50 {statistics.median(vs):6.1f} ms   p95 {pct(vs, 95):6.1f} ms   max {max(vs):6.1f} ms")
        print(f"  {'all keys':32s} p50 {statistics.median(allv):6.1f} ms   p95 {pct(allv, 95):6.1f} ms"
              f"   (target p95 < 100 ms)")

        # memory over simulated time (engine time advances 100 ms per simulator step)
        print("\nmemory over simulated time (RSS; the node's in-memory journal is the engine's, not the console's):")
        await pilot.press("l")
        start_step = desk.sim.step_no
        marks = [m / 10 * minutes for m in range(1, 11)] if minutes >= 1 else [minutes]
        wall = time.perf_counter()
        for m in marks:
            while (desk.sim.step_no - start_step) * 0.1 / 60 < m:
                await pilot.pause(0.25)
            gc.collect()
            feed = app.feed
            screen_rows = app.screen.query_one("DataTable").row_count if isinstance(app.screen, LiquidationsScreen) else -1
            print(f"  {m:5.1f} sim-min  RSS {rss_mb():7.1f} MB   journal {len(app.node.journal):>9,} cmds   "
                  f"feed: {len(feed.liqs)} liq rows, {sum(len(d) for d in feed.marks.values())} marks, "
                  f"{len(feed.alerts)} alerts   liq table {screen_rows} rows   renders {app.renders:,}"
                  f"   ({time.perf_counter() - wall:.0f}s wall)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--pairs", type=int, default=2000, help="leveraged long/short pairs (longs liquidate)")
    p.add_argument("--minutes", type=float, default=10.0, help="simulated minutes for the memory run")
    p.add_argument("--samples", type=int, default=40)
    p.add_argument("--speed", type=float, default=20.0,
                   help="simulated market speed (x real time): 20 gives ~6,000 commands/s; 1e6 runs flat out")
    a = p.parse_args()
    asyncio.run(run(a.accounts, a.pairs, a.minutes, a.samples, a.speed))


if __name__ == "__main__":
    main()
