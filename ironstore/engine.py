"""AsyncEngine per backend, connection setup, and translation of driver errors.

Everything that knows which driver is underneath lives here (and in `dialects/`): repositories
see only SQLAlchemy Core and ironstore's own errors.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import registry
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from . import errors
from .config import DatabaseConfig
from .errors import redact
from .types import dumps_json

registry.register("sqlite.ironstore_libsql", "ironstore.dialects.libsql", "LibSQLDialect")

WRITE_OPTION = "ironstore_write"


def create_engine(config: DatabaseConfig, **engine_options: Any) -> AsyncEngine:
    """The AsyncEngine for a resolved configuration; `engine_options` pass to SQLAlchemy."""
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
    return engine


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
    if isinstance(orig, (OSError, ConnectionError)) or any(m in lower for m in _UNAVAILABLE_MARKERS):
        if connecting or not isinstance(exc, sa_exc.ProgrammingError):
            return errors.BackendUnavailableError(f"database unavailable{where}: {message}")
    if isinstance(exc, (sa_exc.DataError,)) or "invalid input" in lower or "out of range" in lower:
        return errors.InvalidInputError(message)
    if connecting:
        return errors.BackendUnavailableError(f"cannot open database{where}: {message}")
    return errors.QueryError(message)
