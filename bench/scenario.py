"""Shared data for the raw-driver comparison: a small workspace, a job, conversations.

Everything is generated from a fixed seed, so two runs send the same payloads.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import ironstore
from ironstore import ActionRecord, JobContext, LlmCallRecord, SearchConfig

DIM = 384
DOCS = 40
CHUNKS_PER_DOC = 5
SEED = 20240601

WORDS = ["agent", "memory", "database", "migration", "deploy", "vector", "search", "index", "token", "budget", "routine", "job", "sandbox", "secret", "channel", "message", "thread", "summary", "schedule", "heartbeat", "workspace", "document", "chunk", "embedding", "query", "latency", "python", "rust", "postgres", "libsql", "cache", "transaction", "commit"]

USER_TEXT = (
    "Can you check why the nightly deploy failed again? The migration step timed out after the "
    "database upgrade and I need a summary of what changed in the vector index since last week."
)
ASSISTANT_TEXT = (
    "The nightly deploy failed because the migration that rebuilds the vector index held a lock "
    "longer than the job's timeout. Since last week two documents were re-chunked and the "
    "embedding dimension stayed at 384. I suggest running the index build concurrently and "
    "raising the step timeout; I can schedule a routine to verify tomorrow's run."
)
SEARCH_TEXT = "deploy migration vector index"
TOOL_ARGS = {"query": "nightly deploy failure", "limit": 10, "filters": {"since": "7d", "kind": ["ci", "db"]}}
TOOL_OUTPUT = "found 3 runs: #812 failed (timeout), #811 ok, #810 ok"
SETTING_VALUE = {"theme": "dark", "model": "gpt-x", "max_tokens": 4096, "tools": ["search", "shell"]}


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _vector(rng: random.Random) -> list[float]:
    return [rng.uniform(-1.0, 1.0) for _ in range(DIM)]


@dataclass
class Data:
    user: str
    job_id: uuid.UUID
    doc_path: str
    query_vec: list[float]
    conv_raw: uuid.UUID  # conversations pre-filled with 120 messages, one per side
    conv_ours: uuid.UUID
    conv_inline: uuid.UUID
    turn_raw: uuid.UUID  # conversations the agent turns write to
    turn_ours: uuid.UUID
    turn_inline: uuid.UUID
    seq: dict[str, int] = field(default_factory=lambda: {"raw": 0, "ours": 0, "inline": 0})


async def populate(db: ironstore.Database) -> Data:
    """Create the workspace, the job and the conversations (through ironstore)."""
    rng = random.Random(SEED)
    user = "bench-user"
    await db.ensure_vector_index(DIM)
    for d in range(DOCS):
        doc = await db.get_or_create_document_by_path(user, None, f"notes/topic-{d:02d}.md")
        await db.update_document(doc.id, _sentence(rng, 200))
        await db.insert_chunks(
            doc.id, [(i, _sentence(rng, 60), _vector(rng)) for i in range(CHUNKS_PER_DOC)]
        )
    job_id = uuid.uuid5(uuid.NAMESPACE_URL, "ironstore-bench-job")
    await db.save_job(JobContext(job_id=job_id, user_id=user, title="bench", description="agent turns"))
    convs = []
    for _ in range(6):
        cid = uuid.UUID(int=rng.getrandbits(128), version=4)
        await db.ensure_conversation(cid, "cli", user)
        convs.append(cid)
    for cid in convs[:3]:
        for i in range(120):
            await db.add_conversation_message(cid, "user" if i % 2 == 0 else "assistant", _sentence(rng, 40))
    await db.set_setting(user, "preferences", SETTING_VALUE)
    return Data(
        user=user,
        job_id=job_id,
        doc_path="notes/topic-07.md",
        query_vec=_vector(rng),
        conv_raw=convs[0],
        conv_ours=convs[1],
        conv_inline=convs[2],
        turn_raw=convs[3],
        turn_ours=convs[4],
        turn_inline=convs[5],
    )


SEARCH_CONFIG = SearchConfig()  # limit 10, RRF k=60, 50 candidates per modality


def pairs_for(
    db: ironstore.Database, raw: Any, data: Data, raw_tag: str = "raw"
) -> dict[str, tuple[Any, Any]]:
    """name -> (raw coroutine factory, ironstore coroutine factory) doing the same work.

    `raw_tag="inline"` gives a second raw side its own conversations and action sequence."""
    u = data.user
    conv_raw = data.conv_inline if raw_tag == "inline" else data.conv_raw
    turn_raw = data.turn_inline if raw_tag == "inline" else data.turn_raw
    # action sequence numbers: raw 3k, inline 3k+2, ironstore 3k+1 (one job, no collisions)
    seq_offset = 2 if raw_tag == "inline" else 0

    async def raw_add() -> None:
        await raw.add_message(conv_raw, "user", USER_TEXT)

    async def ours_add() -> None:
        await db.add_conversation_message(data.conv_ours, "user", USER_TEXT)

    async def raw_get_setting() -> None:
        await raw.get_setting(u, "preferences")

    async def ours_get_setting() -> None:
        await db.get_setting(u, "preferences")

    async def raw_set_setting() -> None:
        await raw.set_setting(u, f"preferences-{raw_tag}", SETTING_VALUE)

    async def ours_set_setting() -> None:
        await db.set_setting(u, "preferences-ours", SETTING_VALUE)

    async def raw_get_doc() -> None:
        await raw.get_document(u, data.doc_path)

    async def ours_get_doc() -> None:
        await db.get_document_by_path(u, None, data.doc_path)

    async def raw_list() -> None:
        await raw.page_messages(conv_raw, 50)

    async def ours_list() -> None:
        await db.list_conversation_messages_paginated(data.conv_ours, None, 50)

    async def raw_turn() -> None:
        data.seq[raw_tag] += 1
        cid = turn_raw
        await raw.ensure_conversation(cid, "cli", u)
        await raw.add_message(cid, "user", USER_TEXT)
        await raw.page_messages(cid, 50)
        await raw.hybrid_search(u, SEARCH_TEXT, data.query_vec)
        await raw.record_llm_call(data.job_id, cid, Decimal("0.0042"))
        await raw.add_message(cid, "assistant", ASSISTANT_TEXT)
        await raw.save_action(
            data.job_id, data.seq[raw_tag] * 3 + seq_offset, "memory_search", TOOL_ARGS, TOOL_OUTPUT
        )

    async def ours_turn() -> None:
        data.seq["ours"] += 1
        cid = data.turn_ours
        await db.ensure_conversation(cid, "cli", u)
        await db.add_conversation_message(cid, "user", USER_TEXT)
        await db.list_conversation_messages_paginated(cid, None, 50)
        await db.hybrid_search(u, None, SEARCH_TEXT, data.query_vec, SEARCH_CONFIG)
        await db.record_llm_call(
            LlmCallRecord(
                provider="openai", model="gpt-x", input_tokens=1200, output_tokens=350,
                cost=Decimal("0.0042"), job_id=data.job_id, conversation_id=cid, purpose="chat",
            )
        )
        await db.add_conversation_message(cid, "assistant", ASSISTANT_TEXT)
        await db.save_action(
            data.job_id,
            ActionRecord(
                id=uuid.uuid4(), sequence=data.seq["ours"] * 3 + 1, tool_name="memory_search",
                input=TOOL_ARGS, output_raw=TOOL_OUTPUT, duration=timedelta(milliseconds=12),
                success=True,
            ),
        )

    return {
        "add a message": (raw_add, ours_add),
        "get a setting": (raw_get_setting, ours_get_setting),
        "set a setting": (raw_set_setting, ours_set_setting),
        "get a document by path": (raw_get_doc, ours_get_doc),
        "list 50 messages": (raw_list, ours_list),
        "agent turn": (raw_turn, ours_turn),
    }
