"""The sequencer: the one thread that applies commands to the engine, in arrival order.

Callers submit commands through :meth:`Sequencer.submit` (role-checked, engine/node/roles.py) and get
an :class:`Ack` (a light future) of a :class:`Result`. The sequencer takes the queue in batches
(at most :data:`MAX_BATCH`), applies each batch under the engine lock (:meth:`Sequencer._apply`)
and hands it to the persistence: on the calling thread without a write pipeline
(:meth:`Sequencer._process`), or to the writer thread with one (:meth:`Sequencer._pipelined`,
engine/node/pipeline.py). A batch is acknowledged and its events published
(:meth:`Sequencer._finish`) only once it is durable. A part of :class:`engine.node.node.Node`.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from ..core.commands import OPERATOR_COMMANDS, NotACommand, command_type
from ..core.fixedpoint import DecimalError, parse_decimal
from ..core.runtime import NODE_GEN0_THRESHOLD, tune_gc
from .errors import NodeError, is_fenced, is_store_error
from .roles import SYSTEM, Actor, actions_of, kind_of

if TYPE_CHECKING:
    from .node import Node

PIPELINE_DEPTH = 2  # batches applied but not yet durable, at most (one being written, one waiting)
MAX_BATCH = 4096  # commands per group commit at most (and per hold of the engine lock); a queue that
# keeps up with its callers makes far smaller batches, a deep one gets fewer fsyncs per command


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


class Ack:
    """The acknowledgement of one submitted command: a lightweight future.

    ``result(timeout)`` blocks until the command is durable (or failed);
    ``add_done_callback(fn)`` calls ``fn(ack)`` then (on the node's writer thread, or on the
    sequencer thread when the node has no store).
    Far cheaper than :class:`concurrent.futures.Future` (no lock per command):
    waiters share one condition per node.
    """

    __slots__ = ("_cv", "_cmd", "_result", "_seq", "_events", "_exc", "_done", "_callbacks")

    def __init__(self, cv: threading.Condition) -> None:
        self._cv = cv
        self._cmd: dict | None = None  # the command on its way through the queue (the node's copy)
        self._result = None
        self._seq = 0  # with _events: the Result, built when first asked for
        self._events: list[dict] | None = None
        self._exc: BaseException | None = None
        self._done = False
        self._callbacks: list | None = None

    def done(self) -> bool:
        return self._done

    def result(self, timeout: float | None = None):
        if not self._done:
            with self._cv:
                if not self._cv.wait_for(lambda: self._done, timeout):
                    raise TimeoutError("the node did not acknowledge the command in time")
        if self._exc is not None:
            raise self._exc
        res = self._result
        if res is None and self._events is not None:
            res = self._result = Result.from_events(self._seq, self._events)
        return res

    def add_done_callback(self, fn) -> None:
        if self._done:
            fn(self)
        elif self._callbacks is None:
            self._callbacks = [fn]
        else:
            self._callbacks.append(fn)

    def _finish(self) -> None:  # caller notifies the condition
        self._done = True
        if self._callbacks:
            for fn in self._callbacks:
                try:
                    fn(self)
                except Exception:  # a callback's bug must not stop the sequencer
                    pass

    def set_result(self, value) -> None:
        self._result = value
        self._finish()
        with self._cv:
            self._cv.notify_all()

    def set_exception(self, exc: BaseException) -> None:
        self._exc = exc
        self._finish()
        with self._cv:
            self._cv.notify_all()


class Job(NamedTuple):
    """One applied batch on its way to the store."""

    base_seq: int  # the engine's seq before the batch
    last_seq: int
    rows: list  # JournalEntry fields, in seq order
    marks: list  # RollbackMark
    done: list  # the Acks, in order (their _seq and _events set)
    published: list[dict]
    new_snaps: list
    windows: list[dict]  # maintenance windows the batch touched, as it left them


_NODE_EVENTS = frozenset({"snapshot_taken", "maintenance_scheduled", "maintenance_phase", "rolled_back",
                          "maintenance_canceled", "maintenance_rescheduled", "maintenance_extended"})


class Sequencer:
    """The sequencer's methods of :class:`~engine.node.node.Node` (its state is set up in ``Node.__init__``)."""

    # ---- lifecycle -----------------------------------------------------
    def start(self) -> Node:
        if self._thread is None:
            self._stopping = False
            if self.durable and self._writer is None:  # in memory: no writer; acknowledged on the sequencer
                tune_gc(NODE_GEN0_THRESHOLD)
                self._wstop = False
                self._wproc_allowed = (self.writer_process if self.writer_process is not None
                                       else os.environ.get("PERPDESK_WRITER_PROCESS", "1") != "0")
                self._writer = threading.Thread(target=self._write_loop, name="perpdesk-writer", daemon=True)
                self._writer.start()
            self._thread = threading.Thread(target=self._run, name="perpdesk-sequencer", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self._writer is not None:  # after the sequencer: it journals and acknowledges what is left
            with self._wcv:
                self._wstop = True
                self._wcv.notify_all()
            self._writer.join(timeout=30)
            self._writer = None
        self._stopping = False

    # ---- gateway: writes ----------------------------------------------
    @property
    def identity(self) -> dict:
        return {"operator": self.actor.name, "role": self.actor.role, "db": self.db}

    def submit(self, cmd: dict, actor: Actor | None = None) -> Ack:
        """Queue ``cmd`` (a wire-form dict); the future resolves to a Result once durable.

        Every command kind is role-checked (engine/node/roles.py): user commands, market data and
        the clock come only from :data:`SYSTEM` (the venue's own services), an operator of any role
        sending one is refused; operator commands are stamped with the actor's name and checked
        against its role (``actor`` defaults to the node's operator); ``credit`` only from the refund
        desk (:meth:`pay_refund`). A refusal resolves to a Result with ``code == "forbidden"`` and is
        audited.
        """
        return self._submit(cmd, actor if actor is not None else self.actor, None)

    def _submit(self, cmd: dict, who: Actor, payer: Actor | None) -> Ack:
        """``payer``: the operator on whose behalf the refund desk sends a ``credit`` as SYSTEM."""
        fut = Ack(self._acked)
        try:
            ctype = command_type(cmd)
        except NotACommand as e:
            fut.set_exception(NodeError("not_a_command", str(e)))
            return fut
        cmd = dict(cmd)
        for v in cmd.values():  # the journal is JSON: NaN/Infinity would come back as null on replay
            if type(v) is float and not math.isfinite(v):
                fut.set_exception(NodeError("not_finite", f"{ctype}: {v!r} cannot be journaled; send decimal strings"))
                return fut
        if who is SYSTEM:  # the hot path: the simulator's and feeds' millions of commands
            if ctype in OPERATOR_COMMANDS:
                if ctype == "credit":
                    refused = self._credit_refusal(cmd, payer)
                    if refused is not None:
                        res = Result(0, [], False, refused[0], refused[1])
                        self._audit(payer or who, ctype, cmd, cmd.get("reason", ""), f"refused: {res.message}")
                        fut.set_result(res)
                        return fut
                    who = payer if payer is not None else who  # journaled and audited as the payer
                cmd["operator"] = who.name
                cmd.setdefault("reason", "")
                fut.add_done_callback(lambda f, who=who, c=cmd: self._audit_result(who, c, f))
        else:
            denied = [act for act in actions_of(ctype, cmd) if not who.may(act)]
            if denied:
                if ctype in OPERATOR_COMMANDS:
                    cmd["operator"] = who.name
                    cmd.setdefault("reason", "")
                res = Result(0, [], False, "forbidden", forbidden_message(who, ctype, denied[0]))
                self._audit(who, ctype, cmd, cmd.get("reason", "") if isinstance(cmd.get("reason"), str) else "",
                            f"refused: {res.message}")
                fut.set_result(res)
                return fut
            cmd["operator"] = who.name  # only operator commands get here (every other kind is SYSTEM's)
            cmd.setdefault("reason", "")
            fut.add_done_callback(lambda f, who=who, c=cmd: self._audit_result(who, c, f))
        if self._failed is not None:
            fut.set_exception(NodeError("node_failed", f"the node is fail-stopped and takes no commands: {self._failed}"))
            return fut
        with self._qlock:  # the lock of self._cv, without the Condition's Python-level __enter__
            if self._stopping:
                fut.set_exception(NodeError("node_stopped", "the node is stopping and takes no commands"))
                return fut
            if self._fenced is not None:
                fut.set_exception(self._fenced)
                return fut
            fut._cmd = cmd
            self._queue.append(fut)
            if self._idle:  # wake the sequencer only when it sleeps (a busy one drains the queue anyway)
                self._cv.notify()
        return fut

    def _credit_refusal(self, cmd: dict, payer: Actor | None) -> tuple[str, str] | None:
        """Why a ``credit`` may not be sent (None: it may): money leaves the treasury or the insurance
        fund only through an approved, unpaid refund record, paid by the refund desk."""
        if payer is None:
            return ("forbidden", "a credit is sent only by the refund desk, for an approved refund record "
                                 "(propose, approve by another operator, then pay)")
        rid = cmd.get("refund_id")
        rec = None
        if isinstance(rid, str):
            from ..store.store import StoreError

            try:
                rec = self.persistence.get_refund(rid)
            except StoreError as e:
                return ("refund_unreadable", f"refund {rid} could not be read: {e}")
        if rec is None:
            return ("no_approved_refund", f"there is no refund record {rid!r}: nothing is credited without one")
        if rec["status"] == "paid":
            return ("already_paid", f"refund {rid} was already paid at seq {rec.get('paid_seq')}")
        if rec["status"] != "approved":
            return ("no_approved_refund", f"refund {rid} is {rec['status']}, not approved: nothing is credited")
        try:
            amount = parse_decimal(cmd.get("amount"), 6, "amount")
        except DecimalError:
            amount = -1
        if (cmd.get("account") != rec["account"] or amount != rec["amount"]
                or cmd.get("fund", "insurance") != (rec.get("fund") or "insurance")):
            return ("refund_mismatch", f"the credit does not match refund {rid} as approved "
                                       f"(account, amount and fund must be the record's)")
        return None

    def call(self, cmd: dict, actor: Actor | None = None, timeout: float = 60.0) -> Result:
        """Submit and wait. Runs inline when the sequencer thread is not started."""
        return self._wait(self.submit(cmd, actor), timeout)

    def _wait(self, fut: Ack, timeout: float) -> Result:
        if self._thread is None:
            with self._cv:
                batch = list(self._queue)
                self._queue.clear()
            if batch:
                self._process(batch)
        return fut.result(timeout)

    def subscribe(self, fn: Callable[[list[dict]], None]) -> Callable[[], None]:
        self._subscribers.append(fn)
        return lambda: self._subscribers.remove(fn) if fn in self._subscribers else None

    # ---- the sequencer --------------------------------------------------
    # (The writer's "journals batch N" runs in the journal writer process once it is up: the writer
    # thread sends the batch, waits for its COMMIT, then acknowledges, as below.)
    # With a store and the threads started, two threads share the work of a batch:
    #   sequencer: applies batch N+1 to the engine (under _lock) while
    #   writer:    journals batch N (encode, hash-chain, insert, COMMIT + fsync: sqlite3 releases
    #              the GIL while it inserts and syncs), then acknowledges it and publishes its events.
    # The writer takes jobs in apply order, so the journal's order is the apply order, and nothing is
    # acknowledged or published before its batch is durable. At most PIPELINE_DEPTH batches are
    # applied ahead of the store. Readers (views, previews) park the sequencer and wait for the
    # writer to catch up, so they never see the effects of a batch that is not durable yet; nobody
    # holds _lock while waiting for the writer. When a write fails, every batch applied after the
    # last durable one fails with it and the engine is recovered from the store.
    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._stopping:
                    self._idle = True
                    self._cv.wait()
                    self._idle = False
                if not self._queue and self._stopping:
                    return
                batch = []
                q = self._queue
                while q and len(batch) < MAX_BATCH:
                    batch.append(q.popleft())
            try:
                if self._writer is not None:
                    self._pipelined(batch)
                else:
                    self._process(batch)
            except Exception as e:  # never let the sequencer die silently
                for fut in batch:
                    if not fut.done():
                        fut.set_exception(NodeError("internal", f"the node failed on this batch: {e!r}"))
                self._alert("critical", f"sequencer error: {e!r}")

    def _process(self, batch: list) -> None:
        """Apply, journal and acknowledge one batch on the calling thread (no pipeline)."""
        with self._lock:
            try:
                job = self._apply(batch)
            except Exception as e:  # applied in memory, partly or wholly, and never to be journaled
                self._apply_failed(batch, e)
                return
            try:
                head = self.persistence.append_journal(job.rows, job.marks)
            except Exception as e:
                if not is_store_error(e):
                    raise
                if is_fenced(e):
                    self._fence(e)
                # the batch is not durable: put the engine back to what the store holds
                self._fail_batch(batch, e, job.base_seq)
                return
            self._note_anchor(head)
        self._persist(job)
        self._finish(job)

    def _pipelined(self, batch: list) -> None:
        # a rollback restores a stored snapshot: let the batches before it reach the store first
        rollback = any(fut._cmd["type"] == "rollback" for fut in batch)
        with self._wcv:
            most = 0 if rollback else PIPELINE_DEPTH - 1
            while (self._wpending > most or self._readers) and self._wbroken is None:
                self._wcv.wait()
        failure: Exception | None = None
        with self._lock:
            if self._wbroken is not None:
                self._recover_broken()
            try:
                job = self._apply(batch)
            except Exception as e:  # applied in memory, partly or wholly, and never to be journaled
                failure = e
                with self._wcv:
                    self._halted = True  # readers wait: they must not see the failed batch's effects
            else:
                with self._wcv:
                    broken = self._wbroken
                    if broken is None:
                        self._wq.append(job)
                        self._wpending += 1
                        self._wcv.notify_all()
                if broken is not None:  # applied on top of a batch that did not become durable
                    self._recover_broken()
                    self._fail_futures(batch, broken)
        if failure is not None:
            # the batches before it are on their way to the store: let them land, then rebuild
            with self._wcv:
                while self._wpending and self._wbroken is None:
                    self._wcv.wait()
            with self._lock:
                if self._wbroken is not None:
                    self._recover_broken()
                    self._fail_futures(batch, failure)
                else:
                    self._apply_failed(batch, failure)
            with self._wcv:
                self._halted = False
                self._wcv.notify_all()

    def _apply(self, batch: list) -> Job:
        """Apply ``batch`` (the caller holds ``_lock``); returns what is left to journal and acknowledge."""
        from ..store.store import JournalEntry, RollbackMark

        done: list[Ack] = []  # their _seq and _events set; _done once durable
        published: list[dict] = []
        rows = []
        marks = []
        new_snaps = []
        windows_touched: set[str] = set()
        eng = self.engine
        apply_obj = eng.apply_obj
        base_seq = eng.seq
        epoch = self.epoch
        for fut in batch:
            cmd = fut._cmd
            if "ts" not in cmd:
                cmd["ts"] = max(self.clock(), eng.now)
            ctype = cmd["type"]
            if ctype == "rollback":
                self._preload_snapshot(eng, cmd.get("snapshot_id"))
            evs = apply_obj(cmd)
            seq = eng.seq
            for ev in evs:
                t = ev["type"]
                if t in _NODE_EVENTS:
                    if t == "snapshot_taken":
                        new_snaps.append(eng.snapshots[ev["snapshot_id"]])
                    elif t == "rolled_back":
                        epoch = self.epoch = epoch + 1
                        windows_touched.update(eng.maintenance)
                        marks.append(RollbackMark(ev["to_seq"], seq - 1, epoch, ev["snapshot_id"], seq))
                    else:  # maintenance_scheduled, maintenance_phase, maintenance_canceled / _rescheduled / _extended
                        windows_touched.add(ev["window_id"])
            if len(evs) == 1 and evs[0]["type"] == "rejected":  # outcome_of(), inlined
                rows.append((seq, cmd["ts"], ctype, cmd, f"rejected:{evs[0]['code']}", epoch))
            else:
                rows.append((seq, cmd["ts"], ctype, cmd, "ok", epoch))  # a JournalEntry's fields
            fut._seq = seq  # (not visible before fut._done)
            fut._events = evs
            fut._cmd = None  # the row holds it now
            done.append(fut)
            published += evs
        if new_snaps:
            self._last_snap_seq = max(s.seq for s in new_snaps)
        if self.snapshot_every and eng.seq - self._last_snap_seq >= self.snapshot_every:
            cmd = {"type": "take_snapshot", "ts": eng.now, "label": f"auto at seq {eng.seq + 1}",
                   "trigger": "auto", "operator": "system", "reason": "periodic"}
            evs = apply_obj(cmd)
            if evs[0]["type"] == "snapshot_taken":
                new_snaps.append(eng.snapshots[evs[0]["snapshot_id"]])
            else:  # refused (e.g. state_unencodable): journaled as refused, nothing applied; retried later
                self._last_snap_seq = eng.seq
                self._alert("critical", f"periodic snapshot refused: {evs[0]['code']}: {evs[0]['message']}")
            rows.append(JournalEntry(eng.seq, cmd["ts"], cmd["type"], cmd, outcome_of(evs), epoch))
            published.extend(evs)
        if new_snaps:
            self._last_snap_seq = max(s.seq for s in new_snaps)
        if not self.durable and new_snaps:
            # in memory the engine's own snapshots are the only copy: the store's retention, applied to them
            if any(s.trigger == "auto" for s in new_snaps):
                autos = [k for k, v in eng.snapshots.items() if v.trigger == "auto"]
                for sid in autos[:-self.keep_auto or None] if self.keep_auto else autos:
                    eng.snapshots.pop(sid, None)
        # the maintenance windows as this batch left them (the store's table mirrors them)
        windows = [dict(eng.maintenance[w]) for w in sorted(windows_touched) if w in eng.maintenance]
        return Job(base_seq, eng.seq, rows, marks, done, published, new_snaps, windows)

    def _finish(self, job: Job) -> None:
        """After ``job`` is durable: acknowledge its commands and publish its events."""
        for fut in job.done:
            if not fut._done:
                fut._done = True
                if fut._callbacks:
                    fut._finish()
        with self._acked:
            self._acked.notify_all()
        if job.published:
            published = job.published
            for fn in list(self._subscribers):
                try:
                    fn(published)
                except Exception:  # a subscriber's bug must not stop the node
                    pass


def forbidden_message(who: Actor, ctype: str, denied: str) -> str:
    kind = kind_of(ctype)
    if kind in ("user", "market_data", "clock"):
        what = {"user": "user commands", "market_data": "market data", "clock": "the clock"}[kind]
        return (f"{who.name} ({who.role}) may not issue {ctype}: {what} come only from the venue's own "
                f"services, never from an operator")
    if ctype == "credit":
        return (f"{who.name} ({who.role}) may not issue credit: money leaves the treasury or the insurance "
                f"fund only through an approved refund record (propose, approve by another operator, pay)")
    what = ctype if denied == ctype else f"{ctype} ({denied.replace('_', ' ')})"
    return f"{who.name} ({who.role}) may not issue {what}"


def outcome_of(events: list[dict]) -> str:
    if len(events) == 1 and events[0]["type"] == "rejected":
        return f"rejected:{events[0]['code']}"
    return "ok"
