"""Propose a refund by hand: account, amount, the reason, evidence (free text or JSON). The confirm dialog,
not strict: Enter confirms, every problem is listed at once. Dismisses with
``{"account", "amount", "reason", "evidence"}`` or None."""

from __future__ import annotations

import json
import re

from .confirm import ConfirmDialog
from .field import Field

#: what proposing does (and does not): said above the fields
PROPOSE_EXPLAIN = ("Nothing is paid yet: a second operator approves it (y, or f from the treasury) or rejects it "
                   "(x), then it is paid (p). The account must exist; the amount is in USDC.")
AMOUNT_PROBLEM = "the amount must be a positive decimal such as 1250.50"


def check_amount(text: str) -> tuple[object, str]:
    if not re.fullmatch(r"\d+(\.\d{1,6})?", text) or not text.strip("0."):
        return None, AMOUNT_PROBLEM
    return text, ""


class ProposeModal(ConfirmDialog):
    AUTO_FOCUS = "#p-account"  # (Textual focuses it once composed: no query of a child that may be gone)

    def __init__(self) -> None:
        super().__init__("Propose a refund", PROPOSE_EXPLAIN, "Propose", reason=False, danger=None, error_id="p-error",
                         confirm_id="ok", strict=False, fields=[
                             # (each input names itself too: on a short terminal its label may be scrolled off)
                             Field("p-account", "Account", key="account", missing="an account is required",
                                   placeholder="account, e.g. lev0001L"),
                             Field("p-amount", "Amount (USDC)", key="amount", placeholder="USDC, e.g. 1250.50",
                                   check=check_amount, missing=AMOUNT_PROBLEM),
                             Field.reason("p-reason", placeholder="why (journaled, required)",
                                          label="Reason (journaled, required)"),
                             Field("p-evidence", "Evidence (free text or JSON)", key="evidence", required=False,
                                   placeholder="evidence (optional): free text or JSON"),
                         ])

    def on_mount(self) -> None:
        super().on_mount()
        # the account field has the focus: show the dialog from its top (what proposing does, the field's
        # label), not scrolled down to the field as focusing it does on a short terminal
        self.call_after_refresh(lambda: self.query_one(".dialog-body").scroll_home(animate=False))

    def result(self) -> dict:
        v = super().result()
        assert isinstance(v, dict)
        text = str(v["evidence"])
        try:
            evidence = json.loads(text) if text.startswith("{") else {"note": text}
        except ValueError:
            evidence = {"note": text}
        return {"account": v["account"], "amount": v["amount"], "reason": v["reason"], "evidence": evidence}
