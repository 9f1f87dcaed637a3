"""``perpdesk`` with no subcommand: the console on the embedded node with a live simulated market."""

from __future__ import annotations


def run_console(args) -> int:
    from .factory import make_app

    app = make_app(seed=args.seed, frozen=False, accounts=args.accounts, db=args.db)
    app.run()
    return app.return_code or 0
