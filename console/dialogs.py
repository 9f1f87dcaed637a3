"""Dialog building blocks: a layout that fits any terminal, and the one confirmation every
irreversible action goes through.

Layout (app.tcss): ``#dialog`` is at most the screen; its title is docked on top, its buttons are
docked at the bottom (always visible, whatever the terminal's height), and the body between them
is a ``VerticalScroll`` that scrolls when it does not fit (Tab to a field scrolls it into view).
The dialog's keys are shown on screen, in its bottom border (:class:`Dialog`): there are no
single-letter shortcuts in a dangerous dialog, only Tab/Shift+Tab to move, Enter or Space on the
focused button, and Esc to cancel.

Reasons follow one rule everywhere: required, typed by the operator, never filled with canned
text; the confirm button is disabled until there is one.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

KEYS_HINT = "Tab/Shift+Tab move · Enter presses the focused button · Esc cancels"


class Dialog(Vertical):
    """A dialog's frame (``#dialog``): its keys shown in the bottom border, always on screen."""

    def __init__(self, *children, keys: str = KEYS_HINT, classes: str | None = None) -> None:
        super().__init__(*children, id="dialog", classes=classes)
        self.keys = keys

    def on_mount(self) -> None:
        self.border_subtitle = f" {self.keys} "


class ConfirmModal(ModalScreen[str | bool | None]):
    """Confirm an action: what it does, an optional required reason, Cancel focused.

    Dismisses with the reason (``reason=True``), True (no reason asked), or None (canceled). Enter
    in the reason field moves to the confirm button: confirming is always a press on that button."""

    AUTO_FOCUS = "#cancel"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="confirm_cancel")]

    def __init__(self, title: str, explain: str | Text, confirm: str, *, reason: bool = True,
                 danger: bool = True, placeholder: str = "why (journaled, required)", id: str | None = None) -> None:
        super().__init__(id=id)
        self.title_text = title
        self.explain = explain
        self.confirm_label = confirm
        self.ask_reason = reason
        self.danger = danger
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Dialog(classes="danger" if self.danger else "warning"):
            yield Label(self.title_text, id="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.explain, classes="explain", id="confirm-explain")
                if self.ask_reason:
                    yield Label("Reason (journaled, required):")
                    yield Input(placeholder=self.placeholder, id="confirm-reason")
                yield Static("", id="confirm-error", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(self.confirm_label, id="confirm", variant="error" if self.danger else "warning",
                             disabled=self.ask_reason)

    def reason(self) -> str:
        return self.query_one("#confirm-reason", Input).value.strip() if self.ask_reason else ""

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = self.ask_reason and not self.reason()
        self.query_one("#confirm-error", Static).update("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.ask_reason and not self.reason():
            self._error("a reason is required")
            return
        self.query_one("#confirm", Button).focus()  # Enter again (on the button) confirms

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm":
            self.action_confirm()
        else:
            self.dismiss(None)

    def _error(self, msg: str) -> None:
        self.query_one("#confirm-error", Static).update(Text(f"✗ {msg}", style="bold red"))

    def action_confirm(self) -> None:
        if self.ask_reason and not self.reason():
            self._error("a reason is required")
            return
        self.dismiss(self.reason() if self.ask_reason else True)

    def action_cancel(self) -> None:
        self.dismiss(None)
