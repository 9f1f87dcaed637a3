"""The venue as a service: throughput with consoles attached, event lag, key latency over the API.

    python bench/bench_venue.py [--accounts 1000] [--clients 10] [--seconds 6] [--skip-console]

Prints figures and ratios; no pass/fail. The venue runs in its own process (``bench/venue_proc.py``:
the venue service behind its HTTP API on a Unix socket, memory database, simulated market):

1. throughput flat out: the same desk and market with no API (the embedded figure), then the venue
   with its API and no client, then with ``--clients`` clients attached at once (each a presence
   session, the event stream and a reader thread doing a console's refresh reads every 250 ms);
   the ratio to the embedded figure (target within 10%);
2. event lag at ~5,000 commands/s: from the venue's event hub taking a batch (right after the
   sequencer published it) to a client's stream thread receiving it (SSE), p50/p99 (target p99 < 250 ms);
   liquidation cascades and pause/resume pairs make the events;
3. one attached console (PerpdeskApp headless): key press -> full frame (``bench/bench_console.py``'s
   measurement; target p95 < 100 ms).

``--only cache``: the read cache (engine/venue/readcache.py) off and on in one venue, flat out, windows
alternating at the same ages; ``--only cpu``: venue CPU and engine reads per request at one head (cache
off / on, no market, in-process). On a shared 2-core machine the flat-out ratios swing more than the
cache's effect: read them next to the engine-read counts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterator

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.bench_console import pct, start_venue, stop_venue  # noqa: E402


def ask(proc, line: str) -> str:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    return proc.stdout.readline().strip()


def rate(proc, seconds: float) -> float:
    return float(ask(proc, f"rate {seconds}").split()[1])


class Reader(threading.Thread):
    """One attached client: presence + event stream + a console's refresh reads every 250 ms (the
    overview and one screen read)."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        from engine.api.client import VenueClient

        self.client = VenueClient(url, token)
        self.stop = threading.Event()
        self.reads = 0
        self.lags: list[float] = []

    def on_event(self, kind: str, payload: dict) -> None:
        if kind == "events":
            self.lags.append(time.time() * 1000 - payload["at"])

    def run(self) -> None:
        c = self.client
        c.attach(self.on_event)
        gw, feed = c.gateway, c.feed
        while not self.stop.wait(0.25):  # what a console's refresh reads: the overview and a screen's own
            try:
                c.overview(gw.clock())
                feed.liquidations_since(0 if not self.reads else 10**9)
                self.reads += 2
            except Exception:
                pass
        c.close()


def settle(readers: list[Reader], timeout: float = 15.0) -> None:
    """Wait until every reader is attached and has done its first reads: a window measures clients that
    are attached, not their connecting (a token's first check is a ~50 ms scrypt, the stream's connect)."""
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end and any(r.reads == 0 for r in readers):
        time.sleep(0.05)


@contextlib.contextmanager
def attached(url: str, tok: str, clients: int) -> Iterator[list[Reader]]:
    """``clients`` readers attached (and past their first reads) for the block; stopped and joined after."""
    readers = [Reader(url, tok) for _ in range(clients)]
    for r in readers:
        r.start()
    settle(readers)
    try:
        yield readers
    finally:
        for r in readers:
            r.stop.set()
        for r in readers:
            r.join(10)


def throughput(accounts: int, clients: int, seconds: float, rounds: int = 3) -> None:
    """The simulated market's rate drifts as its venue ages (the book and the accounts grow), and the machine
    is shared, so the layouts are measured in alternating windows at the same ages: in one venue process,
    nobody attached / ``clients`` attached / nobody / ...; in another, the embedded desk (no API) at the
    same ages. Each "attached" window is compared with the mean of the "nobody" windows around it."""
    w = seconds / (2 * rounds)
    print(f"1. throughput flat out ({accounts} accounts, memory database, simulator as fast as it goes; "
          f"{2 * rounds} alternating windows of {w:.1f} s)")
    proc, _url, _tok = start_venue(accounts, 1e6, steps_per_batch=20, extra=("--no-api",))
    time.sleep(2.0)
    emb = [rate(proc, w) for _ in range(2 * rounds + 1)]
    stop_venue(proc)
    proc, url, tok = start_venue(accounts, 1e6, steps_per_batch=20)
    time.sleep(2.0)
    alone: list[float] = [rate(proc, w)]
    busy: list[float] = []
    reads = 0
    for _ in range(rounds):
        with attached(url, tok, clients) as readers:
            busy.append(rate(proc, w))
        reads += sum(r.reads for r in readers)
        alone.append(rate(proc, w))
    cache = ask(proc, "cache").split()
    stop_venue(proc)
    ratios = [b / ((alone[i] + alone[i + 1]) / 2) for i, b in enumerate(busy)]
    emb_alone = [emb[i] for i in range(0, 2 * rounds + 1, 2)]
    print(f"   embedded (desk + market, no API):   {statistics.mean(emb):>9,.0f} cmd/s (mean of the windows)")
    print(f"   venue with its API, nobody attached: {statistics.mean(alone):>9,.0f} cmd/s   "
          f"({statistics.mean(alone) / statistics.mean(emb_alone):.2f}x embedded at the same ages)")
    print(f"   venue with {clients} clients attached:   {statistics.mean(busy):>9,.0f} cmd/s   "
          f"(each window vs the venue around it: {', '.join(f'{r:.2f}x' for r in ratios)}; "
          f"mean {statistics.mean(ratios):.2f}x; target >= 0.90)   {reads:,} reads served, every client on "
          f"its event stream")
    if len(cache) == 3:
        hits, misses = int(cache[1]), int(cache[2])
        print(f"   read cache: {hits:,} hits, {misses:,} misses ({hits / max(1, hits + misses):.0%} served without "
              f"an engine read{'' if hits + misses else '; off: PERPDESK_READ_CACHE=0'})")


def cache_ab(accounts: int, clients: int, seconds: float, rounds: int = 3) -> None:
    """The read cache off vs on, in one venue flat out and at the same ages: each round a window with
    nobody attached, then ``clients`` attached with the cache off and on (the order alternating round by
    round); each attached window is compared with the mean of the nobody-attached windows around it."""
    w = seconds / (3 * rounds)
    print(f"1b. the read cache off / on, flat out ({clients} clients, {accounts} accounts; {3 * rounds} windows "
          f"of {w:.1f} s)")
    proc, url, tok = start_venue(accounts, 1e6, steps_per_batch=20)
    time.sleep(2.0)
    alone: list[float] = [rate(proc, w)]
    got: dict[str, list[float]] = {"off": [], "on": []}
    for i in range(rounds):
        with attached(url, tok, clients):
            for mode in (("off", "on") if i % 2 == 0 else ("on", "off")):
                ask(proc, f"cache_{mode}")
                got[mode].append(rate(proc, w))
        alone.append(rate(proc, w))
    cache = ask(proc, "cache").split()
    stop_venue(proc)
    for mode in ("off", "on"):
        ratios = [b / ((alone[i] + alone[i + 1]) / 2) for i, b in enumerate(got[mode])]
        print(f"   cache {mode:3s}: {statistics.mean(got[mode]):>9,.0f} cmd/s with {clients} clients   "
              f"(vs nobody attached around it: {', '.join(f'{r:.2f}x' for r in ratios)}; mean "
              f"{statistics.mean(ratios):.2f}x)")
    print(f"   nobody attached: {statistics.mean(alone):,.0f} cmd/s; read cache {cache[1]} hits, {cache[2]} misses "
          f"while on")


def read_cost(accounts: int, n: int = 2000) -> None:
    """Venue CPU per read at one head (no market: the head stands still), the cache off vs on, in this
    process through the ASGI app (the test client's own cost is in both figures); engine reads counted."""
    from starlette.testclient import TestClient

    from engine.venue.app import create_app
    from engine.venue.service import VenueService

    svc = VenueService(db="memory", accounts=accounts, incident=False, market=False).start()
    tok = svc.operators.add("bench", "viewer")
    node = svc.desk.node
    calls = [0]
    orig = node.read

    def counting(fn, *args, **kwargs):
        calls[0] += 1
        return orig(fn, *args, **kwargs)

    node.read = counting
    print(f"\n4. venue CPU per read at one head ({accounts} accounts, {n} requests each, in-process ASGI)")
    with TestClient(create_app(svc), headers={"Authorization": f"Bearer {tok}"}) as c:
        for path, params in (("/v1/overview", {"now": 0}), ("/v1/markets", {}), ("/v1/book", {"market": "BTC-USD-PERP"}),
                             ("/v1/accounts", {"limit": 500})):
            row = []
            for on in (False, True, False, True):
                svc.reads.enabled = on
                c.get(path, params=params)
                calls[0] = 0
                t = time.process_time()
                for _ in range(n):
                    c.get(path, params=params)
                row.append((on, (time.process_time() - t) / n * 1e6, calls[0] / n))
            off = [us for on, us, _ in row if not on]
            on_ = [us for on, us, _ in row if on]
            print(f"   {path:14s} cache off {statistics.mean(off):7.0f} us/request ({row[0][2]:.0f} engine reads each)"
                  f"   on {statistics.mean(on_):7.0f} us/request ({row[1][2]:.0f} engine reads each)")
    svc.stop()


def offered_load(accounts: int, clients: int, seconds: float, rounds: int = 3) -> None:
    """At the load a console bench uses (~6,500 commands/s offered by the simulator, not flat out): does
    the venue still take all of it with ``clients`` attached?"""
    w = seconds / (2 * rounds)
    proc, url, tok = start_venue(accounts, 20.0, steps_per_batch=20)
    time.sleep(2.0)
    alone, busy = [rate(proc, w)], []
    for _ in range(rounds):
        with attached(url, tok, clients):
            busy.append(rate(proc, w))
        alone.append(rate(proc, w))
    stop_venue(proc)
    print(f"   at ~6,500 cmd/s offered: nobody attached {statistics.mean(alone):,.0f} cmd/s, {clients} clients "
          f"attached {statistics.mean(busy):,.0f} cmd/s ({statistics.mean(busy) / statistics.mean(alone):.2f}x)")


def event_lag(accounts: int, seconds: float) -> None:
    print("\n2. event lag, journal -> client (SSE) at ~5,000 commands/s")
    proc, url, tok = start_venue(accounts, 20.0, steps_per_batch=20)
    r = Reader(url, tok)
    r.start()
    time.sleep(1.0)
    ask(proc, "breaker_off")
    load = rate(proc, 2.0)
    t_end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < t_end:  # cascades: each shock liquidates the pairs opened before it
        if n % 5 == 0:
            ask(proc, "pairs 100")
            ask(proc, f"shock BTC-USD-PERP {-300 if n % 10 == 0 else 300}")
        ask(proc, "toggle 5")  # liquidations paused / resumed: stream events 20 ms apart
        n += 1
    time.sleep(1.0)
    r.stop.set()
    r.join(10)
    lags = r.lags
    if lags:
        print(f"   market load {load:,.0f} cmd/s; {len(lags):,} event batches received: lag p50 "
              f"{statistics.median(lags):.1f} ms   p99 {pct(lags, 99):.1f} ms   max {max(lags):.1f} ms "
              f"(target p99 < 250 ms)")
    else:
        print("   no event batch received")
    stop_venue(proc)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--skip-console", action="store_true")
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--only", choices=("throughput", "cache", "cpu", "offered", "lag"), default=None,
                   help="run only that part (PERPDESK_READ_CACHE=0 in the environment: the venue without its "
                        "read cache, for a before/after)")
    a = p.parse_args()
    import tempfile

    os.environ.setdefault("PERPDESK_HOME", tempfile.mkdtemp(prefix="perpdesk-bench-"))
    if a.only in (None, "throughput"):
        throughput(a.accounts, a.clients, a.seconds)
    if a.only == "cache":
        cache_ab(a.accounts, a.clients, a.seconds)
    if a.only == "cpu":
        read_cost(a.accounts)
    if a.only in (None, "offered"):
        offered_load(a.accounts, a.clients, a.seconds)
    if a.only in (None, "lag"):
        event_lag(a.accounts, a.seconds)
    if not a.skip_console and a.only is None:
        print("\n3. one console attached over the API (bench/bench_console.py's measurement)")
        from bench.bench_console import run

        asyncio.run(run(a.accounts, 500, 0.1, a.samples, 20.0, False))


if __name__ == "__main__":
    main()
