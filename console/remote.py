"""The live venue in its own process.

The live console runs the node, its simulated market and the event feed in a
child process, and talks to them over local sockets (``multiprocessing``
connections on a Unix socket, authenticated with a random key). The console's
UI thread then never competes with the sequencer for one interpreter lock:
on a busy venue a key press is handled by a process that does nothing but
the screen. Screens see the same :class:`~console.gateway.Gateway` methods
and :class:`~console.gateway.Feed` reads as in process; what crosses the
socket is plain data (dicts of ints and strings, :class:`Outcome`).

Each calling thread gets its own connection (and the venue a thread per
connection), so a slow call in a worker (a rollback preview) never holds up
the UI thread's cheap reads.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
import secrets
import tempfile
import threading
import time
from multiprocessing.connection import Client, Listener
from typing import Any

from .gateway import REQUIRED_ROLE, GatewayError

__all__ = ["VenueProcess", "RemoteGateway", "RemoteFeed", "RemoteVenue", "VenueError"]


class VenueError(Exception):
    """The venue process could not start, or stopped answering."""


# ---------------------------------------------------------------------------
# the venue side (child process)
# ---------------------------------------------------------------------------
class Venue:
    """What the console may ask of the venue process besides the gateway and the feed."""

    def __init__(self, desk, speed: float, steps_per_batch: int) -> None:
        self.desk = desk
        self.speed = speed
        self.steps_per_batch = steps_per_batch
        self.stop_event = threading.Event()
        self.rate: float | None = None
        self.market_error: str | None = None
        self._market: threading.Thread | None = None

    def start_market(self) -> None:
        """Start the simulated market (the console does when it mounts; once)."""
        if self._market is not None:
            return

        def on_rate(steps: int, cmds: int, rate: float) -> None:
            self.rate = rate

        def run() -> None:
            try:
                self.desk.run_market(self.stop_event, speed=self.speed, steps_per_batch=self.steps_per_batch,
                                     on_rate=on_rate)
            except Exception as e:  # shown by the console's banner instead of a silent stop
                self.market_error = f"{type(e).__name__}: {e}"

        self.desk.start_services()  # price feeds and alert delivery, when configured
        self._market = threading.Thread(target=run, name="market", daemon=True)
        self._market.start()

    # ---- reads and bench hooks --------------------------------------------------
    def sim_rate(self) -> float | None:
        return self.rate

    def sim_step_no(self) -> int:
        return self.desk.sim.step_no

    def journal_len(self) -> int:
        return self.desk.node.engine.seq

    def leveraged_pairs(self, pairs: int, **kw) -> None:
        from .factory import leveraged_pairs

        leveraged_pairs(self.desk, pairs, **kw)

    def system(self, cmd: dict) -> None:
        """Send a command as the venue's own services (benches, drills)."""
        self.desk.system(cmd)

    def oracle_shock(self, market: str, bps: int) -> None:
        from .factory import oracle_shock

        oracle_shock(self.desk, market, bps)

    def stop(self) -> None:
        self.stop_event.set()
        if self._market is not None:
            self._market.join(timeout=10)
            self.desk.stop_services()
        self.desk.node.close()


def _serve(address: str, authkey: bytes, opts: dict, ready) -> None:  # pragma: no cover - child process
    """Child process: build the live desk, start the sequencer and the market, answer calls.

    It shares the console's terminal: its logging goes to ``venue.log`` and its stderr to ``venue.stderr``
    under the state directory (engine/settings/logsetup.py), never to the screen the console draws on."""
    from engine.settings.logsetup import redirect_stderr, setup

    config = opts["desk"].get("config")
    setup("venue", tui=True, secrets=config.secrets() if config is not None else ())
    redirect_stderr("venue")
    try:
        from .factory import build_desk

        desk = build_desk(frozen=False, **opts["desk"])
        desk.node.start()
        venue = Venue(desk, opts["speed"], opts["steps_per_batch"])
        targets = {"gateway": desk.gateway, "feed": desk.feed, "venue": venue}
        listener = Listener(address, family="AF_UNIX", authkey=authkey)
    except Exception as e:
        ready.send(("error", f"{type(e).__name__}: {e}"))
        return
    ready.send(("ready", {"identity": desk.gateway.identity}))
    done = threading.Event()

    def handle(conn) -> None:
        while True:
            try:
                target, name, args, kwargs = conn.recv()
            except (EOFError, OSError):
                return
            if name == "__shutdown__":
                venue.stop()
                conn.send(("ok", None))
                done.set()
                return
            try:
                attr = getattr(targets[target], name)
                value = attr(*args, **kwargs) if callable(attr) else attr
                reply: tuple = ("ok", value)
            except GatewayError as e:
                reply = ("gateway_error", e.code, e.message)
            except Exception as e:
                reply = ("error", type(e).__name__, str(e))
            try:
                conn.send(reply)
            except (EOFError, OSError):
                return

    def accept() -> None:
        while not done.is_set():
            try:
                conn = listener.accept()
            except (OSError, EOFError):
                continue
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    # the parent going away (a crash, a kill) also ends the venue cleanly
    parent = os.getppid()
    while not done.wait(0.5):
        if os.getppid() != parent:
            venue.stop()
            break
    listener.close()


# ---------------------------------------------------------------------------
# the console side
# ---------------------------------------------------------------------------
class _Link:
    """Thread-local connections to one venue process."""

    def __init__(self, address: str, authkey: bytes) -> None:
        self.address = address
        self.authkey = authkey
        self._local = threading.local()
        self._all: list = []
        self._lock = threading.Lock()
        self.closed = False

    def call(self, target: str, name: str, *args, **kwargs) -> Any:
        if self.closed:
            raise GatewayError("venue_stopped", "the venue process has stopped")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = Client(self.address, family="AF_UNIX", authkey=self.authkey)
            except OSError as e:
                raise GatewayError("venue_unreachable", f"the venue process does not answer: {e}") from None
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        try:
            conn.send((target, name, args, kwargs))
            reply = conn.recv()
        except (EOFError, OSError) as e:
            self._local.conn = None
            raise GatewayError("venue_unreachable", f"lost the venue process: {e or type(e).__name__}") from None
        if reply[0] == "ok":
            return reply[1]
        if reply[0] == "gateway_error":
            raise GatewayError(reply[1], reply[2])
        raise GatewayError("error", f"{reply[1]}: {reply[2]}")

    def close(self) -> None:
        self.closed = True
        with self._lock:
            for c in self._all:
                try:
                    c.close()
                except OSError:
                    pass
            self._all.clear()


class _Proxy:
    """Forwards public method calls to one target in the venue process."""

    _target = ""

    def __init__(self, link: _Link) -> None:
        self._link = link

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return functools.partial(self._link.call, self._target, name)


class RemoteGateway(_Proxy):
    """:class:`~console.gateway.Gateway` over the socket: same methods, same plain data."""

    _target = "gateway"

    def __init__(self, link: _Link, identity: dict) -> None:
        super().__init__(link)
        self._identity = dict(identity)
        self._may: dict[str, bool] = {}

    @property
    def identity(self) -> dict:  # fixed for the session: asked on every binding check
        return dict(self._identity)

    @property
    def role(self) -> str:
        return self._identity.get("role", "viewer")

    def may(self, action: str) -> bool:
        v = self._may.get(action)
        if v is None:
            v = self._may[action] = bool(self._link.call("gateway", "may", action))
        return v

    @staticmethod
    def required_role(action: str) -> str | None:
        return REQUIRED_ROLE.get(action)

    @staticmethod
    def clock() -> int:
        return time.time_ns() // 1_000_000

    def subscribe(self, fn):
        raise GatewayError("unsupported", "events stay in the venue process; read them through the feed")

    def sim_rate(self) -> float | None:
        return self._link.call("venue", "sim_rate")


class RemoteFeed(_Proxy):
    _target = "feed"


class RemoteVenue(_Proxy):
    """The venue process's own calls (start the market, bench and drill hooks)."""

    _target = "venue"


class VenueProcess:
    """Start, reach and stop the venue's child process."""

    def __init__(self, *, speed: float = 1.0, steps_per_batch: int = 1, start_timeout: float = 120.0,
                 **desk_opts) -> None:
        self.opts = {"desk": desk_opts, "speed": speed, "steps_per_batch": steps_per_batch}
        self.start_timeout = start_timeout
        self._dir = tempfile.mkdtemp(prefix="perpdesk-venue-")
        self.address = os.path.join(self._dir, "venue.sock")
        self.authkey = secrets.token_bytes(32)
        self.proc = None
        self.link: _Link | None = None
        self.gateway: RemoteGateway | None = None
        self.feed: RemoteFeed | None = None
        self.venue: RemoteVenue | None = None

    def start(self) -> VenueProcess:
        ctx = mp.get_context("spawn")  # never fork a process that may hold threads and locks
        parent, child = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_serve, args=(self.address, self.authkey, self.opts, child),
                                name="perpdesk-venue", daemon=True)
        self.proc.start()
        child.close()
        if not parent.poll(self.start_timeout):
            self.proc.terminate()
            raise VenueError(f"the venue process did not start within {self.start_timeout:.0f} s")
        try:
            msg = parent.recv()
        except EOFError:
            raise VenueError(f"the venue process exited while starting (exit code {self.proc.exitcode})") from None
        if msg[0] != "ready":
            self.proc.join(5)
            raise VenueError(msg[1])
        self.link = _Link(self.address, self.authkey)
        self.gateway = RemoteGateway(self.link, msg[1]["identity"])
        self.feed = RemoteFeed(self.link)
        self.venue = RemoteVenue(self.link)
        return self

    def stop(self, timeout: float = 30.0) -> int | None:
        """Stop the market and the sequencer (the journal is flushed), then the process."""
        if self.proc is None:
            return None
        if self.link is not None and not self.link.closed:
            try:
                self.link.call("venue", "__shutdown__")
            except GatewayError:
                pass
            self.link.close()
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        try:
            os.unlink(self.address)
        except OSError:
            pass
        try:
            os.rmdir(self._dir)
        except OSError:
            pass
        return self.proc.exitcode

