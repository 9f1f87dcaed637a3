"""Audit log: who did what, why, and what came of it; filterable."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input

from .. import format as fmt
from ..modals.audit_detail import AuditDetail
from ..widgets.desk_screen import DeskScreen
from ..widgets.tables import setup_columns, sync_table


def _cut(s: str, width: int) -> str:
    return s if len(s) <= width else s[:width - 1] + "…"


COLUMNS = [("time", "Time (UTC)"), ("operator", "Operator"), ("role", "Role"), ("action", "Action"),
           ("reason", "Reason"), ("outcome", "Outcome")]
LIMIT = 500


class AuditScreen(DeskScreen):
    #: its rules (user CSS, loaded when the screen is first installed; scoped to this screen)
    CSS = """
    #audit-table { border-title-color: $foreground; border-title-style: bold; }
    #audit-filter { height: 3; }
    #audit-table { border: round $primary-muted; }
    """
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
