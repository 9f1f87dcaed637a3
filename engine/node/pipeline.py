"""The write pipeline: batches applied by the sequencer, journaled by a writer thread.

With a durable persistence and the threads started, the writer thread journals batch N while the
sequencer applies batch N+1 (see "the sequencer" in engine/node/sequencer.py); once batches grow
(a burst), it hands them to the journal writer process (engine/node/journalwriter.py) that runs
the store's own append on its own connection, so the encoding, hashing and SQLite work leave this
process's GIL; the writer thread still acknowledges only after that process reports the COMMIT.
Also here: what is stored after a batch is durable (snapshots, maintenance windows), the writer
watchdog, and what happens when a write or an applied batch fails (the engine is put back to
what the journal holds, or the node fail-stops). A part of :class:`engine.node.node.Node`.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation

from ..core.engine import Engine
from .errors import NodeError, RecoveryError, is_fenced, is_store_error
from .sequencer import Job

WRITER_PROCESS_ROWS = 1024  # the first batch this big starts the journal writer process (see _append_job);
# a node whose batches stay small (a console, tests) never needs one


class WritePipeline:
    """The write pipeline's methods of :class:`~engine.node.node.Node`."""

    def _persist(self, job: Job) -> None:
        """After ``job``'s rows are durable: store its snapshots and maintenance windows."""
        if job.new_snaps:
            try:
                for s in job.new_snaps:
                    self.persistence.save_snapshot(s)
                if any(s.trigger == "auto" for s in job.new_snaps):
                    pruned = self.persistence.prune_auto_snapshots(self.keep_auto)
                    with self._lock:
                        for sid in pruned:
                            self.engine.snapshots.pop(sid, None)
            except Exception as e:  # the journal holds the command: recovery re-creates the snapshot
                if not is_store_error(e):
                    raise
                self._alert("error", f"snapshot not saved: {e}")
        if job.windows:
            self._store_windows(job.windows)

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
                if is_fenced(err):
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

    def _append_job(self, job: Job):
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
                if self.persistence.last_seq() >= job.last_seq:  # it committed the batch before it went
                    return None
            except (TypeError, ValueError):  # a row it cannot carry: the store reports it below
                pass
        return self.persistence.append_journal(job.rows, job.marks)

    def _writer_stalled(self, wp, job: Job, err: Exception):
        """The writer watchdog: the journal writer process did not acknowledge ``job`` within
        ``writer_timeout_s`` (SIGSTOPped, hung on I/O). Kill and reap it first, so it can never
        commit the batch late; then the store says whether it committed it before it stopped
        (acknowledged as durable) or not (journaled here, in-process, from now on). The callers of
        the batch get its results either way, or ``not_durable`` if that append fails too."""
        self._wproc = None  # (and _wproc_allowed stays False: in-process for the node's life)
        wp.kill()
        head = self.persistence.journal_head(lock=True)  # waits for a dying transaction to end
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
            result = self.persistence.append_journal(job.rows, job.marks)
        return result

    def _spawn_writer_process(self):
        """Start the journal writer process (writer thread only; one try per writer thread)."""
        from .journalwriter import WriterProcess

        self._wproc_allowed = False
        config = self.persistence.writer_config()
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
            elif self._writer is None or not (self.writer_process and self.persistence.writer_config()):
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
            if self.durable:
                self.recover()
            else:  # in memory there is nothing to recover from but the in-memory journal
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
        code = "fenced" if is_fenced(err) else "not_durable"
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
        try:
            for w in windows:
                detail = {k: w[k] for k in ("announce_ts", "work_ts", "post_only_ts", "end_ts", "failing",
                                            "phase_ts") if k in w}
                self.persistence.save_maintenance({**w, "detail": detail})
        except Exception as e:  # the journal holds the truth; the table is a mirror
            if not is_store_error(e):
                raise
            self._alert("error", f"maintenance window not saved: {e}")

    def _fail_batch(self, batch: list, err: Exception, base_seq: int) -> None:
        self._alert("critical", f"journal write failed at seq {base_seq + 1}: {err}")
        try:
            self.recover()
        except Exception as e:  # the store is unusable: keep refusing, never pretend
            self._failed = f"recovery after a failed write failed: {e}"
            self._alert("critical", f"recovery after a failed write failed too: {e}; the node stays stopped")
        self._fail_futures(batch, err)


def writer_timeout() -> float:
    """PERPDESK_WRITER_TIMEOUT_S (default 5): how long the journal writer process may take to
    acknowledge one batch before the node stops it and journals in-process. Read as a decimal and
    kept in whole milliseconds (1 ms to a day); a bad value means the default."""
    try:
        ms = int(Decimal(os.environ.get("PERPDESK_WRITER_TIMEOUT_S", "") or "5") * 1000)
    except (InvalidOperation, ValueError, OverflowError):  # garbage, NaN, Infinity
        ms = 5000
    return (ms if 0 < ms <= 86_400_000 else 5000) / 1000  # up to a day
