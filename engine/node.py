"""The node: the single sequencer that owns the engine.

Callers (console, simulator, feeds, scripts) submit commands through the
thread-safe :class:`Gateway` methods of :class:`Node` and get a
:class:`concurrent.futures.Future` of a :class:`Result`. One thread applies
commands in arrival order; with a store attached, each batch is journaled in
one transaction (group commit) before any result is acknowledged or any event
is published. Subscribers receive event batches on the sequencer thread and
must only buffer them (the engine never waits for a screen).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from . import rollback as rollback_mod
from . import views
from .commands import OPERATOR_COMMANDS, NotACommand, command_type
from .core import Engine
from .fixedpoint import DecimalError, parse_decimal
from .roles import SYSTEM, Actor, default_actor

MAX_BATCH = 4096


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Result:
    seq: int
    events: list[dict] = field(default_factory=list)
    ok: bool = True
    code: str = ""
    message: str = ""

    @classmethod
    def from_events(cls, seq: int, events: list[dict]) -> Result:
        if len(events) == 1 and events[0]["type"] == "rejected":
            ev = events[0]
            return cls(seq, events, False, ev["code"], ev["message"])
        return cls(seq, events)


class NodeError(Exception):
    """The node refused or could not take a command (not an engine rejection)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Node:
    """Owns one :class:`Engine`; the only writer."""

    def __init__(self, engine: Engine | None = None, clock: Callable[[], int] = wall_clock_ms,
                 actor: Actor | None = None, db: str = "memory") -> None:
        self.engine = engine if engine is not None else Engine()
        self.clock = clock
        self.actor = actor if actor is not None else default_actor()
        self.db = db
        self.audit_log: list[dict] = []
        self.refund_book: dict[str, dict] = {}
        self._lock = threading.RLock()  # held while applying a batch and while reading views
        self._cv = threading.Condition(threading.Lock())
        self._queue: deque = deque()
        self._subscribers: list[Callable[[list[dict]], None]] = []
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._inline = False
        self.journal: list[dict] = []  # in-memory journal (command dicts as applied) when no store

    # ---- lifecycle -----------------------------------------------------
    def start(self) -> Node:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="perpdesk-sequencer", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    # ---- gateway: writes ----------------------------------------------
    @property
    def identity(self) -> dict:
        return {"operator": self.actor.name, "role": self.actor.role, "db": self.db}

    def submit(self, cmd: dict, actor: Actor | None = None) -> Future:
        """Queue ``cmd`` (a wire-form dict); the future resolves to a Result once durable.

        Operator commands are stamped with the actor's name and checked against
        its role (``actor`` defaults to the node's operator); a refusal resolves
        to a Result with ``code == "forbidden"`` and is audited.
        """
        fut: Future = Future()
        try:
            ctype = command_type(cmd)
        except NotACommand as e:
            fut.set_exception(NodeError("not_a_command", str(e)))
            return fut
        cmd = dict(cmd)
        if ctype in OPERATOR_COMMANDS:
            who = actor if actor is not None else self.actor
            cmd["operator"] = who.name
            cmd.setdefault("reason", "")
            if not who.may(ctype):
                res = Result(0, [], False, "forbidden",
                             f"{who.name} ({who.role}) may not issue {ctype}")
                self._audit(who, ctype, cmd, cmd.get("reason", ""), f"refused: {res.message}")
                fut.set_result(res)
                return fut
            fut.add_done_callback(lambda f, who=who, c=cmd: self._audit_result(who, c, f))
        with self._cv:
            if self._stopping:
                fut.set_exception(NodeError("node_stopped", "the node is stopping and takes no commands"))
                return fut
            self._queue.append((cmd, fut))
            self._cv.notify()
        return fut

    def call(self, cmd: dict, actor: Actor | None = None, timeout: float = 30.0) -> Result:
        """Submit and wait. Runs inline when the sequencer thread is not started."""
        if self._thread is None:
            with self._cv:
                self._inline = True
            fut = self.submit(cmd, actor)
            with self._cv:
                batch = list(self._queue)
                self._queue.clear()
            if batch:
                self._process(batch)
            return fut.result()
        return self.submit(cmd, actor).result(timeout)

    # ---- audit -----------------------------------------------------------
    def _audit(self, who: Actor, action: str, cmd: dict | None, reason: str, outcome: str) -> None:
        self.audit_log.append({"ts": self.clock(), "operator": who.name, "role": who.role, "action": action,
                               "command": cmd, "reason": reason, "outcome": outcome})

    def _audit_result(self, who: Actor, cmd: dict, fut: Future) -> None:
        try:
            res = fut.result()
            outcome = "ok" if res.ok else f"rejected: {res.code}: {res.message}"
        except Exception as e:  # pragma: no cover - the sequencer resolves every future
            outcome = f"error: {e}"
        self._audit(who, cmd["type"], cmd, cmd.get("reason", ""), outcome)

    def audit(self, limit: int = 500, query: str = "") -> list[dict]:
        q = query.lower()
        rows = [r for r in self.audit_log if not q or q in str(r).lower()]
        return rows[-limit:]

    # ---- rollback preview ---------------------------------------------------
    def rollback_preview(self, snapshot_id: str) -> dict:
        with self._lock:
            snap = self.engine.snapshots.get(snapshot_id)
            if snap is None:
                raise NodeError("unknown_snapshot", f"there is no snapshot {snapshot_id!r}")
            tail = [c for c in self.journal if c["seq"] > snap.seq]
            return rollback_mod.preview(self.engine, snapshot_id, tail)

    def maintenance_windows(self) -> list[dict]:
        return self.read(lambda e: [dict(w) for w in e.maintenance.values()])

    # ---- refunds (maker-checker) ------------------------------------------------
    def refunds(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self.refund_book.values()]

    def propose_refund(self, account: str, amount: str, reason: str, evidence: dict | None = None,
                       actor: Actor | None = None) -> dict:
        who = actor or self.actor
        self._require(who, "propose_refund")
        try:
            amt = parse_decimal(amount, 6, "amount")
        except DecimalError as e:
            raise NodeError(e.code, e.message) from None
        if amt <= 0:
            raise NodeError("non_positive", "a refund amount must be greater than zero")
        if not reason.strip():
            raise NodeError("missing_reason", "a refund needs a reason")
        with self._lock:
            if account not in self.engine.accounts:
                raise NodeError("unknown_account", f"there is no account {account!r}")
            rid = f"r{len(self.refund_book) + 1:04d}"
            rec = {"refund_id": rid, "account": account, "amount": amt, "reason": reason,
                   "evidence": evidence or {}, "proposer": who.name, "status": "proposed",
                   "approver": None, "decision_reason": None, "paid_seq": None, "fund": None,
                   "created_ts": self.clock()}
            self.refund_book[rid] = rec
        self._audit(who, "propose_refund", {"refund_id": rid, "account": account, "amount": amount}, reason, "ok")
        return dict(rec)

    def decide_refund(self, refund_id: str, approve: bool, reason: str, actor: Actor | None = None) -> dict:
        who = actor or self.actor
        self._require(who, "decide_refund")
        with self._lock:
            rec = self.refund_book.get(refund_id)
            if rec is None:
                raise NodeError("unknown_refund", f"there is no refund {refund_id!r}")
            if rec["status"] != "proposed":
                raise NodeError("already_decided", f"refund {refund_id} is already {rec['status']}")
            if rec["proposer"] == who.name:
                self._audit(who, "decide_refund", {"refund_id": refund_id}, reason, "refused: proposer may not decide")
                raise NodeError("self_approval", f"{who.name} proposed {refund_id} and may not approve or reject it")
            if not reason.strip():
                raise NodeError("missing_reason", "an approval or rejection needs a reason")
            rec["status"] = "approved" if approve else "rejected"
            rec["approver"] = who.name
            rec["decision_reason"] = reason
        self._audit(who, "decide_refund", {"refund_id": refund_id, "approve": approve}, reason, rec["status"])
        return dict(rec)

    def pay_refund(self, refund_id: str, fund: str = "insurance", actor: Actor | None = None) -> Result:
        who = actor or self.actor
        self._require(who, "pay_refund")
        with self._lock:
            rec = self.refund_book.get(refund_id)
            if rec is None:
                raise NodeError("unknown_refund", f"there is no refund {refund_id!r}")
            if rec["status"] != "approved":
                raise NodeError("not_approved", f"refund {refund_id} is {rec['status']}, not approved")
            amount = rec["amount"]
        from .fixedpoint import fmt_amount

        res = self.call({"type": "credit", "account": rec["account"], "amount": fmt_amount(amount),
                         "refund_id": refund_id, "fund": fund, "reason": rec["reason"]}, actor=who)
        if res.ok:
            with self._lock:
                rec["status"] = "paid"
                rec["paid_seq"] = res.seq
                rec["fund"] = fund
        return res

    def _require(self, who: Actor, action: str) -> None:
        if not who.may(action):
            self._audit(who, action, None, "", "refused: role")
            raise NodeError("forbidden", f"{who.name} ({who.role}) may not {action.replace('_', ' ')}")

    def subscribe(self, fn: Callable[[list[dict]], None]) -> Callable[[], None]:
        self._subscribers.append(fn)
        return lambda: self._subscribers.remove(fn) if fn in self._subscribers else None

    # ---- gateway: reads -------------------------------------------------
    def read(self, fn: Callable, *args, **kwargs):
        """Run a read-only view (``engine.views``-style function) under the engine lock."""
        with self._lock:
            return fn(self.engine, *args, **kwargs)

    def status(self) -> dict:
        return self.read(views.status)

    def markets(self) -> list[dict]:
        return self.read(views.markets)

    def account(self, name: str) -> dict | None:
        return self.read(views.account, name)

    def accounts(self, limit: int = 500, offset: int = 0, query: str = "") -> list[dict]:
        return self.read(views.accounts, limit, offset, query)

    def book(self, market: str, levels: int = 10) -> dict:
        return self.read(views.book, market, levels)

    def checks(self) -> list[dict]:
        return self.read(views.checks)

    def snapshots(self) -> list[dict]:
        return self.read(views.snapshots)

    def brake_preview(self) -> dict:
        with self._lock:
            return self.engine.brake_preview()

    # ---- the sequencer --------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._stopping:
                    self._cv.wait()
                if not self._queue and self._stopping:
                    return
                batch = []
                q = self._queue
                while q and len(batch) < MAX_BATCH:
                    batch.append(q.popleft())
            self._process(batch)

    def _process(self, batch: list) -> None:
        results = []
        published: list[dict] = []
        with self._lock:
            eng = self.engine
            for cmd, fut in batch:
                if "ts" not in cmd:
                    cmd["ts"] = max(self.clock(), eng.now)
                evs = eng.apply_obj(cmd)
                cmd["seq"] = eng.seq
                self.journal.append(cmd)
                results.append((fut, Result.from_events(eng.seq, evs)))
                published.extend(evs)
        for fut, res in results:
            if not fut.done():
                fut.set_result(res)
        if published:
            for fn in list(self._subscribers):
                try:
                    fn(published)
                except Exception:  # a subscriber's bug must not stop the sequencer
                    pass
