"""Roll back to a snapshot: what returns and what is undone, the snapshot id typed to confirm, a reason,
and on a venue that is not braked an override to tick; Cancel is the default. Dismisses with
``(reason, overridden)`` or None."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from .confirm import ConfirmDialog
from .field import Field

OVERRIDE = "Override: roll back the live venue without the brake"


class RollbackModal(ConfirmDialog):
    """Type the snapshot id and a reason (and, on a venue that is not braked, tick the override)."""

    def __init__(self, preview: dict, *, needs_override: bool = False, note: str = "") -> None:
        self.p = preview
        self.needs_override = needs_override
        self.note = note
        sid = preview["snapshot_id"]
        fields = ([Field("override", OVERRIDE, kind="checkbox", key="override",
                         missing="the venue is not braked: tick the override to roll back anyway")]
                  if needs_override else [])
        fields += [Field.confirm_word(sid)]
        super().__init__(f"ROLL BACK TO {sid}", None, "Roll back", fields=fields,
                         reason_placeholder="e.g. corrupted market data after the 04:30 restart",
                         error_class="error", id="rollback-modal")

    def compose_body(self) -> ComposeResult:
        p, tot = self.p, self.p["totals"]
        if self.note:
            yield Static(Text(self.note, style="bold yellow"), id="rollback-note")
        yield Static(
            f"State returns to seq {p['to_seq']:,} ({p.get('label', '')}). {p['discarded_commands']:,} "
            f"commands are kept in the journal, marked rolled back. {tot['accounts_affected']:,} accounts "
            f"change; {tot['trades_undone']:,} trades and {tot['liquidations_undone']:,} liquidations are "
            f"undone. The brake, access and market modes stay as they are now.", classes="explain")
        if self.needs_override:
            yield Static(Text("The venue is LIVE and the brake is NOT engaged: trading continues while "
                              "you roll back, and the preview is recomputed when you confirm.",
                              style="bold red"), id="override-warning")

    def ordered_fields(self) -> list[Field]:
        # the typed id first, then the reason, then the override (what is missing first is named first)
        return sorted(self.fields, key=lambda f: {"word": 0, "reason": 1}.get(f.kind, 2))

    def enter_moves_on(self) -> bool:
        return False  # Enter in either field checks the whole dialog

    def show_error(self, f: Field | None, msg: str) -> None:
        self.query_one(f"#{self.error_id}", Static).update(msg)  # (plain, in the dialog's error line)

    def result(self) -> tuple[str, bool]:
        return self.reason, bool(self.needs_override and self.field_value(self.fields[0])[0])
