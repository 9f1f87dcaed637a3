"""Logging in every process (engine/settings/logsetup.py): a rotating file under the state directory, secrets
redacted, nothing on the terminal a TUI draws on."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from engine.settings import logsetup, paths

ROOT = Path(__file__).resolve().parents[2]

VENUE_SCRIPT = textwrap.dedent('''
    import sys
    import time
    from engine.settings.config import parse_config
    from engine.settings.logsetup import log_path
    from console.sandbox import attach_or_start

    open("cfg.toml", "w").write(sys.argv[1])
    parse_config(sys.argv[1])
    # the sandbox venue a console starts: its price feeds poll dead sources, every poll logs a warning
    v = attach_or_start(db="memory", seed=3, accounts=20, config_path="cfg.toml", incident=False)
    v.attach()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            p = log_path("venue")
            if p.exists() and "feed binance" in p.read_text():
                break
            time.sleep(0.1)  # (a poll in the child: the test kit is not importable from its cwd)
    finally:
        v.close()
        v.proc.wait(30)  # the sandbox stops once its last console has left
    print("done")
''')

CONFIG = '''
[feeds]
enabled = true
poll_interval_s = 0.2
timeout_s = 1
retries = 0
quorum = 2
[feeds.sources.binance]
base_url = "http://127.0.0.1:9"
api_key = "SeCrEtKeY-0123456789"
[feeds.sources.coinbase]
base_url = "http://127.0.0.1:9"
[feeds.markets.BTC-USD-PERP]
binance = "BTCUSDT"
coinbase = "BTC-USD"
'''


def test_a_warning_in_the_venue_child_lands_in_the_file_not_on_stderr(home, tmp_path):
    """Old venue child: no handler anywhere, so the feed's warning went through Python's last-resort
    handler to stderr, the terminal the console draws on."""
    env = {**os.environ, "PERPDESK_HOME": str(home), "PERPDESK_PURE": "1"}
    env.pop("PERPDESK_DB", None)
    out = subprocess.run([sys.executable, "-c", VENUE_SCRIPT, CONFIG], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "done" in out.stdout
    log = (home / "state" / "logs" / "venue.log").read_text()
    assert "WARNING perpdesk.feeds" in log and "feed binance BTC-USD-PERP" in log
    assert "feed binance" not in out.stderr and "WARNING" not in out.stderr
    assert "SeCrEtKeY-0123456789" not in log


def test_secrets_are_redacted_in_the_file_whatever_logger_writes_them():
    """Old redaction: a filter on a few named loggers only; a secret logged by any other logger (a child of
    ``perpdesk``, a library) was written as is."""
    path = logsetup.setup("unit", tui=True, secrets=["hunter2-webhook-token"])
    try:
        assert path == paths.state_dir() / "logs" / "unit.log"
        logging.getLogger("perpdesk.node.somewhere").warning("posting to https://x.test/hunter2-webhook-token now")
        logging.getLogger("some.library").error("failed: %s", "hunter2-webhook-token")
        for h in logging.getLogger().handlers:
            h.flush()
        text = path.read_text()
        assert "posting to https://x.test/*** now" in text and "failed: ***" in text
        assert "hunter2" not in text
    finally:
        for h in [h for h in logging.getLogger().handlers if getattr(h, "_perpdesk", False)]:
            logging.getLogger().removeHandler(h)
            h.close()
        logging.raiseExceptions = True
        logging.captureWarnings(False)


def test_a_tui_process_has_no_stream_handler_and_a_tool_logs_warnings_to_stderr():
    code = textwrap.dedent('''
        import logging, sys
        from engine.settings.logsetup import setup
        setup(sys.argv[1], tui=sys.argv[1] == "console")
        logging.getLogger("perpdesk.x").warning("careful")
        print([type(h).__name__ for h in logging.getLogger().handlers])
    ''')
    env = {k: v for k, v in os.environ.items() if k != "PERPDESK_DB"}
    tui = subprocess.run([sys.executable, "-c", code, "console"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert tui.stderr == "" and tui.stdout.strip() == "['RotatingFileHandler']"
    tool = subprocess.run([sys.executable, "-c", code, "verify"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert "careful" in tool.stderr
    assert "careful" in (Path(os.environ["PERPDESK_HOME"]) / "state" / "logs" / "verify.log").read_text()


def test_the_http_client_logs_only_its_warnings():
    """An attached console polls its venue several times a second; httpx logs each request at INFO,
    which put ~20 lines a second into console.log. After set-up only its warnings are kept."""
    code = textwrap.dedent('''
        import logging, sys
        from engine.settings.logsetup import setup
        setup("console", tui=True)
        logging.getLogger("httpx").info("HTTP Request: GET http://venue/v1/overview 200")
        logging.getLogger("httpx").warning("connection reset")
        logging.getLogger("perpdesk.x").info("kept")
    ''')
    env = {k: v for k, v in os.environ.items() if k != "PERPDESK_DB"}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    text = (Path(os.environ["PERPDESK_HOME"]) / "state" / "logs" / "console.log").read_text()
    assert "connection reset" in text and "kept" in text
    assert "HTTP Request" not in text
