"""The emergency brake and its release: dangerous actions confirm, defaulting to Cancel."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ..dialogs import Dialog
from ..widgets import KeptBackdrop


def _reason_missing(modal, button: str) -> None:
    """The one rule for reasons: required; the confirm button waits for one (never canned text)."""
    modal.query_one(button, Button).disabled = not modal.reason


class BrakeModal(KeptBackdrop, ModalScreen[bool]):
    """Preview what the brake cancels; Cancel has the focus; a typed reason is required. No
    single-letter shortcut: Enter presses the focused button only (Cancel unless you moved)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="brake_cancel")]

    def __init__(self, preview: dict | None) -> None:
        super().__init__(id="brake-modal")
        self.data = preview
        self.reason = ""

    def reset(self) -> None:
        """Make a kept modal new again before it is shown (the app builds it once: composing and
        styling a dialog on every press was most of the time to open it)."""
        self.data = None
        self.reason = ""
        if self.is_mounted:
            self.query_one("#brake-reason", Input).value = ""
            self.query_one("#brake-error", Static).update("")
            self._show()
            self.query_one(VerticalScroll).scroll_home(animate=False)
            self.query_one("#cancel", Button).focus()

    def load(self, preview: dict) -> None:
        """The preview arrived (live mode reads it off the UI thread)."""
        self.data = preview
        if self.is_mounted:
            self._show()

    def _show(self) -> None:
        self.query_one("#brake-preview", Static).update(self._preview_table())
        self.query_one("#brake-summary", Static).update(self._summary())
        self.query_one("#brake-engaged-note", Static).update(self._engaged_note())

    def _preview_table(self):
        if self.data is None:
            return Text("reading the preview…", style="dim")
        p = self.data
        t = Table(box=None, expand=True, show_edge=False)
        t.add_column("market")
        t.add_column("orders to cancel", justify="right")
        for m, n in sorted(p.get("canceled_by_market", {}).items()):
            t.add_row(m, f"{n:,}")
        t.add_row(Text("total", style="bold"), Text(f"{p.get('canceled_orders', 0):,}", style="bold"))
        return t

    def _summary(self) -> Text:
        p = self.data or {}
        return Text.assemble(
            ("TP/SL kept: ", "bold"), f"{p.get('kept_tpsl', 0):,}    ",
            ("accounts affected: ", "bold"), f"{p.get('accounts_affected', 0):,}    ",
            ("markets to halt: ", "bold"), ", ".join(p.get("markets_to_halt", [])) or "none")

    def _engaged_note(self) -> Text:
        engaged = (self.data or {}).get("already_engaged")
        return Text("The brake is already engaged.", style="bold red") if engaged else Text("")

    def compose(self) -> ComposeResult:
        with Dialog(classes="danger"):
            yield Label("EMERGENCY BRAKE", id="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static("Trip it and in one step: platform access is disabled, every market is halted, "
                             "liquidations and TP/SL triggers pause, and every open order is canceled except "
                             "stop-loss / take-profit orders.", classes="explain")
                yield Static(self._preview_table(), id="brake-preview")
                yield Static(self._summary(), id="brake-summary")
                yield Static(self._engaged_note(), id="brake-engaged-note")
                yield Label("Reason (journaled, required):")
                yield Input(self.reason, placeholder="why you trip it", id="brake-reason")
                yield Static("", id="brake-error", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Trip the brake", id="trip", variant="error", disabled=not self.reason)

    def on_mount(self) -> None:
        self._show()  # the preview may have arrived between compose and mount
        self.query_one("#cancel", Button).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.reason = event.value.strip()
        _reason_missing(self, "#trip")
        self.query_one("#brake-error", Static).update("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.reason:
            self.query_one("#trip", Button).focus()  # Enter again, on the button, trips it
        else:
            self.query_one("#brake-error", Static).update(Text("✗ a reason is required", style="bold red"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "trip":
            self.action_trip()
        else:
            self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_trip(self) -> None:
        self.reason = self.query_one("#brake-reason", Input).value.strip()
        if self.data is None:
            self.app.notify("Wait for the preview before tripping the brake.", severity="warning")
            return
        if not self.reason:
            self.query_one("#brake-error", Static).update(Text("✗ a reason is required", style="bold red"))
            return
        self.dismiss(True)


class ReleaseModal(KeptBackdrop, ModalScreen[bool]):
    """The validation gate: every failing check is listed; release is offered only when none fail."""

    AUTO_FOCUS = "#cancel"  # (Textual focuses it once composed: no query of a child that may be gone)

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="release_cancel")]

    def __init__(self, failures: list[dict] | None) -> None:
        super().__init__(id="release-modal")
        self.data = failures
        self.reason = ""

    @property
    def failures(self) -> list[dict]:
        return self.data or []

    def load(self, failures: list[dict]) -> None:
        self.data = failures
        if self.is_mounted:
            self.call_later(self._rebuild)

    async def _rebuild(self) -> None:
        typed = self.reason
        await self.recompose()
        self.query_one("#release-reason", Input).value = typed
        self.query_one("#cancel", Button).focus()

    def compose(self) -> ComposeResult:
        with Dialog(classes="warning" if not self.failures else "danger"):
            yield Label("RELEASE THE BRAKE", id="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static("Release goes through the validation gate. Markets reopen in post_only, "
                             "never straight to open; access and liquidations resume.", classes="explain")
                if self.data is None:
                    yield Static(Text("running the validation checks…", style="dim"), id="checks")
                elif self.failures:
                    t = Text()
                    t.append(f"{len(self.failures)} validation check(s) fail; release is refused:\n",
                             style="bold red")
                    for f in self.failures:
                        t.append(f"  ✗ {f['check']}", style="bold")
                        t.append(f": {f['detail']}\n")
                    yield Static(t, id="checks")
                else:
                    yield Static(Text("✓ every validation check passes", style="bold green"), id="checks")
                yield Label("Reason (journaled, required):")
                yield Input(self.reason, placeholder="why you release it", id="release-reason")
                yield Static("", id="release-error", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Release", id="release", variant="warning", disabled=not self._can_release())

    def _can_release(self) -> bool:
        return self.data is not None and not self.failures and bool(self.reason)

    def on_input_changed(self, event: Input.Changed) -> None:
        self.reason = event.value.strip()
        self.query_one("#release", Button).disabled = not self._can_release()
        self.query_one("#release-error", Static).update("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self._can_release():
            self.query_one("#release", Button).focus()  # Enter again, on the button, releases
        elif not self.reason:
            self.query_one("#release-error", Static).update(Text("✗ a reason is required", style="bold red"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "release":
            self.action_release()
        else:
            self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_release(self) -> None:
        self.reason = self.query_one("#release-reason", Input).value.strip()
        if self.data is None:
            self.app.notify("The validation checks are still running.", severity="warning")
            return
        if self.failures:
            names = ", ".join(sorted({f["check"] for f in self.failures}))
            self.app.notify(f"Release refused: {len(self.failures)} validation check(s) fail ({names})",
                            title="Validation gate", severity="error")
            return
        if not self.reason:
            self.query_one("#release-error", Static).update(Text("✗ a reason is required", style="bold red"))
            return
        self.dismiss(True)
