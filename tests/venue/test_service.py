"""``perpdesk venue``: exactly one venue per database, loopback unless TLS or --insecure."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from engine.node.roles import SYSTEM
from engine.venue.service import VenueService

from .conftest import venue_cmd


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'venue.db'}"
    return request.getfixturevalue("pg_url")


def test_a_second_venue_on_the_same_database_is_refused_naming_the_holder(db_url):
    first = VenueService(db=db_url, accounts=10, incident=False, market=False).start()
    try:
        out = subprocess.run(venue_cmd("--db", db_url, "--listen", "127.0.0.1:0", "--no-market"),
                             capture_output=True, text=True, timeout=180)
        assert out.returncode == 3, out.stderr[-2000:]
        err = out.stderr
        assert "perpdesk venue: the database is in use" in err
        assert f"pid {os.getpid()} on host {socket.gethostname()} since" in err
        assert "Traceback" not in err
        assert first.desk.node.call({"type": "tick"}, actor=SYSTEM).ok  # the holder is untouched
    finally:
        first.stop()


@pytest.mark.parametrize("listen", ["0.0.0.0:8765", "192.0.2.1:8765"])
def test_binding_beyond_loopback_without_tls_is_refused_unless_insecure(listen):
    out = subprocess.run(venue_cmd("--db", "memory", "--listen", listen), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    assert "without TLS" in out.stderr and "--insecure" in out.stderr


def test_listen_forms():
    from engine.venue.server import is_loopback, parse_listen

    assert parse_listen("unix:/tmp/x.sock") == {"uds": "/tmp/x.sock"}
    assert parse_listen("127.0.0.1:9") == {"host": "127.0.0.1", "port": 9}
    assert parse_listen("[::1]:9") == {"host": "::1", "port": 9}
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1")


def test_perpdesk_venue_is_a_subcommand():
    from console.cli import build_parser

    args = build_parser().parse_args(["venue", "--listen", "unix:/tmp/v.sock", "--sandbox"])
    assert args.command == "venue" and args.listen == "unix:/tmp/v.sock" and args.sandbox
