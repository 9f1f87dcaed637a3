"""The journal: appending commands to the hash chain, reading and following it, epochs and rollbacks.

The journal
    One row per command the sequencer accepted (including rejected ones):
    ``seq`` (1, 2, 3, ... without gaps), ``ts``, ``type``, ``payload`` (the
    command as canonical JSON: orjson with sorted keys, no whitespace),
    ``epoch``, ``outcome`` (``"ok"`` or ``"rejected:<code>"``), ``prev_hash``,
    ``hash`` and ``rolled_back_epoch``.

    Hash chain: ``hash = sha256(prev_hash + "|" + orjson.dumps([seq, ts, type,
    epoch, outcome, payload]))`` as lowercase hex, with ``prev_hash`` of the
    first row = 64 zeros (:data:`~engine.store.records.GENESIS`); HMAC-SHA256 with the chain
    key from the first row a keyed store appends (:mod:`engine.store.trust`). The store also
    records the chain's head (last seq and hash) in its meta table in the same transaction as
    each append, so rows deleted from the end are detected too.

    :meth:`StoreJournal.append_journal` writes a whole batch in one transaction with
    one batched ``INSERT`` (group commit): either every row of
    the batch is durable when it returns, or it raises and none is. It is the node's hot path:
    the rows are chained by the compiled :func:`engine.core.journalchain.chain_rows` and written
    with driver-level SQL (:meth:`StoreJournal._hot_sql`), three statements a batch.

Epochs and rollback
    ``epoch`` is the epoch current when the row was written (starts at 1; part
    of the hashed content, never changed). A rollback starts a new epoch:
    :meth:`StoreJournal.mark_rolled_back` (or the ``rollbacks`` argument of
    :meth:`StoreJournal.append_journal`, which does it in the same transaction as the
    batch holding the ``rollback`` command) sets ``rolled_back_epoch`` on the
    discarded rows (``after_seq < seq <= upto_seq``; the first rollback that
    discarded a row wins) and records the rollback in the ``epochs`` table.
    Rows are never deleted. ``rolled_back_epoch`` is an annotation for
    forensics and the console, outside the hash: **recovery replays every
    journal row in seq order** after the newest snapshot, because the engine
    replays the journaled ``rollback`` commands deterministically.

Following (a standby)
    :meth:`StoreJournal.follow_journal` reads committed rows after a verified head, checking
    their chain as it reads; on PostgreSQL every append NOTIFYs :data:`JOURNAL_CHANNEL` with the new
    head seq, which a :class:`JournalListener` waits for.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from ..core.journalchain import ChainError, chain_rows, verify_rows
from .base import StoreBase
from .connect import translate
from .errors import (
    FencedError,
    JournalChainBrokenError,
    JournalConflictError,
    StoreCorruptError,
    StoreError,
)
from .records import (
    ChainProblem,
    EpochRecord,
    JournalEntry,
    JournalRecord,
    RollbackMark,
    now_ms,
    split_head,
    split_key,
)
from .schema import epochs_t, journal_t, meta_t, read_meta, write_meta

#: the PostgreSQL channel every journal append NOTIFYs (payload: the new head seq); see Store.notify
JOURNAL_CHANNEL = "perpdesk_journal"

#: the journal columns an append writes, in the order of :func:`chain_journal`'s tuples
JOURNAL_INSERT_COLUMNS = ("seq", "ts", "type", "payload", "epoch", "outcome", "prev_hash", "hash")


def chain_journal(rows: Iterable[JournalEntry | Mapping], head_seq: int, head_hash: str,
                  epoch_now: int, key: bytes | None = None) -> list[tuple]:
    """Validate, encode and hash-chain ``rows``; return INSERT parameter tuples.

    The hot path of the journal: one tight loop (compiled: engine/core/journalchain.py), no
    per-row objects beyond the tuple.
    """
    try:
        return chain_rows(rows, head_seq, head_hash, epoch_now, key)
    except ChainError as e:
        raise (JournalConflictError if e.conflict else StoreError)(e.message) from None


class StoreJournal(StoreBase):
    """The journal's methods of :class:`engine.store.store.Store`."""

    def current_epoch(self) -> int:
        """The epoch new journal rows belong to (1 until the first rollback)."""
        return int(self.meta()["epoch"])

    def append_journal(self, rows: Sequence[JournalEntry | Mapping],
                       rollbacks: Sequence[RollbackMark] = ()) -> tuple[int, str]:
        """Durably append ``rows`` (in seq order) in ONE transaction; return the new (seq, hash) head.

        Each row is a :class:`JournalEntry` or a mapping with the same keys. ``seq`` must
        continue the journal without gaps (``last_seq() + 1``, ``+2``, ...; an empty journal may
        start at any seq >= 1, e.g. after a snapshot import). ``payload`` is the command as a
        dict (encoded as canonical JSON here) or already-canonical JSON text. ``epoch``
        defaults to :meth:`current_epoch`; give it per row when a batch spans a rollback.

        ``rollbacks`` are applied in the same transaction after the rows (see
        :meth:`mark_rolled_back`), so a ``rollback`` command and its marking are atomic.

        On any failure (bad row, seq conflict, locked, disk full) it raises and writes nothing.
        With SQLite the rows are on disk (``synchronous=FULL``) when this returns.
        """
        if not rows and not rollbacks:
            return self.head()
        with self.write("appending to the journal") as conn:
            sql = self._hot_sql()
            meta = dict(conn.exec_driver_sql(sql["read_head"]).all())
            try:
                head_seq, head_hash = split_head(meta["journal_head"])
                epoch_now = int(meta["epoch"])
                keyed = split_key(meta.get("journal_key"))
                fenced = self.fence is not None and meta.get("leader_epoch") != str(self.fence)
            except (KeyError, ValueError):
                raise StoreCorruptError(
                    "the database's perpdesk_meta table lacks a valid journal_head or epoch: it was "
                    "damaged or edited by hand; restore it from a backup") from None
            if fenced:
                raise FencedError(
                    f"journal append refused (fenced): this node's leader epoch is {self.fence} but "
                    f"{self.where} is at leader epoch {meta.get('leader_epoch')}: another node took the "
                    f"sequencer lease. Nothing was written; this node must stop (restart it to follow "
                    f"the database as it is now).")
            key = self.chain_key("journal", keyed)
            if keyed is None and key is not None and rows:  # from the first row this store appends: keyed
                first = rows[0]
                seq0 = first[0] if isinstance(first, tuple) else first.get("seq")
                if type(seq0) is int:
                    conn.execute(meta_t.insert(), [{"key": "journal_key", "value": f"{self.key_id} {seq0}"}])
                else:
                    key = None  # a malformed row: _chain_journal refuses it below
            params = chain_journal(rows, head_seq, head_hash, epoch_now, key)
            if params:
                try:
                    conn.exec_driver_sql(sql["insert"], params)
                except sa_exc.IntegrityError as e:
                    raise JournalConflictError(
                        f"journal append refused: seq {params[0][0]}..{params[-1][0]} collides "
                        f"with rows already in the journal (another writer?). Nothing was written.") from e
                head = (params[-1][0], params[-1][-1])
                if self.notify and self.backend == "postgresql":  # the same statement: no extra round trip (delivered at COMMIT)
                    conn.exec_driver_sql(sql["write_head_notify"], (f"{head[0]} {head[1]}", str(head[0])))
                else:
                    conn.exec_driver_sql(sql["write_head"], (f"{head[0]} {head[1]}",))
            else:
                head = (head_seq, head_hash)
            for mark in rollbacks:
                epoch_now = self._mark(conn, mark, epoch_now)
        return head

    def _hot_sql(self) -> dict[str, str]:
        """The journal hot path's SQL in the driver's own placeholder style.

        Executed with ``Connection.exec_driver_sql`` (still SQLAlchemy Core) and tuples, so a
        batch costs one ``executemany`` without SQLAlchemy's per-row parameter processing and
        statement compilation, which on a small machine cost more than SQLite's insert itself
        (see bench/bench_store.py).
        """
        sql = getattr(self, "_hot", None)
        if sql is None:
            style = self.engine.dialect.paramstyle
            mark = "?" if style == "qmark" else "%s" if style in ("format", "pyformat") else None
            if mark is None:  # pragma: no cover - sqlite3 and psycopg are qmark / pyformat
                raise StoreError(f"unsupported DBAPI paramstyle {style!r}")
            cols = JOURNAL_INSERT_COLUMNS
            lock = " FOR UPDATE" if self.backend == "postgresql" else ""
            sql = {
                "insert": f"INSERT INTO {journal_t.name} ({', '.join(cols)}) "
                          f"VALUES ({', '.join([mark] * len(cols))})",
                "read_head": f"SELECT key, value FROM {meta_t.name} "
                             f"WHERE key IN ('journal_head', 'epoch', 'journal_key', 'leader_epoch'){lock}",
                "write_head": f"UPDATE {meta_t.name} SET value = {mark} WHERE key = 'journal_head'",
                "write_head_notify": f"UPDATE {meta_t.name} SET value = {mark} WHERE key = 'journal_head' "
                                     f"RETURNING pg_notify('{JOURNAL_CHANNEL}', {mark})",
            }
            self._hot = sql
        return sql

    def head(self) -> tuple[int, str]:
        """(last seq, its hash) of the journal; (0, GENESIS) when empty."""
        with self.read("reading the journal head") as conn:
            return split_head(read_meta(conn, ("journal_head",))["journal_head"])

    def journal_head(self, lock: bool = False) -> tuple[int, str]:
        """(last seq, its hash); ``lock``: read in a write transaction (row lock on PostgreSQL, the
        write lock on SQLite), so a writer's transaction still in progress has ended first."""
        if not lock:
            return self.head()
        with self.write("reading the journal head") as conn:
            return split_head(read_meta(conn, ("journal_head",), lock=True)["journal_head"])

    def last_seq(self) -> int:
        """The last journaled seq (0 when the journal is empty)."""
        return self.head()[0]

    def count_journal(self) -> int:
        with self.read("counting the journal") as conn:
            return conn.execute(select(func.count()).select_from(journal_t)).scalar_one()

    def iter_journal(self, after_seq: int = 0, epoch: int | None = None, *, upto_seq: int | None = None,
                     live_only: bool = False, batch_size: int = 10_000) -> Iterator[JournalRecord]:
        """Stream journal rows with ``seq > after_seq`` in seq order (constant memory).

        ``epoch``: only rows written in that epoch. ``upto_seq``: stop after that seq.
        ``live_only``: skip rows a rollback discarded (for display; recovery replays all rows).
        Uses server-side cursors on PostgreSQL and chunked fetches on SQLite
        (``yield_per=batch_size``). The connection is held until the iterator is exhausted
        or closed.
        """
        c = journal_t.c
        stmt = select(c.seq, c.ts, c.type, c.payload, c.epoch, c.outcome, c.rolled_back_epoch,
                      c.prev_hash, c.hash).where(c.seq > after_seq).order_by(c.seq)
        if epoch is not None:
            stmt = stmt.where(c.epoch == epoch)
        if upto_seq is not None:
            stmt = stmt.where(c.seq <= upto_seq)
        if live_only:
            stmt = stmt.where(c.rolled_back_epoch.is_(None))
        yield from self.stream(stmt, JournalRecord, "reading the journal", batch_size)

    def follow_journal(self, after_seq: int, after_hash: str, limit: int = 10_000) -> list[JournalRecord]:
        """Up to ``limit`` committed journal rows after ``after_seq``, their chain verified as they are
        read (a standby, engine/node/standby.py): the first row must be ``after_seq + 1`` and link to
        ``after_hash`` (the hash of row ``after_seq``, :data:`GENESIS` for 0), each row's hash must
        match its content (keyed rows with the key) and the next row must link to it. Raises
        :class:`JournalChainBrokenError` naming the first bad row; never returns a row past it."""
        keyed_from, p = self.keyed_from("journal", self.meta())
        if p is not None:
            raise JournalChainBrokenError(str(p))
        key = self.key if keyed_from < (1 << 62) else None
        c = journal_t.c
        stmt = (select(c.seq, c.ts, c.type, c.epoch, c.outcome, c.payload, c.prev_hash, c.hash)
                .where(c.seq > after_seq).order_by(c.seq).limit(int(limit)))
        with self.read("following the journal") as conn:
            rows = [tuple(r) for r in conn.execute(stmt).all()]
        if not rows:
            return []
        bad, problem, _last, _h = verify_rows(rows, after_hash, after_seq if after_seq > 0 else -1, key, keyed_from)
        if bad >= 0:
            raise JournalChainBrokenError(f"{ChainProblem('journal', bad, problem)}")
        return [JournalRecord(r[0], r[1], r[2], r[5], r[3], r[4], None, r[6], r[7]) for r in rows]

    def journal_listener(self) -> JournalListener:
        """A connection of its own that LISTENs for the journal's NOTIFYs (PostgreSQL only)."""
        return JournalListener(self)

    def get_journal(self, seq: int) -> JournalRecord | None:
        c = journal_t.c
        with self.read("reading the journal") as conn:
            row = conn.execute(select(c.seq, c.ts, c.type, c.payload, c.epoch, c.outcome,
                                      c.rolled_back_epoch, c.prev_hash, c.hash).where(c.seq == seq)).first()
        return JournalRecord(*row) if row is not None else None

    def mark_rolled_back(self, after_seq: int, upto_seq: int, new_epoch: int, *,
                         snapshot_id: str | None = None, rollback_seq: int | None = None) -> int:
        """Record a rollback: rows ``after_seq < seq <= upto_seq`` are discarded; ``new_epoch`` starts.

        Sets ``rolled_back_epoch = new_epoch`` on those rows that no earlier rollback already
        marked (rows are kept, their hashed content unchanged), adds an ``epochs`` row, and
        makes ``new_epoch`` the current epoch. ``new_epoch`` must be greater than the current
        epoch. Returns the number of rows newly marked. Prefer passing a
        :class:`RollbackMark` to :meth:`append_journal` so the ``rollback`` command row and
        its marking commit together.
        """
        mark = RollbackMark(after_seq, upto_seq, new_epoch, snapshot_id, rollback_seq)
        with self.write("marking rolled-back journal rows") as conn:
            epoch_now = int(read_meta(conn, ("epoch",), lock=True)["epoch"])
            before = conn.execute(select(func.count()).select_from(journal_t).where(
                journal_t.c.rolled_back_epoch == new_epoch)).scalar_one()
            self._mark(conn, mark, epoch_now)
            after = conn.execute(select(func.count()).select_from(journal_t).where(
                journal_t.c.rolled_back_epoch == new_epoch)).scalar_one()
        return after - before

    @staticmethod
    def _mark(conn: Connection, mark: RollbackMark, epoch_now: int) -> int:
        after_seq, upto_seq, new_epoch, snapshot_id, rollback_seq = mark
        if new_epoch <= epoch_now:
            raise JournalConflictError(
                f"rollback marking refused: new epoch {new_epoch} is not after the current epoch "
                f"{epoch_now}. Nothing was written.")
        if not (0 <= after_seq <= upto_seq):
            raise StoreError(f"rollback marking refused: bad range after_seq={after_seq}, upto_seq={upto_seq}")
        c = journal_t.c
        conn.execute(update(journal_t).where(c.seq > after_seq, c.seq <= upto_seq,
                                              c.rolled_back_epoch.is_(None))
                     .values(rolled_back_epoch=new_epoch))
        conn.execute(epochs_t.insert().values(epoch=new_epoch, after_seq=after_seq, upto_seq=upto_seq,
                                              rollback_seq=rollback_seq, snapshot_id=snapshot_id,
                                              created_at=now_ms()))
        write_meta(conn, "epoch", str(new_epoch))
        return new_epoch

    def list_epochs(self) -> list[EpochRecord]:
        """Every rollback recorded, oldest first (epoch 1 has no row: it is the beginning)."""
        c = epochs_t.c
        with self.read("reading the epochs") as conn:
            rows = conn.execute(select(c.epoch, c.after_seq, c.upto_seq, c.rollback_seq, c.snapshot_id,
                                       c.created_at).order_by(c.epoch)).all()
        return [EpochRecord(*r) for r in rows]


class JournalListener:
    """LISTEN on :data:`JOURNAL_CHANNEL` over a dedicated autocommit psycopg connection (a standby).

    :meth:`wait` returns the highest head seq notified within ``timeout`` seconds (None: none came).
    A lost connection raises :class:`StoreUnavailableError` (the standby keeps polling and listens
    again later): a missed NOTIFY costs at most one poll interval, never a row."""

    def __init__(self, store: StoreBase) -> None:
        if store.backend != "postgresql":
            raise StoreError(f"{store.where} is not PostgreSQL: there is no NOTIFY to listen for")
        self.where = store.where
        try:
            import psycopg

            conninfo = store.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._conn = psycopg.connect(conninfo, autocommit=True)
            self._conn.execute(f"LISTEN {JOURNAL_CHANNEL}")
        except Exception as e:
            raise translate(e, "listening for the journal", self.where, store.busy_timeout_ms) from None

    def wait(self, timeout: float) -> int | None:
        best: int | None = None
        try:
            for n in self._conn.notifies(timeout=timeout, stop_after=1):
                try:
                    seq = int(n.payload)
                except ValueError:
                    continue
                best = seq if best is None else max(best, seq)
        except Exception as e:
            raise translate(e, "listening for the journal", self.where, 0) from None
        return best

    def close(self) -> None:
        try:
            self._conn.close()
        except Exception:
            pass
