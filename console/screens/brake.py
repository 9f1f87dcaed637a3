"""The emergency brake and its release: dangerous actions confirm, defaulting to Cancel."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ..widgets import KeptBackdrop


class BrakeModal(KeptBackdrop, ModalScreen[bool]):
    """Preview what the brake cancels; Cancel has the focus."""

    BINDINGS = [
        Binding("escape,n", "cancel", "Cancel", id="brake_cancel"),
        Binding("y", "trip", "Trip the brake", id="brake_trip"),
    ]

    DEFAULT_REASON = "emergency brake from console"

    def __init__(self, preview: dict | None) -> None:
        super().__init__(id="brake-modal")
        self.data = preview
        self.reason = self.DEFAULT_REASON

    def reset(self) -> None:
        """Make a kept modal new again before it is shown (the app builds it once: composing and
        styling a dialog on every press was most of the time to open it)."""
        self.data = None
        self.reason = self.DEFAULT_REASON
        if self.is_mounted:
            self.query_one("#brake-reason", Input).value = self.reason
            self._show()
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
        with Vertical(id="dialog", classes="danger"):
            yield Label("EMERGENCY BRAKE", id="dialog-title")
            yield Static("Trip it and in one step: platform access is disabled, every market is halted, "
                         "liquidations and TP/SL triggers pause, and every open order is canceled except "
                         "stop-loss / take-profit orders.", classes="explain")
            yield Static(self._preview_table(), id="brake-preview")
            yield Static(self._summary(), id="brake-summary")
            yield Static(self._engaged_note(), id="brake-engaged-note")
            yield Input(self.reason, placeholder="reason (journaled)", id="brake-reason")
            with Horizontal(classes="buttons"):
                yield Button("Cancel [n]", id="cancel", variant="primary")
                yield Button("Trip the brake [y]", id="trip", variant="error")

    def on_mount(self) -> None:
        self._show()  # the preview may have arrived between compose and mount
        self.query_one("#cancel", Button).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.reason = event.value.strip() or self.DEFAULT_REASON

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "trip":
            self.action_trip()
        else:
            self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_trip(self) -> None:
        if self.data is None:
            self.app.notify("Wait for the preview before tripping the brake.", severity="warning")
            return
        self.dismiss(True)


class ReleaseModal(KeptBackdrop, ModalScreen[bool]):
    """The validation gate: every failing check is listed; release is offered only when none fail."""

    AUTO_FOCUS = "#cancel"  # (Textual focuses it once composed: no query of a child that may be gone)

    BINDINGS = [
        Binding("escape,n", "cancel", "Cancel", id="release_cancel"),
        Binding("y", "release", "Release", id="release_confirm"),
    ]

    def __init__(self, failures: list[dict] | None) -> None:
        super().__init__(id="release-modal")
        self.data = failures
        self.reason = "validation passed; releasing"

    @property
    def failures(self) -> list[dict]:
        return self.data or []

    def load(self, failures: list[dict]) -> None:
        self.data = failures
        if self.is_mounted:
            self.call_later(self._rebuild)

    async def _rebuild(self) -> None:
        await self.recompose()
        self.query_one("#cancel", Button).focus()

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="warning" if not self.failures else "danger"):
            yield Label("RELEASE THE BRAKE", id="dialog-title")
            yield Static("Release goes through the validation gate. Markets reopen in post_only, "
                         "never straight to open; access and liquidations resume.", classes="explain")
            if self.data is None:
                yield Static(Text("running the validation checks…", style="dim"), id="checks")
            elif self.failures:
                t = Text()
                t.append(f"{len(self.failures)} validation check(s) fail; release is refused:\n", style="bold red")
                for f in self.failures:
                    t.append(f"  ✗ {f['check']}", style="bold")
                    t.append(f": {f['detail']}\n")
                yield Static(t, id="checks")
            else:
                yield Static(Text("✓ every validation check passes", style="bold green"), id="checks")
            yield Input(self.reason, placeholder="reason (journaled)", id="release-reason")
            with Horizontal(classes="buttons"):
                yield Button("Cancel [n]", id="cancel", variant="primary")
                yield Button("Release [y]", id="release", variant="warning",
                             disabled=self.data is None or bool(self.failures))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.reason = event.value.strip() or "validation passed; releasing"

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "release":
            self.action_release()
        else:
            self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_release(self) -> None:
        if self.data is None:
            self.app.notify("The validation checks are still running.", severity="warning")
            return
        if self.failures:
            names = ", ".join(sorted({f["check"] for f in self.failures}))
            self.app.notify(f"Release refused: {len(self.failures)} validation check(s) fail ({names})",
                            title="Validation gate", severity="error")
            return
        self.dismiss(True)
