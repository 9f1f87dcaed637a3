"""Refunds at the edges: CSV export and ``perpdesk refunds export``.

Columns: refund_id, account, amount (decimal USDC), status, method, proposer,
approver, fund, paid_seq, reason, inputs (canonical JSON of the stored inputs, so
anyone holding the journal can recompute the amount).
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import orjson

from .fixedpoint import fmt_amount

CSV_COLUMNS = ("refund_id", "account", "amount", "status", "method", "proposer", "approver", "fund", "paid_seq",
               "reason", "inputs")


def csv_row(r: dict) -> dict:
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


def run_export(url: str | None, out_path: str | None, out=None, err=None) -> int:
    """``perpdesk refunds export``: read the refunds from the database (no replay) and write CSV."""
    from .store import Store, StoreError

    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        with Store.open(url, create=False) as store:
            refunds = store.list_refunds()
    except StoreError as e:
        print(f"perpdesk refunds export: {e}", file=err)
        return 2
    try:
        n = write_csv(refunds, out_path if out_path else out)
    except OSError as e:
        print(f"perpdesk refunds export: cannot write {out_path}: {e.strerror or e}", file=err)
        return 2
    if out_path:
        print(f"wrote {n} refund(s) to {out_path}", file=err)
    return 0
