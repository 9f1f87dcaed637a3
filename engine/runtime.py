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
#: a running node with a store keeps a burst's in-flight commands alive (queued Acks, their events,
#: journal rows) for a few batches; at 50,000 the collector walks each of them several times
#: (measured: ~3x the collector's time per command). Pauses grow less than the count falls.
NODE_GEN0_THRESHOLD = 200_000


def tune_gc(gen0: int = GEN0_THRESHOLD) -> None:
    """Raise the collector's thresholds to at least ``gen0`` (idempotent; never lowers them)."""
    g0, g1, g2 = gc.get_threshold()
    if g0 < gen0:
        gc.set_threshold(gen0, max(g1, 20), max(g2, 20))


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
