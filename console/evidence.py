"""Refund evidence in words, shared by the refunds screen and the compute dialog; parsing typed seqs."""

from __future__ import annotations

import re

from rich.text import Text

from . import format as fmt


def evidence_text(ev: dict) -> Text:
    """A computed refund's evidence in a few lines."""
    t = Text()
    inp = ev.get("inputs") or {}
    if ev.get("method") == "counterfactual":
        t.append(f"counterfactual: replay {inp.get('snapshot_id')} (seq {inp.get('snapshot_seq')}) to seq "
                 f"{inp.get('to_seq')} without seq {', '.join(str(x) for x in inp.get('bad_seqs', []))}"
                 + (f", corrected {', '.join(inp['corrections'])}" if inp.get("corrections") else "") + "\n")
        a, c = ev.get("actual") or {}, ev.get("counterfactual") or {}
        t.append(f"value actual {a.get('value')} → without the bad inputs {c.get('value')} USDC at "
                 + ", ".join(f"{m} {p['mark_price']}" for m, p in (ev.get("reference_prices") or {}).items()) + "\n")
    else:
        t.append(f"reference price at ts {inp.get('reference_ts')}, liquidations in seq "
                 f"({inp.get('from_seq')}, {inp.get('to_seq')}]\n")
    for liq in (ev.get("liquidations") or [])[:3]:
        t.append(f"  liquidated seq {liq['seq']} {liq['market']} {liq['side']} {liq['size']} @ {liq['price']} "
                 f"(mark {liq['mark_price']}, fee {liq['fee']}, bad debt {liq['bad_debt']})"
                 + (f" ref {liq['reference_price']} → {liq['refund']}" if "reference_price" in liq else "") + "\n")
    more = len(ev.get("liquidations") or []) - 3
    if more > 0:
        t.append(f"  … {fmt.count_of(more, 'more liquidation')}\n")
    fills = len(ev.get("fills") or []) + (ev.get("fills_omitted") or 0)
    if ev.get("method") == "counterfactual":
        t.append(f"  {fmt.count_of(fills, 'fill')} that did not happen without the bad inputs\n")
    t.append(ev.get("formula", ""), style="dim")
    return t


def usdc(decimal: str) -> str:
    """An evidence amount (exact decimal string) shown like ``fmt.money``: grouped, two decimals, truncated."""
    sign = "-" if decimal.startswith("-") else ""
    whole, _dot, frac = decimal.lstrip("-").partition(".")
    return f"{sign}{int(whole):,}.{(frac + '00')[:2]}"


def parse_seqs(text: str) -> list[int] | None:
    """``"12, 15 18"`` -> [12, 15, 18]; None if anything is not a whole number."""
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    if not all(p.isdigit() for p in parts):
        return None
    return sorted({int(p) for p in parts})
