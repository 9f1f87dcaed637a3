"""Venue controls: market modes, platform access, withdrawals, TP/SL triggers, liquidations per market,
safeguards.

One dialog (``o``, or the palette's "Venue: …" entries, which open it on their control): choose the
control, what to set and where, type the reason (required), then Tab to Apply; Cancel is focused.
Each control sends the engine's own command through the gateway, so the node checks roles, the
brake and the validation gate exactly as for any other client, and the audit log records it.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, Static

from .confirm import ConfirmDialog

MODES = ["open", "post_only", "reduce_only", "cancel_only", "halted"]
ALL = "*"

#: control -> (title, choices, per market, the node action (role) it needs)
CONTROLS: dict[str, tuple[str, list[str], bool, str]] = {
    "mode": ("Market mode", MODES, True, "set_market_mode"),
    "liquidations": ("Liquidations", ["pause", "resume"], True, "pause_liquidations"),
    "triggers": ("TP/SL triggers", ["pause", "resume"], True, "pause_triggers"),
    "access": ("Platform access", ["disable", "enable"], False, "set_platform_access"),
    "withdrawals": ("Withdrawals", ["pause", "resume"], False, "set_withdrawals"),
    "safeguards": ("Safeguards (guard rails)", ["off", "on"], False, "set_safeguards"),
}

EXPLAIN = {
    "mode": "open trades freely; post_only rests orders only; reduce_only lets positions shrink; cancel_only "
            "accepts cancels only; halted stops the market. Opening goes through the validation gate.",
    "liquidations": "Paused, accounts below maintenance margin stay open (and may build bad debt) until resumed.",
    "triggers": "Paused, stop-loss / take-profit orders do not fire until resumed.",
    "access": "Disabled, no client may place or cancel orders; operators still act.",
    "withdrawals": "Paused, every withdrawal is refused (withdrawals_paused); deposits and trading go on.",
    "safeguards": "Off, the venue runs without its guard rails (price bands on market data, circuit breaker, "
                  "reopen gate): turning them off needs an approver.",
}


def needs(control: str, value: str) -> str:
    """The node action a control needs a role for (turning safeguards off needs more)."""
    if control == "safeguards" and value == "off":
        return "disable_safeguards"
    return CONTROLS[control][3]


class VenueModal(ConfirmDialog):
    """Choose a control, its setting and market; a reason is required; Cancel is focused."""

    DEFAULT_CSS = """
    VenueModal .row { height: auto; }
    VenueModal .row Vertical { height: auto; width: 1fr; }
    VenueModal #venue-effect { margin-top: 1; }
    """

    def __init__(self, control: str, markets: list[dict], status: dict, backlog: list[dict] | None = None) -> None:
        super().__init__("VENUE CONTROLS", None, "Apply", reason_id="venue-reason", reason_placeholder="why",
                         error_id="venue-error", id="venue-modal")
        self.control = control
        self.markets = markets
        self.status = status
        self.backlog = backlog or []  # per restricted market: what fires when it reopens (views.reopen_backlog)

    def compose_body(self) -> ComposeResult:
        yield Static(self._state(), id="venue-state", classes="explain")
        with Horizontal(classes="row"):
            with Vertical():
                yield Label("Control")
                yield Select([(v[0], k) for k, v in CONTROLS.items()], value=self.control,
                             allow_blank=False, id="venue-control")
            with Vertical():
                yield Label("Set to")
                yield Select(self._choices(self.control), allow_blank=False, id="venue-value")
            with Vertical():
                yield Label("Market")
                yield Select([("every market", ALL)] + [(m["market"], m["market"]) for m in self.markets],
                             value=ALL, allow_blank=False, id="venue-market")
        yield Static("", id="venue-effect")

    def _choices(self, control: str) -> list[tuple[str, str]]:
        return [(c.replace("_", "-"), c) for c in CONTROLS[control][1]]

    def _state(self) -> Text:
        st = self.status
        t = Text("now: ", style="bold")
        t.append(", ".join(f"{m['market']} {m['mode'].replace('_', '-')}" for m in self.markets))
        t.append(f"; access {'enabled' if st.get('platform_access', True) else 'DISABLED'}")
        t.append(f"; withdrawals {'enabled' if st.get('withdrawals_enabled', True) else 'PAUSED'}")
        t.append(f"; liquidations {'paused' if st.get('liquidations_paused') else 'running'}")
        t.append(f"; TP/SL {'paused' if st.get('triggers_paused') else 'running'}")
        t.append(f"; safeguards {'on' if st.get('safeguards', True) else 'OFF'}")
        waiting = [b for b in self.backlog if b["liquidatable"] or b["triggers"]]
        if self.backlog:
            t.append("\nWaiting to fire when a restricted market reopens: ", style="bold")
            t.append("; ".join(f"{b['market']} {b['liquidatable']:,} liquidation{'s' if b['liquidatable'] != 1 else ''}, "
                               f"{b['triggers']:,} TP/SL" for b in self.backlog),
                     style="bold yellow" if waiting else "")
        if st.get("brake_engaged"):
            t.append("\nThe brake is engaged: markets stay halted and access off until it is released.",
                     style="bold red")
        return t

    def choice(self) -> dict:
        control = self.query_one("#venue-control", Select).value
        value = self.query_one("#venue-value", Select).value
        market = self.query_one("#venue-market", Select).value
        per_market = CONTROLS[str(control)][2]
        return {"control": control, "value": value, "market": market if per_market and market != ALL else None,
                "reason": self.query_one("#venue-reason", Input).value.strip()}

    def on_select_changed(self, event: Select.Changed) -> None:
        # (then ConfirmDialog's handler refreshes the effect and the buttons)
        if event.select.id == "venue-control" and event.value != self.control:
            self.control = str(event.value)
            sel = self.query_one("#venue-value", Select)
            sel.set_options(self._choices(self.control))

    def _refresh_state(self, show_problems: bool = True) -> None:
        c = self.choice()
        control = str(c["control"])
        self.query_one("#venue-market", Select).disabled = not CONTROLS[control][2]
        where = c["market"] or ("every market" if CONTROLS[control][2] else "the venue")
        t = Text()
        t.append(f"{CONTROLS[control][0]} → {str(c['value']).replace('_', '-')} on {where}. ", style="bold")
        t.append(EXPLAIN[control], style="dim")
        self.query_one("#venue-effect", Static).update(t)
        super()._refresh_state(show_problems)

    def result(self) -> dict:
        return self.choice()
