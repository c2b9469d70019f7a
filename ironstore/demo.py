"""`make demo`: a tour of every store on an embedded libSQL file. No server needed.

The embeddings are a deterministic toy (words hashed into 8 dimensions), so the
output is the same on every run; a real assistant would use an embedding model.
"""

from __future__ import annotations

import asyncio
import math
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import ironstore
from ironstore import (
    ActionRecord,
    CheckpointState,
    CreateCheckpointRequest,
    CreateSessionRequest,
    JobContext,
    JobState,
    LlmCallRecord,
    SearchConfig,
)
from ironstore.records.routines import CronTrigger, LightweightAction, Routine

DIMENSION = 8


def toy_embedding(text: str) -> list[float]:
    """Words hashed (sum of code points) into DIMENSION buckets, normalised (demo only)."""
    buckets = [0.0] * DIMENSION
    for word in text.lower().split():
        word = word.strip(".,;:!?'")
        if len(word) > 3:  # skip short function words
            buckets[sum(map(ord, word)) % DIMENSION] += 1.0
    norm = math.sqrt(sum(v * v for v in buckets)) or 1.0
    return [v / norm for v in buckets]


async def conversation_and_job(db: ironstore.Database) -> None:
    conv = await db.create_conversation("cli", "alice", None)
    await db.add_conversation_message(conv, "user", "What's on my calendar tomorrow?")
    await db.add_conversation_message(conv, "assistant", "A dentist appointment at 10:00.")
    messages = await db.list_conversation_messages(conv)
    print(f"  conversation {conv}: {len(messages)} messages")
    for m in messages:
        print(f"    [{m.role}] {m.content}")

    job_id = uuid.uuid4()
    await db.save_job(JobContext(job_id=job_id, user_id="alice", title="Book dentist",
                                 description="Find a free slot", conversation_id=conv))
    await db.update_job_status(job_id, JobState.IN_PROGRESS, None)
    await db.save_action(job_id, ActionRecord(id=uuid.uuid4(), sequence=0, tool_name="calendar.read",
                                              input={"day": "tomorrow"}, success=True,
                                              duration=timedelta(milliseconds=42)))
    await db.save_action(job_id, ActionRecord(id=uuid.uuid4(), sequence=1, tool_name="calendar.book",
                                              input={"slot": "10:00"}, success=True,
                                              cost=Decimal("0.0004")))
    await db.record_llm_call(LlmCallRecord(provider="openai", model="gpt-4o-mini", input_tokens=812,
                                           output_tokens=64, cost=Decimal("0.000160"),
                                           job_id=job_id, conversation_id=conv, purpose="plan"))
    actions = await db.get_job_actions(job_id)
    print(f"  job {job_id}: {len(actions)} actions ({', '.join(a.tool_name for a in actions)}),"
          " one LLM call of $0.000160 recorded")


async def routine_and_setting(db: ironstore.Database) -> None:
    now = datetime.now(UTC)
    await db.create_routine(Routine(
        id=uuid.uuid4(), name="morning-brief", user_id="alice",
        trigger=CronTrigger(schedule="0 0 7 * * *", timezone="Europe/Berlin"),
        action=LightweightAction(prompt="Summarise today's calendar"),
        next_fire_at=now + timedelta(hours=1), created_at=now, updated_at=now,
    ))
    routines = await db.list_routines("alice")
    print(f"  routines of alice: {[r.name for r in routines]}")
    await db.set_setting("alice", "theme", {"mode": "dark", "font_size": 14})
    print(f"  setting alice/theme = {await db.get_setting('alice', 'theme')}")


async def workspace_search(db: ironstore.Database) -> None:
    notes = {
        "notes/dentist.md": "Dentist appointment tomorrow at ten, bring the insurance card.",
        "notes/garden.md": "Water the tomatoes and plant basil in the garden this weekend.",
        "notes/travel.md": "Train to Berlin on Friday; hotel booked near the station.",
    }
    for path, content in notes.items():
        doc = await db.get_or_create_document_by_path("alice", None, path)
        await db.update_document(doc.id, content)
        await db.replace_chunks(doc.id, [(0, content, toy_embedding(content))])
    query = "when is the dentist appointment"
    hits = await db.hybrid_search("alice", None, query, toy_embedding(query), SearchConfig(limit=3))
    print(f"  hybrid search {query!r} (toy embeddings):")
    for hit in hits:
        print(f"    {hit.score:.3f} {hit.document_path} (fts rank {hit.fts_rank}, "
              f"vector rank {hit.vector_rank})")


async def session_with_checkpoints(db: ironstore.Database) -> None:
    created = await db.create_session(CreateSessionRequest(
        title="Plan the trip",
        initial_state=CheckpointState(messages=[{"role": "user", "content": "Plan my Berlin trip"}]),
    ))
    await db.create_checkpoint(created.session_id, CreateCheckpointRequest(
        parent_id=created.checkpoint.id,
        state=CheckpointState(messages=[
            {"role": "user", "content": "Plan my Berlin trip"},
            {"role": "assistant", "content": "Train on Friday, hotel near the station."},
        ]),
    ))
    active = await db.get_active_checkpoint(created.session_id)
    print(f"  session {created.session_id}: 2 checkpoints, active one has "
          f"{len(active.state.messages)} messages")


async def main(path: Path) -> None:
    url = f"sqlite+libsql:///{path}"
    print(f"ironstore demo — libSQL file {path}")
    async with await ironstore.connect(url, embedding_dimension=DIMENSION) as db:
        print(f"  schema before: {await db.current_revision()}")
        await db.run_migrations()
        print(f"  schema after:  {await db.current_revision()} (head)")
        await conversation_and_job(db)
        await routine_and_setting(db)
        await workspace_search(db)
        await session_with_checkpoints(db)
    print("done.")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "demo.db"
    asyncio.run(main(target))
