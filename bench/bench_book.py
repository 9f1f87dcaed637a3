"""Bare order-book benchmark: our ``engine.core.book.Book`` against PyPI order books.

Every engine is driven through the same pre-generated, seeded operation
stream (see ``bench/streams.py``) in the same process; only the replay loop is
timed (``time.perf_counter``), best of ``--repeat`` runs, each on a fresh book.

    python bench/bench_book.py [--ops 200000 1000000] [--seed 7] [--peers all|none]

Peers (the ``bench`` extra): ``pyorderbook`` and ``lightmatchingengine`` (both
pure Python) and, when installed, ``cython-orderbook`` (compiled, Cython).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from streams import ADD, make_stream  # noqa: E402

from engine.core.book import Book, Order, limit_order  # noqa: E402

TARGET_OPS = 800_000
TARGET_RATIO = 8.0
N_ACCOUNTS = 50
SYMBOL = "X"


# ---------------------------------------------------------------- adapters
class NullAdapter:
    """Does nothing: measures the harness itself (loop + dispatch + call)."""

    name = "harness (null engine)"
    pure_python = None

    def add(self, oid, side, price, qty):
        pass

    def cancel(self, oid):
        pass


class OursAdapter:
    """``engine.core.book.Book``: ``place`` (match if crossing, rest the remainder), cancel by Order.

    ``stp=True`` gives each order an account ``"a1".."a50"`` (``oid % 50``) so
    self-trade prevention runs as in production; ``stp=False`` passes account
    ``None`` (no STP), which is what the peers do and what the cross-engine
    check compares.
    """

    pure_python = True

    def __init__(self, stp: bool = True) -> None:
        self.name = "ours (accounts, STP)" if stp else "ours (account None)"
        self.book = book = Book()
        self.orders: dict[int, Order] = {}
        self.fills: list = []
        if stp:
            self.accts = tuple(f"a{i + 1}" for i in range(N_ACCOUNTS))
        else:
            self.accts = (None,) * N_ACCOUNTS
        self._place = book.place
        self._cancel = book.cancel

    def add(self, oid, side, price, qty):
        acct = self.accts[oid % N_ACCOUNTS]
        o = limit_order(oid, acct, side, price, qty)
        fills = self.fills
        if self._place(o, fills):  # matched if crossing; the remainder rests
            self.orders[oid] = o
        if fills:
            orders = self.orders
            for m, _q in fills:
                if not m.remaining:
                    del orders[m.id]
            fills.clear()

    def cancel(self, oid):
        o = self.orders.pop(oid, None)
        if o is not None:
            self._cancel(o)  # returns 0 (no-op) if STP already removed it

    def state(self):
        b = self.book
        bid_qty = sum(lv.qty for lv in b.bids.values())
        ask_qty = sum(lv.qty for lv in b.asks.values())
        n = sum(lv.count for lv in b.bids.values()) + sum(lv.count for lv in b.asks.values())
        return b.best_bid(), b.best_ask(), bid_qty, ask_qty, n


class PyOrderBookAdapter:
    """pyorderbook 0.4.x: ``Book.match(Order(Side, symbol, price, qty))`` matches
    and rests the remainder; ``Book.cancel(order)`` (raises if not live)."""

    name = "pyorderbook"
    pure_python = True

    def __init__(self) -> None:
        import logging

        from pyorderbook import Book as PBook
        from pyorderbook import Order as POrder
        from pyorderbook import Side

        logging.getLogger("pyorderbook.book").setLevel(logging.WARNING)
        self.book = PBook()
        self.Order = POrder
        self.sides = {1: Side.BID, -1: Side.ASK}
        self.orders: dict = {}
        self._match = self.book.match
        self._cancel = self.book.cancel

    def add(self, oid, side, price, qty):
        o = self.Order(self.sides[side], SYMBOL, price, qty)
        self._match(o)
        if o.quantity:
            self.orders[oid] = o

    def cancel(self, oid):
        o = self.orders.pop(oid, None)
        if o is not None and o.quantity:  # filled orders are gone from its map
            self._cancel(o)

    def state(self):
        from pyorderbook import Side

        live = self.book.order_map.values()
        bids = [o for o in live if o.side is Side.BID]
        asks = [o for o in live if o.side is Side.ASK]
        return (
            int(max(o.price for o in bids)) if bids else 0,
            int(min(o.price for o in asks)) if asks else 0,
            sum(o.quantity for o in bids),
            sum(o.quantity for o in asks),
            len(bids) + len(asks),
        )


class LightMatchingEngineAdapter:
    """lightmatchingengine 2019.1.x: ``add_order(instmt, price, qty, side)`` with
    side 1=buy/2=sell returns ``(order, trades)``; ``cancel_order(order_id, instmt)``.
    Its ``order_id_map`` keeps filled orders and ``cancel_order`` then trips an
    assert, so we only cancel orders whose ``leaves_qty`` > 0."""

    name = "lightmatchingengine"
    pure_python = True

    def __init__(self) -> None:
        from lightmatchingengine.lightmatchingengine import LightMatchingEngine

        self.eng = LightMatchingEngine()
        self.orders: dict = {}
        self._add = self.eng.add_order
        self._cancel = self.eng.cancel_order

    def add(self, oid, side, price, qty):
        o, _trades = self._add(SYMBOL, price, qty, 1 if side > 0 else 2)
        if o.leaves_qty:
            self.orders[oid] = o

    def cancel(self, oid):
        o = self.orders.pop(oid, None)
        if o is not None and o.leaves_qty:
            self._cancel(o.order_id, SYMBOL)

    def state(self):
        ob = self.eng.order_books.get(SYMBOL)
        bids = [o for lv in ob.bids.values() for o in lv if o.leaves_qty]
        asks = [o for lv in ob.asks.values() for o in lv if o.leaves_qty]
        return (
            max((o.price for o in bids), default=0),
            min((o.price for o in asks), default=0),
            sum(o.leaves_qty for o in bids),
            sum(o.leaves_qty for o in asks),
            len(bids) + len(asks),
        )


class CythonOrderBookAdapter:
    """cython-orderbook 0.1.x (compiled): ``add_limit_order(Order(side, qty, price))``
    matches and rests; ``cancel_order(order_id)``. Its levels' ``total_quantity``
    drifts after fills, so ``state`` recomputes from the live orders."""

    name = "cython-orderbook"
    pure_python = False

    def __init__(self) -> None:
        from cython_orderbook import Order as COrder
        from cython_orderbook import OrderBook, OrderSide

        self.book = OrderBook()
        self.Order = COrder
        self.sides = {1: OrderSide.BID, -1: OrderSide.ASK}
        self.orders: dict = {}
        self._add = self.book.add_limit_order
        self._cancel = self.book.cancel_order

    def add(self, oid, side, price, qty):
        o = self.Order(self.sides[side], qty, price)
        self._add(o)
        if o.remaining_quantity:
            self.orders[oid] = o

    def cancel(self, oid):
        o = self.orders.pop(oid, None)
        if o is not None and o.remaining_quantity:
            self._cancel(o.order_id)

    def state(self):
        from cython_orderbook import OrderSide

        live = [o for _lv, o in self.book.orders.values()]
        bids = [o for o in live if o.side is OrderSide.BID]
        asks = [o for o in live if o.side is OrderSide.ASK]
        return (
            max((o.price for o in bids), default=0),
            min((o.price for o in asks), default=0),
            sum(o.remaining_quantity for o in bids),
            sum(o.remaining_quantity for o in asks),
            len(bids) + len(asks),
        )


PEERS = [PyOrderBookAdapter, LightMatchingEngineAdapter, CythonOrderBookAdapter]


def available_peers():
    out, problems = [], []
    for cls in PEERS:
        try:
            cls()
            out.append(cls)
        except Exception as e:  # not installed / does not import on this Python
            problems.append(f"{cls.name}: unavailable ({type(e).__name__}: {e})")
    return out, problems


# ---------------------------------------------------------------- runner
def replay(adapter, ops) -> float:
    """Feed ``ops`` to ``adapter``; return elapsed seconds of the loop only."""
    add = adapter.add
    cancel = adapter.cancel
    A = ADD
    t0 = time.perf_counter()
    for op in ops:
        if op[0] is A:
            add(op[1], op[2], op[3], op[4])
        else:
            cancel(op[1])
    return time.perf_counter() - t0


def time_engine(factory, ops, repeat: int, budget_s: float):
    """Best-of-``repeat`` seconds (fewer runs if one run exceeds ``budget_s``)."""
    best = None
    runs = 0
    for _ in range(repeat):
        a = factory()
        gc.collect()
        dt = replay(a, ops)
        runs += 1
        best = dt if best is None else min(best, dt)
        del a
        if dt > budget_s:
            break
    gc.collect()
    return best, runs


def peak_mem(factory, ops) -> int:
    """tracemalloc peak (bytes) of Python allocations during one replay
    (the pre-generated stream is allocated before tracing starts)."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    a = factory()
    replay(a, ops)
    _cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del a
    gc.collect()
    return peak


def fmt_rate(x):
    return f"{x:>12,.0f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", type=int, nargs="+", default=[200_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--peers", choices=["all", "none"], default="all")
    ap.add_argument("--repeat", type=int, default=3, help="best of N timed runs for peers (default 3)")
    ap.add_argument("--ours-repeat", type=int, default=5, help="best of N timed runs for ours and the harness (default 5)")
    ap.add_argument(
        "--peer-max-ops", type=int, default=200_000,
        help="run pure-Python peers only on streams up to this many ops (default 200000; 0 = no limit)",
    )
    ap.add_argument("--no-mem", action="store_true", help="skip the tracemalloc runs")
    args = ap.parse_args(argv)

    print(f"python {sys.version.split()[0]}  cpus={os.cpu_count()}  seed={args.seed}  "
          f"best of {args.ours_repeat} (ours) / {args.repeat} (peers)")
    peers, problems = ([], []) if args.peers == "none" else available_peers()
    for p in problems:
        print("  !", p)

    ours = [lambda: OursAdapter(stp=True), lambda: OursAdapter(stp=False)]
    ours_names = ["ours (accounts, STP)", "ours (account None)"]

    for n in args.ops:
        t0 = time.perf_counter()
        ops, st = make_stream(n, args.seed)
        gen_s = time.perf_counter() - t0
        print()
        print(f"=== {n:,} ops (stream generated in {gen_s:.1f}s) ===")
        print(f"stream: {st}")
        gc.collect()
        gc.freeze()  # keep the stream out of the collector's generations while timing

        rows = []  # (name, pure, ops/s, runs, peak bytes or None)
        null_s, _ = time_engine(NullAdapter, ops, args.ours_repeat, 1e9)
        rows.append((NullAdapter.name, None, n / null_s, args.ours_repeat, None))
        for name, fac in zip(ours_names, ours, strict=False):
            s, runs = time_engine(fac, ops, args.ours_repeat, 1e9)
            mem = None if args.no_mem else peak_mem(fac, ops)
            rows.append((name, True, n / s, runs, mem))
        skipped = []
        for cls in peers:
            if cls.pure_python and args.peer_max_ops and n > args.peer_max_ops:
                skipped.append(cls.name)
                continue
            s, runs = time_engine(cls, ops, args.repeat, budget_s=20.0)
            mem = None if args.no_mem else peak_mem(cls, ops)
            rows.append((cls.name, cls.pure_python, n / s, runs, mem))

        print(f"{'engine':<26}{'ops/s':>12}  {'runs':>4}  {'peak MiB':>9}  {'us/op':>7}")
        for name, _pure, rate, runs, mem in rows:
            m = "-" if mem is None else f"{mem / 2**20:9.1f}"
            print(f"{name:<26}{fmt_rate(rate)}  {runs:>4}  {m:>9}  {1e6 / rate:7.3f}")
        if skipped:
            print(f"  (skipped at this size, pure-Python and slow: {', '.join(skipped)};"
                  f" raise --peer-max-ops to include them)")

        # ratios
        ours_rows = [r for r in rows if r[0].startswith("ours")]
        peer_rows = [r for r in rows if r[1] is not None and not r[0].startswith("ours")]
        for orow in ours_rows:
            for prow in peer_rows:
                print(f"ratio {orow[0]} / {prow[0]}: {orow[2] / prow[2]:6.2f}x")

        # correctness: same stream, no STP, compare end state
        ref = OursAdapter(stp=False)
        replay(ref, ops)
        rs = ref.state()
        print(f"end state ours (None): best bid {rs[0]} ask {rs[1]} resting qty bid {rs[2]:,} "
              f"ask {rs[3]:,} orders {rs[4]:,}")
        for cls in peers:
            if cls.pure_python and args.peer_max_ops and n > args.peer_max_ops:
                continue
            a = cls()
            replay(a, ops)
            ps = a.state()
            verdict = "OK" if tuple(ps) == tuple(rs) else f"MISMATCH {ps}"
            print(f"check vs {cls.name:<22}(bid, ask, bid qty, ask qty, orders): {verdict}")
            del a
        del ref

        # target
        best_ours = next(r for r in rows if r[0] == "ours (accounts, STP)")[2]
        ours_none = next(r for r in rows if r[0] == "ours (account None)")[2]
        pure_peers = [r for r in peer_rows if r[1]]
        print(f"target: >= {TARGET_OPS:,} ops/s and >= {TARGET_RATIO:g}x fastest pure-Python peer")
        line = f"  ours (STP) {best_ours:,.0f} ops/s: {'MET' if best_ours >= TARGET_OPS else 'NOT MET'}"
        line += f"; ours (None) {ours_none:,.0f} ops/s: {'MET' if ours_none >= TARGET_OPS else 'NOT MET'}"
        print(line)
        if pure_peers:
            fastest = max(pure_peers, key=lambda r: r[2])
            ratio = ours_none / fastest[2]
            print(f"  vs fastest pure-Python peer ({fastest[0]}, same semantics = account None): "
                  f"{ratio:.1f}x: {'MET' if ratio >= TARGET_RATIO else 'NOT MET'}")
        else:
            print("  (no pure-Python peer run at this size)")
        gc.unfreeze()
        del ops
        gc.collect()
    print()
    print("ops/s = stream ops (adds + cancels) / best wall time of the replay loop; "
          "peak MiB = tracemalloc peak of Python allocations during a separate replay "
          "(stream excluded, tracing slows that run).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
