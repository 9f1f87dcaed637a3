"""A venue for the benches: the venue service (``engine.venue``) on a Unix socket in its own process,
with drills the bench asks for on stdin (run in the venue's process as its own services, never
through the API, which can never act as ``SYSTEM``).

    python -m bench.venue_proc SOCKET [--accounts N] [--speed X] [--steps-per-batch N] [--no-api]

Prints ``ready TOKEN`` once serving; then reads lines: ``pairs N``, ``breaker_off``,
``shock MARKET BPS``, ``toggle N``, ``rate`` (prints ``rate CMDS_PER_S SEQ``), ``cache`` (prints
``cache HITS MISSES``: the read cache), ``cache_off`` / ``cache_on``, ``quit``.
``--no-api``: the same desk and market without the HTTP server (the embedded figure).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("socket")
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--speed", type=float, default=20.0)
    p.add_argument("--steps-per-batch", type=int, default=20)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--no-api", action="store_true")
    a = p.parse_args()
    os.environ.setdefault("PERPDESK_WRITER_PROCESS", "0")
    from engine.venue.desk import leveraged_pairs, oracle_shock
    from engine.venue.service import VenueService

    svc = VenueService(db="memory", accounts=a.accounts, seed=a.seed, incident=False, speed=a.speed,
                       steps_per_batch=a.steps_per_batch).start()
    token = svc.operators.add("bench", "admin")
    server = None
    if not a.no_api:
        import uvicorn

        from engine.venue.app import create_app

        server = uvicorn.Server(uvicorn.Config(create_app(svc), uds=a.socket, log_config=None, lifespan="off",
                                               access_log=False))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.02)
    print(f"ready {token}", flush=True)
    desk = svc.desk
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "pairs":
            leveraged_pairs(desk, int(cmd[1]))
        elif cmd[0] == "breaker_off":
            desk.system({"type": "set_market_params", "market": "BTC-USD-PERP", "breaker_accounts": 0,
                         "breaker_oi_share": "0", "reason": "bench: the cascade is the load"})
        elif cmd[0] == "shock":
            oracle_shock(desk, cmd[1], int(cmd[2]))
        elif cmd[0] == "toggle":  # operator-event pairs (liquidations paused / resumed), 20 ms apart
            for _ in range(int(cmd[1])):
                desk.system({"type": "pause_liquidations", "reason": "bench"})
                time.sleep(0.02)
                desk.system({"type": "resume_liquidations", "reason": "bench"})
                time.sleep(0.02)
        elif cmd[0] == "rate":
            seq0, t0 = desk.node.engine.seq, time.perf_counter()
            time.sleep(float(cmd[1]) if len(cmd) > 1 else 3.0)
            seq1 = desk.node.engine.seq
            print(f"rate {(seq1 - seq0) / (time.perf_counter() - t0):.0f} {seq1}", flush=True)
            continue
        elif cmd[0] == "cache":  # the read cache's figures: "cache HITS MISSES"
            st = svc.reads.stats() if svc.reads is not None else {"hits": 0, "misses": 0}
            print(f"cache {st['hits']} {st['misses']}", flush=True)
            continue
        elif cmd[0] == "cache_off" and svc.reads is not None:  # the read cache off / on (a before/after)
            svc.reads.enabled = False
        elif cmd[0] == "cache_on" and svc.reads is not None:
            svc.reads.enabled = True
        elif cmd[0] == "quit":
            break
        print("ok", flush=True)
    if server is not None:
        server.should_exit = True
    svc.stop()


if __name__ == "__main__":
    main()
