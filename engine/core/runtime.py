"""Process-level tuning for the processes that host an engine (node, replay, benchmarks).

The engine keeps hundreds of thousands of long-lived objects (orders, levels,
positions). CPython's cyclic garbage collector, at its default thresholds,
walks them again and again while they are created, which costs as much as the
work itself. The engine makes no reference cycles on its hot paths, so a
higher first-generation threshold loses nothing; bulk phases (snapshot encode
and restore) pause the collector altogether.

A pause alone only defers that walk: the first allocation after it triggers a
young collection over everything the phase created (a restore of 100k accounts
makes some 700k tracked objects: a 0.1-0.2 s walk that frees nothing). So the
phases whose results live on (a snapshot decode, a restore: ``promote=True``)
end by handing the survivors straight to the oldest generation (``gc.freeze()``
then ``gc.unfreeze()``: two list splices, no walk), where only the rare full
collections see them, as they see every long-lived object. The price: cyclic
garbage that happened to be young at that moment is reclaimed by the next full
collection instead of the next young one. A phase that drops what it built, such
as the rollback preview's scratch engine, gains nothing from the hand-over and
keeps the plain pause (an engine is no reference cycle: refcounting frees it).
A process that froze objects itself (the console does) keeps them frozen: there
the hand-over is skipped and the collector runs as usual.
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


def promote_young() -> None:
    """Move every tracked object to the oldest generation without walking them (see the module
    docstring); a no-op where the process keeps objects frozen of its own."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


@contextmanager
def gc_paused(promote: bool = False):
    """Pause the cyclic collector for a bulk phase (restores the previous setting). With
    ``promote``, what the phase leaves alive goes to the oldest generation (:func:`promote_young`);
    a nested pause leaves that to the outermost one."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            if promote:
                promote_young()
            gc.enable()
