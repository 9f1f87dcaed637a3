"""Repaint a widget only when what it shows changes."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


def show_content(widget: Static, content, *, layout: bool | None = None) -> bool:
    """``widget.update(content)`` only when what it shows changes: an update repaints the widget and
    may lay out its whole screen again, which on a live desk is most of a refresh's cost. ``layout``:
    None lays the screen out again only when the number of lines changes (a widget whose height is
    its content's); False never (the stylesheet fixes the size). Returns whether it updated."""
    shown = widget.__dict__.get("_pd_shown")
    if shown == content:
        return False
    if layout is None:
        layout = shown is None or _lines(shown) != _lines(content)
    widget.__dict__["_pd_shown"] = content
    widget.update(content, layout=layout)
    return True


def _lines(content) -> int:
    return (content.plain if isinstance(content, Text) else str(content)).count("\n")
