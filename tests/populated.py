"""Shared test data: a database with a little of everything, and a raw dump to compare states.

Used by the copy tests, the bad-input fuzz (the "nothing written" check) and the populated
migration round trip.
"""

from __future__ import annotations

import contextlib
import io
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

from ironstore import Database
from ironstore.demo import (
    conversation_and_job,
    routine_and_setting,
    session_with_checkpoints,
    workspace_search,
)
from ironstore.records.sandbox import SandboxJobRecord
from ironstore.records.secrets import CreateSecretParams, StoreChannelParams, StoreToolParams


async def populate(db: Database) -> None:
    """A little of everything, written through the store methods."""
    with contextlib.redirect_stdout(io.StringIO()):
        await conversation_and_job(db)
        await routine_and_setting(db)
        await workspace_search(db)
        await session_with_checkpoints(db)
    sandbox = SandboxJobRecord(
        id=uuid.uuid4(), task="fix the bug", status="creating", user_id="alice",
        project_dir="/home/alice/p", created_at=datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC),
        credential_grants_json='[{"secret_name":"gh","env_var":"GH_TOKEN"}]',
    )
    await db.save_sandbox_job(sandbox)
    for i in range(3):
        await db.save_job_event(sandbox.id, "message", {"i": i, "text": "héllo ✓", "f": 0.1 * i})
    await db.record_tool_failure("shell", "exit status 1")
    await db.set_setting("bob", "limits", {"max": 1.25, "big": 12345678901234, "tags": ["a", "b"], "none": None})
    await db.secrets.create("alice", CreateSecretParams(name="github", value="ghp_secret_value"))
    await db.wasm_tools.store(StoreToolParams(
        user_id="alice", name="search", description="desc", wasm_binary=b"\x00asm\x01\x00\x00\x00",
        parameters_schema={"type": "object"},
    ))
    await db.wasm_channels.store(StoreChannelParams(
        user_id="alice", name="telegram", wasm_binary=b"\x00asm\x01\x00\x00\x00",
    ))
    conv = await db.create_conversation("web", "bob", None)
    for i in range(25):  # more rows than one batch in the tests that use batch_size=7
        await db.add_conversation_message(conv, "user" if i % 2 else "assistant", f"message {i}")


def _comparable(value: Any) -> Any:
    return value.tobytes() if isinstance(value, np.ndarray) else value


async def raw_dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows exactly as stored (no type decoding), sorted: equal dumps, equal data.

    Includes tables the schema does not model (libSQL's FTS5 shadow tables, the vector-cache
    counters), so a half-applied write anywhere shows up.
    """
    async with db.engine.connect() as conn:
        names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        out: dict[str, list[tuple[Any, ...]]] = {}
        for name in sorted(names):
            if name in ("alembic_version", "sqlite_sequence"):
                continue
            rows = (await conn.exec_driver_sql(f'SELECT * FROM "{name}"')).all()
            # PostgreSQL vectors arrive as float32 arrays (ironstore's binary codec): as bytes
            out[name] = sorted((tuple(_comparable(v) for v in r) for r in rows), key=repr)
    return out

