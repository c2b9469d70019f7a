"""Migration 0007 (jobs and sandbox) on existing data, both trees: upgrade, downgrade, upgrade."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, func, inspect, select

import ironstore
from ironstore import Database, IntegrityError, migrations
from ironstore.schema import agent_jobs, conversations, job_events, llm_calls

T0 = datetime(2025, 6, 7, 8, 9, 10, 123000, tzinfo=UTC)
BEFORE = {"postgres": "ironstore_0006", "libsql": "ironstore_ls_0006"}

GRANTS = '[{"secret_name":"gh","env_var":"GH_TOKEN"}]'


def _job(job_id: uuid.UUID, source: str, description: str, conversation_id: uuid.UUID | None = None) -> dict[str, Any]:
    return {
        "id": job_id, "conversation_id": conversation_id, "title": "t", "description": description,
        "status": "running" if source == "sandbox" else "pending", "source": source,
        "user_id": "alice", "job_mode": "worker", "repair_attempts": 0, "max_tokens": 0,
        "total_tokens_used": 0, "created_at": T0,
    }


async def _columns(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        cols = await conn.run_sync(lambda c: inspect(c).get_columns("agent_jobs"))
    return {c["name"] for c in cols}


async def _count(db: Database, table: Any) -> int:
    async with db._read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def _downgrade(db: Database, revision: str) -> None:
    async with migrations.in_process_lock(), db._write_engine.connect() as conn:
        await conn.run_sync(migrations.downgrade, db.backend, revision)
        await conn.commit()


async def _insert_event(db: Database, job_id: uuid.UUID) -> None:
    async with db._write() as conn:
        await conn.execute(job_events.insert().values(job_id=job_id, event_type="status", data={}, created_at=T0))


async def test_0007_on_existing_data(blank_url: str, ironstore_backend: str) -> None:
    db = await ironstore.connect(blank_url)
    try:
        await db.run_migrations(BEFORE[ironstore_backend])
        conv, direct, s_grants, s_garbage, s_object = (uuid.uuid4() for _ in range(5))
        chat_call = uuid.uuid4()
        async with db._write() as conn:
            await conn.execute(conversations.insert().values(
                id=conv, channel="gateway", user_id="alice", thread_id=None,
                started_at=T0, last_activity=T0, metadata={},
            ))
            for row in (
                _job(direct, "direct", "a direct job's description", conv),
                _job(s_grants, "sandbox", GRANTS),
                _job(s_garbage, "sandbox", "not json at all"),
                _job(s_object, "sandbox", '{"secret_name":"gh"}'),
            ):
                await conn.execute(agent_jobs.insert().values(**row))
            await conn.execute(llm_calls.insert().values(
                id=chat_call, job_id=None, conversation_id=conv, provider="p", model="m",
                input_tokens=1, output_tokens=1, cost=1, purpose=None, created_at=T0,
            ))
        for _ in range(2):
            await _insert_event(db, s_grants)
        # before 0007: a job with events cannot be deleted
        with pytest.raises(IntegrityError):
            async with db._write() as conn:
                await conn.execute(delete(agent_jobs).where(agent_jobs.c.id == s_grants))
        assert "credential_grants" not in await _columns(db)

        await db.run_migrations()
        assert {"credential_grants", "instance_id"} <= await _columns(db)
        async with db._read() as conn:
            rows = {
                r.id: (r.credential_grants, r.instance_id, r.description)
                for r in await conn.execute(select(
                    agent_jobs.c.id, agent_jobs.c.credential_grants, agent_jobs.c.instance_id,
                    agent_jobs.c.description,
                ))
            }
        assert rows == {
            direct: (None, None, "a direct job's description"),
            s_grants: ([{"secret_name": "gh", "env_var": "GH_TOKEN"}], None, GRANTS),
            s_garbage: (None, None, "not json at all"),
            s_object: (None, None, '{"secret_name":"gh"}'),
        }
        job = await db.get_sandbox_job(s_grants)
        assert job is not None and job.credential_grants_json == GRANTS
        assert [e.job_id for e in await db.list_job_events(s_grants)] == [s_grants, s_grants]
        # X8: parents can now be deleted; children follow the new ON DELETE actions
        async with db._write() as conn:
            await conn.execute(delete(conversations))
        ctx = await db.get_job(direct)
        assert ctx is not None and ctx.conversation_id is None
        async with db._read() as conn:
            detached = (await conn.execute(select(llm_calls.c.conversation_id))).scalar_one()
        assert detached is None
        async with db._write() as conn:
            await conn.execute(delete(agent_jobs).where(agent_jobs.c.id == s_grants))
        assert await _count(db, job_events) == 0

        await _downgrade(db, BEFORE[ironstore_backend])
        assert not {"credential_grants", "instance_id"} & await _columns(db)
        await _insert_event(db, s_garbage)
        with pytest.raises(IntegrityError):  # NO ACTION again
            async with db._write() as conn:
                await conn.execute(delete(agent_jobs).where(agent_jobs.c.id == s_garbage))
        async with db._read() as conn:
            left = {r.id for r in await conn.execute(select(agent_jobs.c.id))}
        assert left == {direct, s_garbage, s_object}

        await db.run_migrations()
        async with db.engine.connect() as conn:
            assert await conn.run_sync(migrations.schema_drift, db.backend) == []
        async with db._read() as conn:
            backfilled = (
                await conn.execute(select(func.count()).where(agent_jobs.c.credential_grants.isnot(None)))
            ).scalar_one()
        assert backfilled == 0  # garbage and non-array grants stay NULL on every upgrade
    finally:
        await db.close()
