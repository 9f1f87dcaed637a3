"""The emergency brake: a preview of what it cancels (orders per market, TP/SL kept, accounts affected,
markets to halt), a required reason, Cancel focused. No single-letter shortcut: Enter presses the
focused button only (Cancel unless you moved). Built once by the app and kept (:meth:`reset` makes it
new again before each opening); its dimmed backdrop is kept while it is open."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Button, Input, Static

from ..widgets.backdrop import KeptBackdrop
from .confirm import ConfirmDialog


class BrakeModal(KeptBackdrop, ConfirmDialog):
    """Preview what the brake cancels; Cancel has the focus; a typed reason is required."""

    #: its rules (user CSS, loaded when the screen is first installed; scoped to this screen)
    CSS = """
    #brake-preview { height: auto; margin-bottom: 1; }
    """

    cancel_value = False

    def __init__(self, preview: dict | None) -> None:
        super().__init__("EMERGENCY BRAKE", None, "Trip the brake", reason_id="brake-reason",
                         reason_placeholder="why you trip it", error_id="brake-error", confirm_id="trip",
                         id="brake-modal")
        self.data = preview

    def reset(self) -> None:
        """Make a kept modal new again before it is shown (the app builds it once: composing and
        styling a dialog on every press was most of the time to open it)."""
        self.data = None
        self.reason = ""
        self.typing_into = None
        if self.is_mounted and self.query("#brake-preview"):  # (installed, not yet composed: compose shows it)
            self.query_one("#brake-reason", Input).value = ""
            self.query_one("#brake-error", Static).update("")
            self._show()
            self.query_one(VerticalScroll).scroll_home(animate=False)
            self.query_one("#cancel", Button).focus()

    def load(self, preview: dict) -> None:
        """The preview arrived (live mode reads it off the UI thread)."""
        self.data = preview
        if self.is_mounted and self.query("#brake-preview"):  # (installed, not yet composed: compose shows it)
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

    def compose_body(self) -> ComposeResult:
        yield Static("Trip it and in one step: platform access is disabled, every market is halted, "
                     "liquidations and TP/SL triggers pause, and every open order is canceled except "
                     "stop-loss / take-profit orders.", classes="explain")
        yield Static(self._preview_table(), id="brake-preview")
        yield Static(self._summary(), id="brake-summary")
        yield Static(self._engaged_note(), id="brake-engaged-note")

    def on_mount(self) -> None:
        if not self.query("#brake-preview"):  # mounted without its body (an app closing around it)
            return
        self._show()  # the preview may have arrived between compose and mount (then ConfirmDialog's runs)
        self.query_one("#cancel", Button).focus()

    def blocked(self) -> bool:
        if self.data is None:
            self.app.notify("Wait for the preview before tripping the brake.", severity="warning")
            return True
        return False

    def result(self) -> bool:
        return True
