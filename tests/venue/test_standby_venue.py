"""``perpdesk venue --standby``: a second venue on the same PostgreSQL follows the leader's journal and
serves once the leader is gone (SIGKILL); on SQLite it refuses with a clear message."""

from __future__ import annotations

import signal
import socket
import subprocess
import time

import httpx

from engine.api.client import VenueClient
from engine.api.errors import GatewayError

from .conftest import spawn_venue, stop_venues, venue_cmd, wait_until


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).json().get("ready") is True
    except (httpx.HTTPError, ValueError):
        return False


def test_standby_on_sqlite_refuses_with_a_clear_message(tmp_path):
    out = subprocess.run(venue_cmd("--db", f"sqlite:///{tmp_path / 'v.db'}", "--standby", "--listen",
                                   "127.0.0.1:0", "--no-market"), capture_output=True, text=True, timeout=180)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "standby refused" in out.stderr and "PostgreSQL" in out.stderr
    assert "Traceback" not in out.stderr


def _status(client: VenueClient) -> dict | None:
    try:
        return client.gateway.status()
    except GatewayError:
        return None


def test_a_standby_venue_takes_over_when_the_leader_is_killed(pg_url):
    """The standby follows, then serves within seconds of the leader's death; a client given both URLs
    (``perpdesk --venue LEADER,STANDBY``) follows the leader to the standby with the same token (the
    operator registry is the database's)."""
    lead_port, sb_port = _free_port(), _free_port()
    env = {"PERPDESK_WRITER_PROCESS": "0"}
    leader = spawn_venue("--db", pg_url, "--listen", f"127.0.0.1:{lead_port}", "--accounts", "20", "--no-incident",
                         env=env)
    procs = [leader]
    try:
        wait_until(lambda: _healthy(lead_port) or leader.poll() is not None, 120, what="the leader to serve")
        assert leader.poll() is None, leader.stderr.read()
        from engine.store.store import Store
        from engine.venue.operators import Operators

        with Store.open(pg_url) as st:
            token = Operators(st).add("olga", "operator")
        client = VenueClient(f"http://127.0.0.1:{lead_port},http://127.0.0.1:{sb_port}", token, timeout=5)
        seq_leader = client.gateway.status()["seq"]
        assert client.gateway.whoami()["operator"] == "olga"
        standby = spawn_venue("--db", pg_url, "--listen", f"127.0.0.1:{sb_port}", "--standby", "--no-market",
                              env=env)
        procs.append(standby)
        assert "standby on" in standby.stdout.readline()
        assert not _healthy(sb_port)  # following, not serving
        leader.send_signal(signal.SIGKILL)
        leader.wait(10)
        killed = time.monotonic()
        wait_until(lambda: _healthy(sb_port) or standby.poll() is not None, 60, what="the standby to serve")
        assert standby.poll() is None, standby.stderr.read()
        took = time.monotonic() - killed
        assert "took over as the sequencer" in standby.stdout.readline()
        assert took < 10, f"the standby served {took:.1f} s after the leader died"
        st = wait_until(lambda: _status(client), 30, what="the client to follow the leader to the standby")
        assert client.http.url.endswith(f":{sb_port}") and st["seq"] >= seq_leader
        assert client.gateway.whoami()["operator"] == "olga"
        client.close()
    finally:
        stop_venues(procs)
