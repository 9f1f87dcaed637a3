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
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.bench_console import pct, start_venue, stop_venue  # noqa: E402


def ask(proc, line: str) -> str:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    return proc.stdout.readline().strip()


def rate(proc, seconds: float) -> float:
    return float(ask(proc, f"rate {seconds}").split()[1])


class Reader(threading.Thread):
    """One attached client: presence + event stream + a console's refresh reads every 250 ms."""

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
        while not self.stop.wait(0.25):
            try:
                gw.status()
                gw.markets()
                gw.sessions()
                feed.counters()
                feed.last_minute(gw.clock())
                self.reads += 5
            except Exception:
                pass
        c.close()


def throughput(accounts: int, clients: int, seconds: float) -> None:
    print(f"1. throughput flat out ({accounts} accounts, memory database, simulator as fast as it goes)")
    proc, _url, _tok = start_venue(accounts, 1e6, steps_per_batch=20, extra=("--no-api",))
    time.sleep(1.0)
    embedded = rate(proc, seconds)
    stop_venue(proc)
    print(f"   embedded (desk + market, no API):        {embedded:>9,.0f} cmd/s")
    proc, url, tok = start_venue(accounts, 1e6, steps_per_batch=20)
    time.sleep(1.0)
    alone = rate(proc, seconds)
    print(f"   venue with its API, nobody attached:     {alone:>9,.0f} cmd/s   ({alone / embedded:.2f}x embedded)")
    readers = [Reader(url, tok) for _ in range(clients)]
    for r in readers:
        r.start()
    time.sleep(1.0)
    busy = rate(proc, seconds)
    for r in readers:
        r.stop.set()
    for r in readers:
        r.join(10)
    reads = sum(r.reads for r in readers)
    print(f"   venue with {clients} clients attached:        {busy:>9,.0f} cmd/s   ({busy / embedded:.2f}x embedded; "
          f"target >= 0.90)   {reads:,} reads served meanwhile")
    stop_venue(proc)


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
    a = p.parse_args()
    import tempfile

    os.environ.setdefault("PERPDESK_HOME", tempfile.mkdtemp(prefix="perpdesk-bench-"))
    throughput(a.accounts, a.clients, a.seconds)
    event_lag(a.accounts, a.seconds)
    if not a.skip_console:
        print("\n3. one console attached over the API (bench/bench_console.py's measurement)")
        from bench.bench_console import run

        asyncio.run(run(a.accounts, 500, 0.1, a.samples, 20.0, False))


if __name__ == "__main__":
    main()
