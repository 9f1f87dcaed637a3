"""Propose a refund by hand: account, amount, the reason, evidence (free text or JSON). The confirm dialog,
not strict: Enter confirms, every problem is listed at once. Dismisses with
``{"account", "amount", "reason", "evidence"}`` or None."""

from __future__ import annotations

import json
import re

from .confirm import ConfirmDialog
from .field import Field

AMOUNT_PROBLEM = "the amount must be a positive decimal such as 1250.50"


def check_amount(text: str) -> tuple[object, str]:
    if not re.fullmatch(r"\d+(\.\d{1,6})?", text) or not text.strip("0."):
        return None, AMOUNT_PROBLEM
    return text, ""


class ProposeModal(ConfirmDialog):
    AUTO_FOCUS = "#p-account"  # (Textual focuses it once composed: no query of a child that may be gone)

    def __init__(self) -> None:
        super().__init__("Propose a refund", None, "Propose", reason=False, danger=None, error_id="p-error",
                         confirm_id="ok", strict=False, fields=[
                             Field("p-account", "Account", key="account", missing="an account is required"),
                             Field("p-amount", "Amount (USDC)", key="amount", placeholder="e.g. 1250.50",
                                   check=check_amount, missing=AMOUNT_PROBLEM),
                             Field.reason("p-reason", placeholder="", label="Reason (journaled, required)"),
                             Field("p-evidence", "Evidence (free text or JSON)", key="evidence", required=False),
                         ])

    def result(self) -> dict:
        v = super().result()
        assert isinstance(v, dict)
        text = str(v["evidence"])
        try:
            evidence = json.loads(text) if text.startswith("{") else {"note": text}
        except ValueError:
            evidence = {"note": text}
        return {"account": v["account"], "amount": v["amount"], "reason": v["reason"], "evidence": evidence}
