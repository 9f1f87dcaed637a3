"""A hot standby: follows a PostgreSQL journal, keeps its engine hot, and takes over the lease.

A :class:`Standby` runs beside the leader on the same PostgreSQL database (another process, usually
another machine):

1. **Start**: the same checks a node start makes before it trusts the database (the journal chain
   from the newest snapshot to the head, cheaply before it; the audit chain; the anchor when this
   machine has the leader's anchor file), then the newest snapshot is restored
   (:meth:`engine.node.node.Node.base_engine`).
2. **Follow**: it LISTENs on :data:`engine.store.store.JOURNAL_CHANNEL` (every journal append NOTIFYs
   the new head seq in its own transaction, delivered at COMMIT: one per write batch) and reads the
   committed rows after its own seq when notified, and at least every ``poll_s`` (a missed
   NOTIFY, or a listener connection lost, costs at most one poll interval). Each row's hash chain is
   verified as it is read (:meth:`engine.store.store.Store.follow_journal`: linked to the last row
   applied, its hash matching its content, keyed rows with the key) and applied with
   :meth:`engine.node.node.Node.replay_record`, recovery's own replay (same seq, same outcome), so its
   state hash is a full replay's. A chain break or a row that replays differently refuses, loudly
   (:class:`StandbyError`, logged critical): a standby never takes over a journal it cannot trust.
3. **Take over**: every ``lease_every_s`` it tries the sequencer lease (a non-blocking
   ``pg_try_advisory_lock``, :func:`engine.store.lease.acquire`). The lease frees when the leader's
   session ends (exit, crash, SIGKILL, a network partition the server notices). Once it has it, the
   leader epoch is bumped (fencing: from then on the old leader's appends, and its writer process's,
   fail with ``fenced``), it reads the journal to its end (nothing can commit under the old epoch
   after the bump), checks that end is the store's head record, and becomes a normal node with the
   engine it already has (:meth:`engine.node.node.Node.promote`: no full replay) and serves.

SQLite: a standby needs a database two machines share, and a SQLite file has one writer host; a
:class:`Standby` on SQLite refuses with a clear message (:class:`StandbyError`). A SQLite node that
must survive its process is simply restarted (the lease is a ``flock``, freed when it dies).

:func:`run_standby` is the blocking entry point (``perpdesk venue --standby``, ``python -m
engine.tools.standby``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from engine.errors import PerpdeskError

from ..core.engine import Engine
from .node import (
    DEFAULT_KEEP_AUTO,
    DEFAULT_SNAPSHOT_EVERY,
    START_VERIFY_PREFIX_ROWS,
    Node,
    RecoveryError,
    anchor_problem,
    wall_clock_ms,
)
from .roles import Actor

log = logging.getLogger("perpdesk.standby")

POLL_S = 0.2  # catch-up read at least this often, notified or not
LEASE_EVERY_S = 0.1  # a non-blocking try of the lease this often
FOLLOW_BATCH = 5_000  # rows per read while following


class StandbyError(PerpdeskError):
    """The standby refuses: not PostgreSQL, the database does not verify, or the journal it follows
    broke its chain or replays differently. ``str(e)`` says what and what to do."""

    code = "standby_refused"


class Standby:
    """Follows the journal of the PostgreSQL database at ``url``; :meth:`run` until it is the leader.

    ``snapshot_every``, ``keep_auto``, ``writer_process``, ``actor`` and ``clock`` are those of the
    node it becomes. ``state``: ``new``, ``following``, ``leader``, ``refused`` or ``stopped``.
    """

    def __init__(self, url: str | None, *, actor: Actor | None = None, clock: Callable[[], int] = wall_clock_ms,
                 snapshot_every: int = DEFAULT_SNAPSHOT_EVERY, keep_auto: int = DEFAULT_KEEP_AUTO,
                 writer_process: bool | None = None, poll_s: float = POLL_S,
                 lease_every_s: float = LEASE_EVERY_S) -> None:
        from sqlalchemy.engine import make_url

        from ..settings import paths

        raw = paths.resolve_db_url(url)
        try:
            backend = make_url(raw).get_backend_name()
        except Exception:
            backend = "?"
        if backend != "postgresql":
            raise StandbyError(
                f"a standby follows a PostgreSQL database (postgresql+psycopg://...), not {backend!r}: a "
                f"SQLite file has one writer host, so there is nothing to take over from another machine. "
                f"Run one node on the file (it is restarted on the same file after a crash), or move the "
                f"venue to PostgreSQL to run a standby.")
        self.url = raw
        self.actor = actor
        self.clock = clock
        self.snapshot_every = snapshot_every
        self.keep_auto = keep_auto
        self.writer_process = writer_process
        self.poll_s = poll_s
        self.lease_every_s = lease_every_s
        self.state = "new"
        self.node: Node | None = None  # not started until it takes over
        self.engine: Engine | None = None
        self.head_hash = ""  # the hash of the last row applied
        self.followed = 0  # rows applied since the start
        self.notified = 0  # NOTIFYs received
        self.problem: str | None = None
        self._taken: list[str] = []  # snapshots the replay took (saved at takeover if the leader did not)
        self._verified_from = 0
        self._stop = threading.Event()
        self._listener = None

    # ---- start ------------------------------------------------------------------------------
    def open(self) -> Standby:
        """Verify the database as a node start does and restore its newest snapshot."""
        from ..store import trust
        from ..store.store import GENESIS, Store, StoreError

        try:
            key = trust.load_key(create=False)
        except trust.ChainKeyError as e:
            raise StandbyError(str(e)) from None
        try:
            store = Store.open(self.url, create=True, key=key)
        except StoreError as e:
            raise StandbyError(f"the standby cannot open the database: {e}") from None
        try:
            node = Node(store=store, actor=self.actor, clock=self.clock, snapshot_every=self.snapshot_every,
                        keep_auto=self.keep_auto, writer_process=self.writer_process)
            snap = store.latest_snapshot(skip_corrupt=True)
            big = snap is not None and snap.seq > START_VERIFY_PREFIX_ROWS
            self._verified_from = snap.seq if big else 0
            problems = store.verify_chains(journal_from=self._verified_from, live=True)
            if problems:
                raise StandbyError(self._refusal(f"{problems[0].chain} chain: first bad record: {problems[0]}"))
            if store.anchor_path is not None and store.anchor_path.exists():  # the leader's machine
                p = anchor_problem(store)
                if p is not None:
                    raise StandbyError(self._refusal(p))
            eng = Node.base_engine(snap)
            rec = store.get_journal(eng.seq) if eng.seq else None
            self.head_hash = rec.hash if rec is not None else GENESIS
        except (StoreError, RecoveryError) as e:
            store.close()
            raise StandbyError(self._refusal(f"the database cannot be read to verify it ({e})")) from None
        except BaseException:
            store.close()
            raise
        self.node, self.engine = node, eng
        self.state = "following"
        self.catch_up()
        log.info("standby following %s at seq %d", store.where, eng.seq)
        return self

    def _refusal(self, what: str) -> str:
        self.state = "refused"
        self.problem = what
        msg = (f"standby refused: {what}. It will not follow or take over this journal: run `perpdesk "
               f"verify --db URL` for the full report and restore the database from a backup.")
        log.critical(msg)
        return msg

    # ---- follow -----------------------------------------------------------------------------
    @property
    def seq(self) -> int:
        return self.engine.seq if self.engine is not None else 0

    def catch_up(self) -> int:
        """Apply every committed row after the standby's seq (chain verified); returns how many."""
        from ..store.store import JournalChainBrokenError

        node, eng = self.node, self.engine
        assert node is not None and eng is not None
        store = node.store
        n = 0
        while True:
            try:
                recs = store.follow_journal(eng.seq, self.head_hash, FOLLOW_BATCH)
            except JournalChainBrokenError as e:
                raise StandbyError(self._refusal(f"the journal broke its hash chain: {e}")) from None
            if not recs:
                return n
            for rec in recs:
                try:
                    taken = node.replay_record(eng, rec)
                except RecoveryError as e:
                    raise StandbyError(self._refusal(str(e))) from None
                if taken:
                    self._taken.extend(taken)
                    self._prune(eng)
                self.head_hash = rec.hash
            n += len(recs)
            self.followed += len(recs)
            if len(recs) < FOLLOW_BATCH:
                return n

    def _prune(self, eng: Engine) -> None:
        """Keep only the newest ``keep_auto`` automatic snapshots in memory (as the leader's store does)."""
        autos = sorted((s.seq, k) for k, s in eng.snapshots.items() if s.trigger == "auto")
        for _seq, sid in autos[:-self.keep_auto or None] if self.keep_auto else autos:
            eng.snapshots.pop(sid, None)

    # ---- run --------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop following (from another thread); :meth:`run` returns None."""
        self._stop.set()

    def run(self, on_leader: Callable[[Node], object] | None = None) -> Node | None:
        """Follow until the lease is free, take over and return the started node (after calling
        ``on_leader(node)``), or None when :meth:`stop` was called. Raises :class:`StandbyError` when
        it refuses."""
        from ..store.store import StoreError

        if self.state == "new":
            self.open()
        next_poll = next_lease = next_listen = 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if self._listener is None and now >= next_listen:
                    try:
                        self._listener = self.node.store.journal_listener()
                        next_poll = 0.0  # rows committed before LISTEN would not be notified
                    except StoreError as e:
                        log.warning("standby: LISTEN failed (%s); polling every %.1f s", e, self.poll_s)
                        next_listen = now + 5.0
                if now >= next_poll:
                    try:
                        self.catch_up()
                    except StoreError as e:  # the server is unreachable: retry, never take over blind
                        log.warning("standby: reading the journal failed (%s); retrying", e)
                    next_poll = time.monotonic() + self.poll_s
                if time.monotonic() >= next_lease:
                    lease = self._try_lease()
                    if lease is not None:
                        return self._take_over(lease, on_leader)
                    next_lease = time.monotonic() + self.lease_every_s
                wait = max(0.0, min(next_poll, next_lease) - time.monotonic())
                if self._listener is not None:
                    try:
                        if self._listener.wait(wait) is not None:
                            self.notified += 1
                            next_poll = 0.0  # notified: read now
                    except StoreError as e:
                        log.warning("standby: the LISTEN connection was lost (%s); polling", e)
                        self._close_listener()
                else:
                    self._stop.wait(wait)
        except StandbyError:
            self.close()
            raise
        self.state = "stopped"
        self.close()
        return None

    def _try_lease(self):
        from ..store import lease as lease_mod
        from ..store.store import LeaseHeldError, StoreError

        try:
            return lease_mod.acquire(self.node.store)
        except LeaseHeldError:
            return None
        except StoreError as e:
            log.warning("standby: trying the lease failed (%s)", e)
            return None

    def _take_over(self, lease, on_leader) -> Node:
        """The lease is ours and the epoch bumped: read the journal to its end, then serve."""
        node, eng = self.node, self.engine
        assert node is not None and eng is not None
        t0 = time.monotonic()
        try:
            self.catch_up()  # after the bump: no append under the old epoch can commit any more
            head = node.store.head()
            if head != (eng.seq, self.head_hash):
                raise StandbyError(self._refusal(
                    f"after taking the lease the journal ends at seq {eng.seq} but the head record says "
                    f"{head[0]}: the database changed under the standby"))
            self._close_listener()
            node.promote(lease, eng, self._taken, self._verified_from)
        except BaseException:
            if node.lease_holder is None:  # not handed to the node: give it back
                lease.release()
            raise
        self.state = "leader"
        log.warning("standby took over %s as the sequencer: leader epoch %d, journal seq %d (%.0f ms after "
                    "the lease)", node.store.where, lease.epoch, eng.seq, (time.monotonic() - t0) * 1000)
        if on_leader is not None:
            on_leader(node)
        return node

    def _close_listener(self) -> None:
        lst, self._listener = self._listener, None
        if lst is not None:
            lst.close()

    def close(self) -> None:
        """Release what a standby that did not take over holds (a promoted node is closed by its owner)."""
        self._close_listener()
        if self.state != "leader" and self.node is not None:
            self.node.store.close()
            self.node = None

    def status(self) -> dict:
        return {"state": self.state, "seq": self.seq, "followed": self.followed, "notified": self.notified,
                "problem": self.problem}


def run_standby(url: str | None, on_leader: Callable[[Node], object] | None = None, *,
                stop: threading.Event | None = None, **kwargs) -> Node | None:
    """Run a standby on ``url`` until it takes over; call ``on_leader(node)`` with the started node
    and return it (the caller serves it and closes it). ``stop`` set: give up following, return None.
    ``kwargs``: :class:`Standby`'s. Raises :class:`StandbyError` when it refuses (not PostgreSQL,
    the database does not verify, a chain break while following)."""
    sb = Standby(url, **kwargs)
    if stop is not None:
        threading.Thread(target=lambda: (stop.wait(), sb.stop()), daemon=True,
                         name="perpdesk-standby-stop").start()
    return sb.run(on_leader)
