"""Shared widgets: the status banner and the base screen every desk screen builds on."""

from __future__ import annotations

from rich.text import Text
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
SCREEN_KEYS = {"dashboard": "d", "liquidations": "l", "maintenance": "m", "snapshots": "s",
               "refunds": "r", "audit": "a", "accounts": "c", "alerts": "t"}


def venue_state(status: dict) -> tuple[str, str]:
    """(label, css class) for the banner."""
    if status.get("brake_engaged"):
        return "BRAKE ENGAGED", "-brake"
    windows = status.get("maintenance") or []
    now = status.get("now", 0)
    active = [w for w in windows if w.get("phase") not in ("scheduled", "done", "completed")
              or w["start_ts"] <= now < w["start_ts"] + w["duration_ms"]]
    if active:
        return "MAINTENANCE", "-maintenance"
    if not status.get("platform_access", True):
        return "ACCESS DISABLED", "-brake"
    return "OPEN", "-open"


class StatusBanner(Static):
    """The unmistakable venue state, who is at the desk and where the data lives."""

    DEFAULT_CLASSES = "-open"

    def __init__(self, screen_name: str) -> None:
        super().__init__("", id="banner")
        self.screen_name = screen_name

    def show(self, vm: dict) -> None:
        st = vm["status"]
        ident = vm["identity"]
        label, cls = venue_state(st)
        for c in ("-open", "-brake", "-maintenance"):
            self.set_class(c == cls, c)
        t = Text()
        t.append(f" {label} ", style="bold reverse")
        extra = []
        if st.get("liquidations_paused"):
            extra.append("liquidations paused")
        if st.get("triggers_paused"):
            extra.append("TP/SL paused")
        if st.get("safeguards") is False:
            extra.append("SAFEGUARDS OFF")
        if extra:
            t.append("  " + " · ".join(extra), style="bold")
        t.append(f"   operator {ident.get('operator')} ({ident.get('role')})   db {ident.get('db')}")
        t.append(f"   seq {st.get('seq', 0):,}   engine time {fmt.clock_time(st.get('now'))} UTC")
        if vm.get("rate") is not None:
            t.append(f"   {vm['rate']:,.0f} cmd/s")
        t.append("\n")
        for name, title in SCREEN_TITLES.items():
            key = SCREEN_KEYS[name]
            if name == self.screen_name:
                t.append(f" {key} {title} ", style="bold reverse")
            else:
                t.append(f" {key} {title} ")
        self.update(t)


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
            if sig == self._shown and self._bindings_ready:
                return
            self._shown = sig
        super().bindings_changed(screen)


class DeskScreen(Screen):
    """A screen with the banner on top and the footer below; renders view models."""

    NAME = "dashboard"

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
        banners = self.query(StatusBanner)
        if not banners:  # not composed yet (a refresh that raced a screen switch): the next one renders
            return
        banners.first().show(vm)
        self.show(vm)

    def on_screen_resume(self) -> None:
        # the screen appears at once with what it showed last; fresh data follows right after the
        # frame (a key press never waits for a render of data)
        if self.app.live:
            self.call_after_refresh(self.app.refresh_now)
        else:
            self.app.refresh_now()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        return self.app.action_allowed(action)
