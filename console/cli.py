"""The ``perpdesk`` command line: the console by default, plus replay/verify/demo."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="perpdesk", description="Operator console for a perpetual-futures venue.")
    sub = p.add_subparsers(dest="command")
    r = sub.add_parser("replay", help="apply a JSONL command file to a fresh engine")
    r.add_argument("commands", help="JSONL file of commands")
    r.add_argument("--events-out", help="write the events as JSONL here")
    r.add_argument("--state-out", help="write the canonical state as JSON here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "replay":
        from engine.replay import run

        return run(args.commands, args.events_out, args.state_out)
    print("perpdesk: the console is not built yet; try `perpdesk replay --help`", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
