"""``perpdesk demo``: play a scenario headlessly (timeline + report) or open the console on it.

The runner is :class:`engine.sim.runner.ScenarioRun`; this module only paces it, prints it,
writes the report and, without ``--headless``, builds the console on the scenario's desk.
"""

from __future__ import annotations

import sys
import time

import orjson

from engine.sim.runner import ScenarioRun
from engine.sim.scenario import ScenarioError
from engine.tools.progress import Progress


def build_run(args) -> ScenarioRun:
    return ScenarioRun(args.scenario, seed=args.demo_seed, safeguards=not args.no_safeguards,
                       accounts=args.demo_accounts)


def play(run: ScenarioRun, speed: float = 0.0, out=None, progress: Progress | None = None) -> dict:
    """Run to the end, printing the timeline; ``speed`` > 0 paces it at that many times real time.
    ``progress`` (a terminal): the setup's commands and the steps done, rate and time left, on one
    line taken off the screen whenever a timeline line is printed."""
    out = out or sys.stdout
    prog = progress if progress is not None else Progress(enabled=False)
    t0 = time.monotonic()
    if prog.active and run.node is None and run.sim is None:
        prog.phase("demo: setup", None, "commands")

        def on_setup(done: int, total: int) -> None:
            prog.total = total
            prog.update(done)

        run.setup_progress = on_setup
    try:
        lines = run.setup()
        prog.clear()
        for line in lines:
            print(line, file=out)
        span = max(1, run.end - run.start)
        steps = 0
        prog.phase("demo: steps", -(-span // max(1, run.step_ms)), "steps")
        while not run.done:
            lines = run.step()
            steps += 1
            if lines:
                prog.clear()
                for line in lines:
                    print(line, file=out)
                out.flush()
            prog.update(steps, (run.now - run.start) / span)
            if speed > 0:
                ahead = (run.now - run.start) / 1000 / speed - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
    finally:
        run.setup_progress = None
        prog.close()
    return run.report()


def summary(rep: dict) -> str:
    liq = rep["liquidations"]
    lines = [
        "",
        f"== {rep['scenario']} (seed {rep['seed']}, {rep['accounts']:,} accounts, safeguards "
        f"{'on' if rep['safeguards']['requested'] else 'off'})",
        f"liquidations: {liq['total']} ({liq['unintended']} unintended"
        + ("".join(f", {k}: {v}" for k, v in liq["by_fault"].items())) + ")",
        "brake: " + (f"{rep['brake']['canceled_orders']} orders canceled, {rep['brake']['kept_tpsl']} TP/SL kept"
                     if rep["brake"] else "not engaged"),
        "rollback: " + (f"to {rep['rollback']['snapshot_id']}, {rep['rollback']['discarded_commands']} commands "
                        "discarded" if rep["rollback"] else "none"),
    ]
    rf = rep["refunds"]
    if rf["method"]:
        lines.append(f"refunds ({rf['method']}): " + (
            f"{rf['proposed_count']} proposed ({rf['proposed_total']} USDC), {rf['approved_count']} approved, "
            f"{rf['paid_count']} paid ({rf['paid_total']} USDC)"))
    if rep["recovery"]:
        r = rep["recovery"]
        lines.append(f"recovery: seq {r['recovered_seq']} of {r['acked_seq']} acknowledged, nothing lost: "
                     f"{'yes' if r['nothing_lost'] else 'NO'}")
    if rep["safeguard_events"]:
        lines.append("safeguards: " + ", ".join(f"{k} x{v}" for k, v in rep["safeguard_events"].items()))
    lines.append(f"invariants: {'ok' if rep['invariants_ok'] else 'FAILED: ' + ', '.join(rep['failed_checks'])}")
    lines.append(f"state hash: {rep['state_hash']}")
    for c in rep["expectations"]["checks"]:
        mark = {True: "ok  ", False: "FAIL", None: "n/a "}[c["ok"]]
        lines.append(f"  [{mark}] {c['name']}: expected {c['expected']}, got {c['actual']}")
    lines.append("expectations: " + ("met" if rep["expectations"]["ok"] else "NOT MET"))
    return "\n".join(lines)


def write_report(rep: dict, path: str) -> None:
    with open(path, "wb") as f:
        f.write(orjson.dumps(rep, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n")


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
            print(summary(rep))
            if args.report:
                write_report(rep, args.report)
            return 0 if rep["expectations"]["ok"] else 1
        return _console(run, args)
    except ScenarioError as e:
        print(f"perpdesk demo: {e}", file=sys.stderr)
        return 2
    finally:
        run.close()


def _console(run: ScenarioRun, args) -> int:
    """The console on the scenario's desk, the scenario playing live in it (console.demo_desk)."""
    run.setup()
    app = demo_app(run, speed=args.speed or 30.0)
    app.run()
    rep = app.director.report
    if rep is not None:
        print(summary(rep))
        if args.report:
            write_report(rep, args.report)
    else:
        print(f"perpdesk demo: left at engine time +{(run.now - run.start) // 1000}s, before the end; no report")
    return app.return_code or 0


def demo_app(run: ScenarioRun, feed=None, *, speed: float = 30.0, beat: float = 1.2, autoplay: bool = True):
    """The console on the scenario's node with the scenario playing in it (``autoplay`` False: the
    caller steps ``app.director`` itself)."""
    from engine.venue.desk import Desk
    from engine.venue.feed import Feed
    from engine.venue.gateway import Gateway

    from .demo_desk import DemoApp

    run.setup()
    node = run.node
    assert node is not None
    if feed is None:
        feed = Feed(run.clock)
        run.subscribe(feed)
    desk = Desk(node, Gateway(node), feed, run.sim, run.clock, live=False)
    return DemoApp(run, gateway=desk.gateway, feed=feed, desk=desk, speed=speed, beat=beat, autoplay=autoplay)
