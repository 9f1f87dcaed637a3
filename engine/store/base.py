"""The base of :class:`engine.store.store.Store`: the database handle and its connection helpers.

:class:`StoreBase` holds what every part of the store shares: the SQLAlchemy engine and URL, the
backend, the chain key, the leader epoch fencing journal appends, and the helpers the store's
modules (:mod:`.journal`, :mod:`.snapshots`, :mod:`.audit`, :mod:`.verify`, :mod:`.desk`) build
their methods on. The helpers are public names within the ``engine.store`` package; code outside
it uses the store's named methods (``append_journal``, ``list_snapshots``...), never these:

* :meth:`StoreBase.write` / :meth:`StoreBase.read`: one transaction on a pooled connection
  (``BEGIN IMMEDIATE`` for a writer on SQLite), every database failure translated by
  :meth:`StoreBase.errors` into a :class:`~engine.store.errors.StoreError` subclass;
* :meth:`StoreBase.stream`: rows of a query as records, in chunks (server-side cursor on PostgreSQL);
* :meth:`StoreBase.chain_key` / :meth:`StoreBase.keyed_from`: which key a chain's rows are (to be)
  hashed with, from the meta table's ``journal_key``/``audit_key`` records.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine

from . import trust
from .connect import translate
from .errors import ChainKeyMissingError, StoreError
from .records import ChainProblem, split_key
from .schema import read_meta


class StoreBase:
    """A database handle: the state and connection helpers every part of the store uses."""

    def __init__(self, engine: Engine, url: URL, busy_timeout_ms: int) -> None:
        self.engine = engine
        self.url = url
        self.backend = url.get_backend_name()
        self.busy_timeout_ms = busy_timeout_ms
        self.where = url.render_as_string(hide_password=True)
        self.pragmas: dict[str, Any] = {}
        self._closed = False
        self.key: bytes | None = None  # the chain key (engine/store/trust.py); None: an unkeyed store
        self.key_id: str | None = None
        self.anchor_path = trust.anchor_path_for(url.database, self.backend, self.where)
        self.fence: int | None = None  # the leader epoch every journal append checks (engine/store/lease.py)
        # PostgreSQL: every journal append NOTIFYs JOURNAL_CHANNEL with the new head seq, in its own
        # transaction (delivered at COMMIT): a standby (engine/node/standby.py) LISTENs for it
        self.notify: bool = self.backend == "postgresql"

    # ------------------------------------------------------------ connections
    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Translate a database failure inside the block into a StoreError subclass naming action."""
        try:
            yield
        except StoreError:
            raise
        except (sa_exc.DBAPIError, sqlite3.Error) as e:
            raise translate(e, action, self.where, self.busy_timeout_ms) from e
        except sa_exc.SQLAlchemyError as e:
            raise StoreError(f"{action} failed on {self.where}: {e}") from e

    @contextmanager
    def write(self, action: str) -> Iterator[Connection]:
        """One write transaction (BEGIN IMMEDIATE on SQLite); commits on success."""
        self.check_open()
        with self.errors(action), self.engine.connect() as conn:
            conn.execution_options(perpdesk_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self, action: str) -> Iterator[Connection]:
        """One read transaction (plain BEGIN on SQLite)."""
        self.check_open()
        with self.errors(action), self.engine.connect() as conn, conn.begin():
            yield conn

    def check_open(self) -> None:
        """Refuse (StoreError) a call on a closed store."""
        if self._closed:
            raise StoreError("the store is closed")

    def stream(self, stmt, record, action: str, batch_size: int) -> Iterator:
        """Stream the rows of ``stmt`` as ``record(*row)``, ``batch_size`` rows a fetch; the connection
        is held until the iterator is exhausted or closed."""
        self.check_open()
        with self.errors(action), self.engine.connect() as conn:
            conn.execution_options(stream_results=True, yield_per=batch_size)
            with conn.begin():
                result = conn.execute(stmt)
                for part in result.partitions():
                    for row in part:
                        yield record(*row)

    def close(self) -> None:
        """Release every connection. The store refuses further calls."""
        if not self._closed:
            self._closed = True
            self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.where!r})"

    # ---------------------------------------------------------------- meta and keys
    def meta(self) -> dict[str, str]:
        """The meta table as a dict (application_id, schema_version, heads, epoch, ...)."""
        with self.read("reading the database's metadata") as conn:
            return read_meta(conn)

    def chain_key(self, chain: str, keyed: tuple[str, int] | None) -> bytes | None:
        """The key to hash new ``chain`` rows with; refuses a keyed chain this store cannot key."""
        if keyed is None:
            return self.key
        if self.key is None:
            raise ChainKeyMissingError(
                f"the {chain} chain of {self.where} is keyed (key id {keyed[0]}) but no journal key is "
                f"available: set {trust.ENV_KEY} or restore {trust.key_file()}. Nothing was written.")
        if keyed[0] != self.key_id:
            raise ChainKeyMissingError(
                f"the {chain} chain of {self.where} is keyed with key id {keyed[0]}, not this key "
                f"({self.key_id}): use the key this database was written with ({trust.ENV_KEY} or "
                f"{trust.key_file()}). Nothing was written.")
        return self.key

    def keyed_from(self, chain: str, heads: dict[str, str]) -> tuple[int, ChainProblem | None]:
        """(first keyed seq/id, or a huge number when unkeyed; a problem with the key record)."""
        try:
            keyed = split_key(heads.get(f"{chain}_key"))
        except ValueError:
            return 1, ChainProblem(chain, None, f"the {chain}_key record is damaged: restore the database")
        if keyed is None:
            return 1 << 62, None
        if self.key is not None and keyed[0] != self.key_id:
            return keyed[1], ChainProblem(chain, None, f"the chain is keyed with key id {keyed[0]}, not the key "
                                                       f"given ({self.key_id}): use the key it was written with")
        return keyed[1], None
