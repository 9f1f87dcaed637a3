"""Reading and rendering: the refresh chain, the attached venue's event stream (and what the desk shows
when the venue does not answer), rendering view models, and errors met while doing so (a mixin of
:class:`console.app.PerpdeskApp`; the module docstring of console/app.py tells the threads apart).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable

from textual import work
from textual.worker import Worker, WorkerState

from engine.api.errors import GatewayError

from . import format as fmt
from .messages import Refreshed, VenueEvent

log = logging.getLogger("perpdesk.console")


class Fetching:
    """Reads the gateway off the UI thread, one read at a time, and renders into the top desk screen."""

    # ---- refresh chain ----------------------------------------------------------
    def collect(self, screen=None) -> dict:
        """Read everything the active screen shows. Safe off the UI thread (gateway reads only)."""
        gw = self.gateway
        screen = screen or self.screen
        if self.venue is not None:  # attached: the common reads in one request
            ov = self.venue.overview(gw.clock())
            status, markets = ov["status"], ov["markets"]
            counters, last_minute, rate = ov["counters"], ov["last_minute"], ov["rate"]
        else:
            status, markets = gw.status(), gw.markets()
            counters, last_minute, rate = self.feed.counters(), self.feed.last_minute(gw.clock()), self.sim_rate
        now = status.get("now") or gw.clock()
        fmt.learn_markets(markets)
        vm = {
            "read_at": time.perf_counter(),  # how old the data on screen is (bench/bench_console.py)
            "status": status,
            "identity": gw.identity,
            "markets": markets,
            "now": now,
            "clock": gw.clock(),
            "counters": counters,
            "last_minute": last_minute,
            "rate": rate,
        }
        if self.venue is not None:
            vm["sessions"] = ov["sessions"]
            vm["session"] = self.venue.session
            vm["connection"] = self.venue.connection.state()
        collect = getattr(screen, "collect", None)
        if collect is not None:
            vm.update(collect(gw))
        return vm

    def refresh_now(self) -> None:
        """Fetch and render now. Live: render the last view model at once and fetch a fresh one in a
        worker (the UI thread never waits for the node's lock). Frozen: fetch and render inline."""
        if self.live:
            if self.vm and self.screen_stack and hasattr(self.screen, "render_vm"):
                self._render_vm(self.vm)
            self.request_fetch()
            return
        try:
            vm = self.collect()
        except GatewayError as e:
            self.notify(e.message, title="Read failed", severity="error")
            return
        self._render_vm(vm)

    def show_latest(self) -> None:
        """Render the last view model read into the current screen (no read)."""
        if self.vm:
            self._render_vm(self.vm)

    def _tick_refresh(self) -> None:
        self._refresh_timer = None
        if not self.is_running or not self.screen_stack:
            return  # shutting down
        self.request_fetch()

    def request_fetch(self) -> None:
        """Read a fresh view model off the UI thread. One read at a time: the refresh timer's ticks,
        screen switches and commands all come through here, and a request made while a read is in
        flight is served by one more read right after it (never a second chain of reads)."""
        if self._fetching:
            self._fetch_again = True
            return
        screen = self._data_screen()
        if screen is None:  # nothing to read for yet: try again on the next tick
            if self.live and self._refresh_timer is None:
                self._refresh_timer = self.set_timer(self.refresh_s, self._tick_refresh, name="refresh")
            return
        self._fetching = True
        self._fetch(screen)

    def _data_screen(self):
        """The desk screen whose data to read: the top one (under a modal, the one beneath it)."""
        for screen in reversed(self.screen_stack):
            if hasattr(screen, "render_vm"):
                return screen
        return None

    @work(thread=True, exit_on_error=False, group="refresh", name="refresh")
    def _fetch(self, screen) -> None:
        try:
            vm = self.collect(screen)
        except GatewayError as e:
            if e.code != "venue_unreachable" or self.venue is None:
                raise
            vm = self._stale_vm()
            if vm is None:  # nothing read yet: the banner still says so
                self.call_from_thread(self._show_unreachable)
                return
        self.post_message(Refreshed(vm))

    # ---- the attached venue: its event stream, and when it does not answer ------------------------
    def _stale_vm(self) -> dict | None:
        """The last data read, marked stale, with the connection's state (the venue does not answer)."""
        if not self.vm or self.venue is None:
            return None
        vm = dict(self.vm)
        vm["stale"] = True
        vm["connection"] = self.venue.connection.state()
        return vm

    def _show_unreachable(self) -> None:
        vm = self._stale_vm()
        if vm is not None:
            self._render_vm(vm)
        self.refresh_bindings()

    def on_venue_event(self, msg: VenueEvent) -> None:
        if msg.kind == "events":
            self.request_fetch()  # something happened: read now (coalesced with a read in flight)
        elif msg.kind == "down":
            self._show_unreachable()
        elif msg.kind == "up":  # back: everything is read again (who we are included)
            try:
                self.gateway.whoami(refresh=True)
            except GatewayError:
                pass
            self.refresh_bindings()
            self.request_fetch()

    def venue_unreachable(self) -> str | None:
        """Why nothing can be done now when the attached venue does not answer (None: it answers)."""
        if self.venue is None:
            return None
        st = self.venue.connection.state()
        if st["connected"]:
            return None
        since = time.strftime("%H:%M:%S", time.localtime(st["down_since"] or time.time()))
        return f"VENUE UNREACHABLE since {since}, retrying"

    def _fetch_done(self) -> None:
        self._fetching = False
        if not self.is_running:
            return
        if self._fetch_again:
            self._fetch_again = False
            self.request_fetch()
        elif self.live and self._refresh_timer is None:  # the one refresh chain: next read refresh_s later
            self._refresh_timer = self.set_timer(self.refresh_s, self._tick_refresh, name="refresh")

    def on_refreshed(self, msg: Refreshed) -> None:
        try:
            self._render_vm(msg.vm)  # under a modal: kept in self.vm, shown when the modal closes
        finally:
            self._fetch_done()

    def _render_vm(self, vm: dict) -> None:
        self.vm = vm
        if not self.screen_stack:
            return
        screen = self.screen
        if hasattr(screen, "render_vm"):  # not a modal: the screen beneath shows it when the modal closes
            with self.batch_update():
                self.guarded(f"render {getattr(screen, 'NAME', screen)}", screen.render_vm, vm)
            self.renders += 1
        st = vm["status"]
        state = (st.get("brake_engaged"), st.get("liquidations_paused"), vm["identity"].get("role"),
                 bool(vm.get("stale")))
        if state != self._brake_state:
            self._brake_state = state
            self.refresh_bindings()

    def guarded(self, where: str, fn: Callable, *args) -> object:
        """``fn(*args)``; an unexpected error becomes a log record (with its traceback), an entry in
        ``self.errors`` and a notification (once per distinct error), never the end of the app."""
        try:
            return fn(*args)
        except Exception as e:
            self.report_error(where, e)
            return None

    def report_error(self, where: str, err: BaseException) -> None:
        text = f"{type(err).__name__}: {err}"
        tb = "".join(traceback.format_exception(err))
        self.errors.append((where, text, tb))
        del self.errors[:-50]
        sig = f"{where}|{text}"
        if sig in self._errors_shown:  # a refresh repeats the same error: logged in full once
            log.debug("console: %s failed again: %s", where, text)
        else:
            self._errors_shown.add(sig)
            log.error("console: %s failed: %s\n%s", where, text, tb)
            self.log.error(f"{where} failed", tb)
            self.notify(f"{text} (logged; the console carries on)", title=f"{where} failed", severity="error",
                        timeout=10)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            err = event.worker.error
            self.notify(f"{type(err).__name__}: {err}", title=f"{event.worker.name or 'worker'} failed",
                        severity="error")
            if event.worker.group == "refresh":
                self._fetch_done()
        elif event.state == WorkerState.CANCELLED and event.worker.group == "refresh":
            self._fetch_done()
