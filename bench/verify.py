"""Check that the raw side sends exactly the SQL ironstore sends (whitespace aside)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import event

import ironstore
from ironstore import ActionRecord, LlmCallRecord

from . import raw, scenario


def _norm(sql: str) -> str:
    return " ".join(sql.replace("( ", "(").split())


async def _record(url: str) -> list[str]:
    db = await ironstore.connect(url, embedding_dimension=scenario.DIM)
    seen: list[str] = []
    try:
        await db.run_migrations()
        data = await scenario.populate(db)

        def hook(conn: object, cursor: object, statement: str, *args: object) -> None:
            seen.append(_norm(statement))

        event.listen(db.engine.sync_engine, "before_cursor_execute", hook)
        cid, u = data.turn_ours, data.user
        await db.ensure_conversation(cid, "cli", u)
        await db.add_conversation_message(cid, "user", scenario.USER_TEXT)
        await db.list_conversation_messages_paginated(cid, None, 50)
        await db.hybrid_search(u, None, scenario.SEARCH_TEXT, data.query_vec, scenario.SEARCH_CONFIG)
        await db.record_llm_call(
            LlmCallRecord(provider="p", model="m", input_tokens=1, output_tokens=1,
                          cost=Decimal("0.01"), job_id=data.job_id, conversation_id=cid, purpose="chat")
        )
        await db.save_action(
            data.job_id,
            ActionRecord(id=uuid.uuid4(), sequence=999_999, tool_name="t", input={},
                         duration=timedelta(milliseconds=1), success=True),
        )
        await db.get_setting(u, "preferences")
        await db.set_setting(u, "preferences", scenario.SETTING_VALUE)
        await db.get_document_by_path(u, None, data.doc_path)
        event.remove(db.engine.sync_engine, "before_cursor_execute", hook)
    finally:
        await db.close()
    return seen


async def check(tmp: Path, pg_url: str) -> str:
    results = []
    for backend, url, sql in (
        ("libSQL", f"sqlite+libsql:///{tmp / 'verify.db'}", raw.LIBSQL),
        ("PostgreSQL", pg_url, raw.PG),
    ):
        expected = {
            _norm(s.format(dim=scenario.DIM, bytes=4 * scenario.DIM)) for s in sql.values()
        }
        seen = await _record(url)
        # statements ironstore sends once per engine (pgvector version probe, libSQL's look-up of
        # the counters table) or once per search scope (its size) are not per call
        once = ("pg_extension", "sqlite_master", "SELECT count(*) FROM memory_chunks")
        extra = [s for s in seen if s not in expected and not any(o in s for o in once)]
        unused = sorted(s for s in expected if s not in seen and "touch_later" not in s)
        if extra:
            results.append(f"{backend}: {len(extra)} statement(s) differ: " + " | ".join(extra)[:600])
        else:
            results.append(f"{backend}: identical ({len(seen)} statements)")
        del unused
    return "; ".join(results)
