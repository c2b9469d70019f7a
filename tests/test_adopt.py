"""Adopting a database IronClaw v0.22.0 created (issue #8), on both backends.

The IronClaw-shaped database comes from `ironclaw_shape.py` (our baseline DDL, IronClaw's rows).
"""

from __future__ import annotations

from typing import Any

import pytest
from ironclaw_shape import CONV, LEGACY_ROWS, MSG_1, MSG_2, execute, ironclaw_database
from sqlalchemy import inspect, text

import ironstore
from ironstore import AdoptionError, Database, MigrationError, migrations
from ironstore.adopt import BASELINE_REVISIONS, baseline_columns

INDEX_NAMES = {
    "libsql": "SELECT tbl_name, name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'",
    "postgres": "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = current_schema()",
}


async def _snapshot(db: Database) -> dict[str, Any]:
    """Tables with their columns and indexes (from the catalog), and every table's row count."""
    async with db.engine.connect() as conn:
        columns = await conn.run_sync(
            lambda c: {n: {col["name"] for col in inspect(c).get_columns(n)} for n in inspect(c).get_table_names()}
        )
        indexes: dict[str, set[str]] = {name: set() for name in columns}
        for table_name, index_name in await conn.execute(text(INDEX_NAMES[db.backend])):
            indexes.setdefault(table_name, set()).add(index_name)
        counts = {
            name: (await conn.execute(text(f'SELECT count(*) FROM "{name}"'))).scalar_one()
            for name in columns
        }
    return {"shape": {n: (columns[n], indexes[n]) for n in columns}, "counts": counts}


async def _revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        has_version = await conn.run_sync(lambda c: inspect(c).has_table("alembic_version"))
    return await db.current_revision() if has_version else None


async def test_adopt_then_migrate_keeps_everything(blank_url: str, ironstore_backend: str) -> None:
    db = await ironclaw_database(blank_url)
    try:
        before = await _snapshot(db)
        report = await db.adopt()
        assert report.stamped_revision == BASELINE_REVISIONS[ironstore_backend]
        assert report.tables == 24 == len(baseline_columns())
        assert report.rows == 18 + 1 + 2 + 1  # the leak-detection seed rows plus ours
        if ironstore_backend == "libsql":
            # the canonical message timestamp is already fine; the other four are rewritten
            assert report.timestamps_rewritten == {
                "conversations.started_at": 1, "conversations.last_activity": 1,
                "conversation_messages.created_at": 1, "settings.updated_at": 1,
            }
            async with db.engine.connect() as conn:
                stored = (await conn.execute(text("SELECT started_at, last_activity FROM conversations"))).one()
            assert tuple(stored) == ("2024-01-02T03:04:05.000Z", "2024-01-02T03:04:09.250Z")
        else:
            assert report.timestamps_rewritten == {}
        assert await db.current_revision() == BASELINE_REVISIONS[ironstore_backend]

        await db.run_migrations()
        assert await db.current_revision() == migrations.head_revision(ironstore_backend)
        after = await _snapshot(db)
        for name, (columns, indexes) in before["shape"].items():
            assert name in after["shape"], f"table {name} lost"
            assert columns <= after["shape"][name][0], f"{name} lost columns"
            assert indexes <= after["shape"][name][1], f"{name} lost indexes"
            assert after["counts"][name] == before["counts"][name], f"{name} row count changed"

        # IronClaw's rows read through the store methods, in chronological order
        messages = await db.list_conversation_messages(CONV)
        assert [(m.id, m.content, m.created_at) for m in messages] == [
            (MSG_1, "hello from IronClaw", LEGACY_ROWS["msg_1"][1]),
            (MSG_2, "hi alice", LEGACY_ROWS["msg_2"][1]),
        ]
        assert await db.get_conversation_metadata(CONV) == {"k": 1}
        assert await db.conversation_belongs_to_user(CONV, "alice")
        row = await db.get_setting_full("alice", "theme")
        assert row is not None and row.value == "dark" and row.updated_at == LEGACY_ROWS["setting"][1]
        # and new rows go in after them
        newest = await db.add_conversation_message(CONV, "user", "written by ironstore")
        assert [m.id for m in await db.list_conversation_messages(CONV)][-1] == newest
        await db.set_setting("alice", "lang", "en")
        assert await db.get_all_settings("alice") == {"theme": "dark", "lang": "en"}
        async with db.engine.connect() as conn:
            assert await conn.run_sync(migrations.schema_drift, db.backend) == []
    finally:
        await db.close()


async def test_run_migrations_adopts_automatically(blank_url: str, ironstore_backend: str) -> None:
    db = await ironclaw_database(blank_url)
    try:
        await db.run_migrations()
        assert await db.current_revision() == migrations.head_revision(ironstore_backend)
        assert len(await db.list_conversation_messages(CONV)) == 2
        with pytest.raises(MigrationError, match="already managed"):
            await db.adopt()
    finally:
        await db.close()


def _break(backend: str, how: str) -> list[str]:
    if how == "older":
        return ["DELETE FROM refinery_schema_history WHERE version = 13" if backend == "postgres"
                else "DELETE FROM _migrations WHERE version = 13"]
    if how == "newer":
        return ["INSERT INTO refinery_schema_history (version, name, applied_on, checksum) "
                "VALUES (14, 'future', 'x', '1')" if backend == "postgres"
                else "INSERT INTO _migrations (version, name) VALUES (14, 'future')"]
    if how == "missing-table":
        return ["DROP TABLE tool_rate_limit_state"]
    assert how == "missing-column"
    return ["ALTER TABLE agent_jobs DROP COLUMN max_tokens"]


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("older", "older than v0.22.0"),
        ("newer", "newer than v0.22.0"),
        ("missing-table", "missing tables \\['tool_rate_limit_state'\\]"),
        ("missing-column", "agent_jobs lacks \\['max_tokens'\\]"),
    ],
)
async def test_unrecognised_ironclaw_databases_are_refused_untouched(
    blank_url: str, ironstore_backend: str, how: str, message: str
) -> None:
    db = await ironclaw_database(blank_url)
    try:
        await execute(db, *_break(ironstore_backend, how))
        before = await _snapshot(db)
        with pytest.raises(AdoptionError, match=message):
            await db.adopt()
        with pytest.raises(AdoptionError, match=message):
            await db.run_migrations()
        assert await _snapshot(db) == before
        assert await _revision(db) is None
    finally:
        await db.close()


async def test_unreadable_legacy_timestamp_aborts_adoption(blank_url: str, ironstore_backend: str) -> None:
    if ironstore_backend == "postgres":
        pytest.skip("PostgreSQL stores native timestamptz values; there is no text to rewrite")
    db = await ironclaw_database(blank_url)
    try:
        await execute(db, "UPDATE settings SET updated_at = 'last tuesday'")
        with pytest.raises(MigrationError, match="settings.updated_at .* not a timestamp"):
            await db.adopt()
        async with db.engine.connect() as conn:
            kept = (await conn.execute(text("SELECT started_at FROM conversations"))).scalar_one()
        assert kept == LEGACY_ROWS["started_at"][0]  # the rewrite of other tables rolled back
        assert await _revision(db) is None
    finally:
        await db.close()


async def test_foreign_database_is_not_adopted(blank_url: str) -> None:
    db = await ironstore.connect(blank_url)
    try:
        await execute(db, "CREATE TABLE notes (id INTEGER PRIMARY KEY)")
        with pytest.raises(MigrationError, match="not an IronClaw database"):
            await db.adopt()
    finally:
        await db.close()
