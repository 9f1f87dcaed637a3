"""The collector pause of bulk phases (engine.runtime.gc_paused)."""

from __future__ import annotations

import gc
import weakref

import pytest

from engine.runtime import gc_paused


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.fixture
def collector():
    """The collector enabled and nothing frozen, as in an engine host; put back afterwards."""
    was = gc.isenabled()
    gc.collect()
    assert gc.get_freeze_count() == 0
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_what_a_pause_leaves_alive_goes_to_the_oldest_generation(collector):
    with gc_paused():
        assert not gc.isenabled()
        made = [[i] for i in range(20_000)]
    assert gc.isenabled()
    ids = {id(x) for x in made}
    young = {id(x) for x in gc.get_objects(generation=0)} | {id(x) for x in gc.get_objects(generation=1)}
    assert not ids & young  # no young collection will walk them
    oldest = {id(x) for x in gc.get_objects(generation=2)}
    assert ids <= oldest
    assert gc.get_count()[0] < 1_000  # and none is due


def test_cyclic_garbage_made_in_a_pause_is_still_reclaimed(collector):
    with gc_paused():
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
        with gc_paused():
            made = [[i] for i in range(1_000)]
        assert gc.get_freeze_count() == frozen  # the hand-over is skipped, nothing thawed
        assert not {id(x) for x in made} & {id(x) for x in gc.get_objects(generation=2)}  # young as usual
    finally:
        gc.unfreeze()


def test_a_nested_pause_leaves_the_collector_to_the_outer_one(collector):
    with gc_paused():
        with gc_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_pause_in_a_process_without_the_collector_leaves_it_off(collector):
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()
