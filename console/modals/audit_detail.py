"""One audit entry in full (Enter on a row of the audit log): outcome, reason, and the objects it names
(snapshot id, seq, window, refund, account…). A viewer, not a confirmation: Esc or Enter closes it."""

from __future__ import annotations

import json
import re

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from .. import format as fmt
from ..widgets.dialog import Dialog

#: the objects an audited command names, in the order the detail view lists them
NAMED = ("snapshot_id", "to_seq", "seq", "window_id", "refund_id", "account", "market", "markets", "fund",
         "amount", "mode", "enabled", "label", "check", "command")


def _decimal_money(v: str) -> str | None:
    """A decimal string of USDC ("1250.5") as the console writes money: "1,250.50" (every digit it has
    beyond two kept: an audit shows what was asked, not a rounding of it); None if it is not one."""
    if not re.fullmatch(r"-?\d+(\.\d+)?", v):
        return None
    sign, v = ("-", v[1:]) if v.startswith("-") else ("", v)
    whole, _dot, frac = v.partition(".")
    return f"{sign}{int(whole):,}.{frac.ljust(2, '0')}"


def value_text(key: str, v: object) -> Text:
    """One value of an audited command as the console writes it elsewhere: a list joined, yes/no, a time
    in UTC and a duration readable (the raw number beside them, dim), an amount of USDC grouped."""
    if isinstance(v, bool):
        return Text("yes" if v else "no")
    if v is None:
        return Text("—")
    if isinstance(v, list | tuple):
        return Text(", ".join(map(str, v)))
    if isinstance(v, dict):
        return Text(json.dumps(v, sort_keys=True, default=str))
    if isinstance(v, int) and (key == "ts" or key.endswith("_ts")):
        return Text(f"{fmt.date_time(v)} UTC") + Text(f"  ({v})", style="dim")
    if isinstance(v, int) and key in ("seq", "to_seq"):
        return Text(f"{v:,}")
    if isinstance(v, int) and key.endswith("_ms"):
        return Text(fmt.duration(v)) + Text(f"  ({v} ms)", style="dim")
    if key == "amount" and isinstance(v, str) and (money := _decimal_money(v)) is not None:
        return Text(f"{money} USDC")
    return Text(str(v))


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
                t.append_text(value_text(k, v))
                t.append("\n")
        t.append("\ncommand\n", style="bold")
        for k in sorted(cmd):
            t.append(f"  {k:<16}", style="dim")
            t.append_text(value_text(k, cmd[k]))
            t.append("\n")
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
