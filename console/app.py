"""The perpdesk operator console.

Threads: the node's sequencer applies commands and hands event batches to the
:class:`~engine.venue.feed.Feed` (buffering only). Attached to a venue (``venue``, an
:class:`engine.api.client.VenueClient`) the gateway and feed are HTTP calls and the venue's event
stream asks for a read when something happens; an in-process live desk runs the simulated market in
a thread worker. Refreshes are one chain: a thread worker reads the
gateway and posts :class:`Refreshed`; its handler renders, then a one-shot
timer asks for the next read ``refresh_s`` later. One read is in flight at a
time: a screen switch or a command asks for a read now, and a request made
during a read is served right after it (never a second chain). While a modal is open the screen beneath keeps its data fresh
without rendering, and shows it in the first frame after the modal closes. Operator commands run in thread workers and come back
as :class:`CommandDone`. In frozen mode (tests, screenshots) the same reads
and commands run inline, so every run renders the same bytes.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import traceback
from collections.abc import Callable

from textual import events, on, work
from textual.actions import parse as parse_action
from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.worker import Worker, WorkerState, get_current_worker

from engine.api.errors import GatewayError
from engine.api.models import Outcome

from . import format as fmt
from . import textual_compat
from .messages import CommandDone, MarketProgress, Refreshed, VenueEvent
from .palette import DeskCommands

log = logging.getLogger("perpdesk.console")

GO = Binding.Group("Go", compact=True)
INCIDENT = Binding.Group("Incident")
VENUE = Binding.Group("Venue")

#: app action -> the node action (role check) it needs
ACTION_NEEDS = {
    "brake": "emergency_brake",
    "release": "release_brake",
    "snapshot": "take_snapshot",
    "toggle_liquidations": "pause_liquidations",
    "rollback": "rollback",
    "take_snapshot": "take_snapshot",
    "propose": "propose_refund",
    "approve": "decide_refund",
    "approve_treasury": "decide_refund",
    "reject": "decide_refund",
    "compute": "propose_refund",
    "pay": "pay_refund",
    "schedule": "schedule_maintenance",
    "cancel_window": "cancel_maintenance",
    "reschedule_window": "reschedule_maintenance",
    "extend_window": "extend_maintenance",
    "account_mode": "set_account_mode",
    "cancel_account_orders": "cancel_account_orders",
}


class PerpdeskApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "perpdesk"
    COMMANDS = App.COMMANDS | {DeskCommands}
    MODES = {}  # filled below (imports are circular-free there)
    DEFAULT_MODE = "dashboard"

    BINDINGS = [
        Binding("ctrl+b", "brake", "Brake", id="brake", group=INCIDENT, priority=True,
                key_display="^b", tooltip="Emergency brake: preview, then confirm"),
        Binding("exclamation_mark", "brake", "Brake", id="brake_bang", show=False, key_display="!"),
        Binding("ctrl+r", "release", "Release", id="release", group=INCIDENT, priority=True,
                key_display="^r", tooltip="Release the brake through the validation gate"),
        Binding("ctrl+l", "toggle_liquidations", "Liq pause", id="toggle_liquidations", group=INCIDENT,
                key_display="^l", tooltip="Pause or resume liquidations on every market"),
        Binding("o", "venue('mode')", "Venue controls", id="venue_controls", group=VENUE,
                tooltip="Market mode per market, platform access, TP/SL triggers, liquidations per market, "
                        "safeguards: a confirmation with a required reason"),
        Binding("f6", "snapshot", "Snapshot", id="take_snapshot", show=False,
                tooltip="Take a manual snapshot now"),
        Binding("d", "go('dashboard')", "Dashboard", id="go_dashboard", group=GO),
        Binding("l", "go('liquidations')", "Liquidations", id="go_liquidations", group=GO),
        Binding("m", "go('maintenance')", "Maintenance", id="go_maintenance", group=GO),
        Binding("s", "go('snapshots')", "Snapshots", id="go_snapshots", group=GO),
        Binding("r", "go('refunds')", "Refunds", id="go_refunds", group=GO),
        Binding("a", "go('audit')", "Audit", id="go_audit", group=GO),
        Binding("c", "go('accounts')", "Accounts", id="go_accounts", group=GO),
        Binding("t", "go('alerts')", "Alerts", id="go_alerts", group=GO,
                tooltip="Alert deliveries to Slack, PagerDuty, Discord and webhooks"),
        # not in the footer or the tab bar (no room at 80 columns): in Help and the palette
        Binding("b", "go('book')", "Book", id="go_book", group=GO, show=False,
                tooltip="Order-book depth ladder and trades tape per market ([ ] change market)"),
        Binding("question_mark,f1", "help", "Help", id="help", key_display="?"),
    ]

    def __init__(self, node, *, gateway, feed, desk=None,
                 live: bool = False, refresh_s: float = 0.25, sim_speed: float = 1.0,
                 sim_steps_per_batch: int = 1, venue=None) -> None:
        super().__init__()
        self.node = node  # None when attached to a venue (``venue``)
        self.venue = venue  # engine.api.client.VenueClient, or None for an in-process desk
        self.gateway = gateway
        self.feed = feed
        self.desk = desk
        self.live = live
        self.refresh_s = refresh_s
        self.sim_speed = sim_speed
        self.sim_steps_per_batch = sim_steps_per_batch
        self.vm: dict = {}
        self.sim_rate: float | None = None
        self.renders = 0
        self._started_node = False
        self._brake_state: tuple | None = None
        self._switch_now = False
        self._brake_modal = None  # the brake dialog, built on first use and kept
        self._pending_modals: list = []  # dialogs opened while the screens were being built (push_screen)
        self.prebuild_home: str | None = None
        self._refresh_timer = None  # the refresh chain's pending tick
        self._fetching = False  # a refresh read is in flight
        self._fetch_again = False  # and another was asked for meanwhile
        self.last_outcome: Outcome | None = None
        self._gc_held: object | None = None  # the timer that gives the collector back (see _hold_gc)
        #: unexpected errors caught in a refresh or a demo tick (where, exception text, traceback), newest last
        self.errors: list[tuple[str, str, str]] = []
        self._errors_shown: set[str] = set()
        #: the stylesheet's generation: a theme switch changes the CSS (kept modals restyle on it)
        self.css_generation = 0
        #: Textual internals (console/textual_compat.py), applied here, at start, with a version check;
        #: False: the installed Textual is out of range and the public fallbacks are used
        self.compat = textual_compat.apply(self, self._on_full_frame)

    # ---- lifecycle ----------------------------------------------------------
    def on_mount(self) -> None:
        self.theme = "textual-dark"
        self.theme_changed_signal.subscribe(self, self._css_changed)
        if self.live:
            if self.node is not None and getattr(self.node, "_thread", None) is None:
                self.node.start()
                self._started_node = True
            if self.venue is not None:  # the venue runs its market; we follow its event stream
                self.venue.attach(lambda kind, payload: self.post_message(VenueEvent(kind, payload)))
            elif self.desk is not None:
                self.desk.start_services()  # price feeds and alert delivery, when configured
                self.run_market()
            self.refresh_now()  # the first read; each next one refresh_s after the last is rendered
            self.call_after_refresh(self._prebuild_then_freeze)
        else:
            self.refresh_now()

    async def _prebuild_then_freeze(self) -> None:
        try:
            await self.prebuild_screens()
        except Exception as e:  # the screens are then built on their first visit, as before
            self.report_error("prebuild screens", e)
        self._freeze_startup_objects()

    async def prebuild_screens(self) -> None:
        """Compose every desk screen once at start, nothing drawn meanwhile (updates batched), and come
        back: a first visit is then a switch to an existing screen (composing one under load took
        180-560 ms)."""
        self.prebuild_home = home = self.current_mode
        try:
            with self.batch_update():
                for mode in self.MODES:
                    if not self.is_running:  # shutting down: add no screen while Textual closes them
                        return
                    if mode != home:
                        await self.switch_mode(mode)
                if self.is_running:  # back where the operator is (a go key meanwhile changed it)
                    await self.switch_mode(self.prebuild_home)
        finally:
            self.prebuild_home = None
            pending, self._pending_modals = self._pending_modals, []
            for screen, callback in pending:  # dialogs opened meanwhile (the brake!) open now, on the right screen
                if self.is_running:
                    self.push_screen(screen, callback)

    def push_screen(self, screen, callback=None, wait_for_dismiss: bool = False):
        """A dialog opened while the screens are being built at start (a key pressed in the first second)
        would land on the stack of whichever screen is being built, out of sight: it waits for the
        build to come back home, then opens (the build takes a fraction of a second)."""
        if (getattr(self, "prebuild_home", None) is not None and not wait_for_dismiss
                and isinstance(screen, ModalScreen)):
            self._pending_modals.append((screen, callback))
            return None
        return super().push_screen(screen, callback, wait_for_dismiss=wait_for_dismiss)

    @staticmethod
    def _freeze_startup_objects() -> None:
        """Move what exists once the desk is up (modules, classes, the app and its first screen,
        stylesheets: most of the process's objects, alive until it exits) out of the cyclic garbage
        collector's sight. A full collection stops every thread, the UI's too, and scanned all of
        them each time: 0.2-0.5 s on a busy machine, a key press waiting behind it. Frozen objects
        are still freed when no longer referenced; only a reference cycle among them would stay."""
        gc.collect()
        gc.freeze()

    # ---- a key press never waits for the garbage collector ------------------------
    #: the longest a key's frame may hold the cyclic collector off (then it runs, frame or not)
    GC_HOLD_S = 0.5

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown)) and not event.is_forwarded:
            self._hold_gc()
        await super().on_event(event)

    def _hold_gc(self) -> None:
        """Keep the cyclic garbage collector from running between a key press and the first full
        frame that follows it. Textual's rendering makes reference cycles by the thousand (a Strip
        divided at its own length caches itself; every restyle makes virtual nodes), so collections
        come often, and a full one stops the UI thread for 40-140 ms under load: the tail of the
        key latency. Held, the collection runs right after that frame is written (or after
        GC_HOLD_S at most), on the same garbage: nothing is kept longer than half a second more."""
        if self._gc_held is not None or not gc.isenabled():
            return  # already held (a key repeat), or the collector is off for another reason
        gc.disable()
        self._gc_held = self.set_timer(self.GC_HOLD_S, self._release_gc, name="gc-hold")
        if not self.compat:  # no frame-written hook: give it back after the next refresh (public API)
            self.call_after_refresh(self._release_gc)

    def _release_gc(self) -> None:
        timer, self._gc_held = self._gc_held, None
        if timer is None:
            return
        timer.stop()
        gc.enable()

    def _on_full_frame(self) -> None:
        """A full frame has been written (textual_compat's hook)."""
        if self._gc_held is not None:  # the key's full frame is out: the collector may run again, after this turn
            asyncio.get_running_loop().call_soon(self._release_gc)

    def _css_changed(self, _theme) -> None:
        self.css_generation += 1

    def on_unmount(self) -> None:
        self._release_gc()
        self.workers.cancel_all()
        if self.live and self.desk is not None:
            self.desk.stop_services()
        if self._started_node:
            self.node.stop()
        if self.venue is not None:
            self.venue.detach()  # leaving never stops the venue (a sandbox stops after its last console)

    # ---- the simulated market (live) -------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="market", name="market")
    def run_market(self) -> None:
        worker = get_current_worker()

        class _Stop:  # the worker's cancellation as the market loop's stop signal
            @staticmethod
            def is_set() -> bool:
                return worker.is_cancelled

            @staticmethod
            def wait(t: float) -> bool:
                time.sleep(t)
                return worker.is_cancelled

        self.desk.run_market(_Stop, speed=self.sim_speed, steps_per_batch=self.sim_steps_per_batch,
                             on_rate=lambda steps, cmds, rate: self.post_message(MarketProgress(steps, cmds, rate)))

    @on(MarketProgress)
    def _market_progress(self, msg: MarketProgress) -> None:
        self.sim_rate = msg.rate

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

    @on(VenueEvent)
    def _venue_event(self, msg: VenueEvent) -> None:
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

    @on(Refreshed)
    def _refreshed(self, msg: Refreshed) -> None:
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

    # ---- permissions: dim, never silently ignore --------------------------------
    def why_not(self, action: str) -> str | None:
        """Why ``action`` is unavailable now (None: it is available)."""
        need = ACTION_NEEDS.get(action)
        if need or action in ("venue", "quit_venue"):
            down = self.venue_unreachable()
            if down:
                return down
        gw = self.gateway
        if need and not gw.may(need):
            ident = gw.identity
            return (f"{ident.get('operator')} is {ident.get('role')}; "
                    f"{need.replace('_', ' ')} needs {gw.required_role(need)}")
        st = self.vm.get("status", {})
        if action == "brake" and st.get("brake_engaged"):
            return "the emergency brake is already engaged"
        if action == "release" and not st.get("brake_engaged"):
            return "the emergency brake is not engaged"
        return None

    def action_allowed(self, action: str) -> bool | None:
        return None if self.why_not(action) else True

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        return self.action_allowed(action)

    async def run_action(self, action, default_namespace=None, namespaces=None) -> bool:
        try:
            target, name, params = self._action_target(action, default_namespace, namespaces)
            if target.check_action(name, params) is None:
                why = self.why_not(name) or getattr(target, "why_not", lambda _n: None)(name)
                if why:
                    self.notify(why, title="Not available", severity="warning")
                    return True
        except Exception:
            pass
        return await super().run_action(action, default_namespace, namespaces)

    def _action_target(self, action, default_namespace, namespaces):
        """(node, action name, parameters) for an action string, as Textual resolves it: the named
        namespace (``app.``, ``screen.``, ``focused.`` or one of ``namespaces``), else the default one."""
        destination, name, params = parse_action(action) if isinstance(action, str) else action
        target = None
        if destination:
            target = (namespaces or {}).get(destination)
            if target is None:
                target = {"app": self, "screen": self.screen, "focused": self.focused}[destination]
        if target is None:
            target = self if default_namespace is None else default_namespace
        return target, name, params

    # ---- commands ----------------------------------------------------------------
    def run_command(self, label: str, fn: Callable[[], Outcome], success: str = "",
                    then: Callable[[Outcome], None] | None = None) -> None:
        """Run a gateway write; inline when frozen, in a thread worker when live."""
        if self.live:
            self._command_worker(label, fn, success, then)
        else:
            self._command_done(CommandDone(label, self._safe(fn), success), then)

    @staticmethod
    def _safe(fn: Callable[[], Outcome]) -> Outcome:
        try:
            return fn()
        except GatewayError as e:
            return Outcome(False, e.code, e.message)
        except Exception as e:  # never a traceback on screen
            return Outcome(False, "error", f"{type(e).__name__}: {e}")

    @work(thread=True, exit_on_error=False, group="commands")
    def _command_worker(self, label: str, fn, success: str, then) -> None:
        out = self._safe(fn)
        self.call_from_thread(self._command_done, CommandDone(label, out, success), then)

    def _command_done(self, msg: CommandDone, then=None) -> None:
        out = msg.outcome
        self.last_outcome = out
        if out.ok:
            self.notify(msg.success or out.message or f"{msg.label}: done", title=msg.label)
        else:
            self.notify(f"{out.message} ({out.code})", title=f"{msg.label} refused", severity="error",
                        timeout=8)
        if then is not None:
            then(out)
        self.refresh_now()

    # ---- actions -------------------------------------------------------------------
    def get_system_commands(self, screen):
        """The palette offers perpdesk's actions; of Textual's own commands only the theme switch
        (quit, screenshot, maximise, keys are either perpdesk's own or noise at the desk)."""
        for cmd in super().get_system_commands(screen):
            if cmd.title.lower().startswith("theme"):
                yield cmd

    def action_go(self, mode: str) -> None:
        if getattr(self, "prebuild_home", None) is not None:  # screens are being built: land there after
            self.prebuild_home = mode
            return
        if self.current_mode != mode:
            self.switch_mode(mode)

    def switch_mode(self, mode: str):
        # Textual masks every mode switch with ``delay_update(0.05)``: nothing is drawn for 50 ms, to
        # hide a screen that is still being built. A desk screen that already exists is complete, so
        # it is drawn at once (the first visit still gets the mask while its screen is composed).
        try:
            stack = self.get_screen_stack(mode)
        except KeyError:  # never visited: no stack yet
            stack = None
        self._switch_now = stack is not None
        if stack and self.live and self.vm:
            # the first frame shows the latest data, not what the screen showed when it was left
            target = stack[-1]
            if hasattr(target, "render_vm"):
                self.guarded(f"render {mode}", target.render_vm, self.vm)
        try:
            result = super().switch_mode(mode)
        finally:
            self._switch_now = False
        self.screen.resumed_by_switch = True  # its ScreenResume keeps the styles (DeskScreen)
        return result

    def delay_update(self, delay: float = 0.05) -> None:
        if not self._switch_now:
            super().delay_update(delay)

    def action_help(self) -> None:
        from .modals.help import HelpScreen

        self.push_screen(HelpScreen(self.screen))

    def action_brake(self) -> None:
        from .modals.brake import BrakeModal

        if isinstance(self.screen, BrakeModal) or any(isinstance(s, BrakeModal) for s, _ in self._pending_modals):
            return
        modal = self._brake_modal
        if modal is None:  # built once and kept (installed): opening it again is only a repaint
            modal = self._brake_modal = BrakeModal(None)
            self.install_screen(modal, "brake")
        else:
            modal.reset()
        self._load_into(modal, self.gateway.brake_preview, "Brake preview failed")

        def done(trip: bool | None) -> None:
            if not trip:
                self.notify("Brake not tripped; nothing changed.", title="Brake canceled")
                return

            def summary(out: Outcome) -> None:
                ev = next((e for e in out.events if e["type"] == "brake_engaged"), None)
                if out.ok and ev:
                    out.message = (f"BRAKE ENGAGED: {ev['canceled_orders']} orders canceled, "
                                   f"{ev['kept_tpsl']} TP/SL kept, {ev['accounts_affected']} accounts affected; "
                                   f"all markets halted")
            reason = modal.reason
            self.run_command("Emergency brake", lambda: _with(self.gateway.emergency_brake(reason), summary),
                             success="")

        self.push_screen(modal, done)

    def action_release(self) -> None:
        from .modals.release import ReleaseModal

        modal = ReleaseModal(None)
        self._load_into(modal, self.gateway.checks, "Validation checks failed to run")

        def done(release: bool | None) -> None:
            if release:
                reason = modal.reason
                self.run_command("Release brake", lambda: self.gateway.release_brake(reason),
                                 success="Brake released: platform access restored, markets reopen in post_only")

        self.push_screen(modal, done)

    def _load_into(self, modal, read: Callable, failure: str) -> None:
        """Fill ``modal`` (``modal.load(data)``) from a gateway read: inline when frozen, else in a worker
        so the modal opens at once even while the sequencer holds its lock."""
        if not self.live:
            try:
                modal.load(read())
            except GatewayError as e:
                self.notify(e.message, title=failure, severity="error")
            return
        self._load_worker(modal, read, failure)

    @work(thread=True, exit_on_error=False, group="reads")
    def _load_worker(self, modal, read: Callable, failure: str) -> None:
        try:
            data = read()
        except GatewayError as e:
            self.call_from_thread(self.notify, e.message, title=failure, severity="error")
            return
        self.call_from_thread(modal.load, data)

    def action_toggle_liquidations(self) -> None:
        from .modals.confirm import ConfirmDialog

        paused = self.vm.get("status", {}).get("liquidations_paused")
        if paused:
            label, verb, fn = "Resume liquidations", "resumed", self.gateway.resume_liquidations
            explain = ("Liquidations resume on every market: accounts below maintenance margin are "
                       "liquidated from the next tick.")
        else:
            label, verb, fn = "Pause liquidations", "paused", self.gateway.pause_liquidations
            explain = ("Liquidations pause on every market: accounts below maintenance margin stay open "
                       "and may build bad debt until they resume.")

        def done(reason: str | None) -> None:
            if not reason:
                self.notify(f"{label}: canceled; nothing changed.", title=label)
                return
            self.run_command(label, lambda: fn(None, reason), success=f"Liquidations {verb} on every market")

        self.push_screen(ConfirmDialog(label.upper(), explain, label, id="liquidations-modal"), done)

    async def action_quit(self) -> None:
        """Quit only after a confirmation (Cancel focused): quitting stops the venue."""
        from .modals.confirm import ConfirmDialog

        if isinstance(self.screen, ConfirmDialog) and self.screen.id == "quit-modal":
            return

        def done(ok) -> None:
            if ok:
                self.exit()

        what = ("the scenario stops where it is" if getattr(self, "director", None) is not None
                else "the venue keeps running (a sandbox venue stops a few seconds after its last console "
                     "leaves)" if self.venue is not None
                else "the venue stops with it: the market, the sequencer and the database close")
        self.push_screen(ConfirmDialog("QUIT PERPDESK", f"Leave the console: {what}.", "Quit", reason=False,
                                       id="quit-modal"), done)

    # ---- venue controls ------------------------------------------------------------
    #: extra command palette entries: (name, help, action)
    PALETTE_EXTRA = [
        ("Venue: market mode…", "open / post-only / reduce-only / cancel-only / halted, one market or all",
         "venue('mode')"),
        ("Venue: platform access…", "disable or enable client access", "venue('access')"),
        ("Venue: withdrawals…", "pause or resume withdrawals (deposits and trading go on)", "venue('withdrawals')"),
        ("Venue: TP/SL triggers…", "pause or resume stop-loss / take-profit triggers, one market or all",
         "venue('triggers')"),
        ("Venue: liquidations per market…", "pause or resume liquidations on one market or all",
         "venue('liquidations')"),
        ("Venue: safeguards…", "turn the guard rails off (approver) or on", "venue('safeguards')"),
    ]

    def why_not_venue(self, control: str) -> str | None:
        from .modals.venue import CONTROLS

        need = CONTROLS[control][3]
        down = self.venue_unreachable()
        if down:
            return down
        gw = self.gateway
        if not gw.may(need):
            ident = gw.identity
            return (f"{ident.get('operator')} is {ident.get('role')}; "
                    f"{need.replace('_', ' ')} needs {gw.required_role(need)}")
        return None

    def action_venue(self, control: str = "mode") -> None:
        from .modals.venue import VenueModal

        why = self.why_not_venue(control)
        if why:  # refused before a dialog opens
            self.notify(why, title="Not available", severity="warning")
            return
        try:
            markets = self.gateway.markets()
            status = self.gateway.status()
            # shown before a restricted market reopens: what fires then (bounded reads, restricted markets only)
            backlog = [self.gateway.reopen_backlog(m["market"]) for m in markets if m["mode"] != "open"]
        except GatewayError as e:
            self.notify(e.message, title="Venue state unavailable", severity="error")
            return

        def done(choice: dict | None) -> None:
            if choice is None:
                self.notify("Nothing changed.", title="Venue controls")
                return
            self.apply_venue(choice, markets)

        self.push_screen(VenueModal(control, markets, status, backlog), done)

    def apply_venue(self, c: dict, markets: list[dict]) -> None:
        from .modals.venue import CONTROLS, needs

        gw = self.gateway
        control, value, market, reason = str(c["control"]), str(c["value"]), c["market"], c["reason"]
        need = needs(control, value)
        if not gw.may(need):
            ident = gw.identity
            self.notify(f"{ident.get('operator')} is {ident.get('role')}; {need.replace('_', ' ')} needs "
                        f"{gw.required_role(need)}", title="Not available", severity="warning")
            return
        title = CONTROLS[control][0]
        where = market or "every market"
        if control == "mode":
            names = [market] if market else [m["market"] for m in markets]

            def fn() -> Outcome:
                current = {m["market"]: m["mode"] for m in gw.markets()}
                todo = [m for m in names if current.get(m) != value]
                if not todo:
                    return Outcome(False, "no_change", f"{', '.join(names)} already {value}")
                outs = [gw.set_market_mode(m, value, reason) for m in todo]
                bad = next((o for o in outs if not o.ok), None)
                done = [m for m, o in zip(todo, outs, strict=True) if o.ok]
                if bad is not None:
                    bad.message = (f"{bad.message}" + (f" (done: {', '.join(done)})" if done else ""))
                    return bad
                return Outcome(True, "", f"{', '.join(done)} → {value.replace('_', '-')}", outs[-1].seq)
            success = ""
        elif control == "liquidations":
            def fn() -> Outcome:
                return (gw.pause_liquidations if value == "pause" else gw.resume_liquidations)(market, reason)
            success = f"Liquidations {value}d on {where}"
        elif control == "triggers":
            def fn() -> Outcome:
                return (gw.pause_triggers if value == "pause" else gw.resume_triggers)(market, reason)
            success = f"TP/SL triggers {value}d on {where}"
        elif control == "access":
            def fn() -> Outcome:
                return gw.set_platform_access(value == "enable", reason)
            success = f"Platform access {value}d"
        elif control == "withdrawals":
            def fn() -> Outcome:
                return gw.set_withdrawals(value == "resume", reason)
            success = f"Withdrawals {value}d"
        else:
            def fn() -> Outcome:
                return gw.set_safeguards(value == "on", reason)
            success = f"Safeguards {value}"
        self.run_command(title, fn, success=success)

    def action_snapshot(self) -> None:
        self.run_command("Snapshot", lambda: self.gateway.take_snapshot("manual from console"),
                         success="Snapshot taken")


def _with(out: Outcome, fn: Callable[[Outcome], None]) -> Outcome:
    fn(out)
    if out.ok and not out.message:
        out.message = "done"
    return out


def _install_modes() -> None:
    from .screens.accounts import AccountsScreen
    from .screens.alerts import AlertsScreen
    from .screens.audit import AuditScreen
    from .screens.book import BookScreen
    from .screens.dashboard import DashboardScreen
    from .screens.liquidations import LiquidationsScreen
    from .screens.maintenance import MaintenanceScreen
    from .screens.refunds import RefundsScreen
    from .screens.snapshots import SnapshotsScreen

    PerpdeskApp.MODES = {
        "dashboard": DashboardScreen,
        "liquidations": LiquidationsScreen,
        "maintenance": MaintenanceScreen,
        "snapshots": SnapshotsScreen,
        "refunds": RefundsScreen,
        "audit": AuditScreen,
        "accounts": AccountsScreen,
        "alerts": AlertsScreen,
        "book": BookScreen,
    }


_install_modes()
