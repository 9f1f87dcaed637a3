"""The refunds CSV format: columns, one row per refund, write and read.

Columns: refund_id, account, amount (decimal USDC), status, method, proposer,
approver, fund, paid_seq, reason, inputs (canonical JSON of the stored inputs, so
anyone holding the journal can recompute the amount).

Used by :meth:`engine.node.node.Node.export_refunds_csv` and by ``perpdesk refunds export``
(engine/tools/refunds_export.py); it lives in the node layer so the node need not import a tool.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson

CSV_COLUMNS = ("refund_id", "account", "amount", "status", "method", "proposer", "approver", "fund", "paid_seq",
               "reason", "inputs")


def csv_row(r: dict) -> dict:
    from ..core.fixedpoint import (
        fmt_amount,  # here, not at import: importing the export tool loads no core
    )

    ev = r.get("evidence") or {}
    inputs = ev.get("inputs")
    return {
        "refund_id": r["refund_id"],
        "account": r["account"],
        "amount": fmt_amount(r["amount"]),
        "status": r["status"],
        "method": ev.get("method") or "manual",
        "proposer": r.get("proposer") or "",
        "approver": r.get("approver") or "",
        "fund": r.get("fund") or "",
        "paid_seq": "" if r.get("paid_seq") is None else str(r["paid_seq"]),
        "reason": r.get("reason") or "",
        "inputs": orjson.dumps(inputs, option=orjson.OPT_SORT_KEYS).decode() if inputs is not None else "",
    }


def write_csv(refunds: list[dict], out) -> int:
    """Write ``refunds`` (store/node dicts) to ``out``: a path, or a text file opened with newline=""."""
    if isinstance(out, (str, Path)):
        with open(out, "w", newline="", encoding="utf-8") as f:
            return write_csv(refunds, f)
    w = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    rows = sorted(refunds, key=lambda r: r["refund_id"])
    for r in rows:
        w.writerow(csv_row(r))
    return len(rows)


def read_csv(text: str) -> list[dict]:
    """The rows of an exported CSV, as strings (for checks and tests)."""
    return list(csv.DictReader(io.StringIO(text)))
