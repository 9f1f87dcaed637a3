"""The event buffer (:class:`Feed`): bounded buffers of what the node published.

The node calls it on its sequencer thread, where it only appends to bounded buffers under a lock;
readers (the API's feed routes, an in-process console) copy out under the same lock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from engine.api import vocabulary
from engine.api.units import fmt_span

# ---------------------------------------------------------------------------
# the event buffer
# ---------------------------------------------------------------------------

#: events with a line in the alerts feed: their wording and colour come from the event vocabulary
ALERT_EVENTS = vocabulary.FEED_TYPES


def _hms(ts_ms: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ts_ms / 1000))


#: events the console rebuilds from the journal at start (liquidations and every alert)
HISTORY_EVENTS = frozenset({"liquidation", "insurance_fund", *ALERT_EVENTS})

SPARK_POINTS = 90  # seconds of price history per market
LIQ_ROWS = 2000  # liquidations kept for the live table
LIQ_MINUTES = 60  # minutes of per-minute counts
TAPE_ROWS = 100  # last trades kept per market (the Book screen's tape)
FUND_ROWS = 200  # insurance-fund changes kept (the dashboard's fund history)


def _fund_row(ev: dict, ts: int) -> dict:
    return {"ts": ts, "seq": ev.get("seq", 0), "reason": ev.get("reason", ""), "change": ev.get("change", 0),
            "balance": ev.get("balance", 0), "account": ev.get("account"),
            "rolled_back": bool(ev.get("rolled_back"))}


class Feed:
    """Bounded buffers of what the node published; filled on the sequencer thread."""

    def __init__(self, clock: Callable[[], int]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self.liqs: deque[dict] = deque(maxlen=LIQ_ROWS)
        self.liq_count = 0  # liquidations ever seen (row numbers)
        self.liq_minutes: dict[int, int] = {}
        self.liq_recent: dict[str, deque[int]] = {}
        self.alerts: deque[tuple[int, str, str]] = deque(maxlen=100)
        self.alert_count = 0
        self.marks: dict[str, deque[tuple[int, int]]] = {}
        #: per market, the last trades: (ts, taker side, price, size), newest last
        self.tape: dict[str, deque[tuple[int, str, int, int]]] = {}
        #: insurance-fund changes: {ts, seq, reason, change, balance, account, rolled_back}, newest last
        self.fund: deque[dict] = deque(maxlen=FUND_ROWS)
        self.events = 0
        self.trades = 0
        self.last_seq = 0
        self.restored: dict | None = None

    def __call__(self, events: list[dict]) -> None:
        """Sequencer thread: sift the batch without the lock, then merge under it in a few appends,
        so the UI thread never waits behind a large batch."""
        now = self.clock()
        sec = now // 1000
        trades = 0
        marks: dict[str, int] = {}
        liqs: list[dict] = []
        alerts: list[tuple[int, str, str]] = []
        undone: list[tuple[int, int]] = []
        tape: list[tuple[str, tuple[int, str, int, int]]] = []
        fund: list[dict] = []
        for ev in events:
            t = ev["type"]
            if t == "trade":
                trades += 1
                tape.append((ev["market"], (now, ev.get("side", ""), ev["price"], ev["size"])))
            elif t == "insurance_fund":
                fund.append(_fund_row(ev, now))
            elif t == "mark_price" or t == "market_state_loaded":
                marks[ev["market"]] = ev["mark_price"]
            elif t == "liquidation":
                row = dict(ev)
                row["ts"] = now
                liqs.append(row)
            elif t == "rolled_back":
                undone.append((ev.get("to_seq", 0), ev.get("seq", 0)))
            if t in ALERT_EVENTS:
                alerts.append((now, vocabulary.console_level(ev), vocabulary.line(ev)))
        total_liqs = len(liqs)
        liqs = liqs[-LIQ_ROWS:] if total_liqs > LIQ_ROWS else liqs
        with self._lock:
            self.events += len(events)
            self.trades += trades
            for market, tr in tape[-TAPE_ROWS * 4:]:
                q = self.tape.get(market)
                if q is None:
                    q = self.tape[market] = deque(maxlen=TAPE_ROWS)
                q.append(tr)
            self.fund.extend(fund[-FUND_ROWS:])
            for market, price in marks.items():
                d = self.marks.get(market)
                if d is None:
                    d = self.marks[market] = deque(maxlen=SPARK_POINTS)
                if d and d[-1][0] == sec:
                    d[-1] = (sec, price)
                else:
                    d.append((sec, price))
            if liqs:
                minute = now // 60_000
                self.liq_minutes[minute] = self.liq_minutes.get(minute, 0) + total_liqs
                self.liq_count += total_liqs - len(liqs)  # seen, but older than the table keeps
                if len(self.liq_minutes) > LIQ_MINUTES * 2:
                    for k in sorted(self.liq_minutes)[:-LIQ_MINUTES]:
                        del self.liq_minutes[k]
                for row in liqs:
                    self.liq_count += 1
                    row["n"] = self.liq_count
                    self.liqs.append(row)
                    r = self.liq_recent.get(row["market"])
                    if r is None:
                        r = self.liq_recent[row["market"]] = deque(maxlen=10_000)
                    r.append(now)
            for after_seq, rb_seq in undone:  # a rollback: the liquidations it undid are marked, not removed
                for row in self.liqs:
                    if after_seq < row["seq"] < rb_seq:
                        row["rolled_back"] = True
                for row in self.fund:
                    if after_seq < row["seq"] < rb_seq:
                        row["rolled_back"] = True
            self.alert_count += len(alerts)
            self.alerts.extend(alerts[-100:])
            if events:
                self.last_seq = max(self.last_seq, events[-1].get("seq", 0))

    def seed(self, history: dict, now: int, gap_ms: int = 10_000) -> None:
        """Fill the buffers from the journal at start (:meth:`engine.node.node.Node.history`): the
        liquidations, alerts and per-minute counts of the recent past, rolled-back entries marked,
        and each stretch the venue was down (journal rows further apart than ``gap_ms``, and the
        time from the last row before this start to now)."""
        alerts: list[tuple[int, str, str]] = []
        liqs: list[dict] = []
        fund: list[dict] = []
        for ev in history.get("events", ()):
            t = ev["type"]
            ts = ev.get("ts") or 0
            if t == "liquidation":
                liqs.append(dict(ev))
            elif t == "insurance_fund":
                fund.append(_fund_row(ev, ts))
            if t in ALERT_EVENTS:
                level, msg = vocabulary.console_level(ev), vocabulary.line(ev)
                if ev.get("rolled_back"):
                    msg += " [rolled back]"
                alerts.append((ts, level, msg))
        gaps = [(a, b) for a, b, _seq in history.get("gaps", ())]
        last_ts = history.get("last_ts")
        if last_ts and now - last_ts > gap_ms:
            gaps.append((last_ts, now))
        for a, b in gaps:
            alerts.append((b, "error", f"venue down {_hms(a)}-{_hms(b)} ({fmt_span(b - a)} without a command)"))
        alerts.sort(key=lambda a: a[0])
        with self._lock:
            kept = liqs[-LIQ_ROWS:]
            self.liq_count = len(liqs) - len(kept)
            for row in kept:
                self.liq_count += 1
                row["n"] = self.liq_count
                self.liqs.append(row)
            for row in liqs:
                minute = row.get("ts", 0) // 60_000
                self.liq_minutes[minute] = self.liq_minutes.get(minute, 0) + 1
            if len(self.liq_minutes) > LIQ_MINUTES * 2:
                for k in sorted(self.liq_minutes)[:-LIQ_MINUTES]:
                    del self.liq_minutes[k]
            self.alerts.extend(alerts[-100:])
            self.alert_count += len(alerts)
            self.fund.extend(fund[-FUND_ROWS:])
            self.last_seq = max(self.last_seq, history.get("head", 0))
            self.restored = {"from_seq": history.get("from_seq", 0), "head": history.get("head", 0),
                             "liquidations": len(liqs), "alerts": len(alerts), "downtime": gaps}

    def restored_from(self) -> dict | None:
        """What :meth:`seed` rebuilt at start (None: nothing, a new venue)."""
        with self._lock:
            return dict(self.restored) if self.restored else None

    # ---- UI side (copies under the lock) -----------------------------------------
    def liquidations_since(self, n: int) -> list[dict]:
        with self._lock:
            if n >= self.liq_count:
                return []
            return [r for r in self.liqs if r["n"] > n]

    def liquidations(self) -> list[dict]:
        with self._lock:
            return list(self.liqs)

    def per_minute(self, now: int, minutes: int = 30) -> list[int]:
        cur = now // 60_000
        with self._lock:
            return [self.liq_minutes.get(m, 0) for m in range(cur - minutes + 1, cur + 1)]

    def last_minute(self, now: int) -> dict[str, int]:
        cut = now - 60_000
        with self._lock:
            out = {}
            for m, d in self.liq_recent.items():
                while d and d[0] < cut:
                    d.popleft()
                out[m] = len(d)
            return out

    def mark_history(self, market: str) -> list[int]:
        with self._lock:
            return [p for _s, p in self.marks.get(market, ())]

    def mark_histories(self) -> dict[str, list[int]]:
        with self._lock:
            return {m: [p for _s, p in d] for m, d in self.marks.items()}

    def recent_trades(self, market: str, k: int = 40) -> list[tuple[int, str, int, int]]:
        """The last ``k`` trades on ``market`` seen on the event feed: (ts, taker side, price, size), newest first."""
        with self._lock:
            q = self.tape.get(market)
            if not q:
                return []
            return [q[-i] for i in range(1, min(k, len(q)) + 1)]

    def fund_history(self, k: int = FUND_ROWS) -> list[dict]:
        """The last ``k`` insurance-fund changes (events seen, and the journal's recent past rebuilt at
        start): {ts, seq, reason, change, balance, account, rolled_back}, oldest first."""
        with self._lock:
            rows = list(self.fund)
        return [dict(r) for r in rows[-k:]]

    def recent_alerts(self, k: int = 8) -> list[tuple[int, str, str]]:
        with self._lock:
            return list(self.alerts)[-k:]

    def sizes(self) -> dict:
        """How much the feed holds (bounded buffers; for the memory bench)."""
        with self._lock:
            return {"liq_rows": len(self.liqs), "marks": sum(len(d) for d in self.marks.values()),
                    "alerts": len(self.alerts), "liq_minutes": len(self.liq_minutes),
                    "tape": sum(len(d) for d in self.tape.values()), "fund": len(self.fund),
                    "liq_recent": sum(len(d) for d in self.liq_recent.values())}

    def counters(self) -> dict:
        with self._lock:
            return {"events": self.events, "trades": self.trades, "liquidations": self.liq_count,
                    "last_seq": self.last_seq, "alerts": self.alert_count}
