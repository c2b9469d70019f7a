"""32 concurrent writers, mixed operations, on each backend: zero errors, nothing lost or doubled.

Each writer task runs OPS operations through the store methods — messages into its own
conversation, settings, a shared broken-tool counter, sandbox job events, reads in between — and
the result is verified by counting and by content. `make test` runs 40 operations per writer;
`make stress` 1,000 (IRONSTORE_LOAD_OPS; figures in RELIABILITY.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import text
from stress_report import record

from ironstore import Database
from ironstore.records.sandbox import SandboxJobRecord

WRITERS = 32
OPS = int(os.environ.get("IRONSTORE_LOAD_OPS", "40"))
Connect = Callable[..., Awaitable[Database]]


async def _writer(db: Database, w: int, job: uuid.UUID) -> dict[str, int]:
    conv = await db.create_conversation("load", f"user-{w}", None)
    done = {"messages": 0, "settings": 0, "failures": 0, "events": 0}
    for n in range(OPS):
        kind = n % 5
        if kind in (0, 1):
            await db.add_conversation_message(conv, "user", f"w{w} n{n}")
            done["messages"] += 1
        elif kind == 2:
            await db.set_setting(f"user-{w}", f"k{n}", {"w": w, "n": n})
            done["settings"] += 1
        elif kind == 3:
            await db.record_tool_failure("shared-tool", f"w{w} n{n}")
            done["failures"] += 1
        else:
            await db.save_job_event(job, "message", {"w": w, "n": n})
            done["events"] += 1
            page, _has_more = await db.list_conversation_messages_paginated(conv, None, 10)
            assert len(page) <= 10
    return done


async def test_32_writers_mixed_operations_lose_and_double_nothing(
    ironstore_connect: Connect, ironstore_backend: str
) -> None:
    db = await ironstore_connect()
    job = uuid.uuid4()
    await db.save_sandbox_job(SandboxJobRecord(
        id=job, task="load", status="creating", user_id="load", project_dir="/p",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    ))
    started = time.perf_counter()
    results = await asyncio.gather(*(_writer(db, w, job) for w in range(WRITERS)))  # any error fails
    seconds = time.perf_counter() - started

    async with db.engine.connect() as conn:
        contents = [c for (c,) in await conn.execute(text("SELECT content FROM conversation_messages"))]
        keys = (await conn.execute(text("SELECT count(*) FROM settings"))).scalar_one()
        events = [e for (e,) in await conn.execute(text("SELECT data FROM job_events"))]
    expected_messages = {f"w{w} n{n}" for w in range(WRITERS) for n in range(OPS) if n % 5 in (0, 1)}
    assert len(contents) == len(expected_messages) == sum(r["messages"] for r in results)
    assert set(contents) == expected_messages  # by content: none lost, none doubled
    assert keys == sum(r["settings"] for r in results)
    for w in range(WRITERS):
        assert await db.get_setting(f"user-{w}", f"k{2}") == ({"w": w, "n": 2} if OPS > 2 else None)
    (broken,) = await db.get_broken_tools(1)
    assert broken.failure_count == sum(r["failures"] for r in results)  # no lost increment
    decoded = [json.loads(e) if isinstance(e, str) else e for e in events]
    assert sorted((e["w"], e["n"]) for e in decoded) == sorted(
        (w, n) for w in range(WRITERS) for n in range(OPS) if n % 5 == 4
    )

    record(
        check="load", backend=ironstore_backend, writers=WRITERS, ops_per_writer=OPS,
        seconds=round(seconds, 1), ops_per_second=round(WRITERS * OPS / seconds),
    )
