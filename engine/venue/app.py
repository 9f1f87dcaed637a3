"""The venue's HTTP API (FastAPI): versioned routes under ``/v1``, one per gateway read, feed read and
action (the table is ``engine/api/routes.py``), a raw command route, presence, and the live events as
server-sent events. The OpenAPI description is at ``/v1/openapi.json``; docs/api.md explains it.

Every request but ``GET /v1/health`` carries ``Authorization: Bearer TOKEN``; the service authenticates
it (``Operators.authenticate``) and serves it with a gateway acting for that operator. Errors are JSON
``{code, message}`` (engine/api/errors.py). Reads answer orjson bytes directly (their models are
declared for the OpenAPI document; rows are not validated one by one, so a screen refresh stays cheap).
"""

# no ``from __future__ import annotations``: FastAPI reads the endpoints' annotations, built here per route

import asyncio
import inspect
import time
from collections.abc import Callable

import orjson
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.api import models as m
from engine.api import routes
from engine.api.errors import ErrorCode, GatewayError, status_of
from engine.api.models import Outcome
from engine.errors import PerpdeskError
from engine.node.roles import REQUIRED_ROLE, Actor

from .gateway import Gateway
from .operators import AuthError
from .readcache import CACHEABLE
from .service import VenueService

#: heartbeat cadence of the event stream: while the journal moves, and when idle
HEARTBEAT_BUSY_S = 0.1
HEARTBEAT_IDLE_S = 2.0
POLL_S = 0.04  # a stream looks at the hub this often (two int reads when nothing happened)
DISCONNECT_EVERY = 25  # polls between two checks that the client is still there


class ApiError(PerpdeskError):
    """A refusal the API answers with ``{code, message}`` and its HTTP status."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status if status is not None else status_of(code)


class Caller:
    """The authenticated operator of one request and its gateway."""

    __slots__ = ("actor", "gateway", "client")

    def __init__(self, actor: Actor, gateway: Gateway, client: str) -> None:
        self.actor = actor
        self.gateway = gateway
        self.client = client


def _dumps(value) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def _json(value) -> Response:
    return Response(_dumps(value), media_type="application/json")


def _raw(data: bytes) -> Response:
    return Response(data, media_type="application/json")


def _client(request: Request) -> str:
    c = request.client
    if c is None or not c.host:
        return "local"
    return f"{c.host}:{c.port}" if c.port else c.host


def create_app(service: VenueService) -> FastAPI:
    app = FastAPI(title="perpdesk venue API", version="1", openapi_url=routes.PREFIX + routes.OPENAPI,
                  docs_url=None, redoc_url=None)
    app.state.service = service

    # ---- errors as {code, message} ------------------------------------------------------------
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"code": exc.code, "message": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _bad_input(request: Request, exc: RequestValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query"))
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return JSONResponse({"code": ErrorCode.bad_input.value, "message": "; ".join(parts) or "bad input"},
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        code = ErrorCode.not_found.value if exc.status_code == 404 else ErrorCode.error.value
        return JSONResponse({"code": code, "message": str(exc.detail)}, status_code=exc.status_code)

    # ---- who is calling ---------------------------------------------------------------------------
    async def caller(request: Request, authorization: str | None = Header(default=None)) -> Caller:
        """On the event loop when the token was seen within a second (no thread hop); else the registry
        (a slow hash, a store read) is asked in the thread pool."""
        if not service.ready:
            raise ApiError(ErrorCode.not_ready.value, "the venue is starting or stopping")
        token = None
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer":
                token = value.strip() or None
        client = _client(request)
        hit = service.cached(token)
        if hit is None:
            try:
                hit = await run_in_threadpool(service.authenticate, token, client)
            except AuthError as e:
                raise ApiError(e.code, e.message) from None
        return Caller(hit[0], hit[1], client)

    who = Depends(caller)

    # ---- health, identity, presence ------------------------------------------------------------------
    @app.get(routes.PREFIX + routes.HEALTH, response_model=m.Health, tags=["venue"])
    def health():
        return {"ok": True, "ready": service.ready, "head": service.hub.head, "sandbox": service.sandbox}

    @app.get(routes.PREFIX + routes.WHOAMI, response_model=m.Identity, tags=["venue"])
    def whoami(c: Caller = who):
        gw = c.gateway
        return {**gw.identity, "may": {a: gw.may(a) for a in REQUIRED_ROLE}, "required": dict(REQUIRED_ROLE)}

    @app.post(routes.PREFIX + routes.SESSIONS, response_model=m.SessionCreated, tags=["presence"])
    def open_session(c: Caller = who):
        return {"session": service.open_session(c.actor, c.client)}

    @app.delete(routes.PREFIX + routes.SESSIONS + "/{session_id}", tags=["presence"])
    def close_session(session_id: str, c: Caller = who):
        return {"closed": service.close_session(session_id)}

    @app.get(routes.PREFIX + routes.PROGRESS, tags=["venue"])
    def progress(c: Caller = who):
        return service.progress()

    @app.get(routes.PREFIX + routes.OVERVIEW, tags=["reads"], responses={200: {"model": m.Overview}})
    async def overview(now: int, c: Caller = who):
        """Everything a console refresh reads, in one request (the screens' own reads come on top)."""
        feed = service.desk.feed
        gw = c.gateway
        role = c.actor.role
        try:
            reads = service.reads
            if reads is None:
                return _json({"status": gw.status(), "markets": gw.markets(), "counters": feed.counters(),
                              "last_minute": feed.last_minute(now), "rate": service.rate,
                              "sessions": service.sessions()})
            # the head-following parts from the read cache (the same entries as /status, /markets and
            # /feed/counters), the clock- and presence-dependent parts fresh
            st = reads.get(("reads", "status", role, ()), lambda: _dumps(gw.status()))
            mk = reads.get(("reads", "markets", role, ()), lambda: _dumps(gw.markets()))
            co = reads.get(("feed", "counters", role, ()), lambda: _dumps(feed.counters()))
            return _raw(orjson.dumps({"status": orjson.Fragment(st), "markets": orjson.Fragment(mk),
                                      "counters": orjson.Fragment(co), "last_minute": feed.last_minute(now),
                                      "rate": service.rate, "sessions": service.sessions()},
                                     option=orjson.OPT_NON_STR_KEYS))
        except GatewayError as e:
            raise ApiError(e.code, e.message) from None

    @app.get(routes.PREFIX + "/sim-rate", response_model=m.Rate, tags=["venue"])
    def sim_rate(c: Caller = who):
        return {"rate": service.rate}

    # ---- reads: one typed GET per gateway / feed read ---------------------------------------------------
    def add_read(name: str, path: str, params, target: Callable[[Caller], object], tag: str) -> None:
        cacheable = (tag, name) in CACHEABLE
        threaded = name not in routes.FAST_READS

        def read(c: Caller, kw: dict) -> Response:
            try:
                reads = service.reads
                if cacheable and reads is not None:  # keyed by route, parameters and the caller's role
                    key = (tag, name, c.actor.role, tuple(kw.items()))
                    return _raw(reads.get(key, lambda: _dumps(getattr(target(c), name)(**kw)), wait=threaded))
                return _json(getattr(target(c), name)(**kw))
            except GatewayError as e:
                raise ApiError(e.code, e.message) from None
            except KeyError as e:
                raise ApiError(ErrorCode.not_found.value, f"not found: {e.args[0] if e.args else e}") from None

        if name in routes.FAST_READS:  # bounded and cheap: answered on the event loop, no thread hop
            async def endpoint(c: Caller, **kw):
                return read(c, kw)
        else:  # may take a while (previews, audit, accounts): in the thread pool
            def endpoint(c: Caller, **kw):
                return read(c, kw)

        sig = [inspect.Parameter("c", inspect.Parameter.KEYWORD_ONLY, default=who, annotation=Caller)]
        for pname, ptype, default in params:
            ann = ptype if default is not None else (ptype | None)
            q = Query() if default is routes.REQUIRED else Query(default)
            sig.append(inspect.Parameter(pname, inspect.Parameter.KEYWORD_ONLY, default=q, annotation=ann))
        endpoint.__signature__ = inspect.Signature(sig)  # type: ignore[attr-defined]
        endpoint.__name__ = f"{tag}_{name}"
        app.add_api_route(routes.PREFIX + path, endpoint, methods=["GET"], name=f"{tag}_{name}", tags=[tag],
                          responses={200: {"model": list[m.Row] | m.Row | None}})

    for name, (path, params) in routes.READS.items():
        add_read(name, path, params, lambda c: c.gateway, "reads")
    desk_feed = service.desk.feed if service.desk is not None else None
    for name, (path, params) in routes.FEED_READS.items():
        add_read(name, path, params, lambda c: desk_feed, "feed")

    @app.post(routes.PREFIX + routes.COMPUTE_REFUNDS, tags=["reads"])
    def compute_refunds(body: m.ComputeRefundsBody, c: Caller = who):
        try:
            return _json(c.gateway.compute_refunds(body.snapshot_id, body.to_seq, body.bad_seqs, body.corrections))
        except GatewayError as e:
            raise ApiError(e.code, e.message) from None

    # ---- actions: one typed POST each, an Outcome back ---------------------------------------------------
    def add_action(name: str, path: str, body_model: type) -> None:
        def endpoint(body, c: Caller = who):
            out: Outcome = getattr(c.gateway, name)(**body.model_dump())
            return _json(out.to_dict())

        endpoint.__annotations__ = {"body": body_model, "c": Caller}
        endpoint.__name__ = f"action_{name}"
        app.add_api_route(routes.PREFIX + path, endpoint, methods=["POST"], name=name, tags=["actions"],
                          responses={200: {"model": m.OutcomeModel}})

    for name, (path, body_model) in routes.ACTIONS.items():
        add_action(name, path, body_model)

    @app.post(routes.PREFIX + routes.COMMANDS, tags=["actions"], responses={200: {"model": m.OutcomeModel}})
    def command(body: m.CommandBody, c: Caller = who):
        """A raw wire-form command, sent as the authenticated operator (the node checks the role)."""
        return _json(c.gateway.send(body.model_dump()).to_dict())

    # ---- live events ------------------------------------------------------------------------------------
    @app.get(routes.PREFIX + routes.EVENTS, tags=["events"])
    async def events(request: Request, session: str | None = None,
                     last_event_id: str | None = Header(default=None), c: Caller = who):
        """Server-sent events: ``events`` (a batch of stream-worthy events; ``id`` is its journal seq) and
        ``heartbeat`` (the head seq) at most every 100 ms while the journal moves, every 2 s when idle.
        ``Last-Event-ID`` resumes after that seq; ``?session=`` keeps that presence session alive."""
        hub = service.hub
        try:
            resume = int(last_event_id) if last_event_id else None
        except ValueError:
            resume = None
        n = hub.after_seq(resume) if resume is not None else hub.n
        sid = service.open_session(c.actor, c.client, session) if session else None
        if sid:
            service.stream_opened(sid)

        async def gen():
            nonlocal n
            last_beat = 0.0
            last_head = -1
            polls = 0
            try:
                yield b"retry: 500\n\n"
                while service.ready:
                    if hub.n > n:
                        for bn, seq, _at, data in hub.since(n):
                            n = bn
                            yield b"id: %d\nevent: events\ndata: %s\n\n" % (seq, data)
                    now = time.monotonic()
                    head = hub.head
                    if (head != last_head and now - last_beat >= HEARTBEAT_BUSY_S) or now - last_beat >= HEARTBEAT_IDLE_S:
                        last_beat, last_head = now, head
                        yield b"event: heartbeat\ndata: %s\n\n" % orjson.dumps(
                            {"head": head, "at": time.time_ns() // 1_000_000})
                    polls += 1
                    if polls % DISCONNECT_EVERY == 0 and await request.is_disconnected():
                        break
                    await asyncio.sleep(POLL_S)
            finally:
                if sid:
                    service.stream_closed(sid)

        return StreamingResponse(gen(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return app


__all__ = ["ApiError", "create_app"]
