"""Audit log: who did what, why, and what came of it; filterable."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

from .. import format as fmt
from ..dialogs import Dialog
from ..tables import setup_columns, sync_table
from ..widgets import DeskScreen


def _cut(s: str, width: int) -> str:
    return s if len(s) <= width else s[:width - 1] + "…"


#: the objects an audited command names, in the order the detail view lists them
NAMED = ("snapshot_id", "to_seq", "seq", "window_id", "refund_id", "account", "market", "markets", "fund",
         "amount", "mode", "enabled", "label", "check", "command")


def detail_text(r: dict) -> Text:
    """An audit entry in full: who, when, the complete outcome and reason, and what it names."""
    t = Text()
    t.append(f"{fmt.date_time(r.get('ts'))} UTC   {r.get('operator', '')} ({r.get('role', '')})\n", style="bold")
    t.append("action   ", style="dim")
    t.append(f"{r.get('action', '')}\n", style="bold")
    t.append("reason   ", style="dim")
    t.append(f"{r.get('reason') or '—'}\n")
    t.append("outcome  ", style="dim")
    outcome = r.get("outcome", "")
    t.append(f"{outcome}\n", style="green" if outcome in ("ok", "approved", "paid") else "bold red"
             if outcome.startswith(("refused", "rejected", "error")) else "")
    cmd = r.get("command") or {}
    if isinstance(cmd, dict) and cmd:
        named = [(k, cmd[k]) for k in NAMED if k in cmd]
        if named:
            t.append("\nnames\n", style="bold")
            for k, v in named:
                t.append(f"  {k:<12}", style="dim")
                t.append(f"{', '.join(map(str, v)) if isinstance(v, list) else v}\n")
        t.append("\ncommand\n", style="bold")
        for k in sorted(cmd):
            t.append(f"  {k:<16}", style="dim")
            t.append(f"{cmd[k]}\n")
    if r.get("id") is not None:
        t.append(f"\naudit record {r['id']}  hash {fmt.short_hash(r.get('hash'))}", style="dim")
    return t


class AuditDetail(ModalScreen[None]):
    """One audit entry in full (Enter on a row); Esc or Enter closes it."""

    BINDINGS = [Binding("escape,enter,q", "dismiss", "Close", id="audit_detail_close")]

    def __init__(self, entry: dict) -> None:
        super().__init__(id="audit-detail")
        self.entry = entry

    def compose(self) -> ComposeResult:
        with Dialog(keys="Esc or Enter closes · ↑/↓ scroll", classes="warning"):
            yield Label(f"AUDIT — {self.entry.get('action', '')}", id="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(detail_text(self.entry), id="audit-detail-body")
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)


COLUMNS = [("time", "Time (UTC)"), ("operator", "Operator"), ("role", "Role"), ("action", "Action"),
           ("reason", "Reason"), ("outcome", "Outcome")]
LIMIT = 500


class AuditScreen(DeskScreen):
    NAME = "audit"
    AUTO_FOCUS = "#audit-table"
    BINDINGS = [Binding("slash", "filter", "Filter", id="audit_filter", key_display="/"),
                Binding("enter", "detail", "Details", id="audit_detail", show=True)]

    def __init__(self) -> None:
        super().__init__()
        self.query_text = ""
        self.entries: dict[str, dict] = {}

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="filter: operator, action, reason or outcome (Enter)", id="audit-filter")
        yield DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        setup_columns(self.query_one(DataTable), COLUMNS)

    def collect(self, gw) -> dict:
        return {"audit": gw.audit(LIMIT, self.query_text)}

    def show(self, vm: dict) -> None:
        rows = []
        entries = vm.get("audit", [])
        start = len(entries)
        for i, r in enumerate(reversed(entries)):
            outcome = r.get("outcome", "")
            style = "green" if outcome in ("ok", "approved", "paid") else ("bold red" if outcome.startswith(("refused", "rejected", "error")) else "")
            key = f"{r.get('ts')}-{start - i}-{r.get('action')}"
            self.entries[key] = r
            rows.append((key, (
                fmt.date_time(r.get("ts")), r.get("operator", ""), r.get("role", ""), r.get("action", ""),
                _cut(r.get("reason") or "", 48), Text(_cut(outcome, 70), style=style))))
        sync_table(self.query_one(DataTable), rows)
        self.query_one(DataTable).border_title = (
            f"Audit log — {len(entries)} entries" + (f" matching {self.query_text!r}" if self.query_text else ""))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self._open(event.row_key.value if event.row_key is not None else None)

    def action_detail(self) -> None:
        t = self.query_one(DataTable)
        if t.row_count:
            self._open(t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value)

    def _open(self, key: str | None) -> None:
        entry = self.entries.get(key) if key else None
        if entry is not None:
            self.app.push_screen(AuditDetail(entry))

    def action_filter(self) -> None:
        self.query_one("#audit-filter", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_text = event.value.strip()
        self.app.refresh_now()
        self.query_one(DataTable).focus()
