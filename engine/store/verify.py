"""Chain verification: the journal's and the audit log's hash chains, row by row, and their heads.

Detects an altered row (its content no longer matches its hash), an altered and re-hashed row (the
next row's ``prev_hash`` no longer matches), deleted rows (a gap in seq/id or a broken link), rows
deleted from the end (the recorded head is ahead) and a missing head record. Keyed rows (see
:mod:`engine.store.trust`) are checked with the key. The journal is read through the DBAPI cursor
itself and checked by the compiled :func:`engine.core.journalchain.verify_rows` (a node start
runs it over the journal after its snapshot).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from ..core.journalchain import verify_rows
from .base import StoreBase
from .records import GENESIS, ChainProblem, as_tuple, audit_hash, split_head
from .schema import audit_t, journal_t


class StoreVerify(StoreBase):
    """The chain checks of :class:`engine.store.store.Store`."""

    def verify_chains(self, *, journal: bool = True, audit: bool = True, journal_from: int = 0,
                      progress: Callable[[str, int], object] | None = None, live: bool = False) -> list[ChainProblem]:
        """Check the journal and audit hash chains; return the first problem of each (empty: sound).

        Detects an altered row (its content no longer matches its hash), an altered and
        re-hashed row (the next row's ``prev_hash`` no longer matches), deleted rows (a gap in
        seq/id or a broken link), rows deleted from the end (the recorded head is ahead) and a
        missing head record. Keyed rows (see :mod:`engine.store.trust`) are checked with the key: a
        row edited and re-hashed with the public function is caught where it was edited.

        ``journal_from`` (a node start: the restored snapshot's seq): the journal rows from that seq
        to the head are checked as above, row ``journal_from`` linked to the stored hash of the row
        before it; the rows before it only cheaply: seqs contiguous (row count = last - first + 1)
        and the last row = the head record (:meth:`verify_journal_prefix` checks their hashes).

        ``progress(chain, rows checked)`` (``perpdesk verify`` on a terminal) is called between
        batches of rows, never per row.

        ``live`` (a standby, while the leader appends): each chain is checked up to its head record
        as read first, which must be its last row checked; rows appended meanwhile are left out.
        """
        problems: list[ChainProblem] = []
        heads = self.meta()
        jupto = aupto = None
        if live:
            try:
                jupto = split_head(heads["journal_head"])[0]
                aupto = split_head(heads["audit_head"])[0]
            except (KeyError, ValueError):
                live = False  # a missing or damaged head record: the full checks name it
                jupto = aupto = None
        if journal:
            p = self._journal_extent_problem(heads, jupto) if journal_from > 0 else None
            if p is None:
                p = self._verify_journal(heads, journal_from, jupto, progress=progress, check_head=True)
            if p is not None:
                problems.append(p)
        if audit:
            c = audit_t.c
            stmt = select(c.id, c.ts, c.operator, c.role, c.action, c.command, c.reason, c.outcome,
                          c.prev_hash, c.hash).order_by(c.id)
            if aupto is not None:
                stmt = stmt.where(c.id <= aupto)
            p = self._verify_chain("audit", stmt, audit_hash, heads, progress)
            if p is not None:
                problems.append(p)
        return problems


    def verify_journal_prefix(self, upto_seq: int, stop: Callable[[], bool] | None = None) -> ChainProblem | None:
        """The journal chain from its first row through ``upto_seq`` (what a node start checks only
        cheaply: the node verifies it in the background after it started). ``stop()`` True: give up
        (returns None)."""
        return self._verify_journal(self.meta(), 0, upto_seq, stop)

    def _journal_extent_problem(self, heads: dict[str, str], upto: int | None = None) -> ChainProblem | None:
        """Cheap: the journal's seqs are contiguous (count = last - first + 1) and end at the head record."""
        sql = f"SELECT COUNT(*), MIN(seq), MAX(seq) FROM {journal_t.name}"
        if upto is not None:
            sql += f" WHERE seq <= {int(upto)}"
        with self.read("checking the journal's extent") as conn:
            n, lo, hi = conn.exec_driver_sql(sql).one()
        if n and n != hi - lo + 1:
            return ChainProblem("journal", None, f"seq {lo}..{hi} holds {n:,} rows, not {hi - lo + 1:,}: "
                                                 f"{hi - lo + 1 - n:,} rows were deleted")
        head = heads.get("journal_head")
        if head is None:
            return self._check_head("journal", heads, 0, GENESIS)
        try:
            head_key = split_head(head)[0]
        except ValueError:
            return ChainProblem("journal", None, f"the journal_head record is damaged ({head[:40]!r})")
        if (hi or 0) != head_key:
            return ChainProblem("journal", None, f"the journal ends at seq {hi or 0} but the store recorded its "
                                                 f"head at seq {head_key}: rows at the end were deleted, or the "
                                                 f"head record was altered")
        return None

    def _verify_journal(self, heads: dict[str, str], from_seq: int = 0, upto_seq: int | None = None,
                        stop: Callable[[], bool] | None = None,
                        progress: Callable[[str, int], object] | None = None,
                        check_head: bool = False) -> ChainProblem | None:
        keyed_from, p = self.keyed_from("journal", heads)
        if p is not None:
            return p
        key = self.key if keyed_from < (1 << 62) else None
        where = []
        if from_seq > 0:
            where.append(f"seq >= {int(from_seq)}")
        if upto_seq is not None:
            where.append(f"seq <= {int(upto_seq)}")
        sql = (f"SELECT seq, ts, type, epoch, outcome, payload, prev_hash, hash FROM {journal_t.name}"
               f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY seq")
        prev_hash, prev_key = GENESIS, -1
        checked = 0
        self.check_open()
        # the DBAPI cursor itself (plain tuples, no Row objects): a node start runs this over the
        # journal from its snapshot (bench/bench_store.py --startup); PostgreSQL streams from a named cursor
        with self.errors("verifying the journal chain"), self.engine.connect() as conn, conn.begin():
            if from_seq > 0:  # the first row checked must link to the stored hash of the row before it
                before = conn.exec_driver_sql(f"SELECT seq, hash FROM {journal_t.name} WHERE seq < {int(from_seq)} "
                                              f"ORDER BY seq DESC LIMIT 1").first()
                if before is not None:
                    prev_key, prev_hash = int(before[0]), str(before[1])
            raw = conn.connection.dbapi_connection
            cur = raw.cursor(name="perpdesk_verify") if self.backend == "postgresql" else raw.cursor()
            try:
                cur.execute(sql)
                while True:
                    part = cur.fetchmany(20_000)
                    if not part:
                        break
                    bad, problem, prev_key, prev_hash = verify_rows(part, prev_hash, prev_key, key, keyed_from)
                    if bad >= 0:
                        return ChainProblem("journal", bad, problem)
                    if progress is not None:
                        checked += len(part)
                        progress("journal", checked)
                    if stop is not None and stop():
                        return None
            finally:
                cur.close()
        if upto_seq is not None and not check_head:
            return None
        return self._check_head("journal", heads, max(prev_key, 0), prev_hash)

    def _check_head(self, chain: str, heads: dict[str, str], last: int, last_hash: str) -> ChainProblem | None:
        label = "seq" if chain == "journal" else "id"
        head = heads.get(f"{chain}_head")
        if head is None:
            return ChainProblem(chain, None, f"the {chain}_head record is missing from perpdesk_meta (deleted by "
                                             f"hand, or lost with the WAL): the journal's true end cannot be "
                                             f"trusted")
        try:
            head_key, head_hash = split_head(head)
        except ValueError:
            return ChainProblem(chain, None, f"the {chain}_head record is damaged ({head[:40]!r})")
        if head_key != last or (last and head_hash != last_hash):
            return ChainProblem(chain, None, f"the {chain} ends at {label} {last} but the store "
                                             f"recorded its head at {label} {head_key}: rows at the "
                                             f"end were deleted, or the head record was altered")
        return None

    def _verify_chain(self, chain: str, stmt, hasher, heads: dict[str, str],
                      progress: Callable[[str, int], object] | None = None) -> ChainProblem | None:
        label = "seq" if chain == "journal" else "id"
        keyed_from, p = self.keyed_from(chain, heads)
        if p is not None:
            return p
        prev_hash, prev_key = GENESIS, None
        checked = 0
        for row in self.stream(stmt, as_tuple, f"verifying the {chain} chain", 10_000):
            checked += 1
            if progress is not None and not checked & 0x1FFF:
                progress(chain, checked)
            key, fields, stored_prev, stored_hash = row[0], row[:-2], row[-2], row[-1]
            if prev_key is not None and key != prev_key + 1:
                return ChainProblem(chain, key, f"{label} {prev_key + 1}..{key - 1} missing: rows were "
                                                f"deleted between {label} {prev_key} and {key}")
            if stored_prev != prev_hash:
                before = f"{label} {prev_key}" if prev_key is not None else "the chain's start"
                return ChainProblem(chain, key, f"prev_hash does not match the hash of {before}: a row "
                                                f"before it was altered and re-hashed, removed or inserted")
            if key >= keyed_from:
                if self.key is None:
                    return ChainProblem(chain, key, "the row is keyed but no journal key is available to check it")
                if hasher(stored_prev, *fields, key=self.key) != stored_hash:
                    return ChainProblem(chain, key, "its content does not match its keyed hash (HMAC): the row "
                                                    "was altered, or re-hashed without the key")
            elif hasher(stored_prev, *fields) != stored_hash:
                return ChainProblem(chain, key, "its content does not match its hash: the row was altered")
            prev_hash, prev_key = stored_hash, key
        return self._check_head(chain, heads, prev_key or 0, prev_hash)
