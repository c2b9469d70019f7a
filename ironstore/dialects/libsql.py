"""An asyncio SQLAlchemy dialect over the libSQL Python driver (`libsql_experimental`).

sqlalchemy-libsql 0.2.0's `sqlite+aiolibsql` is a synchronous driver marked async and fails
under SQLAlchemy 2.1 (`AwaitRequired`). This adapter follows SQLAlchemy's `AsyncAdapt_*` shape:
each DBAPI connection owns one worker thread (the driver refuses use from other threads), every
driver call is awaited through that thread, and SQLAlchemy's sync core reaches it via `await_`.

Registered as `sqlite+ironstore_libsql` (entry point and `registry.register`); `connect()` also
maps `sqlite+libsql://` URLs to it.

What the adapter adds over the raw driver:
- transactions are explicit: the driver runs in autocommit mode and the adapter issues
  `BEGIN` / `BEGIN IMMEDIATE` lazily, in the same thread hop as the first statement;
- the driver raises `ValueError` for everything; errors are mapped to a DBAPI hierarchy by message;
- integers beyond ±2**53 pass through the driver as doubles and lose precision, so they are
  bound as decimal text (INTEGER affinity converts them back losslessly);
- every connection gets WAL, synchronous=NORMAL, foreign_keys=ON and a busy timeout.
"""

from __future__ import annotations

import asyncio
import collections
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import libsql_experimental as libsql
from sqlalchemy import pool
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import AdaptedConnection
from sqlalchemy.engine.url import URL
from sqlalchemy.util.concurrency import await_

SAFE_INT = 2**53
DEFAULT_BUSY_TIMEOUT_MS = 5000


# ----------------------------------------------------------------------------- DBAPI errors


class Error(Exception):
    pass


class Warning(Exception):  # noqa: A001 - DBAPI name
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
    elif "locked" in lower or "busy" in lower or "unable to open" in lower:
        cls = OperationalError
    elif "no such" in lower or "syntax error" in lower or "already exists" in lower:
        cls = OperationalError
    elif "not a database" in lower or "malformed" in lower or "encrypted" in lower:
        cls = DatabaseError
    elif "too big" in lower or "out of range" in lower or "mismatch" in lower:
        cls = DataError
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
    __slots__ = ("description", "rows", "rowcount", "lastrowid")

    def __init__(self, description: Any, rows: list[Any], rowcount: int, lastrowid: Any) -> None:
        self.description = description
        self.rows = rows
        self.rowcount = rowcount
        self.lastrowid = lastrowid


class AsyncLibSQLConnection:
    """The driver connection, confined to its own worker thread; every call is awaitable."""

    def __init__(self, worker: ThreadPoolExecutor, conn: Any) -> None:
        self._worker = worker
        self._conn = conn
        self.in_transaction = False

    @classmethod
    async def open(cls, database: str, pragmas: Sequence[str], **kwargs: Any) -> AsyncLibSQLConnection:
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ironstore-libsql")

        def _open() -> Any:
            conn = libsql.connect(database, isolation_level=None, **kwargs)
            try:
                for pragma in pragmas:
                    conn.execute(pragma).fetchall()
            except Exception:
                conn.close()
                raise
            return conn

        try:
            conn = await asyncio.get_running_loop().run_in_executor(worker, _open)
        except Exception as exc:
            worker.shutdown(wait=False)
            raise _translate(exc) from exc
        return cls(worker, conn)

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    def _run(self, begin: str | None, sql: str, params: Any, many: bool) -> _Result:
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
        return await self._call(self._run, begin, sql, params, many)  # type: ignore[no-any-return]

    def _end(self, statement: str) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute(statement)
        except Exception as exc:
            raise _translate(exc) from exc
        finally:
            self.in_transaction = self._conn.in_transaction

    async def commit(self) -> None:
        await self._call(self._end, "COMMIT")

    async def rollback(self) -> None:
        await self._call(self._end, "ROLLBACK")

    async def sync(self) -> None:
        """Pull from the primary (embedded replicas only)."""
        await self._call(self._conn.sync)

    async def close(self) -> None:
        try:
            await self._call(self._conn.close)
        finally:
            self._worker.shutdown(wait=False)

    def close_now(self) -> None:
        """Close without an event loop (garbage collection / terminate)."""
        self._worker.submit(self._conn.close)
        self._worker.shutdown(wait=False)


# ----------------------------------------------------------------------------- DBAPI facade


class LibSQLCursor:
    """A DBAPI cursor whose results are fetched in full in the same thread hop as the execute."""

    __slots__ = ("_connection", "description", "rowcount", "lastrowid", "arraysize", "_rows")

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
        self._apply(
            await_(self._connection._execute(operation, parameters, many=False))
        )

    def executemany(self, operation: str, seq_of_parameters: Sequence[Any]) -> None:
        self._apply(await_(self._connection._execute(operation, seq_of_parameters, many=True)))

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

    def __iter__(self) -> Any:
        while self._rows:
            yield self._rows.popleft()


class LibSQLAdaptedConnection(AdaptedConnection):
    """What SQLAlchemy's pool holds: sync methods that await the worker-thread connection.

    `begin_mode` is set per transaction by the engine's `begin` event (`IMMEDIATE` for writers);
    `begin_pending` by the dialect's `do_begin`. The BEGIN itself is sent with the first statement.
    """

    __slots__ = ("dbapi", "begin_pending", "begin_mode", "isolation_level")

    def __init__(self, dbapi: Any, connection: AsyncLibSQLConnection) -> None:
        self.dbapi = dbapi
        self._connection = connection
        self.begin_pending = False
        self.begin_mode = "DEFERRED"
        self.isolation_level: str | None = None

    @property
    def driver_connection(self) -> AsyncLibSQLConnection:
        return self._connection  # type: ignore[no-any-return]

    async def _execute(self, sql: str, params: Any, many: bool) -> _Result:
        begin = None
        if self.begin_pending:
            begin = "BEGIN IMMEDIATE" if self.begin_mode == "IMMEDIATE" else "BEGIN"
            self.begin_pending = False
        return await self._connection.execute(sql, params, begin, many)

    def cursor(self, server_side: bool = False) -> LibSQLCursor:
        return LibSQLCursor(self)

    def execute(self, operation: str, parameters: Any = None) -> LibSQLCursor:
        cursor = self.cursor()
        cursor.execute(operation, parameters)
        return cursor

    def commit(self) -> None:
        self.begin_pending = False
        if self._connection.in_transaction:
            await_(self._connection.commit())

    def rollback(self) -> None:
        self.begin_pending = False
        if self._connection.in_transaction:
            await_(self._connection.rollback())

    def close(self) -> None:
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

    def connect(self, database: str, *, pragmas: Sequence[str] = (), **kwargs: Any) -> Any:
        driver_conn = await_(AsyncLibSQLConnection.open(database, pragmas, **kwargs))
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
            opts["sync_interval"] = float(query.pop("sync_interval"))
        busy = int(query.pop("busy_timeout", DEFAULT_BUSY_TIMEOUT_MS))
        remote = database.startswith(("libsql://", "https://", "http://", "wss://", "ws://"))
        opts["pragmas"] = connection_pragmas(busy, local=not remote)
        return [database], opts

    def on_connect(self) -> None:
        return None  # pysqlite registers a REGEXP function; the driver cannot

    def do_begin(self, dbapi_connection: Any) -> None:
        target = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)
        target.begin_pending = True

    def set_isolation_level(self, dbapi_connection: Any, level: Any) -> None:
        return None

    def get_isolation_level(self, dbapi_connection: Any) -> str:
        return "SERIALIZABLE"

    def get_driver_connection(self, connection: Any) -> Any:
        return connection._connection

    def do_terminate(self, dbapi_connection: Any) -> None:
        dbapi_connection.terminate()

    def is_disconnect(self, e: Any, connection: Any, cursor: Any) -> bool:
        return "connection closed" in str(e).lower()

    def _get_server_version_info(self, connection: Any) -> Any:
        return LibSQLDBAPI.sqlite_version_info


dialect = LibSQLDialect
