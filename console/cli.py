"""The ``perpdesk`` command line: the console by default, plus replay/verify/refunds export."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="perpdesk", description="Operator console for a perpetual-futures venue.")
    p.add_argument("--seed", type=int, default=7, help="simulated market seed (default 7)")
    p.add_argument("--accounts", type=int, default=200, help="simulated accounts (default 200)")
    p.add_argument("--db", default=None, help="database URL or path (default: the platformdirs data directory)")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="TOML config: price feeds and alert sinks (default: PERPDESK_CONFIG, else config.toml "
                        "in the platformdirs config directory; none: simulated market, no alerts)")
    sub = p.add_subparsers(dest="command")
    r = sub.add_parser("replay", help="apply a JSONL command file to a fresh engine")
    r.add_argument("commands", help="JSONL file of commands")
    r.add_argument("--events-out", help="write the events as JSONL here")
    r.add_argument("--state-out", help="write the canonical state as JSON here")
    v = sub.add_parser("verify", help="check a database: hash chains, full replay, snapshots, invariants")
    v.add_argument("--db", dest="verify_db", default=None, help="database URL or path (default: PERPDESK_DB or the data directory)")
    rf = sub.add_parser("refunds", help="refunds: export them as CSV")
    rsub = rf.add_subparsers(dest="refunds_command", required=True)
    ex = rsub.add_parser("export", help="write every refund (with its inputs) as CSV")
    ex.add_argument("--db", dest="refunds_db", default=None,
                    help="database URL or path (default: PERPDESK_DB or the data directory)")
    ex.add_argument("--out", default=None, help="CSV file to write (default: standard output)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "replay":
        from engine.replay import run

        return run(args.commands, args.events_out, args.state_out)
    if args.command == "verify":
        from engine.verify import run as verify_run

        return verify_run(args.verify_db or args.db)
    if args.command == "refunds":
        from engine.refunds import run_export

        return run_export(args.refunds_db or args.db, args.out)
    from console.app_main import run_console

    return run_console(args)


if __name__ == "__main__":
    sys.exit(main())
