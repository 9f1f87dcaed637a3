"""The venue's HTTP API against a real uvicorn on 127.0.0.1: authentication, errors, typed routes,
the raw command route, presence and the live event stream."""

from __future__ import annotations

import threading

import httpx
import orjson
import pytest

from engine.api.client import VenueClient
from engine.api.errors import GatewayError

from .conftest import wait_until


def _audit_rows(service, what: str) -> list[dict]:
    return [r for r in service.desk.node.audit(500) if what in str(r.get("outcome", "")) or what in str(r)]


def test_health_needs_no_token_everything_else_does_and_a_refusal_is_audited(venue):
    v = venue()
    with httpx.Client(base_url=v.url) as c:
        h = c.get("/v1/health")
        assert h.status_code == 200 and h.json()["ready"] is True
        r = c.get("/v1/status")
        assert r.status_code == 401
        assert r.json()["code"] == "unauthenticated" and "token" in r.json()["message"]
        r = c.get("/v1/status", headers={"Authorization": "Bearer not-a-token"})
        assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    rows = [r for r in v.service.desk.node.audit(500) if r["action"] == "authenticate"]
    assert len(rows) == 2 and all(r["outcome"].startswith("refused: unauthenticated") for r in rows)


def test_a_revoked_token_is_refused_and_audited(venue):
    v = venue()
    tok = v.token("rita", "operator")
    c = VenueClient(v.url, tok)
    assert c.gateway.status()["seq"] >= 0
    v.service.operators.revoke("rita")

    def refused():
        try:
            c.gateway.status()
        except GatewayError as e:
            return e
        return None

    err = wait_until(refused, timeout=5, what="the revocation to take effect")
    assert err.code == "revoked" and "rita" in err.message
    assert any(r["action"] == "authenticate" and "revoked" in r["outcome"] for r in v.service.desk.node.audit(500))
    c.close()


def test_a_viewers_brake_is_refused_with_a_clear_message_and_audited(venue):
    v = venue()
    c = VenueClient(v.url, v.token("vic", "viewer"))
    out = c.gateway.emergency_brake("I am only a viewer")
    assert not out.ok and out.code == "forbidden"
    assert out.message == "vic (viewer) may not issue emergency_brake"
    assert not c.gateway.status()["brake_engaged"]
    assert any(r["operator"] == "vic" and r["action"] == "emergency_brake" and r["outcome"].startswith("refused")
               for r in c.gateway.audit())
    c.close()


def test_commands_carry_the_authenticated_operator_never_system(venue):
    v = venue(market=False)
    c = VenueClient(v.url, v.token("olga", "operator"))
    out = c.gateway.send({"type": "take_snapshot", "label": "x", "reason": "drill"})
    assert out.ok, out.message
    rows = [r for r in c.gateway.audit() if r["action"] == "take_snapshot"]
    assert rows and rows[-1]["operator"] == "olga"
    assert c.gateway.identity == {"operator": "olga", "role": "operator", "db": "memory"}
    # the operator may not release the brake: the node's role check, through the raw route too
    out = c.gateway.send({"type": "release_brake", "reason": "x"})
    assert not out.ok and out.code == "forbidden" and "olga (operator)" in out.message
    c.close()


def test_a_viewers_oracle_price_through_the_raw_command_route_is_refused(venue):
    v = venue(market=False)
    c = VenueClient(v.url, v.token("vic", "viewer"))
    out = c.gateway.send({"type": "oracle_price", "market": "BTC-USD-PERP", "price": "1"})
    c.close()
    assert not out.ok and out.code == "forbidden"


def test_bad_input_is_422_with_a_code_and_unknown_routes_404(venue):
    v = venue(market=False)
    tok = v.token("olga", "operator")
    with httpx.Client(base_url=v.url, headers={"Authorization": f"Bearer {tok}"}) as c:
        r = c.post("/v1/brake", json={})
        assert r.status_code == 422 and r.json()["code"] == "bad_input" and "reason" in r.json()["message"]
        r = c.post("/v1/brake", json={"reason": "x", "extra": 1})
        assert r.status_code == 422 and r.json()["code"] == "bad_input"
        r = c.get("/v1/book")  # market is required
        assert r.status_code == 422 and "market" in r.json()["message"]
        r = c.get("/v1/nope")
        assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_a_venue_not_ready_answers_503(venue):
    v = venue(market=False)
    tok = v.token("olga", "operator")
    v.service.ready = False
    try:
        r = httpx.get(v.url + "/v1/status", headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == 503 and r.json()["code"] == "not_ready"
    finally:
        v.service.ready = True


def test_openapi_describes_every_route(venue):
    from engine.api import routes

    v = venue(market=False)
    doc = httpx.get(v.url + "/v1/openapi.json").json()
    paths = doc["paths"]
    for path, _params in (*routes.READS.values(), *routes.FEED_READS.values()):
        assert "get" in paths["/v1" + path], path
    for path, _model in routes.ACTIONS.values():
        assert "post" in paths["/v1" + path], path
    for p in ("/v1/commands", "/v1/events", "/v1/sessions", "/v1/health", "/v1/whoami"):
        assert p in paths
    assert "ReasonModel" not in doc["components"]["schemas"] and "Reason" in doc["components"]["schemas"]


def test_the_client_reads_the_same_plain_data_as_the_gateway_in_process(venue):
    v = venue(market=False)
    c = VenueClient(v.url, v.token("ada", "admin"))
    gw = v.service.desk.gateway
    assert c.gateway.markets() == orjson.loads(orjson.dumps(gw.markets()))
    book = c.gateway.book("BTC-USD-PERP", 3)
    assert book == orjson.loads(orjson.dumps(gw.book("BTC-USD-PERP", 3)))
    assert c.feed.counters()["events"] == v.service.desk.feed.counters()["events"]
    assert c.gateway.may("rollback") and c.gateway.required_role("rollback") == "approver"
    with pytest.raises(GatewayError) as ei:
        c.gateway.rollback_preview("no-such-snapshot")
    assert ei.value.code != "venue_unreachable"
    c.close()


def test_an_unreachable_venue_is_a_gateway_error_never_a_traceback():
    c = VenueClient("http://127.0.0.1:9", "t", timeout=2)
    with pytest.raises(GatewayError) as ei:
        c.gateway.status()
    assert ei.value.code == "venue_unreachable"
    out = c.gateway.emergency_brake("x")
    assert not out.ok and out.code == "venue_unreachable"
    st = c.connection.state()
    assert st["connected"] is False and st["down_since"] and "does not answer" in st["last_error"]
    c.close()


def test_presence_sessions_and_the_event_stream(venue):
    v = venue()
    a = VenueClient(v.url, v.token("alice", "operator"))
    b = VenueClient(v.url, v.token("bob", "approver"))
    seen: list[tuple[str, dict]] = []
    got = threading.Event()

    def on_event(kind, payload):
        seen.append((kind, payload))
        if kind == "events" and any(e["type"] == "brake_engaged" for e in payload["events"]):
            got.set()

    a.attach(on_event)
    b.attach()
    rows = wait_until(lambda: len(a.gateway.sessions()) == 2 and a.gateway.sessions(), what="two sessions")
    assert sorted((r["operator"], r["role"]) for r in rows) == [("alice", "operator"), ("bob", "approver")]
    assert all(r["client"].startswith("127.0.0.1") and r["since"] > 0 for r in rows)
    wait_until(lambda: any(k == "heartbeat" for k, _ in seen), what="a heartbeat")
    assert a.gateway.emergency_brake("drill").ok
    assert got.wait(10), "the brake_engaged event reached the stream"
    assert a.last_seq > 0
    b.detach()
    wait_until(lambda: [r["operator"] for r in a.gateway.sessions()] == ["alice"], what="bob's session to close")
    a.close()
    b.close()


def test_a_client_given_several_urls_moves_on_to_the_next_when_one_does_not_answer(venue):
    """``--venue URL1,URL2`` (a leader and its standby): a request to a venue that does not answer fails
    as unreachable, and the next one goes to the next URL."""
    import socket


    v = venue(market=False)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    c = VenueClient(f"{dead},{v.url}", v.token("olga", "operator"), timeout=5)
    try:
        with pytest.raises(GatewayError) as e:
            c.gateway.status()
        assert e.value.code == "venue_unreachable" and dead in e.value.message
        assert c.gateway.status()["seq"] >= 0 and c.http.url == v.url
        assert c.gateway.whoami()["operator"] == "olga"
    finally:
        c.close()
