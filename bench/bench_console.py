"""Console under load: key press -> effect on screen, and memory over simulated time.

    python bench/bench_console.py [--accounts 2000] [--minutes 10]

The simulated market runs in the venue process (``bench/venue_proc.py``: the venue service, the
console attached over its HTTP API on a Unix socket) (>= 5,000 commands/s at the
default speed on a quiet machine), a cascade liquidates about 2,000 leveraged
accounts, and the console is driven headlessly. Prints figures; no pass/fail.

Key latency: the key event enters the driver's queue as a terminal's bytes
would; the clock stops at the first FULL frame (every cell of the screen) of
the new screen that reaches the driver, after encoding it into the escape
sequences a terminal receives (the headless driver skips that step, the bench
does it). A frame dropped because updates were batched, or a partial frame
that repaints only some regions, does not count. Also printed: when the brake
dialog's preview (read off the UI thread) is on screen, and how old the data
on the first frame is (frame time minus when that data was read).
BENCH_PROFILE=file [BENCH_PROFILE_KEY=l] profiles the UI thread while keys are
measured (BENCH_PROFILE_FIRST=1: during the first visits to each screen instead); BENCH_REFRESH_S sets the console's refresh interval (0.25 s).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import statistics
import time


def rss_mb(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def run(accounts: int, pairs: int, minutes: float, samples: int, speed: float, in_process: bool) -> None:
    import tempfile

    # the live console is durable: keep the bench's database out of the real home
    os.environ.setdefault("PERPDESK_HOME", tempfile.mkdtemp(prefix="perpdesk-bench-"))
    from console.factory import leveraged_pairs, make_app, oracle_shock
    from console.modals.brake import BrakeModal
    from console.screens.dashboard import DashboardScreen
    from console.screens.liquidations import LiquidationsScreen

    t = time.perf_counter()
    venue_proc = None
    if in_process:
        app = make_app(seed=11, frozen=False, accounts=accounts, incident=False,
                       refresh_s=float(os.environ.get("BENCH_REFRESH_S", "0.25")),
                       sim_speed=speed, sim_steps_per_batch=20, in_process=True)
    else:  # the venue service in its own process (bench/venue_proc.py), the console attached over its API
        venue_proc, url, token = start_venue(accounts, speed)
        app = make_app(frozen=False, venue_url=url, token=token,
                       refresh_s=float(os.environ.get("BENCH_REFRESH_S", "0.25")))
    if app.venue is not None:
        v = app.venue.venue
        venue_pid = venue_proc.pid
        step_no, seq = v.sim_step_no, v.journal_len

        def drill(line: str) -> None:
            venue_proc.stdin.write(line + "\n")
            venue_proc.stdin.flush()
            assert venue_proc.stdout.readline().strip() == "ok"

        def add_pairs(n):
            drill(f"pairs {n}")

        def shock(market, bps):
            drill(f"shock {market} {bps}")

        def system(_cmd):
            drill("breaker_off")
    else:
        desk = app.desk
        venue_pid = None

        def add_pairs(n):
            leveraged_pairs(desk, n)

        def shock(market, bps):
            oracle_shock(desk, market, bps)

        def step_no():
            return desk.sim.step_no

        def seq():
            return desk.node.engine.seq

        system = desk.system
    print("venue: " + (f"its own process (pid {venue_pid})" if venue_pid else "in the console process"))
    add_pairs(pairs)  # 2 x pairs thin-margin accounts
    # the cascade is the load under test: the BTC circuit breaker (500 accounts, half the open interest)
    # would stop it at once, so its limits are off here (the guard rails themselves stay on)
    system({"type": "set_market_params", "market": "BTC-USD-PERP", "breaker_accounts": 0,
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
        shock("BTC-USD-PERP", -400)
        await pilot.pause(0.5)
        print(f"cascade: {app.feed.counters()['liquidations'] - liq0:,} liquidations "
              f"in {time.perf_counter() - t:.2f}s (shock -4% on BTC)")

        # Key -> effect on screen, measured the way a terminal sees it: the key event goes into the
        # driver's queue exactly as a real terminal's bytes would (pilot.press would add its own
        # waits for a CPU-idle process, which a live venue never is), and the clock stops when the
        # first frame showing the effect has been turned into the bytes a terminal driver writes.
        # Only frames that reach the driver count: App._display drops a frame composed while updates
        # are batched (Textual's switch_mode batches for 50 ms), and the headless driver skips
        # encoding the frame, so the bench encodes it here as the real driver would. And only a full
        # frame (LayoutUpdate: every cell of the screen) counts as the new screen being on screen: a
        # partial frame (ChopsUpdate) repaints some regions and leaves the rest of the old screen.
        from textual import events
        from textual._compositor import CompositorUpdate, LayoutUpdate

        frames: list[tuple[float, object, bool, float | None, bool]] = []  # frames written (.., full)
        orig_display = app._display

        def display(screen, renderable):
            written = renderable is not None and not app._batch_count and app._running and not app._closed
            result = orig_display(screen, renderable)
            if written:
                if isinstance(renderable, CompositorUpdate):
                    renderable.render_segments(app.console)  # the escape sequences a terminal receives
                loaded = getattr(screen, "data", True) is not None  # the brake modal: its preview arrived
                frames.append((time.perf_counter(), screen, loaded, getattr(screen, "shown_vm_at", None),
                               isinstance(renderable, LayoutUpdate)))
            return result

        app._display = display

        switched: dict[str, list[float]] = {"l": [], "d": [], "ctrl+b": [], "escape": []}
        ages: dict[str, list[float]] = {"l": [], "d": [], "escape": []}
        preview: list[float] = []

        only = os.environ.get("BENCH_PROFILE_KEY")
        prof = None
        if os.environ.get("BENCH_PROFILE"):  # profile the UI thread (the event loop)
            import cProfile

            prof = cProfile.Profile()

        async def measure(key: str, done, loaded: bool = False) -> float:
            """ms from the key event to the first frame written for the screen ``done`` accepts
            (``loaded``: a frame whose screen has its data, i.e. the brake preview filled in)."""
            if only and prof is not None:
                (prof.enable if key == only else prof.disable)()
            frames.clear()
            t = time.perf_counter()
            char = {"ctrl+b": None, "escape": "\x1b"}.get(key, key)
            app._driver.send_message(events.Key(key, char))
            t_done = None
            first = None
            while True:
                await asyncio.sleep(0.0005)
                if done():
                    if t_done is None:
                        t_done = time.perf_counter()
                        switched.setdefault(key, []).append((t_done - t) * 1000)
                    scr = app.screen
                    if first is None:
                        hit = [f for f in frames if f[1] is scr and f[4]]  # the new screen, all of it
                        if hit:
                            first = hit[0]
                            if key in ages and first[3] is not None:  # how old the data on that frame is
                                ages[key].append((first[0] - first[3]) * 1000)
                    if not loaded and first is not None:
                        return (first[0] - t) * 1000
                    if loaded and first is not None:  # then a frame (full or partial) showing the preview
                        filled = [f for f in frames if f[1] is scr and f[2] and f[0] >= first[0]]
                        if filled:
                            preview.append((filled[0][0] - t) * 1000)
                            return (first[0] - t) * 1000
                if time.perf_counter() - t > 10:
                    raise RuntimeError(f"{key}: no effect on screen within 10 s")

        # first visit to every screen (its screen is composed for the first time unless prebuilt)
        first_visit: dict[str, float] = {}
        if prof is not None and not only and os.environ.get("BENCH_PROFILE_FIRST"):
            prof.enable()
        for key, mode in (("l", "liquidations"), ("m", "maintenance"), ("s", "snapshots"), ("r", "refunds"),
                          ("a", "audit"), ("c", "accounts"), ("t", "alerts")):
            cls = app.MODES[mode]
            await asyncio.sleep(0.3)
            first_visit[mode] = await measure(key, lambda cls=cls: isinstance(app.screen, cls))
            await asyncio.sleep(0.3)
            await measure("d", lambda: isinstance(app.screen, DashboardScreen))
        print("\nfirst visit to each screen under load (key -> first full frame of it): "
              + ", ".join(f"{k} {v:.0f} ms" for k, v in first_visit.items())
              + f"   max {max(first_visit.values()):.0f} ms (target < 150 ms)")
        for v in switched.values():
            v.clear()
        if prof is not None and os.environ.get("BENCH_PROFILE_FIRST"):  # the first visits only (with _KEY: one)
            prof.disable()
            prof.dump_stats(os.environ["BENCH_PROFILE"])
            prof = None

        lat: dict[str, list[float]] = {"l (go to liquidations)": [], "d (go to dashboard)": [],
                                       "ctrl+b (brake preview modal)": [], "esc (dismiss modal)": []}
        if prof is not None and not only:  # profile the UI thread while keys are measured
            prof.enable()
        for _ in range(samples):
            await asyncio.sleep(0.2)  # an operator does not press keys 1 ms apart
            lat["l (go to liquidations)"].append(await measure("l", lambda: isinstance(app.screen, LiquidationsScreen)))
            await asyncio.sleep(0.2)
            lat["d (go to dashboard)"].append(await measure("d", lambda: isinstance(app.screen, DashboardScreen)))
            await asyncio.sleep(0.2)
            lat["ctrl+b (brake preview modal)"].append(
                await measure("ctrl+b", lambda: isinstance(app.screen, BrakeModal), loaded=True))
            await asyncio.sleep(0.2)
            lat["esc (dismiss modal)"].append(await measure("escape", lambda: not isinstance(app.screen, BrakeModal)))
        if prof is not None:
            prof.disable()
            prof.dump_stats(os.environ["BENCH_PROFILE"])
        allv = [v for vs in lat.values() for v in vs]
        print("  (of which: until the app had switched screens: "
              + ", ".join(f"{k} p50 {statistics.median(v):.0f} ms" for k, v in switched.items() if v)
              + "; the rest is composing the first frame)")
        print(f"\nkey press -> effect on screen under load ({samples} samples per key):")
        for k, vs in lat.items():
            print(f"  {k:32s} p50 {statistics.median(vs):6.1f} ms   p95 {pct(vs, 95):6.1f} ms   max {max(vs):6.1f} ms")
        print(f"  {'all keys':32s} p50 {statistics.median(allv):6.1f} ms   p95 {pct(allv, 95):6.1f} ms"
              f"   (target p95 < 100 ms)")
        print(f"  {'  ctrl+b: the preview filled in':32s} p50 {statistics.median(preview):6.1f} ms   "
              f"p95 {pct(preview, 95):6.1f} ms   max {max(preview):6.1f} ms   (read from the venue off the UI thread)")
        for k, vs in ages.items():
            if vs:
                print(f"  {'  ' + k + ': age of the data shown':32s} p50 {statistics.median(vs):6.1f} ms   "
                      f"p95 {pct(vs, 95):6.1f} ms   max {max(vs):6.1f} ms   (frame time - when it was read)")

        # memory over simulated time (engine time advances 100 ms per simulator step)
        print("\nmemory over simulated time (RSS; the node's in-memory journal is the engine's, not the console's):")
        await pilot.press("l")
        start_step = step_no()
        marks = [m / 10 * minutes for m in range(1, 11)] if minutes >= 1 else [minutes]
        wall = time.perf_counter()
        for m in marks:
            while (step_no() - start_step) * 0.1 / 60 < m:
                await pilot.pause(0.25)
            gc.collect()
            fs = app.feed.sizes()
            screen_rows = app.screen.query_one("#liq-table").row_count if isinstance(app.screen, LiquidationsScreen) else -1
            venue_rss = f"   venue RSS {rss_mb(venue_pid):7.1f} MB" if venue_pid else ""
            print(f"  {m:5.1f} sim-min  console RSS {rss_mb():7.1f} MB{venue_rss}   engine seq {seq():>9,}   "
                  f"feed: {fs['liq_rows']} liq rows, {fs['marks']} marks, "
                  f"{fs['alerts']} alerts   liq table {screen_rows} rows   renders {app.renders:,}"
                  f"   ({time.perf_counter() - wall:.0f}s wall)")
    if venue_proc is not None:
        stop_venue(venue_proc)


def stop_venue(proc) -> None:
    try:
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        proc.wait(60)
    except Exception:
        proc.kill()


def start_venue(accounts: int, speed: float, steps_per_batch: int = 20, extra: tuple = ()):
    """``bench/venue_proc.py`` in its own process on a Unix socket: (process, url, token)."""
    import subprocess
    import sys
    import tempfile

    sock = os.path.join(tempfile.mkdtemp(prefix="pdb-", dir="/tmp"), "v.sock")
    proc = subprocess.Popen([sys.executable, "-m", "bench.venue_proc", sock, "--accounts", str(accounts),
                             "--speed", str(speed), "--steps-per-batch", str(steps_per_batch), *extra],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    if not line or line[0] != "ready":
        raise RuntimeError(f"the bench venue did not start: {line}")
    return proc, f"unix:{sock}", line[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--pairs", type=int, default=2000, help="leveraged long/short pairs (longs liquidate)")
    p.add_argument("--minutes", type=float, default=10.0, help="simulated minutes for the memory run")
    p.add_argument("--samples", type=int, default=40)
    p.add_argument("--speed", type=float, default=20.0,
                   help="simulated market speed (x real time): 20 gives ~6,000 commands/s; 1e6 runs flat out")
    p.add_argument("--in-process", action="store_true",
                   help="run the node and market in the console's process (the old layout), for comparison")
    a = p.parse_args()
    asyncio.run(run(a.accounts, a.pairs, a.minutes, a.samples, a.speed, a.in_process))


if __name__ == "__main__":
    main()
