"""Which accounts could be liquidatable after a price move, without a full scan.

For a long of size s in a market with maintenance fraction mmf, the account's
slack (value - maintenance requirement) moves *linearly* in one scalar:

    y_long  = (1 - mmf) * mark - funding_index      (slack += s * dy / K)
    y_short = (1 + mmf) * mark - funding_index      (slack -= |s| * dy / K)

(in common integer units, K = SIZE_SCALE * 10**6 * FRAC_SCALE). When an account
is (re)indexed, its slack S is shared out among its n positions; each position
gets a threshold on its market's scalar at which its share would be used up.
If no threshold has been crossed, the total loss is below S and the account is
still safe, so a price move only has to look at the accounts whose thresholds
it crossed: two heaps per market, popped from the top. Rounding is covered by a
small safety margin per position, so thresholds fire early, never late. Stale
heap entries (older versions of an account's index) are skipped and, when they
pile up, compacted away.
"""

from __future__ import annotations

import heapq

from .fixedpoint import FRAC_SCALE, SIZE_SCALE
from .margin import value_and_mm

K = SIZE_SCALE * 10**6 * FRAC_SCALE
SAFETY = 8  # micro-USDC per position, covers floor/ceil rounding in value and requirement


def y_long(mk) -> int:
    return (FRAC_SCALE - mk.mmf) * mk.mark_price * 10**6 - FRAC_SCALE * mk.funding_index


def y_short(mk) -> int:
    return (FRAC_SCALE + mk.mmf) * mk.mark_price * 10**6 - FRAC_SCALE * mk.funding_index


class LiquidationIndex:
    __slots__ = ("counter", "live", "parked", "parked_key")

    def __init__(self) -> None:
        self.counter = 0
        self.live = 0
        # accounts below maintenance whose every position is in a market where liquidations do not
        # run (restricted, paused, flagged): they wait, out of the heaps, until ``parked_key`` (which
        # markets liquidate) changes or the account itself changes (liquidation.evaluate)
        self.parked: set[str] = set()
        self.parked_key: tuple = ()

    def reindex(self, acct, markets) -> int:
        """Recompute ``acct``'s thresholds; returns its current slack (value - mm)."""
        acct.liq_version += 1
        value, mm, n = value_and_mm(acct, markets)
        slack = value - mm
        if not n:
            return slack
        share = (slack - SAFETY * n) // n
        ver = acct.liq_version
        name = acct.name
        for mname, pos in acct.positions.items():
            s = pos.size
            if not s:
                continue
            mk = markets[mname]
            self.counter += 1
            if s > 0:
                trig = y_long(mk) - (share * K) // s
                heapq.heappush(mk.liq_long, (-trig, self.counter, name, ver))
                if len(mk.liq_long) > 4 * len(mk.holders) + 1024:
                    self.compact(mk, markets, True)
            else:
                trig = y_short(mk) + (share * K) // -s
                heapq.heappush(mk.liq_short, (trig, self.counter, name, ver))
                if len(mk.liq_short) > 4 * len(mk.holders) + 1024:
                    self.compact(mk, markets, False)
        return slack

    @staticmethod
    def compact(mk, markets, long_side: bool) -> None:
        # keep only the newest entry of every account (older versions are stale)
        heap = mk.liq_long if long_side else mk.liq_short
        newest: dict[str, tuple] = {}
        for e in heap:
            cur = newest.get(e[2])
            if cur is None or e[3] > cur[3]:
                newest[e[2]] = e
        kept = list(newest.values())
        heapq.heapify(kept)
        if long_side:
            mk.liq_long = kept
        else:
            mk.liq_short = kept

    @staticmethod
    def candidates(mk, accounts) -> list:
        """Accounts whose threshold in ``mk`` has been crossed (popped from the heaps)."""
        found = {}
        yl = y_long(mk)
        heap = mk.liq_long
        while heap and -heap[0][0] > yl:
            _t, _n, name, ver = heapq.heappop(heap)
            a = accounts.get(name)
            if a is not None and a.liq_version == ver:
                found[name] = a
        ys = y_short(mk)
        heap = mk.liq_short
        while heap and heap[0][0] < ys:
            _t, _n, name, ver = heapq.heappop(heap)
            a = accounts.get(name)
            if a is not None and a.liq_version == ver:
                found[name] = a
        return list(found.values())
