"""AsyncEngine per backend, connection setup, logging, and translation of driver errors.

Everything that knows which driver is underneath lives here (and in `dialects/`): repositories
see only SQLAlchemy Core and ironstore's own errors.

Logging (stdlib `logging`, nothing is printed; loggers under `ironstore`):
- `ironstore.sql` at DEBUG: every statement's SQL text (never its parameters) and duration;
- `ironstore.operations` at DEBUG: every store operation (one transaction) and its duration;
  at WARNING: operations slower than the threshold, 500 ms by default, set with
  `connect(..., slow_operation_ms=N)` or the `IRONSTORE_SLOW_OPERATION_MS` variable.
Messages carry SQL text, method names, durations and the redacted URL only: bound values
(which may hold secrets) and passwords / tokens are never logged.
"""

from __future__ import annotations

import json
import logging
import os
import time
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import registry
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from . import errors
from .config import DatabaseConfig
from .errors import redact
from .types import dumps_json, register_vector_codec

registry.register("sqlite.ironstore_libsql", "ironstore.dialects.libsql", "LibSQLDialect")

WRITE_OPTION = "ironstore_write"
_VECTOR_CODEC = "ironstore_vector_codec"  # connection record info: binary vector codec registered
DEFAULT_SLOW_OPERATION_MS = 500.0
SLOW_OPERATION_ENV = "IRONSTORE_SLOW_OPERATION_MS"

_sql_log = logging.getLogger("ironstore.sql")


@dataclass
class EngineSettings:
    """ironstore's own per-engine settings (kept beside the SQLAlchemy engine)."""

    slow_operation_ms: float = DEFAULT_SLOW_OPERATION_MS
    statement_logging: bool = False


_settings: weakref.WeakKeyDictionary[Engine, EngineSettings] = weakref.WeakKeyDictionary()


def engine_settings(engine: AsyncEngine) -> EngineSettings:
    """The settings `create_engine` recorded for this engine (defaults for foreign engines)."""
    found = _settings.get(engine.sync_engine)
    if found is None:
        found = _settings[engine.sync_engine] = EngineSettings()
    return found


def _slow_threshold(value: object) -> float:
    if value is None:
        value = os.environ.get(SLOW_OPERATION_ENV) or DEFAULT_SLOW_OPERATION_MS
    try:
        ms = float(str(value))
    except ValueError:
        raise errors.ConfigurationError(
            f"slow_operation_ms / {SLOW_OPERATION_ENV} must be a number of milliseconds, got {value!r}"
        ) from None
    if not ms >= 0:
        raise errors.ConfigurationError("slow_operation_ms must be >= 0")
    return ms


def _before_statement(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    if context is not None:
        context._ironstore_t0 = time.perf_counter()


def _after_statement(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    t0 = getattr(context, "_ironstore_t0", None)
    if t0 is None:
        return
    elapsed = time.perf_counter() - t0
    if _sql_log.isEnabledFor(logging.DEBUG):
        _sql_log.debug(
            "%.3f ms%s  %s", elapsed * 1000.0, " (executemany)" if executemany else "",
            " ".join(statement.split()),
        )


def ensure_statement_logging(engine: AsyncEngine) -> bool:
    """Install the statement-duration hooks (once per engine). They cost a few µs per
    statement, so they are only installed when `ironstore.sql` is enabled for DEBUG."""
    settings = engine_settings(engine)
    if not settings.statement_logging:
        event.listen(engine.sync_engine, "before_cursor_execute", _before_statement)
        event.listen(engine.sync_engine, "after_cursor_execute", _after_statement)
        settings.statement_logging = True
    return True


def create_engine(config: DatabaseConfig, **engine_options: Any) -> AsyncEngine:
    """The AsyncEngine for a resolved configuration; `engine_options` pass to SQLAlchemy,
    except `slow_operation_ms` (ironstore's slow-operation WARNING threshold)."""
    slow_ms = _slow_threshold(engine_options.pop("slow_operation_ms", None))
    options: dict[str, Any] = {}
    if config.backend == "postgres":
        options.update(json_serializer=dumps_json, json_deserializer=json.loads)
    if "poolclass" not in engine_options and config.url.database != ":memory:":
        options.update(pool_size=10, max_overflow=20) if config.backend == "postgres" else options.update(
            pool_size=8, max_overflow=24
        )
    options.update(engine_options)
    engine = create_async_engine(config.url, **options)
    if config.backend == "libsql":
        event.listen(engine.sync_engine, "begin", _choose_libsql_begin)
    else:
        event.listen(engine.sync_engine, "connect", _register_vector_codec)
        event.listen(engine.sync_engine, "checkout", _retry_vector_codec)
    _settings[engine.sync_engine] = EngineSettings(slow_operation_ms=slow_ms)
    if _sql_log.isEnabledFor(logging.DEBUG):
        ensure_statement_logging(engine)
    return engine


def _register_vector_codec(dbapi_conn: Any, record: Any) -> None:
    """PG: pgvector values travel in binary on this connection (types.register_vector_codec)."""
    record.info[_VECTOR_CODEC] = dbapi_conn.run_async(register_vector_codec)


def _retry_vector_codec(dbapi_conn: Any, record: Any, proxy: Any) -> None:
    """A connection opened before `CREATE EXTENSION vector` (a migration) registers on the
    first checkout after it; until the type exists no statement can bind a vector anyway."""
    if not record.info.get(_VECTOR_CODEC):
        record.info[_VECTOR_CODEC] = dbapi_conn.run_async(register_vector_codec)


def _choose_libsql_begin(conn: Any) -> None:
    """Writers open with BEGIN IMMEDIATE, so two writers never deadlock upgrading their locks."""
    dbapi_conn = conn.connection.dbapi_connection
    write = conn.get_execution_options().get(WRITE_OPTION, False)
    dbapi_conn.begin_mode = "IMMEDIATE" if write else "DEFERRED"


# ----------------------------------------------------------------------------- errors

_UNIQUE_MARKERS = ("unique constraint", "duplicate key", "uniqueviolation")
_UNAVAILABLE_MARKERS = (
    "connection refused",
    "could not connect",
    "connect call failed",
    "name or service not known",
    "timeout",
    "timed out",
    "database is locked",
    "unable to open database",
    "no route to host",
    "password authentication failed",
    "does not exist",  # database "x" does not exist (only ever raised while connecting)
    "connection was closed",
    "connection is closed",
    "not a database",
    "file is encrypted",
)


def translate(exc: BaseException, *, url: str = "", connecting: bool = False) -> errors.DatabaseError:
    """Map any driver / SQLAlchemy exception to ironstore's hierarchy, credentials removed."""
    if isinstance(exc, errors.DatabaseError):
        return exc
    if isinstance(exc, sa_exc.StatementError) and isinstance(exc.orig, errors.DatabaseError):
        return exc.orig  # raised by a TypeDecorator while binding or reading
    orig = getattr(exc, "orig", None) or exc
    text = f"{type(orig).__name__}: {orig}"
    lower = text.lower()
    where = f" ({redact(url)})" if url else ""
    message = redact(str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__)
    if isinstance(exc, sa_exc.IntegrityError) or "constraint" in lower or "violat" in lower:
        if any(m in lower for m in _UNIQUE_MARKERS):
            return errors.ConflictError(message)
        return errors.IntegrityError(message)
    unavailable = isinstance(orig, (OSError, ConnectionError)) or any(
        m in lower for m in _UNAVAILABLE_MARKERS
    )
    if unavailable and (connecting or not isinstance(exc, sa_exc.ProgrammingError)):
        return errors.BackendUnavailableError(f"database unavailable{where}: {message}")
    # "index row requires N bytes" / "index row size N exceeds": a value too large for a
    # PostgreSQL B-tree index (libSQL has no such limit)
    bad_value = ("invalid input", "out of range", "index row requires", "index row size")
    if isinstance(exc, sa_exc.DataError) or any(m in lower for m in bad_value):
        return errors.InvalidInputError(message)
    if connecting:
        return errors.BackendUnavailableError(f"cannot open database{where}: {message}")
    return errors.QueryError(message)
