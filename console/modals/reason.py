"""A refund decision's reason (approve / reject): the confirm dialog with only the reason, focused, Enter
confirms. Dismisses with the reason, or None."""

from __future__ import annotations

from .confirm import ConfirmDialog
from .field import Field


class ReasonModal(ConfirmDialog):
    AUTO_FOCUS = "#reason"  # (Textual focuses it once composed: no query of a child that may be gone)

    def __init__(self, title: str) -> None:
        super().__init__(title, None, "Confirm", reason=False, fields=[Field.reason("reason", placeholder="")],
                         danger=None, error_id="reason-error", confirm_id="ok", strict=False)
