"""A table for live data that renders each row once and draws only the rows on screen.

Textual's DataTable re-renders every visible cell (a Rich render each) whenever any row is added,
removed or changed, and again whenever its styles are refreshed: on a desk that receives rows
several times a second that made composing one frame cost tens to hundreds of milliseconds, and a
key press waits behind it. ``LiveTable`` keeps its rows as plain cells, renders a row into one
:class:`~textual.strip.Strip` the first time it is drawn (cached by row key until the row or the
column widths change) and builds a frame from the rows in view only, so adding rows to a bounded
table costs the new rows, not the table.

It offers the part of DataTable's API the desk uses (columns, rows, a row cursor, ``row_count``,
``get_row_at``, ``get_row``) and looks like a zebra-striped DataTable with a row cursor.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar, NamedTuple

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

PAD_LEFT, PAD_RIGHT = 1, 2  # three spaces between columns: a right-aligned number never meets the word before it


class Column(NamedTuple):
    key: str
    label: str | Text


def _text(cell: object) -> Text:
    if isinstance(cell, Text):
        return cell
    return Text(str(cell))


class LiveTable(ScrollView, can_focus=True):
    """Rows keyed by a string; cells are strings or :class:`rich.text.Text` (style and justify kept)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "cursor_home", "First row", show=False),
        Binding("end", "cursor_end", "Last row", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "livetable--header", "livetable--cursor", "livetable--even-row", "livetable--odd-row",
    }

    # DataTable's look (its default CSS, the parts a row-cursor table uses)
    DEFAULT_CSS = """
    LiveTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .livetable--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .livetable--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark > .livetable--even-row {
            background: $surface-darken-1 40%;
        }
        & > .livetable--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .livetable--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .livetable--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .livetable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    def __init__(self, *, zebra_stripes: bool = True, max_rows: int | None = None, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.zebra_stripes = zebra_stripes
        self.max_rows = max_rows
        self.columns: dict[str, Column] = {}
        self._keys: list[str] = []  # row order
        self._cells: dict[str, tuple] = {}  # row key -> cells, in column order
        self._widths: list[int] = []
        self._strips: dict[str, Strip] = {}  # row key -> rendered row (no row style), for self._widths
        self._header: Strip | None = None
        self._cursor = 0

    # ---- columns and rows ---------------------------------------------------------------
    def add_column(self, label: str | Text, *, key: str) -> str:
        self.columns[key] = Column(key, label)
        self._widths.append(_text(label).cell_len)
        self._layout_changed()
        return key

    @property
    def row_count(self) -> int:
        return len(self._keys)

    @property
    def row_keys(self) -> list[str]:
        return list(self._keys)

    def get_row_at(self, index: int) -> tuple:
        return self._cells[self._keys[index]]

    def get_row(self, key: str) -> tuple:
        return self._cells[key]

    def reset_columns(self) -> None:
        """Forget the columns and the rows (a screen that shows another set of columns adds them again)."""
        self.columns.clear()
        self.clear()

    def clear(self) -> None:
        self._keys.clear()
        self._cells.clear()
        self._strips.clear()
        self._widths = [_text(c.label).cell_len for c in self.columns.values()]
        self._cursor = 0
        self._layout_changed()

    def append_rows(self, rows: Iterable[tuple[str, Sequence]]) -> None:
        """Add rows at the bottom (a key already present is replaced in place); beyond ``max_rows``
        the oldest rows are dropped."""
        added = False
        for key, cells in rows:
            cells = tuple(cells)
            if key not in self._cells:
                self._keys.append(key)
            self._strips.pop(key, None)
            self._cells[key] = cells
            self._grow(cells)
            added = True
        if not added:
            return
        if self.max_rows is not None and len(self._keys) > self.max_rows:
            drop = len(self._keys) - self.max_rows
            for key in self._keys[:drop]:
                del self._cells[key]
                self._strips.pop(key, None)
            del self._keys[:drop]
            self.cursor_row = max(0, self.cursor_row - drop)
        self._layout_changed()

    def set_rows(self, rows: Iterable[tuple[str, Sequence]]) -> None:
        """Show exactly ``rows``, in that order; only new or changed rows are rendered again."""
        want = [(key, tuple(cells)) for key, cells in rows]
        keys = [k for k, _ in want]
        if keys == self._keys and all(self._cells[k] == c for k, c in want):
            return
        cells_by_key = dict(want)
        for key in list(self._strips):
            if cells_by_key.get(key) != self._cells.get(key):
                del self._strips[key]
        self._keys = keys
        self._cells = cells_by_key
        widths = [_text(c.label).cell_len for c in self.columns.values()]
        for cells in self._cells.values():
            for i, cell in enumerate(cells[:len(widths)]):
                widths[i] = max(widths[i], _text(cell).cell_len)
        if widths != self._widths:
            self._widths = widths
            self._strips.clear()
            self._header = None
        self.cursor_row = min(self.cursor_row, max(0, len(keys) - 1))
        self._layout_changed()

    def _grow(self, cells: tuple) -> None:
        """Columns widen to fit a new row (they never narrow until cleared, so rows stay rendered)."""
        widths = self._widths
        for i, cell in enumerate(cells[:len(widths)]):
            w = _text(cell).cell_len
            if w > widths[i]:
                widths[i] = w
                self._strips.clear()
                self._header = None

    def _layout_changed(self) -> None:
        self._header = None if not self._header or self._header.cell_length != self._table_width else self._header
        self.virtual_size = Size(self._table_width, len(self._keys) + 1)
        self.refresh()

    @property
    def _table_width(self) -> int:
        return sum(w + PAD_LEFT + PAD_RIGHT for w in self._widths)

    # ---- rendering ----------------------------------------------------------------------
    def _render_cells(self, cells: Sequence) -> Strip:
        line = Text(no_wrap=True, end="")
        pad_l, pad_r = " " * PAD_LEFT, " " * PAD_RIGHT
        for i, width in enumerate(self._widths):
            cell = _text(cells[i]) if i < len(cells) else Text("")
            if cell.cell_len > width:
                cell = cell.copy()
                cell.truncate(width, overflow="ellipsis")
            gap = width - cell.cell_len
            justify = cell.justify
            left = gap if justify == "right" else gap // 2 if justify == "center" else 0
            line.append(pad_l + " " * left)
            line.append_text(cell)
            line.append(" " * (gap - left) + pad_r)
        segments = list(line.render(self.app.console))
        return Strip(segments, self._table_width)

    def _row_strip(self, key: str) -> Strip:
        strip = self._strips.get(key)
        if strip is None:
            strip = self._strips[key] = self._render_cells(self._cells[key])
        return strip

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        base = self.rich_style
        if y == 0:  # the header stays put
            if self._header is None:
                self._header = self._render_cells([c.label for c in self.columns.values()])
            style = base + self.get_component_styles("livetable--header").rich_style
            strip = self._header.apply_style(style)
        else:
            index = scroll_y + y - 1
            if index >= len(self._keys):
                return Strip.blank(width, base)
            strip = self._row_strip(self._keys[index])
            if index == self.cursor_row:
                style = base + self.get_component_styles("livetable--cursor").rich_style
                # the cursor's colour wins over a cell's own (DataTable's cursor_foreground_priority "css")
                strip = Strip(Segment.apply_style(strip, style, Style.from_color(style.color)), strip.cell_length)
            else:
                style = base
                if self.zebra_stripes:
                    row = "livetable--odd-row" if index % 2 else "livetable--even-row"
                    style += self.get_component_styles(row).rich_style
                strip = strip.apply_style(style)
        # a row's style runs to the right edge, as DataTable's
        return strip.crop(scroll_x, scroll_x + width).adjust_cell_length(width, Style(bgcolor=style.bgcolor))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.refresh()

    # ---- the cursor ---------------------------------------------------------------------
    @property
    def cursor_row(self) -> int:
        return self._cursor

    @cursor_row.setter
    def cursor_row(self, row: int) -> None:
        row = max(0, min(row, len(self._keys) - 1))
        if row != self._cursor:
            self._cursor = row
            self.refresh()
        self._scroll_cursor_into_view()

    def move_cursor(self, *, row: int, animate: bool = False) -> None:
        self.cursor_row = row

    def _scroll_cursor_into_view(self) -> None:
        if not self.is_mounted:
            return
        rows_shown = max(1, self.scrollable_content_region.height - 1)  # less the header
        top = round(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + rows_shown:
            self.scroll_to(y=self.cursor_row - rows_shown + 1, animate=False, immediate=True)

    def on_resize(self, event: events.Resize) -> None:
        self._scroll_cursor_into_view()

    def action_cursor_up(self) -> None:
        self.cursor_row -= 1

    def action_cursor_down(self) -> None:
        self.cursor_row += 1

    def action_page_up(self) -> None:
        self.cursor_row -= max(1, self.scrollable_content_region.height - 1)

    def action_page_down(self) -> None:
        self.cursor_row += max(1, self.scrollable_content_region.height - 1)

    def action_cursor_home(self) -> None:
        self.cursor_row = 0

    def action_cursor_end(self) -> None:
        self.cursor_row = len(self._keys) - 1

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self.cursor_row = round(self.scroll_y) + event.y - 1
