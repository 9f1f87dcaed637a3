"""Engine benchmarks: full engine path, `perpdesk replay`, liquidations, snapshot/restore.

    python bench/bench_engine.py [--ops 200000] [--accounts 100000] [--orders 200000]

Prints figures (and ratios where there is a baseline); no pass/fail. Targets
(issue 2): engine path >= 200,000 commands/s; replay >= 100,000 JSONL
commands/s; a mark move that liquidates nobody costs far less than a full
scan; snapshot and restore of 100k accounts + 200k orders each under 1 s.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import orjson  # noqa: E402

import engine.core as engine_pkg  # noqa: E402
from bench.streams import ADD, make_stream  # noqa: E402
from engine.core import Engine, parse_command  # noqa: E402
from engine.core import snapshot as snap_mod  # noqa: E402
from engine.core.fixedpoint import fmt_price, fmt_size  # noqa: E402
from engine.core.margin import value_and_mm  # noqa: E402
from engine.core.runtime import tune_gc  # noqa: E402
from engine.tools.replay import run as replay_run  # noqa: E402

MARKET = {
    "type": "create_market", "market": "BTC-USD-PERP", "tick_size": "0.1", "lot_size": "0.001",
    "initial_margin": "0.02", "maintenance_margin": "0.01", "maker_fee": "0", "taker_fee": "0.0002",
    "liquidation_fee": "0.007", "price_band": "0.05", "index_price": "10000", "operator": "bench", "ts": 1,
}
TICK = 100_000  # 0.1 in micro-USDC
LOT = 100_000  # 0.001 in 1e-8


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def order_flow_commands(n: int, seed: int, accounts: int = 50) -> list[dict]:
    """The book benchmark's stream as engine commands (mid 10,000.0 USDC, 0.1 ticks, 0.001 lots)."""
    ops, _st = make_stream(n, seed)
    cmds: list[dict] = [MARKET]
    for i in range(accounts):
        cmds.append({"type": "deposit", "account": f"a{i}", "amount": "100000000", "ts": 2})
    base = 10_000 * 10**6 - 100_000 * TICK  # stream mid0 = 100_000 ticks -> 10,000 USDC
    for op in ops:
        if op[0] is ADD:
            _, oid, side, px, qty = op
            cmds.append({"type": "place_order", "account": f"a{oid % accounts}", "market": "BTC-USD-PERP",
                         "side": "buy" if side > 0 else "sell", "size": fmt_size(qty * LOT),
                         "price": fmt_price(base + px * TICK), "client_order_id": f"o{oid}"})
        else:
            oid = op[1]
            cmds.append({"type": "cancel_order", "account": f"a{oid % accounts}", "client_order_id": f"o{oid}"})
    return cmds


def bench_engine_path(n: int, seed: int) -> None:
    cmds = order_flow_commands(n, seed)
    parsed = [parse_command(c) for c in cmds]
    best = 0.0
    for _ in range(3):
        e = Engine()
        gc.collect()
        t0 = time.perf_counter()
        apply = e.apply
        nev = 0
        for c in parsed:
            nev += len(apply(c))
        dt = time.perf_counter() - t0
        best = max(best, len(parsed) / dt)
    trades = sum(1 for c in parsed if c.type == "place_order")
    print(f"engine path    {len(parsed):>9,} typed commands  {best:>12,.0f} cmd/s  (best of 3; {nev:,} events; "
          f"{trades:,} orders)  target >= 200,000  ratio {best / 200_000:.2f}x")
    rejected = sum(1 for c in parsed for _ in ())
    del rejected


def bench_replay(n: int, seed: int) -> None:
    cmds = order_flow_commands(n, seed)
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "commands.jsonl")
        with open(src, "wb") as f:
            for c in cmds:
                f.write(orjson.dumps(c) + b"\n")
        ev_out, st_out = os.path.join(d, "events.jsonl"), os.path.join(d, "state.json")
        # the command a user runs, in a fresh process (interpreter start and imports included): run in
        # this one, the replay would also pay for the bench's own objects (the generated stream) in GC
        argv = [sys.executable, "-m", "console.cli", "replay", src, "--events-out", ev_out, "--state-out", st_out]
        best = 0.0
        for _ in range(3):
            t0 = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, text=True)
            dt = time.perf_counter() - t0
            assert done.returncode == 0, done.stderr
            best = max(best, len(cmds) / dt)
        size = os.path.getsize(ev_out)
        # the same run in this process, after the other benches (their objects still alive)
        t0 = time.perf_counter()
        assert replay_run(src, ev_out, st_out, out=open(os.devnull, "w")) == 0
        inproc = len(cmds) / (time.perf_counter() - t0)
    print(f"replay         {len(cmds):>9,} JSONL commands  {best:>12,.0f} cmd/s  (`perpdesk replay` in a fresh "
          f"process, best of 3: start, parse, apply, write events {size / 1e6:.0f} MB + state)  target >= 100,000  "
          f"ratio {best / 100_000:.2f}x")
    print(f"  the same replay inside the bench's process (its objects alive): {inproc:,.0f} cmd/s")


def build_positions(n_accounts: int, orders_per_account: int = 0) -> Engine:
    """n accounts, each long 0.01 BTC at 10,000 with collateral spread so liquidation prices
    are spread between ~9,100 and ~9,900 (account i: 1 + i%1000 basis...). A whale is short."""
    e = Engine()
    ap = e.apply_obj
    ap(MARKET)
    # the guard rails stay on; the circuit breaker is set above the 1% (1,000 accounts of 100k) that
    # the liquidation bench liquidates in one move, so that the bench measures liquidations, not the breaker
    ap({"type": "set_market_params", "market": "BTC-USD-PERP", "breaker_accounts": max(500, n_accounts // 20),
        "operator": "bench", "reason": "the bench liquidates 1% of its accounts in one move"})
    ap({"type": "fund_insurance", "amount": "100000000", "operator": "bench"})
    ap({"type": "deposit", "account": "whale", "amount": "10000000000"})  # 1e10 USDC: the most one deposit may bring (commands.MAX_AMOUNT)
    ap({"type": "deposit", "account": "bidder", "amount": "10000000000"})
    # collateral per 0.01 BTC long at 10,000 (notional 100): liquidates when value < 1% of notional,
    # i.e. at mark ~ 10,000 - (collateral - 1) * 100. Spread collateral over 2..100 USDC.
    for i in range(n_accounts):
        coll = 2 + (i * 7919) % 9800 / 100
        ap({"type": "deposit", "account": f"u{i:06d}", "amount": f"{coll:.2f}"})
    ap({"type": "place_order", "account": "whale", "market": "BTC-USD-PERP", "side": "sell",
        "size": fmt_size(n_accounts * 1_000_000), "price": "10000"})
    for i in range(n_accounts):
        ap({"type": "place_order", "account": f"u{i:06d}", "market": "BTC-USD-PERP", "side": "buy",
            "size": "0.01", "price": "10000"})
    # deep bids for liquidations to hit
    for k in range(1, 200):
        ap({"type": "place_order", "account": "bidder", "market": "BTC-USD-PERP", "side": "buy",
            "size": "50", "price": fmt_price((10000 - k) * 10**6)})
    for j in range(orders_per_account):
        for i in range(n_accounts):
            ap({"type": "place_order", "account": f"u{i:06d}", "market": "BTC-USD-PERP", "side": "sell",
                "size": "0.001", "price": fmt_price((10100 + (i + j * 13) % 400) * 10**6)})
    return e


def bench_liquidation(n_accounts: int) -> None:
    t0 = time.perf_counter()
    e = build_positions(n_accounts)
    setup = time.perf_counter() - t0
    holders = len(e.markets["BTC-USD-PERP"].holders)
    # index the accounts the setup just changed (the engine defers this to the next price update)
    t0 = time.perf_counter()
    e.apply_obj({"type": "oracle_price", "market": "BTC-USD-PERP", "price": "10000"})
    first = time.perf_counter() - t0
    # full scan baseline: what an engine without the index does on every move
    t0 = time.perf_counter()
    for a in e.accounts.values():
        value_and_mm(a, e.markets)
    scan = time.perf_counter() - t0
    # a mark move that liquidates nobody (load_market_state sets the mark; funding index unchanged)
    def mark_move(price: str) -> tuple[float, list]:
        t = time.perf_counter()
        evs = e.apply_obj({"type": "load_market_state", "market": "BTC-USD-PERP", "mark_price": price,
                           "funding_index": "0"})
        return time.perf_counter() - t, evs

    quiet, evs = mark_move("9995")
    quiet_liq = sum(1 for x in evs if x["type"] == "liquidation")
    # the mark at which each long hits maintenance: cash + s*P - mmf*s*P = 0 (bench arithmetic only)
    mk = e.markets["BTC-USD-PERP"]
    thresholds = sorted(
        -a.cash * 10**8 / (p.size * (1 - mk.mmf / 10**8))
        for a in e.accounts.values() for p in a.positions.values() if p.size > 0 and a.name.startswith("u"))
    target = thresholds[-len(thresholds) // 100] / 10**6  # the highest 1% of thresholds
    hit, evs = mark_move(f"{target - 0.05:.1f}")
    liq_accounts = len({x["account"] for x in evs if x["type"] == "liquidation"})
    from engine.core.checks import run_checks

    fails = run_checks(e)
    print(f"liquidation    {holders:,} accounts with positions (setup {setup:.1f}s; indexing them all "
          f"on the first price update took {first * 1e3:.0f} ms)")
    print(f"  full scan of all accounts (no index)      {scan * 1e3:9.1f} ms")
    print(f"  move that liquidates nobody ({quiet_liq})          {quiet * 1e3:9.3f} ms   ratio to full scan 1:{scan / quiet:,.0f}")
    print(f"  move that liquidates {liq_accounts:,} ({liq_accounts / holders:.1%})      {hit * 1e3:9.1f} ms   "
          f"({hit / max(liq_accounts, 1) * 1e6:.0f} us per liquidated account); invariants {'hold' if not fails else fails[:2]}")


def bench_snapshot(n_accounts: int, n_orders: int) -> None:
    per = max(1, n_orders // n_accounts)
    t0 = time.perf_counter()
    e = build_positions(n_accounts, orders_per_account=per)
    setup = time.perf_counter() - t0
    live = len(e.orders)
    t0 = time.perf_counter()
    s = snap_mod.take(e, "bench", "manual")
    take = time.perf_counter() - t0
    fresh = Engine()
    # as the node's recovery and a rollback do: decode (checking the recorded hash), restore, and the
    # decoded records freed, all timed
    t0 = time.perf_counter()
    state = snap_mod.decode(s.data, expect_hash=s.state_hash)
    t1 = time.perf_counter()
    snap_mod.restore(fresh, state)
    del state
    t2 = time.perf_counter()
    restore = t2 - t0
    same = snap_mod.state_hash(fresh) == s.state_hash
    print(f"snapshot       {len(e.accounts):,} accounts, {live:,} resting orders (setup {setup:.1f}s)")
    print(f"  take (encode + SHA-256)   {take * 1e3:8.0f} ms   size {len(s.data) / 1e6:.1f} MB   target < 1000 ms")
    print(f"  restore (verify + decode + rebuild books and indexes) {restore * 1e3:8.0f} ms   target < 1000 ms; "
          f"hash after restore {'matches' if same else 'DIFFERS'}")
    print(f"    of which SHA-256 check + JSON decode {(t1 - t0) * 1e3:6.0f} ms, "
          f"rebuild + freeing the decoded records {(t2 - t1) * 1e3:6.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, nargs="+", default=[200_000])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--orders", type=int, default=200_000)
    ap.add_argument("--only", choices=["path", "replay", "liquidation", "snapshot"], nargs="*")
    a = ap.parse_args()
    only = set(a.only or ["path", "replay", "liquidation", "snapshot"])
    tune_gc()  # as the node and `perpdesk replay` run
    print(f"python {sys.version.split()[0]}, one core, engine {'compiled (mypyc)' if engine_pkg.COMPILED else 'pure Python'}")
    for n in a.ops:
        if "path" in only:
            bench_engine_path(n, a.seed)
        if "replay" in only:
            bench_replay(n, a.seed)
    if "liquidation" in only:
        bench_liquidation(a.accounts)
    if "snapshot" in only:
        bench_snapshot(a.accounts, a.orders)
    print(f"peak RSS {maxrss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
