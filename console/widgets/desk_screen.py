"""The base screen every desk screen builds on: the banner on top, the footer below."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.screen import Screen

from .banner import StatusBanner
from .caption import CaptionBar
from .footer import DeskFooter


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
