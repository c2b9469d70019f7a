"""An asyncio SQLAlchemy dialect over the libSQL Python driver (`libsql_experimental`).

sqlalchemy-libsql 0.2.0's `sqlite+aiolibsql` is a synchronous driver marked async and fails
under SQLAlchemy 2.1 (`AwaitRequired`). This adapter follows SQLAlchemy's `AsyncAdapt_*` shape. How
driver calls are made (see `AsyncLibSQLConnection`): for local files directly on the
event-loop thread (the driver holds the GIL for the whole of every call, so a worker thread
gains no concurrency and costs two thread switches per statement); for remote servers and
embedded replicas through one worker thread per connection, awaited via SQLAlchemy's `await_`.

Registered as `sqlite+ironstore_libsql` (entry point and `registry.register`); `connect()` also
maps `sqlite+libsql://` URLs to it.

What the adapter adds over the raw driver:
- transactions are explicit: the driver runs in autocommit mode and the adapter issues
  `BEGIN` / `BEGIN IMMEDIATE` lazily, in the same call as the first statement; isolation
  level `AUTOCOMMIT` sends no BEGIN / COMMIT at all (ironstore's single-statement methods);
- the driver raises `ValueError` for everything; errors are mapped to a DBAPI hierarchy by message;
- integers beyond ±2**53 pass through the driver as doubles and lose precision, so they are
  bound as decimal text (INTEGER affinity converts them back losslessly);
- every connection gets WAL, synchronous=NORMAL, foreign_keys=ON and a busy timeout.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

import libsql_experimental as libsql  # type: ignore[import-untyped]
from sqlalchemy import pool
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import AdaptedConnection
from sqlalchemy.engine.url import URL
from sqlalchemy.util.concurrency import await_

_T = TypeVar("_T")

SAFE_INT = 2**53
DEFAULT_BUSY_TIMEOUT_MS = 5000


# ----------------------------------------------------------------------------- DBAPI errors


class Error(Exception):
    pass


class Warning(Exception):
    pass


class InterfaceError(Error):
    pass


class DatabaseError(Error):
    pass


class DataError(DatabaseError):
    pass


class OperationalError(DatabaseError):
    pass


class IntegrityError(DatabaseError):
    pass


class InternalError(DatabaseError):
    pass


class ProgrammingError(DatabaseError):
    pass


class NotSupportedError(DatabaseError):
    pass


def _translate(exc: Exception) -> Error:
    """Map the driver's ValueError text onto the DBAPI hierarchy (as sqlite3 would raise)."""
    message = str(exc)
    lower = message.lower()
    if "constraint failed" in lower:
        cls: type[Error] = IntegrityError
    elif "locked" in lower or "busy" in lower or "unable to open" in lower or "no such" in lower or "syntax error" in lower or "already exists" in lower:
        cls = OperationalError
    elif "not a database" in lower or "malformed" in lower or "encrypted" in lower:
        cls = DatabaseError
    elif "too big" in lower or "out of range" in lower or "mismatch" in lower:
        cls = DataError
    elif "unsupported parameter type" in lower:
        # the driver's text for a value it cannot bind, e.g. a str with a lone surrogate (not
        # UTF-8): bad input, as asyncpg reports the same value on PostgreSQL
        cls, message = DataError, f"invalid input: a parameter the driver cannot bind ({message})"
    else:
        cls = OperationalError
    err = cls(message)
    err.__cause__ = exc
    return err


def _bind(params: Any) -> tuple[Any, ...]:
    """Parameters the driver stores exactly (it routes ints through doubles and wants tuples)."""
    if not params:
        return ()
    out = []
    for p in params:
        if isinstance(p, bool):
            p = int(p)
        elif isinstance(p, int):
            if not -SAFE_INT <= p <= SAFE_INT:
                p = str(p)
        elif isinstance(p, (bytearray, memoryview)):
            p = bytes(p)
        out.append(p)
    return tuple(out)


# ----------------------------------------------------------------------------- driver side


class _Result:
    __slots__ = ("description", "lastrowid", "rowcount", "rows")

    def __init__(self, description: Any, rows: list[Any], rowcount: int, lastrowid: Any) -> None:
        self.description = description
        self.rows = rows
        self.rowcount = rowcount
        self.lastrowid = lastrowid


def _open_driver(database: str, pragmas: Sequence[str], kwargs: dict[str, Any]) -> Any:
    conn = libsql.connect(database, isolation_level=None, **kwargs)
    try:
        for pragma in pragmas:
            conn.execute(pragma).fetchall()
    except Exception:
        conn.close()
        raise
    return conn


class AsyncLibSQLConnection:
    """The driver connection and how it is reached: inline or through a worker thread.

    *Inline* (local files, the default): every driver call runs directly on the thread that
    owns the event loop. The driver holds the GIL for the whole of every call (measured: a
    0.37 s query on a worker thread froze the event-loop thread for 0.37 s), so a worker
    thread cannot overlap anything with a query; it only adds two thread switches per
    statement (50-100 µs each on a busy 2-core machine). Inline calls also cannot be
    abandoned half-way by a cancelled task.

    *Worker thread* (remote `libsql://` servers, embedded replicas, or `?worker_thread=true`):
    the connection is confined to its own one-thread executor and every call is awaited
    through it, so network waits never run on the event-loop thread.
    """

    def __init__(self, conn: Any, worker: ThreadPoolExecutor | None) -> None:
        self._worker = worker
        self._conn = conn
        self.inline = worker is None
        self.in_transaction = False

    @classmethod
    def open_inline(cls, database: str, pragmas: Sequence[str], **kwargs: Any) -> AsyncLibSQLConnection:
        try:
            conn = _open_driver(database, pragmas, kwargs)
        except Exception as exc:
            raise _translate(exc) from exc
        return cls(conn, None)

    @classmethod
    async def open(cls, database: str, pragmas: Sequence[str], **kwargs: Any) -> AsyncLibSQLConnection:
        """Open on a dedicated worker thread (worker-thread mode)."""
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ironstore-libsql")
        try:
            conn = await asyncio.get_running_loop().run_in_executor(
                worker, _open_driver, database, pragmas, kwargs
            )
        except Exception as exc:
            worker.shutdown(wait=False)
            raise _translate(exc) from exc
        return cls(conn, worker)

    async def _call(self, fn: Callable[..., _T], *args: Any) -> _T:
        if self._worker is None:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    def run(self, begin: str | None, sql: str, params: Any, many: bool) -> _Result:
        """Execute one statement (after `begin`, if given) and fetch all its rows."""
        conn = self._conn
        try:
            if begin is not None and not conn.in_transaction:
                conn.execute(begin)
            if many:
                cursor = conn.executemany(sql, [_bind(p) for p in params])
                rows: list[Any] = []
            else:
                cursor = conn.execute(sql, _bind(params))
                rows = cursor.fetchall() if cursor.description else []
            return _Result(cursor.description, rows, cursor.rowcount, cursor.lastrowid)
        except Exception as exc:
            raise _translate(exc) from exc
        finally:
            self.in_transaction = conn.in_transaction

    async def execute(self, sql: str, params: Any, begin: str | None, many: bool = False) -> _Result:
        return await self._call(self.run, begin, sql, params, many)

    def end(self, statement: str) -> None:
        """COMMIT or ROLLBACK the open transaction, if any."""
        try:
            if self._conn.in_transaction:
                self._conn.execute(statement)
        except Exception as exc:
            raise _translate(exc) from exc
        finally:
            self.in_transaction = self._conn.in_transaction

    async def commit(self) -> None:
        await self._call(self.end, "COMMIT")

    async def rollback(self) -> None:
        await self._call(self.end, "ROLLBACK")

    async def sync(self) -> None:
        """Pull from the primary (embedded replicas only)."""
        await self._call(self._conn.sync)

    def close_sync(self) -> None:
        self._conn.close()

    async def close(self) -> None:
        try:
            await self._call(self._conn.close)
        finally:
            if self._worker is not None:
                self._worker.shutdown(wait=False)

    def close_now(self) -> None:
        """Close without an event loop (garbage collection / terminate)."""
        if self._worker is None:
            with contextlib.suppress(Exception):  # best effort while discarding the connection
                self._conn.close()
            return
        self._worker.submit(self._conn.close)
        self._worker.shutdown(wait=False)


# ----------------------------------------------------------------------------- DBAPI facade


class LibSQLCursor:
    """A DBAPI cursor whose results are fetched in full by the execute itself."""

    __slots__ = ("_connection", "_rows", "arraysize", "description", "lastrowid", "rowcount")

    server_side = False

    def __init__(self, connection: LibSQLAdaptedConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: Any = None
        self.arraysize = 1
        self._rows: collections.deque[Any] = collections.deque()

    def _apply(self, result: _Result) -> None:
        self.description = result.description
        self.rowcount = result.rowcount
        self.lastrowid = result.lastrowid
        self._rows = collections.deque(result.rows)

    def execute(self, operation: str, parameters: Any = None) -> None:
        self._apply(self._connection._execute(operation, parameters, False))

    def executemany(self, operation: str, seq_of_parameters: Sequence[Any]) -> None:
        self._apply(self._connection._execute(operation, seq_of_parameters, True))

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        size = size or self.arraysize
        return [self._rows.popleft() for _ in range(min(size, len(self._rows)))]

    def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def close(self) -> None:
        self._rows.clear()

    async def _async_soft_close(self) -> None:
        """Rows are already in memory; nothing to release (called by SQLAlchemy's async layer)."""

    def setinputsizes(self, *args: Any) -> None:
        pass

    def setoutputsize(self, *args: Any) -> None:
        pass

    def __iter__(self) -> Iterator[Any]:
        while self._rows:
            yield self._rows.popleft()


class LibSQLAdaptedConnection(AdaptedConnection):
    """What SQLAlchemy's pool holds: sync DBAPI methods over the driver connection.

    `begin_mode` is set per transaction by the engine's `begin` event (`IMMEDIATE` for writers);
    `begin_pending` by the dialect's `do_begin`. The BEGIN itself is sent with the first
    statement. `autocommit` (isolation level `AUTOCOMMIT`) sends no BEGIN at all: each
    statement is its own transaction.
    """

    __slots__ = ("_inline", "autocommit", "begin_mode", "begin_pending", "dbapi")

    _connection: AsyncLibSQLConnection  # type: ignore[assignment]

    def __init__(self, dbapi: Any, connection: AsyncLibSQLConnection) -> None:
        self.dbapi = dbapi
        self._connection = connection
        self._inline = connection.inline
        self.begin_pending = False
        self.begin_mode = "DEFERRED"
        self.autocommit = False

    @property
    def driver_connection(self) -> AsyncLibSQLConnection:
        return self._connection

    def _execute(self, sql: str, params: Any, many: bool) -> _Result:
        begin = None
        if self.begin_pending:
            begin = "BEGIN IMMEDIATE" if self.begin_mode == "IMMEDIATE" else "BEGIN"
            self.begin_pending = False
        # always through `await_`, inline too (the coroutine then completes without
        # suspending): SQLAlchemy's AsyncConnection.execute insists on one await per statement
        return await_(self._connection.execute(sql, params, begin, many))

    def cursor(self, server_side: bool = False) -> LibSQLCursor:
        return LibSQLCursor(self)

    def execute(self, operation: str, parameters: Any = None) -> LibSQLCursor:
        cursor = self.cursor()
        cursor.execute(operation, parameters)
        return cursor

    def _end(self, statement: str) -> None:
        self.begin_pending = False
        if self._connection.in_transaction:
            if self._inline:
                self._connection.end(statement)
            else:
                await_(self._connection.commit() if statement == "COMMIT" else self._connection.rollback())

    def commit(self) -> None:
        self._end("COMMIT")

    def rollback(self) -> None:
        self._end("ROLLBACK")

    def close(self) -> None:
        if self._inline:
            self._connection.close_sync()
        else:
            await_(self._connection.close())

    def terminate(self) -> None:
        self._connection.close_now()

    def create_function(self, *args: Any, **kwargs: Any) -> None:
        raise NotSupportedError("the libSQL driver does not support user-defined functions")


class LibSQLDBAPI:
    """The module-like object SQLAlchemy treats as the DBAPI."""

    paramstyle = "qmark"
    apilevel = "2.0"
    threadsafety = 1
    Error = Error
    Warning = Warning
    InterfaceError = InterfaceError
    DatabaseError = DatabaseError
    DataError = DataError
    OperationalError = OperationalError
    IntegrityError = IntegrityError
    InternalError = InternalError
    ProgrammingError = ProgrammingError
    NotSupportedError = NotSupportedError
    Binary = bytes
    sqlite_version_info = tuple(libsql.sqlite_version_info)
    sqlite_version = ".".join(str(x) for x in libsql.sqlite_version_info)
    version_info = (0, 0, 0)
    PARSE_COLNAMES = 0
    PARSE_DECLTYPES = 0

    def connect(
        self, database: str, *, pragmas: Sequence[str] = (), worker_thread: bool = False, **kwargs: Any
    ) -> LibSQLAdaptedConnection:
        if worker_thread:
            driver_conn = await_(AsyncLibSQLConnection.open(database, pragmas, **kwargs))
        else:
            driver_conn = AsyncLibSQLConnection.open_inline(database, pragmas, **kwargs)
        return LibSQLAdaptedConnection(self, driver_conn)


def connection_pragmas(busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS, *, local: bool = True) -> list[str]:
    # busy_timeout first: switching to WAL takes a lock another process may be holding
    pragmas = [f"PRAGMA busy_timeout = {int(busy_timeout_ms)}", "PRAGMA foreign_keys = ON"]
    if local:
        pragmas += ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL"]
    return pragmas


class LibSQLDialect(SQLiteDialect_pysqlite):
    """`sqlite+ironstore_libsql`: SQLite's SQL compiler over the async libSQL adapter."""

    driver = "ironstore_libsql"
    is_async = True
    supports_statement_cache = True
    supports_server_side_cursors = False
    has_terminate = True

    @classmethod
    def import_dbapi(cls) -> Any:
        return LibSQLDBAPI()

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        if cls._is_url_file_db(url):
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool

    def create_connect_args(self, url: URL) -> Any:
        database = url.database or ":memory:"
        opts: dict[str, Any] = {}
        query = dict(url.query)
        for key, target in (
            ("authToken", "auth_token"),
            ("auth_token", "auth_token"),
            ("sync_url", "sync_url"),
            ("encryption_key", "encryption_key"),
        ):
            if key in query:
                opts[target] = query.pop(key)
        if "sync_interval" in query:
            opts["sync_interval"] = float(str(query.pop("sync_interval")))
        busy = int(str(query.pop("busy_timeout", DEFAULT_BUSY_TIMEOUT_MS)))
        remote = database.startswith(("libsql://", "https://", "http://", "wss://", "ws://"))
        opts["pragmas"] = connection_pragmas(busy, local=not remote)
        threaded = str(query.pop("worker_thread", "")).lower()
        if threaded in ("", "auto"):
            opts["worker_thread"] = remote or "sync_url" in opts
        else:
            opts["worker_thread"] = threaded in ("1", "true", "yes", "on")
        return [database], opts

    def on_connect(self) -> Callable[[Any], None] | None:  # type: ignore[override]
        return None  # pysqlite registers a REGEXP function; the driver cannot

    def do_begin(self, dbapi_connection: Any) -> None:
        target = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)
        if not target.autocommit:
            target.begin_pending = True

    def get_isolation_level_values(self, dbapi_connection: Any) -> list[Any]:
        return ["SERIALIZABLE", "AUTOCOMMIT"]

    def set_isolation_level(self, dbapi_connection: Any, level: Any) -> None:
        target = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)
        target.autocommit = level == "AUTOCOMMIT"

    def get_isolation_level(
        self, dbapi_connection: Any
    ) -> Literal["SERIALIZABLE", "AUTOCOMMIT"]:
        target = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)
        return "AUTOCOMMIT" if getattr(target, "autocommit", False) else "SERIALIZABLE"

    def get_driver_connection(self, connection: Any) -> Any:
        return connection._connection

    def do_terminate(self, dbapi_connection: Any) -> None:
        dbapi_connection.terminate()

    def is_disconnect(self, e: Any, connection: Any, cursor: Any) -> bool:
        return "connection closed" in str(e).lower()

    def _get_server_version_info(self, connection: Any) -> Any:
        return LibSQLDBAPI.sqlite_version_info


dialect = LibSQLDialect
