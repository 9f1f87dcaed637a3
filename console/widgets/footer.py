"""The desk's footer (its keys), recomposed only when they change."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class DeskFooter(Footer):
    """Textual's footer, recomposed only when what it shows changes.

    The stock footer rebuilds all its keys on every bindings signal (focus moves, screen switches,
    every ``refresh_bindings``), restyling a dozen widgets each time: on a busy desk that was a
    sixth of the UI thread. Here the signal is compared with what is shown first."""

    _shown: tuple | None = None

    def bindings_changed(self, screen: Screen) -> None:
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            sig = tuple((key, b.action, b.description, enabled, tip)
                        for key, (_n, b, enabled, tip) in screen.active_bindings.items() if b.show)
            if sig == self._shown:  # the same keys, already composed (self._shown is set only here, before
                return              # Footer.bindings_changed, which composes them)
            self._shown = sig
        super().bindings_changed(screen)
