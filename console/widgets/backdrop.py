"""A modal's dimmed backdrop, drawn once per opening."""

from __future__ import annotations

from rich.segment import Segment
from textual import events


class KeptBackdrop:
    """For a modal: the dimmed desk behind the dialog is drawn once per opening.

    Textual redraws a translucent modal's backdrop, the whole screen beneath re-rendered and
    re-tinted segment by segment, on every repaint of the modal's screen (it opening, the dialog
    growing when its preview arrives, focus moving). The desk beneath is not rendered while a modal
    is open (PerpdeskApp renders refreshes only into the top screen), so the backdrop's lines are
    kept until the app renders again, the screen beneath changes or the size does."""

    _backdrop_key: tuple | None = None
    _backdrop: list = []
    #: (segment style, tint, the screen's base style) -> the backdrop's style for that segment
    _backdrop_styles: dict = {}

    def render_line(self, y: int):
        stack = self.app.screen_stack
        beneath = stack[-2] if len(stack) > 1 and stack[-1] is self else None
        key = (self.size, beneath, getattr(self.app, "renders", None))
        render = super().render_line
        if key != self._backdrop_key:
            fast = self._tinted_lines(beneath)
            self._backdrop = fast if fast is not None else [render(i) for i in range(self.size.height)]
            self._backdrop_key = key
        return self._backdrop[y] if y < len(self._backdrop) else render(y)

    def _tinted_lines(self, beneath):
        """The backdrop's lines straight from the strips of the screen beneath, or None (then Textual's
        own path draws it). Textual renders a translucent screen's backdrop through Rich: the screen
        beneath is turned into segments, tinted, styled with the modal's base style and cut back into
        lines: half the cost of opening the brake dialog. Here each strip beneath gets the same
        per-segment style (a function of the segment's style, the tint and the base style, computed
        once) and stays a line: the same segments, the same frame (tests/console/test_kept_modal.py
        compares the two paths; the SVG snapshots of the modals hold)."""
        from textual.strip import Strip

        from ..textual_compat import screen_strips, tint_style

        if beneath is None or not beneath.is_attached:
            return None
        color = self.styles.background
        size = self.size
        if (not 0 < color.a < 1 or self.text_selection is not None
                or self.styles.content_align != ("left", "top")):
            return None  # not the simple case (transparent, a selection): Textual's path
        strips = screen_strips(beneath, size)
        if strips is None:  # a resize, or the compat module not in use: Textual's path
            return None
        base = self.visual_style.rich_style
        styles = self._backdrop_styles
        if len(styles) > 8192:
            styles.clear()
        lines = []
        for strip in strips:
            segments = []
            append = segments.append
            for text, style, control in strip:
                if control:
                    return None
                key = (style, color, base)
                new = styles.get(key)
                if new is None:
                    tinted = tint_style(style, color)
                    new = styles[key] = base + tinted if base else tinted
                append(Segment(text, new))
            lines.append(Strip(segments, strip.cell_length))
        return lines

    def on_screen_suspend(self) -> None:
        self._backdrop_key = None
        self._backdrop = []

    #: the app's CSS generation this (kept) modal's nodes were last styled for
    _styled_for: int | None = None

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # Textual restyles every node of a pushed screen. A kept modal (the brake dialog, built once)
        # was styled on its last opening and nothing restyles it while away except a CSS change
        # (a theme switch): then it is restyled as before, else the 5-10 ms under load are skipped.
        # Its own changes before an opening (reset: the reason, the focus) restyle what they touch.
        # (Textual dispatches this handler before the base Screen's own, which then skips the restyle.)
        css = getattr(self.app, "css_generation", None)  # PerpdeskApp counts theme switches
        if css is not None and self._styled_for == css and self.is_attached:
            event.refresh_styles = False
        else:
            self._styled_for = css
