"""The incident and venue-control actions: help, the emergency brake and its release, pausing
liquidations, quitting, the venue controls dialog and a manual snapshot (a mixin of
:class:`console.app.PerpdeskApp`; each opens its dialog from console/modals and runs the command
through ``run_command``)."""

from __future__ import annotations

from collections.abc import Callable

from textual import work

from engine.api.errors import GatewayError
from engine.api.models import Outcome


class IncidentActions:
    """The app-level actions behind the incident and venue keys (see PerpdeskApp.BINDINGS)."""

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

    def quit_consequence(self, short: bool = False) -> str:
        """What quitting does to the venue (the quit dialog and Help say the same; Help's row, ``short``,
        without the detail the dialog gives, so that it stays on one line)."""
        if getattr(self, "director", None) is not None:
            return "the scenario stops where it is"
        if self.venue is not None:
            return ("the venue keeps running" if short else
                    "the venue keeps running (a sandbox venue stops a few seconds after its last console leaves)")
        return "the venue stops with it" if short else \
            "the venue stops with it: the market, the sequencer and the database close"

    async def action_quit(self) -> None:
        """Quit only after a confirmation (Cancel focused): quitting stops the venue."""
        from .modals.confirm import ConfirmDialog

        if isinstance(self.screen, ConfirmDialog) and self.screen.id == "quit-modal":
            return

        def done(ok) -> None:
            if ok:
                self.exit()

        what = self.quit_consequence()
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

