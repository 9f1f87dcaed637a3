"""The node: the single sequencer that owns the engine.

Callers (console, simulator, feeds, scripts) submit commands through the
thread-safe :class:`Gateway` methods of :class:`Node` and get a
:class:`Ack` (a light future) of a :class:`Result`. One thread applies
commands in arrival order; with a store attached, each batch is journaled in
one transaction (group commit) before any result is acknowledged or any event
is published, by a writer thread that journals batch N while the sequencer
applies batch N+1 (see "the sequencer" below). Once batches grow (a burst), the
writer thread hands them to a journal writer process (engine/node/journalwriter.py) that
runs the store's own append on its own connection, so the encoding, hashing and
SQLite work leave this process's GIL; the writer thread still acknowledges only
after that process reports the COMMIT. Subscribers receive event
batches on the thread that acknowledges them (the writer, or the sequencer
without a store) and must only buffer them (the engine never waits for a screen).
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from ..analysis import counterfactual as cf_mod
from ..analysis import rollback as rollback_mod
from ..core import snapshot as snapshot_mod
from ..core.commands import OPERATOR_COMMANDS, NotACommand, command_type
from ..core.engine import Engine
from ..core.fixedpoint import DecimalError, parse_decimal
from ..core.runtime import NODE_GEN0_THRESHOLD, tune_gc
from . import views
from .errors import NodeError
from .refund_desk import RefundDesk
from .roles import SYSTEM, Actor, actions_of, default_actor, kind_of

PIPELINE_DEPTH = 2  # batches applied but not yet durable, at most (one being written, one waiting)
MAX_BATCH = 4096  # commands per group commit at most (and per hold of the engine lock); a queue that
# keeps up with its callers makes far smaller batches, a deep one gets fewer fsyncs per command
WRITER_PROCESS_ROWS = 1024  # the first batch this big starts the journal writer process (see _append_job);
# a node whose batches stay small (a console, tests) never needs one
DEFAULT_SNAPSHOT_EVERY = 100_000
START_VERIFY_PREFIX_ROWS = 100_000  # a start verifies the journal before its snapshot fully up to this many
# rows; beyond, cheaply (contiguous seqs, count = head) and the hashes in the background once it runs
DEFAULT_KEEP_AUTO = 3


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


class _Job(NamedTuple):
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


class RecoveryError(Exception):
    """The journal cannot be replayed into a trustworthy state (gap, divergence, corrupt data)."""


class TrustError(RecoveryError):
    """A start refused: what the node would trust does not verify (``record``: the first bad one)."""

    def __init__(self, where: str, record: str) -> None:
        self.record = record
        super().__init__(
            f"refusing to open {where}: {record}. Nothing was changed. Run `perpdesk verify --db {where}` "
            f"for the full report, then restore the database from a backup or an older snapshot (or, "
            f"if you restored an older copy on purpose, move its .anchor file aside).")


def anchor_problem(store) -> str | None:
    """The first reason the store's journal is not the one its node acknowledged (the anchor file
    beside it, engine/store/trust.py), or None. A missing anchor is a problem only once one was written."""
    from ..store import trust

    path = store.anchor_path
    if path is None or store.key is None:
        return None
    try:
        anchored = trust.read_anchor(path, store.key)
    except trust.AnchorProblem as e:
        return str(e)
    if anchored is None:
        # (a node that started on an empty journal and died before its first command wrote no file)
        if store.meta().get("anchor") is not None and store.head()[0] > 0:
            return (f"the anchor file {path} is missing although this database's node wrote one: the "
                    f"acknowledged head cannot be checked")
        return None
    seq, head_hash, _kid = anchored
    last, _h = store.head()
    if seq > last:
        return (f"the journal ends at seq {last} but the node acknowledged seq {seq} (anchor file {path}): "
                f"{seq - last:,} acknowledged commands are missing (a lost WAL, rows deleted from the end, "
                f"or an older copy of the database)")
    rec = store.get_journal(seq)
    if rec is None or rec.hash != head_hash:
        return (f"journal seq {seq} is not the row the node acknowledged (anchor file {path}): the journal "
                f"was rewritten")
    return None


class Node(RefundDesk):
    """Owns one :class:`Engine`; the only writer.

    Without a store (``Node()``) the journal, audit log and refunds live in
    memory (tests, frozen demos). With one (``Node.open(url)``) every command is
    journaled before it is acknowledged, snapshots are persisted, and a node
    restarted on the same database recovers exactly.
    """

    def __init__(self, engine: Engine | None = None, clock: Callable[[], int] = wall_clock_ms,
                 actor: Actor | None = None, db: str = "memory", store=None,
                 snapshot_every: int = DEFAULT_SNAPSHOT_EVERY, keep_auto: int = DEFAULT_KEEP_AUTO,
                 writer_process: bool | None = None) -> None:
        tune_gc()
        self.engine = engine if engine is not None else Engine()
        self.clock = clock
        self.actor = actor if actor is not None else default_actor()
        self.store = store
        self.db = store.where if store is not None else db
        self.snapshot_every = snapshot_every
        self.keep_auto = keep_auto
        self.epoch = store.current_epoch() if store is not None else 1
        self._last_snap_seq = self.engine.seq
        self.audit_log: list[dict] = []  # without a store
        self.refund_book: dict[str, dict] = {}  # without a store
        self.journal: list[dict] = []  # without a store: command dicts as applied (with "seq")
        self.alerts: deque = deque(maxlen=200)
        self.deliveries: deque = deque(maxlen=1000)  # alert delivery attempts, without a store
        self._delivery_ids = itertools.count(1)  # next() is atomic: sink workers record concurrently
        self.feed_health_source: Callable[[], dict] | None = None  # set by a FeedRunner's owner
        self.alert_sinks: list[dict] = []  # configured sinks (name, kind, min_severity), for the console
        self._lock = threading.RLock()  # held while applying a batch and while reading views
        self._qlock = threading.Lock()  # guards the command queue
        self._cv = threading.Condition(self._qlock)
        self._queue: deque = deque()
        self._acked = threading.Condition(threading.Lock())  # waiters on Acks
        self._subscribers: list[Callable[[list[dict]], None]] = []
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._idle = False
        # the write pipeline (with a store and the threads started): batches applied but not yet
        # durable wait in _wq for the writer thread, which journals them in order, then acknowledges
        self._wcv = threading.Condition(threading.Lock())  # guards _wq, _wpending, _wbroken, _wstop
        self._wq: deque = deque()  # _Job, in apply order (appended under _lock too)
        self._wpending = 0  # jobs handed to the writer and not yet finished (queued or being written)
        self._wbroken: Exception | None = None  # a write failed: the engine is ahead of the store
        self._wstop = False
        self._writer: threading.Thread | None = None
        self._readers = 0  # readers waiting for the writer to catch up (the sequencer waits for them)
        # the journal writer process (engine/node/journalwriter.py): used by the writer thread only
        self._wproc = None
        self.writer_process_batches = 0  # batches journaled through it (figures, tests)
        # None: yes unless PERPDESK_WRITER_PROCESS=0 (a node that must stay one process, or a comparison)
        self.writer_process = writer_process
        self._wproc_allowed = False  # set when the writer thread starts
        self._anchor = None  # trust.Anchor: the acknowledged head, outside the database (Node.open)
        self._anchor_alerted: str | None = None
        # fail-stop: set when a batch failed after the engine applied it in memory and the engine could
        # not be rebuilt from the journal; every command is refused while it is set (see _apply_failed)
        self._failed: str | None = None
        self._halted = False  # a failed batch is being recovered: readers wait (never see its effects)
        # one sequencer (engine/store/lease.py): the lease Node.open takes, and the error once fenced
        self._lease = None
        self._fenced: NodeError | None = None
        # the writer watchdog: seconds the journal writer process may take to acknowledge a batch
        self.writer_timeout_s = _writer_timeout()
        # start verification: the journal before the restored snapshot is verified in the background
        self._verified_from = 0
        self._bg_verify: dict = {"status": "not needed", "upto_seq": 0}
        self._bg_thread: threading.Thread | None = None
        self._bg_stop = threading.Event()

    # ---- opening a durable node ---------------------------------------------
    @classmethod
    def open(cls, url: str | None = None, *, actor: Actor | None = None, clock: Callable[[], int] = wall_clock_ms,
             create: bool = True, snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
             keep_auto: int = DEFAULT_KEEP_AUTO, writer_process: bool | None = None) -> Node:
        """Open the database at ``url`` (default: ``PERPDESK_DB`` or the data directory) and recover."""
        from ..store import trust
        from ..store.store import Store, StoreError

        try:
            key = trust.load_key(create=True)
        except trust.ChainKeyError as e:
            raise StoreError(str(e)) from None
        store = Store.open(url, create=create, key=key)
        lease = None
        try:
            lease = _take_lease(store)  # LeaseHeldError (a StoreError) names the node that holds it
            node = cls(clock=clock, actor=actor, store=store, snapshot_every=snapshot_every, keep_auto=keep_auto,
                       writer_process=writer_process)
            node._lease = lease
            node.recover(verify=True)
            node._start_anchor()
            node._start_background_verification()
        except BaseException:
            if lease is not None:
                lease.release()
            store.close()
            raise
        return node

    def verify_start(self, from_seq: int = 0) -> dict:
        """What a start checks before it trusts the database (raises :class:`TrustError`):
        the journal chain from ``from_seq`` (the snapshot it restores; 0: the first row) to the head
        (keyed rows with the key, the first linked to the row before it), the head record, the
        audit chain, and the anchor (the head the node acknowledged). Before ``from_seq``: only
        contiguous seqs and the count (the node verifies those rows' hashes in the background
        once it runs: :meth:`background_verification`)."""
        from ..store.store import StoreError

        store = self.store
        t0 = time.monotonic()
        try:
            problems = store.verify_chains(journal_from=from_seq)
            if problems:
                raise TrustError(store.where, f"{problems[0].chain} chain: first bad record: {problems[0]}")
            p = anchor_problem(store)
            if p is not None:
                raise TrustError(store.where, p)
        except StoreError as e:
            raise TrustError(store.where, f"the database cannot be read to verify it ({e})") from None
        self._verified_from = from_seq
        return {"verify_s": time.monotonic() - t0, "verified_from": from_seq}

    def _start_anchor(self) -> None:
        """Record the head this node acknowledges from now on, outside the database (engine/store/trust.py)."""
        from ..store import trust

        store = self.store
        if store is None or store.key is None or store.anchor_path is None:
            return
        self._anchor = trust.Anchor(store.anchor_path, store.key)
        seq, h = store.head()
        if seq:
            self._anchor.note(seq, h)
            self._anchor.flush()
        if self._anchor.error is None and store.meta().get("anchor") is None:
            store.set_meta("anchor", store.key_id or "")

    def _note_anchor(self, head) -> None:
        a = self._anchor
        if a is not None and head is not None:
            a.note(head[0], head[1])
            if a.error is not None and a.error != self._anchor_alerted:
                self._anchor_alerted = a.error
                self._alert("error", a.error)

    def recover(self, verify: bool = False) -> dict:
        """Load the newest sound snapshot and replay the journal after it.

        Every replayed command must land on its journaled seq with its journaled
        outcome; otherwise :class:`RecoveryError` names the first row that differs.
        Returns figures (snapshot used, commands replayed). Called on opening (before
        :meth:`start`) and after a failed write; a running node's engine is always what
        its store holds plus the batches on their way there.
        """
        from ..store.store import StoreError

        store = self.store
        if store is None:
            return {"snapshot_id": None, "replayed": 0}
        figures: dict = {}
        try:
            snap = store.latest_snapshot(skip_corrupt=True)
            if verify:  # the chain from the snapshot it restores to the head, fully; before it, cheaply
                # (a short journal before the snapshot is verified fully at start too)
                big = snap is not None and snap.seq > START_VERIFY_PREFIX_ROWS
                figures = self.verify_start(snap.seq if big else 0)
            trusted = store.snapshot_trust(snap) if snap is not None else "none"
        except StoreError as e:
            if verify:
                raise TrustError(store.where, str(e)) from None
            raise RecoveryError(str(e)) from None
        eng = self.base_engine(snap)
        stored = {i.snapshot_id for i in store.list_snapshots()}
        n = 0
        for rec in store.iter_journal(after_seq=eng.seq):
            for sid in self.replay_record(eng, rec):
                if sid not in stored:
                    self._save_replayed_snapshot(eng, sid)
            n += 1
        with self._lock:
            self.engine = eng
            self.epoch = store.current_epoch()
            self._last_snap_seq = snap.seq if snap is not None else 0
        if eng.maintenance:
            self._save_windows(list(eng.maintenance))
        if verify and eng.seq != store.last_seq():
            raise TrustError(store.where, f"the journal replays to seq {eng.seq} but its head record says "
                                          f"{store.last_seq()}")
        if verify:
            self._complete_paid_refunds()
        return {"snapshot_id": snap.snapshot_id if snap is not None else None, "replayed": n, "seq": eng.seq,
                "snapshot": trusted, **figures}

    @staticmethod
    def base_engine(snap: snapshot_mod.Snapshot | None) -> Engine:
        """A fresh engine restored from ``snap`` (recovery's, and a standby's, starting point; the
        empty venue at seq 0 for None)."""
        eng = Engine()
        if snap is not None:
            try:
                snapshot_mod.restore(eng, snapshot_mod.decode(snap.data, expect_hash=snap.state_hash))
            except snapshot_mod.SnapshotError as e:
                raise RecoveryError(f"snapshot {snap.snapshot_id}: {e}") from None
            eng.seq = snap.seq
            eng.now = snap.ts
            eng.snapshots[snap.snapshot_id] = snap
        return eng

    def replay_record(self, eng: Engine, rec) -> list[str]:
        """Apply one journal row (a :class:`engine.store.store.JournalRecord`) to ``eng`` as recovery
        does (a standby follows the journal with it too): it must land on its journaled seq with its
        journaled outcome, else :class:`RecoveryError`. Returns the ids of snapshots it took."""
        cmd = rec.command
        if rec.seq != eng.seq + 1:
            raise RecoveryError(f"journal gap: expected seq {eng.seq + 1}, found {rec.seq}")
        if cmd.get("type") == "rollback":
            self._preload_snapshot(eng, cmd.get("snapshot_id"))
        evs = eng.apply_obj(cmd)
        outcome = _outcome(evs)
        if outcome != rec.outcome:
            raise RecoveryError(f"journal seq {rec.seq} ({rec.type}) replays as {outcome!r} but was journaled "
                                f"as {rec.outcome!r}: the journal was edited or the engine changed behaviour")
        return [ev["snapshot_id"] for ev in evs if ev["type"] == "snapshot_taken"]

    def _save_replayed_snapshot(self, eng: Engine, snapshot_id: str) -> None:
        from ..store.store import StoreError

        try:  # taken but not saved before a crash (best effort: the journal holds the command)
            self.store.save_snapshot(eng.snapshots[snapshot_id])
        except StoreError as e:  # e.g. a full disk: recovery itself must not fail for it
            self._alert("error", f"snapshot {snapshot_id} not saved during recovery: {e}")

    def _preload_snapshot(self, eng: Engine, snapshot_id) -> None:
        """Make a stored snapshot available to a ``rollback`` command (the engine itself does no I/O)."""
        if self.store is None or not isinstance(snapshot_id, str):
            return
        from ..store.store import StoreError

        # the store is the library of record: a snapshot pruned from it is gone, even if a replayed
        # take_snapshot re-created it in memory (so a replay decides exactly as the original did)
        try:
            eng.snapshots[snapshot_id] = self.store.load_snapshot(snapshot_id)
        except StoreError:
            eng.snapshots.pop(snapshot_id, None)  # the engine refuses the rollback as unknown_snapshot

    def close(self) -> None:
        self._bg_stop.set()
        if self._bg_thread is not None:
            self._bg_thread.join(30)
            self._bg_thread = None
        self.stop()
        if self._anchor is not None:
            self._anchor.flush()
        self.release_lease()
        if self.store is not None:
            self.store.close()

    # ---- one sequencer: the lease and the fencing token (engine/store/lease.py) ----------------
    @property
    def leader_epoch(self) -> int:
        """The fencing token this node appends under (0: no lease, e.g. a node built on a bare store)."""
        return self._lease.epoch if self._lease is not None else 0

    @property
    def lease_holder(self) -> dict | None:
        return dict(self._lease.holder) if self._lease is not None else None

    def promote(self, lease, engine: Engine, taken: list[str] = (), verified_from: int = 0) -> Node:
        """A standby's takeover (engine/node/standby.py): ``lease`` was just taken (the leader epoch
        bumped, ``store.fence`` set) and ``engine`` caught up to the last committed seq after that, by
        the same replay as :meth:`recover` (no full replay here). Snapshots the journal took that the
        old leader did not save (``taken``) are saved, the maintenance and refund records completed
        from the engine as at a start, the anchor and the background check of the journal before
        ``verified_from`` started; then the node starts sequencing."""
        if self.store is None or self._thread is not None:
            raise NodeError("not_standby", "only a stopped node on a store can be promoted")
        with self._lock:
            self.engine = engine
            self.epoch = self.store.current_epoch()
            self._last_snap_seq = max((s.seq for s in engine.snapshots.values()), default=0)
        self._lease = lease
        stored = {i.snapshot_id for i in self.store.list_snapshots()}
        saved = [sid for sid in taken if sid not in stored and sid in engine.snapshots]
        for sid in saved:
            self._save_replayed_snapshot(engine, sid)
        if saved:
            from ..store.store import StoreError

            try:
                for sid in self.store.prune_auto_snapshots(self.keep_auto):
                    engine.snapshots.pop(sid, None)
            except StoreError as e:
                self._alert("error", f"auto snapshots not pruned at takeover: {e}")
        if engine.maintenance:
            self._save_windows(list(engine.maintenance))
        self._complete_paid_refunds()
        self._verified_from = verified_from
        self._start_anchor()
        self._start_background_verification()
        self._alert("warning", f"took over as the sequencer at leader epoch {lease.epoch}, journal seq "
                               f"{engine.seq}")
        return self.start()

    # ---- start verification: the journal before the restored snapshot, after start ----------
    def background_verification(self, wait: float | None = None) -> dict:
        """``{status: not needed | running | ok | failed | stopped | error, upto_seq, problem?}``
        of the background check of the journal rows before the snapshot the node restored
        (``wait``: seconds to wait for it to finish first)."""
        t = self._bg_thread
        if wait is not None and t is not None:
            t.join(wait)
        return dict(self._bg_verify)

    def _start_background_verification(self) -> None:
        upto = self._verified_from
        if self.store is None or upto <= 0:
            return
        self._bg_verify = {"status": "running", "upto_seq": upto}
        self._bg_thread = threading.Thread(target=self._verify_prefix, args=(upto,), daemon=True,
                                           name="perpdesk-verify-prefix")
        self._bg_thread.start()

    def _verify_prefix(self, upto: int) -> None:
        try:
            p = self.store.verify_journal_prefix(upto, stop=self._bg_stop.is_set)
        except Exception as e:  # (a StoreError, or the store closed under it)
            if self._bg_stop.is_set():
                self._bg_verify = {"status": "stopped", "upto_seq": upto}
                return
            self._bg_verify = {"status": "error", "upto_seq": upto, "problem": str(e)}
            self._alert("error", f"background journal verification (seq 1..{upto}) could not finish: {e}")
            return
        if self._bg_stop.is_set():
            self._bg_verify = {"status": "stopped", "upto_seq": upto}
        elif p is not None:
            self._bg_verify = {"status": "failed", "upto_seq": upto, "problem": str(p)}
            self._alert("critical", f"background journal verification: first bad record before the restored "
                                    f"snapshot (seq {upto}): {p}. The running state comes from that snapshot "
                                    f"and the rows after it, which verified; run `perpdesk verify` and restore "
                                    f"the journal from a backup")
        else:
            self._bg_verify = {"status": "ok", "upto_seq": upto}

    def release_lease(self) -> None:
        lease, self._lease = self._lease, None
        if lease is not None:
            lease.release()

    def _fence(self, err: Exception) -> None:
        """A journal append was refused as fenced: another node took the lease. Stop for good."""
        if self._fenced is None:
            self._fenced = NodeError("fenced", f"this node was deposed and takes no more commands: {err}")
            self._alert("critical", f"fenced: {err}")

    # ---- lifecycle -----------------------------------------------------
    def start(self) -> Node:
        if self._thread is None:
            self._stopping = False
            if self.store is not None and self._writer is None:
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
                res = Result(0, [], False, "forbidden", _forbidden_message(who, ctype, denied[0]))
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
                rec = self.store.get_refund(rid) if self.store is not None else self.refund_book.get(rid)
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

    # ---- gateway: reads -------------------------------------------------
    def read(self, fn: Callable, *args, **kwargs):
        """Run a read-only view (``engine.node.views``-style function) under the engine lock."""
        with self._reading():
            return fn(self.engine, *args, **kwargs)

    def status(self) -> dict:
        st = self.read(views.status)
        st["epoch"] = self.epoch
        st["leader_epoch"] = self.leader_epoch
        st["fenced"] = self._fenced is not None
        st["alerts"] = list(self.alerts)
        st["failed"] = self._failed  # fail-stopped: why (commands refused); None when serving
        return st

    def markets(self) -> list[dict]:
        return self.read(views.markets)

    def account(self, name: str) -> dict | None:
        return self.read(views.account, name)

    def accounts(self, limit: int = 500, offset: int = 0, query: str = "") -> list[dict]:
        return self.read(views.accounts, limit, offset, query)

    def book(self, market: str, levels: int = 10) -> dict:
        return self.read(views.book, market, levels)

    def accounts_by_risk(self, limit: int = 300, below_maintenance: bool = False) -> list[dict]:
        """Read-only (console): accounts with a position, riskiest first (views.accounts_by_risk)."""
        return self.read(views.accounts_by_risk, limit, below_maintenance)

    def reopen_backlog(self, market: str) -> dict:
        """Read-only (console): liquidations and TP/SL triggers waiting to fire when ``market`` reopens."""
        return self.read(views.reopen_backlog, market)

    def checks(self) -> list[dict]:
        return self.read(views.checks)

    def guard_status(self) -> dict:
        """Guard rails: safeguards on/off, per-market flags, breaker, pending oracle, quarantined writes, last audit."""
        return self.read(views.guard_status)

    def snapshots(self) -> list[dict]:
        """Snapshots known to the engine and, with a store, every stored one (newest last)."""
        mem = {s["snapshot_id"]: s for s in self.read(views.snapshots)}
        if self.store is not None:
            for i in self.store.list_snapshots():
                mem.setdefault(i.snapshot_id, {"snapshot_id": i.snapshot_id, "seq": i.seq, "ts": i.ts,
                                               "label": i.label, "trigger": i.trigger,
                                               "state_hash": i.state_hash, "size_bytes": i.size})
        return sorted(mem.values(), key=lambda s: s["seq"])

    def brake_preview(self) -> dict:
        with self._reading():
            return self.engine.brake_preview()

    def maintenance_windows(self) -> list[dict]:
        return self.read(lambda e: [dict(w) for w in e.maintenance.values()])

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
            if self.store is not None:
                from ..store.store import StoreError

                try:
                    head = self.store.append_journal(job.rows, job.marks)
                except StoreError as e:
                    if _is_fenced(e):
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

    def _apply(self, batch: list) -> _Job:
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
            if len(evs) == 1 and evs[0]["type"] == "rejected":  # _outcome, inlined
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
            rows.append(JournalEntry(eng.seq, cmd["ts"], cmd["type"], cmd, _outcome(evs), epoch))
            published.extend(evs)
        if new_snaps:
            self._last_snap_seq = max(s.seq for s in new_snaps)
        if self.store is None:
            for r in rows:  # (seq, ts, type, payload, outcome, epoch)
                self.journal.append({**r[3], "seq": r[0]})
            if any(s.trigger == "auto" for s in new_snaps):  # same retention as the store's
                autos = [k for k, v in eng.snapshots.items() if v.trigger == "auto"]
                for sid in autos[:-self.keep_auto or None] if self.keep_auto else autos:
                    eng.snapshots.pop(sid, None)
        # the maintenance windows as this batch left them (the store's table mirrors them)
        windows = [dict(eng.maintenance[w]) for w in sorted(windows_touched) if w in eng.maintenance]
        return _Job(base_seq, eng.seq, rows, marks, done, published, new_snaps, windows)

    def _persist(self, job: _Job) -> None:
        """After ``job``'s rows are durable: store its snapshots and maintenance windows."""
        if self.store is None:
            return
        if job.new_snaps:
            from ..store.store import StoreError

            try:
                for s in job.new_snaps:
                    self.store.save_snapshot(s)
                if any(s.trigger == "auto" for s in job.new_snaps):
                    pruned = self.store.prune_auto_snapshots(self.keep_auto)
                    with self._lock:
                        for sid in pruned:
                            self.engine.snapshots.pop(sid, None)
            except StoreError as e:  # the journal holds the command: recovery re-creates the snapshot
                self._alert("error", f"snapshot not saved: {e}")
        if job.windows:
            self._store_windows(job.windows)

    def _finish(self, job: _Job) -> None:
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

    # ---- the writer thread ---------------------------------------------------
    def _write_loop(self) -> None:
        try:
            if self.writer_process and self._wproc_allowed:  # True: start it with the node
                self._spawn_writer_process()
            self._write_jobs()
        finally:
            self._close_writer_process()

    def _write_jobs(self) -> None:
        from ..store.store import StoreError

        while True:
            with self._wcv:
                while not self._wq and not self._wstop:
                    self._wcv.wait()
                if not self._wq:
                    return
                job = self._wq[0]  # stays queued (and counted) until it is durable
            try:
                head = self._append_job(job)
            except Exception as e:  # StoreError, or a bug: either way the batch is not durable
                err = e if isinstance(e, StoreError) else NodeError("internal", f"journal write failed: {e!r}")
                if _is_fenced(err):
                    self._fence(err)
                self._write_failed(err)
                continue
            self._note_anchor(head)
            try:
                self._persist(job)
            except Exception as e:  # never let the writer die silently
                self._alert("critical", f"writer error after a durable batch: {e!r}")
            with self._wcv:
                self._wq.popleft()
                self._wpending -= 1
                self._wcv.notify_all()
            try:
                self._finish(job)
            except Exception as e:
                self._alert("critical", f"writer error acknowledging a durable batch: {e!r}")

    def _append_job(self, job: _Job):
        """Journal ``job`` durably (on the writer thread): through the writer process once it runs.

        The process runs the store's own append_journal on its own connection, so the rows, their
        hashes and the errors are the same; what moves out of this process is the encoding,
        hashing and SQLite work, which would otherwise hold the GIL against the sequencer. Until
        it is ready, and for good once it is gone, the batch is appended here instead."""
        from .journalwriter import WriterGone, WriterStalled

        wp = self._wproc
        if wp is None and self._wproc_allowed and len(job.rows) >= WRITER_PROCESS_ROWS:
            wp = self._spawn_writer_process()
        if wp is not None:
            try:
                if wp.ready():
                    head = wp.append(job.rows, job.marks, timeout=self.writer_timeout_s)
                    self.writer_process_batches += 1
                    return head
            except WriterStalled as e:
                return self._writer_stalled(wp, job, e)
            except WriterGone as e:
                self._close_writer_process()
                self._alert("warning", f"{e}; journaling in-process")
                if self.store.last_seq() >= job.last_seq:  # it committed the batch before it went
                    return None
            except (TypeError, ValueError):  # a row it cannot carry: the store reports it below
                pass
        return self.store.append_journal(job.rows, job.marks)

    def _writer_stalled(self, wp, job: _Job, err: Exception):
        """The writer watchdog: the journal writer process did not acknowledge ``job`` within
        ``writer_timeout_s`` (SIGSTOPped, hung on I/O). Kill and reap it first, so it can never
        commit the batch late; then the store says whether it committed it before it stopped
        (acknowledged as durable) or not (journaled here, in-process, from now on). The callers of
        the batch get its results either way, or ``not_durable`` if that append fails too."""
        self._wproc = None  # (and _wproc_allowed stays False: in-process for the node's life)
        wp.kill()
        head = self.store.journal_head(lock=True)  # waits for a dying transaction to end
        if head[0] >= job.last_seq:
            outcome, result = "it had committed it before it stalled", head
        elif head[0] == job.base_seq:
            result = None
            outcome = "journaled in-process"
        else:
            from ..store.store import JournalConflictError

            raise JournalConflictError(f"after the stalled journal writer process was killed the journal "
                                       f"ends at seq {head[0]}, neither before ({job.base_seq}) nor after "
                                       f"({job.last_seq}) the batch: another writer? Nothing more was written.")
        self._alert("critical", f"{err} (no acknowledgement within {self.writer_timeout_s:g} s): killed it; "
                                f"batch seq {job.base_seq + 1}..{job.last_seq}: {outcome}; the node journals "
                                f"in-process from now on")
        if result is None:
            result = self.store.append_journal(job.rows, job.marks)
        return result

    def _spawn_writer_process(self):
        """Start the journal writer process (writer thread only; one try per writer thread)."""
        from .journalwriter import WriterProcess

        self._wproc_allowed = False
        config = self.store.writer_config()
        if config is not None:
            try:
                self._wproc = WriterProcess(config)
            except Exception as e:  # (no fork/exec here, no pipes to pass, ...): stay in-process
                self._alert("warning", f"journal writer process not started ({e!r}); journaling in-process")
        return self._wproc

    def writer_process_ready(self, timeout: float = 30.0) -> bool:
        """Wait until the journal writer process is up (True), or until it is clear there will be
        none (False: in-memory store, ``writer_process=False``, not started yet, or it failed).
        With ``writer_process=True`` it starts with the node; a second or so (imports, opening)."""
        from .journalwriter import WriterGone

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            wp = self._wproc
            if wp is not None:
                try:
                    if wp.ready():
                        return True
                except WriterGone:
                    return False
            elif self._writer is None or not (self.writer_process and self.store.writer_config()):
                return False
            time.sleep(0.01)
        return False

    def _close_writer_process(self) -> None:
        wp, self._wproc = self._wproc, None
        if wp is not None:
            wp.close()

    def _write_failed(self, err: Exception) -> None:
        """A journal write failed: that batch and every batch applied after it are not durable."""
        with self._wcv:
            failed = list(self._wq)
            self._wq.clear()
            self._wpending -= len(failed)
            self._wbroken = err
            self._wcv.notify_all()
        self._alert("critical", f"journal write failed at seq {failed[0].base_seq + 1}: {err}")
        with self._lock:  # the sequencer or a reader may have recovered already
            if self._wbroken is not None:
                self._recover_broken()
        for job in failed:
            self._fail_futures(job.done, err)

    def _apply_failed(self, batch: list, err: Exception) -> None:
        """A batch failed after the engine applied (some of) it in memory (caller holds ``_lock``).

        Fail-stop: the node refuses commands and every caller of the batch gets ``node_failed`` (once the
        rebuild is over); the engine is rebuilt from the journal (the store's snapshot + journal, or the in-memory journal),
        which never held the batch. Once rebuilt the node takes commands again; if it cannot be
        rebuilt it stays stopped (every command refused) rather than serve a state the journal lacks."""
        reason = f"a batch failed after it was applied in memory ({err!r})"
        self._failed = reason
        self._alert("critical", f"fail-stop: {reason}; commands refused while the engine is rebuilt from the journal")
        try:
            if self.store is not None:
                self.recover()
            else:
                self._rebuild_from_memory()
        except Exception as e:  # noqa: BLE001 - stay stopped, never pretend
            self._failed = f"{reason}; rebuilding from the journal failed too ({e!r})"
            self._alert("critical", f"fail-stop: {self._failed}; the node stays stopped")
        else:
            self._failed = None
            self._alert("warning", f"recovered from the journal at seq {self.engine.seq}; taking commands again")
        # told once the engine is back on the journal (or the node is stopped for good)
        for fut in batch:
            if not fut.done():
                fut.set_exception(NodeError("node_failed", f"{reason}; nothing of this batch was applied"))

    def _rebuild_from_memory(self) -> None:
        """Without a store: a fresh engine from the in-memory journal (caller holds ``_lock``)."""
        eng = Engine()
        for rec in self.journal:
            cmd = {k: v for k, v in rec.items() if k != "seq"}
            if cmd.get("type") == "rollback":
                sid = cmd.get("snapshot_id")
                snap = self.engine.snapshots.get(sid) if isinstance(sid, str) else None
                if snap is not None and sid not in eng.snapshots:
                    eng.snapshots[sid] = snap
            eng.apply_obj(cmd)
            if eng.seq != rec["seq"]:
                raise RecoveryError(f"the in-memory journal replays to seq {eng.seq}, not {rec['seq']}")
        keep = set(self.engine.snapshots)
        eng.snapshots = {k: v for k, v in eng.snapshots.items() if k in keep}
        self.engine = eng
        self._last_snap_seq = max((v.seq for v in eng.snapshots.values()), default=0)

    def _recover_broken(self) -> None:
        """Put the engine back to what the store holds after a failed write (caller holds ``_lock``)."""
        try:
            self.recover()
        except Exception as e:  # the store is unusable: keep refusing, never pretend
            self._failed = f"recovery after a failed write failed: {e}"
            self._alert("critical", f"recovery after a failed write failed too: {e}; the node stays stopped")
        with self._wcv:
            self._wbroken = None
            self._wcv.notify_all()

    @staticmethod
    def _fail_futures(batch: list, err: Exception) -> None:
        msg = f"not durable, nothing applied: {err}"
        code = "fenced" if _is_fenced(err) else "not_durable"
        for fut in batch:
            if not fut.done():
                fut.set_exception(NodeError(code, msg))

    @contextmanager
    def _reading(self):
        """Hold ``_lock`` on an engine whose every applied command is durable (for readers).

        With the pipeline running, the sequencer is parked while readers wait, and they wait for
        the writer without holding ``_lock``. A read from the writer thread itself (a subscriber
        or a done-callback) or under ``_lock`` already does not wait."""
        if self._writer is None or threading.current_thread() is self._writer or self._lock._is_owned():
            with self._lock:
                yield
            return
        with self._wcv:
            self._readers += 1
        try:
            while True:
                with self._wcv:
                    while (self._wpending or self._halted) and self._wbroken is None:
                        self._wcv.wait()
                self._lock.acquire()
                if self._wbroken is not None:
                    self._recover_broken()
                if not self._wpending and not self._halted:
                    break
                self._lock.release()  # the sequencer applied one more batch before it saw us
            try:
                yield
            finally:
                self._lock.release()
        finally:
            with self._wcv:
                self._readers -= 1
                self._wcv.notify_all()

    def _save_windows(self, wids) -> None:
        """Mirror maintenance windows (engine state) into the store's table, phase included."""
        with self._lock:
            windows = [dict(self.engine.maintenance[w]) for w in sorted(wids) if w in self.engine.maintenance]
        self._store_windows(windows)

    def _store_windows(self, windows: list[dict]) -> None:
        from ..store.store import StoreError

        try:
            for w in windows:
                detail = {k: w[k] for k in ("announce_ts", "work_ts", "post_only_ts", "end_ts", "failing",
                                            "phase_ts") if k in w}
                self.store.save_maintenance({**w, "detail": detail})
        except StoreError as e:  # the journal holds the truth; the table is a mirror
            self._alert("error", f"maintenance window not saved: {e}")

    def _fail_batch(self, batch: list, err: Exception, base_seq: int) -> None:
        self._alert("critical", f"journal write failed at seq {base_seq + 1}: {err}")
        try:
            self.recover()
        except Exception as e:  # the store is unusable: keep refusing, never pretend
            self._failed = f"recovery after a failed write failed: {e}"
            self._alert("critical", f"recovery after a failed write failed too: {e}; the node stays stopped")
        self._fail_futures(batch, err)

    def _alert(self, severity: str, message: str) -> None:
        ev = {"type": "node_alert", "severity": severity, "message": message, "ts": self.clock()}
        self.alerts.append(ev)
        self._publish_node_event(ev)

    def _publish_node_event(self, ev: dict) -> None:
        """Hand a node-level event (not journaled: node_alert, refund_decided) to the subscribers."""
        for fn in list(self._subscribers):
            try:
                fn([ev])
            except Exception:
                pass

    # ---- audit -----------------------------------------------------------
    def _audit(self, who: Actor, action: str, cmd: dict | None, reason: str, outcome: str) -> None:
        if self.store is not None:
            from ..store.store import StoreError

            try:
                self.store.append_audit(operator=who.name, role=who.role, action=action, command=cmd,
                                        reason=reason or "", outcome=outcome, ts=self.clock())
                return
            except StoreError as e:
                self._alert("critical", f"audit record not written ({action} by {who.name}): {e}")
                return
        self.audit_log.append({"id": len(self.audit_log) + 1, "ts": self.clock(), "operator": who.name,
                               "role": who.role, "action": action, "command": cmd, "reason": reason or "",
                               "outcome": outcome})

    def _audit_result(self, who: Actor, cmd: dict, fut: Ack) -> None:
        try:
            res = fut.result()
            outcome = "ok" if res.ok else f"rejected: {res.code}: {res.message}"
        except Exception as e:
            outcome = f"error: {e}"
        self._audit(who, cmd["type"], cmd, cmd.get("reason", ""), outcome)

    def audit(self, limit: int = 500, query: str = "") -> list[dict]:
        """The newest ``limit`` audit records matching ``query`` (oldest first)."""
        if self.store is not None:
            rows = [r.as_dict() for r in self.store.iter_audit(query=query or None, limit=limit, newest_first=True)]
            return rows[::-1]
        q = query.lower()
        rows = [r for r in self.audit_log if not q or q in str(r).lower()]
        return rows[-limit:]

    # ---- rollback ----------------------------------------------------------
    def rollback_preview(self, snapshot_id: str) -> dict:
        """What rolling back to ``snapshot_id`` would change, account by account (changes nothing)."""
        with self._reading():
            eng = self.engine
            self._preload_snapshot(eng, snapshot_id)
            snap = eng.snapshots.get(snapshot_id)
            if snap is None:
                raise NodeError("unknown_snapshot", f"there is no snapshot {snapshot_id!r}")
            if self.store is not None:
                tail = [r.command for r in self.store.iter_journal(after_seq=snap.seq)]
            else:
                tail = [c for c in self.journal if c["seq"] > snap.seq]
            for c in tail:
                if c.get("type") == "rollback":
                    self._preload_snapshot(eng, c.get("snapshot_id"))
            return rollback_mod.preview(eng, snapshot_id, tail)

    # ---- read helper for the console: the recent past, re-derived from the journal ------------
    def history(self, max_commands: int = 50_000, gap_ms: int = 10_000, types=None) -> dict:
        """Read-only: the events of the journal's tail (events are not stored), re-derived by replaying
        the rows after a snapshot at or before ``head - max_commands`` on a scratch engine.

        Returns ``{"from_seq", "head", "events", "gaps"}``: ``events`` every event of the replayed
        rows, each with its row's ``seq`` and ``ts`` (the journal's stamp) and ``rolled_back`` true when
        a later ``rollback`` in the window undid it (seq after the rollback's snapshot, before the
        rollback); ``gaps``: ``(ts_before, ts_after, seq_after)`` where consecutive rows are further
        apart than ``gap_ms`` (the venue was down or idle); ``types``: keep only events of these types
        (``rolled_back`` is always kept). Never changes the venue.
        """
        with self._reading():
            head = self.engine.seq
        snap = self._base_snapshot(max(0, head - max_commands))
        if head - snap.seq > 4 * max_commands:  # no snapshot near the window: take the newest one instead
            snap = self._base_snapshot(head)
        rows = self._journal_rows(snap.seq, head)
        resolve = self._snapshot_resolver()
        eng = cf_mod.restore(snap)
        events: list[dict] = []
        gaps: list[tuple[int, int, int]] = []
        undo: list[tuple[int, int]] = []
        last_ts: int | None = snap.ts or None
        for cmd, _outcome in rows:
            seq = cmd["seq"]
            if seq != eng.seq + 1:
                break  # a gap in the journal: show what replays cleanly
            c = {k: v for k, v in cmd.items() if k != "seq"}
            if c.get("type") == "rollback":
                cf_mod.preload(eng, c.get("snapshot_id"), resolve, snap.seq)
            evs = eng.apply_obj(c)
            ts = c.get("ts") if isinstance(c.get("ts"), int) else eng.now
            if last_ts is not None and ts - last_ts > gap_ms:
                gaps.append((last_ts, ts, seq))
            last_ts = ts
            for ev in evs:
                if ev.get("type") == "rolled_back" and isinstance(ev.get("to_seq"), int):
                    undo.append((ev["to_seq"], seq))
                if types is None or ev.get("type") in types or ev.get("type") == "rolled_back":
                    events.append({**ev, "seq": seq, "ts": ts})
        for after_seq, rb_seq in undo:
            for ev in events:
                if after_seq < ev["seq"] < rb_seq:
                    ev["rolled_back"] = True
        return {"from_seq": snap.seq, "head": eng.seq, "events": events, "gaps": gaps, "last_ts": last_ts}

    def _require(self, who: Actor, action: str) -> None:
        if not who.may(action):
            self._audit(who, action, None, "", "refused: role")
            raise NodeError("forbidden", f"{who.name} ({who.role}) may not {action.replace('_', ' ')}")

    def audit_auth_failure(self, source: str, code: str, detail: str, *, token_id: str | None = None) -> None:
        """Audit one refused login or request (the venue service calls it; engine/venue/operators.py
        records through the store's audit chain itself). ``token_id``: the token's public id only,
        never its secret."""
        cmd = {"source": str(source)[:200], "code": str(code)[:64]}
        if token_id:
            cmd["token_id"] = str(token_id)[:64]
        self._audit(Actor(f"token:{token_id}" if token_id else "anonymous", "none"), "authenticate", cmd,
                    "", f"refused: {code}: {str(detail)[:300]}")

    # ---- the outside world: alert deliveries and price-feed health ------------------
    def record_alert_delivery(self, rec: dict) -> None:
        """Keep one alert delivery attempt (the store's alert_deliveries table, or memory)."""
        if self.store is not None:
            self.store.record_alert_delivery(rec)
        else:
            self.deliveries.append({"id": next(self._delivery_ids), **rec})

    def alert_deliveries(self, limit: int = 200) -> list[dict]:
        """The newest ``limit`` delivery attempts, newest first."""
        if self.store is not None:
            return self.store.list_alert_deliveries(limit)
        return list(self.deliveries)[::-1][:limit]

    def feed_health(self) -> dict:
        """Each price source's health and each market's index (empty without feeds)."""
        fn = self.feed_health_source
        if fn is None:
            return {"sources": [], "indexes": []}
        return fn()


def _take_lease(store):
    from ..store import lease

    return lease.acquire(store)


def _is_fenced(err: BaseException) -> bool:
    from ..store.store import FencedError

    return isinstance(err, FencedError)


def _writer_timeout() -> float:
    """PERPDESK_WRITER_TIMEOUT_S (default 5): how long the journal writer process may take to
    acknowledge one batch before the node stops it and journals in-process. Read as a decimal and
    kept in whole milliseconds (1 ms to a day); a bad value means the default."""
    try:
        ms = int(Decimal(os.environ.get("PERPDESK_WRITER_TIMEOUT_S", "") or "5") * 1000)
    except (InvalidOperation, ValueError, OverflowError):  # garbage, NaN, Infinity
        ms = 5000
    return (ms if 0 < ms <= 86_400_000 else 5000) / 1000  # up to a day


def _forbidden_message(who: Actor, ctype: str, denied: str) -> str:
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


def _outcome(events: list[dict]) -> str:
    if len(events) == 1 and events[0]["type"] == "rejected":
        return f"rejected:{events[0]['code']}"
    return "ok"
