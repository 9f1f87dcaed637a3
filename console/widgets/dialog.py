"""A dialog's frame (``#dialog``): its keys shown in the bottom border, always on screen.

Layout (console/app.tcss): ``#dialog`` is at most the screen; its title is docked on top, its buttons
are docked at the bottom (always visible, whatever the terminal's height), and the body between them
is a ``VerticalScroll`` that scrolls when it does not fit (Tab to a field scrolls it into view).
"""

from __future__ import annotations

from textual.containers import Vertical

KEYS_HINT = "Tab/Shift+Tab move · Enter presses the focused button · Esc cancels"


class Dialog(Vertical):
    """A dialog's frame (``#dialog``): its keys shown in the bottom border, always on screen."""

    def __init__(self, *children, keys: str = KEYS_HINT, classes: str | None = None) -> None:
        super().__init__(*children, id="dialog", classes=classes)
        self.keys = keys

    def on_mount(self) -> None:
        self.border_subtitle = f" {self.keys} "
