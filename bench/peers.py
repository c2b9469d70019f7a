"""ironstore against the libraries users would pick instead, with the same payloads.

- LangGraph checkpointers (`langgraph-checkpoint-sqlite` AsyncSqliteSaver on a SQLite file,
  `langgraph-checkpoint-postgres` AsyncPostgresSaver on psycopg 3): one operation = put a
  checkpoint whose state holds the conversation so far, then get the latest checkpoint back.
  ironstore: `create_checkpoint` + `get_checkpoint` of its session store.
- google-adk `DatabaseSessionService` (SQLAlchemy async; `sqlite+aiosqlite` / `postgresql+asyncpg`):
  one operation = `append_event` of one text message, then `get_session` with the 50 most
  recent events. ironstore: `add_conversation_message` + `list_conversation_messages_paginated`
  (50).

Each peer gets its own fresh database (a file next to ironstore's, or a PostgreSQL database on
the same server); both sides run interleaved in one process. A peer that cannot be imported is
reported as skipped with the import error.
"""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any

import ironstore
from ironstore import CheckpointState, CreateCheckpointRequest, CreateSessionRequest

from . import scenario
from ._util import Pair, run_interleaved

MESSAGES_PER_CHECKPOINT = 20


def _messages(n: int) -> list[dict[str, Any]]:
    text = (scenario.USER_TEXT, scenario.ASSISTANT_TEXT)
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": text[i % 2]} for i in range(n)]


# ----------------------------------------------------------------------------- LangGraph


async def langgraph_pair(
    backend: str, ours_url: str, peer_target: str, reps: int, scale: float
) -> tuple[Pair, dict[str, str]]:
    """put + get of a checkpoint; `peer_target` is a file path (sqlite) or a psycopg DSN."""
    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph.checkpoint.base.id import uuid6

    messages = _messages(MESSAGES_PER_CHECKPOINT)
    db = await ironstore.connect(ours_url)
    await db.run_migrations()
    created = await db.create_session(CreateSessionRequest.new("bench", []))
    session_id = created.session_id
    counter = itertools.count(1)

    if backend == "libsql":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        cm = AsyncSqliteSaver.from_conn_string(peer_target)
        label = "langgraph-checkpoint-sqlite AsyncSqliteSaver (aiosqlite, SQLite file)"
    else:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        cm = AsyncPostgresSaver.from_conn_string(peer_target)
        label = "langgraph-checkpoint-postgres AsyncPostgresSaver (psycopg 3)"
    try:
        async with cm as saver:
            await saver.setup()
            thread = {"configurable": {"thread_id": "bench-thread", "checkpoint_ns": ""}}
            state: dict[str, Any] = {"config": thread}

            async def peer() -> None:
                n = next(counter)
                cp = empty_checkpoint()
                cp["id"] = str(uuid6(clock_seq=n))
                cp["channel_values"] = {"messages": messages}
                cp["channel_versions"] = {"messages": n}
                state["config"] = await saver.aput(state["config"], cp, {"source": "loop", "step": n}, {"messages": n})
                got = await saver.aget_tuple(thread)
                assert got is not None

            async def ours() -> None:
                cp = await db.create_checkpoint(session_id, CreateCheckpointRequest(state=CheckpointState(messages=messages)))
                await db.get_checkpoint(cp.id)

            pair = Pair("checkpoint put + get", peer, ours, iters=max(5, int(100 * scale)))
            await run_interleaved([pair], reps, warmup=max(3, int(10 * scale)))
    finally:
        await db.close()
    return pair, {"peer": label}


# ----------------------------------------------------------------------------- google-adk


async def adk_pair(
    backend: str, ours_url: str, peer_url: str, reps: int, scale: float
) -> tuple[Pair, dict[str, str]]:
    """append one event + get the session with its 50 most recent events."""
    from google.adk.events import Event
    from google.adk.sessions import DatabaseSessionService
    from google.adk.sessions.base_session_service import GetSessionConfig
    from google.genai import types

    db = await ironstore.connect(ours_url)
    await db.run_migrations()
    conv = uuid.uuid4()
    await db.ensure_conversation(conv, "bench", "bench-user")
    service = DatabaseSessionService(db_url=peer_url)
    try:
        session = await service.create_session(app_name="bench", user_id="bench-user")
        config = GetSessionConfig(num_recent_events=50)
        counter = itertools.count()

        async def peer() -> None:
            nonlocal session
            i = next(counter)
            event = Event(
                author="user" if i % 2 == 0 else "model",
                invocation_id=f"inv-{i}",
                content=types.Content(
                    role="user" if i % 2 == 0 else "model",
                    parts=[types.Part(text=scenario.USER_TEXT if i % 2 == 0 else scenario.ASSISTANT_TEXT)],
                ),
            )
            await service.append_event(session, event)
            got = await service.get_session(
                app_name="bench", user_id="bench-user", session_id=session.id, config=config
            )
            assert got is not None
            session = got

        ours_counter = itertools.count()

        async def ours() -> None:
            i = next(ours_counter)
            await db.add_conversation_message(
                conv, "user" if i % 2 == 0 else "assistant",
                scenario.USER_TEXT if i % 2 == 0 else scenario.ASSISTANT_TEXT,
            )
            await db.list_conversation_messages_paginated(conv, None, 50)

        pair = Pair("append message + get session (50 recent)", peer, ours, iters=max(5, int(100 * scale)))
        await run_interleaved([pair], reps, warmup=max(3, int(10 * scale)))
    finally:
        await service.close()
        await db.close()
    kind = "SQLite file via sqlite+aiosqlite" if backend == "libsql" else "PostgreSQL via asyncpg"
    return pair, {"peer": f"google-adk DatabaseSessionService ({kind})"}


def sqlite_path(base: Path, name: str) -> str:
    p = base / name
    for suffix in ("", "-wal", "-shm"):
        Path(str(p) + suffix).unlink(missing_ok=True)
    return str(p)
