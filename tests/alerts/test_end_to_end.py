"""A real node trips its brake; a real HTTP server on loopback receives the alerts."""

from __future__ import annotations

import logging

from engine.core.markets import default_market_commands
from engine.node.node import Node
from engine.node.roles import SYSTEM
from engine.outside.alerts import AlertDispatcher
from engine.settings.config import parse_config
from tests.kit import ADMIN, APPROVER

SLACK_TOKEN = "T0001/B0001/abcdefSECRETslack"
PD_KEY = "pdROUTINGkeySECRET000000000000000"
DISCORD_TOKEN = "discordSECRETtoken"
CONFIG = """
[alerts]
venue = "drill"
backoff_s = 0
[[alerts.sinks]]
name = "ops-slack"
kind = "slack"
url = "${BASE}/slack/services/${SLACK_TOKEN}"
min_severity = "info"
[[alerts.sinks]]
name = "pager"
kind = "pagerduty"
url = "${BASE}/v2/enqueue"
routing_key = "${PD_KEY}"
[[alerts.sinks]]
name = "discord"
kind = "discord"
url = "${BASE}/api/webhooks/42/${DISCORD_TOKEN}"
[[alerts.sinks]]
name = "hook"
kind = "webhook"
url = "${BASE}/hook"
min_severity = "info"
"""


def build(receiver, db_url=None):
    env = {"BASE": receiver.url, "SLACK_TOKEN": SLACK_TOKEN, "PD_KEY": PD_KEY, "DISCORD_TOKEN": DISCORD_TOKEN}
    cfg = parse_config(CONFIG, env=env)
    node = Node.open(db_url, actor=ADMIN, snapshot_every=0) if db_url else Node(actor=ADMIN)
    for c in default_market_commands(1):
        assert node.call(c).ok
    d = AlertDispatcher.from_config(cfg.alerts, clock=node.clock, record=node.record_alert_delivery,
                                    secrets=cfg.secrets())
    node.subscribe(d)
    node.start()
    d.start()
    return node, d, cfg


def test_brake_trip_and_release_reach_every_sink(receiver, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    receiver.script["/hook"] = [(503, {}, b"busy")]  # the generic webhook fails once: retried
    node, d, cfg = build(receiver, f"sqlite:///{tmp_path / 'n.db'}")
    try:
        assert node.call({"type": "emergency_brake", "reason": "drill: bad oracle"}).ok
        assert d.drain(10)
        assert node.call({"type": "release_brake", "reason": "all checks pass"}, actor=APPROVER).ok
        assert d.drain(10)
        # Slack: a text with the headline and blocks
        slack = receiver.to("/slack/")
        assert [p["json"]["text"].split("] ")[1][:26] for p in slack] == ["Emergency brake engaged by",
                                                                         "RESOLVED: Emergency brake "]
        assert slack[0]["json"]["blocks"][0]["type"] == "header"
        # PagerDuty: a trigger and a resolve sharing the dedup_key and the routing key
        pd = [p["json"] for p in receiver.to("/v2/enqueue")]
        assert [p["event_action"] for p in pd] == ["trigger", "resolve"]
        assert pd[0]["dedup_key"] == pd[1]["dedup_key"] == "drill:brake"
        assert pd[0]["routing_key"] == pd[1]["routing_key"] == PD_KEY
        assert pd[0]["payload"]["severity"] == "critical" and pd[0]["payload"]["source"] == "drill"
        assert "drill: bad oracle" in pd[0]["payload"]["custom_details"]["body"]
        # Discord with ?wait=true; the generic webhook after one 503
        disc = receiver.to("/api/webhooks/42/")
        assert len(disc) == 2 and disc[0]["path"].endswith("?wait=true") and disc[0]["json"]["embeds"]
        hook = receiver.to("/hook")
        assert len(hook) == 3 and hook[0]["json"] == hook[1]["json"]  # retried the same alert
        assert hook[0]["json"]["kind"] == "brake_engaged"
        # every attempt is in the store, newest first; secrets appear nowhere
        rows = node.alert_deliveries(50)
        assert len(rows) == 9
        by = [(r["sink"], r["kind"], r["attempt"], r["status"], r["http_status"]) for r in reversed(rows)]
        assert ("hook", "brake_engaged", 1, "retrying", 503) in by
        assert ("hook", "brake_engaged", 2, "delivered", 200) in by
        assert ("pager", "brake_released", 1, "delivered", 202) in by
        blob = repr(rows) + repr(node.audit(500)) + caplog.text + repr(cfg) + str(cfg)
        for secret in (SLACK_TOKEN, PD_KEY, DISCORD_TOKEN):
            assert secret not in blob
    finally:
        d.stop()
        node.close()


def test_a_refund_approval_is_alerted(receiver):
    node, d, _cfg = build(receiver)
    try:
        assert node.call({"type": "deposit", "account": "u1", "amount": "10"}, actor=SYSTEM).ok
        rec = node.propose_refund("u1", "25", "liquidated on a bad print")
        node.decide_refund(rec["refund_id"], True, "checked the evidence", actor=APPROVER, fund="treasury")  # the empty insurance fund could not cover it
        assert d.drain(10)
        hook = [p["json"] for p in receiver.to("/hook")]
        assert [h["kind"] for h in hook] == ["refund_approved"]
        assert hook[0]["fields"]["amount"] == "25" and hook[0]["dedup_key"] == "drill:refund:r0001"
        assert node.alert_deliveries()[0]["kind"] == "refund_approved"  # memory log without a store
    finally:
        d.stop()
        node.close()


def test_an_unreachable_sink_never_blocks_the_node(receiver):
    node, d, _cfg = build(receiver)
    receiver.close()  # every sink now refuses connections
    try:
        for _ in range(3):
            assert node.call({"type": "deposit", "account": "x", "amount": "1"}, timeout=2, actor=SYSTEM).ok
        assert node.call({"type": "emergency_brake", "reason": "r"}, timeout=2).ok
        assert d.drain(20)
        rows = node.alert_deliveries()
        assert rows and all(r["status"] in ("retrying", "failed") and r["http_status"] is None for r in rows)
    finally:
        d.stop()
        node.close()
