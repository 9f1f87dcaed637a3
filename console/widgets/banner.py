"""The status banner: the venue's state, who is at the desk, where the data lives, the tab bar."""

from __future__ import annotations

import time

from rich.text import Text
from textual import events
from textual.widgets import Static

from .. import format as fmt
from .content import show_content
from .tabs import EXTRA_SCREENS, SCREEN_KEYS, SCREEN_TITLES, SHORT_TITLES

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
