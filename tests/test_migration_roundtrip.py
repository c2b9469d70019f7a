"""A populated database survives upgrade head -> downgrade to base+1 -> upgrade head, every row kept.

Base+1 is the IronClaw baseline (the first revision of each tree). The downgrade removes the
tables and columns ironstore added (sessions, checkpoints, agent_jobs.credential_grants and
instance_id, libSQL's vector-cache counters); `ironstore.parking` keeps their data aside and the
upgrade puts it back, so a raw dump of every table at head is the same before and after.

Size: IRONSTORE_MIGRATION_ROWS extra messages, chunks and checkpoints on top of
tests/populated.py (make test: a few; make stress: the full size in RELIABILITY.md).
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from populated import populate, raw_dump
from stress_report import record

import ironstore
from ironstore import Database, migrations
from ironstore.parking import PREFIX
from ironstore.records.sandbox import SandboxJobRecord
from ironstore.records.sessions import CreateCheckpointRequest, CreateSessionRequest

ROWS = int(os.environ.get("IRONSTORE_MIGRATION_ROWS", "60"))
BASE_PLUS_ONE = {"postgres": "ironclaw_v13", "libsql": "ironclaw_ls_baseline"}
DIMENSION = 8
# Bumped on purpose by the re-upgrade (changes made while downgraded were not counted), so it is
# checked for growth instead of equality.
COUNTERS = "ironstore_workspace_epoch"


async def _grow(db: Database, rows: int) -> None:
    """`rows` more messages, chunks (FTS and vectors) and checkpoints, and sandbox jobs whose
    added columns hold values the downgrade must keep."""
    conversation = await db.create_conversation("cli", "carol", None)
    for i in range(rows):
        await db.add_conversation_message(conversation, "user" if i % 2 else "assistant", f"turn {i} ✓")
    document = await db.get_or_create_document_by_path("carol", None, "notes/bulk.md")
    await db.insert_chunks(
        document.id,
        [(i, f"chunk {i} about gardens", [((i * 7 + k) % 11) / 11 for k in range(DIMENSION)]) for i in range(rows)],
    )
    session = await db.create_session(CreateSessionRequest(title="long session"))
    parent = session.checkpoint.id
    for i in range(max(1, rows // 10)):
        checkpoint = await db.create_checkpoint(
            session.session_id,
            CreateCheckpointRequest.new([{"role": "user", "content": f"step {i}"}]).with_parent(parent),
        )
        parent = checkpoint.id
    for i in range(max(1, rows // 20)):
        job = SandboxJobRecord(
            id=uuid.uuid4(), task=f"task {i}", status="running", user_id="carol", project_dir="/p",
            created_at=datetime(2026, 5, 1, tzinfo=UTC), credential_grants_json='[{"secret_name":"gh","env_var":"GH"}]',
        )
        await db.save_sandbox_job(job, "claude_code", instance_id=f"instance-{i}")


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))


def _count(dump: dict[str, list[Any]]) -> dict[str, int]:
    return {table: len(rows) for table, rows in dump.items()}


async def test_populated_round_trip_to_base_plus_one_keeps_every_row(blank_url: str, ironstore_backend: str) -> None:
    db = await ironstore.connect(blank_url, embedding_dimension=DIMENSION, secrets_master_key="round-trip-master-key-0123456789ab")
    try:
        await db.run_migrations()
        await populate(db)
        await _grow(db, ROWS)
        before = await raw_dump(db)
        head_tables = await _tables(db)

        async with migrations.in_process_lock(), db._write_engine.connect() as conn:
            await conn.run_sync(migrations.downgrade, db.backend, BASE_PLUS_ONE[ironstore_backend])
            await conn.commit()
        assert await db.current_revision() == BASE_PLUS_ONE[ironstore_backend]
        downgraded = await raw_dump(db)
        parked = {t for t in downgraded if t.startswith(PREFIX)}
        assert {"ironstore_parked_sessions", "ironstore_parked_checkpoints", "ironstore_parked_agent_jobs_0007"} <= parked
        # the IronClaw tables kept every row while downgraded
        kept = {t: n for t, n in _count(downgraded).items() if t in head_tables}
        assert kept == {t: n for t, n in _count(before).items() if t in kept}
        assert len(downgraded["ironstore_parked_checkpoints"]) == len(before["checkpoints"])

        await db.run_migrations()
        assert await db.current_revision() == migrations.head_revision(db.backend)
        after = await raw_dump(db)
        assert not {t for t in after if t.startswith(PREFIX)}, "parked tables are gone after the upgrade"
        differing = sorted(t for t in before.keys() | after.keys() if before.get(t) != after.get(t) and t != COUNTERS)
        assert differing == [], f"tables changed by the round trip: {differing}"
        assert sum(len(rows) for rows in after.values()) >= 2 * ROWS  # the grown messages and chunks are in it
        record(
            check="migration round trip", backend=ironstore_backend, rows=sum(len(r) for r in before.values()),
            tables=len(before), parked_tables=len(parked), differing_tables=len(differing),
        )
        if ironstore_backend == "libsql":
            old = {row[0]: row[1] for row in before[COUNTERS]}
            new = {row[0]: row[1] for row in after[COUNTERS]}
            assert old.keys() <= new.keys() and all(new[user] > epoch for user, epoch in old.items())
    finally:
        await db.close()


async def test_round_trip_of_an_empty_database_parks_nothing(blank_url: str, ironstore_backend: str) -> None:
    db = await ironstore.connect(blank_url)
    try:
        await db.run_migrations()
        async with migrations.in_process_lock(), db._write_engine.connect() as conn:
            await conn.run_sync(migrations.downgrade, db.backend, BASE_PLUS_ONE[ironstore_backend])
            await conn.commit()
        assert not {t for t in await _tables(db) if t.startswith(PREFIX)}
        await db.run_migrations()
        assert await db.current_revision() == migrations.head_revision(db.backend)
    finally:
        await db.close()
