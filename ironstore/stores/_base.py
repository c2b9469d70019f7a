"""What every repository shares: one transaction per public method, the clock, error mapping.

Repositories are mixins of `Database`; they use `self._read()` / `self._write()` and never look
at the dialect name (dialect-specific SQL lives in `ironstore.sql`, `ironstore.types` and
`ironstore.search`).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..config import DatabaseConfig
from ..engine import WRITE_OPTION, translate
from ..errors import DatabaseError
from ..sql import insert_for
from ..types import to_utc_ms

Clock = Callable[[], datetime]

# One writer at a time per libSQL file within a process (other processes wait on busy_timeout).
_file_locks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]]" = (
    weakref.WeakKeyDictionary()
)


def _writer_lock(path: str) -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    locks = _file_locks.setdefault(loop, {})
    lock = locks.get(path)
    if lock is None:
        lock = locks[path] = asyncio.Lock()
    return lock


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class StoreBase:
    """State and helpers shared by every repository mixin."""

    _config: DatabaseConfig
    _engine: AsyncEngine
    _write_engine: AsyncEngine
    _clock: Clock
    _dialect: str

    def _init_store_base(self, config: DatabaseConfig, engine: AsyncEngine, clock: Clock | None) -> None:
        self._config = config
        self._engine = engine
        self._write_engine = engine.execution_options(**{WRITE_OPTION: True})
        self._clock = clock or utc_now
        self._dialect = engine.dialect.name
        self._lock_key = str(config.path or config.url.database) if config.backend == "libsql" else None

    def _now(self) -> datetime:
        """'Now' from the configured clock, aware UTC, millisecond precision."""
        return to_utc_ms(self._clock(), "clock()")

    def _insert(self, table: Table) -> Any:
        """An INSERT that supports `on_conflict_do_update` / `on_conflict_do_nothing`."""
        return insert_for(self._dialect, table)

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        """A read transaction (a consistent snapshot for multi-statement reads)."""
        try:
            async with self._engine.begin() as conn:
                yield conn
        except DatabaseError:
            raise
        except Exception as exc:
            raise translate(exc, url=self._config.display_url) from exc

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: all of a method's rows or none. Serialised per libSQL file."""
        lock = _writer_lock(self._lock_key) if self._lock_key else None
        try:
            if lock is not None:
                await lock.acquire()
            try:
                async with self._write_engine.begin() as conn:
                    yield conn
            finally:
                if lock is not None:
                    lock.release()
        except DatabaseError:
            raise
        except Exception as exc:
            raise translate(exc, url=self._config.display_url) from exc
