"""The raw-driver side: the SQL ironstore sends, written by hand against asyncpg / libSQL.

This is the floor a Python data layer can reach: no validation, no type conversion beyond
what the driver needs, rows returned as the driver gives them. The SQL strings are the ones
ironstore sends (`bench/verify.py` checks that statement by statement).

How each raw client runs:
- asyncpg: one connection held for the whole benchmark (no pool); a single-statement operation
  is one `fetch` / `execute` (asyncpg's own prepared-statement cache, no transaction); an
  operation of several statements runs in `async with conn.transaction()` (BEGIN ... COMMIT).
- libsql_experimental: the driver is synchronous and its connections are bound to the thread
  that opened them, so the client owns one worker thread (a one-thread executor) and awaits
  every driver call through `loop.run_in_executor` - the way a fair asyncio client of a
  synchronous driver works (like aiosqlite). One hop per statement, rows fetched in the same
  hop; a single-statement operation runs in autocommit mode (one hop); a multi-statement one
  sends `BEGIN` / `BEGIN IMMEDIATE` in the hop of its first statement and `COMMIT` in a hop
  of its own.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

ONE_MS = timedelta(milliseconds=1)


def now_ms() -> datetime:
    n = datetime.now(UTC)
    return n.replace(microsecond=n.microsecond - n.microsecond % 1000)


def ts_text(v: datetime) -> str:
    return v.strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}Z"


def rrf(fts: list[Any], vec: list[Any], limit: int, k: int = 60) -> list[tuple[Any, float]]:
    """Reciprocal-rank fusion of two ranked row lists keyed by their first column (chunk id)."""
    scores: dict[Any, float] = {}
    for ranked in (fts, vec):
        for rank, row in enumerate(ranked, start=1):
            scores[row[0]] = scores.get(row[0], 0.0) + 1.0 / (k + rank)
    best = max(scores.values(), default=1.0)
    return sorted(((cid, s / best) for cid, s in scores.items()), key=lambda x: (-x[1], str(x[0])))[:limit]


# ============================================================================ SQL (PostgreSQL)

PG = {
    "ensure": (
        "INSERT INTO conversations (id, channel, user_id, thread_id, started_at, last_activity, metadata) "
        "VALUES ($1::UUID, $2::VARCHAR, $3::VARCHAR, $4::VARCHAR, $5::TIMESTAMP WITH TIME ZONE, "
        "$6::TIMESTAMP WITH TIME ZONE, $7::JSONB) ON CONFLICT (id) DO UPDATE SET last_activity = "
        "CASE WHEN (conversations.last_activity < $8::TIMESTAMP WITH TIME ZONE) THEN $8::TIMESTAMP "
        "WITH TIME ZONE ELSE conversations.last_activity END WHERE conversations.user_id = $9::VARCHAR "
        "AND conversations.channel = $10::VARCHAR RETURNING conversations.id"
    ),
    "touch": (
        "UPDATE conversations SET last_activity=CASE WHEN (conversations.last_activity < "
        "$1::TIMESTAMP WITH TIME ZONE) THEN $1::TIMESTAMP WITH TIME ZONE ELSE "
        "conversations.last_activity END WHERE conversations.id = $2::UUID RETURNING conversations.id"
    ),
    "newest": (
        "SELECT max(conversation_messages.created_at) AS max_1 FROM conversation_messages "
        "WHERE conversation_messages.conversation_id = $1::UUID"
    ),
    "insert_message": (
        "INSERT INTO conversation_messages (id, conversation_id, role, content, created_at) VALUES "
        "($1::UUID, $2::UUID, $3::VARCHAR, $4::VARCHAR, $5::TIMESTAMP WITH TIME ZONE)"
    ),
    "touch_later": (
        "UPDATE conversations SET last_activity=CASE WHEN (conversations.last_activity < "
        "$1::TIMESTAMP WITH TIME ZONE) THEN $1::TIMESTAMP WITH TIME ZONE ELSE "
        "conversations.last_activity END WHERE conversations.id = $2::UUID"
    ),
    "page": (
        "SELECT conversation_messages.id, conversation_messages.role, conversation_messages.content, "
        "conversation_messages.created_at FROM conversation_messages WHERE "
        "conversation_messages.conversation_id = $1::UUID ORDER BY conversation_messages.created_at "
        "DESC, conversation_messages.id DESC LIMIT $2::INTEGER"
    ),
    "get_setting": (
        "SELECT settings.key, settings.value, settings.updated_at FROM settings WHERE "
        "settings.user_id = $1::VARCHAR AND settings.key = $2::VARCHAR"
    ),
    "set_setting": (
        "INSERT INTO settings (user_id, key, value, updated_at) VALUES ($1::VARCHAR, $2::VARCHAR, "
        "$3::JSONB, $4::TIMESTAMP WITH TIME ZONE) ON CONFLICT (user_id, key) DO UPDATE SET value = "
        "excluded.value, updated_at = excluded.updated_at"
    ),
    "get_document": (
        "SELECT memory_documents.id, memory_documents.user_id, memory_documents.agent_id, "
        "memory_documents.path, memory_documents.content, memory_documents.created_at, "
        "memory_documents.updated_at, memory_documents.metadata FROM memory_documents WHERE "
        "memory_documents.user_id = $1::VARCHAR AND memory_documents.agent_id IS NULL AND "
        "memory_documents.path = $2::VARCHAR ORDER BY memory_documents.created_at, "
        "memory_documents.id LIMIT $3::INTEGER"
    ),
    "fts": (
        "SELECT c.id AS chunk_id, c.document_id AS document_id, d.path AS document_path, c.content "
        "AS content, d.user_id AS user_id, d.agent_id AS agent_id, c.chunk_index AS chunk_index, "
        "ts_rank_cd(c.content_tsv, q.q) AS score FROM memory_chunks AS c JOIN memory_documents AS d "
        "ON d.id = c.document_id, plainto_tsquery('english', $1::VARCHAR) AS q(q) WHERE d.user_id IN "
        "($3::VARCHAR) AND d.agent_id IS NULL AND c.content_tsv @@ q.q ORDER BY score DESC, c.id "
        "LIMIT $2::INTEGER"
    ),
    "hnsw": (
        "SELECT set_config('hnsw.ef_search', $1, true), "
        "set_config('hnsw.iterative_scan', 'relaxed_order', true)"
    ),
    "vector": (
        "SELECT c.id AS chunk_id, c.document_id AS document_id, d.path AS document_path, c.content "
        "AS content, d.user_id AS user_id, d.agent_id AS agent_id, c.chunk_index AS chunk_index, "
        "(c.embedding::vector({dim})) <=> CAST($1 AS vector({dim})) AS distance FROM "
        "memory_chunks AS c JOIN memory_documents AS d ON d.id = c.document_id WHERE d.user_id IN "
        "($3::VARCHAR) AND d.agent_id IS NULL AND c.embedding IS NOT NULL AND "
        "vector_dims(c.embedding) = {dim} ORDER BY distance LIMIT $2::INTEGER"
    ),
    "llm_call": (
        "INSERT INTO llm_calls (id, job_id, conversation_id, provider, model, input_tokens, "
        "output_tokens, cost, purpose, created_at) VALUES ($1::UUID, $2::UUID, $3::UUID, $4::VARCHAR, "
        "$5::VARCHAR, $6::INTEGER, $7::INTEGER, $8::NUMERIC, $9::VARCHAR, $10::TIMESTAMP WITH TIME "
        "ZONE) ON CONFLICT (id) DO NOTHING"
    ),
    "action": (
        "INSERT INTO job_actions (id, job_id, sequence_num, tool_name, input, output_raw, "
        "output_sanitized, sanitization_warnings, cost, duration_ms, success, error_message, "
        "created_at) VALUES ($1::UUID, $2::UUID, $3::INTEGER, $4::VARCHAR, $5::JSONB, $6::VARCHAR, "
        "$7::JSONB, $8::JSONB, $9::NUMERIC, $10::INTEGER, $11::BOOLEAN, $12::VARCHAR, "
        "$13::TIMESTAMP WITH TIME ZONE) ON CONFLICT (id) DO NOTHING RETURNING job_actions.id"
    ),
}

# ============================================================================ SQL (libSQL)

LIBSQL = {
    "ensure": (
        "INSERT INTO conversations (id, channel, user_id, thread_id, started_at, last_activity, metadata) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET last_activity = CASE WHEN "
        "(conversations.last_activity < ?) THEN ? ELSE conversations.last_activity END WHERE "
        "conversations.user_id = ? AND conversations.channel = ? RETURNING id"
    ),
    "touch": (
        "UPDATE conversations SET last_activity=CASE WHEN (conversations.last_activity < ?) THEN ? "
        "ELSE conversations.last_activity END WHERE conversations.id = ? RETURNING id"
    ),
    "newest": (
        "SELECT max(conversation_messages.created_at) AS max_1 FROM conversation_messages WHERE "
        "conversation_messages.conversation_id = ?"
    ),
    "insert_message": (
        "INSERT INTO conversation_messages (id, conversation_id, role, content, created_at) VALUES "
        "(?, ?, ?, ?, ?)"
    ),
    "touch_later": (
        "UPDATE conversations SET last_activity=CASE WHEN (conversations.last_activity < ?) THEN ? "
        "ELSE conversations.last_activity END WHERE conversations.id = ?"
    ),
    "page": (
        "SELECT conversation_messages.id, conversation_messages.role, conversation_messages.content, "
        "conversation_messages.created_at FROM conversation_messages WHERE "
        "conversation_messages.conversation_id = ? ORDER BY conversation_messages.created_at DESC, "
        "conversation_messages.id DESC LIMIT ? OFFSET ?"
    ),
    "get_setting": (
        'SELECT settings."key", settings.value, settings.updated_at FROM settings WHERE '
        'settings.user_id = ? AND settings."key" = ?'
    ),
    "set_setting": (
        'INSERT INTO settings (user_id, "key", value, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT '
        '(user_id, "key") DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at'
    ),
    "get_document": (
        "SELECT memory_documents.id, memory_documents.user_id, memory_documents.agent_id, "
        "memory_documents.path, memory_documents.content, memory_documents.created_at, "
        "memory_documents.updated_at, memory_documents.metadata FROM memory_documents WHERE "
        "memory_documents.user_id = ? AND memory_documents.agent_id IS NULL AND "
        "memory_documents.path = ? ORDER BY memory_documents.created_at, memory_documents.id "
        "LIMIT ? OFFSET ?"
    ),
    "fts": (
        "SELECT c.id AS chunk_id, c.document_id AS document_id, d.path AS document_path, c.content "
        "AS content, d.user_id AS user_id, d.agent_id AS agent_id, c.chunk_index AS chunk_index, "
        "-bm25(memory_chunks_fts) AS score FROM memory_chunks_fts JOIN memory_chunks AS c ON "
        "c._rowid = memory_chunks_fts.rowid JOIN memory_documents AS d ON d.id = c.document_id "
        "WHERE memory_chunks_fts MATCH ? AND d.user_id IN (?) AND d.agent_id IS NULL ORDER BY "
        "bm25(memory_chunks_fts), c.id LIMIT ?"
    ),
    "counters": "SELECT user_id, epoch, appends FROM ironstore_workspace_epoch WHERE user_id IN (?)",
    "vector": (
        "SELECT c.id AS chunk_id, c.document_id AS document_id, d.path AS document_path, c.content "
        "AS content, d.user_id AS user_id, d.agent_id AS agent_id, c.chunk_index AS chunk_index, "
        "vector_distance_cos(c.embedding, ?) AS distance FROM memory_chunks AS c JOIN "
        "memory_documents AS d ON d.id = c.document_id WHERE d.user_id IN (?) AND d.agent_id IS "
        "NULL AND c.embedding IS NOT NULL AND length(c.embedding) = {bytes} ORDER BY distance, c.id "
        "LIMIT ?"
    ),
    "llm_call": (
        "INSERT INTO llm_calls (id, job_id, conversation_id, provider, model, input_tokens, "
        "output_tokens, cost, purpose, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
        "(id) DO NOTHING"
    ),
    "action": (
        "INSERT INTO job_actions (id, job_id, sequence_num, tool_name, input, output_raw, "
        "output_sanitized, sanitization_warnings, cost, duration_ms, success, error_message, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING "
        "RETURNING id"
    ),
}


def fts5_match(text: str) -> str:
    """The FTS5 query ironstore builds: quoted terms, English stop words dropped."""
    from ironstore.search.fulltext import ENGLISH_STOP_WORDS

    terms = [
        '"' + t.replace('"', '""') + '"'
        for t in text.split()
        if any(ch.isalnum() for ch in t) and t.lower() not in ENGLISH_STOP_WORDS
    ]
    return " ".join(terms)


# ============================================================================ clients


class RawPG:
    """asyncpg, one connection, the SQL above."""

    def __init__(self, conn: Any, dim: int) -> None:
        self.conn = conn
        self.vector_sql = PG["vector"].format(dim=dim)

    @classmethod
    async def open(cls, dsn: str, dim: int) -> RawPG:
        import asyncpg
        from pgvector.asyncpg import register_vector

        conn = await asyncpg.connect(dsn)
        await register_vector(conn)  # vectors in binary, as ironstore sends them
        return cls(conn, dim)

    async def close(self) -> None:
        await self.conn.close()

    async def ensure_conversation(self, cid: uuid.UUID, channel: str, user: str) -> bool:
        now = now_ms()
        row = await self.conn.fetchrow(PG["ensure"], cid, channel, user, None, now, now, "{}", now, user, channel)
        return row is not None

    async def add_message(self, cid: uuid.UUID, role: str, content: str) -> uuid.UUID:
        c = self.conn
        async with c.transaction():
            now = now_ms()
            if await c.fetchrow(PG["touch"], now, cid) is None:
                raise LookupError(cid)
            newest = await c.fetchval(PG["newest"], cid)
            created = now if newest is None or newest < now else newest + ONE_MS
            mid = uuid.uuid4()
            await c.execute(PG["insert_message"], mid, cid, role, content, created)
            if created != now:
                await c.execute(PG["touch_later"], created, cid)
        return mid

    async def page_messages(self, cid: uuid.UUID, limit: int) -> tuple[list[Any], bool]:
        rows = await self.conn.fetch(PG["page"], cid, limit + 1)
        more = len(rows) > limit
        page = rows[:limit]
        page.reverse()
        return page, more

    async def get_setting(self, user: str, key: str) -> Any:
        row = await self.conn.fetchrow(PG["get_setting"], user, key)
        return None if row is None else json.loads(row[1])

    async def set_setting(self, user: str, key: str, value: Any) -> None:
        await self.conn.execute(PG["set_setting"], user, key, json.dumps(value), now_ms())

    async def get_document(self, user: str, path: str) -> Any:
        return await self.conn.fetchrow(PG["get_document"], user, path, 1)

    async def hybrid_search(self, user: str, query: str, embedding: list[float], limit: int = 10) -> list[Any]:
        import numpy as np

        c = self.conn
        qvec = np.asarray(embedding, dtype=np.float32)
        async with c.transaction():
            fts = await c.fetch(PG["fts"], query, 50, user)
            await c.fetchrow(PG["hnsw"], "400")  # ironstore: twice the candidates, at least 400
            # ORDER BY distance alone (so the HNSW index can serve it), twice the rows, ties by id here
            vec = sorted(await c.fetch(self.vector_sql, qvec, 100, user), key=lambda r: (r["distance"], str(r["chunk_id"])))[:50]
        return rrf(fts, vec, limit)

    async def record_llm_call(self, job_id: uuid.UUID, conv_id: uuid.UUID | None, cost: Decimal) -> uuid.UUID:
        cid = uuid.uuid4()
        await self.conn.execute(
            PG["llm_call"], cid, job_id, conv_id, "openai", "gpt-x", 1200, 350, cost, "chat", now_ms()
        )
        return cid

    async def save_action(self, job_id: uuid.UUID, seq: int, tool: str, args: Any, output: str) -> None:
        await self.conn.fetchrow(
            PG["action"], uuid.uuid4(), job_id, seq, tool, json.dumps(args), output, None, "[]",
            None, 12, True, None, now_ms(),
        )


class RawLibSQL:
    """libsql_experimental on one worker thread, the SQL above."""

    def __init__(self, worker: ThreadPoolExecutor, conn: Any, dim: int) -> None:
        self.worker = worker
        self.conn = conn
        self.vector_sql = LIBSQL["vector"].format(bytes=4 * dim)

    @classmethod
    async def open(cls, path: str, dim: int) -> RawLibSQL:
        import libsql_experimental as libsql

        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raw-libsql")

        def _open() -> Any:
            conn = libsql.connect(path, isolation_level=None)
            for pragma in (
                "PRAGMA busy_timeout = 5000",
                "PRAGMA foreign_keys = ON",
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = NORMAL",
            ):
                conn.execute(pragma).fetchall()
            return conn

        conn = await asyncio.get_running_loop().run_in_executor(worker, _open)
        return cls(worker, conn, dim)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.worker, self.conn.close)
        self.worker.shutdown()

    # -- the async surface: one hop per statement
    def _exec(self, begin: str | None, sql: str, params: tuple[Any, ...]) -> list[Any]:
        if begin is not None:
            self.conn.execute(begin)
        cur = self.conn.execute(sql, params)
        return cur.fetchall() if cur.description else []

    async def one(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return await asyncio.get_running_loop().run_in_executor(self.worker, self._exec, None, sql, params)

    async def first(self, begin: str, sql: str, params: tuple[Any, ...]) -> list[Any]:
        return await asyncio.get_running_loop().run_in_executor(self.worker, self._exec, begin, sql, params)

    async def commit(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.worker, self.conn.execute, "COMMIT")

    async def rollback(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.worker, self.conn.execute, "ROLLBACK")

    # -- operations
    async def ensure_conversation(self, cid: uuid.UUID, channel: str, user: str) -> bool:
        now = ts_text(now_ms())
        rows = await self.one(LIBSQL["ensure"], (str(cid), channel, user, None, now, now, "{}", now, now, user, channel))
        return bool(rows)

    async def add_message(self, cid: uuid.UUID, role: str, content: str) -> uuid.UUID:
        now_dt = now_ms()
        now = ts_text(now_dt)
        sid = str(cid)
        try:
            if not await self.first("BEGIN IMMEDIATE", LIBSQL["touch"], (now, now, sid)):
                raise LookupError(cid)
            newest = (await self.one(LIBSQL["newest"], (sid,)))[0][0]
            if newest is None or newest < now:
                created = now
            else:
                created = ts_text(datetime.fromisoformat(newest) + ONE_MS)
            mid = uuid.uuid4()
            await self.one(LIBSQL["insert_message"], (str(mid), sid, role, content, created))
            if created != now:
                await self.one(LIBSQL["touch_later"], (created, created, sid))
            await self.commit()
        except BaseException:
            await self.rollback()
            raise
        return mid

    async def page_messages(self, cid: uuid.UUID, limit: int) -> tuple[list[Any], bool]:
        rows = await self.one(LIBSQL["page"], (str(cid), limit + 1, 0))
        more = len(rows) > limit
        page = rows[:limit]
        page.reverse()
        return page, more

    async def get_setting(self, user: str, key: str) -> Any:
        rows = await self.one(LIBSQL["get_setting"], (user, key))
        return json.loads(rows[0][1]) if rows else None

    async def set_setting(self, user: str, key: str, value: Any) -> None:
        await self.one(LIBSQL["set_setting"], (user, key, json.dumps(value), ts_text(now_ms())))

    async def get_document(self, user: str, path: str) -> Any:
        rows = await self.one(LIBSQL["get_document"], (user, path, 1, 0))
        return rows[0] if rows else None

    async def hybrid_search(self, user: str, query: str, embedding: list[float], limit: int = 10) -> list[Any]:
        import numpy as np

        qvec = np.asarray(embedding, dtype="<f4").tobytes()
        try:
            fts = await self.first("BEGIN", LIBSQL["fts"], (fts5_match(query), user, 50))
            # the scope's change counters, which ironstore reads to know whether its in-process
            # vectors are current (a 200-chunk scope is below the cache size: the SQL scan follows)
            await self.one(LIBSQL["counters"], (user,))
            vec = await self.one(self.vector_sql, (qvec, user, 50))
            await self.commit()
        except BaseException:
            await self.rollback()
            raise
        return rrf(fts, vec, limit)

    async def record_llm_call(self, job_id: uuid.UUID, conv_id: uuid.UUID | None, cost: Decimal) -> uuid.UUID:
        cid = uuid.uuid4()
        await self.one(
            LIBSQL["llm_call"],
            (str(cid), str(job_id), None if conv_id is None else str(conv_id), "openai", "gpt-x",
             1200, 350, format(cost, "f"), "chat", ts_text(now_ms())),
        )
        return cid

    async def save_action(self, job_id: uuid.UUID, seq: int, tool: str, args: Any, output: str) -> None:
        await self.one(
            LIBSQL["action"],
            (str(uuid.uuid4()), str(job_id), seq, tool, json.dumps(args), output, None, "[]", None,
             12, 1, None, ts_text(now_ms())),
        )


class RawLibSQLInline(RawLibSQL):
    """The same client with every driver call made directly on the event-loop thread (no hop).

    Not what the brief calls a fair async client (it blocks the loop for each call), but it is
    the true floor: the driver holds the GIL during every call anyway, so this is what any
    Python code on the libSQL driver can reach. ironstore's adapter works this way for files.
    """

    async def one(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self._exec(None, sql, params)

    async def first(self, begin: str, sql: str, params: tuple[Any, ...]) -> list[Any]:
        return self._exec(begin, sql, params)

    async def commit(self) -> None:
        self.conn.execute("COMMIT")

    async def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    @classmethod
    async def open(cls, path: str, dim: int) -> RawLibSQL:
        import libsql_experimental as libsql

        conn = libsql.connect(path, isolation_level=None)
        for pragma in (
            "PRAGMA busy_timeout = 5000",
            "PRAGMA foreign_keys = ON",
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = NORMAL",
        ):
            conn.execute(pragma).fetchall()
        return cls(ThreadPoolExecutor(max_workers=1), conn, dim)

    async def close(self) -> None:
        self.conn.close()
        self.worker.shutdown()
