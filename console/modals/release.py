"""Release the brake through the validation gate: every failing check is listed; release is offered only
when none fail, with a required reason; Cancel focused."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Button, Input, Static

from engine.api.vocabulary import VALIDATION_CHECKS

from .. import format as fmt
from ..widgets.backdrop import KeptBackdrop
from .confirm import ConfirmDialog


def check_list(failing: set[str] | frozenset[str] = frozenset()) -> Text:
    """Every validation check the gate runs, one per line: ✓ passed or ✗ failed, with what it means."""
    t = Text()
    for name, means in VALIDATION_CHECKS.items():
        bad = name in failing
        t.append("  ✗ " if bad else "  ✓ ", style="bold red" if bad else "bold green")
        t.append(f"{means}\n", style="" if bad else "dim")
    return t


class ReleaseModal(KeptBackdrop, ConfirmDialog):
    """The validation gate: every failing check is listed; release is offered only when none fail."""

    #: its rules (user CSS, loaded when the screen is first installed; scoped to this screen)
    CSS = """
    #checks { height: auto; margin-bottom: 1; }
    """

    cancel_value = False

    def __init__(self, failures: list[dict] | None) -> None:
        super().__init__("RELEASE THE BRAKE", None, "Release", reason_id="release-reason",
                         reason_placeholder="why you release it", error_id="release-error", confirm_id="release",
                         confirm_variant="warning", id="release-modal")
        self.data = failures
        #: the checks as last composed (None: "running"); a result that arrives between compose and
        #: mount is shown on mount (``is_mounted`` is still False then, so ``load`` cannot rebuild)
        self.shown: list[dict] | None = None

    @property
    def failures(self) -> list[dict]:
        return self.data or []

    def load(self, failures: list[dict]) -> None:
        self.data = failures
        if self.is_mounted:
            self.call_later(self._rebuild)

    def on_mount(self) -> None:
        if self.data is not self.shown:
            self.call_later(self._rebuild)

    async def _rebuild(self) -> None:
        typed = self.reason
        await self.recompose()
        self.query_one("#release-reason", Input).value = typed
        self.query_one("#cancel", Button).focus()

    def dialog_classes(self) -> str:
        return "warning" if not self.failures else "danger"

    def compose_body(self) -> ComposeResult:
        self.shown = self.data
        yield Static("Release goes through the validation gate. Markets reopen in post_only, "
                     "never straight to open; access and liquidations resume.", classes="explain")
        if self.data is None:
            yield Static(Text("running the validation checks…", style="dim"), id="checks")
        elif self.failures:
            t = Text()
            t.append(f"{fmt.count_of(len(self.failures), 'validation check')} "
                     f"{'fails' if len(self.failures) == 1 else 'fail'}; release is refused:\n", style="bold red")
            for f in self.failures:
                t.append(f"  ✗ {f['check']}", style="bold")
                t.append(f": {f['detail']}\n")
            failed = {f["check"] for f in self.failures}
            passed = [name for name in VALIDATION_CHECKS if name not in failed]
            if passed:
                t.append("  ✓ " + ", ".join(passed) + "\n", style="green")
            yield Static(t, id="checks")
        else:
            t = Text("✓ every validation check passes:\n", style="bold green")
            yield Static(t + check_list(), id="checks")

    def ready(self) -> bool:
        return self.data is not None and not self.failures

    def blocked(self) -> bool:
        if self.data is None:
            self.app.notify("The validation checks are still running.", severity="warning")
            return True
        if self.failures:
            names = ", ".join(sorted({f["check"] for f in self.failures}))
            self.app.notify(f"Release refused: {fmt.count_of(len(self.failures), 'validation check')} "
                            f"{'fails' if len(self.failures) == 1 else 'fail'} ({names})",
                            title="Validation gate", severity="error")
            return True
        return False

    def result(self) -> bool:
        return True
