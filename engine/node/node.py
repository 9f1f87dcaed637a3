"""The node: the single sequencer that owns the engine.

Callers (console, simulator, feeds, scripts) submit commands through the
thread-safe :class:`Gateway` methods of :class:`Node` and get a
:class:`Ack` (a light future) of a :class:`Result`. One thread applies
commands in arrival order; with a store attached, each batch is journaled in
one transaction (group commit) before any result is acknowledged or any event
is published, by a writer thread that journals batch N while the sequencer
applies batch N+1. Once batches grow (a burst), the writer thread hands them to a
journal writer process (engine/node/journalwriter.py). Subscribers receive event
batches on the thread that acknowledges them (the writer, or the sequencer
without a store) and must only buffer them (the engine never waits for a screen).

This module assembles :class:`Node` from one part per idea, each a module of this package:

* engine/node/sequencer.py: submit, role checks, the apply loop, acknowledgements (``Sequencer``);
* engine/node/pipeline.py: the writer thread and process, what is stored after a batch, failures (``WritePipeline``);
* engine/node/recovery.py: open, verify, recover, replay, anchor, lease, promote (``Recovery``);
* engine/node/audit.py: the audit log, alerts, alert deliveries (``AuditTrail``);
* engine/node/reads.py: views, snapshots, rollback preview, history (``Reads``);
* engine/node/refund_desk.py: refunds, maker-checker and computed (``RefundDesk``);

and the persistence it talks to through one port (engine/node/persistence.py): the store
(engine/store), or :class:`~engine.node.memory.MemoryPersistence` without one.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..core.engine import Engine
from ..core.runtime import tune_gc
from .audit import AuditTrail
from .errors import NodeError, RecoveryError, TrustError
from .memory import MemoryPersistence
from .persistence import Persistence, is_durable
from .pipeline import WRITER_PROCESS_ROWS, WritePipeline, writer_timeout
from .reads import Reads
from .recovery import (
    DEFAULT_KEEP_AUTO,
    DEFAULT_SNAPSHOT_EVERY,
    START_VERIFY_PREFIX_ROWS,
    Recovery,
    anchor_problem,
)
from .refund_desk import RefundDesk
from .roles import Actor, default_actor
from .sequencer import MAX_BATCH, PIPELINE_DEPTH, Ack, Result, Sequencer, wall_clock_ms

if TYPE_CHECKING:
    from ..store.store import Store

__all__ = ["DEFAULT_KEEP_AUTO", "DEFAULT_SNAPSHOT_EVERY", "MAX_BATCH", "PIPELINE_DEPTH", "START_VERIFY_PREFIX_ROWS",
           "WRITER_PROCESS_ROWS", "Ack", "Node", "NodeError", "RecoveryError", "Result", "TrustError",
           "anchor_problem", "wall_clock_ms"]


class Node(Sequencer, WritePipeline, Recovery, AuditTrail, Reads, RefundDesk):
    """Owns one :class:`Engine`; the only writer.

    Without a store (``Node()``) the journal, audit log and refunds live in
    memory (tests, frozen demos). With one (``Node.open(url)``) every command is
    journaled before it is acknowledged, snapshots are persisted, and a node
    restarted on the same database recovers exactly.
    """

    def __init__(self, engine: Engine | None = None, clock: Callable[[], int] = wall_clock_ms,
                 actor: Actor | None = None, db: str = "memory", store: Store | None = None,
                 snapshot_every: int = DEFAULT_SNAPSHOT_EVERY, keep_auto: int = DEFAULT_KEEP_AUTO,
                 writer_process: bool | None = None, persistence: Persistence | None = None) -> None:
        tune_gc()
        self.engine = engine if engine is not None else Engine()
        self.clock = clock
        self.actor = actor if actor is not None else default_actor()
        # the persistence port (engine/node/persistence.py): the store, or memory without one
        self.store = store  # the engine.store Store (None: in memory); standby.py and tests use it directly
        if persistence is None:
            persistence = store if store is not None else MemoryPersistence(db)
        self.persistence: Persistence = persistence
        self.durable = is_durable(persistence)
        self.db = persistence.where
        self.snapshot_every = snapshot_every
        self.keep_auto = keep_auto
        self.epoch = persistence.current_epoch()
        self._last_snap_seq = self.engine.seq
        # without a store: the in-memory journal (command dicts as applied, with "seq"); [] with one
        self.journal: list[dict] = persistence.journal if isinstance(persistence, MemoryPersistence) else []
        self.alerts: deque = deque(maxlen=200)
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
        self._wq: deque = deque()  # Job, in apply order (appended under _lock too)
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
        self.writer_timeout_s = writer_timeout()
        # start verification: the journal before the restored snapshot is verified in the background
        self._verified_from = 0
        self._bg_verify: dict = {"status": "not needed", "upto_seq": 0}
        self._bg_thread: threading.Thread | None = None
        self._bg_stop = threading.Event()
