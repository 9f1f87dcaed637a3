"""Refunds from an incident: pick a snapshot, the last seq of the window and the bad inputs (the node's
suspects are filled in), see what the counterfactual replay proposes per account with its evidence,
and propose them with a reason. A form with its own buttons (find suspects, compute, propose): it
keeps its own layout in the shared dialog frame rather than the confirm dialog's."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from engine.api.errors import GatewayError

from .. import format as fmt
from ..evidence import evidence_text, parse_seqs, usdc
from ..widgets.dialog import Dialog
from ..widgets.tables import clear_table, setup_columns

CF_COLUMNS = [("account", "Account"), ("refund", "Refund (USDC)", "right"), ("actual", "Value actual", "right"),
              ("cf", "without bad inputs", "right"), ("liqs", "Liqs", "right"), ("fills", "Fills", "right")]


class ComputeModal(ModalScreen[dict | None]):
    """Compute refunds from an incident, look at the evidence, propose them with a reason."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="compute_cancel")]
    #: user CSS, as every screen's (as DEFAULT_CSS its #dialog rules lost to app.tcss's dialog frame:
    #: the dialog was 96 wide, not 124, and its title two lines, not one)
    CSS = """
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
            t.append(f"… {fmt.count_of(len(found) - 2, 'more suspect')}, all filled in below")
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
        t.append(f"{fmt.count_of(len(report['proposals']), 'account')} owed {fmt.money(report['total'])} USDC", style="bold")
        t.append(f"   liquidations {s.get('liquidations_actual', 0)} actual → {s.get('liquidations_counterfactual', 0)} "
                 f"without the bad inputs; {fmt.count_of(s.get('accounts_changed', 0), 'account')} changed; others gained "
                 f"{fmt.money(s.get('gained_by_others', 0))}")
        self.query_one("#cf-totals", Static).update(t)
        table = self.query_one("#cf-table", DataTable)
        clear_table(table)
        for p in report["proposals"]:
            ev = p["evidence"]
            table.add_row(p["account"], Text(fmt.money(p["amount"]), justify="right"),
                          Text(usdc(ev["actual"]["value"]), justify="right"),
                          Text(usdc(ev["counterfactual"]["value"]), justify="right"),
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
