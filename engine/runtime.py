"""Process-level tuning for the processes that host an engine (node, replay, benchmarks).

The engine keeps hundreds of thousands of long-lived objects (orders, levels,
positions). CPython's cyclic garbage collector, at its default thresholds,
walks them again and again while they are created, which costs as much as the
work itself. The engine makes no reference cycles on its hot paths, so a
higher first-generation threshold loses nothing; bulk phases (snapshot encode
and restore) pause the collector altogether.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager

GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """Raise the collector's thresholds (idempotent)."""
    g0, g1, g2 = gc.get_threshold()
    if g0 < GEN0_THRESHOLD:
        gc.set_threshold(GEN0_THRESHOLD, max(g1, 20), max(g2, 20))


@contextmanager
def gc_paused():
    """Pause the cyclic collector for a bulk phase (restores the previous setting)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
