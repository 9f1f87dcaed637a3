"""The shared test kit: the actors, the terminal sizes, and waits on conditions instead of sleeps.

The fixtures (one isolated home, one PostgreSQL) are in tests/conftest.py, built on the helpers here.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from engine.node.roles import Actor

REPO = Path(__file__).resolve().parents[1]

# ---- who acts --------------------------------------------------------------------------------
ADMIN = Actor("ada", "admin")
APPROVER = Actor("april", "approver")
APPROVER2 = Actor("bert", "approver")  # a second approver (maker-checker needs two people)
OPERATOR = Actor("olga", "operator")
VIEWER = Actor("vic", "viewer")

# ---- terminal sizes (columns, rows) ------------------------------------------------------------
SMALL = (80, 24)   # the smallest terminal every dialog must fit
DESK = (140, 44)   # a laptop's terminal: the flows' size
WIDE = (160, 48)   # the screenshots' size
DEMO = (160, 50)   # the demo's (a caption bar more)


# ---- waits on conditions -----------------------------------------------------------------------
def wait_until(predicate: Callable[[], object], timeout: float = 10.0, *, what: str = "",
               interval: float = 0.01) -> object:
    """Poll ``predicate`` until it returns something true (returned); fail with ``what`` after ``timeout``
    seconds. The wait is on the condition: a fast machine goes on at once, a slow one waits longer."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what or _name(predicate)}")
        time.sleep(interval)


async def wait_until_async(predicate: Callable[[], object], timeout: float = 10.0, *, what: str = "",
                           pilot=None, interval: float = 0.01) -> object:
    """:func:`wait_until` inside an event loop: between polls the loop runs (``pilot.pause()`` when a
    Textual pilot is given, so the app processes its messages; else ``asyncio.sleep``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what or _name(predicate)}")
        step: Awaitable = pilot.pause(interval) if pilot is not None else asyncio.sleep(interval)
        await step


def _name(predicate: Callable) -> str:
    return getattr(predicate, "__name__", "") if getattr(predicate, "__name__", "") != "<lambda>" \
        else "the condition"


# ---- PostgreSQL --------------------------------------------------------------------------------
PG_SCRIPT = REPO / ".ci" / "postgres.sh"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pg_binaries() -> bool:
    return bool(shutil.which("pg_ctl") or glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))


def find_pg_server() -> tuple[str, str | None, str]:
    """(admin URL, the data dir this started or None, why not): ``PERPDESK_TEST_PG_URL``, else a
    throwaway server started with ``.ci/postgres.sh`` when PostgreSQL's binaries are installed."""
    url = os.environ.get("PERPDESK_TEST_PG_URL", "").strip()
    started_dir = None
    reason = ""
    if not url:
        if not pg_binaries():
            reason = "PostgreSQL not available: PERPDESK_TEST_PG_URL is unset and no pg_ctl is installed"
        else:
            proc = subprocess.run(["bash", str(PG_SCRIPT)], capture_output=True, text=True, timeout=180)
            exports = dict(line.removeprefix("export ").split("=", 1)
                           for line in proc.stdout.splitlines() if line.startswith("export "))
            url = exports.get("PERPDESK_TEST_PG_URL", "")
            started_dir = exports.get("PERPDESK_TEST_PG_DIR")
            if proc.returncode != 0 or not url:
                reason = f"could not start PostgreSQL with {PG_SCRIPT.name}: {proc.stderr.strip()[-500:]}"
                url = ""
    if url:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            reason, url = "PostgreSQL tests need psycopg: pip install 'psycopg[binary]'", ""
    return url, started_dir, reason


def stop_pg_server(started_dir: str) -> None:
    subprocess.run(["bash", str(PG_SCRIPT), "--stop", started_dir], capture_output=True, timeout=120)


# ---- the console --------------------------------------------------------------------------------
def palette_highlights(app, text: str) -> bool:
    """The command palette is open and its highlighted hit (the one Enter runs) mentions ``text``."""
    from textual.command import CommandList, CommandPalette

    screen = app.screen
    if not isinstance(screen, CommandPalette):
        return False
    hits = screen.query_one(CommandList)
    if hits.highlighted is None or not hits.option_count:
        return False
    prompt = hits.get_option_at_index(hits.highlighted).prompt
    return text.lower() in str(getattr(prompt, "plain", prompt)).lower()
