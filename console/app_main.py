"""Entry point of the live console (``perpdesk`` with no subcommand)."""

from __future__ import annotations

import os
import sys


def run_console(args) -> int:
    from engine.api.client import read_token
    from engine.api.errors import GatewayError
    from engine.settings.config import ConfigError, load_config

    from .factory import make_app
    from .sandbox import VenueError

    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as e:
        print(f"perpdesk: bad config: {e}", file=sys.stderr)
        return 2
    url = getattr(args, "venue", None) or os.environ.get("PERPDESK_VENUE") or None
    token = os.environ.get("PERPDESK_TOKEN") or None
    token_file = getattr(args, "token_file", None)
    if token_file:
        try:
            token = read_token(token_file)
        except OSError as e:
            print(f"perpdesk: cannot read the token file: {e}", file=sys.stderr)
            return 2
    if url and not token:
        print("perpdesk: attaching to a venue needs a token: PERPDESK_TOKEN or --token-file "
              "(perpdesk operators add NAME --role ROLE prints one)", file=sys.stderr)
        return 2
    from engine.settings.logsetup import setup

    setup("console", tui=True, secrets=(*config.secrets(), *((token,) if token else ())))
    in_process = os.environ.get("PERPDESK_IN_PROCESS") == "1"
    try:
        app = make_app(seed=args.seed, frozen=False, accounts=args.accounts, db=args.db, config=config,
                       venue_url=url, token=token, config_path=getattr(args, "config", None),
                       in_process=in_process or None)
    except VenueError as e:
        print(f"perpdesk: cannot start or reach the venue: {e}", file=sys.stderr)
        return 2
    except GatewayError as e:
        print(f"perpdesk: the venue refused: {e.message} ({e.code})", file=sys.stderr)
        return 2
    except Exception as e:  # an in-process desk's StoreError, RecoveryError and the like: never a traceback
        if type(e).__name__ == "LeaseHeldError":
            print(f"perpdesk: the venue's database is in use: {e}", file=sys.stderr)
        elif type(e).__module__.startswith("engine.store"):
            print(f"perpdesk: cannot start or reach the venue: {e}", file=sys.stderr)
        else:
            print(f"perpdesk: cannot open the venue: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    try:
        app.run()
    finally:
        if app.venue is not None:
            app.venue.close()  # detach; the venue keeps running (a sandbox stops after its last console)
        elif app.node is not None:
            if app.desk is not None:
                app.desk.stop_services()
            app.node.close()
    return app.return_code or 0
