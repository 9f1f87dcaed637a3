"""LiveTable: what it shows, its bound, its cursor, and that a frame renders only new or changed rows."""

import pytest
from rich.text import Text
from textual.app import App, ComposeResult

from console.widgets.livetable import LiveTable

pytestmark = pytest.mark.asyncio


class CountingTable(LiveTable):
    """A LiveTable that counts the rows it renders (the real rendering, counted)."""

    rendered: list[tuple]

    def _render_cells(self, cells):
        self.rendered.append(tuple(str(c) for c in cells))
        return super()._render_cells(cells)


class TableApp(App):
    def compose(self) -> ComposeResult:
        t = CountingTable(id="t", max_rows=50)
        t.rendered = []
        yield t

    def on_mount(self) -> None:
        t = self.query_one(CountingTable)
        t.add_column("Account", key="account")
        t.add_column("Size", key="size")


def rows(a: int, b: int):
    return [(str(n), (f"acct{n}", Text(f"{n}.5", justify="right"))) for n in range(a, b)]


def screen_lines(table: LiveTable) -> list[str]:
    return [table.render_line(y).text for y in range(table.size.height)]


async def test_rows_show_bounded_with_the_cursor_following_the_newest():
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        t = app.query_one(CountingTable)
        t.append_rows(rows(0, 80))
        t.move_cursor(row=t.row_count - 1)
        await pilot.pause()
        assert t.row_count == 50  # bounded: the oldest 30 dropped
        assert t.get_row_at(0)[0] == "acct30" and t.get_row("79")[0] == "acct79"
        lines = screen_lines(t)
        assert lines[0].split() == ["Account", "Size"]  # the header stays on top
        assert lines[-1].split() == ["acct79", "79.5"]  # scrolled to the newest row
        assert lines[-1].rstrip().endswith("79.5") and " acct79 " in lines[-1]
        # numbers are right-justified under their column: the widest size decides the column width
        assert lines[-1].index("79.5") + len("79.5") == lines[0].index("Size") + len("Size")
        await pilot.press("home")
        assert t.cursor_row == 0 and screen_lines(t)[1].split() == ["acct30", "30.5"]
        await pilot.press("up")
        assert t.cursor_row == 0  # never off the table


async def test_a_frame_renders_only_the_rows_that_are_new():
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        t = app.query_one(CountingTable)
        t.append_rows(rows(0, 50))
        t.move_cursor(row=t.row_count - 1)
        await pilot.pause()
        first = len(t.rendered)
        assert 0 < first < 30  # rows in view (the first layout may show two scroll positions), not all 50
        t.rendered.clear()
        t.append_rows(rows(50, 53))  # three new rows; three old ones fall off the top of the table
        t.move_cursor(row=t.row_count - 1)
        await pilot.pause()
        assert sorted(r[0] for r in t.rendered) == ["acct50", "acct51", "acct52"]
        assert screen_lines(t)[-1].split() == ["acct52", "52.5"]


async def test_set_rows_renders_only_changed_rows_and_widens_columns():
    app = TableApp()
    async with app.run_test(size=(60, 8)) as pilot:
        t = app.query_one(CountingTable)
        t.set_rows([("a", ("A", "1")), ("b", ("B", "2")), ("c", ("C", "3"))])
        await pilot.pause()
        t.rendered.clear()
        t.set_rows([("a", ("A", "1")), ("b", ("B", "20")), ("c", ("C", "3"))])
        await pilot.pause()
        assert t.rendered == [("B", "20")]  # one row changed, one row rendered
        assert screen_lines(t)[2].split() == ["B", "20"]
        t.rendered.clear()
        t.set_rows([("a", ("A", "1")), ("b", ("B", "2000000")), ("c", ("C", "3"))])  # wider than "Size"
        await pilot.pause()
        assert {r[0] for r in t.rendered} == {"Account", "A", "B", "C"}  # a wider column: all again
        assert [line.split() for line in screen_lines(t)[1:4]] == [["A", "1"], ["B", "2000000"], ["C", "3"]]
