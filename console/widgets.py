"""Shared widgets: the status banner and the base screen every desk screen builds on."""

from __future__ import annotations

import time

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static

from . import format as fmt

SCREEN_TITLES = {
    "dashboard": "Dashboard",
    "liquidations": "Liquidations",
    "maintenance": "Maintenance",
    "snapshots": "Snapshots",
    "refunds": "Refunds",
    "audit": "Audit log",
    "accounts": "Accounts",
    "alerts": "Alerts",
}
#: screens reached by a key but not listed in the tab bar (no room for them at 80 columns)
EXTRA_SCREENS = {"book": ("b", "Book")}
SHORT_TITLES = {"dashboard": "Dash", "liquidations": "Liqs", "maintenance": "Maint", "snapshots": "Snaps",
                "refunds": "Refunds", "audit": "Audit", "accounts": "Accts", "alerts": "Alerts"}
SCREEN_KEYS = {"dashboard": "d", "liquidations": "l", "maintenance": "m", "snapshots": "s",
               "refunds": "r", "audit": "a", "accounts": "c", "alerts": "t"}


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


MODE_LABEL = {"open": "OPEN", "post_only": "POST-ONLY", "reduce_only": "REDUCE-ONLY",
              "cancel_only": "CANCEL-ONLY", "halted": "HALTED"}


def venue_state(status: dict, markets: list[dict] | None = None) -> tuple[str, str]:
    """(label, css class) for the banner: the real state, e.g. ``POST-ONLY 3/3`` rather than ``OPEN``."""
    if status.get("brake_engaged"):
        return "BRAKE ENGAGED", "-brake"
    windows = status.get("maintenance") or []
    now = status.get("now", 0)
    active = [w for w in windows if w.get("phase") not in ("canceled", "aborted") and (
              w.get("phase") not in ("scheduled", "done", "completed")
              or w["start_ts"] <= now < w["start_ts"] + w["duration_ms"])]
    if active:
        return "MAINTENANCE", "-maintenance"
    if not status.get("platform_access", True):
        return "ACCESS DISABLED", "-brake"
    modes = [m.get("mode", "open") for m in markets or []]
    restricted = [m for m in modes if m != "open"]
    if not restricted:
        return "OPEN", "-open"
    counts: dict[str, int] = {}
    for m in modes:
        counts[m] = counts.get(m, 0) + 1
    order = list(MODE_LABEL)  # the most restrictive first
    parts = [f"{MODE_LABEL.get(m, m.upper())} {counts[m]}/{len(modes)}"
             for m in sorted(counts, key=lambda m: -order.index(m) if m in order else 0)]
    return " · ".join(parts), "-maintenance"


class StatusBanner(Static):
    """The unmistakable venue state, who is at the desk and where the data lives."""

    DEFAULT_CLASSES = "-open"

    def __init__(self, screen_name: str) -> None:
        super().__init__("", id="banner")
        self.screen_name = screen_name

    def show(self, vm: dict) -> None:
        self._vm = vm
        st = vm["status"]
        ident = vm["identity"]
        label, cls = venue_state(st, vm.get("markets"))
        conn = vm.get("connection")
        if conn is not None and not conn.get("connected", True):  # the attached venue does not answer
            since = time.strftime("%H:%M:%S", time.localtime(conn.get("down_since") or time.time()))
            label, cls = f"VENUE UNREACHABLE since {since}, retrying", "-brake"
        for c in ("-open", "-brake", "-maintenance"):
            self.set_class(c == cls, c)
        width = max(0, (self.size.width or self.app.size.width) - 2)  # (padding 0 1)
        head = Text()
        head.append(f" {label} ", style="bold reverse")
        extra = []
        if st.get("liquidations_paused"):
            extra.append("liquidations paused")
        if st.get("triggers_paused"):
            extra.append("TP/SL paused")
        if st.get("safeguards") is False:
            extra.append("SAFEGUARDS OFF")
        if st.get("withdrawals_enabled") is False:
            extra.append("WITHDRAWALS PAUSED")
        if extra:
            head.append("  " + " · ".join(extra), style="bold")
        head.append(f"   operator {ident.get('operator')} ({ident.get('role')})")
        others = [s for s in vm.get("sessions") or () if s.get("session") != vm.get("session")]
        if others:  # who else is attached to this venue
            head.append(f"   +{len(others)} attached: "
                        + ", ".join(f"{s['operator']} ({s['role']})" for s in others[:3])
                        + (" …" if len(others) > 3 else ""), style="bold")
        tail = f"   seq {st.get('seq', 0):,}   engine time {fmt.clock_time(st.get('now'))} UTC"
        if vm.get("rate") is not None:
            tail += f"   {vm['rate']:,.0f} cmd/s"
        # one line, never wrapped: the database path gives way first (its start, then all of it)
        db = f"   db {ident.get('db')}"
        room = width - head.cell_len - len(tail)
        if room < len(db):
            db = "   db …" + db[len(db) - room + 7:] if room >= 16 else ""
        t = head
        t.append(db)
        t.append(tail)
        t.append("\n")
        t.append_text(self._tabs(width))
        t.no_wrap = True
        t.overflow = "ellipsis"
        show_content(self, t, layout=False)  # two lines, always (app.tcss)

    def _tabs(self, width: int) -> Text:
        titles = SCREEN_TITLES
        if sum(len(v) + 4 for v in titles.values()) > width:
            titles = SHORT_TITLES
        t = Text()
        for name, title in titles.items():
            key = SCREEN_KEYS[name]
            if name == self.screen_name:
                t.append(f" {key} {title} ", style="bold reverse")
            else:
                t.append(f" {key} {title} ")
        extra = EXTRA_SCREENS.get(self.screen_name)
        if extra is not None:  # on a screen outside the tab bar: it is named, highlighted, at the end
            t.append(f" {extra[0]} {extra[1]} ", style="bold reverse")
        return t

    def on_resize(self, event: events.Resize) -> None:
        vm = getattr(self, "_vm", None)
        if vm is not None:
            self.show(vm)


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

        from .textual_compat import screen_strips, tint_style

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


class DeskScreen(Screen):
    """A screen with the banner on top and the footer below; renders view models."""

    NAME = "dashboard"
    #: set by PerpdeskApp.switch_mode: the next ScreenResume comes from a mode switch
    resumed_by_switch = False
    #: when the data this screen shows was read (time.perf_counter(); None: never rendered live data)
    shown_vm_at: float | None = None

    def compose_body(self) -> ComposeResult:
        yield from ()

    def compose(self) -> ComposeResult:
        yield StatusBanner(self.NAME)
        if getattr(self.app, "director", None) is not None:  # perpdesk demo: the narration under the banner
            from .demo_desk import CaptionBar

            yield CaptionBar()
        yield from self.compose_body()
        yield DeskFooter()

    def collect(self, gw) -> dict:
        """Extra data this screen needs; runs off the UI thread (read the gateway only)."""
        return {}

    def show(self, vm: dict) -> None:
        """Render a view model (UI thread)."""

    def render_vm(self, vm: dict) -> None:
        if not self.is_mounted:
            # Composed but its on_mount (columns, titles, state) has not run yet: a render that raced
            # the first visit's mount (the demo renders inline from its clock while the mode switch
            # mounts the screen). The screen's ScreenResume, processed after its Mount, renders it.
            return
        banners = self.query(StatusBanner)
        if not banners:  # not composed yet (a refresh that raced a screen switch): the next one renders
            return
        banners.first().show(vm)
        stale = bool(vm.get("stale"))
        if stale != self.has_class("-stale"):  # the venue does not answer: the last data, dimmed, marked
            self.set_class(stale, "-stale")
            for w in self.query("DataTable"):
                w.border_subtitle = "stale" if stale else ""
        if stale:
            return
        self.show(vm)
        self.shown_vm_at = vm.get("read_at")

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # Textual restyles every node of a screen a mode switch resumes (refresh_styles). A desk
        # screen's styles depend on the stylesheet (switch_mode re-applies it when the CSS changed
        # while the screen was away) and on its own widgets' state, which does not change while it is
        # not shown; the restyle also made every DataTable drop all its rendered rows. Together they
        # cost 50-250 ms before the first frame of a screen switch under load, for the same frame.
        # (Textual dispatches this handler before the base Screen's own, which then skips the restyle.)
        switched = self.resumed_by_switch
        if switched:  # a mode switch (a modal's dismissal still restyles)
            self.resumed_by_switch = False
            event.refresh_styles = False
        app = self.app
        if not app.live:
            app.refresh_now()
            return
        # After a mode switch the first frame shows the latest data (PerpdeskApp.switch_mode rendered
        # it into the screen first: the screen may have been away for minutes). After a modal the
        # desk comes back as it was a moment ago, and the data read while the modal was open follows
        # in the next frame (the dialog disappears without waiting for a render of data). A fresh
        # read follows either way (a key press never waits for a read).
        if not switched and app.vm:
            self.call_after_refresh(app.show_latest)
        app.request_fetch()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        return self.app.action_allowed(action)
