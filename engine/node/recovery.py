"""Recovery and trust: opening a durable node, verifying what it would trust, replaying the
journal, the anchor (the acknowledged head, outside the database), the lease and fencing token (one
sequencer), a standby's promotion, and the background verification of the journal before the
restored snapshot. A part of :class:`engine.node.node.Node`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..core import snapshot as snapshot_mod
from ..core.engine import Engine
from .errors import NodeError, RecoveryError, TrustError
from .persistence import Persistence
from .roles import Actor
from .sequencer import outcome_of, wall_clock_ms

if TYPE_CHECKING:
    from .node import Node

DEFAULT_SNAPSHOT_EVERY = 100_000
START_VERIFY_PREFIX_ROWS = 100_000  # a start verifies the journal before its snapshot fully up to this many
# rows; beyond, cheaply (contiguous seqs, count = head) and the hashes in the background once it runs
DEFAULT_KEEP_AUTO = 3


def anchor_problem(store: Persistence) -> str | None:
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


class Recovery:
    """Recovery, trust, lease and promotion methods of :class:`~engine.node.node.Node`."""

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
            lease = take_lease(store)  # LeaseHeldError (a StoreError) names the node that holds it
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

        store = self.persistence
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

        store = self.persistence
        if store.key is None or store.anchor_path is None:  # (in memory: neither)
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
        if not self.durable:  # in memory there is nothing to recover from (the engine is all there is)
            return {"snapshot_id": None, "replayed": 0}
        from ..store.store import StoreError

        store = self.persistence
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
        outcome = outcome_of(evs)
        if outcome != rec.outcome:
            raise RecoveryError(f"journal seq {rec.seq} ({rec.type}) replays as {outcome!r} but was journaled "
                                f"as {rec.outcome!r}: the journal was edited or the engine changed behaviour")
        return [ev["snapshot_id"] for ev in evs if ev["type"] == "snapshot_taken"]

    def _save_replayed_snapshot(self, eng: Engine, snapshot_id: str) -> None:
        from ..store.store import StoreError

        try:  # taken but not saved before a crash (best effort: the journal holds the command)
            self.persistence.save_snapshot(eng.snapshots[snapshot_id])
        except StoreError as e:  # e.g. a full disk: recovery itself must not fail for it
            self._alert("error", f"snapshot {snapshot_id} not saved during recovery: {e}")

    def _preload_snapshot(self, eng: Engine, snapshot_id) -> None:
        """Make a stored snapshot available to a ``rollback`` command (the engine itself does no I/O)."""
        # in memory the engine's own snapshots are the library (nothing to load, nothing pruned elsewhere)
        if not self.durable or not isinstance(snapshot_id, str):
            return
        from ..store.store import StoreError

        # the store is the library of record: a snapshot pruned from it is gone, even if a replayed
        # take_snapshot re-created it in memory (so a replay decides exactly as the original did)
        try:
            eng.snapshots[snapshot_id] = self.persistence.load_snapshot(snapshot_id)
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
        self.persistence.close()

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
        if not self.durable or self._thread is not None:
            raise NodeError("not_standby", "only a stopped node on a store can be promoted")
        with self._lock:
            self.engine = engine
            self.epoch = self.persistence.current_epoch()
            self._last_snap_seq = max((s.seq for s in engine.snapshots.values()), default=0)
        self._lease = lease
        stored = {i.snapshot_id for i in self.persistence.list_snapshots()}
        saved = [sid for sid in taken if sid not in stored and sid in engine.snapshots]
        for sid in saved:
            self._save_replayed_snapshot(engine, sid)
        if saved:
            from ..store.store import StoreError

            try:
                for sid in self.persistence.prune_auto_snapshots(self.keep_auto):
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
        if upto <= 0:  # (always in memory: nothing before a restored snapshot)
            return
        self._bg_verify = {"status": "running", "upto_seq": upto}
        self._bg_thread = threading.Thread(target=self._verify_prefix, args=(upto,), daemon=True,
                                           name="perpdesk-verify-prefix")
        self._bg_thread.start()

    def _verify_prefix(self, upto: int) -> None:
        try:
            p = self.persistence.verify_journal_prefix(upto, stop=self._bg_stop.is_set)
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


def take_lease(store):
    from ..store import lease

    return lease.acquire(store)
