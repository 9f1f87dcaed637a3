"""Secrets redacted inside strings (engine/settings/logsetup.py ``redact``): a sink's URL token echoed in
an error body, whole, in part, URL-encoded, JSON-escaped or cut, never reaches alert_deliveries.error or
the logs."""

from __future__ import annotations

import logging

import httpx
import pytest

from engine.outside.alerts import Alert, AlertDispatcher, Sink
from engine.settings import logsetup
from engine.settings.logsetup import redact, secret_parts
from engine.store.store import Store

SLACK = "https://hooks.slack.com/services/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"
SLACK_TOKEN = "q8Zr7Kp2Wm4Xv9Ty6Ln3Hs1J"
QUERY = "https://hooks.example.com/in?channel=ops&token=s3cr3t-t0ken-v4lue-long"
QUERY_TOKEN = "s3cr3t-t0ken-v4lue-long"
USERINFO = "https://bot:p4ssw0rd%2Flong@hooks.example.com/x"
PASSWORD = "p4ssw0rd/long"


def echoing(body_of) -> httpx.Client:
    """A sink whose error body echoes the request URL (as many real webhook endpoints do)."""
    return httpx.Client(transport=httpx.MockTransport(lambda req: httpx.Response(400, text=body_of(str(req.url)))))


def deliver(url: str, body_of, record) -> None:
    d = AlertDispatcher([Sink("ops", "webhook", url, min_severity="info")], clock=lambda: 1, record=record,
                        client=echoing(body_of), sleep=lambda s: None, max_attempts=1)
    d.deliver(d.workers[0].sink, Alert("brake_engaged", "critical", "Brake", "engaged", "v:brake"))


ECHOES = [
    ("whole url", SLACK, lambda u: f"invalid_payload for {u}", [SLACK, SLACK_TOKEN]),
    ("path token only", SLACK, lambda u: f"invalid_token: T0A1B2C3D/B0E1F2G3H/{SLACK_TOKEN}", [SLACK_TOKEN]),
    ("url-encoded", SLACK, lambda u: "no_service url=" + httpx.QueryParams({"u": u}).get("u").replace("/", "%2F"),
     [SLACK_TOKEN]),
    ("json-escaped", SLACK, lambda u: '{"error":"bad hook","url":"' + u.replace("/", "\\/") + '"}',
     [SLACK_TOKEN, "services\\/T0A1B2C3D"]),
    ("cut at 200 characters", SLACK, lambda u: "x" * 150 + " " + u, [SLACK_TOKEN[:10], "B0E1F2G3H/q8"]),
    ("query token", QUERY, lambda u: f"bad request: token={QUERY_TOKEN} rejected", [QUERY_TOKEN]),
    ("query token encoded", QUERY, lambda u: "echo " + QUERY_TOKEN.replace("-", "%2D"), ["t0ken"]),
    ("userinfo password", USERINFO, lambda u: f"auth failed for bot:{PASSWORD}", [PASSWORD, "p4ssw0rd%2Flong"]),
]


@pytest.mark.parametrize("what,url,body_of,leaks", ECHOES, ids=[e[0] for e in ECHOES])
def test_a_token_echoed_in_an_error_body_is_not_stored_nor_logged(what, url, body_of, leaks, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    with Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
        deliver(url, body_of, store.record_alert_delivery)
        [row] = store.list_alert_deliveries()
    assert row["status"] == "failed" and row["http_status"] == 400 and "***" in row["error"]
    for leak in leaks:
        assert leak not in row["error"], (what, row["error"])
        assert leak not in caplog.text, what


def test_redact_replaces_every_form_of_each_secret():
    text = (f"a {SLACK} b {SLACK_TOKEN} c {httpx.URL(SLACK).path} d "
            f"{SLACK_TOKEN.replace('Z', '%5A')} e")
    out = redact(text, [SLACK])
    assert SLACK_TOKEN not in out and "hooks.slack.com/services" not in out.replace("***", "")
    assert out.startswith("a *** b *** c *** d")
    # plain words of a URL are not secrets: nothing else is touched
    assert redact("services are fine at hooks.slack.com", [SLACK]) == "services are fine at hooks.slack.com"
    assert SLACK_TOKEN in secret_parts(SLACK) and "services" not in secret_parts(SLACK)
    assert redact("token hunter2-token here", ["hunter2-token"]) == "token *** here"


def test_the_log_files_redact_token_parts(monkeypatch, tmp_path):
    monkeypatch.setenv("PERPDESK_HOME", str(tmp_path / "home"))
    path = logsetup.setup("unit-redact", tui=True, secrets=[QUERY])
    try:
        logging.getLogger("some.library").warning("retrying with token=%s", QUERY_TOKEN)
        for h in logging.getLogger().handlers:
            h.flush()
        text = path.read_text()
        line = next(ln for ln in text.splitlines() if "retrying with" in ln)  # (other tests add secrets too)
        assert line.endswith("=***") and QUERY_TOKEN not in text
    finally:
        for h in list(logging.getLogger().handlers):
            if getattr(h, "_perpdesk", False):
                logging.getLogger().removeHandler(h)
                h.close()
