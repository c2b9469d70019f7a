"""The `ironstore.testing` pytest plugin as users get it: a sample project with no conftest."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from ironstore import Database
from ironstore.records.sandbox import SandboxJobRecord

SAMPLE = Path(__file__).resolve().parent / "sample_project"
_STATE: dict[str, Any] = {}


def test_plugin_is_registered_for_pytest() -> None:
    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("ironstore.testing") == "ironstore.testing"


def test_sample_project_passes_on_each_backend(ironstore_backend: str, request: pytest.FixtureRequest) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRONSTORE_")}
    env["IRONSTORE_TEST_BACKENDS"] = ironstore_backend
    env["SAMPLE_REPEAT"] = "5"
    if ironstore_backend == "postgres":  # reuse this session's server instead of starting another
        env["IRONSTORE_TEST_POSTGRES_URL"] = request.getfixturevalue("ironstore_postgres_server")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-c", str(SAMPLE / "pytest.ini"), "--rootdir", str(SAMPLE), str(SAMPLE)],
        check=False, capture_output=True, text=True, env=env, timeout=300, cwd=SAMPLE,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "9 passed" in done.stdout, done.stdout[-1000:]


# Two tests in a row on the same reusable database: the first dirties rows, seed rows, a sequence
# and the catalog; the second must find a database exactly as migrated.
JOB = uuid.UUID("5a1e0000-0000-4000-8000-000000000001")


async def _job_with_event(db: Database) -> int:
    await db.save_sandbox_job(SandboxJobRecord(
        id=JOB, task="t", status="creating", user_id="alice", project_dir="/p",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    ))
    return await db.save_job_event(JOB, "message", {"n": 1})


async def _seed_rows(db: Database) -> list[tuple[object, ...]]:
    async with db.engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(text("SELECT * FROM leak_detection_patterns ORDER BY id"))]


async def test_reuse_1_dirty_everything(db: Database) -> None:
    first_event = await _job_with_event(db)
    conv = await db.create_conversation("cli", "alice", None)
    await db.add_conversation_message(conv, "user", "left behind")
    async with db._write() as conn:
        await conn.execute(text("UPDATE leak_detection_patterns SET severity = 'low'"))
    if db.backend == "postgres":
        await db.ensure_vector_index(3)
    _STATE[db.backend] = (first_event, await _seed_rows(db))


async def test_reuse_2_sees_a_database_as_migrated(db: Database) -> None:
    assert await db.list_conversations_all_channels("alice", 10) == []
    first_event, seeds_changed = _STATE[db.backend]
    seeds = await _seed_rows(db)
    assert len(seeds) == 18 and seeds != seeds_changed
    assert await _job_with_event(db) == first_event  # the sequence starts over
    if db.backend == "postgres":
        async with db.engine.connect() as conn:
            index = await conn.execute(text("SELECT 1 FROM pg_indexes WHERE indexname = 'idx_memory_chunks_embedding_3'"))
            assert index.first() is None
