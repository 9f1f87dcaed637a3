"""The timeline's operator actions: what the venue's people do at the desk, through the node.

Each ``_do_ACTION(entry)`` of :class:`OperatorActions` performs one timeline action and returns the
detail lines to show under it (a refusal says so; it is never a traceback). ``ScenarioRun`` (in
:mod:`engine.sim.runner`) mixes these in; the faults and market moves are in :mod:`engine.sim.faults`.
Operator commands go as the on-call operator (``oncall``); maker-checker steps (release, rollback,
refund decisions and payments) as a second person (``risk-lead``).
"""

from __future__ import annotations

from collections import Counter

from ..core.fixedpoint import fmt_amount
from ..node.node import NodeError
from ..node.roles import Actor
from .scenario import Scenario, parse_duration

ONCALL = Actor("oncall", "admin")
APPROVER = Actor("risk-lead", "approver")

#: timeline actions a person performs at the desk: with ``ScenarioRun(operator=fn)`` the runner hands them to
#: ``fn(ts, entry)`` (the console's demo drives its screens) instead of performing them itself
OPERATOR_ACTIONS = ("emergency_brake", "release_brake", "rollback", "set_market_mode", "take_snapshot",
                    "compute_refunds", "approve_refunds", "pay_refunds")
#: every operator command (engine/core/commands.py OPERATOR_COMMANDS) -> the timeline action that sends it
COMMAND_ACTIONS = {
    "set_market_mode": "set_market_mode", "set_platform_access": "set_platform_access",
    "emergency_brake": "emergency_brake", "release_brake": "release_brake",
    "pause_liquidations": "pause_liquidations", "resume_liquidations": "resume_liquidations",
    "pause_triggers": "pause_triggers", "resume_triggers": "resume_triggers", "take_snapshot": "take_snapshot",
    "rollback": "rollback", "schedule_maintenance": "schedule_maintenance", "credit": "pay_refunds",
    "fund_insurance": "fund_insurance", "set_safeguards": "set_safeguards", "set_market_params": "set_market_params",
    "accept_oracle_price": "accept_oracle_price", "cancel_maintenance": "cancel_maintenance",
    "reschedule_maintenance": "reschedule_maintenance", "extend_maintenance": "extend_maintenance",
    "set_withdrawals": "set_withdrawals", "set_account_mode": "set_account_mode",
    "cancel_account_orders": "cancel_account_orders",
}
#: operator commands no timeline entry sends, and why
NOT_IN_TIMELINE = {"create_market": "the venue's markets are the file's [[sim.markets]] (created at setup)"}
#: the node's public actions (Node methods beyond submitting commands) -> the timeline action that uses them
NODE_ACTIONS = {
    "compute_refunds": "compute_refunds", "reference_refunds": "compute_refunds", "propose_refunds": "compute_refunds",
    "decide_refund": "approve_refunds", "pay_refund": "pay_refunds", "recover": "recover",
}


def markets_of(sc: Scenario, v) -> list[str]:
    """The markets an entry's ``markets`` names (``"all"``: every market of the scenario)."""
    names = [m.market for m in sc.sim.markets]
    return names if v == "all" else list(v)


class OperatorActions:
    """The operator's timeline actions, mixed into ScenarioRun (which provides ``_op``, ``node``, ``sc``...)."""

    def _result_text(self, res) -> str:
        return "ok" if res.ok else f"refused: {res.code}: {res.message}"

    def _do_note(self, e) -> list[str]:
        return []

    def _do_schedule_maintenance(self, e) -> list[str]:
        res = self._op({"type": "schedule_maintenance", "window_id": e.window_id,
                        "markets": markets_of(self.sc, e.markets), "start_ts": self.start + self.sc.offset(e.start),
                        "duration_ms": parse_duration(e.duration),
                        "kind": e.kind}, tag=e.id)
        return [] if res.ok else [self._result_text(res)]

    def _do_emergency_brake(self, e) -> list[str]:
        res = self._op({"type": "emergency_brake", "reason": e.reason}, tag=e.id)
        return [] if res.ok else [self._result_text(res)]

    def _do_release_brake(self, e) -> list[str]:
        cmd = {"type": "release_brake", "reason": e.reason}
        if e.override:
            cmd["override"] = True
        res = self._op(cmd, actor=APPROVER, tag=e.id)
        return [] if res.ok else [self._result_text(res)]

    def _do_set_market_mode(self, e) -> list[str]:
        out = []
        for m in markets_of(self.sc, e.markets):
            assert self.node is not None
            if self.node.engine.markets[m].mode == e.mode:
                continue
            res = self._op({"type": "set_market_mode", "market": m, "mode": e.mode, "reason": e.reason}, tag=e.id)
            if not res.ok:
                out.append(f"{m}: {self._result_text(res)}")
        return out

    def _do_set_platform_access(self, e) -> list[str]:
        res = self._op({"type": "set_platform_access", "enabled": e.enabled, "reason": e.reason}, tag=e.id)
        return [] if res.ok else [self._result_text(res)]

    def _do_pause_liquidations(self, e) -> list[str]:
        res = self._op({"type": e.action, "market": e.market, "reason": e.reason}, tag=e.id)
        return [] if res.ok else [self._result_text(res)]

    _do_resume_liquidations = _do_pause_triggers = _do_resume_triggers = _do_pause_liquidations

    def _do_take_snapshot(self, e) -> list[str]:
        label = e.label or (e.id or "scenario")  # the command the console's snapshot action sends
        res = self._op({"type": "take_snapshot", "label": label, "reason": label}, tag=e.id)
        if res.ok and e.id:
            self._snap_ids[e.id] = next(ev["snapshot_id"] for ev in res.events if ev["type"] == "snapshot_taken")
        return [] if res.ok else [self._result_text(res)]

    def record(self, entry, seqs: list[int] = (), snapshot_id: str | None = None) -> None:
        """The driver performed ``entry`` itself (``operator=``): keep what later entries refer to."""
        if entry.id:
            self._seqs.setdefault(entry.id, []).extend(seqs)
            if snapshot_id is not None:
                self._snap_ids[entry.id] = snapshot_id

    def bad_seqs(self, refs: list[str]) -> list[int]:
        """The seqs the timeline entries ``refs`` sent (a refund computation's bad inputs)."""
        return sorted({s for ref in refs for s in self._seqs.get(ref, [])})

    def snapshot_ref(self, ref: str) -> str | None:
        """The snapshot id a timeline entry's ``snapshot`` names (an entry id, ``maintenance``, ``label:X``)."""
        return self._snapshot_ref(ref)

    def _snapshot_ref(self, ref: str) -> str | None:
        assert self.node is not None
        snaps = self.node.snapshots()
        if ref in self._snap_ids:
            return self._snap_ids[ref]
        if ref == "maintenance":
            found = [s for s in snaps if s["trigger"] == "maintenance"]
            return found[-1]["snapshot_id"] if found else None
        if ref.startswith("label:"):
            found = [s for s in snaps if s["label"] == ref[6:]]
            return found[-1]["snapshot_id"] if found else None
        return ref if any(s["snapshot_id"] == ref for s in snaps) else None

    def _do_rollback(self, e) -> list[str]:
        sid = self._snapshot_ref(e.snapshot)
        if sid is None:
            return [f"no snapshot matches {e.snapshot!r}"]
        res = self._op({"type": "rollback", "snapshot_id": sid, "reason": e.reason}, actor=APPROVER, tag=e.id)
        return [f"to {sid}"] if res.ok else [self._result_text(res)]

    def _do_compute_refunds(self, e) -> list[str]:
        node = self.node
        assert node is not None
        self.refunds["method"] = e.method
        if e.method == "counterfactual":
            sid = self._snapshot_ref(e.snapshot or "maintenance")
            if sid is None:
                return [f"no snapshot matches {e.snapshot!r}"]
            bad = sorted({s for ref in e.bad for s in self._seqs.get(ref, [])})
            report = node.compute_refunds(sid, node.engine.seq, bad)
        else:
            seqs = self._seqs.get(e.since or "", [])
            from_seq = min(seqs) - 1 if seqs else 0
            upto = self._seqs.get(e.upto or "", [])
            to_seq = max(upto) if upto else node.engine.seq
            ref_ts = self.start + self.sc.offset(e.reference) if e.reference is not None else self.clock.now
            report = node.reference_refunds(from_seq, to_seq, ref_ts, e.market)
        proposals = node.propose_refunds(report, e.reason, actor=ONCALL) if report.get("proposals") else []
        self._proposals += [p["refund_id"] for p in proposals]
        self.refunds["proposed_count"] += len(proposals)
        self.refunds["proposed_total"] += sum(p["amount"] for p in proposals)
        return [f"{len(proposals)} refunds proposed, {fmt_amount(sum(p['amount'] for p in proposals))} USDC "
                f"({report.get('method', e.method)})"]

    def _do_approve_refunds(self, e) -> list[str]:
        node = self.node
        assert node is not None
        n = 0
        refused: Counter = Counter()
        for rid in self._proposals:
            if rid in self._approved or rid in self._rejected:
                continue
            try:
                rec = node.decide_refund(rid, True, e.reason, actor=APPROVER, fund=e.fund)
            except NodeError as err:  # e.g. the insurance fund cannot cover it: say so, go on with the rest
                refused[f"{err.code}: {err.message}" if err.code != "insufficient_fund" else err.code] += 1
                continue
            if rec["status"] == "approved":
                self._approved.append(rid)
                n += 1
        self.refunds["approved_count"] += n
        return [f"{n} refunds approved by {APPROVER.name}, paid from the {e.fund} fund"] + [
            f"refused: {why} x{k}" for why, k in sorted(refused.items())]

    def _do_reject_refunds(self, e) -> list[str]:
        node = self.node
        assert node is not None
        n = 0
        for rid in self._proposals:
            if rid in self._approved or rid in self._rejected:
                continue
            rec = node.decide_refund(rid, False, e.reason, actor=APPROVER)
            if rec["status"] == "rejected":
                self._rejected.append(rid)
                n += 1
        return [f"{n} refunds rejected by {APPROVER.name}"]

    def _simple(self, cmd: dict, e) -> list[str]:
        res = self._op(cmd, tag=e.id)
        return [] if res.ok else [self._result_text(res)]

    def _do_set_withdrawals(self, e) -> list[str]:
        return self._simple({"type": "set_withdrawals", "enabled": e.enabled, "reason": e.reason}, e)

    def _do_set_account_mode(self, e) -> list[str]:
        return self._simple({"type": "set_account_mode", "account": e.account, "mode": e.mode, "reason": e.reason}, e)

    def _do_cancel_account_orders(self, e) -> list[str]:
        cmd = {"type": "cancel_account_orders", "account": e.account, "reason": e.reason}
        if e.market is not None:
            cmd["market"] = e.market
        return self._simple(cmd, e)

    def _do_cancel_maintenance(self, e) -> list[str]:
        return self._simple({"type": "cancel_maintenance", "window_id": e.window_id, "reason": e.reason}, e)

    def _do_reschedule_maintenance(self, e) -> list[str]:
        return self._simple({"type": "reschedule_maintenance", "window_id": e.window_id,
                             "start_ts": self.start + self.sc.offset(e.start), "reason": e.reason}, e)

    def _do_extend_maintenance(self, e) -> list[str]:
        return self._simple({"type": "extend_maintenance", "window_id": e.window_id,
                             "duration_ms": parse_duration(e.duration), "reason": e.reason}, e)

    def _do_accept_oracle_price(self, e) -> list[str]:
        return self._simple({"type": "accept_oracle_price", "market": e.market, "price": e.price,
                             "reason": e.reason}, e)

    def _do_set_market_params(self, e) -> list[str]:
        return self._simple({"type": "set_market_params", "market": e.market, **e.params(), "reason": e.reason}, e)

    def _do_set_safeguards(self, e) -> list[str]:
        return self._simple({"type": "set_safeguards", "enabled": e.enabled, "reason": e.reason}, e)

    def _do_fund_insurance(self, e) -> list[str]:
        return self._simple({"type": "fund_insurance", "amount": e.amount, "reason": e.reason}, e)

    def _do_pay_refunds(self, e) -> list[str]:
        node = self.node
        assert node is not None
        out = []
        paid = 0
        for rid in list(self._approved):
            res = node.pay_refund(rid, fund=e.fund, actor=APPROVER)
            if res.ok:
                paid += 1
                self._approved.remove(rid)
            else:
                out.append(f"{rid}: {self._result_text(res)}")
        return [f"{paid} refunds paid" + (f" from the {e.fund} fund" if e.fund else " (each from its approved fund)")
                ] + out[:5]

