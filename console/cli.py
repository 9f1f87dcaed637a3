"""The ``perpdesk`` command line: the console by default, plus replay/verify/refunds export."""

from __future__ import annotations

import argparse
import sys


def _progress_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show progress (done, rate, time left) on stderr; default: only when stderr is a terminal")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="perpdesk", description="Operator console for a perpetual-futures venue.")
    p.add_argument("--seed", type=int, default=7, help="simulated market seed (default 7)")
    p.add_argument("--accounts", type=int, default=200, help="simulated accounts (default 200)")
    p.add_argument("--db", default=None, help="database URL or path (default: the platformdirs data directory)")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="TOML config: price feeds and alert sinks (default: PERPDESK_CONFIG, else config.toml "
                        "in the platformdirs config directory; none: simulated market, no alerts)")
    p.add_argument("--venue", default=None, metavar="URL",
                   help="attach to a running venue (http(s)://host:port or unix:/path; default: PERPDESK_VENUE, "
                        "else the local sandbox venue)")
    p.add_argument("--token-file", default=None, help="the operator's token (default: PERPDESK_TOKEN)")
    sub = p.add_subparsers(dest="command")
    from engine.venue.server import add_arguments as venue_arguments

    venue_arguments(sub.add_parser("venue", help="run the venue as a service: node, market, feeds, alerts, HTTP API"))
    r = sub.add_parser("replay", help="apply a JSONL command file to a fresh engine")
    r.add_argument("commands", help="JSONL file of commands")
    r.add_argument("--events-out", help="write the events as JSONL here")
    r.add_argument("--state-out", help="write the canonical state as JSON here")
    _progress_flag(r)
    v = sub.add_parser("verify", help="check a database: hash chains, full replay, snapshots, invariants")
    v.add_argument("--db", dest="verify_db", default=None, help="database URL or path (default: PERPDESK_DB or the data directory)")
    _progress_flag(v)
    d = sub.add_parser("demo", help="play a scenario: a shipped name (calm, paradex-2026-01, dydx-2025-10, "
                                    "cme-2025-11) or a TOML file")
    d.add_argument("scenario", help="scenario name or path to a .toml file")
    d.add_argument("--speed", type=float, default=0.0, help="times real time (default 0: as fast as possible)")
    d.add_argument("--seed", dest="demo_seed", type=int, default=None, help="override the scenario's seed")
    d.add_argument("--accounts", dest="demo_accounts", type=int, default=None,
                   help="override the scenario's number of accounts")
    d.add_argument("--safeguards", dest="safeguards", action=argparse.BooleanOptionalAction, default=None,
                   help="run with perpdesk's guard rails on or off (default: as the real venue ran, the "
                        "scenario's [scenario] safeguards)")
    d.add_argument("--no-compare", dest="compare", action="store_false",
                   help="skip the second run (the other guard-rail setting, same seed) shown side by side")
    d.add_argument("--headless", action="store_true", help="no terminal UI: print the timeline and a summary")
    d.add_argument("--report", default=None, help="write the report as JSON to this file")
    _progress_flag(d)
    rf = sub.add_parser("refunds", help="refunds: export them as CSV")
    rsub = rf.add_subparsers(dest="refunds_command", required=True)
    ex = rsub.add_parser("export", help="write every refund (with its inputs) as CSV")
    ex.add_argument("--db", dest="refunds_db", default=None,
                    help="database URL or path (default: PERPDESK_DB or the data directory)")
    ex.add_argument("--out", default=None, help="CSV file to write (default: standard output)")
    op = sub.add_parser("operators", help="operators: add (prints a token once), list, revoke")
    osub = op.add_subparsers(dest="operators_command", required=True)
    oa = osub.add_parser("add", help="register an operator and print its token (shown only once)")
    oa.add_argument("name", help="operator name (a-z 0-9 . _ -, case-insensitive)")
    oa.add_argument("--role", required=True, choices=("viewer", "operator", "approver", "admin"))
    ol = osub.add_parser("list", help="every operator: name, role, created, last seen, revoked")
    orv = osub.add_parser("revoke", help="revoke an operator's token at once")
    orv.add_argument("name", help="operator name")
    for q in (oa, ol, orv):
        q.add_argument("--db", dest="operators_db", default=None,
                       help="database URL or path (default: PERPDESK_DB or the data directory)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("replay", "verify", "refunds", "operators"):  # the tools: a log file, warnings on stderr
        from engine.settings.logsetup import setup

        setup("refunds-export" if args.command == "refunds" else args.command, tui=False)
    if args.command == "venue":
        from engine.venue.server import run as run_venue

        return run_venue(args)
    if args.command == "replay":
        from engine.tools.replay import run

        return run(args.commands, args.events_out, args.state_out, progress=_progress(args))
    if args.command == "verify":
        from engine.tools.verify import run as verify_run

        return verify_run(args.verify_db or args.db, progress=_progress(args))
    if args.command == "demo":
        from console.demo import run_demo

        return run_demo(args)
    if args.command == "refunds":
        from engine.tools.refunds_export import run_export

        return run_export(args.refunds_db or args.db, args.out)
    if args.command == "operators":
        from engine.tools.operators import run as operators_run

        return operators_run(args.operators_command, args.operators_db or args.db, name=getattr(args, "name", None),
                             role=getattr(args, "role", None))
    from console.app_main import run_console

    return run_console(args)


def _progress(args):
    from engine.tools.progress import Progress

    return Progress(sys.stderr, args.progress)


if __name__ == "__main__":
    sys.exit(main())
