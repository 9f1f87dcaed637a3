"""The run's report: what happened, what it cost (impact), the journal's digest, the expectations met.

``Reporting`` is mixed into ``ScenarioRun`` (:mod:`engine.sim.runner`); the expectation checks
themselves are in :mod:`engine.sim.checks`.
"""

from __future__ import annotations

import hashlib

import orjson

from ..core.checks import run_checks
from ..core.fixedpoint import fmt_amount
from ..core.snapshot import state_hash
from .checks import check

UNINTENDED_DEFINITION = ("a liquidation is unintended when it happens inside a fault's window as the scenario "
                         "file declares it (from the fault's `at` to its `until`)")


def count_unintended(liqs, windows) -> tuple[int, dict[str, int]]:
    """(liquidations inside any fault's window, per fault id): ``liqs`` (ts, event) pairs, ``windows``
    (fault id, start, until); a liquidation inside two windows counts once in the total."""
    by_fault = dict.fromkeys((fid for fid, _s, _u in windows), 0)
    unintended = 0
    for ts, _ev in liqs:
        hit = False
        for fid, s, u in windows:
            if s <= ts <= u:
                by_fault[fid] += 1
                hit = True
        unintended += hit
    return unintended, by_fault


class Reporting:
    """The report of a run, mixed into ScenarioRun (which provides the figures it reads)."""

    def report(self) -> dict:
        node = self.node
        eng = node.engine if node is not None else None
        failures = run_checks(eng) if eng is not None else []
        unintended, by_fault = count_unintended(self.liquidations, self._windows)
        rf = dict(self.refunds)
        rf["proposed_total"] = fmt_amount(rf["proposed_total"])
        rf["paid_total"] = fmt_amount(rf["paid_total"])
        rep = {
            "scenario": self.sc.scenario.name,
            "title": self.sc.scenario.title,
            "seed": self.seed,
            "accounts": self.accounts,
            "safeguards": {"requested": self.safeguards, "available": True,
                           "as_happened": self.sc.scenario.safeguards},
            "as_happened": self.as_happened,
            "start_ts": self.start,
            "end_ts": self.clock.now,
            "commands": eng.seq if eng is not None else None,
            "liquidations": {"total": len(self.liquidations), "unintended": unintended, "by_fault": by_fault,
                             "accounts": len({ev["account"] for _t, ev in self.liquidations}),
                             "definition": UNINTENDED_DEFINITION},
            "brake": self.brake,
            "rollback": self.rollback,
            "refunds": rf,
            "recovery": self.recovery,
            "maintenance": self.maintenance,
            "safeguard_events": dict(sorted(self.safeguard_events.items())),
            "invariants_ok": eng is not None and not failures,
            "failed_checks": sorted({f.check for f in failures}),
            "final_modes": {m: mk.mode for m, mk in eng.markets.items()} if eng is not None else {},
            "state_hash": state_hash(eng) if eng is not None else None,
            "journal_sha256": self.journal_digest(),
            "impact": self.impact(),
            "skipped": {"count": len(self.skipped), "entries": [dict(x) for x in self.skipped]},
            "not_available": [],  # always empty: every step is available (kept so the report's format holds)
        }
        rep["expectations"] = self.check_expectations(rep)
        return rep

    def impact(self) -> dict:
        """What the incident cost, the figures the demo compares side by side (money as USDC strings)."""
        f = self.figures
        return {
            "liquidations": len(self.liquidations),
            "accounts_liquidated": len({ev["account"] for _t, ev in self.liquidations}),
            "liquidated_notional": fmt_amount(f["liquidated_notional"]),
            "bad_debt": fmt_amount(f["bad_debt"]),
            "deleverages": f["deleverages"],
            "socialized_loss": fmt_amount(f["socialized_loss"]),
            "refunds_proposed": self.refunds["proposed_count"],
            "refunds_proposed_total": fmt_amount(self.refunds["proposed_total"]),
            "refunds_paid": self.refunds["paid_count"],
            "refunds_paid_total": fmt_amount(self.refunds["paid_total"]),
            "downtime_ms": f["downtime_ms"],
            "restricted_ms": f["restricted_ms"],
            "rollbacks": f["rollbacks"],
            "operator_steps_skipped": len(self.skipped),  # timeline entries whose `if` did not hold
        }

    def journal_digest(self) -> str | None:
        """SHA-256 of the journal (every command as applied, in order): same seed, same digest."""
        node = self.node
        if node is None:
            return None
        h = hashlib.sha256()
        if node.store is not None:
            for rec in node.store.iter_journal(after_seq=0):
                h.update(orjson.dumps({**rec.command, "seq": rec.seq}, option=orjson.OPT_SORT_KEYS) + b"\n")
        else:
            for c in node.journal:
                h.update(orjson.dumps(c, option=orjson.OPT_SORT_KEYS) + b"\n")
        return h.hexdigest()

    def check_expectations(self, rep: dict) -> dict:
        ex = self.sc.expect
        mode = ex.safeguards_on if self.safeguards else ex.safeguards_off
        checks = check(ex.always, rep, "always")
        checks += check(mode, rep, "safeguards_on" if self.safeguards else "safeguards_off")
        return {"ok": all(c["ok"] for c in checks), "checks": checks}



def fmt_duration(ms: int) -> str:
    s = ms // 1000
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"

