"""Refunds: proposals with evidence, maker-checker decisions, payment from a named fund.

``i`` computes refunds from an incident: pick a snapshot, the last seq of the
window and the bad inputs (the node's suspects are filled in), see what the
counterfactual replay proposes per account with its evidence, and propose them.
"""

from __future__ import annotations

import json
import re

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from engine.api.errors import GatewayError

from .. import format as fmt
from ..dialogs import ConfirmModal, Dialog
from ..tables import clear_table, setup_columns, sync_table
from ..widgets import DeskScreen

COLUMNS = [("id", "Refund"), ("account", "Account"), ("amount", "Amount (USDC)", "right"), ("status", "Status"),
           ("proposer", "Proposer"), ("approver", "Decided by"), ("reason", "Reason"), ("paid", "Credit")]
STATUS_STYLE = {"proposed": "cyan", "approved": "yellow", "rejected": "dim", "paid": "green"}


class RefundsScreen(DeskScreen):
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

        def done(reason: str | None) -> None:
            if reason is None:
                return
            gw = self.app.gateway
            self.app.run_command(f"{verb} refund", lambda: gw.decide_refund(r["refund_id"], approve, reason, fund),
                                 success=f"{r['refund_id']} {'approved' if approve else 'rejected'}{paid_from}")

        self.app.push_screen(ReasonModal(f"{verb} {r['refund_id']}: {fmt.money(r['amount'])} USDC to {r['account']}"
                                         f"{paid_from}"), done)

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

        self.app.push_screen(ConfirmModal(
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
                                 success=f"{n} refund(s) proposed, {fmt.money(report['total'])} USDC in total; "
                                         f"a second person approves them")

        self.app.push_screen(ComputeModal(seq), done)


def evidence_text(ev: dict) -> Text:
    """A computed refund's evidence in a few lines."""
    t = Text()
    inp = ev.get("inputs") or {}
    if ev.get("method") == "counterfactual":
        t.append(f"counterfactual: replay {inp.get('snapshot_id')} (seq {inp.get('snapshot_seq')}) to seq "
                 f"{inp.get('to_seq')} without seq {', '.join(str(x) for x in inp.get('bad_seqs', []))}"
                 + (f", corrected {', '.join(inp['corrections'])}" if inp.get("corrections") else "") + "\n")
        a, c = ev.get("actual") or {}, ev.get("counterfactual") or {}
        t.append(f"value actual {a.get('value')} → without the bad inputs {c.get('value')} USDC at "
                 + ", ".join(f"{m} {p['mark_price']}" for m, p in (ev.get("reference_prices") or {}).items()) + "\n")
    else:
        t.append(f"reference price at ts {inp.get('reference_ts')}, liquidations in seq "
                 f"({inp.get('from_seq')}, {inp.get('to_seq')}]\n")
    for liq in (ev.get("liquidations") or [])[:3]:
        t.append(f"  liquidated seq {liq['seq']} {liq['market']} {liq['side']} {liq['size']} @ {liq['price']} "
                 f"(mark {liq['mark_price']}, fee {liq['fee']}, bad debt {liq['bad_debt']})"
                 + (f" ref {liq['reference_price']} → {liq['refund']}" if "reference_price" in liq else "") + "\n")
    more = len(ev.get("liquidations") or []) - 3
    if more > 0:
        t.append(f"  … {more} more liquidation(s)\n")
    fills = len(ev.get("fills") or []) + (ev.get("fills_omitted") or 0)
    if ev.get("method") == "counterfactual":
        t.append(f"  {fills} fill(s) that did not happen without the bad inputs\n")
    t.append(ev.get("formula", ""), style="dim")
    return t


def _usdc(decimal: str) -> str:
    """An evidence amount (exact decimal string) shown like ``fmt.money``: grouped, two decimals, truncated."""
    sign = "-" if decimal.startswith("-") else ""
    whole, _dot, frac = decimal.lstrip("-").partition(".")
    return f"{sign}{int(whole):,}.{(frac + '00')[:2]}"


def parse_seqs(text: str) -> list[int] | None:
    """``"12, 15 18"`` -> [12, 15, 18]; None if anything is not a whole number."""
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    if not all(p.isdigit() for p in parts):
        return None
    return sorted({int(p) for p in parts})


CF_COLUMNS = [("account", "Account"), ("refund", "Refund (USDC)", "right"), ("actual", "Value actual", "right"),
              ("cf", "without bad inputs", "right"), ("liqs", "Liqs", "right"), ("fills", "Fills", "right")]


class ComputeModal(ModalScreen[dict | None]):
    """Compute refunds from an incident, look at the evidence, propose them with a reason."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="compute_cancel")]
    DEFAULT_CSS = """
    ComputeModal #dialog { width: 124; padding: 0 1; }
    ComputeModal #dialog-title { height: 1; padding-top: 0; }
    ComputeModal .row Label { width: 1fr; padding-right: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    ComputeModal SelectCurrent Static#label { text-wrap: nowrap; text-overflow: ellipsis; }
    ComputeModal .row { height: auto; }
    ComputeModal .row Vertical { height: auto; width: 1fr; }
    ComputeModal #cf-snapshot { width: 1fr; }
    ComputeModal .row #cf-snapshot-col { width: 2fr; }
    ComputeModal #cf-suspects { height: auto; max-height: 3; color: $text-muted; }
    ComputeModal #cf-totals { height: auto; max-height: 2; }
    ComputeModal #cf-evidence { height: 9; }
    """

    def __init__(self, current_seq: int) -> None:
        super().__init__()
        self.current_seq = current_seq
        self.snapshots: list[dict] = []
        self.report: dict | None = None
        self.suspects: list[dict] = []

    def compose(self) -> ComposeResult:
        with Dialog(classes="cf-dialog"):
            yield Label("Refunds from an incident (counterfactual replay)", id="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                with Horizontal(classes="row"):
                    with Vertical(id="cf-snapshot-col"):
                        yield Label("Snapshot before the incident")
                        yield Select([], id="cf-snapshot", prompt="choose a snapshot")
                    with Vertical():
                        yield Label("Window ends at seq")
                        yield Input(str(self.current_seq), id="cf-to-seq")
                    with Vertical():
                        yield Label("Bad inputs (seqs to leave out)")
                        yield Input(id="cf-bad", placeholder="e.g. 1203, 1210")
                yield Static("", id="cf-suspects")
                yield Static("", id="cf-totals")
                yield DataTable(id="cf-table", cursor_type="row", zebra_stripes=True)
                yield Static("", id="cf-evidence", classes="panel")
                yield Label("Reason (journaled with every proposal, required):")
                yield Input(id="cf-reason")
                yield Static("", id="cf-error", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Find suspects", id="cf-suspect")
                yield Button("Compute", id="cf-compute")
                yield Button("Propose", id="cf-propose", variant="warning", disabled=True)

    def on_mount(self) -> None:
        table = self.query_one("#cf-table", DataTable)
        setup_columns(table, CF_COLUMNS)
        table.styles.height = 7  # inline: the app's stylesheet gives every DataTable 1fr
        self.query_one("#cf-evidence").border_title = "Evidence"
        self._read(self.app.gateway.snapshots, self._got_snapshots, "Snapshots unavailable")

    # ---- reads: inline on a frozen desk, in a thread worker on a live one ----
    def _read(self, fn, done, failure: str) -> None:
        if not getattr(self.app, "live", False):
            try:
                data = fn()
            except GatewayError as e:
                self.app.notify(e.message, title=failure, severity="error", timeout=8)
                return
            done(data)
            return
        self.run_worker(lambda: self._read_thread(fn, done, failure), thread=True, exit_on_error=False,
                        group="refund-compute")

    def _read_thread(self, fn, done, failure: str) -> None:
        try:
            data = fn()
        except GatewayError as e:
            self.app.call_from_thread(self.app.notify, e.message, title=failure, severity="error", timeout=8)
            return
        self.app.call_from_thread(done, data)

    def _got_snapshots(self, snaps: list[dict]) -> None:
        self.snapshots = sorted((s for s in snaps if s["seq"] < self.current_seq), key=lambda s: s["seq"])
        sel = self.query_one("#cf-snapshot", Select)
        sel.set_options([(f"{s['snapshot_id']}  seq {s['seq']:,}  {s.get('label') or s.get('trigger')}",
                          s["snapshot_id"]) for s in reversed(self.snapshots)])
        if self.snapshots:
            sel.value = self.snapshots[-1]["snapshot_id"]  # the newest: Select.Changed finds the suspects
        else:
            self._error("there is no snapshot before the current seq to replay from")

    def _snapshot(self) -> dict | None:
        sid = self.query_one("#cf-snapshot", Select).value
        return next((s for s in self.snapshots if s["snapshot_id"] == sid), None)

    def _to_seq(self) -> int | None:
        v = self.query_one("#cf-to-seq", Input).value.strip()
        return int(v) if v.isdigit() else None

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "cf-snapshot":
            self.find_suspects()

    def find_suspects(self) -> None:
        snap, to_seq = self._snapshot(), self._to_seq()
        if snap is None or to_seq is None:
            return
        gw = self.app.gateway
        self._read(lambda: gw.suspect_inputs(snap["seq"], to_seq), self._got_suspects, "Finding suspects failed")

    def _got_suspects(self, found: list[dict]) -> None:
        self.suspects = found
        box = self.query_one("#cf-suspects", Static)
        if not found:
            box.update("No suspect market data in this window: name the bad seqs yourself.")
            return
        t = Text()
        for f in found[:2]:
            t.append(f"suspect seq {f['seq']} {f['type']} {f.get('market') or ''}: {'; '.join(f['reasons'])}\n")
        if len(found) > 2:
            t.append(f"… {len(found) - 2} more suspect(s), all filled in below")
        box.update(t)
        self.query_one("#cf-bad", Input).value = ", ".join(str(f["seq"]) for f in found)

    def compute(self) -> None:
        snap, to_seq = self._snapshot(), self._to_seq()
        bad = parse_seqs(self.query_one("#cf-bad", Input).value)
        errors = []
        if snap is None:
            errors.append("choose a snapshot")
        if to_seq is None:
            errors.append("the window's last seq must be a whole number")
        if not bad:
            errors.append("name the bad inputs as seqs, e.g. 1203, 1210")
        if errors:
            self._error("; ".join(errors))
            return
        self._error("")
        gw = self.app.gateway
        self._read(lambda: gw.compute_refunds(snap["snapshot_id"], to_seq, bad), self.show_report,
                   "Refund computation refused")

    def show_report(self, report: dict) -> None:
        self.report = report
        s = report.get("summary", {})
        t = Text()
        t.append(f"{len(report['proposals'])} account(s) owed {fmt.money(report['total'])} USDC", style="bold")
        t.append(f"   liquidations {s.get('liquidations_actual', 0)} actual → {s.get('liquidations_counterfactual', 0)} "
                 f"without the bad inputs; {s.get('accounts_changed', 0)} account(s) changed; others gained "
                 f"{fmt.money(s.get('gained_by_others', 0))}")
        self.query_one("#cf-totals", Static).update(t)
        table = self.query_one("#cf-table", DataTable)
        clear_table(table)
        for p in report["proposals"]:
            ev = p["evidence"]
            table.add_row(p["account"], Text(fmt.money(p["amount"]), justify="right"),
                          Text(_usdc(ev["actual"]["value"]), justify="right"),
                          Text(_usdc(ev["counterfactual"]["value"]), justify="right"),
                          Text(str(len(ev["liquidations"])), justify="right"),
                          Text(str(len(ev["fills"]) + ev["fills_omitted"]), justify="right"), key=p["account"])
        self.query_one("#cf-propose", Button).disabled = not report["proposals"]
        self._evidence()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._evidence()

    def _evidence(self) -> None:
        box = self.query_one("#cf-evidence", Static)
        table = self.query_one("#cf-table", DataTable)
        if self.report is None or not table.row_count:
            box.update(Text("Nobody is owed anything for this window." if self.report else "", style="dim"))
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        p = next((p for p in self.report["proposals"] if p["account"] == key), None)
        if p is not None:
            box.update(evidence_text(p["evidence"]))

    def propose(self) -> None:
        reason = self.query_one("#cf-reason", Input).value.strip()
        if self.report is None or not self.report["proposals"]:
            self._error("compute the refunds first")
            return
        if not reason:
            self._error("a reason is required")
            return
        self.dismiss({"report": self.report, "reason": reason})

    def _error(self, msg: str) -> None:
        self.query_one("#cf-error", Static).update(Text(f"✗ {msg}", style="bold red") if msg else "")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id
        if bid == "cf-compute":
            self.compute()
        elif bid == "cf-suspect":
            self.find_suspects()
        elif bid == "cf-propose":
            self.propose()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "cf-reason":
            self.propose()
        else:
            self.compute()

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReasonModal(ModalScreen[str | None]):
    AUTO_FOCUS = "#reason"  # (Textual focuses it once composed: no query of a child that may be gone)
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="reason_cancel")]

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Dialog():
            yield Label(self.title_text, id="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Label("Reason (journaled, required):")
                yield Input(id="reason")
                yield Static("", id="reason-error", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Confirm", id="ok", variant="warning")

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
    AUTO_FOCUS = "#p-account"  # (Textual focuses it once composed: no query of a child that may be gone)
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="propose_cancel")]

    def compose(self) -> ComposeResult:
        with Dialog():
            yield Label("Propose a refund", id="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Label("Account")
                yield Input(id="p-account")
                yield Label("Amount (USDC)")
                yield Input(id="p-amount", placeholder="e.g. 1250.50")
                yield Label("Reason (journaled, required)")
                yield Input(id="p-reason")
                yield Label("Evidence (free text or JSON)")
                yield Input(id="p-evidence")
                yield Static("", id="p-error", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Propose", id="ok", variant="warning")

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
