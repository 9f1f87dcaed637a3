"""Help (`?`): every key binding, grouped, with what it does. A viewer, not a confirmation."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ..widgets.tabs import own_bindings

#: the keys that close Help, shown in its frame's bottom border (as every dialog shows its keys)
CLOSE_KEYS = " Esc, q or ? closes · ↑/↓ scroll "


class HelpScreen(ModalScreen[None]):
    #: its rules (user CSS, loaded when the screen is first installed; scoped to this screen)
    CSS = """
    HelpScreen #dialog { width: 120; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help_close")]

    def __init__(self, under=None) -> None:
        super().__init__(id="help")
        self.under = under

    def on_mount(self) -> None:
        self.query_one("#dialog").border_subtitle = CLOSE_KEYS

    def compose(self) -> ComposeResult:
        app = self.app
        under = self.under
        with VerticalScroll(id="dialog"):
            yield Label("perpdesk — keys", id="dialog-title")
            t = Table(box=None, expand=True)
            t.add_column("key", style="bold cyan", no_wrap=True)
            t.add_column("action", style="bold")
            t.add_column("what it does")
            t.add_column("group", style="dim")
            # one row per action: its keys together (^b and ! both trip the brake), as people type them
            rows: dict[tuple, list] = {}
            bindings = own_bindings(type(app)) + (own_bindings(type(under)) if under is not None else [])
            for b in bindings:
                if not isinstance(b, Binding):
                    continue
                keys = b.key_display or app.get_key_display(b)
                row = rows.get((b.action, b.description))
                if row is None:
                    rows[(b.action, b.description)] = [keys, b]
                elif keys not in row[0].split(" "):
                    row[0] += f" {keys}"
            for keys, b in rows.values():
                why = app.why_not(b.action.split("(")[0])
                desc = b.tooltip or b.description
                if why:
                    desc += f" (unavailable: {why})"
                t.add_row(keys, b.description, desc, b.group.description if b.group else "")
            t.add_row("^p", "Command palette", "every action above, searchable", "")
            t.add_row("^q", "Quit", f"leave the console after a confirmation; {app.quit_consequence(short=True)}", "")
            yield Static(t)
            yield Static("Dangerous actions open a confirmation that defaults to Cancel and asks for a reason; "
                         "in a dialog, Tab/Shift+Tab move, Enter presses the focused button, Esc cancels (no "
                         "single-letter shortcuts). Dimmed keys in the footer are not available to your role or "
                         "in the venue's current state; pressing one tells you why.", classes="explain")
