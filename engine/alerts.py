"""Incident alerts: one :class:`Alert` model, four renderings, asynchronous delivery with bounded retries.

* :class:`Alert` (kind, severity, title, body, dedup_key, fields, ts, action).
  ``action`` is ``trigger`` or ``resolve``; a resolve reuses its trigger's
  ``dedup_key`` (and severity), so PagerDuty closes the very incident it opened.
* Renderers: :func:`render_slack` (incoming webhook ``text`` + ``blocks``),
  :func:`render_pagerduty` (Events API v2 ``/v2/enqueue``), :func:`render_discord`
  (``content`` + ``embeds``), :func:`render_generic` (the alert as JSON).
* :func:`alerts_for_event` maps node events to alerts (brake, circuit breaker,
  oracle rejected, market flags and quarantine, validation failures,
  maintenance phases, rollback, refund decisions and payments, node alerts);
  :class:`AlertDispatcher` adds liquidation spikes and index staleness.
* :class:`AlertDispatcher` subscribes to the node (``node.subscribe``); on the
  sequencer thread it only maps and enqueues. One worker thread per sink posts
  with httpx, retrying 429/5xx and transport errors with exponential backoff
  (honouring ``Retry-After``) up to ``max_attempts``; every attempt and its
  outcome is handed to ``record`` (the node stores it). Error texts are
  redacted of every secret before they are recorded or logged, and sink URLs
  are never logged at all.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from .config import protect_logs, redact
from .httpretry import retry_after_seconds

log = logging.getLogger("perpdesk.alerts")

SEVERITIES = ("info", "warning", "error", "critical")
RANK = {s: i for i, s in enumerate(SEVERITIES)}
SLACK_EMOJI = {"info": ":information_source:", "warning": ":warning:", "error": ":rotating_light:",
               "critical": ":rotating_light:"}
DISCORD_COLOR = {"info": 0x3498DB, "warning": 0xF1C40F, "error": 0xE67E22, "critical": 0xE74C3C}
RESOLVED_COLOR = 0x2ECC71


@dataclass(frozen=True)
class Alert:
    kind: str
    severity: str  # info | warning | error | critical (PagerDuty's vocabulary)
    title: str
    body: str
    dedup_key: str
    fields: dict[str, str] = field(default_factory=dict)
    ts: int = 0  # ms
    action: str = "trigger"  # trigger | resolve

    def __post_init__(self) -> None:
        if self.severity not in RANK:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, got {self.severity!r}")
        if self.action not in ("trigger", "resolve"):
            raise ValueError(f"action must be trigger or resolve, got {self.action!r}")
        if not self.dedup_key or len(self.dedup_key) > 255:
            raise ValueError("dedup_key must be 1-255 characters")


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _headline(a: Alert) -> str:
    return f"RESOLVED: {a.title}" if a.action == "resolve" else a.title


# ---------------------------------------------------------------------------
# renderers
# ---------------------------------------------------------------------------
def render_slack(a: Alert, venue: str) -> dict:
    emoji = ":white_check_mark:" if a.action == "resolve" else SLACK_EMOJI[a.severity]
    text = f"{emoji} [{venue}] {_headline(a)}"
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{_headline(a)}"[:150]}},
    ]
    if a.body:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": a.body[:3000]}})
    if a.fields:
        blocks.append({"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*{k}*\n{v}"[:2000]} for k, v in list(a.fields.items())[:10]]})
    blocks.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": f"{venue} · {a.severity} · {a.kind} · {_iso(a.ts)} · `{a.dedup_key}`"}]})
    return {"text": text[:3000], "blocks": blocks}


def render_pagerduty(a: Alert, venue: str, routing_key: str) -> dict:
    body = {"routing_key": routing_key, "event_action": a.action, "dedup_key": a.dedup_key}
    if a.action == "trigger":
        body["payload"] = {
            "summary": f"[{venue}] {a.title}"[:1024],
            "source": venue,
            "severity": a.severity,
            "timestamp": _iso(a.ts),
            "component": a.fields.get("market", "venue"),
            "group": a.kind,
            "class": a.kind,
            "custom_details": {"body": a.body, **a.fields},
        }
    return body


def render_discord(a: Alert, venue: str) -> dict:
    embed = {
        "title": _headline(a)[:256],
        "description": a.body[:4096],
        "color": RESOLVED_COLOR if a.action == "resolve" else DISCORD_COLOR[a.severity],
        "timestamp": _iso(a.ts),
        "footer": {"text": f"{venue} · {a.severity} · {a.kind} · {a.dedup_key}"[:2048]},
        "fields": [{"name": k[:256], "value": (v or "—")[:1024], "inline": True} for k, v in list(a.fields.items())[:25]],
    }
    return {"content": f"[{venue}] {_headline(a)}"[:2000], "embeds": [embed]}


def render_generic(a: Alert, venue: str) -> dict:
    return {"venue": venue, "kind": a.kind, "severity": a.severity, "action": a.action, "title": a.title,
            "body": a.body, "dedup_key": a.dedup_key, "fields": dict(a.fields), "ts": a.ts, "time": _iso(a.ts)}


# ---------------------------------------------------------------------------
# sinks
# ---------------------------------------------------------------------------
class Sink:
    """One destination. Holds its secrets privately; ``repr`` shows only the name and kind."""

    def __init__(self, name: str, kind: str, url: str, *, routing_key: str | None = None,
                 headers: dict[str, str] | None = None, min_severity: str = "warning") -> None:
        if kind not in ("slack", "pagerduty", "discord", "webhook"):
            raise ValueError(f"unknown sink kind {kind!r}")
        if kind == "pagerduty" and not routing_key:
            raise ValueError("a pagerduty sink needs a routing key")
        self.name = name
        self.kind = kind
        self._url = url
        self._routing_key = routing_key
        self._headers = dict(headers or {})
        self.min_severity = min_severity

    @classmethod
    def from_config(cls, s) -> Sink:
        return cls(s.name, s.kind, s.url.get_secret_value(),
                   routing_key=s.routing_key.get_secret_value() if s.routing_key is not None else None,
                   headers={k: v.get_secret_value() for k, v in s.headers.items()}, min_severity=s.min_severity)

    def __repr__(self) -> str:
        return f"Sink({self.name!r}, {self.kind!r})"

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self._url, self._routing_key, *self._headers.values()) if s]

    def accepts(self, a: Alert) -> bool:
        return RANK[a.severity] >= RANK[self.min_severity]

    def request(self, a: Alert, venue: str) -> tuple[str, dict, dict]:
        """(url, JSON body, headers)."""
        headers = {"Content-Type": "application/json", "User-Agent": "perpdesk-alerts", **self._headers}
        url = self._url
        if self.kind == "slack":
            body = render_slack(a, venue)
        elif self.kind == "pagerduty":
            body = render_pagerduty(a, venue, self._routing_key or "")
        elif self.kind == "discord":
            body = render_discord(a, venue)
            if "wait=" not in url:
                url += ("&" if "?" in url else "?") + "wait=true"
        else:
            body = render_generic(a, venue)
        return url, body, headers


# ---------------------------------------------------------------------------
# events -> alerts
# ---------------------------------------------------------------------------
def _s(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, list):
        return ", ".join(map(str, v)) or "—"
    return str(v)


def _price(v) -> str:
    if isinstance(v, int) and not isinstance(v, bool):
        from .fixedpoint import fmt_price

        return fmt_price(v)
    return _s(v)


def alerts_for_event(ev: dict, ts: int, venue: str) -> list[Alert]:
    """The alerts one node event raises (most events raise none)."""
    t = ev.get("type")
    k = venue
    seq = ev.get("seq")
    if t == "brake_engaged":
        return [Alert("brake_engaged", "critical", f"Emergency brake engaged by {_s(ev.get('operator'))}",
                      f"Reason: {_s(ev.get('reason'))}. Platform access disabled, every market halted, "
                      f"liquidations and TP/SL paused.", f"{k}:brake",
                      {"canceled orders": _s(ev.get("canceled_orders")), "TP/SL kept": _s(ev.get("kept_tpsl")),
                       "accounts affected": _s(ev.get("accounts_affected")), "seq": _s(seq)}, ts)]
    if t == "brake_released":
        return [Alert("brake_released", "critical", f"Emergency brake released by {_s(ev.get('operator'))}",
                      f"Reason: {_s(ev.get('reason'))}. Markets reopen in post_only.", f"{k}:brake",
                      {"seq": _s(seq)}, ts, "resolve")]
    if t == "circuit_breaker_tripped":
        m = _s(ev.get("market"))
        return [Alert("circuit_breaker", "critical", f"Liquidation circuit breaker tripped on {m}",
                      f"{_s(ev.get('accounts'))} accounts (limit {_s(ev.get('limit_accounts'))}), "
                      f"open-interest share {_s(ev.get('oi_share'))} (limit {_s(ev.get('limit_oi_share'))}).",
                      f"{k}:circuit_breaker:{m}", {"market": m, "seq": _s(seq)}, ts)]
    if t == "oracle_rejected":
        m = _s(ev.get("market"))
        return [Alert("oracle_rejected", "error", f"Oracle price rejected on {m} ({_s(ev.get('code'))})",
                      _s(ev.get("message")), f"{k}:oracle_rejected:{m}",
                      {"market": m, "price": _price(ev.get("price")), "source": _s(ev.get("source")),
                       "code": _s(ev.get("code")), "seq": _s(seq)}, ts)]
    if t in ("market_flagged", "market_unflagged"):
        m, flag = _s(ev.get("market")), _s(ev.get("flag"))
        resolve = t == "market_unflagged"
        return [Alert(t, "error", f"{m} flagged: {flag}" if not resolve else f"{m} flag cleared: {flag}",
                      _s(ev.get("detail")) if not resolve else "", f"{k}:flag:{m}:{flag}",
                      {"market": m, "flag": flag, "seq": _s(seq)}, ts, "resolve" if resolve else "trigger")]
    if t == "market_data_quarantined":
        m = _s(ev.get("market"))
        return [Alert("market_data_quarantined", "critical", f"Market data quarantined on {m}",
                      "Refused: " + "; ".join(map(str, ev.get("reasons") or [])), f"{k}:quarantine:{m}",
                      {"market": m, "mark price": _price(ev.get("mark_price")),
                       "funding index": _s(ev.get("funding_index")), "source": _s(ev.get("source")),
                       "seq": _s(seq)}, ts)]
    if t == "validation_failed":
        check = _s(ev.get("check"))
        return [Alert("validation_failed", "critical", f"Validation check failed: {check}", _s(ev.get("detail")),
                      f"{k}:validation:{check}", {"check": check, "seq": _s(seq)}, ts)]
    if t == "validation_overridden":
        return [Alert("validation_overridden", "critical",
                      f"Validation gate overridden by {_s(ev.get('operator'))} for {_s(ev.get('command'))}",
                      f"Reason: {_s(ev.get('reason'))}. Failing: "
                      + "; ".join(str(f) for f in (ev.get("failures") or [])),
                      f"{k}:override:{_s(seq)}", {"command": _s(ev.get("command")), "seq": _s(seq)}, ts)]
    if t == "safeguards_set":
        on = bool(ev.get("enabled"))
        return [Alert("safeguards", "info" if on else "critical",
                      "Guard rails switched " + ("on" if on else "OFF"),
                      "" if on else "Oracle checks, market-data quarantine, circuit breakers and post-only bands "
                                    "no longer protect the venue.",
                      f"{k}:safeguards_off", {"seq": _s(seq)}, ts, "resolve" if on else "trigger")]
    if t == "maintenance_phase":
        phase, wid = _s(ev.get("phase")), _s(ev.get("window_id"))
        sev = "info" if phase in ("scheduled", "announced", "done") else "warning"
        return [Alert("maintenance_phase", sev, f"Maintenance {wid}: {phase}",
                      f"{_s(ev.get('kind'))} on {_s(ev.get('markets'))}", f"{k}:maintenance:{wid}",
                      {"window": wid, "phase": phase, "markets": _s(ev.get("markets")),
                       "until": _iso(ev["until_ts"]) if isinstance(ev.get("until_ts"), int) else "—",
                       "seq": _s(seq)}, ts, "resolve" if phase == "done" else "trigger")]
    if t == "rolled_back":
        return [Alert("rollback", "critical", f"Venue rolled back to {_s(ev.get('snapshot_id'))}",
                      f"By {_s(ev.get('operator'))}: {_s(ev.get('reason'))}. "
                      f"{_s(ev.get('discarded_commands'))} commands after seq {_s(ev.get('to_seq'))} rolled back.",
                      f"{k}:rollback:{_s(ev.get('snapshot_id'))}:{_s(seq)}",
                      {"snapshot": _s(ev.get("snapshot_id")), "to seq": _s(ev.get("to_seq")),
                       "state hash": _s(ev.get("state_hash"))[:16], "seq": _s(seq)}, ts)]
    if t == "refund_decided":
        rid, status = _s(ev.get("refund_id")), _s(ev.get("status"))
        return [Alert("refund_" + status, "warning" if status == "approved" else "info",
                      f"Refund {rid} {status} by {_s(ev.get('approver'))}",
                      f"Reason: {_s(ev.get('reason'))}", f"{k}:refund:{rid}",
                      {"refund": rid, "account": _s(ev.get("account")), "amount": _s(ev.get("amount")),
                       "proposer": _s(ev.get("proposer"))}, ts)]
    if t == "credited" and ev.get("refund_id"):
        rid = _s(ev.get("refund_id"))
        from .fixedpoint import fmt_amount

        amt = ev.get("amount")
        return [Alert("refund_paid", "info", f"Refund {rid} paid to {_s(ev.get('account'))}",
                      f"from the {_s(ev.get('fund'))} fund", f"{k}:refund:{rid}",
                      {"amount": fmt_amount(amt) if isinstance(amt, int) else _s(amt), "seq": _s(seq)}, ts)]
    if t == "node_alert":
        sev = ev.get("severity") if ev.get("severity") in RANK else "error"
        msg = _s(ev.get("message"))
        h = hashlib.sha256(msg.encode()).hexdigest()[:12]
        return [Alert("node_alert", sev, f"Node: {msg[:120]}", msg, f"{k}:node:{h}", {}, ts)]
    return []


# ---------------------------------------------------------------------------
# the dispatcher
# ---------------------------------------------------------------------------
class _SinkWorker:
    def __init__(self, sink: Sink, maxlen: int) -> None:
        self.sink = sink
        self.queue: deque[Alert] = deque()
        self.maxlen = maxlen
        self.cv = threading.Condition()
        self.busy = False
        self.dropped = 0
        self.thread: threading.Thread | None = None


class AlertDispatcher:
    """Maps node events to alerts and delivers them to every sink (see the module doc)."""

    def __init__(self, sinks: Iterable[Sink], *, venue: str = "perpdesk", clock: Callable[[], int],
                 record: Callable[[dict], None] | None = None, client: httpx.Client | None = None,
                 timeout_s: float = 5.0, max_attempts: int = 4, backoff_s: float = 1.0,
                 max_retry_after_s: float = 30.0, sleep: Callable[[float], None] = time.sleep,
                 liquidation_spike: int = 50, liquidation_window_ms: int = 60_000,
                 secrets: Iterable[str] = (), queue_max: int = 1000) -> None:
        self.venue = venue
        self.clock = clock
        self.record = record
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_retry_after_s = max_retry_after_s
        self.sleep = sleep
        self.liquidation_spike = liquidation_spike
        self.liquidation_window_ms = liquidation_window_ms
        self._own_client = client is None
        self.client = client if client is not None else httpx.Client(timeout=httpx.Timeout(timeout_s),
                                                                     follow_redirects=False)
        self.workers = [_SinkWorker(s, queue_max) for s in sinks]
        self._secrets = sorted({*secrets, *(x for w in self.workers for x in w.sink.secrets)}, key=len, reverse=True)
        protect_logs(self._secrets)
        self._liqs: dict[str, deque[int]] = {}
        self._spiked: dict[str, int] = {}
        self._index_state: dict[str, str] = {}
        self._stopping = False
        self.raised = 0

    @classmethod
    def from_config(cls, cfg, *, clock, record=None, secrets=(), **kw) -> AlertDispatcher:
        """From a :class:`engine.config.AlertsConfig` (enabled sinks only)."""
        sinks = [Sink.from_config(s) for s in cfg.sinks if s.enabled]
        return cls(sinks, venue=cfg.venue, clock=clock, record=record, timeout_s=cfg.timeout_s,
                   max_attempts=cfg.max_attempts, backoff_s=cfg.backoff_s, max_retry_after_s=cfg.max_retry_after_s,
                   liquidation_spike=cfg.liquidation_spike,
                   liquidation_window_ms=int(cfg.liquidation_window_s * 1000), secrets=secrets, **kw)

    # ---- inputs (the sequencer thread: map and enqueue only) --------------------
    def __call__(self, events: list[dict]) -> None:
        now = self.clock()
        for ev in events:
            t = ev.get("type")
            if t == "liquidation":
                self._count_liquidation(ev, now)
            elif t in _MAPPED:
                for a in alerts_for_event(ev, now, self.venue):
                    self.notify(a)

    def _count_liquidation(self, ev: dict, now: int) -> None:
        m = ev.get("market") or "?"
        d = self._liqs.get(m)
        if d is None:
            d = self._liqs[m] = deque(maxlen=self.liquidation_spike)
        d.append(now)
        if len(d) == self.liquidation_spike and now - d[0] <= self.liquidation_window_ms:
            last = self._spiked.get(m)
            if last is None or now - last > self.liquidation_window_ms:
                self._spiked[m] = now
                secs = self.liquidation_window_ms // 1000
                self.notify(Alert("liquidation_spike", "error", f"Liquidation spike on {m}",
                                  f"{len(d)} liquidations within {(now - d[0]) / 1000:.1f} s "
                                  f"(threshold {self.liquidation_spike} in {secs} s).",
                                  f"{self.venue}:liquidation_spike:{m}",
                                  {"market": m, "liquidations": str(len(d)), "seq": _s(ev.get("seq"))}, now))

    def on_index(self, res) -> None:
        """FeedRunner listener: the index going stale raises ``oracle_stale``; recovering resolves it."""
        prev = self._index_state.get(res.market)
        self._index_state[res.market] = res.status
        key = f"{self.venue}:oracle_stale:{res.market}"
        if res.status == "stale" and prev != "stale":
            dropped = ", ".join(f"{s} ({why})" for s, why in sorted(res.dropped.items())) or "none"
            self.notify(Alert("oracle_stale", "error", f"Index for {res.market} is stale",
                              f"{res.reason}. Dropped: {dropped}. No index is published; the engine's oracle "
                              f"staleness rules apply.", key, {"market": res.market}, self.clock()))
        elif res.status == "ok" and prev == "stale":
            self.notify(Alert("oracle_stale", "error", f"Index for {res.market} recovered",
                              f"{len(res.used)} sources agree: {', '.join(res.used)}.", key,
                              {"market": res.market}, self.clock(), "resolve"))

    def notify(self, alert: Alert) -> None:
        """Queue ``alert`` for every sink that takes its severity (never blocks)."""
        self.raised += 1
        for w in self.workers:
            if not w.sink.accepts(alert):
                continue
            with w.cv:
                if len(w.queue) >= w.maxlen:
                    w.queue.popleft()
                    w.dropped += 1
                w.queue.append(alert)
                w.cv.notify()

    # ---- delivery ----------------------------------------------------------------
    def deliver(self, sink: Sink, alert: Alert) -> bool:
        """POST ``alert`` to ``sink`` with bounded retries; records every attempt. True when delivered."""
        url, body, headers = sink.request(alert, self.venue)
        for attempt in range(1, self.max_attempts + 1):
            status_code: int | None = None
            delay: float | None = None
            try:
                resp = self.client.post(url, json=body, headers=headers)
                status_code = resp.status_code
                if 200 <= status_code < 300:
                    self._record(alert, sink, attempt, "delivered", status_code, "")
                    return True
                error = f"HTTP {status_code}: {resp.text[:200].strip()}"
                retry = status_code == 429 or status_code >= 500
                if retry:
                    ra = retry_after_seconds(resp.headers.get("retry-after"))
                    if ra is not None:
                        delay = min(ra, self.max_retry_after_s)
            except httpx.TimeoutException as e:
                error, retry = f"timeout ({type(e).__name__})", True
            except httpx.HTTPError as e:
                error, retry = f"{type(e).__name__}: {e}", True
            last = attempt >= self.max_attempts or not retry
            self._record(alert, sink, attempt, "failed" if last else "retrying", status_code, error)
            if last:
                return False
            if delay is None:
                delay = self.backoff_s * (2 ** (attempt - 1))
            self.sleep(delay)
        return False

    def _record(self, alert: Alert, sink: Sink, attempt: int, status: str, http_status: int | None,
                error: str) -> None:
        error = redact(error, self._secrets)[:500]
        rec = {"ts": self.clock(), "kind": alert.kind, "action": alert.action, "dedup_key": alert.dedup_key,
               "severity": alert.severity, "sink": sink.name, "sink_kind": sink.kind, "attempt": attempt,
               "status": status, "http_status": http_status, "error": error}
        log.info("alert %s %s -> %s: attempt %d %s %s %s", alert.kind, alert.action, sink.name, attempt, status,
                 http_status or "", error)
        if self.record is not None:
            try:
                self.record(rec)
            except Exception as e:  # recording must not stop delivery
                log.error("alert delivery not recorded: %s", redact(str(e), self._secrets))

    # ---- workers -------------------------------------------------------------------
    def start(self) -> AlertDispatcher:
        self._stopping = False
        for w in self.workers:
            if w.thread is None:
                w.thread = threading.Thread(target=self._run, args=(w,), name=f"perpdesk-alerts-{w.sink.name}",
                                            daemon=True)
                w.thread.start()
        return self

    def _run(self, w: _SinkWorker) -> None:
        while True:
            with w.cv:
                while not w.queue and not self._stopping:
                    w.cv.wait()
                if not w.queue:
                    return
                alert = w.queue.popleft()
                w.busy = True
            try:
                self.deliver(w.sink, alert)
            except Exception:  # a bug must not kill the worker
                log.exception("alert delivery to %s failed", w.sink.name)
            finally:
                with w.cv:
                    w.busy = False
                    w.cv.notify_all()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every queued alert has been delivered or given up (True) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        for w in self.workers:
            with w.cv:
                while w.queue or w.busy:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    w.cv.wait(left)
        return True

    def run_pending(self) -> int:
        """Deliver every queued alert now, on the calling thread (frozen desks, tests); returns how many."""
        n = 0
        for w in self.workers:
            while True:
                with w.cv:
                    if not w.queue:
                        break
                    alert = w.queue.popleft()
                self.deliver(w.sink, alert)
                n += 1
        return n

    def pending(self) -> int:
        return sum(len(w.queue) + w.busy for w in self.workers)

    def stop(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout``), then stop the workers."""
        self.drain(timeout)
        self._stopping = True
        for w in self.workers:
            with w.cv:
                w.queue.clear()
                w.cv.notify_all()
        for w in self.workers:
            if w.thread is not None:
                w.thread.join(timeout=timeout)
                w.thread = None
        if self._own_client:
            self.client.close()


_MAPPED = frozenset({"brake_engaged", "brake_released", "circuit_breaker_tripped", "oracle_rejected", "market_flagged",
                     "market_unflagged", "market_data_quarantined", "validation_failed", "maintenance_phase",
                     "rolled_back", "refund_decided", "credited", "node_alert"})
