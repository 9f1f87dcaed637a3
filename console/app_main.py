"""Entry point of the live console (``perpdesk`` with no subcommand)."""

from __future__ import annotations

import sys


def run_console(args) -> int:
    from engine.node.node import RecoveryError
    from engine.settings.config import ConfigError, load_config
    from engine.store.store import StoreError

    from .factory import make_app
    from .remote import VenueError

    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as e:
        print(f"perpdesk: bad config: {e}", file=sys.stderr)
        return 2
    from engine.settings.logsetup import setup

    setup("console", tui=True, secrets=config.secrets())  # from here on nothing is logged to the terminal
    try:
        app = make_app(seed=args.seed, frozen=False, accounts=args.accounts, db=args.db, config=config)
    except (StoreError, RecoveryError, VenueError) as e:
        from engine.store.store import LeaseHeldError

        what = "the venue's database is in use" if isinstance(e, LeaseHeldError) else \
            "cannot open the venue's database"
        print(f"perpdesk: {what}: {e}", file=sys.stderr)
        return 2
    try:
        app.run()
    finally:
        if app.venue is not None:
            app.venue.stop()  # the market stops, the sequencer drains, the database closes
        else:
            app.node.close()
    return app.return_code or 0
