"""Maintenance: schedule a window in a validated form; list windows with phase and countdown."""

from __future__ import annotations

import re

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from engine.api.vocabulary import VALIDATION_CHECKS

from .. import format as fmt
from ..modals.confirm import ConfirmDialog
from ..modals.field import Field
from ..modals.release import check_list
from ..widgets.desk_screen import DeskScreen
from ..widgets.tables import setup_columns, sync_table

KINDS = [("database upgrade", "database_upgrade"), ("oracle restart", "oracle_restart"), ("scale-up", "scale_up")]
WINDOW_COLUMNS = [("id", "Window"), ("kind", "Kind"), ("markets", "Markets"), ("start", "Start (UTC)"),
                  ("duration", "Duration"), ("status", "Status"), ("phase", "Phase")]
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
_REL = re.compile(r"^\+(\d+)(m|h)$")


def parse_start(text: str, now: int) -> int:
    """``HH:MM`` (UTC, the next such time after engine time) or ``+15m`` / ``+2h``."""
    t = text.strip()
    m = _REL.match(t)
    if m:
        n = int(m.group(1))
        if n <= 0:
            raise ValueError("the offset must be positive")
        return now + n * (60_000 if m.group(2) == "m" else 3_600_000)
    m = _HHMM.match(t)
    if m:
        h, mi = int(m.group(1)), int(m.group(2))
        if h > 23 or mi > 59:
            raise ValueError("use a time of day from 00:00 to 23:59")
        day = now - now % 86_400_000
        ts = day + (h * 60 + mi) * 60_000
        return ts if ts > now else ts + 86_400_000
    raise ValueError("use HH:MM (UTC) or an offset such as +15m or +2h")


def validate(form: dict, markets: list[str], existing: set[str], now: int) -> tuple[dict, dict]:
    """(errors by field, the command fields) for the maintenance form."""
    errors: dict[str, str] = {}
    out: dict = {}
    wid = form["window_id"].strip()
    if not wid:
        errors["window_id"] = "a window id is required"
    elif not _ID.match(wid):
        errors["window_id"] = "letters, digits and - _ . : only (at most 64)"
    elif wid in existing:
        errors["window_id"] = f"{wid} already exists"
    out["window_id"] = wid
    names = [m.strip().upper() for m in form["markets"].replace(" ", ",").split(",") if m.strip()]
    if names == ["ALL"]:
        names = list(markets)
    unknown = [m for m in names if m not in markets]
    if not names:
        errors["markets"] = "name at least one market (or all)"
    elif unknown:
        errors["markets"] = f"unknown market {', '.join(unknown)}; choose from {', '.join(markets)}"
    out["markets"] = names
    try:
        out["start_ts"] = parse_start(form["start"], now)
    except ValueError as e:
        errors["start"] = str(e)
    dur = form["duration"].strip()
    if not dur.isdigit() or not 1 <= int(dur) <= 720:
        errors["duration"] = "minutes, a whole number from 1 to 720"
    else:
        out["duration_ms"] = int(dur) * 60_000
    if form["kind"] is Select.NULL or form["kind"] not in {k for _l, k in KINDS}:
        errors["kind"] = "choose what the window is for"
    else:
        out["kind"] = form["kind"]
    return errors, out


#: the phases in which a window restricts its markets (engine/core/maintenance.py ACTIVE): a window held
#: at validation past its planned end is still one of them, not "past"
ACTIVE_PHASES = frozenset({"cancel_only", "snapshot", "work", "validation", "post_only"})


#: the form's typed fields, two a row: (key, label, placeholder; the placeholder names its field too, for the
#: short terminals where the labels give way)
TEXT_FIELDS = (("window_id", "Window id", "window id, e.g. mw-0430"),
               ("markets", "Markets (comma separated, or all)", "markets: all, or BTC-USD-PERP, ..."),
               ("start", "Start (HH:MM UTC or +15m)", "start: 04:30 or +15m"),
               ("duration", "Duration (minutes)", "minutes, e.g. 15"))


class MaintenanceScreen(DeskScreen):
    #: its rules (user CSS, loaded when the screen is first installed; scoped to this screen)
    CSS = """
    #mw-table { border-title-color: $foreground; border-title-style: bold; border-subtitle-color: $text-muted; }
    #mw-top { height: auto; }
    #mw-form { width: 84; height: auto; }
    #mw-current { height: 100%; }
    #mw-form Label { color: $text-muted; }
    #mw-form Input { margin: 0; }
    #mw-form .row { height: auto; }
    #mw-form .row Vertical { height: auto; width: 1fr; }
    #mw-current { width: 1fr; }
    #mw-table { height: 1fr; min-height: 5; border: round $primary-muted; }
    /* short terminals: the labels give way to the inputs' self-naming placeholders; narrow ones: the
       current-window panel gives way to the form (set by on_resize) */
    MaintenanceScreen.-compact #mw-form Label { display: none; }
    MaintenanceScreen.-narrow #mw-current { display: none; }
    MaintenanceScreen.-narrow #mw-form { width: 1fr; }
    #mw-form .mw-go Button { width: 1fr; }
    """
    NAME = "maintenance"
    AUTO_FOCUS = "#mw-table"
    BINDINGS = [Binding("ctrl+s", "schedule", "Schedule window", id="mw_schedule", key_display="^s"),
                # on the selected window (the table's cursor); each a confirmation with a required reason
                Binding("X", "cancel_window", "Cancel window", id="mw_cancel", key_display="X", show=False,
                        tooltip="Cancel the selected window: before its start it never runs; once active it "
                                "ends with its markets left as they are (reopen them through the gate)"),
                Binding("T", "reschedule_window", "Reschedule window", id="mw_reschedule", key_display="T",
                        show=False, tooltip="Move the selected window's start (only before it starts)"),
                Binding("E", "extend_window", "Extend window", id="mw_extend", key_display="E", show=False,
                        tooltip="Make the selected window longer (before its validation phase)")]

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="mw-top"):
            with Vertical(id="mw-form", classes="panel"):
                # two fields a row (six fields in three rows); on a short terminal the labels give way
                # to the placeholders, which name their field too (MaintenanceScreen.on_resize)
                for pair in (TEXT_FIELDS[:2], TEXT_FIELDS[2:]):
                    with Horizontal(classes="row"):
                        for key, label, placeholder in pair:
                            with Vertical():
                                yield Label(label)
                                yield Input(placeholder=placeholder, id=f"f-{key}")
                                yield Static("", id=f"e-{key}", classes="field-error")
                with Horizontal(classes="row"):
                    with Vertical():
                        yield Label("Kind")
                        yield Select(KINDS, prompt="choose a kind", id="f-kind")
                        yield Static("", id="e-kind", classes="field-error")
                    with Vertical(classes="mw-go"):
                        yield Label(" ")
                        yield Button("Schedule window [^s]", id="schedule", variant="primary")
            yield Static("", id="mw-current", classes="panel")
        yield DataTable(id="mw-table", cursor_type="row", zebra_stripes=True)

    def on_resize(self, event) -> None:
        """Short terminals (80x24): labels give way to the placeholders; narrow ones: the current window's
        panel gives way to the form, so the windows table keeps rows."""
        self.set_class(self.size.height < 34, "-compact")
        self.set_class(self.size.width < 110, "-narrow")

    def on_mount(self) -> None:
        setup_columns(self.query_one("#mw-table", DataTable), WINDOW_COLUMNS)
        self.query_one("#mw-form").border_title = "Schedule a maintenance window"
        self.query_one("#mw-current").border_title = "Current window"
        self.query_one("#mw-table").border_title = "Windows"
        # the keys on the selected window are not in the footer (they need a row): say them where it is
        self.query_one("#mw-table").border_subtitle = "on the selected window: X cancel · T reschedule · E extend"

    def collect(self, gw) -> dict:
        return {"windows": gw.maintenance_windows()}

    def show(self, vm: dict) -> None:
        now = vm["now"]
        windows = sorted(vm.get("windows", []), key=lambda w: (w["start_ts"], w["window_id"]))
        self.windows = windows
        rows = []
        current = None
        for w in windows:
            start, end = w["start_ts"], w["start_ts"] + w["duration_ms"]
            if w.get("phase") in ("canceled", "aborted"):
                status = Text(str(w["phase"]), style="dim")
            elif now < start:
                status = Text(f"starts in {fmt.age(start - now)}", style="cyan")
                if current is None:
                    current = ("next", w, start - now)
            elif w.get("phase") in ACTIVE_PHASES and now >= end:  # held (validation fails): not over
                status = Text(f"HELD at {w['phase']}, {fmt.age(now - end)} over", style="bold red")
                current = ("active", w, end - now)
            elif now < end and w.get("phase") not in ("open", "done"):
                status = Text(f"ACTIVE, ends in {fmt.age(end - now)}", style="bold yellow")
                current = ("active", w, end - now)
            else:
                status = Text("past", style="dim")
            rows.append((w["window_id"], (w["window_id"], w["kind"].replace("_", " "),
                                          ", ".join(m.split("-")[0] for m in w["markets"]),
                                          fmt.date_time(start), fmt.duration(w["duration_ms"]), status,
                                          w.get("phase", ""))))
        sync_table(self.query_one("#mw-table", DataTable), rows)
        t = Text()
        if current is None:
            t.append("No window scheduled.\n", style="dim")
        else:
            kind, w, left = current
            t.append(f"{w['window_id']} ", style="bold")
            t.append(f"{w['kind'].replace('_', ' ')} on {', '.join(w['markets'])}\n")
            if kind == "active":
                if left > 0:
                    t.append(f"ACTIVE — phase {w.get('phase')}, ends in {fmt.age(left)}\n", style="bold yellow")
                else:
                    t.append(f"HELD — phase {w.get('phase')}, {fmt.age(-left)} past its planned end: "
                             "the markets stay restricted until every check passes\n", style="bold red")
                phase = w.get("phase")
                if phase == "validation":  # every check the gate runs, as it stands now
                    failing = set(w.get("failing") or ())
                    t.append("validation: " + ("held, a check fails (the window waits)\n" if failing
                                               else "running the checks\n"), style="bold red" if failing else "")
                    t.append(check_list(failing))
                elif phase in ("post_only", "open", "done"):
                    t.append(f"validation passed: all {len(VALIDATION_CHECKS)} checks ✓ "
                             f"({', '.join(VALIDATION_CHECKS)})\n", style="green")
            else:
                t.append(f"next: starts in {fmt.age(left)} at {fmt.clock_time(w['start_ts'])} UTC\n", style="cyan")
        done = [w for w in windows if w.get("phase") == "done" and (current is None or w is not current[1])]
        if done:  # the last finished window: what its validation gate said
            w = done[-1]
            failing = w.get("failing") or []
            t.append(f"\nlast: {w['window_id']} done — ", style="bold")
            if failing:
                t.append(f"reopened by an operator with {', '.join(failing)} failing\n", style="bold red")
            else:
                t.append(f"validation passed: all {len(VALIDATION_CHECKS)} checks ✓\n", style="green")
        t.append("\nSequence: announce → cancel_only → snapshot → work → validation → post_only (tight bands) → open.\n"
                 "Liquidations and TP/SL triggers pause while a market is restricted.", style="dim")
        self.query_one("#mw-current", Static).update(t)

    # ---- the form ---------------------------------------------------------------
    def form(self) -> dict:
        return {k: self.query_one(f"#f-{k}", Input).value for k, _l, _p in TEXT_FIELDS} | {
            "kind": self.query_one("#f-kind", Select).value}

    def show_errors(self, errors: dict) -> None:
        for k in (*(f[0] for f in TEXT_FIELDS), "kind"):
            self.query_one(f"#e-{k}", Static).update(Text("✗ " + errors[k], style="bold red") if k in errors else "")
            self.query_one(f"#f-{k}").set_class(k in errors, "-invalid")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "schedule":
            self.action_schedule()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_schedule()

    def action_schedule(self) -> None:
        why = self.app.why_not("schedule")
        if why:
            self.app.notify(why, title="Not available", severity="warning")
            return
        vm = self.app.vm
        markets = [m["market"] for m in vm.get("markets", [])]
        existing = {w["window_id"] for w in vm.get("windows", [])}
        errors, fields = validate(self.form(), markets, existing, vm.get("now", 0))
        self.show_errors(errors)
        if errors:
            self.app.notify(f"{fmt.count_of(len(errors), 'field')} {'needs' if len(errors) == 1 else 'need'} attention", title="Maintenance form", severity="error")
            return

        now = vm.get("now", 0)
        what = Text()
        what.append(f"{fields['window_id']}", style="bold")
        what.append(f": {fields['kind'].replace('_', ' ')} on {', '.join(fields['markets'])}\n")
        what.append(f"starts {fmt.date_time(fields['start_ts'])} UTC (in {fmt.age(fields['start_ts'] - now)}), "
                    f"lasts {fmt.duration(fields['duration_ms'])}\n", style="bold")
        what.append("At the start these markets go cancel-only, a snapshot is taken, then validation, post-only "
                    "with tight bands, and open; liquidations and TP/SL triggers pause while a market is restricted.",
                    style="dim")

        def confirmed(reason) -> None:
            if not reason:
                self.app.notify("Nothing scheduled.", title="Maintenance")
                return
            self._schedule(fields, reason)

        self.app.push_screen(ConfirmDialog(
            "SCHEDULE MAINTENANCE WINDOW", what, "Schedule", danger=False,
            reason_placeholder="e.g. database upgrade 16.2 (journaled, required)", id="schedule-modal"), confirmed)

    def _schedule(self, fields: dict, reason: str) -> None:
        def after(out) -> None:
            if not out.ok:
                self.show_errors({"window_id": out.message} if out.code == "window_exists"
                                 else {"start": out.message} if out.code == "in_the_past"
                                 else {"kind": out.message})

        gw = self.app.gateway
        self.app.run_command("Schedule maintenance", lambda: gw.schedule_maintenance(**fields, reason=reason),
                             success=f"Window {fields['window_id']} scheduled for "
                                     f"{fmt.date_time(fields['start_ts'])} UTC", then=after)

    # ---- the selected window: cancel, reschedule, extend --------------------------------------------
    def selected_window(self) -> dict | None:
        table = self.query_one("#mw-table", DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            return None
        return next((w for w in getattr(self, "windows", []) if w["window_id"] == key), None)

    def _target(self, action: str, allowed: tuple[str, ...], refused: str) -> dict | None:
        """The selected window if ``action`` is available for it (else a notification, no dialog)."""
        why = self.app.why_not(action)
        if why:
            self.app.notify(why, title="Not available", severity="warning")
            return None
        w = self.selected_window()
        if w is None:
            self.app.notify("Select a window in the table first.", title="Maintenance", severity="warning")
            return None
        if w.get("phase") not in allowed:
            self.app.notify(f"{w['window_id']} is {w.get('phase')}: {refused}", title="Not available",
                            severity="warning")
            return None
        return w

    def action_cancel_window(self) -> None:
        w = self._target("cancel_window", ("scheduled", "announced", "cancel_only", "snapshot", "work",
                                           "validation", "post_only"), "it is already finished")
        if w is None:
            return
        started = w.get("phase") not in ("scheduled", "announced")
        what = Text()
        what.append(f"{w['window_id']}", style="bold")
        what.append(f": {w['kind'].replace('_', ' ')} on {', '.join(w['markets'])}, phase {w.get('phase')}\n")
        if started:
            what.append("The window is ACTIVE. Canceling ends it here: its markets stay in the mode they are in "
                        "(cancel-only or post-only); reopen them yourself through the validation gate (o).",
                        style="bold yellow")
        else:
            what.append("It has not started: it will never run, and its markets are not touched.", style="dim")

        def confirmed(reason) -> None:
            if not reason:
                self.app.notify("Nothing changed.", title="Maintenance")
                return
            gw = self.app.gateway
            self.app.run_command("Cancel maintenance", lambda: gw.cancel_maintenance(w["window_id"], reason),
                                 success=f"Window {w['window_id']} canceled")

        self.app.push_screen(ConfirmDialog("CANCEL MAINTENANCE WINDOW", what, "Cancel window", dismiss="Keep window",
                                           id="cancel-window-modal"), confirmed)

    def action_reschedule_window(self) -> None:
        w = self._target("reschedule_window", ("scheduled", "announced"),
                         "only a window that has not started can be rescheduled")
        if w is None:
            return
        now = self.app.vm.get("now", 0)

        def check(text: str) -> tuple[object, str]:
            try:
                ts = parse_start(text, now)
            except ValueError as e:
                return None, str(e)
            if ts == w["start_ts"]:
                return None, "that is the window's current start"
            return ts, ""

        what = Text()
        what.append(f"{w['window_id']}", style="bold")
        what.append(f": starts {fmt.date_time(w['start_ts'])} UTC, lasts {fmt.duration(w['duration_ms'])}.\n")
        what.append("The window is announced again from its new start; its length stays.", style="dim")

        def confirmed(res) -> None:
            if not res:
                self.app.notify("Nothing changed.", title="Maintenance")
                return
            gw = self.app.gateway
            ts = int(res["value"])
            self.app.run_command("Reschedule maintenance",
                                 lambda: gw.reschedule_maintenance(w["window_id"], ts, res["reason"]),
                                 success=f"Window {w['window_id']} now starts {fmt.date_time(ts)} UTC")

        self.app.push_screen(ConfirmDialog(
            "RESCHEDULE MAINTENANCE WINDOW", what, "Reschedule", danger=False, id="reschedule-modal",
            fields=[Field("field-value", "New start (HH:MM UTC or +15m)", key="value", check=check,
                          placeholder="e.g. 05:30 or +2h", error_id="field-error",
                          describe=lambda ts: f"starts {fmt.date_time(ts)} UTC (in {fmt.age(ts - now)}), ends "
                                              f"{fmt.clock_time(ts + w['duration_ms'])} UTC")],
            reason_id="field-reason", body_id="field-explain"), confirmed)

    def action_extend_window(self) -> None:
        w = self._target("extend_window", ("scheduled", "announced", "cancel_only", "snapshot", "work"),
                         "its markets are being reopened; it can no longer be extended")
        if w is None:
            return
        current = w["duration_ms"] // 60_000

        def check(text: str) -> tuple[object, str]:
            if not text.isdigit() or not 1 <= int(text) <= 720:
                return None, "minutes, a whole number from 1 to 720"
            if int(text) * 60_000 <= w["duration_ms"]:
                return None, f"longer than the current {current} minutes"
            return int(text) * 60_000, ""

        what = Text()
        what.append(f"{w['window_id']}", style="bold")
        what.append(f": phase {w.get('phase')}, lasts {fmt.duration(w['duration_ms'])}, ends "
                    f"{fmt.date_time(w['start_ts'] + w['duration_ms'])} UTC.\n")
        what.append("The work phase grows; post-only (tight bands) and the reopening move to the new end.",
                    style="dim")

        def confirmed(res) -> None:
            if not res:
                self.app.notify("Nothing changed.", title="Maintenance")
                return
            gw = self.app.gateway
            dur = int(res["value"])
            self.app.run_command("Extend maintenance",
                                 lambda: gw.extend_maintenance(w["window_id"], dur, res["reason"]),
                                 success=f"Window {w['window_id']} now lasts {fmt.duration(dur)}")

        self.app.push_screen(ConfirmDialog(
            "EXTEND MAINTENANCE WINDOW", what, "Extend", danger=False, id="extend-modal",
            fields=[Field("field-value", "New total duration (minutes)", key="value", check=check,
                          placeholder=f"more than {current}", error_id="field-error",
                          describe=lambda ms: f"lasts {fmt.duration(ms)} (+{fmt.duration(ms - w['duration_ms'])}), "
                                              f"ends {fmt.date_time(w['start_ts'] + ms)} UTC")],
            reason_id="field-reason", body_id="field-explain"), confirmed)
