"""The demo's narration bar (``perpdesk demo``): scenario, engine time, speed, who drives, this step and
the next. It lives with the widgets (every desk screen composes it under the banner when a director
plays) and knows the director only by what it asks of it, so the widgets never import the demo."""

from __future__ import annotations

from textual.widgets import Static


class CaptionBar(Static):
    """The demo's narration: scenario, engine time, speed, who drives, this step and the next."""

    DEFAULT_CSS = """
    CaptionBar {
        height: 3;
        padding: 0 1;
        background: $primary-darken-2;
        color: $text;
    }
    CaptionBar.-yours { background: $warning-darken-3; }
    """

    def __init__(self) -> None:
        super().__init__("", id="caption")

    def on_mount(self) -> None:
        director = getattr(self.app, "director", None)
        if director is not None:
            self.show(director)

    def show(self, d) -> None:
        """``d``: the demo's Director (``scripted``, ``caption_text()``)."""
        self.set_class(not d.scripted, "-yours")
        width = self.content_size.width or max(1, self.app.size.width - 2)
        self.update(d.caption_text(width))

    def on_resize(self, event) -> None:
        director = getattr(self.app, "director", None)
        if director is not None:
            self.show(director)
