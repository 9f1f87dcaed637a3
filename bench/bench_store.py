"""Store throughput: durable journal appends (group commit), streaming reads, chain verification.

    python -m bench.bench_store                 # SQLite (WAL, synchronous=FULL) in a temp dir
    python -m bench.bench_store --db URL        # any store URL, e.g. postgresql+psycopg://...
    python -m bench.bench_store --rows 200000 --batches 1,100,1000,5000
    python -m bench.bench_store --startup 1000000   # what a node start verifies, on a 1M-row keyed journal

Prints rows/s for each batch size (one transaction per batch, each durable when
``append_journal`` returns), then the rate of ``iter_journal`` and
``verify_chains`` over everything written. Payloads are realistic
``place_order`` commands of about 170 bytes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from engine.store.store import JournalEntry, Store


def command(seq: int) -> dict:
    return {"type": "place_order", "account": f"acct-{seq % 5000:05d}", "market": "BTC-USD",
            "side": "buy" if seq % 2 else "sell", "order_type": "limit", "size": "0.015",
            "price": f"{64000 + seq % 500}.5", "time_in_force": "gtc", "post_only": False,
            "reduce_only": False, "ts": 1_760_000_000_000 + seq, "seq": seq}


def bench_appends(store: Store, batch: int, total: int) -> float:
    start = store.last_seq() + 1
    entries = [JournalEntry(s, 1_760_000_000_000 + s, "place_order", command(s), "ok")
               for s in range(start, start + total)]
    t0 = time.perf_counter()
    for i in range(0, total, batch):
        store.append_journal(entries[i:i + batch])
    return total / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="store URL (default: a fresh SQLite file in a temp dir)")
    ap.add_argument("--rows", type=int, default=100_000, help="rows per batch size >= 100")
    ap.add_argument("--batches", default="1,100,1000,5000")
    ap.add_argument("--startup", type=int, default=0,
                    help="instead: time a node start's verification (keyed chains, head, anchor) of N rows")
    args = ap.parse_args(argv)
    if args.startup:
        return bench_startup(args.db, args.startup)
    with tempfile.TemporaryDirectory(prefix="perpdesk-bench-") as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        store = Store.open(url)
        print(f"store: {store.where}")
        try:
            for batch in (int(b) for b in args.batches.split(",")):
                total = min(args.rows, 3000) if batch == 1 else max(args.rows, batch)
                total -= total % batch
                rate = bench_appends(store, batch, total)
                print(f"append_journal batch={batch:>5}: {rate:>10,.0f} rows/s  ({total:,} rows, "
                      f"{rate / batch:,.0f} commits/s)")
            n = store.count_journal()
            t0 = time.perf_counter()
            seen = sum(1 for _ in store.iter_journal())
            dt = time.perf_counter() - t0
            print(f"iter_journal: {seen / dt:>10,.0f} rows/s  ({seen:,} rows in {dt:.2f} s)")
            t0 = time.perf_counter()
            problems = store.verify_chains()
            dt = time.perf_counter() - t0
            print(f"verify_chains: {n / dt:>10,.0f} rows/s  ({n:,} rows in {dt:.2f} s; "
                  f"problems: {[str(p) for p in problems] or 'none'})")
        finally:
            store.close()


def bench_startup(db: str | None, n: int) -> None:
    """A node start's verification on an ``n``-row keyed journal (the key in a temporary
    PERPDESK_HOME): the whole chain (``perpdesk verify``'s check, and a start with its snapshot
    within START_VERIFY_PREFIX_ROWS of the journal's start), then a start whose newest snapshot is
    the default cadence (100,000 rows) behind the head, the worst case of an auto-snapshotting node:
    the rows from it to the head fully, the rows before it cheaply (contiguous, count = head), and
    the background verification of those rows after the start."""
    import os

    from engine.node.node import DEFAULT_SNAPSHOT_EVERY, Node
    from engine.store import trust

    with tempfile.TemporaryDirectory(prefix="perpdesk-bench-") as tmp:
        os.environ.setdefault("PERPDESK_HOME", tmp)
        url = db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        store = Store.open(url, key=trust.load_key(create=True))
        try:
            t0 = time.perf_counter()
            bench_appends(store, 5000, n - n % 5000)
            print(f"built a {store.count_journal():,}-row keyed journal in {time.perf_counter() - t0:.1f} s")
            node = Node(store=store)
            snap_seq = max(store.last_seq() - DEFAULT_SNAPSHOT_EVERY, 0)
            for _ in range(2):
                t0 = time.perf_counter()
                node.verify_start()
                print(f"whole chain (journal + audit chains, head, anchor): {time.perf_counter() - t0:.2f} s")
            for _ in range(3):
                t0 = time.perf_counter()
                node.verify_start(snap_seq)
                print(f"start with its snapshot at seq {snap_seq:,}: {time.perf_counter() - t0:.2f} s  "
                      f"(seq {snap_seq:,}..{store.last_seq():,} fully, the rows before cheaply)")
            t0 = time.perf_counter()
            problem = store.verify_journal_prefix(snap_seq)
            print(f"  then in the background, seq 1..{snap_seq:,}: {time.perf_counter() - t0:.2f} s "
                  f"({problem or 'sound'})")
        finally:
            store.close()


if __name__ == "__main__":
    main()
