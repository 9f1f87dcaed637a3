"""The venue as a long-running service: the desk (node, simulated market, price feeds, alert delivery,
event feed), the operators who may use it, the live event hub the API streams, and who is attached.

:class:`VenueService` is what ``perpdesk venue`` runs (``engine/venue/server.py`` puts the HTTP API of
``engine/venue/app.py`` in front of it). Every request is authenticated by :class:`Operators` and served
by a :class:`~engine.venue.gateway.Gateway` acting for that operator: the API never acts as ``SYSTEM``
(only the venue's own services do: the simulator, the price feeds, the clock, the refund desk).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque

import orjson

from engine.api import vocabulary
from engine.node.roles import Actor

from .desk import Desk, build_desk
from .gateway import Gateway
from .operators import AuthError, Operators
from .readcache import ReadCache, enabled_by_env

log = logging.getLogger("perpdesk.venue")

#: events streamed to consoles (``GET /v1/events``): the alerts feed's, liquidations and the fund's changes
STREAM_EVENTS = frozenset({"liquidation", "insurance_fund", *vocabulary.FEED_TYPES})
#: how long an authenticated token is remembered (a revocation takes effect within this)
AUTH_CACHE_S = 1.0
#: a session with no open event stream is forgotten after this long
SESSION_TTL_S = 6.0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class EventHub:
    """Subscribed to the node: keeps the last stream-worthy event batches (bounded) and the journal head.

    Filled on the sequencer thread (a filter and an append under a lock); the API's event streams read
    it by batch number."""

    def __init__(self, maxlen: int = 4096) -> None:
        self._lock = threading.Lock()
        self.batches: deque[tuple[int, int, int, bytes]] = deque(maxlen=maxlen)  # (n, seq, at_ms, json)
        self.n = 0  # batches ever kept
        self.head = 0  # the journal's head seq as last published
        self.moved_at = 0.0  # monotonic time of the last published batch

    def __call__(self, events: list[dict]) -> None:
        if not events:
            return
        keep = [ev for ev in events if ev.get("type") in STREAM_EVENTS]
        seq = 0
        for ev in reversed(events):
            s = ev.get("seq")
            if isinstance(s, int):
                seq = s
                break
        with self._lock:
            if seq > self.head:
                self.head = seq
            self.moved_at = time.monotonic()
            if keep:
                self.n += 1
                at = _now_ms()
                self.batches.append((self.n, seq or self.head, at,
                                     orjson.dumps({"seq": seq or self.head, "at": at, "events": keep})))

    def since(self, n: int) -> list[tuple[int, int, int, bytes]]:
        """The kept batches after batch number ``n`` (batch numbers are consecutive, the newest is
        ``self.n``: a caught-up stream costs the few newest, not a walk of the whole buffer)."""
        with self._lock:
            k = self.n - n
            if k <= 0:
                return []
            b = self.batches
            size = len(b)
            if k >= size:
                return list(b)
            return [b[i] for i in range(size - k, size)]

    def after_seq(self, seq: int) -> int:
        """The batch number to resume from so every batch after journal ``seq`` is sent."""
        with self._lock:
            for b in self.batches:
                if b[1] > seq:
                    return b[0] - 1
            return self.n


class VenueService:
    """One venue: start it (the node takes the database's lease), serve it, stop it (drained)."""

    def __init__(self, *, db: str | None = "memory", config=None, seed: int = 7, accounts: int = 200,
                 operators: Operators | None = None, sandbox: bool = False, market: bool = True,
                 speed: float = 1.0, steps_per_batch: int = 1, incident: bool = True,
                 desk: Desk | None = None) -> None:
        self.db = db
        self.config = config
        self.seed = seed
        self.accounts = accounts
        #: who may call (the database's operator registry once started: :meth:`start`)
        self.operators: Operators = operators if operators is not None else Operators()
        self._own_operators = operators is None
        self.sandbox = sandbox
        self.market = market
        self.speed = speed
        self.steps_per_batch = steps_per_batch
        self.incident = incident
        self.desk: Desk | None = desk
        self.hub = EventHub()
        #: reads cached per journal head (engine/venue/readcache.py); made at :meth:`start`
        self.reads: ReadCache | None = None
        self.ready = False
        self.rate: float | None = None
        self.market_error: str | None = None
        self.started_at = time.monotonic()
        self._stop = threading.Event()
        self._market: threading.Thread | None = None
        self._auth: dict[str, tuple[float, Actor, Gateway]] = {}
        self._auth_lock = threading.Lock()
        self._sessions: dict[str, dict] = {}
        self._slock = threading.Lock()
        self.last_detach = time.monotonic()
        self.ever_attached = False

    # ---- life ------------------------------------------------------------------------------------
    def start(self) -> VenueService:
        """Build the desk (recovering the database; LeaseHeldError when another venue holds it), start
        the sequencer, the price feeds, alert delivery and the simulated market."""
        if self.desk is None:
            self.desk = build_desk(self.seed, self.accounts, frozen=False, db=self.db, config=self.config,
                                   incident=self.incident)
        desk = self.desk
        if self._own_operators:  # the registry lives in the venue's own database (memory: in memory)
            self.operators = Operators(desk.node.store)
        if self.operators.store is None:  # no store to audit refused logins in: the node's audit log
            self.operators.audit_hook = desk.node.audit_auth_failure
        desk.node.subscribe(self.hub)
        # after the feed's and the hub's subscriptions: the cache's count of published batches moves
        # only once the feed holds the batch
        self.reads = ReadCache(desk.node, enabled=enabled_by_env()).attach()
        if desk.live:
            desk.node.start()
            desk.start_services()
            if self.market:
                self._market = threading.Thread(target=self._run_market, name="market", daemon=True)
                self._market.start()
        self.hub.head = desk.node.engine.seq
        self.ready = True
        return self

    def _run_market(self) -> None:
        def on_rate(steps: int, cmds: int, rate: float) -> None:
            self.rate = rate

        try:
            self.desk.run_market(self._stop, speed=self.speed, steps_per_batch=self.steps_per_batch,
                                 on_rate=on_rate)
        except Exception as e:  # shown in the status instead of a silent stop
            self.market_error = f"{type(e).__name__}: {e}"
            log.exception("the simulated market stopped")

    def stop(self) -> None:
        """Stop the market, drain the sequencer (every acknowledged command is durable), stop the
        feeds and alert delivery, close the database."""
        if not self.ready and self.desk is None:
            return
        self.ready = False
        self._stop.set()
        if self._market is not None:
            self._market.join(timeout=15)
            self._market = None
        desk = self.desk
        if self.reads is not None:
            self.reads.detach()
            self.reads.clear()
        if desk is not None:
            if desk.live:
                desk.stop_services()
            desk.node.close()

    # ---- who is calling --------------------------------------------------------------------------
    def cached(self, token: str | None) -> tuple[Actor, Gateway] | None:
        """The operator a token was authenticated as less than AUTH_CACHE_S ago (None: ask again)."""
        if not token:
            return None
        with self._auth_lock:
            hit = self._auth.get(token)
        if hit is not None and time.monotonic() - hit[0] < AUTH_CACHE_S:
            return hit[1], hit[2]
        return None

    def authenticate(self, token: str | None, source: str = "") -> tuple[Actor, Gateway]:
        """The operator a token belongs to and a gateway acting for it (cached AUTH_CACHE_S per token);
        AuthError when refused (audited)."""
        now = time.monotonic()
        if token:
            with self._auth_lock:
                hit = self._auth.get(token)
            if hit is not None and now - hit[0] < AUTH_CACHE_S:
                return hit[1], hit[2]
        try:
            actor = self.operators.authenticate(token, source=source)
        except AuthError:  # (the registry audited it: the store's audit chain, or the node's hook)
            raise
        gw = self.desk.gateway.as_actor(actor)
        gw.sessions = self.sessions  # type: ignore[method-assign]  # presence comes from the service
        with self._auth_lock:
            if len(self._auth) > 1000:
                self._auth.clear()
            self._auth[token] = (now, actor, gw)
        return actor, gw

    # ---- presence ---------------------------------------------------------------------------------
    def open_session(self, actor: Actor, client: str, session_id: str | None = None) -> str:
        sid = session_id or secrets.token_hex(8)
        with self._slock:
            s = self._sessions.get(sid)
            if s is None:
                self._sessions[sid] = {"session": sid, "operator": actor.name, "role": actor.role,
                                       "since": _now_ms(), "client": client, "streams": 0,
                                       "seen": time.monotonic()}
                self.ever_attached = True
            else:
                s["seen"] = time.monotonic()
        return sid

    def stream_opened(self, sid: str) -> None:
        with self._slock:
            s = self._sessions.get(sid)
            if s is not None:
                s["streams"] += 1
                s["seen"] = time.monotonic()

    def stream_closed(self, sid: str) -> None:
        with self._slock:
            s = self._sessions.get(sid)
            if s is not None:
                s["streams"] = max(0, s["streams"] - 1)
                s["seen"] = time.monotonic()

    def close_session(self, sid: str) -> bool:
        with self._slock:
            gone = self._sessions.pop(sid, None) is not None
            if not self._sessions:
                self.last_detach = time.monotonic()
        return gone

    def _expire(self) -> None:
        now = time.monotonic()
        with self._slock:
            for sid in [sid for sid, s in self._sessions.items() if not s["streams"] and now - s["seen"] > SESSION_TTL_S]:
                del self._sessions[sid]
                if not self._sessions:
                    self.last_detach = now

    def sessions(self) -> list[dict]:
        """Who is attached: {session, operator, role, since, client}, oldest first."""
        self._expire()
        with self._slock:
            rows = sorted(self._sessions.values(), key=lambda s: s["since"])
            return [{k: s[k] for k in ("session", "operator", "role", "since", "client")} for s in rows]

    def idle_for(self) -> float:
        """Seconds with nobody attached (0 while someone is)."""
        self._expire()
        with self._slock:
            if self._sessions:
                return 0.0
            return time.monotonic() - (self.last_detach if self.ever_attached else self.started_at)

    # ---- the venue's own reads (bench and drill figures) -------------------------------------------
    def progress(self) -> dict:
        desk = self.desk
        return {"rate": self.rate, "step_no": desk.sim.step_no if desk is not None else 0,
                "journal_len": desk.node.engine.seq if desk is not None else 0,
                "market_error": self.market_error,
                "read_cache": self.reads.stats() if self.reads is not None else None}


__all__ = ["EventHub", "STREAM_EVENTS", "VenueService"]
