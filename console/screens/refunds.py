"""Refunds: proposals with evidence, maker-checker decisions, payment from a named fund.

``i`` computes refunds from an incident: pick a snapshot, the last seq of the
window and the bad inputs (the node's suspects are filled in), see what the
counterfactual replay proposes per account with its evidence, and propose them.
"""

from __future__ import annotations

import json

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from engine.api.errors import GatewayError

from .. import format as fmt
from ..evidence import evidence_text
from ..modals.compute import ComputeModal
from ..modals.confirm import ConfirmDialog
from ..modals.propose import ProposeModal
from ..modals.reason import ReasonModal
from ..widgets.desk_screen import DeskScreen
from ..widgets.tables import setup_columns, sync_table

COLUMNS = [("id", "Refund"), ("account", "Account"), ("amount", "Amount (USDC)", "right"), ("status", "Status"),
           ("proposer", "Proposer"), ("approver", "Decided by"), ("reason", "Reason"), ("paid", "Credit")]
STATUS_STYLE = {"proposed": "cyan", "approved": "yellow", "rejected": "dim", "paid": "green"}


class RefundsScreen(DeskScreen):
    #: its rules (user CSS, loaded when the screen is first installed; scoped to this screen)
    CSS = """
    #refund-totals { height: auto; }
    #refund-detail { height: 7; }
    #refund-table { height: 1fr; }
    """
    NAME = "refunds"
    AUTO_FOCUS = "#refund-table"
    BINDINGS = [
        Binding("n", "propose", "Propose", id="refund_propose"),
        Binding("y", "approve", "Approve", id="refund_approve"),
        Binding("x", "reject", "Reject", id="refund_reject"),
        Binding("f", "approve_treasury", "Approve (treasury)", id="refund_approve_treasury",
                tooltip="Approve, paid from the treasury fund (external money) instead of the insurance fund"),
        Binding("p", "pay", "Pay", id="refund_pay"),
        Binding("v", "recompute", "Recompute", id="refund_recompute",
                tooltip="Recompute the selected refund from its stored inputs and compare"),
        Binding("i", "compute", "From incident", id="refund_compute",
                tooltip="Compute refunds from an incident: counterfactual replay without the bad inputs"),
    ]

    def compose_body(self) -> ComposeResult:
        yield Static("", id="refund-totals", classes="panel")
        yield DataTable(id="refund-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="refund-detail", classes="panel")

    def on_mount(self) -> None:
        setup_columns(self.query_one(DataTable), COLUMNS)
        self.query_one("#refund-totals").border_title = "Refunds"
        self.query_one("#refund-detail").border_title = "Evidence"
        self.refunds: list[dict] = []

    def collect(self, gw) -> dict:
        return {"refunds": gw.refunds()}

    def show(self, vm: dict) -> None:
        self.refunds = sorted(vm.get("refunds", []), key=lambda r: r["refund_id"])
        tot: dict[str, int] = {}
        for r in self.refunds:
            tot[r["status"]] = tot.get(r["status"], 0) + r["amount"]
        t = Text()
        for s in ("proposed", "approved", "paid", "rejected"):
            t.append(f"{s} ", style=STATUS_STYLE[s])
            t.append(f"{fmt.money(tot.get(s, 0))}   ", style="bold")
        t.append("USDC", style="dim")
        # one line each (the panel grows to fit them): at 100 columns the second of two lines wrapped and
        # was cut mid-sentence by a panel four rows high
        t.append(f"\npaying fund: insurance {fmt.money(vm['status']['insurance_fund'])} USDC"
                 f"\nyou are {vm['identity'].get('operator')} ({vm['identity'].get('role')}); "
                 "a proposer may not approve or reject their own refund")
        self.query_one("#refund-totals", Static).update(t)
        sync_table(self.query_one(DataTable), [
            (r["refund_id"], (r["refund_id"], r["account"], Text(fmt.money(r["amount"]), justify="right"),
                              Text(r["status"], style=STATUS_STYLE.get(r["status"], "")), r["proposer"],
                              r.get("approver") or "—", (r.get("reason") or "")[:40],
                              f"seq {r['paid_seq']:,} from {r['fund']}" if r.get("paid_seq") else "—"))
            for r in self.refunds])
        self._detail()

    def selected(self) -> dict | None:
        t = self.query_one(DataTable)
        if not t.row_count:
            return None
        key = t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value
        return next((r for r in self.refunds if r["refund_id"] == key), None)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    def _detail(self) -> None:
        r = self.selected()
        box = self.query_one("#refund-detail", Static)
        if r is None:
            box.update(Text("No refunds yet. Press n to propose one.", style="dim"))
            return
        t = Text()
        t.append(f"{r['refund_id']} ", style="bold")
        t.append(f"{fmt.money(r['amount'])} USDC to {r['account']} — {r['reason']}\n")
        if r.get("decision_reason"):
            t.append(f"decision by {r['approver']}: {r['decision_reason']}\n")
        ev = r.get("evidence") or {}
        if ev.get("method") in ("counterfactual", "reference_price"):
            t.append_text(evidence_text(ev))
        else:
            t.append(json.dumps(ev, sort_keys=True, default=str)[:400], style="dim")
        box.update(t)

    # ---- actions ----------------------------------------------------------------
    def why_not(self, action: str) -> str | None:
        return self.app.why_not(action)

    def refused(self, action: str) -> bool:
        """Refuse before any dialog opens when the role (or the venue's state) forbids ``action``."""
        why = self.app.why_not(action)
        if why:
            self.app.notify(why, title="Not available", severity="warning")
        return why is not None

    def action_propose(self) -> None:
        if self.refused("propose"):
            return

        def done(form: dict | None) -> None:
            if form is None:
                return
            gw = self.app.gateway
            self.app.run_command("Propose refund", lambda: gw.propose_refund(**form),
                                 success=f"Refund proposed for {form['account']}")

        self.app.push_screen(ProposeModal(), done)

    def _decide(self, approve: bool, fund: str | None = None) -> None:
        if self.refused("approve" if approve else "reject"):
            return
        r = self.selected()
        if r is None:
            self.app.notify("Select a refund first.", severity="warning")
            return
        verb = "Approve" if approve else "Reject"
        paid_from = f" from the {fund}" if fund else ""
        me = (self.app.vm or {}).get("identity", {}).get("operator")
        if r["status"] != "proposed":  # (said before the dialog, not after a reason was typed)
            self.app.notify(f"{r['refund_id']} is {r['status']}; only a proposed refund can be approved or "
                            "rejected.", title=f"{verb} refund", severity="warning")
            return
        if me and r["proposer"] == me:
            self.app.notify(f"You proposed {r['refund_id']}: a second operator approves or rejects it.",
                            title=f"{verb} refund", severity="warning")
            return
        fund_name = fund or "insurance"
        body = (f"Approved, it can be paid (p) from the {fund_name} fund: nothing is credited until then. "
                if approve else "Rejected, it can no longer be approved or paid. ")
        body += f"Proposed by {r['proposer']}: {r.get('reason') or '—'}"

        def done(reason: str | None) -> None:
            if reason is None:
                return
            gw = self.app.gateway
            self.app.run_command(f"{verb} refund", lambda: gw.decide_refund(r["refund_id"], approve, reason, fund),
                                 success=f"{r['refund_id']} {'approved' if approve else 'rejected'}{paid_from}")

        self.app.push_screen(ReasonModal(f"{verb} {r['refund_id']}: {fmt.money(r['amount'])} USDC to {r['account']}"
                                         f"{paid_from}", body, f"{verb}{' (treasury)' if fund else ''}"), done)

    def action_approve_treasury(self) -> None:
        self._decide(True, "treasury")

    def action_recompute(self) -> None:
        r = self.selected()
        if r is None:
            self.app.notify("Select a refund first.", severity="warning")
            return
        gw = self.app.gateway
        rid = r["refund_id"]
        if self.app.live:
            self.run_worker(lambda: self._recompute_thread(gw, rid), thread=True, exit_on_error=False,
                            group="refund-recompute")
            return
        try:
            out = gw.recompute_refund(rid)
        except GatewayError as e:
            self.app.notify(e.message, title="Recompute refused", severity="error", timeout=8)
            return
        self._recomputed(out)

    def _recompute_thread(self, gw, rid: str) -> None:
        try:
            out = gw.recompute_refund(rid)
        except GatewayError as e:
            self.app.call_from_thread(self.app.notify, e.message, title="Recompute refused", severity="error",
                                      timeout=8)
            return
        self.app.call_from_thread(self._recomputed, out)

    def _recomputed(self, out: dict) -> None:
        if out["matches"]:
            self.app.notify(f"{out['refund_id']}: recomputed {fmt.money(out['recomputed_amount'])} USDC from its "
                            f"inputs; amount and evidence match", title="Recompute")
        else:
            what = [w for w, ok in (("amount", out["recomputed_amount"] == out["stored_amount"]),
                                    ("evidence", out["evidence_matches"]), ("journal window", out["inputs_match"]))
                    if not ok]
            self.app.notify(f"{out['refund_id']}: recomputed {fmt.money(out['recomputed_amount'])} USDC, stored "
                            f"{fmt.money(out['stored_amount'])}; differs in {', '.join(what)}",
                            title="Recompute: MISMATCH", severity="error", timeout=12)

    def action_approve(self) -> None:
        self._decide(True)

    def action_reject(self) -> None:
        self._decide(False)

    def action_pay(self) -> None:
        if self.refused("pay"):
            return
        r = self.selected()
        if r is None:
            self.app.notify("Select a refund first.", severity="warning")
            return
        if r["status"] != "approved":
            self.app.notify(f"{r['refund_id']} is {r['status']}; only an approved refund can be paid.",
                            title="Pay refund", severity="warning")
            return
        gw = self.app.gateway
        fund = r.get("fund") or "insurance"

        def done(ok) -> None:
            if ok is None:
                self.app.notify("Not paid; nothing changed.", title="Pay refund")
                return
            self.app.run_command("Pay refund", lambda: gw.pay_refund(r["refund_id"]),
                                 success=f"{r['refund_id']} paid: {fmt.money(r['amount'])} USDC credited to "
                                         f"{r['account']} from the {fund} fund")

        self.app.push_screen(ConfirmDialog(
            f"PAY {r['refund_id']}",
            f"Credit {fmt.money(r['amount'])} USDC to {r['account']} from the {fund} fund now. A payment "
            f"cannot be undone from the console.", "Pay", reason=False, danger=False, id="pay-modal"), done)

    def action_compute(self) -> None:
        if self.refused("compute"):
            return
        vm = self.app.vm or {}
        seq = (vm.get("status") or {}).get("seq", 0)

        def done(result: dict | None) -> None:
            if result is None:
                return
            gw = self.app.gateway
            report = result["report"]
            n = len(report["proposals"])
            self.app.run_command("Propose refunds", lambda: gw.propose_refunds(report, result["reason"]),
                                 success=f"{fmt.count_of(n, 'refund')} proposed, {fmt.money(report['total'])} USDC in total; "
                                         f"a second person approves them")

        self.app.push_screen(ComputeModal(seq), done)
