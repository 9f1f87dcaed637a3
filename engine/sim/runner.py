"""Run a scenario: a seeded simulated venue on a node, a timeline of faults and operator actions,
and a report measured from what the node published.

:class:`ScenarioRun` can be stepped (``step()``, ``run_until(ts)``, iterating yields timeline lines
with their captions as they happen) so a console can drive it, or run to the end (``run()``,
which returns the report). Everything goes through the node's gateway (``Node.submit`` / ``call``
and its refund API) as the venue's services (``system``), the on-call operator (``oncall``) and a
second approver (``risk-lead``) for the maker-checker steps. No wall clock: the node runs on the
scenario's clock, so the same seed gives the same journal and the same report.

The pieces: this module sets up the venue, keeps the clock, steps the simulator and drains the node's
events into lines and figures; the timeline's operator actions are :mod:`engine.sim.actions`, its faults
and market moves :mod:`engine.sim.faults` (``HANDLERS`` maps every action to its method), the report
:mod:`engine.sim.report`, the expectations :mod:`engine.sim.checks`. A timeline entry's ``if`` (the
caption grammar of :mod:`engine.sim.captions`) is evaluated when it comes due: when it does not hold, the
action is not taken and the run records a ``skipped`` line (the report's ``skipped``).

**Unintended liquidations.** A fault entry in the timeline declares its window: from its ``at`` to
its ``until`` (a time or the id of a later entry). A liquidation is *unintended* when it happens
(engine time) inside any fault's window; ``by_fault`` counts them per fault. Liquidations outside
every window are the market's own (prices moved). This is the scenario author's statement of when
the venue's inputs were bad, not a counterfactual replay: honest, simple, and checkable by eye.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..api import vocabulary
from ..core.fixedpoint import parse_decimal
from ..core.markets import DEFAULT_MARKETS
from ..node.node import Node, NodeError
from ..node.roles import SYSTEM, Actor
from . import captions
from .actions import (
    APPROVER,
    COMMAND_ACTIONS,
    NODE_ACTIONS,
    NOT_IN_TIMELINE,
    ONCALL,
    OPERATOR_ACTIONS,
    OperatorActions,
    markets_of,
)
from .dbfile import claim_db
from .faults import FaultActions
from .report import UNINTENDED_DEFINITION, Reporting, count_unintended, fmt_duration
from .scenario import (
    ACTIONS,
    FAULT_ACTIONS,
    MAX_PRICE_PATH_BYTES,
    Scenario,
    ScenarioError,
    load_scenario,
    read_limited,
)
from .simulator import Participants, PricePathError, Simulator, load_price_path

#: console/demo/desk.py imports the helper by this name
_markets_of = markets_of

#: guard-rail events counted in the report (the vocabulary's ``safeguard`` types)
SAFEGUARD_EVENTS = vocabulary.SAFEGUARD_TYPES


class ScenarioClock:
    """The node's clock: scenario time in engine milliseconds."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@dataclass
class Line:
    """One timeline line: what happened at ``ts``; ``caption`` is the scenario's words for it."""

    ts: int
    text: str
    kind: str = "event"  # action | fault | event | expect | skipped (an entry whose ``if`` did not hold)
    caption: str = ""
    entry_id: str | None = None

    def __str__(self) -> str:
        t = datetime.fromtimestamp(self.ts / 1000, UTC).strftime("%H:%M:%S")
        s = f"{t}  {self.text}"
        if self.caption:
            s += f"\n          {self.caption}"
        return s



def _override(sc: Scenario, field: str, value) -> int:
    """A command-line override of ``sim.<field>``, held to the same limits as the file."""
    from typing import Annotated

    from pydantic import TypeAdapter, ValidationError

    info = type(sc.sim).model_fields[field]
    try:
        return TypeAdapter(Annotated[int, info]).validate_python(value, strict=True)
    except ValidationError as e:
        why = e.errors()[0]["msg"]
        raise ScenarioError(sc.source or sc.scenario.name, [("command line", f"--{field} (sim.{field})",
                                                             f"{value!r}: {why}")]) from None


_SETUP_PIECE = 5_000  # setup commands per piece when the setup reports its progress


class ScenarioRun(OperatorActions, FaultActions, Reporting):
    """One run of a scenario on a fresh venue (its timeline actions in engine/sim/actions.py and faults.py,
    its report in report.py)."""

    def __init__(self, scenario: Scenario | str, *, seed: int | None = None, safeguards: bool | None = None,
                 accounts: int | None = None, home: str | None = None, operator=None) -> None:
        self.sc = load_scenario(scenario) if isinstance(scenario, str) else scenario
        h = self.sc.scenario
        self.seed = self.sc.sim.seed if seed is None else _override(self.sc, "seed", seed)
        self.accounts = self.sc.sim.accounts if accounts is None else _override(self.sc, "accounts", accounts)
        self._db_lock: int | None = None  # flock held on the demo database's .lock file while it runs
        #: None: as the real venue ran (the scenario's ``[scenario] safeguards``)
        self.safeguards = h.safeguards if safeguards is None else safeguards
        self.as_happened = self.safeguards == h.safeguards
        self.start = h.start_ms
        self.end = h.start_ms + h.duration_ms
        self.step_ms = h.step_ms
        self.clock = ScenarioClock(self.start)
        self.home = home
        self.db: str | None = None
        self.node: Node | None = None
        self.sim: Simulator | None = None
        self.lines: list[Line] = []
        self._next_entry = 0
        self._steps = 0
        self._pending: list[tuple[int, dict]] = []
        self._target: int | None = None  # the step under way when an operator entry interrupted it
        self._fired_at: dict[str, int] = {}  # timeline id -> liquidations counted when it fired
        self._handed_over = False  # the entry just fired was handed to the operator driver
        #: entries not taken because their ``if`` did not hold: {ts, action, id, if}
        self.skipped: list[dict] = []
        #: timeline index -> the caption shown for it (after its condition; filled from the counters)
        self.captions: dict[int, str] = {}
        self._socialized_events = 0
        self.figures = {"liquidated_notional": 0, "bad_debt": 0, "socialized_loss": 0, "deleverages": 0,
                        "downtime_ms": 0, "restricted_ms": 0, "rollbacks": 0}
        self._seqs: dict[str, list[int]] = {}  # timeline id -> seqs of the commands it sent
        # ``perpdesk demo --headless`` on a terminal: (setup commands done, of total) between pieces
        # of the setup (the same commands in the same order; None: sent in one piece)
        self.setup_progress: Callable[[int, int], object] | None = None
        self._snap_ids: dict[str, str] = {}  # take_snapshot entry id -> snapshot id
        self._expiries: list[tuple[int, str, str, str | None]] = []  # (ts, kind, market, fault id)
        self._oracle_tags: dict[str, str] = {}  # market -> fault id while its oracle is faulty
        self._windows: list[tuple[str, int, int]] = []
        self._crash: dict | None = None
        self._abandoned: list[Node] = []
        self._subscribers: list = []
        #: ``operator(ts, entry)``: who performs the OPERATOR_ACTIONS entries (None: this runner does)
        self.operator = operator
        self.liquidations: list[tuple[int, dict]] = []
        self.brake: dict | None = None
        self.rollback: dict | None = None
        self.recovery: dict | None = None
        self.maintenance: list[dict] = []
        self.safeguard_events: Counter = Counter()
        self.refunds = {"available": True, "method": None, "proposed_count": 0, "proposed_total": 0,
                        "approved_count": 0, "paid_count": 0, "paid_total": 0}
        self._proposals: list[str] = []
        self._approved: list[str] = []
        self._rejected: list[str] = []
        self._build_windows()

    # ---- setup -------------------------------------------------------------------------
    def _build_windows(self) -> None:
        sc = self.sc
        ids = {e.id: self.start + sc.offset(e.at) for e in sc.timeline if e.id}
        for i, e in enumerate(sc.timeline):
            if e.action in FAULT_ACTIONS:
                fid = e.id or f"fault{i}"
                until = e.until
                u = ids[until] if isinstance(until, str) and until in ids else self.start + sc.offset(until)
                self._windows.append((fid, self.start + sc.offset(e.at), u))

    def _market_specs(self) -> list[dict]:
        by_name = {m["market"]: m for m in DEFAULT_MARKETS}
        out = []
        for ms in self.sc.sim.markets:
            spec = dict(by_name[ms.market])
            for k, v in ms.model_dump(exclude_none=True).items():
                if k not in ("funding_index", "vol_bps"):
                    spec[k] = v
            if spec.get("post_only_band") is not None and parse_decimal(spec["post_only_band"], 8, "band") == 0:
                del spec["post_only_band"]  # "0": the market has no post-only band of its own
            out.append(spec)
        return out

    def setup(self) -> list[Line]:
        """Build the node and the venue (markets, accounts, leveraged traders); idempotent."""
        if self.node is not None or self.sim is not None:
            return []
        sc = self.sc
        if sc.scenario.durable:
            base = self.home or os.environ.get("PERPDESK_HOME")
            d = Path(base) / "scenarios" if base else Path(tempfile.mkdtemp(prefix="perpdesk-scenario-"))
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            path, self._db_lock = claim_db(d, f"{sc.scenario.name}-{self.seed}-{'on' if self.safeguards else 'off'}")
            self.db = str(path)
            self.node = Node.open(self.db, clock=self.clock, actor=ONCALL)
        else:
            self.node = Node(clock=self.clock, actor=ONCALL)
        self.node.subscribe(self._on_events)
        path_points = None
        if sc.sim.price_path:
            p = sc.sim.price_path
            if sc.source and not os.path.isabs(p):
                p = str(Path(sc.source).parent / p)
            read_limited(p, MAX_PRICE_PATH_BYTES, "price path")  # a regular file of bounded size, or refused
            try:
                path_points = load_price_path(p, [m.market for m in sc.sim.markets])
            except UnicodeDecodeError as e:
                raise ScenarioError(sc.source or sc.scenario.name, [(p, "sim.price_path",
                                                                     f"not UTF-8 text (byte {e.start})")]) from None
            except PricePathError as e:
                raise ScenarioError(sc.source or sc.scenario.name, [(str(e).split(": ")[0], "sim.price_path",
                                                                     str(e).split(": ", 1)[-1])]) from None
        ps = sc.sim.participants
        parts = Participants(**{k: getattr(ps, k) for k in Participants.__dataclass_fields__ if hasattr(ps, k)})
        self.sim = Simulator(seed=self.seed, accounts=self.accounts, participants=parts,
                             market_specs=self._market_specs(), price_path=path_points, path_start_ts=self.start,
                             step_ms=self.step_ms)
        for mk, ms in zip(self.sim.markets, sc.sim.markets, strict=True):
            if ms.vol_bps is not None:
                mk.vol_bps = ms.vol_bps
        cmds = self.sim.setup_commands(self.start)
        n_markets = len(sc.sim.markets)
        for c, r in zip(cmds[:n_markets], self._system(cmds[:n_markets]), strict=True):
            if not r.ok:  # a venue without its markets is no scenario: say why, loudly
                raise ScenarioError(sc.source or sc.scenario.name, [
                    (sc.source or sc.scenario.name, f"sim.markets ({c['market']})",
                     f"the engine refuses the market: {r.code}: {r.message}")])
        genesis = [m for m in sc.sim.markets if m.funding_index is not None]
        if genesis:  # the venue's history: its cumulative funding indices, imported before anyone trades
            self._op({"type": "set_safeguards", "enabled": False, "reason": "genesis import of funding history"})
            by = {s["market"]: s for s in self._market_specs()}
            self._system([{"type": "load_market_state", "ts": self.start, "market": m.market,
                           "mark_price": by[m.market]["index_price"], "funding_index": m.funding_index,
                           "source": "genesis"} for m in genesis])
            self._op({"type": "set_safeguards", "enabled": True, "reason": "genesis import done"})
        rest = cmds[n_markets:]
        if self.setup_progress is None:
            refused = Counter(r.code for r in self._system(rest) if not r.ok)
        else:
            refused = Counter()
            for i in range(0, len(rest), _SETUP_PIECE):
                refused.update(r.code for r in self._system(rest[i:i + _SETUP_PIECE]) if not r.ok)
                self.setup_progress(min(i + _SETUP_PIECE, len(rest)), len(rest))
        if not self.safeguards:
            self._op({"type": "set_safeguards", "enabled": False, "reason": "scenario run without safeguards"})
        self._op({"type": "take_snapshot", "label": "scenario start", "trigger": "manual"})
        lines = [Line(self.start, f"venue opened: {len(sc.sim.markets)} markets, {self.accounts:,} accounts, "
                                  f"seed {self.seed}, safeguards {'on' if self.safeguards else 'off'}",
                      "action", sc.scenario.title)]
        if refused:
            lines.append(Line(self.start, "setup commands refused: " + ", ".join(
                f"{code} x{n}" for code, n in sorted(refused.items()))))
        lines += self._drain()
        self.lines += lines
        return lines

    # ---- sending -----------------------------------------------------------------------
    def _system(self, cmds: list[dict], tag: str | None = None) -> list:
        node = self.node
        if node is None or not cmds:
            return []
        futs = [node.submit(c, SYSTEM) for c in cmds[:-1]]
        last = node.call(cmds[-1], SYSTEM)
        results = [f.result(0) for f in futs] + [last]
        if tag is not None:
            self._seqs.setdefault(tag, []).extend(r.seq for r in results)
        return results

    def _op(self, cmd: dict, actor: Actor = ONCALL, tag: str | None = None):
        assert self.node is not None
        cmd.setdefault("ts", self.clock.now)
        res = self.node.call(cmd, actor=actor)
        if tag is not None:
            self._seqs.setdefault(tag, []).append(res.seq)
        return res

    def subscribe(self, fn) -> None:
        """Also deliver the node's events to ``fn`` (kept across a node's death and recovery)."""
        self._subscribers.append(fn)
        if self.node is not None:
            self.node.subscribe(fn)

    def _on_events(self, evs: list[dict]) -> None:
        now = self.clock.now
        self._pending.extend((now, e) for e in evs)

    # ---- stepping ----------------------------------------------------------------------
    @property
    def now(self) -> int:
        return self.clock.now

    @property
    def done(self) -> bool:
        return (self.clock.now >= self.end and self._next_entry >= len(self.sc.timeline)
                and self._target is None)

    def _account_time(self, t: int) -> None:
        """Venue downtime (node down, brake engaged, access off) and restricted time (a market not open)."""
        dt = t - self.clock.now
        if dt <= 0:
            return
        node = self.node
        eng = node.engine if node is not None else None
        if eng is None or eng.brake_engaged or not eng.platform_access:
            self.figures["downtime_ms"] += dt
        elif any(m.mode != "open" for m in eng.markets.values()):
            self.figures["restricted_ms"] += dt

    def counters(self) -> dict[str, int]:
        """What a caption condition or template may name (engine/sim/captions.py), as of now."""
        liqs = self.liquidations
        c = {
            "liquidations": len(liqs),
            "accounts_liquidated": len({ev["account"] for _t, ev in liqs}),
            "deleverages": self.figures["deleverages"],
            "socialized_losses": self._socialized_events,
            "oracle_rejected": self.safeguard_events.get("oracle_rejected", 0),
            "quarantined": self.safeguard_events.get("market_data_quarantined", 0),
            "safeguard_events": sum(self.safeguard_events.values()),
            "refunds_proposed": self.refunds["proposed_count"],
            "refunds_approved": self.refunds["approved_count"],
            "refunds_paid": self.refunds["paid_count"],
            "brake": int(bool(self.node is not None and self.node.engine.brake_engaged)),
            "rollbacks": self.figures["rollbacks"],
            "safeguards": int(self.safeguards),
        }
        unintended, by_fault = count_unintended(liqs, self._windows)
        c["unintended"] = unintended
        for fid, n in by_fault.items():
            c[f"unintended.{fid}"] = n
        for eid, n in self._fired_at.items():
            c[f"since.{eid}"] = len(liqs) - n
        return c

    def caption_for(self, e) -> str:
        """The caption shown for entry ``e`` (its condition applied, its template filled) once it fired."""
        idx = next((i for i, x in enumerate(self.sc.timeline) if x is e), None)
        return self.captions.get(idx, e.caption) if idx is not None else e.caption

    def _caption(self, e, c: dict[str, int]) -> str:
        text = e.caption
        if e.caption_if is not None and not captions.holds(e.caption_if, c):
            text = e.caption_else
        return captions.fill(text, c)

    def step(self) -> list[Line]:
        """One simulator step: due timeline entries, the participants' commands, a tick."""
        if self.node is None and self.sim is None:
            self.setup()
        if self.done:
            return []
        sc = self.sc
        # an operator entry handed to a driver ends a step early, at the entry's time: the driver acts at
        # the scripted engine time, however long it takes, and the next call finishes the same step
        t = self._target if self._target is not None else min(self.clock.now + self.step_ms, self.end)
        self._target = None
        lines: list[Line] = []
        while self._next_entry < len(sc.timeline):
            e = sc.timeline[self._next_entry]
            ets = self.start + sc.offset(e.at)
            if ets > t:
                break
            self._account_time(ets)
            self.clock.now = max(self.clock.now, ets)
            self._expire(self.clock.now)
            self._next_entry += 1
            self._handed_over = False
            lines += self._fire(e)
            lines += self._drain()
            if self._handed_over:
                self._target = t
                self.lines += lines
                return lines
        self._account_time(t)
        self.clock.now = t
        self._expire(t)
        lines += self._sim_step(t)
        lines += self._drain()
        self.lines += lines
        return lines

    def upcoming(self) -> tuple[int, object] | None:
        """(engine ts, entry) of the next timeline entry, or None."""
        if self._next_entry >= len(self.sc.timeline):
            return None
        e = self.sc.timeline[self._next_entry]
        return self.start + self.sc.offset(e.at), e

    def run_until(self, ts: int) -> list[Line]:
        out: list[Line] = []
        while not self.done and self.clock.now < ts:
            out += self.step()
        return out

    def __iter__(self) -> Iterator[Line]:
        if self.node is None and self.sim is None:
            yield from self.setup()
        while not self.done:
            yield from self.step()

    def run(self) -> dict:
        for _ in self:
            pass
        return self.report()

    def _sim_step(self, t: int) -> list[Line]:
        sim = self.sim
        assert sim is not None
        cmds = sim.step(t)
        self._steps += 1
        node = self.node
        if node is None:  # the venue is down: the world moves on, nobody reaches it
            return []
        eng = node.engine
        if eng.brake_engaged or not eng.platform_access:  # only market data reaches a closed venue
            cmds = [c for c in cmds if c["type"] == "oracle_price"]
        if self._steps % self.sc.scenario.tick_every == 0:
            cmds.append({"type": "tick", "ts": t})
        if not cmds:
            return []
        results = self._system(cmds)
        for c, r in zip(cmds, results, strict=True):
            if c["type"] == "oracle_price" and c["market"] in self._oracle_tags:
                self._seqs.setdefault(self._oracle_tags[c["market"]], []).append(r.seq)
        # makers quote around the oracle the venue shows (a refused price moves nobody's quotes)
        for mk in sim.markets:
            m = eng.markets.get(mk.name)
            if m is not None and m.index_price:
                mk.published = m.index_price
        return []

    # ---- events -> lines, measurements ------------------------------------------------------
    def _liquidated(self, ev: dict) -> None:
        f = self.figures
        f["liquidated_notional"] += _int(ev.get("size"), 8) * _int(ev.get("price"), 6) // 10**8
        f["bad_debt"] += _int(ev.get("bad_debt"), 6)

    def _drain(self) -> list[Line]:
        pend, self._pending = self._pending, []
        lines: list[Line] = []
        counts: Counter = Counter()
        accounts: set[str] = set()
        last_ts = self.clock.now
        for ts, ev in pend:
            t = ev["type"]
            last_ts = ts
            if t in SAFEGUARD_EVENTS:
                self.safeguard_events[t] += 1
            if t == "rolled_back":
                self.figures["rollbacks"] += 1
            if t == "liquidation":
                self.liquidations.append((ts, ev))
                accounts.add(ev["account"])
                self._liquidated(ev)
            elif t == "deleverage":
                self.figures["deleverages"] += 1
            elif t == "socialized_loss":
                self._socialized_events += 1
                self.figures["socialized_loss"] += _int(ev.get("amount"), 6)
            elif t == "brake_engaged" and self.brake is None:
                self.brake = {"canceled_orders": ev["canceled_orders"], "kept_tpsl": ev["kept_tpsl"],
                              "accounts_affected": ev.get("accounts_affected", 0)}
            elif t == "rolled_back" and self.rollback is None:
                self.rollback = {"snapshot_id": ev["snapshot_id"], "discarded_commands": ev["discarded_commands"],
                                 "to_seq": ev["to_seq"]}
            elif t == "maintenance_phase":
                self.maintenance.append({"window_id": ev["window_id"], "phase": ev["phase"], "ts": ts})
            elif t == "credited":
                self.refunds["paid_count"] += 1
                self.refunds["paid_total"] += ev["amount"]
            if t in vocabulary.TIMELINE_COUNTS:
                counts[t] += 1
            elif t in vocabulary.TIMELINE_LINES:
                text = vocabulary.timeline_line(ev)
                if text:
                    lines.append(Line(ts, text))
        if counts:
            parts = []
            if counts["liquidation"]:
                parts.append(f"{counts['liquidation']} liquidations ({len(accounts)} accounts)")
            if counts["oracle_rejected"]:
                parts.append(f"{counts['oracle_rejected']} oracle prices rejected")
            if counts["deleverage"]:
                parts.append(f"{counts['deleverage']} auto-deleverages")
            if counts["order_triggered"] >= 5:
                parts.append(f"{counts['order_triggered']} TP/SL triggered")
            if counts["credited"]:
                parts.append(f"{counts['credited']} refunds credited")
            if counts["market_mode"]:
                modes = Counter(ev["mode"] for _t, ev in pend if ev["type"] == "market_mode")
                parts.append("markets -> " + ", ".join(f"{m} x{n}" for m, n in sorted(modes.items())))
            if parts:
                lines.append(Line(last_ts, "; ".join(parts)))
        return lines

    # ---- the timeline's actions ------------------------------------------------------------
    def _fire(self, e) -> list[Line]:
        kind = "fault" if e.action in FAULT_ACTIONS else "action"
        c = self.counters()
        name = e.action.replace("_", " ") + (f" [{e.id}]" if e.id else "")
        if e.if_ is not None and not captions.holds(e.if_, c):
            # the entry's condition does not hold: its action is not taken (nothing is sent, nobody is handed
            # it); the line says so, with the condition, and shows the entry's caption_else
            caption = captions.fill(e.caption_else, c)
            self.captions[self._next_entry - 1] = caption
            self.skipped.append({"ts": self.clock.now, "action": e.action, "id": e.id, "if": e.if_})
            return [Line(self.clock.now, f"skipped {name}: `if {e.if_}` does not hold", "skipped", caption, e.id)]
        caption = self._caption(e, c)
        self.captions[self._next_entry - 1] = caption
        if e.id:
            self._fired_at[e.id] = len(self.liquidations)
        head = Line(self.clock.now, ("FAULT " if kind == "fault" else "") + name, kind, caption, e.id)
        if self.operator is not None and e.action in OPERATOR_ACTIONS:
            self.operator(self.clock.now, e)  # the driver performs it (through the console's screens)
            self._handed_over = True
            return [head]
        try:
            detail = HANDLERS[e.action](self, e)
        except NodeError as err:
            detail = [f"refused: {err.code}: {err.message}"]
        lines = [head]
        for d in detail or []:
            lines.append(Line(self.clock.now, "  " + d, kind, "", e.id))
        return lines

    def close(self) -> None:
        if self.node is not None:
            self.node.close()
        for n in self._abandoned:  # the dead node's database handle (the OS would close it)
            if n.store is not None:
                n.store.close()
        self._abandoned = []
        if self._db_lock is not None:
            os.close(self._db_lock)
            self._db_lock = None


def _int(v, decimals: int) -> int:
    """An event's amount: an int of micro units (the engine's events), or a decimal string (node events)."""
    if type(v) is int:
        return v
    if isinstance(v, str) and v:
        return parse_decimal(v, decimals, "amount", allow_negative=True)
    return 0


#: every timeline action -> the ScenarioRun method that performs it (a file's action with no handler fails here,
#: at import)
HANDLERS: dict[str, Callable[[ScenarioRun, object], list[str]]] = {
    a: getattr(ScenarioRun, f"_do_{a}") for a in sorted(ACTIONS)}

__all__ = ["APPROVER", "COMMAND_ACTIONS", "HANDLERS", "NODE_ACTIONS", "NOT_IN_TIMELINE", "ONCALL", "OPERATOR_ACTIONS",
           "SAFEGUARD_EVENTS", "Line", "ScenarioClock", "ScenarioRun", "UNINTENDED_DEFINITION", "fmt_duration"]
