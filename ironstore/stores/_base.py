"""What every repository shares: one transaction per public method, the clock, error mapping.

Repositories are mixins of `Database`; they use `self._read()` / `self._write()` and never look
at the dialect name (dialect-specific SQL lives in `ironstore.sql`, `ironstore.types` and
`ironstore.search`).

Cost model (see BENCHMARKS.md): a transaction is one pool checkout, the statements, and one
combined commit-and-checkin step. A block that sends a single statement can pass
`autocommit=True`: the statement then runs as its own implicit transaction, which saves the
BEGIN and COMMIT round trips on PostgreSQL (two of three round trips of a one-statement
method) and two driver calls on libSQL, with the same atomicity.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util import greenlet_spawn

from ..config import DatabaseConfig
from ..engine import WRITE_OPTION, engine_settings, ensure_statement_logging, translate
from ..errors import DatabaseError
from ..sql import insert_for
from ..types import to_utc_ms

Clock = Callable[[], datetime]

_op_log = logging.getLogger("ironstore.operations")
_sql_log = logging.getLogger("ironstore.sql")

# One writer at a time per libSQL file within a process (other processes wait on busy_timeout).
_file_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _writer_lock(path: str) -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    locks = _file_locks.get(loop)
    if locks is None:
        locks = _file_locks[loop] = {}
    lock = locks.get(path)
    if lock is None:
        lock = locks[path] = asyncio.Lock()
    return lock


def utc_now() -> datetime:
    return datetime.now(UTC)


def _finish(sync_conn: Connection, commit: bool) -> None:
    """Commit (or roll back) and return the connection to the pool, in one greenlet hop."""
    try:
        if commit and sync_conn.in_transaction():
            sync_conn.commit()
    finally:
        sync_conn.close()  # rolls back whatever is still open


class _Transaction:
    """`async with store._read() / store._write() as conn:` - one transaction, errors mapped.

    A plain class rather than `contextlib.asynccontextmanager`: it runs on every store call,
    and the generator-based form costs two extra frames and a generator per call.
    """

    __slots__ = ("_conn", "_engine", "_gate", "_lock", "_store", "_t0")

    def __init__(self, store: StoreBase, engine: AsyncEngine, lock: asyncio.Lock | None) -> None:
        self._store = store
        self._engine = engine
        self._lock = lock
        self._gate: asyncio.Semaphore | None = None
        self._conn: AsyncConnection | None = None
        self._t0 = 0.0

    async def __aenter__(self) -> AsyncConnection:
        self._t0 = time.perf_counter()
        store = self._store
        if store._statement_logging is False and _sql_log.isEnabledFor(logging.DEBUG):
            store._statement_logging = ensure_statement_logging(store._engine)
        gate = self._gate = store._pool_gate()
        if gate is not None:
            await gate.acquire()
        lock = self._lock
        try:
            if lock is not None:
                await lock.acquire()
            try:
                self._conn = await self._engine.connect()
            except BaseException:
                if lock is not None:
                    lock.release()
                raise
        except BaseException as exc:
            if gate is not None:
                gate.release()
            if isinstance(exc, Exception) and not isinstance(exc, DatabaseError):
                raise translate(exc, url=store._config.display_url) from exc
            raise
        return self._conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self._conn
        assert conn is not None
        self._conn = None
        try:
            await greenlet_spawn(_finish, conn.sync_connection, exc_type is None)
        except Exception as finish_exc:
            if exc is None:  # the commit failed: that is the method's error
                if isinstance(finish_exc, DatabaseError):
                    raise
                raise translate(finish_exc, url=self._store._config.display_url) from finish_exc
        finally:
            if self._lock is not None:
                self._lock.release()
            if self._gate is not None:
                self._gate.release()
            elapsed = time.perf_counter() - self._t0
            if elapsed >= self._store._slow_seconds:
                self._warn_slow(elapsed)
            elif _op_log.isEnabledFor(logging.DEBUG):
                _op_log.debug("%s took %.3f ms", _caller(), elapsed * 1000.0)
        if exc is not None and isinstance(exc, Exception) and not isinstance(exc, DatabaseError):
            raise translate(exc, url=self._store._config.display_url) from exc

    def _warn_slow(self, elapsed: float) -> None:
        _op_log.warning(
            "slow operation: %s took %.1f ms (threshold %.0f ms, %s)",
            _caller(),
            elapsed * 1000.0,
            self._store._slow_seconds * 1000.0,
            self._store._config.backend,
        )


def _caller() -> str:
    """The store method running the transaction (the frame that called `__aexit__`)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back  # type: ignore[assignment]
    return frame.f_code.co_qualname if frame is not None else "operation"


class StoreBase:
    """State and helpers shared by every repository mixin."""

    _config: DatabaseConfig
    _engine: AsyncEngine
    _write_engine: AsyncEngine
    _autocommit_engine: AsyncEngine
    _autocommit_write_engine: AsyncEngine
    _clock: Clock
    _dialect: str
    _lock_key: str | None
    _slow_seconds: float
    _statement_logging: bool
    _pool_capacity: int

    def _init_store_base(self, config: DatabaseConfig, engine: AsyncEngine, clock: Clock | None) -> None:
        self._config = config
        self._engine = engine
        self._write_engine = engine.execution_options(**{WRITE_OPTION: True})
        self._autocommit_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._autocommit_write_engine = engine.execution_options(
            isolation_level="AUTOCOMMIT", **{WRITE_OPTION: True}
        )
        self._clock = clock or utc_now
        self._dialect = engine.dialect.name
        self._lock_key = str(config.path or config.url.database) if config.backend == "libsql" else None
        settings = engine_settings(engine)
        self._slow_seconds = settings.slow_operation_ms / 1000.0
        self._statement_logging = settings.statement_logging
        pool = engine.sync_engine.pool
        size, overflow = getattr(pool, "size", None), getattr(pool, "_max_overflow", None)
        capacity = size() + overflow if callable(size) and isinstance(overflow, int) else -1
        self._pool_capacity = capacity if capacity > 0 and isinstance(overflow, int) and overflow >= 0 else 0
        self._gate_state: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def _pool_gate(self) -> asyncio.Semaphore | None:
        """A FIFO gate in front of the connection pool (one per event loop).

        SQLAlchemy's async pool wakes a waiting task when a connection comes back, but a task
        that is already running can take the connection first; with more tasks than
        connections a waiter can then starve for seconds (measured: a 3 s stall with 32 tasks
        on 30 connections). asyncio.Semaphore queues newcomers behind waiters (Python >= 3.11),
        so checkouts are served in arrival order.
        """
        if not self._pool_capacity:
            return None
        loop = asyncio.get_running_loop()
        state = self._gate_state
        if state is None or state[0] is not loop:
            state = self._gate_state = (loop, asyncio.Semaphore(self._pool_capacity))
        return state[1]

    def _now(self) -> datetime:
        """'Now' from the configured clock, aware UTC, millisecond precision."""
        return to_utc_ms(self._clock(), "clock()")

    def _insert(self, table: Table) -> Any:
        """An INSERT that supports `on_conflict_do_update` / `on_conflict_do_nothing`."""
        return insert_for(self._dialect, table)

    def _read(self, *, autocommit: bool = False) -> _Transaction:
        """A read transaction (a consistent snapshot for multi-statement reads).

        `autocommit=True`: the block sends exactly one statement, which then runs without
        BEGIN / COMMIT (a single statement is always a consistent snapshot).
        """
        return _Transaction(self, self._autocommit_engine if autocommit else self._engine, None)

    def _write(self, *, autocommit: bool = False) -> _Transaction:
        """A write transaction: all of a method's rows or none. Serialised per libSQL file.

        `autocommit=True`: the block sends one write statement (optionally followed by reads
        that need no snapshot shared with it); each statement commits on its own, which saves
        the BEGIN / COMMIT round trips. Never use it for two writes.
        """
        lock = _writer_lock(self._lock_key) if self._lock_key else None
        engine = self._autocommit_write_engine if autocommit else self._write_engine
        return _Transaction(self, engine, lock)
