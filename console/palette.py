"""A command-palette provider that offers every action bound where the palette was opened."""

from __future__ import annotations

from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

from .widgets.tabs import own_bindings


def _on_screen(app, mode: str, action: str) -> None:
    """Switch to ``mode``'s screen, then run one of its actions there (after the switch is drawn)."""
    if app.current_mode != mode:
        app.switch_mode(mode)

    async def run() -> None:
        await app.run_action(action, app.screen)

    app.call_after_refresh(run)

SKIP = {"command_palette", "quit", "app.quit", "screenshot", "focus_next", "focus_previous", "copy_text",
        "app.copy_text", "help_quit", "maximize", "minimize", "app.focus_next", "app.focus_previous"}


class DeskCommands(Provider):
    """Every binding of the screen the palette was opened from (app, screen and focused widget)."""

    def _entries(self):
        app = self.app
        seen = set()
        screen = self.screen
        active_here = [(a.binding, a.node) for a in screen.active_bindings.values()]
        # this screen's own keys even where a focused widget's key shadows one (Enter on the audit log's
        # table is the table's select; the screen's "Details" is still an action to offer)
        active_here += [(b, screen) for b in own_bindings(type(screen)) if isinstance(b, Binding)]
        for b, node in active_here:
            if b.system or b.action in SKIP or b.action.rpartition(".")[2] in SKIP or not b.description:
                continue
            if node is not app and not isinstance(node, Screen):
                continue  # a focused widget's own keys (a table's cursor moves, an input's editing): noise here
            if isinstance(node, Screen) and b not in own_bindings(type(node)):
                continue  # Textual's own screen keys (focus moves, copy selected text)
            ident = (b.action, id(node))
            if ident in seen:
                continue
            seen.add(ident)
            why = app.why_not(b.action.split("(")[0]) if hasattr(app, "why_not") else None
            keys = b.key_display or app.get_key_display(b)
            # "(key d)", as the other screens' entries say it: "[d]" was read as markup and never shown
            help_text = f"{b.tooltip or b.description}  (key {keys})"
            if why:
                help_text += f"  (unavailable: {why})"
            group = b.group.description if b.group else ""
            name = f"{group}: {b.description}" if group else b.description
            yield name, help_text, partial(app.run_action, b.action, node)
        # every other screen's own actions too: the palette switches there first, then acts
        here = type(self.screen)
        for mode, screen_cls in getattr(app, "MODES", {}).items():
            if not isinstance(screen_cls, type) or screen_cls is here:
                continue
            title = getattr(screen_cls, "TITLE_NAME", None) or mode.capitalize()
            for b in own_bindings(screen_cls):
                if not isinstance(b, Binding) or not b.description or b.action in SKIP or b.key == "escape":
                    continue
                keys = b.key_display or app.get_key_display(b)
                help_text = f"{b.tooltip or b.description} on {title}  (key {keys} there)"
                yield f"{title}: {b.description}", help_text, partial(_on_screen, app, mode, b.action)
        for name, help_text, action in getattr(app, "PALETTE_EXTRA", ()):
            control = action.split("'")[1] if "'" in action else ""
            why = app.why_not_venue(control) if control and hasattr(app, "why_not_venue") else None
            if why:
                help_text += f"  (unavailable: {why})"
            yield name, help_text, partial(app.run_action, action, app)

    async def discover(self) -> Hits:
        for name, help_text, cb in sorted(self._entries(), key=lambda e: e[0]):
            yield DiscoveryHit(name, cb, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, cb in self._entries():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), cb, help=help_text)
