"""Connections to the PostgreSQL store, and the one-line errors a user can act on.

Every connection runs with pgvector's HNSW search settings (``hnsw.ef_search`` 100, iterative scans in strict
order, so a filtered or deep search still returns as many rows as asked, in distance order) and a 10 s connect
timeout. Settings in the URL's own ``options`` come after ours, so they win: a store of millions of chunks
searches wider with ``?options=-c%20hnsw.ef_search%3D400`` (index/SCALING.md measures what that buys).
A server that cannot be reached, or lacks pgvector, is ``StoreError``: one line with what to do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, LiteralString, Protocol, TypeVar, cast

from ..errors import StoreError
from . import redact

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")
SEARCH_OPTIONS = "-c hnsw.ef_search=100 -c hnsw.iterative_scan=strict_order"


def sql(text: str) -> LiteralString:
    """A statement assembled from this package's own constants (table and column names, never user input),
    as psycopg's types want it."""
    return cast(LiteralString, text)


def _psycopg():
    try:
        import psycopg
    except ImportError:
        raise StoreError("a postgresql:// store needs psycopg: pip install 'rag-assistant[postgres]'") from None
    return psycopg


def search_options(url: str) -> str:
    """The ``options`` a connection to ``url`` runs with: ours, then the URL's own (a later ``-c`` wins).

    >>> search_options("postgresql://u@db/rag?options=-c%20hnsw.ef_search%3D400")
    '-c hnsw.ef_search=100 -c hnsw.iterative_scan=strict_order -c hnsw.ef_search=400'
    """
    from psycopg.conninfo import conninfo_to_dict

    own = str(conninfo_to_dict(url).get("options") or "").strip()
    return f"{SEARCH_OPTIONS} {own}" if own else SEARCH_OPTIONS


def connect(url: str, autocommit: bool = True) -> psycopg.Connection:
    """A connection to ``url`` with the search settings, or ``StoreError`` naming the server and the fix."""
    psycopg = _psycopg()
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=10, options=search_options(url))
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise StoreError(f"cannot reach the PostgreSQL store {redact(url)} ({reason[:200]}): start the server or "
                         "fix the URL given to --store or $RAG_STORE") from None
    except psycopg.ProgrammingError as exc:  # a malformed URL
        raise StoreError(f"{redact(url)} is not a usable PostgreSQL URL ({exc}); the form is "
                         "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE") from None


def failure(url: str, exc: Exception) -> StoreError:
    """A database error met while using the store, as one line (the previous state is unchanged)."""
    reason = " ".join(str(exc).split())[:300] or type(exc).__name__
    return StoreError(f"the PostgreSQL store {redact(url)} failed ({reason}); nothing half-written is visible: "
                      "check the server and try again")


class Rows(Protocol):
    """What the readers need: the rows of one statement."""

    def rows(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]: ...


class Connection:
    """One shared autocommit connection, reopened once when the server dropped it (a restart, a failover).

    psycopg serialises the statements of one connection, so threads may share it.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._con: psycopg.Connection | None = None
        self._lock = threading.Lock()

    def _get(self) -> psycopg.Connection:
        with self._lock:
            if self._con is None or self._con.closed or self._con.broken:
                self._con = connect(self.url)
            return self._con

    def run(self, work: Callable[[psycopg.Connection], T]) -> T:
        """``work(connection)``; retried once on a new connection when the old one was lost."""
        psycopg = _psycopg()
        for attempt in (0, 1):
            con = self._get()
            try:
                return work(con)
            except psycopg.OperationalError as exc:
                if attempt or not con.broken:
                    raise failure(self.url, exc) from None
            except psycopg.Error as exc:
                raise failure(self.url, exc) from None
        raise AssertionError("unreachable")

    def rows(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        """All rows of one statement."""
        return self.run(lambda con: con.execute(sql(statement), params).fetchall())

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None


class Pool:
    """Idle connections to one store, lent to one reader at a time (``ReadView``); at most ``keep`` stay idle."""

    def __init__(self, url: str, keep: int = 4) -> None:
        self.url = url
        self.keep = keep
        self._idle: list[psycopg.Connection] = []
        self._lock = threading.Lock()

    def lend(self) -> psycopg.Connection:
        with self._lock:
            while self._idle:
                con = self._idle.pop()
                if not (con.closed or con.broken):
                    return con
        return connect(self.url)

    def give_back(self, con: psycopg.Connection) -> None:
        with self._lock:
            if len(self._idle) < self.keep and not (con.closed or con.broken):
                self._idle.append(con)
                return
        con.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for con in idle:
            con.close()


class ReadView:
    """One reader's statements in one ``REPEATABLE READ READ ONLY`` transaction, begun by its first statement: every
    statement of a search sees the same committed documents, whatever writers commit meanwhile. ``release()``
    ends it and gives the connection back (a ``PgSnapshot`` does that when it is dropped)."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._con: psycopg.Connection | None = None
        self._lock = threading.Lock()

    def rows(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        """All rows of one statement, in this view's transaction (a lost connection is replaced once)."""
        psycopg = _psycopg()
        with self._lock:
            for attempt in (0, 1):
                if self._con is None:
                    self._con = self._pool.lend()
                    try:
                        self._con.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    except psycopg.Error as exc:
                        self._con = None
                        raise failure(self._pool.url, exc) from None
                try:
                    return self._con.execute(sql(statement), params).fetchall()
                except psycopg.OperationalError as exc:
                    broken, self._con = self._con.broken, None
                    if attempt or not broken:
                        raise failure(self._pool.url, exc) from None
                except psycopg.Error as exc:
                    self._con.execute("ROLLBACK")  # the transaction is aborted: start afresh next time
                    self._pool.give_back(self._con)
                    self._con = None
                    raise failure(self._pool.url, exc) from None
        raise AssertionError("unreachable")

    def release(self) -> None:
        """End the transaction (read only: nothing to commit) and give the connection back."""
        with self._lock:
            con, self._con = self._con, None
        if con is not None:
            try:
                con.execute("ROLLBACK")
            except Exception:  # a connection that cannot even roll back is not given back
                con.close()
                return
            self._pool.give_back(con)
