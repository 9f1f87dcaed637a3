"""Refunds at the edges: CSV export and ``perpdesk refunds export``.

Columns: refund_id, account, amount (decimal USDC), status, method, proposer,
approver, fund, paid_seq, reason, inputs (canonical JSON of the stored inputs, so
anyone holding the journal can recompute the amount).
"""

from __future__ import annotations

import sys

from ..node.refunds_csv import CSV_COLUMNS, csv_row, read_csv, write_csv  # noqa: F401  (the CSV format; re-exported)


def run_export(url: str | None, out_path: str | None, out=None, err=None) -> int:
    """``perpdesk refunds export``: read the refunds from the database (no replay) and write CSV."""
    from ..store.store import Store, StoreError

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
