"""Refunds: proposals with evidence, maker-checker decisions, payment from a named fund."""

from __future__ import annotations

import json
import re

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

from .. import format as fmt
from ..tables import setup_columns, sync_table
from ..widgets import DeskScreen

COLUMNS = [("id", "Refund"), ("account", "Account"), ("amount", "Amount (USDC)"), ("status", "Status"),
           ("proposer", "Proposer"), ("approver", "Decided by"), ("reason", "Reason"), ("paid", "Credit")]
STATUS_STYLE = {"proposed": "cyan", "approved": "yellow", "rejected": "dim", "paid": "green"}


class RefundsScreen(DeskScreen):
    NAME = "refunds"
    AUTO_FOCUS = "#refund-table"
    BINDINGS = [
        Binding("n", "propose", "Propose", id="refund_propose"),
        Binding("y", "approve", "Approve", id="refund_approve"),
        Binding("x", "reject", "Reject", id="refund_reject"),
        Binding("p", "pay", "Pay", id="refund_pay"),
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
        t.append(f"\npaying fund: insurance {fmt.money(vm['status']['insurance_fund'])} USDC"
                 f"   you are {vm['identity'].get('operator')} ({vm['identity'].get('role')}); "
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
        t.append(json.dumps(r.get("evidence") or {}, sort_keys=True, default=str)[:400], style="dim")
        box.update(t)

    # ---- actions ----------------------------------------------------------------
    def why_not(self, action: str) -> str | None:
        return self.app.why_not(action)

    def action_propose(self) -> None:
        def done(form: dict | None) -> None:
            if form is None:
                return
            gw = self.app.gateway
            self.app.run_command("Propose refund", lambda: gw.propose_refund(**form),
                                 success=f"Refund proposed for {form['account']}")

        self.app.push_screen(ProposeModal(), done)

    def _decide(self, approve: bool) -> None:
        r = self.selected()
        if r is None:
            self.app.notify("Select a refund first.", severity="warning")
            return
        verb = "Approve" if approve else "Reject"

        def done(reason: str | None) -> None:
            if reason is None:
                return
            gw = self.app.gateway
            self.app.run_command(f"{verb} refund", lambda: gw.decide_refund(r["refund_id"], approve, reason),
                                 success=f"{r['refund_id']} {'approved' if approve else 'rejected'}")

        self.app.push_screen(ReasonModal(f"{verb} {r['refund_id']}: {fmt.money(r['amount'])} USDC to {r['account']}"),
                             done)

    def action_approve(self) -> None:
        self._decide(True)

    def action_reject(self) -> None:
        self._decide(False)

    def action_pay(self) -> None:
        r = self.selected()
        if r is None:
            self.app.notify("Select a refund first.", severity="warning")
            return
        gw = self.app.gateway
        self.app.run_command("Pay refund", lambda: gw.pay_refund(r["refund_id"], "insurance"),
                             success=f"{r['refund_id']} paid: {fmt.money(r['amount'])} USDC credited to "
                                     f"{r['account']} from the insurance fund")


class ReasonModal(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="reason_cancel")]

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="dialog-title")
            yield Label("Reason (journaled, required):")
            yield Input(id="reason")
            yield Static("", id="reason-error", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Confirm", id="ok", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    def _ok(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            self.query_one("#reason-error", Static).update(Text("✗ a reason is required", style="bold red"))
            return
        self.dismiss(reason)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._ok()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._ok()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ProposeModal(ModalScreen[dict | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="propose_cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Propose a refund", id="dialog-title")
            yield Label("Account")
            yield Input(id="p-account")
            yield Label("Amount (USDC)")
            yield Input(id="p-amount", placeholder="e.g. 1250.50")
            yield Label("Reason")
            yield Input(id="p-reason")
            yield Label("Evidence (free text or JSON)")
            yield Input(id="p-evidence")
            yield Static("", id="p-error", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Propose", id="ok", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#p-account", Input).focus()

    def _ok(self) -> None:
        v = {k: self.query_one(f"#p-{k}", Input).value.strip() for k in ("account", "amount", "reason", "evidence")}
        errors = []
        if not v["account"]:
            errors.append("an account is required")
        if not re.fullmatch(r"\d+(\.\d{1,6})?", v["amount"]) or not v["amount"].strip("0."):
            errors.append("the amount must be a positive decimal such as 1250.50")
        if not v["reason"]:
            errors.append("a reason is required")
        if errors:
            self.query_one("#p-error", Static).update(Text("✗ " + "; ".join(errors), style="bold red"))
            return
        try:
            evidence = json.loads(v["evidence"]) if v["evidence"].startswith("{") else {"note": v["evidence"]}
        except ValueError:
            evidence = {"note": v["evidence"]}
        self.dismiss({"account": v["account"], "amount": v["amount"], "reason": v["reason"], "evidence": evidence})

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._ok()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._ok()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
