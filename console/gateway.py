"""The one adapter between the screens and a node.

Screens call :class:`Gateway` methods only; they never import ``engine``.
Everything returned is plain data (dicts of ints and strings). Writes return
an :class:`Outcome`; a refused command, a role refusal and a node error all
become ``Outcome(ok=False, code, message)`` so a screen can show a
notification instead of a traceback. Reads raise :class:`GatewayError`.

:class:`Feed` is the event buffer: the node calls it on its sequencer thread,
where it only appends to bounded buffers under a lock; the UI drains it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.api import vocabulary
from engine.node.node import NodeError
from engine.node.roles import REQUIRED_ROLE

#: actions the console can ask for that are node actions rather than commands
NODE_ACTIONS = ("propose_refund", "decide_refund", "pay_refund", "propose_refunds")


@dataclass
class Outcome:
    ok: bool
    code: str = ""
    message: str = ""
    seq: int = 0
    events: list[dict] = field(default_factory=list)
    data: Any = None

    @property
    def summary(self) -> str:
        return self.message if not self.ok else (self.message or "done")


class GatewayError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _call(fn: Callable, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except GatewayError:
        raise
    except NodeError as e:
        raise GatewayError(e.code, e.message) from None
    except KeyError as e:
        raise GatewayError("not_found", f"not found: {e.args[0] if e.args else e}") from None
    except Exception as e:  # a node bug must not close the console
        raise GatewayError("error", f"{type(e).__name__}: {e}") from None


class Gateway:
    """Talks to an in-process :class:`engine.node.node.Node` (a remote node would offer the same methods)."""

    def __init__(self, node, *, timeout: float = 10.0) -> None:
        self.node = node
        self.timeout = timeout

    # ---- who and when ---------------------------------------------------
    @property
    def identity(self) -> dict:
        ident = self.node.identity
        return dict(ident) if ident else {"operator": "?", "role": "?", "db": "?"}

    @property
    def role(self) -> str:
        return self.identity.get("role", "viewer")

    def may(self, action: str) -> bool:
        actor = self.node.actor
        if actor is None:
            return True
        return actor.may(action)

    @staticmethod
    def required_role(action: str) -> str | None:
        return REQUIRED_ROLE.get(action)

    def clock(self) -> int:
        return int(self.node.clock())

    def subscribe(self, fn: Callable[[list[dict]], None]) -> Callable[[], None]:
        return self.node.subscribe(fn)

    # ---- reads ------------------------------------------------------------
    def status(self) -> dict:
        return _call(self.node.status)

    def markets(self) -> list[dict]:
        return _call(self.node.markets)

    def account(self, name: str) -> dict | None:
        return _call(self.node.account, name)

    def accounts(self, limit: int = 500, offset: int = 0, query: str = "") -> list[dict]:
        return _call(self.node.accounts, limit, offset, query)

    def book(self, market: str, levels: int = 10) -> dict:
        return _call(self.node.book, market, levels)

    def accounts_by_risk(self, limit: int = 300, below_maintenance: bool = False) -> list[dict]:
        """Accounts with a position, highest maintenance-margin ratio first (optionally only those below
        maintenance)."""
        return _call(self.node.accounts_by_risk, limit, below_maintenance)

    def reopen_backlog(self, market: str) -> dict:
        """Accounts at or below maintenance with a position in ``market`` and armed TP/SL the mark has
        crossed: what fires when the (restricted) market reopens."""
        return _call(self.node.reopen_backlog, market)

    def checks(self) -> list[dict]:
        return _call(self.node.checks)

    def snapshots(self) -> list[dict]:
        return _call(self.node.snapshots)

    def brake_preview(self) -> dict:
        return _call(self.node.brake_preview)

    def rollback_preview(self, snapshot_id: str) -> dict:
        return _call(self.node.rollback_preview, snapshot_id)

    def audit(self, limit: int = 500, query: str = "") -> list[dict]:
        return _call(self.node.audit, limit, query)

    def refunds(self) -> list[dict]:
        return _call(self.node.refunds)

    def maintenance_windows(self) -> list[dict]:
        return _call(self.node.maintenance_windows)

    def alert_deliveries(self, limit: int = 200) -> list[dict]:
        """Alert delivery attempts, newest first (no secrets: sink names only)."""
        return _call(self.node.alert_deliveries, limit)

    def alert_sinks(self) -> list[dict]:
        """The configured alert sinks: name, kind, min_severity (never their URLs or keys)."""
        return [dict(s) for s in self.node.alert_sinks]

    def feed_health(self) -> dict:
        """Price sources' health and each market's index ({"sources": [], "indexes": []} without feeds)."""
        return _call(self.node.feed_health)

    # ---- writes -----------------------------------------------------------
    def send(self, cmd: dict) -> Outcome:
        """Submit one wire-form command and wait for its result."""
        try:
            res = self.node.call(cmd, timeout=self.timeout)
        except NodeError as e:
            return Outcome(False, e.code, e.message)
        except Exception as e:  # timeouts, a stopped node, a node bug
            return Outcome(False, "error", f"{type(e).__name__}: {e}")
        return Outcome(res.ok, res.code, res.message, res.seq, list(res.events))

    def emergency_brake(self, reason: str) -> Outcome:
        return self.send({"type": "emergency_brake", "reason": reason})

    def release_brake(self, reason: str) -> Outcome:
        return self.send({"type": "release_brake", "reason": reason})

    def take_snapshot(self, label: str, reason: str = "") -> Outcome:
        return self.send({"type": "take_snapshot", "label": label, "reason": reason or label})

    def rollback(self, snapshot_id: str, reason: str) -> Outcome:
        return self.send({"type": "rollback", "snapshot_id": snapshot_id, "reason": reason})

    def schedule_maintenance(self, window_id: str, markets: list[str], start_ts: int, duration_ms: int,
                             kind: str, reason: str = "") -> Outcome:
        return self.send({"type": "schedule_maintenance", "window_id": window_id, "markets": markets,
                          "start_ts": start_ts, "duration_ms": duration_ms, "kind": kind,
                          "reason": reason or f"{kind} window"})

    def pause_liquidations(self, market: str | None, reason: str) -> Outcome:
        cmd = {"type": "pause_liquidations", "reason": reason}
        if market:
            cmd["market"] = market
        return self.send(cmd)

    def resume_liquidations(self, market: str | None, reason: str) -> Outcome:
        cmd = {"type": "resume_liquidations", "reason": reason}
        if market:
            cmd["market"] = market
        return self.send(cmd)

    def set_market_mode(self, market: str, mode: str, reason: str) -> Outcome:
        return self.send({"type": "set_market_mode", "market": market, "mode": mode, "reason": reason})

    def set_platform_access(self, enabled: bool, reason: str) -> Outcome:
        return self.send({"type": "set_platform_access", "enabled": enabled, "reason": reason})

    def pause_triggers(self, market: str | None, reason: str) -> Outcome:
        cmd = {"type": "pause_triggers", "reason": reason}
        if market:
            cmd["market"] = market
        return self.send(cmd)

    def resume_triggers(self, market: str | None, reason: str) -> Outcome:
        cmd = {"type": "resume_triggers", "reason": reason}
        if market:
            cmd["market"] = market
        return self.send(cmd)

    def set_safeguards(self, enabled: bool, reason: str) -> Outcome:
        return self.send({"type": "set_safeguards", "enabled": enabled, "reason": reason})

    # ---- operator controls: maintenance windows, withdrawals, per-account actions ----------------
    def cancel_maintenance(self, window_id: str, reason: str) -> Outcome:
        return self.send({"type": "cancel_maintenance", "window_id": window_id, "reason": reason})

    def reschedule_maintenance(self, window_id: str, start_ts: int, reason: str) -> Outcome:
        return self.send({"type": "reschedule_maintenance", "window_id": window_id, "start_ts": start_ts,
                          "reason": reason})

    def extend_maintenance(self, window_id: str, duration_ms: int, reason: str) -> Outcome:
        return self.send({"type": "extend_maintenance", "window_id": window_id, "duration_ms": duration_ms,
                          "reason": reason})

    def set_withdrawals(self, enabled: bool, reason: str) -> Outcome:
        return self.send({"type": "set_withdrawals", "enabled": enabled, "reason": reason})

    def set_account_mode(self, account: str, mode: str, reason: str) -> Outcome:
        return self.send({"type": "set_account_mode", "account": account, "mode": mode, "reason": reason})

    def cancel_account_orders(self, account: str, market: str | None, reason: str) -> Outcome:
        cmd = {"type": "cancel_account_orders", "account": account, "reason": reason}
        if market:
            cmd["market"] = market
        return self.send(cmd)

    # ---- refunds (node actions, maker-checker) ---------------------------------
    def _node_action(self, name: str, *args, **kwargs) -> Outcome:
        try:
            out = getattr(self.node, name)(*args, **kwargs)
        except GatewayError as e:
            return Outcome(False, e.code, e.message)
        except NodeError as e:
            return Outcome(False, e.code, e.message)
        except Exception as e:
            return Outcome(False, "error", f"{type(e).__name__}: {e}")
        if hasattr(out, "ok"):  # a Result
            return Outcome(out.ok, out.code, out.message, out.seq, list(out.events))
        return Outcome(True, data=out)

    def propose_refund(self, account: str, amount: str, reason: str, evidence: dict | None = None) -> Outcome:
        return self._node_action("propose_refund", account, amount, reason, evidence)

    def decide_refund(self, refund_id: str, approve: bool, reason: str, fund: str | None = None) -> Outcome:
        if fund is None:
            return self._node_action("decide_refund", refund_id, approve, reason)
        return self._node_action("decide_refund", refund_id, approve, reason, fund=fund)

    def pay_refund(self, refund_id: str, fund: str | None = None) -> Outcome:
        """``fund`` None: the fund named when the refund was approved."""
        return self._node_action("pay_refund", refund_id, fund)

    # ---- refunds computed from the journal: reads for any role, proposing needs propose_refund ----
    def compute_refunds(self, snapshot_id: str, to_seq: int, bad_seqs: list[int],
                        corrections: dict | None = None) -> dict:
        return _call(self.node.compute_refunds, snapshot_id, to_seq, bad_seqs, corrections)

    def reference_refunds(self, from_seq: int, to_seq: int, reference_ts: int, market: str | None = None) -> dict:
        return _call(self.node.reference_refunds, from_seq, to_seq, reference_ts, market)

    def suspect_inputs(self, from_seq: int, to_seq: int) -> list[dict]:
        return _call(self.node.suspect_inputs, from_seq, to_seq)

    def recompute_refund(self, refund_id: str) -> dict:
        return _call(self.node.recompute_refund, refund_id)

    def propose_refunds(self, report: dict, reason: str) -> Outcome:
        return self._node_action("propose_refunds", report, reason)


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
            alerts.append((b, "error", f"venue down {_hms(a)}-{_hms(b)} ({(b - a) // 1000:,}s without a command)"))
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
