"""``perpdesk demo NAME`` in the terminal: the scenario plays live inside the real console.

:class:`DemoApp` is the operator console (:class:`~console.app.PerpdeskApp`, frozen mode: reads and
commands run inline on the UI thread) with a timer that advances the scenario's engine clock at
``speed`` times real time by stepping :class:`engine.sim.runner.ScenarioRun` (the simulated
market and the timeline's faults). The timeline's operator actions (``OPERATOR_ACTIONS``) are not
performed by the runner: it hands them to the :class:`Director`, which performs each one the way a
person would: switch to the screen, open the modal, fill it in, pause on it so the audience can read
the preview, confirm. The command then goes through the app's gateway like any other.

A caption bar under the banner on every screen narrates the current step, what comes next, the
engine time and the speed.

Keys: ``ctrl+t`` takes the desk from the script (and gives it back), ``f7`` pauses/resumes the
whole demo, ``f8``/``f9`` halve/double the speed. While you have the desk the market and the
remaining faults keep running; the script's operator steps that come due wait in a queue
(the caption shows how many) and are performed, in order, when you hand the desk back. An action
the script had started when you took over is left to you (its modal stays open).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Input

from engine.api.models import Outcome
from engine.node.roles import Actor
from engine.sim.runner import ScenarioRun, fmt_duration
from engine.venue.gateway import Gateway

from ..app import PerpdeskApp
from ..format import clock_time, count_of
from ..widgets.caption import CaptionBar

DEMO = Binding.Group("Demo")
APPROVER = Actor("risk-lead", "approver")


class Handover(Exception):
    """The operator took the desk (or the app is closing) in the middle of a scripted action."""


class Director:
    """Plays a :class:`ScenarioRun` inside a :class:`DemoApp`; performs its operator steps on screen."""

    def __init__(self, app: DemoApp, run: ScenarioRun, speed: float, beat: float, compare: bool = False) -> None:
        self.app = app
        self.compare = compare  # at the end, run the other guard-rail setting headless and show both
        self._compare_thread = None
        self.run = run
        self.speed = speed
        self.beat = beat  # seconds each scripted screen is held so the audience can read it
        self.scripted = True  # False: the operator has the desk
        self.paused = False
        self.acting: str | None = None  # the scripted action under way
        self.queue: list[tuple[int, object]] = []  # operator steps due, waiting for the script
        self.caption = run.sc.scenario.title
        self.last = ""
        self.performed: list[str] = []  # the scripted actions done, in order (entry action names)
        self.report: dict | None = None
        self._budget = 0.0
        self._last_wall = time.monotonic()

    def attach(self) -> None:
        """From now on the timeline's operator steps are this director's (the app is up to show them)."""
        self.run.operator = self._due
        self._last_wall = time.monotonic()

    # ---- the clock ----------------------------------------------------------------------
    def _due(self, ts: int, entry) -> None:
        self.queue.append((ts, entry))

    def tick(self) -> None:
        """Advance engine time by the wall time since the last tick x speed (timer callback)."""
        now = time.monotonic()
        dt, self._last_wall = now - self._last_wall, now
        if self.paused or self.acting or self.run.done or (self.queue and self.scripted):
            self._budget = 0.0
        else:
            step = self.run.step_ms
            self._budget = min(self._budget + dt * self.speed * 1000, step * 20)
            n = 0
            while self._budget >= step and not self.run.done and n < 20:
                self.advance()
                self._budget -= step
                n += 1
                if self.queue and self.scripted:
                    break
        if self.queue and self.scripted and not self.acting and not self.paused:
            self.app.run_worker(self.perform_next, group="demo-script", exclusive=True, exit_on_error=False)
        self._finish_if_done()
        self.app.show_caption()

    def advance(self) -> None:
        """One runner step (market, faults, ticks); captions from the timeline lines."""
        for line in self.run.step():
            if line.caption and any(self.run.caption_for(e) == line.caption for _ts, e in self.queue):
                continue  # a step handed to the script: its caption shows when the script performs it
            if line.caption:
                self.caption = line.caption
            text = line.text.strip()
            if text and not text.startswith(("venue opened",)):
                self.last = text
        if not isinstance(self.app.screen, _modal_types()):
            self.app.refresh_now()
        self.app.show_caption()

    def _finish_if_done(self) -> None:
        if self.run.done and not self.queue and not self.acting and self.report is None:
            self.report = self.run.report()
            self.caption = "The scenario is over: the desk is yours."
            ok = self.report["expectations"]["ok"]
            self.app.notify(f"{self.run.sc.scenario.name}: expectations {'met' if ok else 'NOT met'}; "
                            f"{self.report['liquidations']['total']} liquidations "
                            f"({self.report['liquidations']['unintended']} unintended)",
                            title="Demo finished", timeout=15)
            if self.compare:
                self._start_comparison()

    # ---- the end: both runs side by side ------------------------------------------------
    def _start_comparison(self) -> None:
        """The same scenario and seed with the other guard-rail setting, headless, on a thread; then both
        runs side by side in a notification (and in the summary printed on quitting)."""
        import threading

        from .play import compare, comparison_table

        rep = self.report
        assert rep is not None
        self.caption = ("The scenario is over: the desk is yours. Running it again "
                        f"{'with' if not self.run.safeguards else 'without'} the guard rails for the comparison…")

        def work() -> None:
            try:
                compare(self.run, rep)
            except Exception as err:  # the comparison is extra: say so, never end the app
                self.app.call_from_thread(self.app.notify, f"{type(err).__name__}: {err}",
                                          title="Demo comparison failed", severity="error")
                return
            self.app.call_from_thread(self._compared, comparison_table(rep))

        self._compare_thread = threading.Thread(target=work, name="demo-compare", daemon=True)
        self._compare_thread.start()

    def _compared(self, table: str) -> None:
        self.caption = "The scenario is over: the desk is yours. Both runs are compared in the summary."
        self.app.notify(table, title="As it happened vs with perpdesk's guard rails", timeout=60)
        self.app.show_caption()

    def wait_comparison(self, timeout: float | None = None) -> None:
        t = self._compare_thread
        if t is not None:
            t.join(timeout)

    # ---- keys ---------------------------------------------------------------------------
    def toggle_takeover(self) -> None:
        self.scripted = not self.scripted
        if self.scripted:
            self.app.notify("The script has the desk again" + (f"; {count_of(len(self.queue), 'step')} to catch up"
                                                               if self.queue else "."), title="Demo")
        else:
            self.app.notify("You have the desk. The market keeps running; the script's steps wait. "
                            "ctrl+t hands it back.", title="Demo")
        self.app.show_caption()

    def toggle_pause(self) -> None:
        self.paused = not self.paused
        self.app.show_caption()

    def set_speed(self, speed: float) -> None:
        self.speed = max(1.0, min(speed, 5000.0))
        self.app.show_caption()

    # ---- the caption --------------------------------------------------------------------
    def caption_text(self, width: int | None = None) -> Text:
        """The caption's three lines; ``width`` (the bar's): the first line never wraps (on a narrow
        terminal its key hints give way, the footer shows them, and what is left is cut with an
        ellipsis) so the step and the next one keep their lines."""
        run = self.run
        t = Text()
        t.append(" DEMO ", style="bold reverse")
        t.append(f" {run.sc.scenario.name}  ", style="bold")
        t.append(f"engine {clock_time(run.now)} UTC  +{fmt_duration(run.now - run.start)} of "
                 f"{fmt_duration(run.end - run.start)}  ×{self.speed:g}")
        if self.paused:
            t.append("  PAUSED", style="bold yellow")
        if not self.scripted:
            t.append("  You have the desk", style="bold yellow")
        elif self.acting:
            t.append(f"  script: {self.acting}", style="bold")
        hints = "   ^t desk  f7 pause  f8/f9 speed"
        if width is None or t.cell_len + len(hints) <= width:
            t.append(hints, style="dim")
        elif t.cell_len > width:
            t.truncate(width, overflow="ellipsis")
        t.append("\n")
        if not self.scripted:
            t.append("You have the desk: the market and the faults run on; the script waits until ^t hands it back"
                     + (f" ({count_of(len(self.queue), 'scripted step')} waiting)" if self.queue else "") + ".", style="bold")
        else:
            t.append(self.caption or "", style="bold")
        t.append("\n")
        due = bool(self.queue)  # a step handed to the script: it fired, its `if` held
        nxt = self.queue[0] if due else run.upcoming()
        if nxt is not None:
            ts, e = nxt
            t.append(f"next {clock_time(ts)}: {e.action.replace('_', ' ')}", style="italic")
            cond = None if due else getattr(e, "if_", None)
            if cond:  # it may not happen: say on what it depends, never announce it
                t.append(f" (only if {cond})", style="italic")
            elif getattr(e, "caption", "") and (due or not getattr(e, "caption_if", None)):
                # (a caption with a condition is judged when the entry fires: not announced ahead)
                t.append(f" — {e.caption}", style="dim italic")
        elif self.last:
            t.append(self.last, style="dim")
        return t

    # ---- the script ---------------------------------------------------------------------
    async def perform_next(self) -> None:
        if not self.queue or self.acting or not self.scripted:
            return
        ts, e = self.queue.pop(0)
        self.acting = e.action.replace("_", " ")
        caption = self.run.caption_for(e)
        if caption:
            self.caption = caption
        self.app.show_caption()
        try:
            await getattr(self, f"_{e.action}")(e)
            self.performed.append(e.action)
        except Handover:
            self.last = f"{self.acting}: left to you"
        except Exception as err:  # never a traceback on screen: say what failed, close its modal, carry on
            while isinstance(self.app.screen, _modal_types()):
                self.app.pop_screen()
            self.app.notify(f"{type(err).__name__}: {err}", title=f"Demo step {e.action} failed", severity="error")
        finally:
            self.acting = None
            self.app.show_caption()

    async def _hold(self, factor: float = 1.0) -> None:
        """Let the audience read the screen; stop here if the operator took the desk."""
        await asyncio.sleep(self.beat * factor)
        while self.paused and self.scripted:
            await asyncio.sleep(0.1)
        if not self.scripted or not self.app.is_running:
            raise Handover

    async def _settle(self, cond, limit: float = 4.0) -> None:
        """Wait (a little wall time) until what the script needs on screen is there."""
        for _ in range(int(limit / 0.02)):
            if cond():
                return
            await asyncio.sleep(0.02)

    async def _go(self, mode: str) -> None:
        while isinstance(self.app.screen, _modal_types()):  # a modal someone left open
            self.app.pop_screen()
        self.app.action_go(mode)

        for _ in range(200):  # until the screen is up (its tables have their columns)
            screen = self.app.screen
            if (getattr(screen, "NAME", None) == mode and screen.is_mounted
                    and all(t.columns for t in screen.query("DataTable, LiveTable"))):
                break
            await asyncio.sleep(0.02)
        await self._hold(0.5)
        self.app.refresh_now()

    def _outcome(self, e, label: str) -> Outcome | None:
        out = self.app.last_outcome
        if out is not None:
            self.last = f"{label}: {out.message if out.ok else 'refused: ' + out.message}"
            if out.ok and out.seq:
                self.run.record(e, [out.seq])
        return out

    async def _emergency_brake(self, e) -> None:
        from ..modals.brake import BrakeModal

        await self._go("dashboard")
        if self.app.gateway.status().get("brake_engaged"):  # someone at the desk already tripped it
            self.last = "brake: already engaged"
            return
        self.app.action_brake()  # the preview is read as it opens
        await self._settle(lambda: isinstance(self.app.screen, BrakeModal) and self.app.screen.is_mounted)
        await self._hold(0.2)
        modal = self.app.screen
        assert isinstance(modal, BrakeModal)
        modal.query_one("#brake-reason", Input).value = e.reason
        await self._hold(2)
        self.app.last_outcome = None
        modal.action_confirm()
        await self._hold(0.2)
        self._outcome(e, "brake")

    @contextlib.contextmanager
    def _approver(self):
        """The second person at the desk (risk-lead, approver) for the steps the runner sends as them
        (release, rollback, refund decisions and payments): the same journal live and headless."""
        own = self.app.gateway
        self.app.gateway = own.as_actor(APPROVER)
        try:
            yield self.app.gateway
        finally:
            self.app.gateway = own

    async def _release_brake(self, e) -> None:
        with self._approver():
            await self._release_brake_as(e)

    async def _release_brake_as(self, e) -> None:
        from ..modals.release import ReleaseModal

        await self._go("dashboard")
        if not self.app.gateway.status().get("brake_engaged"):  # someone at the desk already released it
            self.last = "release: the brake is not engaged"
            return
        self.app.action_release()
        await self._settle(lambda: isinstance(self.app.screen, ReleaseModal) and self.app.screen.is_mounted)
        await self._hold(0.2)
        modal = self.app.screen
        assert isinstance(modal, ReleaseModal)
        modal.query_one("#release-reason", Input).value = e.reason
        await self._hold(2)
        self.app.last_outcome = None
        if modal.failures and e.override:  # the modal offers no override: the gateway write a person would send
            modal.dismiss(False)
            await self._hold(0.2)
            self.app.run_command("Release brake (override)", lambda: self.app.gateway.send(
                {"type": "release_brake", "reason": e.reason, "override": True}))
        else:
            modal.action_confirm()
        await self._hold(0.2)
        self._outcome(e, "release")

    async def _rollback(self, e) -> None:
        with self._approver():
            await self._rollback_as(e)

    async def _rollback_as(self, e) -> None:
        from ..modals.rollback import RollbackModal

        sid = self.run.snapshot_ref(e.snapshot)
        if sid is None:
            self.app.notify(f"no snapshot matches {e.snapshot!r}", title="Demo: rollback", severity="error")
            return
        await self._go("snapshots")
        screen = self.app.screen
        from textual.widgets import DataTable

        table = screen.query_one("#snap-table", DataTable)
        table.move_cursor(row=table.get_row_index(sid))
        await self._hold(0.5)
        screen.action_preview()  # the account-by-account preview
        await self._hold(2)
        screen.action_rollback()
        await self._settle(lambda: isinstance(self.app.screen, RollbackModal) and self.app.screen.is_mounted)
        await self._hold(0.3)
        modal = self.app.screen
        assert isinstance(modal, RollbackModal)
        typed = modal.query_one("#confirm-id", Input)
        for i in range(0, len(sid) + 1, max(1, len(sid) // 4)):  # typed, as a person types it
            typed.value = sid[:i]
            await self._hold(0.1)
        typed.value = sid
        modal.query_one("#confirm-reason", Input).value = e.reason
        await self._hold(1.5)
        self.app.last_outcome = None
        modal.action_confirm()
        await self._hold(0.3)
        self._outcome(e, "rollback")

    async def _set_market_mode(self, e) -> None:
        # the console has no market-mode form: the gateway write a person would send, on the dashboard
        await self._go("dashboard")
        from engine.sim.runner import _markets_of

        gw = self.app.gateway
        modes = {m["market"]: m["mode"] for m in gw.markets()}
        todo = [m for m in _markets_of(self.run.sc, e.markets) if modes.get(m) != e.mode]

        def send() -> Outcome:
            outs = [gw.set_market_mode(m, e.mode, e.reason) for m in todo]
            bad = [o for o in outs if not o.ok]
            if bad:
                return bad[0]
            return Outcome(True, "", f"{', '.join(todo) or 'every market'} -> {e.mode}", outs[-1].seq if outs else 0)

        self.app.last_outcome = None
        self.app.run_command(f"Market mode {e.mode}", send)
        await self._hold()
        self._outcome(e, f"mode {e.mode}")

    async def _take_snapshot(self, e) -> None:
        await self._go("snapshots")
        self.app.last_outcome = None
        self.app.run_command("Snapshot", lambda: self.app.gateway.take_snapshot(e.label or (e.id or "scenario")),
                             success=f"Snapshot taken: {e.label or e.id}")
        out = self.app.last_outcome
        sid = next((ev["snapshot_id"] for ev in (out.events if out else []) if ev["type"] == "snapshot_taken"), None)
        if sid is not None:
            self.run.record(e, [out.seq], snapshot_id=sid)
        await self._hold()

    async def _compute_refunds(self, e) -> None:
        from textual.widgets import Select

        from ..modals.compute import ComputeModal

        if e.method != "counterfactual":  # the console computes counterfactual refunds; reference-price ones via the gateway
            await self._go("refunds")
            run, gw = self.run, self.app.gateway
            seqs = run.bad_seqs([e.since]) if e.since else []
            upto = run.bad_seqs([e.upto]) if e.upto else []
            status = gw.status()
            ref_ts = run.start + run.sc.offset(e.reference) if e.reference is not None else run.now
            report = gw.reference_refunds(min(seqs) - 1 if seqs else 0, max(upto) if upto else status["seq"],
                                          ref_ts, e.market)
            self._proposed(report)
            if report.get("proposals"):
                self.app.run_command("Propose refunds", lambda: gw.propose_refunds(report, e.reason))
            await self._hold()
            return
        sid = self.run.snapshot_ref(e.snapshot or "maintenance")
        bad = self.run.bad_seqs(e.bad)
        await self._go("refunds")
        self.app.screen.action_compute()
        await self._settle(lambda: isinstance(self.app.screen, ComputeModal) and self.app.screen.is_mounted)
        await self._hold(0.5)
        modal = self.app.screen
        assert isinstance(modal, ComputeModal)
        await self._settle(lambda: any(s["snapshot_id"] == sid for s in modal.snapshots))
        if sid is not None:
            modal.query_one("#cf-snapshot", Select).value = sid
        await self._hold(0.5)
        modal.query_one("#cf-bad", Input).value = ", ".join(str(s) for s in bad)
        await self._hold()
        modal.compute()
        await self._hold(2)  # the proposals with their evidence
        if modal.report is None or not modal.report.get("proposals"):
            self.last = "refunds: nobody is owed anything for this window"
            self.app.notify("Nobody is owed anything for this window; no refunds proposed.", title="Refunds")
            modal.dismiss(None)
            return
        modal.query_one("#cf-reason", Input).value = e.reason
        await self._hold(0.5)
        if modal.report is not None:
            self._proposed(modal.report)
        self.app.last_outcome = None
        modal.propose()
        await self._hold()
        self._outcome(e, "refunds")

    def _proposed(self, report: dict) -> None:
        rf = self.run.refunds
        rf["method"] = report.get("method", rf["method"])
        rf["proposed_count"] += len(report.get("proposals", []))
        rf["proposed_total"] += report.get("total", 0)

    async def _approve_refunds(self, e) -> None:
        """A second person (risk-lead, approver) approves: the first in its modal, the rest in one go."""
        from ..modals.reason import ReasonModal

        await self._go("refunds")
        app = self.app
        own = app.gateway
        app.gateway = own.as_actor(APPROVER)
        try:
            app.refresh_now()
            await self._hold(0.5)
            screen = app.screen
            pending = [r for r in screen.refunds if r["status"] == "proposed"]
            if not pending:
                self.last = "no refunds to approve"
                return
            from textual.widgets import DataTable

            table = screen.query_one("#refund-table", DataTable)
            table.move_cursor(row=table.get_row_index(pending[0]["refund_id"]))
            if e.fund == "treasury":
                screen.action_approve_treasury()
            else:
                screen.action_approve()
            await self._settle(lambda: isinstance(app.screen, ReasonModal) and app.screen.is_mounted)
            await self._hold(0.3)
            modal = app.screen
            if isinstance(modal, ReasonModal):
                modal.query_one(Input).value = e.reason
                await self._hold()
                modal.action_confirm()
                await self._hold(0.3)
            gw = app.gateway
            rest = [r["refund_id"] for r in pending[1:]]

            def approve_rest() -> Outcome:
                for rid in rest:
                    gw.decide_refund(rid, True, e.reason, fund=e.fund)
                ids = {r["refund_id"] for r in pending}
                n = sum(1 for r in gw.refunds() if r["refund_id"] in ids and r["status"] == "approved")
                self.run.refunds["approved_count"] += n
                return Outcome(True, "", f"{n} of {len(ids)} refunds approved by {APPROVER.name}")

            app.run_command("Approve refunds", approve_rest)
            await self._hold()
        finally:
            app.gateway = own
        app.refresh_now()

    async def _pay_refunds(self, e) -> None:
        await self._go("refunds")
        app = self.app
        own = app.gateway
        gw = own.as_actor(APPROVER)
        approved = [r["refund_id"] for r in gw.refunds() if r["status"] == "approved"]

        def pay() -> Outcome:
            outs = [gw.pay_refund(rid, e.fund) for rid in approved]
            n = sum(o.ok for o in outs)
            bad = next((o for o in outs if not o.ok), None)
            msg = f"{n} refunds paid" + (f" from the {e.fund} fund" if e.fund else "")
            return Outcome(True, "", msg + (f"; {len(outs) - n} refused: {bad.message}" if bad else ""))

        app.run_command("Pay refunds", pay)
        await self._hold()
        self._outcome(e, "pay")


def _modal_types():
    from textual.screen import ModalScreen

    return (ModalScreen,)


class DemoApp(PerpdeskApp):
    """The console with a scenario playing in it (see the module docstring)."""

    CSS_PATH = "../app.tcss"  # (Textual reads it beside the class that runs: the app's own stylesheet)
    BINDINGS = PerpdeskApp.BINDINGS + [
        Binding("ctrl+t", "takeover", "Take/give the desk", id="demo_takeover", group=DEMO, priority=True,
                key_display="^t", tooltip="Stop the script's operator actions (the market keeps running); again to resume"),
        Binding("f7", "demo_pause", "Pause demo", id="demo_pause", group=DEMO, priority=True,
                tooltip="Pause or resume the whole demo (market, faults and script)"),
        Binding("f8", "demo_speed(0.5)", "Slower", id="demo_slower", group=DEMO, priority=True, show=False),
        Binding("f9", "demo_speed(2)", "Faster", id="demo_faster", group=DEMO, priority=True, show=False),
    ]

    def __init__(self, run: ScenarioRun, *, gateway: Gateway, feed, desk, speed: float = 30.0,
                 beat: float = 1.2, tick_s: float = 0.1, autoplay: bool = True, report_path: str | None = None,
                 compare_runs: bool = False) -> None:
        super().__init__(run.node, gateway=gateway, feed=feed, desk=desk, live=False)
        self.scenario_run = run  # (App.run is the app's own method)
        self.director = Director(self, run, speed, beat, compare=compare_runs)
        self.tick_s = tick_s
        self.autoplay = autoplay
        self.report_path = report_path
        self.title = f"perpdesk demo: {run.sc.scenario.name}"

    def on_mount(self) -> None:
        super().on_mount()
        self.director.attach()
        if self.autoplay:
            self.set_interval(self.tick_s, self._demo_tick, name="demo-clock")

    def _demo_tick(self) -> None:
        self.guarded("demo clock", self.director.tick)

    def show_caption(self) -> None:
        for screen in self.screen_stack:
            for bar in screen.query(CaptionBar):
                bar.show(self.director)

    def action_takeover(self) -> None:
        self.director.toggle_takeover()

    def action_demo_pause(self) -> None:
        self.director.toggle_pause()

    def action_demo_speed(self, factor: float) -> None:
        self.director.set_speed(self.director.speed * factor)
