"""Deterministic, seeded order-flow generator for the book benchmark.

One market, integer price ticks, integer lot quantities. The mix is, per op:

* ~60% resting limit orders: side 50/50, priced 1..``band`` ticks away from a
  drifting mid on the passive side, clamped so they never cross the
  opposite best (they always rest);
* ~25% cancels: a uniformly random *live* order (a small share, ``late``,
  targets an order that was already filled, as a cancel racing a fill would;
  every engine must ignore it);
* ~15% crossing limit orders: priced 0..``through`` ticks through the
  opposite best so they trade (the remainder, if any, rests).

Liveness is simulated with our own ``engine.core.book.Book`` (account ``None``,
no self-trade prevention), so cancels hit live orders exactly. The output is a
list of tuples::

    ("add", oid, side, price, qty)     side is +1 buy / -1 sell
    ("cancel", oid)

The ``ADD`` / ``CANCEL`` constants are the very string objects used in the
tuples, so a runner can dispatch with ``op[0] is ADD``.
"""

from __future__ import annotations

import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from engine.core.book import Book, Order  # noqa: E402

ADD = "add"
CANCEL = "cancel"


class StreamStats:
    __slots__ = (
        "ops", "adds", "crossing", "cancels", "late_cancels", "fills",
        "final_live", "final_bid_levels", "final_ask_levels",
    )

    def __init__(self) -> None:
        for k in self.__slots__:
            setattr(self, k, 0)

    def __str__(self) -> str:
        return (
            f"ops={self.ops:,} resting-adds={self.adds:,} crossing={self.crossing:,} "
            f"cancels={self.cancels:,} (of which late/dead={self.late_cancels:,}) "
            f"fills={self.fills:,} | end: live orders={self.final_live:,} "
            f"levels bid/ask={self.final_bid_levels}/{self.final_ask_levels}"
        )


def make_stream(
    n: int,
    seed: int = 7,
    *,
    p_add: float = 0.60,
    p_cancel: float = 0.25,
    band: int = 50,
    max_qty: int = 20,
    through: int = 3,
    late: float = 0.02,
    drift_every: int = 50,
    mid0: int = 100_000,
) -> tuple[list[tuple], StreamStats]:
    """Return ``(ops, stats)`` for ``n`` operations; same seed -> same list."""
    rng = random.Random(seed)
    rand = rng.random
    randint = rng.randint
    book = Book()
    fills: list = []
    live: list[int] = []  # live oids, swap-remove
    pos: dict[int, int] = {}  # oid -> index in live
    orders: dict[int, Order] = {}
    dead: list[int] = []  # recently filled oids (ring), for late cancels
    ops: list[tuple] = []
    append = ops.append
    st = StreamStats()
    mid = mid0
    oid = 0
    p_cross_from = p_add + p_cancel
    drift_p = 1.0 / drift_every

    def kill(x: int) -> None:
        i = pos.pop(x)
        last = live.pop()
        if last != x:
            live[i] = last
            pos[last] = i
        del orders[x]

    for _ in range(n):
        if rand() < drift_p:
            mid += 1 if rand() < 0.5 else -1
        r = rand()
        if r >= p_cross_from:
            # crossing order: through the opposite best
            side = 1 if rand() < 0.5 else -1
            if side > 0:
                best = book.best_ask()
                price = best + randint(0, through) if best else mid
            else:
                best = book.best_bid()
                price = best - randint(0, through) if best else mid
            if best:
                st.crossing += 1
            else:
                st.adds += 1
        elif r < p_add:
            side = 1 if rand() < 0.5 else -1
            off = randint(1, band)
            if side > 0:
                price = mid - off
                ba = book.best_ask()
                if ba and price >= ba:
                    price = ba - 1
            else:
                price = mid + off
                bb = book.best_bid()
                if bb and price <= bb:
                    price = bb + 1
            st.adds += 1
        else:
            st.cancels += 1
            if dead and (not live or rand() < late):
                x = dead[int(rand() * len(dead))]
                st.late_cancels += 1
                append((CANCEL, x))
                continue
            if not live:
                st.late_cancels += 1
                append((CANCEL, 0))  # no such order: ignored by every engine
                continue
            x = live[int(rand() * len(live))]
            book.cancel(orders[x])
            kill(x)
            append((CANCEL, x))
            continue

        oid += 1
        qty = randint(1, max_qty)
        rem = book.match(side, price, qty, None, fills)
        if fills:
            st.fills += len(fills)
            for o, _q in fills:
                if not o.remaining:
                    kill(o.id)
                    if len(dead) < 4096:
                        dead.append(o.id)
                    else:
                        dead[int(rand() * 4096)] = o.id
            fills.clear()
        if rem:
            o = Order(oid, None, side, price, qty)
            o.remaining = rem
            book.add(o)
            orders[oid] = o
            pos[oid] = len(live)
            live.append(oid)
        append((ADD, oid, side, price, qty))

    st.ops = len(ops)
    st.final_live = len(live)
    st.final_bid_levels = len(book.bid_keys)
    st.final_ask_levels = len(book.ask_keys)
    return ops, st


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    s, stats = make_stream(n)
    for op in s[:20]:
        print(op)
    print(stats)
