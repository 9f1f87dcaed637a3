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

import inspect
import time

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.worker import get_current_worker

from engine.api.models import Outcome

from . import textual_compat
from .actions import IncidentActions
from .commands import Commands
from .fetch import Fetching
from .gc_hold import GcHold
from .messages import MarketProgress, VenueEvent
from .palette import DeskCommands
from .permissions import ACTION_NEEDS, Permissions

GO = Binding.Group("Go", compact=True)
INCIDENT = Binding.Group("Incident")
VENUE = Binding.Group("Venue")

class PerpdeskApp(GcHold, Fetching, Permissions, Commands, IncidentActions, App):
    """The console: one idea per module, mixed in here (each mixin's module says what it holds):
    :mod:`console.gc_hold` (a key press never waits for the collector), :mod:`console.fetch` (reads,
    rendering, the attached venue's stream and its outages), :mod:`console.permissions` (why_not,
    check_action), :mod:`console.commands` (running a gateway write), :mod:`console.actions` (the
    incident and venue-control actions). What stays here: the keys, start-up (the screens built once,
    the start-up objects frozen), the simulated market's worker and switching between screens."""

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
        self.preload_screen_css()
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

    def screen_classes(self) -> list[type]:
        """Every desk screen and every dialog with its own CSS (console/app.tcss says what is where)."""
        from .modals.brake import BrakeModal
        from .modals.compute import ComputeModal
        from .modals.help import HelpScreen
        from .modals.release import ReleaseModal

        return [*self.MODES.values(), BrakeModal, ReleaseModal, HelpScreen, ComputeModal]

    def preload_screen_css(self) -> None:
        """Each screen's and dialog's own CSS (a ``CSS`` string on its class) into the stylesheet at start,
        in one reparse. Textual loads a screen's CSS when the screen is first installed and reparses the
        whole stylesheet then: the first brake press paid for it (its dialog opened ~300 ms later under
        load). The sources are the ones Textual itself would add, under the same keys (it then finds them
        there and adds nothing): the same rules, scoped the same, ranked the same."""
        sheet = self.stylesheet
        added = False
        for cls in self.screen_classes():
            if not cls.CSS:
                continue
            try:
                path = inspect.getfile(cls)
            except (TypeError, OSError):
                path = ""
            class_var = f"{cls.__name__}.CSS"
            if not sheet.has_source(path, class_var):
                sheet.add_source(cls.CSS, read_from=(path, class_var), is_default_css=False,
                                 scope=cls.__name__ if cls.SCOPED_CSS else "")
                added = True
        if added:
            sheet.reparse()

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

__all__ = ["ACTION_NEEDS", "PerpdeskApp"]
