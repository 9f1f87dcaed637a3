"""The one client of a venue: :class:`VenueClient` (httpx, sync, thread-safe).

``VenueClient(url, token)`` with ``url`` ``http(s)://host:port`` or ``unix:/path``. It offers
``.gateway``, ``.feed`` and ``.venue`` with the surface the console uses (the venue's
:class:`~engine.venue.gateway.Gateway` reads and writes, :class:`~engine.venue.feed.Feed` reads, the
market's progress), each method a typed call to its route (``engine/api/routes.py``). Each calling
thread has its own ``httpx.Client`` (a slow read in one worker never holds up another thread's).

``attach(on_event)`` opens a presence session and starts the event-stream thread: server-sent events
(``GET /v1/events``), reconnecting with backoff and resuming after the last seq seen; ``on_event(kind,
payload)`` is called for ``events``, ``heartbeat``, ``down`` and ``up``. :attr:`connection` says whether
the venue answers: {connected, down_since, last_error, attempts}. A transport failure is a
``GatewayError("venue_unreachable", ...)`` for a read and an ``Outcome(False, "venue_unreachable", ...)``
for a write, never a traceback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from . import routes
from .errors import ErrorCode, GatewayError
from .models import Outcome

UNREACHABLE = ErrorCode.venue_unreachable.value
#: event-stream reconnect backoff: first wait, longest wait (seconds)
BACKOFF_S = (0.2, 2.0)


def read_token(path: str | Path) -> str:
    return Path(path).read_text().strip()


class Connection:
    """Whether the venue answers (updated by every request and by the event-stream thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.connected = True
        self.down_since: float | None = None  # wall-clock seconds
        self.last_error = ""
        self.attempts = 0
        self.listeners: list[Callable[[bool], None]] = []

    def state(self) -> dict:
        with self._lock:
            return {"connected": self.connected, "down_since": self.down_since, "last_error": self.last_error,
                    "attempts": self.attempts}

    def down(self, err: str) -> None:
        with self._lock:
            was = self.connected
            self.connected = False
            self.last_error = err
            if was:
                self.down_since = time.time()
                self.attempts = 0
        if was:
            for fn in list(self.listeners):
                fn(False)

    def attempt(self) -> None:
        with self._lock:
            if not self.connected:
                self.attempts += 1

    def up(self) -> None:
        with self._lock:
            was = self.connected
            self.connected = True
            self.down_since = None
            self.last_error = ""
            self.attempts = 0
        if not was:
            for fn in list(self.listeners):
                fn(True)


class _Http:
    """Requests to one venue, or to the first of several that answers (``URL1,URL2``: a leader and its
    standbys: when the one in use does not answer, the next request goes to the next URL, so a console
    follows the leader to whichever venue took over)."""

    def __init__(self, url: str, token: str | None, timeout: float, connection: Connection,
                 verify: bool | str = True) -> None:
        self.urls = [u.strip() for u in url.split(",") if u.strip()] or [url]
        self.token = token
        self.timeout = timeout
        self.verify = verify
        self.connection = connection
        self._local = threading.local()
        self._all: list[httpx.Client] = []
        self._lock = threading.Lock()
        self.generation = 0  # bumped at each move to another URL: per-thread clients are rebuilt
        self._use(0)

    def _use(self, i: int) -> None:
        self.index = i
        self.url = url = self.urls[i]
        if url.startswith("unix:"):
            self.uds: str | None = url[5:]
            self.base = "http://venue"
        else:
            self.uds = None
            self.base = url.rstrip("/")

    def failover(self, failed: str) -> None:
        """``failed`` (a URL) did not answer: the next requests go to the next URL (if there are several)."""
        if len(self.urls) < 2:
            return
        with self._lock:
            if self.url != failed:  # another thread moved on already
                return
            self._use((self.index + 1) % len(self.urls))
            self.generation += 1
            old, self._all = self._all, []
        for c in old:
            try:
                c.close()
            except Exception:
                pass

    def new_client(self, timeout: float | httpx.Timeout | None = None) -> httpx.Client:
        transport = httpx.HTTPTransport(uds=self.uds, verify=self.verify) if self.uds else \
            httpx.HTTPTransport(verify=self.verify)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.base + routes.PREFIX, transport=transport, headers=headers,
                            timeout=timeout if timeout is not None else self.timeout)

    def client(self) -> httpx.Client:
        c = getattr(self._local, "client", None)
        if c is None or getattr(self._local, "generation", -1) != self.generation:
            c = self._local.client = self.new_client()
            self._local.generation = self.generation
            with self._lock:
                self._all.append(c)
        return c

    def request(self, method: str, path: str, params: dict | None = None, body: dict | None = None) -> Any:
        url = self.url
        try:
            r = self.client().request(method, path, params=params,
                                      content=orjson.dumps(body) if body is not None else None,
                                      headers={"Content-Type": "application/json"} if body is not None else None)
        except httpx.HTTPError as e:
            msg = f"the venue at {url} does not answer: {e or type(e).__name__}"
            self.connection.down(msg)
            self.failover(url)
            raise GatewayError(UNREACHABLE, msg) from None
        if r.status_code >= 500 and r.status_code in (502, 504):
            msg = f"the venue at {url} answered {r.status_code}"
            self.connection.down(msg)
            self.failover(url)
            raise GatewayError(UNREACHABLE, msg)
        self.connection.up()
        try:
            data = orjson.loads(r.content) if r.content else None
        except orjson.JSONDecodeError:
            data = {"code": "error", "message": r.text[:200]}
        if r.status_code >= 400:
            if isinstance(data, dict) and "code" in data:
                raise GatewayError(str(data["code"]), str(data.get("message", "")))
            raise GatewayError("error", f"HTTP {r.status_code}")
        return data

    def close(self) -> None:
        with self._lock:
            for c in self._all:
                try:
                    c.close()
                except Exception:
                    pass
            self._all.clear()
        self._local = threading.local()


def _params(spec: tuple, args: tuple, kwargs: dict) -> dict:
    out: dict = {}
    for i, (name, _t, default) in enumerate(spec):
        if i < len(args):
            v = args[i]
        elif name in kwargs:
            v = kwargs[name]
        elif default is routes.REQUIRED:
            raise TypeError(f"missing argument {name!r}")
        else:
            continue
        if v is not None:
            out[name] = ("true" if v else "false") if isinstance(v, bool) else v
    return out


class _Routes:
    def __init__(self, http: _Http) -> None:
        self._http = http

    def _read(self, table: dict, name: str, *args, **kwargs) -> Any:
        path, spec = table[name]
        return self._http.request("GET", path, params=_params(spec, args, kwargs))

    def _act(self, name: str, **body) -> Outcome:
        path, _model = routes.ACTIONS[name]
        try:
            return Outcome.from_dict(self._http.request("POST", path, body=body))
        except GatewayError as e:
            return Outcome(False, e.code, e.message)


class RemoteGateway(_Routes):
    """The venue's gateway over HTTP: the same methods and plain data as in process."""

    def __init__(self, http: _Http) -> None:
        super().__init__(http)
        self._whoami: dict | None = None

    # ---- who and when ----------------------------------------------------------------------
    def whoami(self, refresh: bool = False) -> dict:
        if self._whoami is None or refresh:
            self._whoami = self._http.request("GET", routes.WHOAMI)
        return self._whoami

    @property
    def identity(self) -> dict:
        w = self.whoami()
        return {"operator": w["operator"], "role": w["role"], "db": w["db"]}

    @property
    def role(self) -> str:
        return self.whoami()["role"]

    def may(self, action: str) -> bool:
        return bool(self.whoami()["may"].get(action, True))

    def required_role(self, action: str) -> str | None:
        return self.whoami()["required"].get(action)

    @staticmethod
    def clock() -> int:
        return time.time_ns() // 1_000_000

    def subscribe(self, fn):
        raise GatewayError("unsupported", "events come over the event stream (VenueClient.attach)")

    def sim_rate(self) -> float | None:
        return self._http.request("GET", "/sim-rate")["rate"]

    def sessions(self) -> list[dict]:
        return self._read(routes.READS, "sessions")

    # ---- reads -------------------------------------------------------------------------------
    def status(self) -> dict:
        return self._read(routes.READS, "status")

    def markets(self) -> list[dict]:
        return self._read(routes.READS, "markets")

    def account(self, name: str) -> dict | None:
        return self._read(routes.READS, "account", name)

    def accounts(self, limit: int = 500, offset: int = 0, query: str = "") -> list[dict]:
        return self._read(routes.READS, "accounts", limit, offset, query)

    def book(self, market: str, levels: int = 10) -> dict:
        return self._read(routes.READS, "book", market, levels)

    def accounts_by_risk(self, limit: int = 300, below_maintenance: bool = False) -> list[dict]:
        return self._read(routes.READS, "accounts_by_risk", limit, below_maintenance)

    def reopen_backlog(self, market: str) -> dict:
        return self._read(routes.READS, "reopen_backlog", market)

    def checks(self) -> list[dict]:
        return self._read(routes.READS, "checks")

    def snapshots(self) -> list[dict]:
        return self._read(routes.READS, "snapshots")

    def brake_preview(self) -> dict:
        return self._read(routes.READS, "brake_preview")

    def rollback_preview(self, snapshot_id: str) -> dict:
        return self._read(routes.READS, "rollback_preview", snapshot_id)

    def audit(self, limit: int = 500, query: str = "") -> list[dict]:
        return self._read(routes.READS, "audit", limit, query)

    def refunds(self) -> list[dict]:
        return self._read(routes.READS, "refunds")

    def maintenance_windows(self) -> list[dict]:
        return self._read(routes.READS, "maintenance_windows")

    def alert_deliveries(self, limit: int = 200) -> list[dict]:
        return self._read(routes.READS, "alert_deliveries", limit)

    def alert_sinks(self) -> list[dict]:
        return self._read(routes.READS, "alert_sinks")

    def feed_health(self) -> dict:
        return self._read(routes.READS, "feed_health")

    def compute_refunds(self, snapshot_id: str, to_seq: int, bad_seqs: list[int],
                        corrections: dict | None = None) -> dict:
        return self._http.request("POST", routes.COMPUTE_REFUNDS, body={
            "snapshot_id": snapshot_id, "to_seq": to_seq, "bad_seqs": list(bad_seqs), "corrections": corrections})

    def reference_refunds(self, from_seq: int, to_seq: int, reference_ts: int, market: str | None = None) -> dict:
        return self._read(routes.READS, "reference_refunds", from_seq, to_seq, reference_ts, market)

    def suspect_inputs(self, from_seq: int, to_seq: int) -> list[dict]:
        return self._read(routes.READS, "suspect_inputs", from_seq, to_seq)

    def recompute_refund(self, refund_id: str) -> dict:
        return self._read(routes.READS, "recompute_refund", refund_id)

    # ---- writes ------------------------------------------------------------------------------
    def send(self, cmd: dict) -> Outcome:
        try:
            return Outcome.from_dict(self._http.request("POST", routes.COMMANDS, body=cmd))
        except GatewayError as e:
            return Outcome(False, e.code, e.message)

    def emergency_brake(self, reason: str) -> Outcome:
        return self._act("emergency_brake", reason=reason)

    def release_brake(self, reason: str) -> Outcome:
        return self._act("release_brake", reason=reason)

    def take_snapshot(self, label: str, reason: str = "") -> Outcome:
        return self._act("take_snapshot", label=label, reason=reason)

    def rollback(self, snapshot_id: str, reason: str) -> Outcome:
        return self._act("rollback", snapshot_id=snapshot_id, reason=reason)

    def schedule_maintenance(self, window_id: str, markets: list[str], start_ts: int, duration_ms: int,
                             kind: str, reason: str = "") -> Outcome:
        return self._act("schedule_maintenance", window_id=window_id, markets=list(markets), start_ts=start_ts,
                         duration_ms=duration_ms, kind=kind, reason=reason)

    def pause_liquidations(self, market: str | None, reason: str) -> Outcome:
        return self._act("pause_liquidations", market=market, reason=reason)

    def resume_liquidations(self, market: str | None, reason: str) -> Outcome:
        return self._act("resume_liquidations", market=market, reason=reason)

    def set_market_mode(self, market: str, mode: str, reason: str) -> Outcome:
        return self._act("set_market_mode", market=market, mode=mode, reason=reason)

    def set_platform_access(self, enabled: bool, reason: str) -> Outcome:
        return self._act("set_platform_access", enabled=enabled, reason=reason)

    def pause_triggers(self, market: str | None, reason: str) -> Outcome:
        return self._act("pause_triggers", market=market, reason=reason)

    def resume_triggers(self, market: str | None, reason: str) -> Outcome:
        return self._act("resume_triggers", market=market, reason=reason)

    def set_safeguards(self, enabled: bool, reason: str) -> Outcome:
        return self._act("set_safeguards", enabled=enabled, reason=reason)

    def cancel_maintenance(self, window_id: str, reason: str) -> Outcome:
        return self._act("cancel_maintenance", window_id=window_id, reason=reason)

    def reschedule_maintenance(self, window_id: str, start_ts: int, reason: str) -> Outcome:
        return self._act("reschedule_maintenance", window_id=window_id, start_ts=start_ts, reason=reason)

    def extend_maintenance(self, window_id: str, duration_ms: int, reason: str) -> Outcome:
        return self._act("extend_maintenance", window_id=window_id, duration_ms=duration_ms, reason=reason)

    def set_withdrawals(self, enabled: bool, reason: str) -> Outcome:
        return self._act("set_withdrawals", enabled=enabled, reason=reason)

    def set_account_mode(self, account: str, mode: str, reason: str) -> Outcome:
        return self._act("set_account_mode", account=account, mode=mode, reason=reason)

    def cancel_account_orders(self, account: str, market: str | None, reason: str) -> Outcome:
        return self._act("cancel_account_orders", account=account, market=market, reason=reason)

    def propose_refund(self, account: str, amount: str, reason: str, evidence: dict | None = None) -> Outcome:
        return self._act("propose_refund", account=account, amount=amount, reason=reason, evidence=evidence)

    def decide_refund(self, refund_id: str, approve: bool, reason: str, fund: str | None = None) -> Outcome:
        return self._act("decide_refund", refund_id=refund_id, approve=approve, reason=reason, fund=fund)

    def pay_refund(self, refund_id: str, fund: str | None = None) -> Outcome:
        return self._act("pay_refund", refund_id=refund_id, fund=fund)

    def propose_refunds(self, report: dict, reason: str) -> Outcome:
        return self._act("propose_refunds", report=report, reason=reason)


class RemoteFeed(_Routes):
    """The venue's event feed over HTTP (its bounded buffers, read on demand)."""

    def counters(self) -> dict:
        return self._read(routes.FEED_READS, "counters")

    def last_minute(self, now: int) -> dict[str, int]:
        return self._read(routes.FEED_READS, "last_minute", now)

    def per_minute(self, now: int, minutes: int = 30) -> list[int]:
        return self._read(routes.FEED_READS, "per_minute", now, minutes)

    def liquidations(self) -> list[dict]:
        return self._read(routes.FEED_READS, "liquidations")

    def liquidations_since(self, n: int) -> list[dict]:
        return self._read(routes.FEED_READS, "liquidations_since", n)

    def mark_history(self, market: str) -> list[int]:
        return self._read(routes.FEED_READS, "mark_history", market)

    def mark_histories(self) -> dict[str, list[int]]:
        return self._read(routes.FEED_READS, "mark_histories")

    def recent_trades(self, market: str, k: int = 40) -> list[tuple[int, str, int, int]]:
        return [tuple(t) for t in self._read(routes.FEED_READS, "recent_trades", market, k)]

    def fund_history(self, k: int = 200) -> list[dict]:
        return self._read(routes.FEED_READS, "fund_history", k)

    def recent_alerts(self, k: int = 8) -> list[tuple[int, str, str]]:
        return [tuple(a) for a in self._read(routes.FEED_READS, "recent_alerts", k)]

    def restored_from(self) -> dict | None:
        return self._read(routes.FEED_READS, "restored_from")

    def sizes(self) -> dict:
        return self._read(routes.FEED_READS, "sizes")


class RemoteVenue(_Routes):
    """The venue's own figures (its market runs by itself; a console never starts or stops it)."""

    def progress(self) -> dict:
        return self._http.request("GET", routes.PROGRESS)

    def sim_rate(self) -> float | None:
        return self.progress()["rate"]

    def sim_step_no(self) -> int:
        return int(self.progress()["step_no"])

    def journal_len(self) -> int:
        return int(self.progress()["journal_len"])

    def health(self) -> dict:
        return self._http.request("GET", routes.HEALTH)


class VenueClient:
    """One attached venue: its gateway, feed and figures, the event stream and the presence session."""

    def __init__(self, url: str, token: str | None, *, timeout: float = 30.0, verify: bool | str = True) -> None:
        self.url = url
        self.connection = Connection()
        self.http = _Http(url, token, timeout, self.connection, verify)
        self.gateway = RemoteGateway(self.http)
        self.feed = RemoteFeed(self.http)
        self.venue = RemoteVenue(self.http)
        self.session: str | None = None
        self.last_seq = 0
        self.head = 0
        self.proc = None  # the sandbox venue's process when this console started it (console/sandbox.py)
        self._on_event: Callable[[str, dict], None] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream_client: httpx.Client | None = None
        self.connection.listeners.append(self._state_changed)

    # ---- presence and the event stream -------------------------------------------------------------
    def attach(self, on_event: Callable[[str, dict], None] | None = None) -> VenueClient:
        """Open a presence session and start the event-stream thread (reconnects by itself)."""
        self._on_event = on_event
        try:
            self.session = self.http.request("POST", routes.SESSIONS)["session"]
        except GatewayError:
            import secrets

            self.session = secrets.token_hex(8)  # the stream registers it once the venue answers
        self._stop.clear()
        self._thread = threading.Thread(target=self._events_loop, name="venue-events", daemon=True)
        self._thread.start()
        return self

    def detach(self) -> None:
        """Leave: the session closes, the stream stops; the venue keeps running."""
        self._stop.set()
        c = self._stream_client
        if c is not None:
            try:
                c.close()
            except Exception:
                pass
        if self.session is not None:
            try:
                self.http.request("DELETE", f"{routes.SESSIONS}/{self.session}")
            except GatewayError:
                pass
            self.session = None
        if self._thread is not None:
            self._thread.join(timeout=3)
            self._thread = None

    def close(self) -> None:
        self.detach()
        self.http.close()

    def overview(self, now: int) -> dict:
        """What every console refresh reads, in one request: {status, markets, counters, last_minute,
        rate, sessions}."""
        return self.http.request("GET", routes.OVERVIEW, params={"now": now})

    def _emit(self, kind: str, payload: dict) -> None:
        fn = self._on_event
        if fn is not None:
            try:
                fn(kind, payload)
            except Exception:  # a listener's bug must not end the stream
                pass

    def _state_changed(self, up: bool) -> None:
        self._emit("up" if up else "down", self.connection.state())

    def _events_loop(self) -> None:
        wait = BACKOFF_S[0]
        while not self._stop.is_set():
            client = self._stream_client = self.http.new_client(httpx.Timeout(5.0, read=10.0))
            try:
                self.connection.attempt()
                headers = {"Last-Event-ID": str(self.last_seq)} if self.last_seq else {}
                with client.stream("GET", routes.EVENTS, params={"session": self.session} if self.session else None,
                                   headers=headers) as r:
                    if r.status_code != 200:
                        r.read()
                        try:
                            err = orjson.loads(r.content)
                        except Exception:
                            err = {"code": "error", "message": f"HTTP {r.status_code}"}
                        raise GatewayError(str(err.get("code")), str(err.get("message")))
                    self.connection.up()
                    wait = BACKOFF_S[0]
                    kind, data, eid = "", "", None
                    for line in r.iter_lines():
                        if self._stop.is_set():
                            return
                        if not line:
                            if kind and data:
                                self._dispatch(kind, data, eid)
                            kind, data, eid = "", "", None
                        elif line.startswith("event:"):
                            kind = line[6:].strip()
                        elif line.startswith("data:"):
                            data += line[5:].strip()
                        elif line.startswith("id:"):
                            eid = line[3:].strip()
                raise GatewayError(UNREACHABLE, "the venue closed the event stream")
            except Exception as e:
                if self._stop.is_set():
                    return
                code = getattr(e, "code", "")
                msg = getattr(e, "message", "") or f"{type(e).__name__}: {e}"
                if code in ("unauthenticated", "revoked"):
                    self.connection.down(f"{code}: {msg}")
                else:
                    failed = self.http.url
                    self.connection.down(f"the venue at {failed} does not answer: {msg}")
                    self.http.failover(failed)  # a leader and its standbys: try the next one
            finally:
                try:
                    client.close()
                except Exception:
                    pass
            self._stop.wait(wait)
            wait = min(wait * 2, BACKOFF_S[1])

    def _dispatch(self, kind: str, data: str, eid: str | None) -> None:
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if kind == "events" and eid:
            try:
                self.last_seq = max(self.last_seq, int(eid))
            except ValueError:
                pass
        if kind == "heartbeat":
            self.head = int(payload.get("head") or 0)
        self._emit(kind, payload)


__all__ = ["Connection", "RemoteFeed", "RemoteGateway", "RemoteVenue", "VenueClient", "read_token"]
