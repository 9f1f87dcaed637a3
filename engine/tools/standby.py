"""``python -m engine.tools.standby --db URL``: a hot standby that, once leader, serves headless.

It follows the PostgreSQL database at URL (engine/node/standby.py: LISTEN/NOTIFY plus catch-up, the
chain verified as it goes) and, when the leader's lease is gone, takes over: the epoch bumped, the
journal read to its end, its engine (already hot) started as the sequencer. It then serves as a
headless node (no simulated market, no console) and logs its status every ``--status-every``
seconds until SIGTERM or SIGINT, when it drains the sequencer and closes the database.
``perpdesk venue --standby`` calls :func:`engine.node.standby.run_standby` the same way.

Exit status: 0 after a clean stop; 2 when the standby refuses (not PostgreSQL, the database does not
verify, a chain break while following), with the reason on stderr and in the log.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

log = logging.getLogger("perpdesk.standby")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m engine.tools.standby",
                                 description="Follow a PostgreSQL perpdesk database and take over as its "
                                             "sequencer when the leader's lease is gone.")
    ap.add_argument("--db", default=None, help="postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB "
                                               "(default: PERPDESK_DB)")
    ap.add_argument("--poll-ms", type=int, default=200, help="catch-up read at least this often (ms)")
    ap.add_argument("--lease-ms", type=int, default=100, help="try the lease this often (ms)")
    ap.add_argument("--status-every", type=float, default=10.0, help="seconds between status lines once leader")
    args = ap.parse_args(argv)
    if not (10 <= args.poll_ms <= 60_000 and 10 <= args.lease_ms <= 60_000 and 0.1 <= args.status_every <= 3600):
        print("standby: --poll-ms and --lease-ms must be 10..60000, --status-every 0.1..3600", file=sys.stderr)
        return 2

    from ..settings import logsetup

    logsetup.setup("standby", tui=False)
    logging.getLogger().setLevel(logging.INFO)
    if not any(isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) is sys.stderr
               for h in logging.getLogger().handlers):
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter(logsetup.FORMAT))
        h.setLevel(logging.INFO)
        logging.getLogger().addHandler(h)

    from ..node.standby import StandbyError, run_standby

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        node = run_standby(args.db, on_leader=lambda n: log.warning(
            "leader now: epoch %d, journal seq %d; serving headless", n.leader_epoch, n.engine.seq),
            stop=stop, poll_s=args.poll_ms / 1000, lease_every_s=args.lease_ms / 1000)
    except StandbyError as e:
        print(str(e), file=sys.stderr)
        return 2
    if node is None:
        log.info("standby stopped before taking over")
        return 0
    try:
        while not stop.wait(args.status_every):
            st = node.status()
            log.info("leader epoch %s: seq %s, fenced %s, failed %s", st["leader_epoch"], st.get("seq"),
                     st["fenced"], st["failed"])
            if st["fenced"]:
                log.critical("this node was deposed (fenced): stopping")
                return 1
    finally:
        node.close()
    log.info("stopped; the database is closed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
