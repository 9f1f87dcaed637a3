"""``perpdesk venue``: the venue service behind its HTTP API on uvicorn.

``--listen HOST:PORT`` or ``unix:PATH`` (default 127.0.0.1:8765). Binding beyond loopback needs TLS
(``--certfile/--keyfile``) or an explicit ``--insecure``. SIGTERM / SIGINT: the HTTP server stops, the
market stops, the sequencer drains (every acknowledged command is durable), feeds and alert delivery
stop, the database closes, exit 0. A second venue on a database is refused (the lease names its holder),
exit 2. ``--sandbox`` (what a plain ``perpdesk`` starts): the OS user as admin with a token in a 0600
file beside the socket, and the venue stops by itself once no console has been attached for a few
seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from engine.errors import PerpdeskError

log = logging.getLogger("perpdesk.venue")

DEFAULT_LISTEN = "127.0.0.1:8765"
#: a sandbox venue with no console attached for this long stops (the first one gets STARTUP_GRACE_S)
IDLE_EXIT_S = 3.0
STARTUP_GRACE_S = 60.0


class ListenError(PerpdeskError, ValueError):
    """A --listen value that cannot be used; the message says why."""

    code = "bad_listen"


def parse_listen(value: str) -> dict:
    """``{"uds": path}`` or ``{"host": h, "port": p}``."""
    if value.startswith("unix:"):
        path = value[5:]
        if not path:
            raise ListenError("unix: needs a socket path")
        return {"uds": path}
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ListenError(f"--listen {value!r}: HOST:PORT or unix:PATH")
    host = host.strip("[]") or "127.0.0.1"
    return {"host": host, "port": int(port)}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", default=DEFAULT_LISTEN, help=f"HOST:PORT or unix:PATH (default {DEFAULT_LISTEN})")
    p.add_argument("--db", dest="venue_db", default=None, help="database URL or path (default: PERPDESK_DB or "
                   "the platformdirs data directory)")
    p.add_argument("--config", dest="venue_config", default=None, metavar="FILE", help="TOML config (feeds, alerts)")
    p.add_argument("--seed", dest="venue_seed", type=int, default=7, help="simulated market seed (default 7)")
    p.add_argument("--accounts", dest="venue_accounts", type=int, default=200, help="simulated accounts")
    p.add_argument("--speed", dest="venue_speed", type=float, default=1.0, help="simulated market speed")
    p.add_argument("--steps-per-batch", type=int, default=1, help="simulator steps per batch (benches)")
    p.add_argument("--no-incident", action="store_true", help="no thin-margin accounts at the first start")
    p.add_argument("--no-market", action="store_true", help="no simulated market (feeds and the API only)")
    p.add_argument("--certfile", default=None, help="TLS certificate (PEM)")
    p.add_argument("--keyfile", default=None, help="TLS private key (PEM)")
    p.add_argument("--insecure", action="store_true", help="allow plain HTTP beyond loopback")
    p.add_argument("--sandbox", action="store_true", help="the local sandbox: OS user as admin, token file, "
                   "stops when no console is attached")
    p.add_argument("--token-file", default=None, help="sandbox: where to write the admin token (0600)")
    p.add_argument("--standby", action="store_true", help="PostgreSQL: follow the journal as a hot standby and "
                   "serve once the leader's lease is gone (engine/node/standby.py)")


def _token_path(listen: dict, explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    if "uds" in listen:
        return Path(listen["uds"] + ".token")
    from engine.settings import paths

    return paths.ensure_dir(paths.state_dir()) / f"venue-{listen['port']}.token"


def _make_server(config):
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server without its signal capture (it re-raises the signal at the end, which would
        kill the process before the sequencer is drained): SIGTERM / SIGINT just ask it to exit."""

        @contextlib.contextmanager
        def capture_signals(self):
            yield

    return Server(config)


def run(args) -> int:
    from engine.settings.logsetup import setup

    try:
        listen = parse_listen(args.listen)
    except ListenError as e:
        print(f"perpdesk venue: {e}", file=sys.stderr)
        return 2
    tls = bool(args.certfile or args.keyfile)
    if tls and not (args.certfile and args.keyfile):
        print("perpdesk venue: TLS needs both --certfile and --keyfile", file=sys.stderr)
        return 2
    if "host" in listen and not is_loopback(listen["host"]) and not tls and not args.insecure:
        print(f"perpdesk venue: refusing to listen on {listen['host']} without TLS: give --certfile and --keyfile, "
              "or --insecure to accept plain HTTP beyond loopback", file=sys.stderr)
        return 2
    config = None
    from engine.settings.config import ConfigError, load_config

    try:
        config = load_config(args.venue_config or getattr(args, "config", None))
    except ConfigError as e:
        print(f"perpdesk venue: bad config: {e}", file=sys.stderr)
        return 2
    log_file = setup("venue", tui=False, secrets=config.secrets())
    from engine.node.node import RecoveryError
    from engine.settings.paths import resolve_db_url
    from engine.store.store import LeaseHeldError, StoreError

    from .app import create_app
    from .service import VenueService

    db = args.venue_db or getattr(args, "db", None) or os.environ.get("PERPDESK_DB")
    if db != "memory":
        db = resolve_db_url(db)
    desk = None
    if getattr(args, "standby", False):
        desk = _follow_as_standby(db, args, config)
        if desk is None:
            return 0 if _STANDBY_STOPPED.is_set() else 2
    service = VenueService(db=db, config=config, seed=args.venue_seed, accounts=args.venue_accounts,
                           sandbox=args.sandbox, market=not args.no_market, speed=args.venue_speed,
                           steps_per_batch=args.steps_per_batch,
                           incident=not args.no_incident, desk=desk)
    try:
        service.start()
    except LeaseHeldError as e:
        print(f"perpdesk venue: the database is in use: {e}", file=sys.stderr)
        return 3
    except (StoreError, RecoveryError) as e:
        print(f"perpdesk venue: cannot open the database: {e}", file=sys.stderr)
        return 2
    if args.sandbox:
        service.operators.local_admin_token(_token_path(listen, args.token_file))
    import uvicorn

    uv = dict(listen)
    if tls:
        uv.update(ssl_certfile=args.certfile, ssl_keyfile=args.keyfile)
    if "uds" in uv:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(uv["uds"])  # a stale socket of a venue that died (the lease proved none runs)
    cfg = uvicorn.Config(create_app(service), log_config=None, lifespan="off", access_log=False,
                         timeout_graceful_shutdown=2, **uv)
    server = _make_server(cfg)

    def on_signal(signum, frame) -> None:
        log.info("venue: signal %s, stopping", signum)
        server.should_exit = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop_watch = threading.Event()
    if args.sandbox:
        def watch() -> None:  # the sandbox ends with its last console
            while not stop_watch.wait(0.5):
                limit = IDLE_EXIT_S if service.ever_attached else STARTUP_GRACE_S
                if service.idle_for() > limit:
                    log.info("venue: no console attached for %.0f s, stopping", limit)
                    server.should_exit = True
                    return

        threading.Thread(target=watch, name="idle-exit", daemon=True).start()
    where = f"unix:{uv['uds']}" if "uds" in uv else f"{'https' if tls else 'http'}://{uv['host']}:{uv['port']}"
    print(f"perpdesk venue: serving {db} on {where} (log: {log_file})", flush=True)
    log.info("venue: serving %s on %s", db, where)
    try:
        server.run()
    finally:
        stop_watch.set()
        service.stop()
        if "uds" in uv:
            with contextlib.suppress(OSError):
                os.unlink(uv["uds"])
        log.info("venue: stopped")
    print("perpdesk venue: stopped (journal drained, database closed)", flush=True)
    return 0


_STANDBY_STOPPED = threading.Event()


def _follow_as_standby(db: str | None, args, config):
    """``--standby``: follow the leader's journal (a hot engine) until its lease is gone, take over, and
    return the desk built around the promoted node (None: stopped by a signal, or refused: printed)."""
    from engine.node.standby import StandbyError, run_standby

    from .desk import build_desk

    def on_signal(signum, frame) -> None:
        log.info("venue standby: signal %s, stopping", signum)
        _STANDBY_STOPPED.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"perpdesk venue: standby on {db}: following the journal until the leader's lease is free", flush=True)
    try:
        node = run_standby(db, stop=_STANDBY_STOPPED)
    except StandbyError as e:
        print(f"perpdesk venue: standby refused: {e}", file=sys.stderr)
        return None
    if node is None:
        print("perpdesk venue: standby stopped before taking over", flush=True)
        return None
    print(f"perpdesk venue: took over as the sequencer at leader epoch {node.leader_epoch}, "
          f"journal seq {node.engine.seq}", flush=True)
    return build_desk(args.venue_seed, args.venue_accounts, frozen=False, db=db, config=config,
                      incident=not args.no_incident, node=node)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="perpdesk venue", description="Run the venue as a service.")
    add_arguments(p)
    return run(p.parse_args(argv))


__all__ = ["add_arguments", "main", "parse_listen", "run"]
