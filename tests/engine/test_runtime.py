"""The collector pause of bulk phases (engine.core.runtime.gc_paused)."""

from __future__ import annotations

import gc
import weakref

import pytest

from engine.core.runtime import gc_paused


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.fixture
def collector():
    """The collector enabled and nothing frozen, as in an engine host; put back afterwards (an
    earlier test in this process may have frozen objects, as the console does: they are frozen
    again, with whatever the test left)."""
    was = gc.isenabled()
    thawed = gc.get_freeze_count() > 0
    if thawed:
        gc.unfreeze()
    gc.collect()
    gc.enable()
    yield
    if not was:
        gc.disable()
    if thawed:
        gc.freeze()


def test_what_a_promoting_pause_leaves_alive_goes_to_the_oldest_generation(collector):
    with gc_paused(promote=True):
        assert not gc.isenabled()
        made = [[i] for i in range(20_000)]
    assert gc.isenabled()
    ids = {id(x) for x in made}
    young = {id(x) for x in gc.get_objects(generation=0)} | {id(x) for x in gc.get_objects(generation=1)}
    assert not ids & young  # no young collection will walk them
    oldest = {id(x) for x in gc.get_objects(generation=2)}
    assert ids <= oldest
    assert gc.get_count()[0] < 1_000  # and none is due


def test_cyclic_garbage_made_in_a_promoting_pause_is_still_reclaimed(collector):
    with gc_paused(promote=True):
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
    del a, b
    assert ref() is not None  # a cycle: only the collector frees it
    gc.collect()
    assert ref() is None


def test_objects_a_process_froze_stay_frozen(collector):
    keep = [[i] for i in range(1_000)]
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen >= len(keep)
        with gc_paused(promote=True):
            made = [[i] for i in range(1_000)]
        assert gc.get_freeze_count() == frozen  # the hand-over is skipped, nothing thawed
        assert not {id(x) for x in made} & {id(x) for x in gc.get_objects(generation=2)}  # young as usual
    finally:
        gc.unfreeze()


def test_a_plain_pause_leaves_its_objects_young(collector):
    """For phases that drop what they built (the rollback preview's scratch engine): the next young
    collection reclaims it, not only the next full one."""
    with gc_paused():
        made = [[i] for i in range(1_000)]
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        del a, b
    assert not {id(x) for x in made} & {id(x) for x in gc.get_objects(generation=2)}
    gc.collect(1)
    assert ref() is None


def test_a_nested_pause_leaves_the_collector_and_the_hand_over_to_the_outer_one(collector):
    with gc_paused():
        with gc_paused(promote=True):
            made = [[i] for i in range(1_000)]
        assert not gc.isenabled()
    assert gc.isenabled()
    assert not {id(x) for x in made} & {id(x) for x in gc.get_objects(generation=2)}


def test_a_restored_venue_is_not_left_to_young_collections(collector):
    from engine_helpers import Venue

    from engine.core import Engine
    from engine.core.snapshot import decode, encode, restore

    v = Venue.default()
    v.limit("alice", "buy", "1", "90000")
    data = encode(v.e)
    fresh = Engine()
    restore(fresh, decode(data))
    oldest = {id(x) for x in gc.get_objects(generation=2)}
    assert all(id(o) in oldest for o in fresh.orders.values())
    assert all(id(a) in oldest for a in fresh.accounts.values())


def test_a_pause_in_a_process_without_the_collector_leaves_it_off(collector):
    gc.disable()
    with gc_paused(promote=True):
        pass
    assert not gc.isenabled()


def test_a_dropped_engine_is_freed_without_the_cyclic_collector():
    """An engine is not a reference cycle (its command table holds method names, not bound methods), so
    a scratch engine (the rollback preview's, a counterfactual's) is freed the moment it is dropped."""
    from engine_helpers import Venue

    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        v = Venue.default()
        v.limit("alice", "sell", "0.5", "97100")
        v.limit("bob", "buy", "0.2", "97100")  # a trade
        v.trigger("bob", "stop_loss", "sell", "0.1", "90000")
        v.op("take_snapshot", label="t")
        v.cmd("tick", ts=v.ts + 1000)
        assert len(v.e.orders) == 2 and v.e.snapshots
        del v
        assert gc.collect() == 0  # nothing of it was left for the collector
    finally:
        if was:
            gc.enable()
