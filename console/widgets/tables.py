"""Diff a DataTable against the rows it should show: remove stale keys, update changed cells, add new rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.widgets import DataTable


def setup_columns(table: DataTable, columns: Sequence[tuple]) -> None:
    """``columns``: (key, label) or (key, label, "right"): a right-aligned (number) column's header is
    right-aligned too, over its data."""
    if not table.columns:
        for key, label, *align in columns:
            table.add_column(Text(label, justify="right") if align and align[0] == "right" else label, key=key)


def sync_table(table: DataTable, rows: Iterable[tuple[str, Sequence]]) -> None:
    """``rows``: (row key, cells in column order). Keeps row order stable for existing keys."""
    cache: dict[str, tuple] = table.__dict__.setdefault("_pd_rows", {})
    col_keys = list(table.columns)
    want: dict[str, tuple] = {}
    for key, cells in rows:
        want[key] = tuple(cells)
    order_changed = False
    for key in [k for k in cache if k not in want]:
        table.remove_row(key)
        del cache[key]
    for key, cells in want.items():
        old = cache.get(key)
        if old is None:
            table.add_row(*cells, key=key)
            order_changed = True
        elif old != cells:
            for ck, new, prev in zip(col_keys, cells, old, strict=False):
                if new != prev:
                    table.update_cell(key, ck, new, update_width=True)
        cache[key] = cells
    del order_changed


def clear_table(table: DataTable) -> None:
    table.clear()
    table.__dict__["_pd_rows"] = {}
