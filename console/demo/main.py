"""``perpdesk demo``'s entry: the headless play (:mod:`.play`) or the live console (:mod:`.live`)."""

from __future__ import annotations

import sys

from engine.sim.scenario import ScenarioError
from engine.tools.progress import Progress

from .play import all_met, build_run, compare, play, summary, write_report


def run_demo(args) -> int:
    from engine.settings.logsetup import setup

    setup("demo", tui=not args.headless)  # in the console: nothing logged to its terminal
    try:
        run = build_run(args)
    except ScenarioError as e:
        print(f"perpdesk demo: {e}", file=sys.stderr)
        return 2
    try:
        if args.headless:
            rep = play(run, args.speed, progress=Progress(sys.stderr, getattr(args, "progress", None)))
            if getattr(args, "compare", True):
                compare(run, rep, progress=Progress(sys.stderr, getattr(args, "progress", None)))
            print(summary(rep))
            if args.report:
                write_report(rep, args.report)
            return 0 if all_met(rep) else 1
        from .live import run_live

        return run_live(run, args)
    except ScenarioError as e:
        print(f"perpdesk demo: {e}", file=sys.stderr)
        return 2
    finally:
        run.close()
