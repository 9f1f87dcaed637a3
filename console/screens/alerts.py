"""Alerts: every attempt to deliver an incident alert to Slack, PagerDuty, Discord or a webhook.

Sinks are shown by name and kind only: their URLs and keys are secrets and never reach the console.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from .. import format as fmt
from ..widgets.desk_screen import DeskScreen
from ..widgets.tables import setup_columns, sync_table

COLUMNS = [("time", "Time (UTC)"), ("kind", "Kind"), ("action", "Action"), ("sink", "Sink"),
           ("attempt", "Attempt"), ("status", "Status"), ("http", "HTTP"), ("error", "Error")]
LIMIT = 300
STATUS_STYLE = {"delivered": "green", "retrying": "yellow", "failed": "bold red"}


class AlertsScreen(DeskScreen):
    #: its rules (user CSS, loaded when the screen is first installed; scoped to this screen)
    CSS = """
    #alert-table { border-title-color: $foreground; border-title-style: bold; }
    #alert-sinks { height: auto; max-height: 6; }
    #alert-table { border: round $primary-muted; }
    """
    NAME = "alerts"
    AUTO_FOCUS = "#alert-table"

    def compose_body(self) -> ComposeResult:
        yield Static("", id="alert-sinks", classes="panel")
        yield DataTable(id="alert-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        setup_columns(self.query_one(DataTable), COLUMNS)
        self.query_one("#alert-sinks").border_title = "Alert sinks"

    def collect(self, gw) -> dict:
        return {"deliveries": gw.alert_deliveries(LIMIT), "sinks": gw.alert_sinks()}

    def show(self, vm: dict) -> None:
        sinks = vm.get("sinks", [])
        rows = vm.get("deliveries", [])
        head = Text()
        if not sinks:
            head.append("No alert sinks configured: alerts are not sent. Add [[alerts.sinks]] to the config file "
                        "(perpdesk --config FILE, PERPDESK_CONFIG, or config.toml in the config directory).",
                        style="dim")
        else:
            for i, s in enumerate(sinks):
                if i:
                    head.append("   ")
                head.append(s.get("name", "?"), style="bold")
                head.append(f" {s.get('kind')} ≥ {s.get('min_severity')}", style="dim")
            counts = {k: sum(1 for r in rows if r.get("status") == k) for k in STATUS_STYLE}
            head.append("\n")
            for k, n in counts.items():
                head.append(f"{k} {n}   ", style=STATUS_STYLE[k] if n else "dim")
            head.append(f"(last {len(rows)} attempts)", style="dim")
        self.query_one("#alert-sinks", Static).update(head)
        table_rows = []
        for r in reversed(rows):  # oldest first: a new attempt lands at the bottom, like a log
            status = r.get("status", "")
            http = r.get("http_status")
            table_rows.append((str(r.get("id")), (
                fmt.date_time(r.get("ts")), r.get("kind", ""), r.get("action", ""), r.get("sink", ""),
                Text(str(r.get("attempt", "")), justify="right"),
                Text(status, style=STATUS_STYLE.get(status, "")),
                Text("—" if http is None else str(http), justify="right"),
                (r.get("error") or "")[:60])))
        t = self.query_one(DataTable)
        sync_table(t, table_rows)
        t.border_title = f"Alert deliveries — {len(rows)} attempts"
