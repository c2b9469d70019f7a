"""The body of both Alembic trees' env.py: one implementation, parametrised by backend.

From code (`Database.run_migrations`, tests) a sync connection arrives in
`config.attributes["connection"]`. From the command line the URL comes from `-x url=…`, the
ini's `sqlalchemy.url`, or the environment exactly as `ironstore.connect()` resolves it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from .config import resolve
from .engine import WRITE_OPTION, create_engine
from .errors import ConfigurationError
from .migrations import ADVISORY_LOCK_KEY, check_adoptable, migration_options
from .schema import metadata


def run_env(backend: str) -> None:
    from alembic import context

    config = context.config
    options = migration_options(backend)
    if context.is_offline_mode():
        dialect = "postgresql" if backend == "postgres" else "sqlite"
        context.configure(
            dialect_name=dialect,
            target_metadata=metadata,
            literal_binds=True,
            **options,
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    connection = config.attributes.get("connection")
    if connection is not None:
        _run_online(context, connection, backend, options)
        return

    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    resolved = resolve(url or None)
    if resolved.backend != backend:
        raise ConfigurationError(
            f"this is the {backend} migration tree but the URL is a {resolved.backend} database"
        )
    engine = create_engine(resolved, poolclass=NullPool).execution_options(**{WRITE_OPTION: True})

    async def _run() -> None:
        try:
            async with engine.connect() as conn:
                await conn.run_sync(lambda sync: _run_online(context, sync, backend, options))
                await conn.commit()
        finally:
            await engine.dispose()

    asyncio.run(_run())


def _run_online(context: Any, connection: Connection, backend: str, options: dict[str, Any]) -> None:
    context.configure(connection=connection, target_metadata=metadata, **options)
    with context.begin_transaction():
        if backend == "postgres":
            # serialise concurrent migrators; released when the transaction ends
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        check_adoptable(connection, backend)
        context.run_migrations()
