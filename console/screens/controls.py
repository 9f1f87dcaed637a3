"""Operator controls that need one value besides the reason: reschedule / extend a maintenance window,
an account's mode, the market whose orders to cancel.

:class:`FieldConfirmModal` is :class:`~console.dialogs.ConfirmModal` with one more field (an input
checked as it is typed, or a choice): Cancel focused, a required reason, the confirm button disabled
until both are good, Enter in a field moves on, Esc cancels. It dismisses with
``{"value": ..., "reason": ...}`` or None.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ..dialogs import Dialog

#: a checker of the typed value: (the command's value, or None and the problem)
Check = Callable[[str], tuple[object, str]]


class FieldConfirmModal(ModalScreen[dict | None]):
    AUTO_FOCUS = "#cancel"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="field_confirm_cancel")]

    def __init__(self, title: str, explain: str | Text, confirm: str, label: str, *,
                 check: Check | None = None, options: list[tuple[str, str]] | None = None,
                 value: str | None = None, placeholder: str = "", danger: bool = True,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        assert (check is None) != (options is None), "an input with a check, or a choice"
        self.title_text = title
        self.explain = explain
        self.confirm_label = confirm
        self.label = label
        self.check = check
        self.options = options
        self.initial = value
        self.placeholder = placeholder
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Dialog(classes="danger" if self.danger else "warning"):
            yield Label(self.title_text, id="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.explain, classes="explain", id="field-explain")
                yield Label(self.label)
                if self.options is not None:
                    yield Select(self.options, value=self.initial if self.initial is not None else self.options[0][1],
                                 allow_blank=False, id="field-value")
                else:
                    yield Input(value=self.initial or "", placeholder=self.placeholder, id="field-value")
                yield Static("", id="field-error", classes="field-error")
                yield Label("Reason (journaled, required):")
                yield Input(placeholder="why (journaled, required)", id="field-reason")
                yield Static("", id="confirm-error", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(self.confirm_label, id="confirm", variant="error" if self.danger else "warning",
                             disabled=True)

    def on_mount(self) -> None:
        self._update(show_problem=False)

    def value(self) -> tuple[object, str]:
        w = self.query_one("#field-value")
        if isinstance(w, Select):
            return w.value, ""
        assert isinstance(w, Input) and self.check is not None
        text = w.value.strip()
        if not text:
            return None, "required"
        return self.check(text)

    def reason(self) -> str:
        return self.query_one("#field-reason", Input).value.strip()

    def _update(self, show_problem: bool = True) -> None:
        value, problem = self.value()
        shown = problem if show_problem and problem != "required" else ""  # not before something is typed
        self.query_one("#field-error", Static).update(Text(f"✗ {shown}", style="bold red") if shown else "")
        self.query_one("#confirm", Button).disabled = bool(problem) or value is None or not self.reason()
        self.query_one("#confirm-error", Static).update("")

    def on_input_changed(self, event: Input.Changed) -> None:
        self._update()

    def on_select_changed(self, event: Select.Changed) -> None:
        self._update()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "field-value":
            self.query_one("#field-reason", Input).focus()
            return
        if not self.reason():
            self.query_one("#confirm-error", Static).update(Text("✗ a reason is required", style="bold red"))
            return
        self.query_one("#confirm", Button).focus()  # Enter again (on the button) confirms

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm":
            self.action_confirm()
        else:
            self.dismiss(None)

    def action_confirm(self) -> None:
        value, problem = self.value()
        if problem or value is None:
            self.query_one("#field-error", Static).update(Text(f"✗ {problem or 'required'}", style="bold red"))
            return
        if not self.reason():
            self.query_one("#confirm-error", Static).update(Text("✗ a reason is required", style="bold red"))
            return
        self.dismiss({"value": value, "reason": self.reason()})

    def action_cancel(self) -> None:
        self.dismiss(None)
