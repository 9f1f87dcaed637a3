"""``perpdesk demo``: play a scenario headlessly (timeline + report) or open the console on it.

The runner is :class:`engine.sim.runner.ScenarioRun`; this module only paces it, prints it,
writes the report and, without ``--headless``, builds the console on the scenario's desk.
"""

from __future__ import annotations

import sys
import time
from decimal import Decimal

import orjson

from engine.sim.runner import ScenarioRun, fmt_duration
from engine.tools.progress import Progress


def build_run(args) -> ScenarioRun:
    return ScenarioRun(args.scenario, seed=args.demo_seed, safeguards=getattr(args, "safeguards", None),
                       accounts=args.demo_accounts)


def counterpart(run: ScenarioRun) -> ScenarioRun:
    """The same scenario, seed and accounts with the other guard-rail setting (headless, in process)."""
    return ScenarioRun(run.sc, seed=run.seed, accounts=run.accounts, safeguards=not run.safeguards, home=run.home)


def compare(run: ScenarioRun, rep: dict, progress: Progress | None = None) -> dict:
    """Run the counterpart to the end and attach both sides to ``rep`` (``rep["compare"]``).

    The second run is headless and in process; ``compare.seconds`` is how long it took (wall time, so it
    is left out of ``compare.deterministic`` figures the tests check)."""
    other = counterpart(run)
    t0 = time.monotonic()
    try:
        orep = play(other, out=_Null(), progress=progress)
    finally:
        other.close()
    seconds = time.monotonic() - t0
    on, off = (rep, orep) if run.safeguards else (orep, rep)
    rep["compare"] = {
        "as_happened": "safeguards_on" if run.sc.scenario.safeguards else "safeguards_off",
        "safeguards_off": off["impact"], "safeguards_on": on["impact"],
        "other": {k: orep[k] for k in ("safeguards", "liquidations", "brake", "rollback", "refunds", "recovery",
                                        "invariants_ok", "state_hash", "journal_sha256", "expectations")},
        "seconds": round(seconds, 1),
    }
    return rep


class _Null:
    def write(self, _s: str) -> int:
        return 0

    def flush(self) -> None:
        pass


COMPARE_ROWS = (
    ("liquidations", "liquidations", "n"), ("accounts liquidated", "accounts_liquidated", "n"),
    ("liquidated notional", "liquidated_notional", "usdc"), ("bad debt (insurance fund)", "bad_debt", "usdc"),
    ("auto-deleverages", "deleverages", "n"), ("socialized loss", "socialized_loss", "usdc"),
    ("refunds proposed", "refunds_proposed", "n"), ("refunds proposed (USDC)", "refunds_proposed_total", "usdc"),
    ("refunds paid", "refunds_paid", "n"), ("refunds paid (USDC)", "refunds_paid_total", "usdc"),
    ("venue down (brake, node down)", "downtime_ms", "ms"), ("markets restricted", "restricted_ms", "ms"),
    ("rollbacks", "rollbacks", "n"), ("operator steps not needed", "operator_steps_skipped", "n"),
)


def _cell(v, kind: str) -> str:
    if kind == "usdc":
        return f"{Decimal(v):,.2f}"
    if kind == "ms":
        return fmt_duration(int(v))
    return f"{int(v):,}"


def comparison_table(rep: dict) -> str:
    """The two runs side by side: as it happened, and with perpdesk's guard rails (or the other way)."""
    cmp = rep.get("compare")
    if not cmp:
        return ""
    happened = cmp["as_happened"]
    cols = [("safeguards_off", "guard rails off"), ("safeguards_on", "guard rails on")]
    heads = [f"{label}{' (as it happened)' if key == happened else ''}" for key, label in cols]
    w0 = max(len(r[0]) for r in COMPARE_ROWS)
    ws = [max(len(h), 14) for h in heads]
    out = [f"{'':<{w0}}   " + "   ".join(f"{h:>{w}}" for h, w in zip(heads, ws, strict=True))]
    for label, key, kind in COMPARE_ROWS:
        cells = [_cell(cmp[c][key], kind) for c, _ in cols]
        out.append(f"{label:<{w0}}   " + "   ".join(f"{c:>{w}}" for c, w in zip(cells, ws, strict=True)))
    out.append(f"(same seed {rep['seed']}, {rep['accounts']:,} accounts; the second run took {cmp['seconds']:.1f} s)")
    return "\n".join(out)


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
        f"{'on' if rep['safeguards']['requested'] else 'off'}{', as it happened' if rep.get('as_happened') else ''})",
        f"liquidations: {liq['total']:,} ({liq['unintended']:,} unintended"
        + ("".join(f", {k}: {v:,}" for k, v in liq["by_fault"].items())) + ")",
        "brake: " + (f"{rep['brake']['canceled_orders']:,} orders canceled, {rep['brake']['kept_tpsl']:,} TP/SL kept"
                     if rep["brake"] else "not engaged"),
        "rollback: " + (f"to {rep['rollback']['snapshot_id']}, {rep['rollback']['discarded_commands']:,} commands "
                        "discarded" if rep["rollback"] else "none"),
    ]
    rf = rep["refunds"]
    if rf["method"]:
        lines.append(f"refunds ({rf['method']}): " + (
            f"{rf['proposed_count']:,} proposed ({_cell(rf['proposed_total'], 'usdc')} USDC), "
            f"{rf['approved_count']:,} approved, {rf['paid_count']:,} paid ({_cell(rf['paid_total'], 'usdc')} USDC)"))
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
    table = comparison_table(rep)
    if table:
        other = rep["compare"]["other"]
        lines += ["", f"== the same incident, {'with' if not rep['safeguards']['requested'] else 'without'} "
                      "perpdesk's guard rails", table,
                  "expectations of the other run: " + ("met" if other["expectations"]["ok"] else "NOT MET: " + ", ".join(
                      c["name"] for c in other["expectations"]["checks"] if c["ok"] is False))]
    return "\n".join(lines)


def all_met(rep: dict) -> bool:
    """The run's expectations, and the comparison run's when there is one."""
    cmp = rep.get("compare")
    return rep["expectations"]["ok"] and (cmp is None or cmp["other"]["expectations"]["ok"])


def write_report(rep: dict, path: str) -> None:
    with open(path, "wb") as f:
        f.write(orjson.dumps(rep, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n")
