"""The local sandbox venue: what a plain ``perpdesk`` attaches to.

One sandbox venue per database and home: a ``perpdesk venue --sandbox`` child listening on
``unix:<state dir>/venue-<hash of the database URL>.sock``, its admin token (the OS user) in a 0600
file beside it. A console first tries that socket; when a venue answers it attaches (a second
``perpdesk`` never starts a second sequencer), else it starts one and waits for it. The sandbox
stops by itself a few seconds after its last console detaches, so a plain ``perpdesk`` leaves nothing
running.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engine.api.client import VenueClient, read_token
from engine.api.errors import GatewayError
from engine.errors import PerpdeskError

#: AF_UNIX paths are limited to ~107 bytes: past this the socket goes to the temp directory
MAX_SOCKET_PATH = 100


class VenueError(PerpdeskError):
    """The sandbox venue could not be started or reached."""

    code = "sandbox_unavailable"


def socket_path(db_url: str) -> Path:
    from engine.settings import paths

    state = paths.ensure_dir(paths.state_dir())
    digest = hashlib.sha256(f"{db_url}".encode()).hexdigest()[:12]
    p = state / f"venue-{digest}.sock"
    if len(str(p)) > MAX_SOCKET_PATH:
        wide = hashlib.sha256(str(p).encode()).hexdigest()[:16]
        p = Path(tempfile.gettempdir()) / f"perpdesk-{os.getuid()}-{wide}.sock"
    return p


def try_attach(sock: Path, token_file: Path) -> VenueClient | None:
    """A client of the venue on ``sock`` when one answers and is ready (None otherwise)."""
    if not sock.exists() or not token_file.exists():
        return None
    try:
        client = VenueClient(f"unix:{sock}", read_token(token_file), timeout=30.0)
        health = client.venue.health()
        if not health.get("ready"):
            client.close()
            return None
        client.gateway.whoami(refresh=True)
        return client
    except (GatewayError, OSError):
        return None


def attach_or_start(*, db: str | None, seed: int = 7, accounts: int = 200, config_path: str | None = None,
                    speed: float = 1.0, steps_per_batch: int = 1, incident: bool = True,
                    timeout: float = 180.0) -> VenueClient:
    from engine.settings import paths
    from engine.settings.logsetup import log_dir

    db_url = db if db == "memory" else paths.resolve_db_url(db)
    sock = socket_path(db_url)
    token_file = Path(str(sock) + ".token")
    client = try_attach(sock, token_file)
    if client is not None:
        return client
    cmd = [sys.executable, "-m", "engine.venue", "--sandbox", "--listen", f"unix:{sock}", "--db", db_url,
           "--seed", str(seed), "--accounts", str(accounts), "--token-file", str(token_file),
           "--speed", str(speed), "--steps-per-batch", str(steps_per_batch)]
    if config_path:
        cmd += ["--config", str(Path(config_path).absolute())]
    if not incident:
        cmd += ["--no-incident"]
    out = paths.ensure_dir(log_dir()) / "venue.stdout"
    with contextlib_open(out) as f:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=f, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rc = proc.poll()
        client = try_attach(sock, token_file)
        if client is not None:
            client.proc = proc if rc is None else None
            return client
        if rc is not None:
            if rc == 3:  # another console started it meanwhile: attach to that one
                time.sleep(0.2)
                continue
            raise VenueError(f"the sandbox venue exited ({rc}): {_tail(out)}")
        time.sleep(0.1)
    proc.terminate()
    raise VenueError(f"the sandbox venue did not answer within {timeout:.0f} s: {_tail(out)}")


def contextlib_open(path: Path):
    return open(path, "ab")


def _tail(path: Path, n: int = 600) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output)"
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " / ".join(lines[-3:])[-n:] or "(no output)"
