"""The refund desk: refunds proposed, decided (maker-checker) and paid, and refunds computed from the
journal (counterfactual replay, reference prices). A part of :class:`engine.node.node.Node` (it inherits
this class): the refund records are the persistence's (the store's, or memory's), the money moves through the node's
sequencer, every step is audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson

from ..analysis import counterfactual as cf_mod
from ..core import snapshot as snapshot_mod
from ..core.commands import FUNDS
from ..core.engine import Engine
from ..core.fixedpoint import DecimalError, fmt_amount, parse_decimal
from .errors import NodeError, is_store_error
from .roles import SYSTEM, Actor, same_operator

if TYPE_CHECKING:
    from .node import Result



class RefundDesk:
    """Refund methods of :class:`~engine.node.node.Node` (uses its store, engine, sequencer and audit)."""

    # ---- refunds (maker-checker) ------------------------------------------------
    def refunds(self) -> list[dict]:
        return self.persistence.list_refunds()

    def _get_refund(self, refund_id: str) -> dict:
        rec = self.persistence.get_refund(refund_id)
        if rec is None:
            raise NodeError("unknown_refund", f"there is no refund {refund_id!r}")
        return dict(rec)

    def _update_refund(self, refund_id: str, expect: str, **changes) -> dict:
        try:
            return self.persistence.update_refund(refund_id, expect_status=expect, **changes)
        except Exception as e:
            if not is_store_error(e):
                raise
            raise NodeError("refund_conflict", str(e)) from None

    def propose_refund(self, account: str, amount: str, reason: str, evidence: dict | None = None,
                       actor: Actor | None = None) -> dict:
        who = actor or self.actor
        self._require(who, "propose_refund")
        try:
            amt = parse_decimal(amount, 6, "amount")
        except DecimalError as e:
            raise NodeError(e.code, e.message) from None
        if amt <= 0:
            raise NodeError("non_positive", "a refund amount must be greater than zero")
        if not reason.strip():
            raise NodeError("missing_reason", "a refund needs a reason")
        with self._reading():
            if account not in self.engine.accounts:
                raise NodeError("unknown_account", f"there is no account {account!r}")
            existing = self.refunds()
            rid = f"r{len(existing) + 1:04d}"
            rec = {"refund_id": rid, "account": account, "amount": amt, "reason": reason,
                   "evidence": evidence or {}, "proposer": who.name, "status": "proposed",
                   "approver": None, "decision_reason": None, "paid_seq": None, "fund": None,
                   "created_ts": self.clock()}
            rec = self.persistence.create_refund(rec)
        self._audit(who, "propose_refund", {"refund_id": rid, "account": account, "amount": amount}, reason, "ok")
        return dict(rec)

    def decide_refund(self, refund_id: str, approve: bool, reason: str, actor: Actor | None = None,
                      fund: str | None = None) -> dict:
        """Approve or reject a proposed refund (maker-checker: never its proposer; a reason is required).

        Approval names the paying ``fund`` (default ``insurance``). The insurance fund must cover this
        refund on top of every approved refund not yet paid from it; the treasury is money from outside
        the venue and always covers (its credits count as money in for the conservation check).
        """
        who = actor or self.actor
        self._require(who, "decide_refund")
        rec = self._get_refund(refund_id)
        if rec["status"] != "proposed":
            raise NodeError("already_decided", f"refund {refund_id} is already {rec['status']}")
        if same_operator(rec["proposer"], who.name):  # by normalised name: "alice ", "Alice", "alice" are one
            self._audit(who, "decide_refund", {"refund_id": refund_id, "approve": approve}, reason,
                        "refused: the proposer may not decide")
            raise NodeError("self_approval", f"{who.name} proposed {refund_id} and may not approve or reject it")
        if not reason.strip():
            raise NodeError("missing_reason", "an approval or rejection needs a reason")
        changes: dict = {}
        if approve:
            fund = fund or "insurance"
            if fund not in FUNDS:
                raise NodeError("bad_fund", f"fund must be one of {', '.join(FUNDS)}, not {fund!r}")
            if fund == "insurance":
                committed = sum(r["amount"] for r in self.refunds()
                                if r["status"] == "approved" and (r.get("fund") or "insurance") == "insurance"
                                and r["refund_id"] != refund_id)
                with self._reading():
                    balance = self.engine.insurance_fund
                if balance < committed + rec["amount"]:
                    msg = (f"the insurance fund holds {fmt_amount(balance)} USDC; approved refunds not yet paid "
                           f"take {fmt_amount(committed)}, so it cannot also cover {fmt_amount(rec['amount'])} "
                           f"(approve it from the treasury, or fund the insurance fund first)")
                    self._audit(who, "decide_refund", {"refund_id": refund_id, "approve": approve, "fund": fund},
                                reason, f"refused: {msg}")
                    raise NodeError("insufficient_fund", msg)
            changes["fund"] = fund
        out = self._update_refund(refund_id, "proposed", status="approved" if approve else "rejected",
                                  approver=who.name, decision_reason=reason, decided_ts=self.clock(), **changes)
        self._audit(who, "decide_refund", {"refund_id": refund_id, "approve": approve, **changes}, reason,
                    out["status"])
        self._publish_node_event({"type": "refund_decided", "refund_id": refund_id, "status": out["status"],
                                  "account": out.get("account"), "amount": fmt_amount(out.get("amount") or 0),
                                  "proposer": out.get("proposer"), "approver": who.name, "reason": reason,
                                  "fund": changes.get("fund")})
        return out

    def pay_refund(self, refund_id: str, fund: str | None = None, actor: Actor | None = None) -> Result:
        """Pay an approved refund with one journaled ``credit`` (at most once per refund).

        ``fund`` defaults to the one named at approval; naming another is refused.
        """
        who = actor or self.actor
        self._require(who, "pay_refund")
        rec = self._get_refund(refund_id)
        if rec["status"] == "paid":
            raise NodeError("already_paid", f"refund {refund_id} was already paid at seq {rec.get('paid_seq')}")
        if rec["status"] != "approved":
            raise NodeError("not_approved", f"refund {refund_id} is {rec['status']}, not approved")
        approved_fund = rec.get("fund")
        fund = fund or approved_fund or "insurance"
        if approved_fund and fund != approved_fund:
            raise NodeError("fund_mismatch", f"refund {refund_id} was approved for payment from the {approved_fund} "
                                             f"fund, not the {fund}")
        # the desk sends the credit as SYSTEM on the payer's behalf, after _credit_refusal checks the record
        fut = self._submit({"type": "credit", "account": rec["account"], "amount": fmt_amount(rec["amount"]),
                            "refund_id": refund_id, "fund": fund, "reason": rec["reason"]}, SYSTEM, who)
        res = self._wait(fut, 60.0)
        if res.ok:
            self._refund_paid_hook(refund_id)  # tests crash here: the credit is journaled, the row not yet
            self._update_refund(refund_id, "approved", status="paid", paid_seq=res.seq, fund=fund,
                                paid_ts=self.clock())
        elif res.code == "already_paid":  # journaled before a crash: complete the record from the journal
            self._complete_paid_refunds()
        return res

    def _journal_ts(self, seq: int) -> int:
        from ..store.store import StoreError

        try:
            rec = self.persistence.get_journal(seq)
        except StoreError:
            rec = None
        return rec.ts if rec is not None and rec.ts is not None else self.clock()

    def _refund_paid_hook(self, refund_id: str) -> None:
        """Between a refund's journaled credit and its row update (a test overrides it to crash)."""

    def _complete_paid_refunds(self) -> list[str]:
        """Mark paid every approved refund whose ``credit`` (it carries ``refund_id``) the journal
        holds: a crash between the credit and the row update leaves the record to complete here
        (at every start, and when paying again is refused as already paid)."""
        if not self.durable:  # in memory a node never crashes between the two and keeps nothing across a restart
            return []
        from ..store.store import StoreError

        done: list[str] = []
        try:
            approved = self.persistence.list_refunds(status="approved")
        except StoreError:
            return done
        for r in approved:
            with self._lock:
                paid = self.engine.credits.get(r["refund_id"])
            if paid is None:
                continue
            try:
                self.persistence.update_refund(r["refund_id"], expect_status="approved", status="paid",
                                         paid_seq=paid["seq"], fund=paid.get("fund") or r.get("fund"),
                                         paid_ts=self._journal_ts(paid["seq"]))
            except StoreError:
                continue
            done.append(r["refund_id"])
        return done

    # ---- refunds: computed from the journal ------------------------------------------
    def compute_refunds(self, snapshot_id: str, to_seq: int, bad_seqs: list[int],
                        corrections: dict[int, dict] | None = None) -> dict:
        """Counterfactual refunds for the window (snapshot, ``to_seq``] without ``bad_seqs``
        (or with ``corrections``: seq -> corrected fields). Changes nothing; any role may compute.

        Returns ``{method, inputs, proposals: [{account, amount, evidence}], total, summary, ...}``
        (see ``engine/analysis/counterfactual.py`` for the formula and the evidence).
        """
        to_seq = _int_arg(to_seq, "to_seq")
        if not isinstance(bad_seqs, (list, tuple, set, frozenset)):
            raise NodeError("bad_value", "bad_seqs must be a list of journal seqs")
        bad = [_int_arg(b, "bad seq") for b in bad_seqs]
        if corrections is not None and not isinstance(corrections, dict):
            raise NodeError("bad_value", "corrections must map journal seqs to corrected fields")
        snap = self._snapshot_for_refunds(snapshot_id)
        rows = self._journal_rows(snap.seq, to_seq)
        try:
            return cf_mod.compute(snap, rows, to_seq, bad, corrections, resolve=self._snapshot_resolver(),
                                  expect_hash=self._known_hash(to_seq))
        except cf_mod.CounterfactualError as e:
            raise NodeError(e.code, e.message) from None

    def reference_refunds(self, from_seq: int, to_seq: int, reference_ts: int, market: str | None = None) -> dict:
        """Reference-price refunds (Binance, October 2025): per liquidation in (``from_seq``, ``to_seq``],
        (liquidation price - index price at ``reference_ts``) x size, in the account's favour only."""
        from_seq = _int_arg(from_seq, "from_seq")
        to_seq = _int_arg(to_seq, "to_seq")
        reference_ts = _int_arg(reference_ts, "reference_ts")
        snap = self._base_snapshot(from_seq)
        rows = self._journal_rows(snap.seq, None, until=(to_seq, reference_ts))
        with self._reading():
            head = self.engine.seq
        if rows and rows[-1][0]["seq"] >= head and to_seq <= head:
            # nothing journaled after reference_ts yet: a later oracle price stamped before it could still
            # change the reference, and a stored proposal must recompute to the same numbers
            raise NodeError("reference_in_future", f"the journal has not passed reference_ts {reference_ts} yet "
                                                   f"(its last row is stamped {rows[-1][0].get('ts')}); choose a "
                                                   f"time the venue has already passed")
        try:
            return cf_mod.reference_price(snap, rows, from_seq, to_seq, reference_ts, market,
                                          resolve=self._snapshot_resolver())
        except cf_mod.CounterfactualError as e:
            raise NodeError(e.code, e.message) from None

    def suspect_inputs(self, from_seq: int, to_seq: int) -> list[dict]:
        """Market-data rows in (``from_seq``, ``to_seq``] that look wrong: a zeroed or backwards funding
        index, a mark off the band around the index, an oracle price that jumps beyond the band.
        Each: ``{seq, ts, type, market, reasons, command}``. (Self-contained until engine/core/guards.py lands.)"""
        from_seq = _int_arg(from_seq, "from_seq")
        to_seq = _int_arg(to_seq, "to_seq")
        if to_seq <= from_seq:
            return []
        snap = self._base_snapshot(from_seq)
        rows = self._journal_rows(snap.seq, to_seq)
        try:
            return cf_mod.suspects(snap, rows, from_seq, to_seq, resolve=self._snapshot_resolver())
        except cf_mod.CounterfactualError as e:
            raise NodeError(e.code, e.message) from None

    def propose_refunds(self, report: dict, reason: str, actor: Actor | None = None) -> list[dict]:
        """Store one proposal per account of a computed ``report`` (status ``proposed``).

        The report is recomputed from its inputs first and refused if its amounts differ, so what is
        proposed is always what the journal says; the same inputs cannot be proposed twice while an
        earlier proposal from them stands (reject it first).
        """
        who = actor or self.actor
        self._require(who, "propose_refund")
        if not isinstance(reason, str) or not reason.strip():
            raise NodeError("missing_reason", "a refund needs a reason")
        if not isinstance(report, dict) or not isinstance(report.get("inputs"), dict):
            raise NodeError("bad_report", "that is not a computed refund report (it has no inputs)")
        method, inputs = report.get("method"), report["inputs"]
        fresh = self._recompute(method, inputs)
        claimed = [(p.get("account"), p.get("amount")) for p in report.get("proposals", [])]
        if claimed != [(p["account"], p["amount"]) for p in fresh["proposals"]]:
            raise NodeError("report_mismatch", "the report's amounts differ from a recomputation from its inputs; "
                                               "compute it again")
        if not fresh["proposals"]:
            raise NodeError("nothing_to_propose", "the report proposes no refunds")
        digest = cf_mod.inputs_hash(method, inputs)
        standing = sorted(r["refund_id"] for r in self.refunds()
                          if r["status"] != "rejected" and (r.get("evidence") or {}).get("inputs_hash") == digest)
        if standing:
            raise NodeError("already_proposed", f"refunds from these inputs were already proposed "
                                                f"({', '.join(standing)}); reject them first to propose again")
        with self._reading():
            missing = [p["account"] for p in fresh["proposals"] if p["account"] not in self.engine.accounts]
        if missing:
            raise NodeError("unknown_account", f"no account {', '.join(missing)} exists now (rolled back?); "
                                               f"nothing proposed")
        out = []
        for p in fresh["proposals"]:
            evidence = orjson.loads(orjson.dumps({**p["evidence"], "inputs_hash": digest}))
            out.append(self.propose_refund(p["account"], fmt_amount(p["amount"]), reason, evidence, actor=who))
        return out

    def recompute_refund(self, refund_id: str) -> dict:
        """Recompute a computed refund from its stored inputs: same amount and evidence?"""
        rec = self._get_refund(refund_id)
        ev = rec.get("evidence") or {}
        method, inputs = ev.get("method"), ev.get("inputs")
        if method not in (cf_mod.METHOD, cf_mod.REFERENCE_METHOD) or not isinstance(inputs, dict):
            raise NodeError("not_computed", f"refund {refund_id} was entered by hand, not computed: "
                                            f"it has no inputs to recompute from")
        fresh = self._recompute(method, inputs)
        p = next((p for p in fresh["proposals"] if p["account"] == rec["account"]), None)
        amount = p["amount"] if p is not None else 0
        stored = {k: v for k, v in ev.items() if k != "inputs_hash"}
        same_evidence = p is not None and orjson.loads(orjson.dumps(p["evidence"])) == stored
        return {"refund_id": refund_id, "account": rec["account"], "method": method, "inputs": inputs,
                "stored_amount": rec["amount"], "recomputed_amount": amount,
                "inputs_match": fresh["inputs"] == inputs, "evidence_matches": same_evidence,
                "matches": amount == rec["amount"] and same_evidence and fresh["inputs"] == inputs}

    def export_refunds_csv(self, out) -> int:
        """Write every refund as CSV to ``out`` (a path or a text file); returns the rows written."""
        from .refunds_csv import write_csv

        return write_csv(self.refunds(), out)

    def _recompute(self, method, inputs: dict) -> dict:
        try:
            if method == cf_mod.METHOD:
                return self.compute_refunds(inputs["snapshot_id"], inputs["to_seq"], inputs["bad_seqs"],
                                            inputs.get("corrections") or None)
            if method == cf_mod.REFERENCE_METHOD:
                return self.reference_refunds(inputs["from_seq"], inputs["to_seq"], inputs["reference_ts"],
                                              inputs.get("market"))
        except KeyError as e:
            raise NodeError("bad_report", f"the inputs lack {e.args[0]!r}") from None
        raise NodeError("bad_report", f"unknown refund method {method!r}")

    def _snapshot_for_refunds(self, snapshot_id) -> snapshot_mod.Snapshot:
        if not isinstance(snapshot_id, str) or not snapshot_id:
            raise NodeError("unknown_snapshot", "choose a snapshot")
        if self.durable:  # (in memory none are stored: the engine's are all there are)
            from ..store.store import StoreError, StoreNotFoundError

            try:
                return self.persistence.load_snapshot(snapshot_id)
            except StoreNotFoundError:
                pass
            except StoreError as e:
                raise NodeError("bad_snapshot", str(e)) from None
        with self._reading():
            snap = self.engine.snapshots.get(snapshot_id)
        if snap is None:
            raise NodeError("unknown_snapshot", f"there is no snapshot {snapshot_id!r}")
        return snap

    def _base_snapshot(self, at_or_before: int) -> snapshot_mod.Snapshot:
        """The newest snapshot at or before a seq (the empty venue if there is none)."""
        best = None
        try:
            best = self.persistence.latest_snapshot(max_seq=at_or_before, skip_corrupt=True)
        except Exception as e:
            if not is_store_error(e):
                raise
            raise NodeError("bad_snapshot", str(e)) from None
        with self._reading():
            for s in self.engine.snapshots.values():
                if s.seq <= at_or_before and (best is None or s.seq > best.seq):
                    best = s
        if best is None:
            best = snapshot_mod.take(Engine(), "empty venue", "auto")  # seq 0: replay the whole journal
        return best

    def _snapshot_resolver(self) -> Callable:
        """What a replayed ``rollback`` row restores: the store's snapshot (the library of record), as on recovery."""
        if self.durable:  # in memory the engine's own snapshots are the library
            from ..store.store import StoreError

            def stored(sid: str):
                try:
                    return self.persistence.load_snapshot(sid)
                except StoreError:
                    return None
            return stored

        def in_memory(sid: str):
            with self._lock:
                return self.engine.snapshots.get(sid)
        return in_memory

    def _known_hash(self, seq: int) -> str | None:
        """The state hash the venue had right after ``seq``, when the node knows it."""
        with self._reading():
            if self.engine.seq == seq:
                return self.engine.state_hash()
            for s in self.engine.snapshots.values():
                if s.seq == seq:
                    return s.state_hash
        for i in self.persistence.list_snapshots():
            if i.seq == seq:
                return i.state_hash
        return None

    def _journal_rows(self, after_seq: int, upto_seq: int | None,
                      until: tuple[int, int] | None = None) -> list[tuple[dict, str | None]]:
        """Journal rows after ``after_seq`` as executed (rolled-back rows included), with their outcomes.

        ``until=(seq, ts)``: through ``seq`` and on while rows are stamped at or before ``ts``.
        """
        def done(seq: int, ts) -> bool:
            return until is not None and seq > until[0] and ts is not None and ts > until[1]

        out: list[tuple[dict, str | None]] = []
        try:
            for rec in self.persistence.iter_journal(after_seq=after_seq, upto_seq=upto_seq):
                if done(rec.seq, rec.ts):
                    break
                out.append(({**rec.command, "seq": rec.seq}, rec.outcome))
        except Exception as e:
            if not is_store_error(e):
                raise
            raise NodeError("store_error", str(e)) from None
        return out


def _int_arg(value, name: str) -> int:
    if type(value) is not int:
        try:
            value = int(str(value).strip())
        except ValueError:
            raise NodeError("bad_value", f"{name} must be a whole number, got {value!r}") from None
    if value < 0:
        raise NodeError("bad_value", f"{name} must not be negative")
    return value
