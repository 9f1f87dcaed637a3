"""Items laid out in lines that break between items only: "liquidations undone 0" is never cut into
"liquidations" at one line's end and "undone 0" at the next's (rich wraps a Text at any space)."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text


class Flow:
    """A rich renderable: ``items`` separated by ``sep``, a new line begun before an item that would not
    fit on the current one (an item wider than the whole line still wraps, as Text does)."""

    def __init__(self, items: list[Text], sep: str = "   ") -> None:
        self.items = [i for i in items if i.cell_len]
        self.sep = sep

    def lines(self, width: int) -> list[Text]:
        out: list[Text] = []
        line = Text()
        for item in self.items:
            if line.cell_len and line.cell_len + len(self.sep) + item.cell_len > width:
                out.append(line)
                line = Text()
            if line.cell_len:
                line.append(self.sep)
            line.append_text(item)
        if line.cell_len:
            out.append(line)
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.lines(options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        if not self.items:
            return Measurement(0, 0)
        widest = max(i.cell_len for i in self.items)
        total = sum(i.cell_len for i in self.items) + len(self.sep) * (len(self.items) - 1)
        return Measurement(min(widest, options.max_width), min(total, options.max_width))
