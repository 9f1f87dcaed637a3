"""The one confirm/reason dialog every confirmation goes through.

A title, a summary (or a preview a subclass composes), optional typed fields (an input checked as it
is typed, a choice, a checkbox, a typed confirmation word), the required reason, and two buttons:
Cancel (focused by default) and the confirm button, danger-styled for a dangerous action.

Layout (console/app.tcss, ``#dialog``): at most the screen; the title docked on top, the buttons docked
at the bottom (always visible, even at 80x24), the body between them scrolls. The keys are shown in
the bottom border: Tab/Shift+Tab move, Enter presses the focused button, Esc cancels; there are no
single-letter shortcuts in a dialog.

Two ways to validate:

* ``strict`` (the default): the confirm button is disabled until every field is good; a field's problem
  is shown under it as it is typed; Enter in a field moves on to the next one, and in the last one
  shows what is missing or moves to the confirm button (a second Enter confirms).
* not strict (the refunds' reason and proposal forms): the confirm button is always enabled; Enter
  in any field confirms; every problem is listed in the dialog's error line.

It dismisses with :meth:`result` (by default: True without fields, the reason when the reason is the
only field, else ``{field key: value, ..., "reason": ...}``), or with None (``cancel_value``) when
canceled. Subclasses compose a preview (:meth:`compose_body`), add a condition (:meth:`ready`,
:meth:`blocked`) or shape the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from ..widgets.dialog import KEYS_HINT, Dialog
from .field import Field


class ConfirmDialog(ModalScreen[object]):
    AUTO_FOCUS = "#cancel"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog_cancel")]

    #: what a canceled dialog dismisses with
    cancel_value: object = None

    def __init__(self, title: str, body: str | Text | None = None, confirm: str = "Confirm", *,
                 fields: Sequence[Field] = (), reason: bool = True, danger: bool | None = True,
                 reason_id: str = "confirm-reason", reason_placeholder: str | None = None,
                 body_id: str = "confirm-explain", error_id: str = "confirm-error",
                 error_class: str = "field-error", confirm_id: str = "confirm", confirm_variant: str | None = None,
                 strict: bool = True, keys: str = KEYS_HINT, dismiss: str = "Cancel", id: str | None = None) -> None:
        super().__init__(id=id)
        self.title_text = title
        self.body = body
        self.confirm_label = confirm
        all_fields = list(fields)
        if reason:
            all_fields.append(Field.reason(reason_id) if reason_placeholder is None
                              else Field.reason(reason_id, reason_placeholder))
        self.fields: list[Field] = all_fields
        self.danger = danger
        self.body_id = body_id
        self.error_id = error_id
        self.error_class = error_class
        self.confirm_id = confirm_id
        self.confirm_variant = confirm_variant or ("error" if danger else "warning")
        self.strict = strict
        self.keys = keys
        #: the label of the button that closes the dialog without acting (id "cancel"): "Keep window" where
        #: the action itself is a cancel ("Cancel" beside "Cancel window" read as two ways to cancel it)
        self.dismiss_label = dismiss
        #: the reason as last typed (kept after the dialog closes: the caller reads it)
        self.reason = ""
        #: the field a burst of typing that began on a button is going into (see :meth:`on_key`)
        self.typing_into: Input | None = None

    # ---- composition ----------------------------------------------------------------
    def dialog_classes(self) -> str | None:
        return None if self.danger is None else "danger" if self.danger else "warning"

    def compose(self) -> ComposeResult:
        with Dialog(keys=self.keys, classes=self.dialog_classes()):
            yield Label(self.title_text, id="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield from self.compose_body()
                for f in self.fields:
                    yield from self._compose_field(f)
                yield Static("", id=self.error_id, classes=self.error_class)
            with Horizontal(classes="buttons"):
                yield Button(self.dismiss_label, id="cancel", variant="primary")
                yield Button(self.confirm_label, id=self.confirm_id, variant=self.confirm_variant,
                             disabled=self.strict and not self.can_confirm_initially())

    def compose_body(self) -> ComposeResult:
        """The summary or preview above the fields."""
        if self.body is not None:
            yield Static(self.body, classes="explain", id=self.body_id)

    def _compose_field(self, f: Field) -> Iterable:
        if f.label and f.kind != "checkbox":
            yield Label(f.label)
        if f.kind == "select":
            assert f.options
            yield Select(list(f.options), value=f.value if f.value is not None else f.options[0][1],
                         allow_blank=False, id=f.id)
        elif f.kind == "checkbox":
            yield Checkbox(f.label, bool(f.value), id=f.id)
        else:
            initial = self.reason if f.kind == "reason" else str(f.value or "")
            # (no select-all on focus: a letter typed while a button has the focus is put into the field,
            # and the focus arriving after it must not select it for the next letter to replace)
            yield Input(initial, placeholder=f.placeholder, id=f.id, select_on_focus=False)
        if f.error_id:
            yield Static("", id=f.error_id, classes="field-error")

    def on_mount(self) -> None:
        if not self.query("#cancel"):  # mounted without its body: an app closing around a dialog just opened
            return
        if self.strict:
            self._refresh_state(show_problems=False)

    # ---- values and problems --------------------------------------------------------
    def field_value(self, f: Field) -> tuple[object, str]:
        """(value, problem) of one field; the problem is "" when it is good."""
        w = self.query_one(f"#{f.id}")
        if isinstance(w, Select):
            return w.value, ""
        if isinstance(w, Checkbox):
            return w.value, "" if w.value or not f.required else f.missing
        assert isinstance(w, Input)
        text = w.value.strip()
        if f.kind == "word":
            return text, "" if text == f.word else f.missing
        if not text:
            return text, f.missing if f.required else ""
        if f.check is not None:
            return f.check(text)
        return text, ""

    def problems(self) -> list[tuple[Field, str]]:
        """Every field's problem, in the order they are checked (the order of the fields)."""
        out = []
        for f in self.ordered_fields():
            value, problem = self.field_value(f)
            if problem or (value is None and f.required):
                out.append((f, problem or f.missing))
        return out

    def ordered_fields(self) -> list[Field]:
        """The order problems are reported in (the order shown, unless a subclass says otherwise)."""
        return self.fields

    def can_confirm_initially(self) -> bool:
        """Whether the fields as composed (before any typing) allow confirming."""
        for f in self.fields:
            if not f.required or f.kind == "select":
                continue
            if f.kind == "reason":
                if not self.reason:
                    return False
            elif f.kind == "checkbox":
                if not f.value:
                    return False
            else:
                text = str(f.value or "").strip()
                if not text or (f.kind == "word" and text != f.word) or (f.check and f.check(text)[1]):
                    return False
        return self.ready()

    def ready(self) -> bool:
        """A condition besides the fields (e.g. a preview that has arrived and allows it)."""
        return True

    def blocked(self) -> bool:
        """Checked first when confirming: True (having told the operator why) refuses to confirm."""
        return False

    def result(self) -> object:
        """What a confirmed dialog dismisses with."""
        if not self.fields:
            return True
        if len(self.fields) == 1 and self.fields[0].kind == "reason":
            return self.reason
        out: dict[str, object] = {}
        for f in self.fields:
            out[f.name] = self.field_value(f)[0]
        return out

    # ---- errors ---------------------------------------------------------------------
    def show_error(self, f: Field | None, msg: str) -> None:
        line = f.error_id if f is not None and f.error_id and self.strict else self.error_id
        self.query_one(f"#{line}", Static).update(Text(f"✗ {msg}", style="bold red") if msg else "")

    def _refresh_state(self, show_problems: bool = True) -> None:
        """Strict mode: the confirm button follows the fields; each field's own error line shows its
        problem as it is typed (not "missing": nothing is wrong before something is typed)."""
        problems = self.problems()
        for f in self.fields:
            if f.error_id:
                shown = next((p for g, p in problems if g is f and p != f.missing), "") if show_problems else ""
                self.show_error(f, shown)
                if not shown and f.describe is not None and show_problems:
                    value, problem = self.field_value(f)
                    if value is not None and value != "" and not problem:  # what the typed value means
                        self.query_one(f"#{f.error_id}", Static).update(Text(f"→ {f.describe(value)}", style="bold"))
        self.query_one(f"#{self.confirm_id}", Button).disabled = bool(problems) or not self.ready()
        self.show_error(None, "")

    # ---- events ---------------------------------------------------------------------
    def _note_reason(self) -> None:
        for f in self.fields:
            if f.kind == "reason":
                self.reason = self.query_one(f"#{f.id}", Input).value.strip()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._note_reason()
        if self.strict:
            self._refresh_state()

    def on_select_changed(self, event: Select.Changed) -> None:
        if self.strict:
            self._refresh_state()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if self.strict:
            self._refresh_state()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not self.strict:
            self.action_confirm()
            return
        inputs = [f for f in self.fields if f.kind in ("input", "reason", "word")]
        at = next((i for i, f in enumerate(inputs) if f.id == event.input.id), None)
        if self.enter_moves_on() and at is not None and at + 1 < len(inputs):
            self.query_one(f"#{inputs[at + 1].id}", Input).focus()
            return
        problems = self.problems()
        if problems:
            self.show_error(*problems[0])
        elif self.ready():
            self.query_one(f"#{self.confirm_id}", Button).focus()  # Enter again (on the button) confirms

    def enter_moves_on(self) -> bool:
        """Enter in a field that is not the last moves to the next one (else it checks the dialog)."""
        return True

    def on_key(self, event: events.Key) -> None:
        """A letter typed while a button has the focus (Cancel, as the dialog opens) goes into the first
        field still to fill, usually the reason, and so do the keys typed right behind it (a terminal
        delivers a fast typist's burst before the focus has moved: they reach the dialog unhandled, as
        an Input would have kept them). A space on its own stays the focused control's key; Enter still
        presses the focused button; nothing here can confirm."""
        char = event.character
        if not event.is_printable or not char:
            self.typing_into = None
            return
        if char == " " and self.typing_into is None:
            return
        target = self.typing_into
        if target is None:
            todo = [f for f, _ in self.problems() if f.kind in ("input", "reason", "word")]
            f = todo[0] if todo else next((f for f in self.fields if f.kind == "reason"), None)
            if f is None:
                return
            target = self.query_one(f"#{f.id}", Input)
        self.typing_into = target
        self.set_focus(target)
        target.insert_text_at_cursor(char)
        event.stop()
        event.prevent_default()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == self.confirm_id:
            self.action_confirm()
        else:
            self.action_cancel()

    def action_confirm(self) -> None:
        self._note_reason()
        if self.blocked():
            return
        problems = self.problems()
        if problems:
            if self.strict:
                self.show_error(*problems[0])
            else:
                self.show_error(None, "; ".join(p for _, p in problems))
            return
        self.dismiss(self.result())

    def action_cancel(self) -> None:
        self.dismiss(self.cancel_value)
