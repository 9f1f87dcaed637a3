"""Help (`?`): every key binding, grouped, with what it does. A viewer, not a confirmation."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static


class HelpScreen(ModalScreen[None]):
    #: its rules (user CSS, loaded when the screen is first installed; scoped to this screen)
    CSS = """
    HelpScreen #dialog { width: 120; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help_close")]

    def __init__(self, under=None) -> None:
        super().__init__(id="help")
        self.under = under

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
            seen = set()
            sources = [("app", app.BINDINGS)] + ([("screen", under.BINDINGS)] if under is not None else [])
            for _src, bindings in sources:
                for b in bindings:
                    if not isinstance(b, Binding) or b.id in seen:
                        continue
                    seen.add(b.id)
                    why = app.why_not(b.action.split("(")[0])
                    desc = b.tooltip or b.description
                    if why:
                        desc += f" (unavailable: {why})"
                    t.add_row(b.key_display or app.get_key_display(b), b.description, desc, b.group.description if b.group else "")
            t.add_row("^p", "Command palette", "every action above, searchable", "")
            t.add_row("^q", "Quit", "leave the console, after a confirmation (the venue stops with it)", "")
            yield Static(t)
            yield Static("Dangerous actions open a confirmation that defaults to Cancel and asks for a reason; "
                         "in a dialog, Tab/Shift+Tab move, Enter presses the focused button, Esc cancels (no "
                         "single-letter shortcuts). Dimmed keys in the footer are not available to your role or "
                         "in the venue's current state; pressing one tells you why.", classes="explain")
