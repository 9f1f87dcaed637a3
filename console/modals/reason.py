"""A refund decision's reason (approve / reject): the confirm dialog with only the reason, focused, Enter
confirms; what the decision does above it, the decision on the button. Dismisses with the reason, or None."""

from __future__ import annotations

from .confirm import ConfirmDialog
from .field import Field


class ReasonModal(ConfirmDialog):
    AUTO_FOCUS = "#reason"  # (Textual focuses it once composed: no query of a child that may be gone)

    def __init__(self, title: str, body=None, confirm: str = "Confirm") -> None:
        super().__init__(title, body, confirm, reason=False, fields=[Field.reason("reason", placeholder="")],
                         danger=None, error_id="reason-error", confirm_id="ok", strict=False)
