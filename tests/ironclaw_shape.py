"""An IronClaw v0.22.0-shaped database for the adoption tests (test_adopt.py, test_cli.py).

Built from ironstore's own baseline DDL (written from the facts of schema.md) without
`alembic_version`, then filled with rows the way IronClaw writes them — including, on libSQL,
the legacy naive timestamp text of older IronClaw releases.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

import ironstore
from ironstore import Database
from ironstore.baseline_sql import ls_upgrade_clauses, pg_upgrade_clauses

CONV = uuid.UUID("0b9a3c3e-1111-4c4c-8888-000000000001")
MSG_1 = uuid.UUID("0b9a3c3e-1111-4c4c-8888-000000000002")
MSG_2 = uuid.UUID("0b9a3c3e-1111-4c4c-8888-000000000003")

# libSQL text as older IronClaw releases left it; PostgreSQL gets the same instants natively
LEGACY_ROWS = {
    "started_at": ("2024-01-02 03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    "last_activity": ("2024-01-02 03:04:09.25", datetime(2024, 1, 2, 3, 4, 9, 250000, tzinfo=UTC)),
    "msg_1": ("2024-01-02T05:04:06.5+02:00", datetime(2024, 1, 2, 3, 4, 6, 500000, tzinfo=UTC)),
    "msg_2": ("2024-01-02T03:04:07.123Z", datetime(2024, 1, 2, 3, 4, 7, 123000, tzinfo=UTC)),
    "setting": ("2024-01-02 03:04:08.123456", datetime(2024, 1, 2, 3, 4, 8, 123000, tzinfo=UTC)),
}


async def execute(db: Database, *statements: Any, params: dict[str, Any] | None = None) -> None:
    async with db._write() as conn:
        for statement in statements:
            await conn.execute(text(statement) if isinstance(statement, str) else statement, params or {})


async def ironclaw_database(url: str) -> Database:
    """A fully migrated IronClaw v0.22.0 database with a conversation, two messages, a setting."""
    db = await ironstore.connect(url)
    clauses = pg_upgrade_clauses() if db.backend == "postgres" else ls_upgrade_clauses()
    await execute(db, *clauses)
    value = {k: (v[0] if db.backend == "libsql" else v[1]) for k, v in LEGACY_ROWS.items()}
    ids = {"conv": str(CONV), "m1": str(MSG_1), "m2": str(MSG_2)}
    await execute(
        db,
        "INSERT INTO conversations (id, channel, user_id, started_at, last_activity, metadata) "
        "VALUES (:conv, 'telegram', 'alice', :started_at, :last_activity, '{\"k\": 1}')",
        "INSERT INTO conversation_messages (id, conversation_id, role, content, created_at) "
        "VALUES (:m1, :conv, 'user', 'hello from IronClaw', :msg_1)",
        "INSERT INTO conversation_messages (id, conversation_id, role, content, created_at) "
        "VALUES (:m2, :conv, 'assistant', 'hi alice', :msg_2)",
        "INSERT INTO settings (user_id, key, value, updated_at) VALUES ('alice', 'theme', '\"dark\"', :setting)",
        params={**ids, **value},
    )
    return db
