"""The live demo: the console on the scenario's desk, the scenario playing in it (:mod:`.desk`)."""

from __future__ import annotations

import sys

from engine.sim.runner import ScenarioRun

from .play import compare, summary, write_report


def run_live(run: ScenarioRun, args) -> int:
    """The console on the scenario's desk, the scenario playing live in it (console.demo.desk)."""
    run.setup()
    app = demo_app(run, speed=args.speed or 30.0, compare_runs=getattr(args, "compare", True))
    app.run()
    rep = app.director.report
    if rep is not None:
        if getattr(args, "compare", True) and "compare" not in rep:
            app.director.wait_comparison()
            if "compare" not in rep:
                print("perpdesk demo: computing the other run for the comparison...", file=sys.stderr)
                compare(run, rep)
        print(summary(rep))
        if args.report:
            write_report(rep, args.report)
    else:
        print(f"perpdesk demo: left at engine time +{(run.now - run.start) // 1000}s, before the end; no report")
    return app.return_code or 0


def demo_app(run: ScenarioRun, feed=None, *, speed: float = 30.0, beat: float = 1.2, autoplay: bool = True,
             compare_runs: bool = False):
    """The console on the scenario's node with the scenario playing in it (``autoplay`` False: the
    caller steps ``app.director`` itself)."""
    from engine.venue.desk import Desk
    from engine.venue.feed import Feed
    from engine.venue.gateway import Gateway

    from .desk import DemoApp

    run.setup()
    node = run.node
    assert node is not None
    if feed is None:
        feed = Feed(run.clock)
        run.subscribe(feed)
    desk = Desk(node, Gateway(node), feed, run.sim, run.clock, live=False)
    return DemoApp(run, gateway=desk.gateway, feed=feed, desk=desk, speed=speed, beat=beat, autoplay=autoplay,
                   compare_runs=compare_runs)
