"""Alert rendering, event mapping, delivery with bounded retries, and secrets kept out of every record."""

from __future__ import annotations

import logging

import httpx
import pytest

from engine.outside.alerts import (
    Alert,
    AlertDispatcher,
    Sink,
    alerts_for_event,
    render_discord,
    render_generic,
    render_pagerduty,
    render_slack,
    retry_after_seconds,
)
from engine.outside.feeds.index import IndexResult

TS = 1_768_798_680_000
SECRET_URL = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"
ROUTING_KEY = "R0UTINGKEYsecret0123456789abcdef"


def alert(**kw) -> Alert:
    base = dict(kind="brake_engaged", severity="critical", title="Emergency brake engaged by ada",
                body="Reason: drill", dedup_key="venue:brake", fields={"canceled orders": "12"}, ts=TS)
    base.update(kw)
    return Alert(**base)


# ---- renderers -----------------------------------------------------------------------------
def test_slack_payload():
    p = render_slack(alert(), "venue")
    assert p["text"].startswith(":rotating_light: [venue] Emergency brake engaged")
    types = [b["type"] for b in p["blocks"]]
    assert types[0] == "header" and "context" in types
    assert any("*canceled orders*\n12" == f["text"] for b in p["blocks"] for f in b.get("fields", []))
    r = render_slack(alert(action="resolve"), "venue")
    assert r["text"].startswith(":white_check_mark: [venue] RESOLVED:")


def test_pagerduty_trigger_and_resolve_share_the_dedup_key():
    t = render_pagerduty(alert(title="x" * 2000), "venue", ROUTING_KEY)
    assert t["event_action"] == "trigger" and t["routing_key"] == ROUTING_KEY and t["dedup_key"] == "venue:brake"
    pl = t["payload"]
    assert len(pl["summary"]) == 1024 and pl["source"] == "venue" and pl["severity"] == "critical"
    assert pl["timestamp"] == "2026-01-19T04:58:00.000Z" and pl["custom_details"]["canceled orders"] == "12"
    r = render_pagerduty(alert(action="resolve"), "venue", ROUTING_KEY)
    assert r == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": "venue:brake"}


def test_discord_payload_limits():
    p = render_discord(alert(title="t" * 3000, fields={f"f{i}": "v" for i in range(40)}), "venue")
    assert len(p["content"]) <= 2000 and len(p["embeds"]) == 1
    e = p["embeds"][0]
    assert len(e["title"]) <= 256 and len(e["fields"]) == 25 and e["color"] == 0xE74C3C
    url, _body, _h = Sink("d", "discord", "https://discord.com/api/webhooks/1/tok").request(alert(), "v")
    assert url.endswith("?wait=true")


def test_generic_payload():
    g = render_generic(alert(), "venue")
    assert g["kind"] == "brake_engaged" and g["dedup_key"] == "venue:brake" and g["ts"] == TS
    assert g["action"] == "trigger" and g["fields"] == {"canceled orders": "12"}


def test_alert_validation():
    with pytest.raises(ValueError):
        alert(severity="fatal")
    with pytest.raises(ValueError):
        alert(dedup_key="k" * 256)
    with pytest.raises(ValueError):
        alert(action="acknowledge-ish")


# ---- event mapping ----------------------------------------------------------------------------
@pytest.mark.parametrize("ev,kind,action,key", [
    ({"type": "brake_engaged", "operator": "ada", "reason": "x", "canceled_orders": 3, "kept_tpsl": 1,
      "accounts_affected": 2, "seq": 9}, "brake_engaged", "trigger", "v:brake"),
    ({"type": "brake_released", "operator": "bo", "reason": "ok", "seq": 10}, "brake_released", "resolve", "v:brake"),
    ({"type": "circuit_breaker_tripped", "market": "BTC", "accounts": 40, "oi_share": "0.3", "limit_accounts": 25,
      "limit_oi_share": "0.2"}, "circuit_breaker", "trigger", "v:circuit_breaker:BTC"),
    ({"type": "oracle_rejected", "market": "BTC", "price": 1_000_000, "source": "index", "code": "stale",
      "message": "old"}, "oracle_rejected", "trigger", "v:oracle_rejected:BTC"),
    ({"type": "market_flagged", "market": "BTC", "flag": "oracle_stale", "detail": "d"}, "market_flagged", "trigger",
     "v:flag:BTC:oracle_stale"),
    ({"type": "market_unflagged", "market": "BTC", "flag": "oracle_stale"}, "market_unflagged", "resolve",
     "v:flag:BTC:oracle_stale"),
    ({"type": "market_data_quarantined", "market": "BTC", "mark_price": 0, "funding_index": 0, "source": "db",
      "reasons": ["zero mark"]}, "market_data_quarantined", "trigger", "v:quarantine:BTC"),
    ({"type": "validation_failed", "check": "money", "detail": "off by 1"}, "validation_failed", "trigger",
     "v:validation:money"),
    ({"type": "maintenance_phase", "window_id": "w1", "phase": "cancel_only", "markets": ["BTC"],
      "kind": "database_upgrade", "until_ts": TS}, "maintenance_phase", "trigger", "v:maintenance:w1"),
    ({"type": "maintenance_phase", "window_id": "w1", "phase": "done", "markets": ["BTC"], "kind": "scale_up",
      "until_ts": TS}, "maintenance_phase", "resolve", "v:maintenance:w1"),
    ({"type": "rolled_back", "snapshot_id": "s1", "to_seq": 5, "discarded_commands": 3, "state_hash": "ab" * 32,
      "operator": "ada", "reason": "bad data", "seq": 9}, "rollback", "trigger", "v:rollback:s1:9"),
    ({"type": "refund_decided", "refund_id": "r0001", "status": "approved", "account": "u1", "amount": "10",
      "proposer": "ada", "approver": "bo", "reason": "ok"}, "refund_approved", "trigger", "v:refund:r0001"),
    ({"type": "node_alert", "severity": "critical", "message": "journal write failed"}, "node_alert", "trigger", None),
    ({"type": "validation_overridden", "command": "release_brake", "failures": ["money: off"], "operator": "ap",
      "reason": "known rounding", "seq": 12}, "validation_overridden", "trigger", "v:override:12"),
    ({"type": "safeguards_set", "enabled": False, "seq": 3}, "safeguards", "trigger", "v:safeguards_off"),
    ({"type": "safeguards_set", "enabled": True, "seq": 4}, "safeguards", "resolve", "v:safeguards_off"),
])
def test_events_map_to_alerts(ev, kind, action, key):
    (a,) = alerts_for_event(ev, TS, "v")
    assert (a.kind, a.action) == (kind, action) and a.ts == TS
    if key:
        assert a.dedup_key == key
    assert a.title


def test_ordinary_events_raise_nothing():
    for t in ("trade", "order_accepted", "mark_price", "liquidation", "funding", "deposited"):
        assert alerts_for_event({"type": t}, TS, "v") == []


def test_liquidation_spike_raises_one_alert_per_window():
    d = AlertDispatcher([Sink("all", "webhook", "http://x.test/h", min_severity="info")], clock=lambda: now[0],
                        liquidation_spike=5, liquidation_window_ms=60_000,
                        client=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))))
    now = [TS]
    liq = {"type": "liquidation", "market": "BTC", "account": "a"}
    d([liq] * 4)
    assert d.raised == 0
    d([liq] * 20)  # a cascade: one alert, not sixteen
    assert d.raised == 1 and d.workers[0].queue[0].kind == "liquidation_spike"
    now[0] += 61_000
    d([liq] * 5)
    assert d.raised == 2
    now[0] += 3_600_000
    d([liq] * 2)  # slow trickle: nothing
    assert d.raised == 2


def test_index_staleness_triggers_then_resolves():
    d = AlertDispatcher([Sink("pd", "pagerduty", "http://x.test", routing_key="k", min_severity="info")],
                        clock=lambda: TS, client=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(202))))
    d.on_index(IndexResult("BTC", 1, "ok", ["a", "b"]))
    assert d.raised == 0
    d.on_index(IndexResult("BTC", None, "stale", ["a"], {"b": "error"}, reason="1 fresh source(s), quorum 2"))
    d.on_index(IndexResult("BTC", None, "stale", ["a"], {"b": "error"}))  # still stale: no repeat
    d.on_index(IndexResult("BTC", 5, "ok", ["a", "b"]))
    q = list(d.workers[0].queue)
    assert [(a.kind, a.action) for a in q] == [("oracle_stale", "trigger"), ("oracle_stale", "resolve")]
    assert q[0].dedup_key == q[1].dedup_key == "perpdesk:oracle_stale:BTC"


def test_severity_filter_per_sink():
    ok = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    d = AlertDispatcher([Sink("chat", "slack", SECRET_URL, min_severity="info"),
                         Sink("pager", "pagerduty", "http://x.test", routing_key="k", min_severity="critical")],
                        clock=lambda: TS, client=ok)
    d.notify(alert(severity="warning"))
    d.notify(alert(severity="critical"))
    assert [len(w.queue) for w in d.workers] == [2, 1]


# ---- delivery ----------------------------------------------------------------------------------
def scripted(*responses, seen=None):
    queue = list(responses)

    def handler(request):
        if seen is not None:
            seen.append(request)
        r = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(r, Exception):
            raise r
        return r

    return httpx.Client(transport=httpx.MockTransport(handler))


def dispatcher(client, sinks=None, **kw):
    records: list[dict] = []
    sleeps: list[float] = []
    d = AlertDispatcher(sinks or [Sink("ops", "slack", SECRET_URL, min_severity="info")], clock=lambda: TS,
                        record=records.append, client=client, sleep=sleeps.append, backoff_s=1.0, **kw)
    return d, records, sleeps


def test_429_honours_retry_after_then_delivers():
    seen = []
    d, records, sleeps = dispatcher(scripted(httpx.Response(429, headers={"Retry-After": "7"}, text="rate_limited"),
                                             httpx.Response(200, text="ok"), seen=seen))
    assert d.deliver(d.workers[0].sink, alert())
    assert sleeps == [7.0]
    assert [(r["attempt"], r["status"], r["http_status"]) for r in records] == [(1, "retrying", 429),
                                                                                (2, "delivered", 200)]
    assert seen[0].headers["content-type"] == "application/json"


def test_5xx_retries_are_bounded_with_exponential_backoff():
    d, records, sleeps = dispatcher(scripted(httpx.Response(503, text="upstream down")), max_attempts=4)
    assert not d.deliver(d.workers[0].sink, alert())
    assert sleeps == [1.0, 2.0, 4.0]
    assert [r["status"] for r in records] == ["retrying", "retrying", "retrying", "failed"]
    assert records[-1]["error"].startswith("HTTP 503")


def test_retry_after_is_capped():
    d, records, sleeps = dispatcher(scripted(httpx.Response(429, headers={"Retry-After": "86400"}),
                                             httpx.Response(200)), max_retry_after_s=30)
    assert d.deliver(d.workers[0].sink, alert()) and sleeps == [30]


def test_client_errors_are_not_retried():
    d, records, sleeps = dispatcher(scripted(httpx.Response(404, text="channel_not_found")))
    assert not d.deliver(d.workers[0].sink, alert())
    assert sleeps == [] and records == [{**records[0], "status": "failed", "http_status": 404, "attempt": 1}]
    assert "channel_not_found" in records[0]["error"]


def test_timeouts_are_retried():
    d, records, sleeps = dispatcher(scripted(httpx.ReadTimeout("slow"), httpx.Response(200)))
    assert d.deliver(d.workers[0].sink, alert())
    assert records[0]["error"].startswith("timeout") and records[0]["http_status"] is None


def test_retry_after_http_date():
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert retry_after_seconds("12") == 12.0 and retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_secrets_never_reach_records_or_logs(caplog):
    caplog.set_level(logging.DEBUG)
    err = httpx.ConnectError(f"cannot connect to {SECRET_URL} key={ROUTING_KEY}")
    sinks = [Sink("ops", "slack", SECRET_URL, min_severity="info"),
             Sink("pager", "pagerduty", "https://events.pagerduty.com/v2/enqueue", routing_key=ROUTING_KEY,
                  min_severity="info")]
    d, records, sleeps = dispatcher(scripted(err), sinks=sinks, max_attempts=2)
    for w in d.workers:
        d.deliver(w.sink, alert())
    assert len(records) == 4
    blob = repr(records) + caplog.text + repr(d.workers) + repr(sinks)
    assert SECRET_URL not in blob and ROUTING_KEY not in blob and "XXXXsecretXXXX" not in blob
    assert "***" in records[0]["error"]


def test_run_pending_delivers_queued_alerts_inline():
    seen = []
    d, records, _ = dispatcher(scripted(httpx.Response(200), seen=seen))
    d.notify(alert())
    d.notify(alert(action="resolve"))
    assert d.run_pending() == 2 and len(seen) == 2 and d.pending() == 0


# ---- the event vocabulary drives the dispatcher (engine/api/vocabulary.py) -----------------------------
def _posting_dispatcher(posted: list) -> AlertDispatcher:
    def handler(req: httpx.Request) -> httpx.Response:
        import json

        posted.append(json.loads(req.content))
        return httpx.Response(200)

    return AlertDispatcher([Sink("all", "webhook", "http://x.test/h", min_severity="info")], venue="v",
                           clock=lambda: TS, client=httpx.Client(transport=httpx.MockTransport(handler)))


def test_safeguards_and_override_alerts_are_sent_through_the_dispatcher():
    """Old dispatcher: its hand-kept pre-filter lacked these two types, so the alerts were built by
    ``alerts_for_event`` (and unit-tested) but never sent."""
    posted: list = []
    d = _posting_dispatcher(posted)
    d([{"type": "safeguards_set", "enabled": False, "operator": "ada", "reason": "drill", "seq": 3},
       {"type": "validation_overridden", "command": "release_brake", "operator": "bo", "reason": "known rounding",
        "failures": [{"check": "money", "detail": "off by 1"}], "seq": 12},
       {"type": "safeguards_set", "enabled": True, "operator": "ada", "reason": "drill over", "seq": 14}])
    assert d.run_pending() == 3
    assert [(p["kind"], p["action"], p["severity"]) for p in posted] == [
        ("safeguards", "trigger", "critical"), ("validation_overridden", "trigger", "critical"),
        ("safeguards", "resolve", "info")]
    assert posted[0]["dedup_key"] == posted[2]["dedup_key"] == "v:safeguards_off"
    assert posted[1]["title"] == "Validation gate overridden by bo for release_brake"
    assert "money: off by 1" in posted[1]["body"]


def test_every_type_with_an_alert_rule_reaches_the_sinks():
    """The dispatcher's filter is the vocabulary: a type with a rule is sent, one without is not."""
    from engine.api import vocabulary

    samples = {"credited": {"refund_id": "r1", "account": "u1", "amount": 5_000_000, "fund": "insurance"},
               "refund_decided": {"refund_id": "r1", "status": "approved"}}
    for t in sorted(vocabulary.REGISTRY):
        posted: list = []
        d = _posting_dispatcher(posted)
        d([{"type": t, "seq": 1, **samples.get(t, {})}])
        d.run_pending()
        assert bool(posted) == (t in vocabulary.ALERT_TYPES), t


def test_risk_events_page_the_desk():
    """A socialized loss pages (critical), an accepted oracle jump resolves the oracle alert it answers,
    a snapshot that could not be taken is an error."""
    posted: list = []
    d = _posting_dispatcher(posted)
    d([{"type": "oracle_rejected", "market": "BTC-USD-PERP", "price": 89_240_000_000, "source": "index",
        "code": "jump_unconfirmed", "message": "jump", "seq": 5},
       {"type": "oracle_jump_accepted", "market": "BTC-USD-PERP", "price": 89_240_000_000, "reason": "persisted",
        "previous_index": 97_000_000_000, "refused_count": 11, "since_ts": 0, "seq": 9},
       {"type": "socialized_loss", "account": "lev", "amount": 12_345_670_000, "total": 12_345_670_000, "seq": 20},
       {"type": "snapshot_failed", "label": "auto", "code": "state_unencodable", "message": "too large", "seq": 30}])
    assert d.run_pending() == 4
    assert [(p["kind"], p["action"], p["severity"]) for p in posted] == [
        ("oracle_rejected", "trigger", "error"), ("oracle_jump_accepted", "resolve", "warning"),
        ("socialized_loss", "trigger", "critical"), ("snapshot_failed", "trigger", "error")]
    assert posted[0]["dedup_key"] == posted[1]["dedup_key"]
    assert posted[2]["title"] == "Loss socialized: 12345.67 USDC for lev"
