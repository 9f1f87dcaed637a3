"""SVG snapshots of every screen: fixed seed, frozen clock, 140x44 (the same scenes as ``console.screenshots``).

Regenerate deliberately with ``pytest tests/console/test_snapshots.py --snapshot-update`` and look at them.
"""

import pytest

from console.screenshots import (
    GLANCE_SCENES,
    GLANCE_SIZE,
    SCENES,
    SIZE,
    SMALL_SCENES,
    SMALL_SIZE,
    scene_app,
    settled,
)


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_screen(snap_compare, scene):
    assert snap_compare(scene_app(), run_before=settled(SCENES[scene]), terminal_size=SIZE)


@pytest.mark.parametrize("scene", sorted(SMALL_SCENES))
def test_small_terminal(snap_compare, scene):
    """The brake, rollback and refunds-compute dialogs at 80x24: they fit, their buttons show."""
    assert snap_compare(scene_app(), run_before=settled(SMALL_SCENES[scene]), terminal_size=SMALL_SIZE)


@pytest.mark.parametrize("scene", sorted(GLANCE_SCENES))
def test_glance(snap_compare, scene):
    """Risk at a glance at 160x48: the Book screen (depth ladder, trades tape) and the dashboard (next funding,
    insurance-fund history)."""
    assert snap_compare(scene_app(), run_before=settled(GLANCE_SCENES[scene]), terminal_size=GLANCE_SIZE)
