"""A run's expectations: the bounds a scenario's ``[expect.*]`` tables set, checked against its report."""

from __future__ import annotations

from .scenario import Expect


def check(ex: Expect, rep: dict, prefix: str) -> list[dict]:
    """Each bound of ``ex`` that is set, as {name, expected, actual, ok} (names prefixed ``prefix.``)."""
    out = []

    def add(name, expected, actual, ok) -> None:
        out.append({"name": f"{prefix}.{name}", "expected": expected, "actual": actual, "ok": ok})

    liq = rep["liquidations"]
    for name, actual in (("liquidations", liq["total"]), ("unintended", liq["unintended"]),
                         ("refunds_paid", rep["refunds"]["paid_count"])):
        lo, hi = getattr(ex, f"{name}_min"), getattr(ex, f"{name}_max")
        if lo is not None:
            add(f"{name}_min", f">= {lo}", actual, actual >= lo)
        if hi is not None:
            add(f"{name}_max", f"<= {hi}", actual, actual <= hi)
    for fid, b in ex.unintended_by_fault.items():
        actual = liq["by_fault"].get(fid, 0)
        if "min" in b:
            add(f"unintended_by_fault.{fid}.min", f">= {b['min']}", actual, actual >= b["min"])
        if "max" in b:
            add(f"unintended_by_fault.{fid}.max", f"<= {b['max']}", actual, actual <= b["max"])
    for name, actual in (("invariants_ok", rep["invariants_ok"]), ("brake", rep["brake"] is not None),
                         ("rollback", rep["rollback"] is not None),
                         ("nothing_lost", bool(rep["recovery"] and rep["recovery"]["nothing_lost"]))):
        want = getattr(ex, name)
        if want is not None:
            add(name, want, actual, actual == want)
    if ex.safeguard_events_min is not None:
        n = sum(rep["safeguard_events"].values())
        add("safeguard_events_min", f">= {ex.safeguard_events_min}", n, n >= ex.safeguard_events_min)
    for m, mode in ex.final_modes.items():
        actual = rep["final_modes"].get(m)
        add(f"final_modes.{m}", mode, actual, actual == mode)
    return out
