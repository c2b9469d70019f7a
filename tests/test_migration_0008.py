"""Migration 0008 (unique webhook paths, NOT NULL tool-failure counters) on existing data, both trees."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, update

import ironstore
from ironstore import (
    Database,
    IntegrityError,
    LightweightAction,
    Routine,
    WebhookTrigger,
    migrations,
)
from ironstore.schema import routines, tool_failures

T0 = datetime(2025, 6, 7, 8, 9, 10, 123000, tzinfo=UTC)
BEFORE = {"postgres": "ironstore_0007", "libsql": "ironstore_ls_0007"}


def _webhook(name: str, path: str | None, *, days: int = 0, enabled: bool = True) -> Routine:
    at = T0 + timedelta(days=days)
    return Routine(
        id=uuid.uuid4(), name=name, user_id="alice", enabled=enabled,
        trigger=WebhookTrigger(path=path, secret="s3cret"), action=LightweightAction(prompt="p"),
        created_at=at, updated_at=at,
    )


async def _downgrade(db: Database, revision: str) -> None:
    async with migrations.in_process_lock(), db._write_engine.connect() as conn:
        await conn.run_sync(migrations.downgrade, db.backend, revision)
        await conn.commit()


async def _enabled(db: Database) -> dict[str, bool]:
    async with db._read() as conn:
        return {r.name: bool(r.enabled) for r in await conn.execute(select(routines.c.name, routines.c.enabled))}


async def _failures(db: Database) -> dict[str, tuple[Any, ...]]:
    t = tool_failures
    async with db._read() as conn:
        rows = await conn.execute(
            select(t.c.tool_name, t.c.error_count, t.c.repair_attempts, t.c.first_failure, t.c.last_failure)
        )
        return {r[0]: tuple(r[1:]) for r in rows}


async def _tool_failure_indexes(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        found = await conn.run_sync(lambda c: inspect(c).get_indexes("tool_failures"))
    return {i["name"] for i in found}


async def _null_counters(db: Database, tool: str) -> None:
    async with db._write() as conn:
        await conn.execute(
            update(tool_failures).where(tool_failures.c.tool_name == tool)
            .values(error_count=None, repair_attempts=None, first_failure=None)
        )


async def test_0008_on_existing_data(blank_url: str, ironstore_backend: str) -> None:
    db = await ironstore.connect(blank_url)
    try:
        await db.run_migrations(BEFORE[ironstore_backend])
        # IronClaw never made webhook paths unique: three enabled routines share "Hook"
        for r in (
            _webhook("middle", "Hook"), _webhook("oldest", "Hook", days=-1),
            _webhook("newest", "Hook", days=1), _webhook("off", "Hook", enabled=False),
            _webhook("other", "Other"), _webhook("by-id-1", None), _webhook("by-id-2", None),
        ):
            await db.create_routine(r)
        await db.record_tool_failure("legacy", "boom")
        await db.record_tool_failure("healthy", "boom")
        await db.record_tool_failure("healthy", "boom")
        await _null_counters(db, "legacy")
        indexes_before = await _tool_failure_indexes(db)
        healthy_before = (await _failures(db))["healthy"]

        await db.run_migrations()
        assert await _enabled(db) == {
            "oldest": True, "middle": False, "newest": False, "off": False,
            "other": True, "by-id-1": True, "by-id-2": True,
        }
        got = await db.get_webhook_routine_by_path("Hook")
        assert got is not None and got.name == "oldest"
        failures = await _failures(db)
        assert failures["healthy"] == healthy_before
        count, attempts, first, last = failures["legacy"]
        assert (count, attempts) == (0, 0) and first == last is not None
        assert await _tool_failure_indexes(db) == indexes_before
        (legacy,) = [t for t in await db.get_broken_tools(0) if t.name == "legacy"]
        assert legacy.failure_count == 0
        with pytest.raises(IntegrityError):
            await _null_counters(db, "healthy")
        async with db.engine.connect() as conn:
            assert await conn.run_sync(migrations.schema_drift, db.backend) == []

        await _downgrade(db, BEFORE[ironstore_backend])
        assert len(await _enabled(db)) == 7 and set(await _failures(db)) == {"legacy", "healthy"}
        assert await _tool_failure_indexes(db) == indexes_before
        await _null_counters(db, "healthy")  # nullable again, as IronClaw declares it
        async with db._write() as conn:  # and paths are no longer unique
            await conn.execute(update(routines).where(routines.c.name == "middle").values(enabled=True))

        await db.run_migrations()
        assert (await _enabled(db))["middle"] is False
        async with db._read() as conn:
            assert (await conn.execute(select(func.count()).select_from(routines))).scalar_one() == 7
        async with db.engine.connect() as conn:
            assert await conn.run_sync(migrations.schema_drift, db.backend) == []
    finally:
        await db.close()
