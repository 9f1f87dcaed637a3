"""Incident alerts: one :class:`Alert` model, four renderings, asynchronous delivery with bounded retries.

* :class:`Alert` (kind, severity, title, body, dedup_key, fields, ts, action).
  ``action`` is ``trigger`` or ``resolve``; a resolve reuses its trigger's
  ``dedup_key`` (and severity), so PagerDuty closes the very incident it opened.
* Renderers: :func:`render_slack` (incoming webhook ``text`` + ``blocks``),
  :func:`render_pagerduty` (Events API v2 ``/v2/enqueue``), :func:`render_discord`
  (``content`` + ``embeds``), :func:`render_generic` (the alert as JSON).
* :func:`alerts_for_event` maps node events to alerts by the rules of the event
  vocabulary (``engine/api/vocabulary.py``: brake, circuit breaker, oracle rejected,
  market flags and quarantine, validation failures and overrides, safeguards,
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

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from ..api import vocabulary
from ..settings.logsetup import protect_logs, redact
from .httpretry import retry_after_seconds

log = logging.getLogger("perpdesk.alerts")

SEVERITIES = vocabulary.SEVERITIES
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
# events -> alerts (the rules live in the event vocabulary, engine/api/vocabulary.py)
# ---------------------------------------------------------------------------
_s = vocabulary.s


def alerts_for_event(ev: dict, ts: int, venue: str) -> list[Alert]:
    """The alerts one node event raises (most events raise none): its type's rule in the vocabulary."""
    spec = vocabulary.alert_for(ev)
    if spec is None:
        return []
    return [Alert(spec.kind, spec.severity, spec.title, spec.body, f"{venue}:{spec.key}", dict(spec.fields), ts,
                  spec.action)]


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
        """From a :class:`engine.settings.config.AlertsConfig` (enabled sinks only)."""
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
            elif t in vocabulary.ALERT_TYPES:
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
                # redacted before it is cut: a cut mid-token would no longer match the secret
                error = f"HTTP {status_code}: {redact(resp.text, self._secrets)[:200].strip()}"
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

