"""Venue fixtures: a real uvicorn on 127.0.0.1 (port 0) in a thread, or ``perpdesk venue`` in a
subprocess; condition waits, never bare sleeps. Nothing listens beyond loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests import kit
from tests.store.conftest import store_url  # noqa: F401  (fixture: SQLite and PostgreSQL)

REPO = Path(__file__).resolve().parents[2]


def wait_until(cond, timeout: float = 20.0, what: str = "condition"):
    """The test kit's wait, with the longer default a venue in another process needs."""
    return kit.wait_until(cond, timeout, what=what, interval=0.02)


async def await_until(pilot, cond, timeout: float = 20.0, what: str = "condition"):
    """The test kit's wait inside a pilot, with the venue tests' longer default."""
    return await kit.wait_until_async(cond, timeout, what=what, pilot=pilot, interval=0.05)


class Running:
    """A venue service behind a real uvicorn on 127.0.0.1, in a thread."""

    def __init__(self, service, server, thread, url) -> None:
        self.service = service
        self.server = server
        self.thread = thread
        self.url = url

    def token(self, name: str, role: str) -> str:
        return self.service.operators.add(name, role)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.service.stop()


def serve(service) -> Running:
    import uvicorn

    from engine.venue.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_config=None, lifespan="off",
                                           timeout_graceful_shutdown=1))
    th = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    th.start()
    wait_until(lambda: server.started, what="uvicorn to start")
    return Running(service, server, th, f"http://127.0.0.1:{port}")


@pytest.fixture
def venue():
    """A live venue (in memory, a small simulated market) on loopback; stopped afterwards."""
    from engine.venue.service import VenueService

    running: list[Running] = []

    def start(**kw) -> Running:
        kw.setdefault("db", "memory")
        kw.setdefault("accounts", 30)
        kw.setdefault("incident", False)
        r = serve(VenueService(**kw).start())
        running.append(r)
        return r

    yield start
    for r in running:
        r.stop()


def venue_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine.venue", *args]


def spawn_venue(*args: str, env=None) -> subprocess.Popen:
    return subprocess.Popen(venue_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, cwd=REPO)


def stop_venues(procs) -> None:
    """SIGTERM every venue process still running (a drained stop), SIGKILL one that does not stop in 30 s."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s


@pytest.fixture
def clock():
    return FakeClock()
