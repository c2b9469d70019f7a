"""ensure_vector_index and bulk_ingest, on both backends.

PostgreSQL: the per-dimension partial HNSW index exists after `ensure_vector_index`, the
search's own SQL is planned on it, and `bulk_ingest` drops it for the block and builds it once
at the end. libSQL has no index to maintain: both are no-ops that still validate their input.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import event, text

from ironstore import Database, SearchConfig
from ironstore.errors import InvalidInputError

Connect = Callable[..., Awaitable[Database]]
DIM = 3
INDEX = f"idx_memory_chunks_embedding_{DIM}"


async def index_definition(db: Database) -> str | None:
    """The HNSW index's definition on PostgreSQL (None: absent); libSQL: always None."""
    if db.backend != "postgres":
        return None
    async with db.engine.connect() as conn:
        row = (await conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": INDEX})).first()
    return None if row is None else str(row[0])


async def load(db: Database, user: str, count: int, start: int = 0) -> None:
    doc = await db.get_or_create_document_by_path(user, None, f"notes/{user}-{start}.md")
    await db.insert_chunks(doc.id, [(i, f"chunk {i}", [1.0, i / 100.0, 0.5]) for i in range(start, start + count)])


async def nearest(db: Database, user: str = "u") -> list[str]:
    out = await db.hybrid_search(user, None, "", [1.0, 0.0, 0.5], SearchConfig(limit=3).vector_only())
    return [r.content for r in out]


async def test_ensure_vector_index(ironstore_connect: Connect) -> None:
    db = await ironstore_connect(embedding_dimension=DIM)
    await db.ensure_vector_index(DIM)
    await db.ensure_vector_index(DIM)  # idempotent
    definition = await index_definition(db)
    if db.backend == "postgres":
        assert definition is not None
        assert "USING hnsw" in definition and "vector_cosine_ops" in definition
        assert "vector_dims(embedding) = 3" in definition  # partial: one dimension only
    else:
        assert definition is None  # exact scan / in-process copy: nothing to build
    for bad in (0, -1, 65537, "3", 2.5, None):
        with pytest.raises(InvalidInputError):
            await db.ensure_vector_index(bad)  # type: ignore[arg-type]


async def test_search_sql_is_planned_on_the_index(ironstore_connect: Connect) -> None:
    db = await ironstore_connect(embedding_dimension=DIM)
    if db.backend != "postgres":
        pytest.skip("libSQL has no vector index: its vector search is an exact scan (module docstring)")
    await db.ensure_vector_index(DIM)
    await load(db, "u", 300)
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "<=>" in statement:
            seen.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        assert await nearest(db) == ["chunk 0", "chunk 1", "chunk 2"]
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    (statement, parameters), = seen
    async with db.engine.begin() as conn:
        # 300 rows: an exact sort is cheaper; without it, only the index yields the ORDER BY
        await conn.exec_driver_sql("SET LOCAL enable_sort = off")
        plan = "\n".join(r[0] for r in await conn.exec_driver_sql("EXPLAIN " + statement, parameters))
    assert f"Index Scan using {INDEX}" in plan, plan


async def test_bulk_ingest_rebuilds_the_index_once(ironstore_connect: Connect) -> None:
    db = await ironstore_connect(embedding_dimension=DIM)
    await db.ensure_vector_index(DIM)
    before = await index_definition(db)
    async with db.bulk_ingest():
        assert await index_definition(db) is None  # dropped for the block (PG) / never there
        await load(db, "u", 50)
        async with db.bulk_ingest():  # nested: shares the outer block's drop and build
            await load(db, "u", 50, start=50)
        assert await index_definition(db) is None
        assert await nearest(db) == ["chunk 0", "chunk 1", "chunk 2"]  # exact meanwhile
    assert await index_definition(db) == before  # the same index again (PG), nothing (libSQL)
    assert await nearest(db) == ["chunk 0", "chunk 1", "chunk 2"]
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM memory_chunks"))).scalar_one() == 100


async def test_bulk_ingest_rebuilds_after_an_error(ironstore_connect: Connect) -> None:
    db = await ironstore_connect(embedding_dimension=DIM)
    await db.ensure_vector_index(DIM)
    before = await index_definition(db)
    with pytest.raises(RuntimeError, match="stop"):
        async with db.bulk_ingest(maintenance_work_mem_mb=64):
            await load(db, "u", 10)
            raise RuntimeError("stop")
    assert await index_definition(db) == before
    assert await nearest(db) == ["chunk 0", "chunk 1", "chunk 2"]  # what was written stays


async def test_bulk_ingest_without_an_index_builds_none(ironstore_connect: Connect) -> None:
    db = await ironstore_connect(embedding_dimension=DIM)
    async with db.bulk_ingest():
        await load(db, "u", 5)
    assert await index_definition(db) is None
    assert await nearest(db) == ["chunk 0", "chunk 1", "chunk 2"]
    plain = await ironstore_connect()  # no dimension configured: nothing to suspend
    async with plain.bulk_ingest():
        pass


async def test_bulk_ingest_bad_input_changes_nothing(ironstore_connect: Connect) -> None:
    db = await ironstore_connect(embedding_dimension=DIM)
    await db.ensure_vector_index(DIM)
    before = await index_definition(db)
    for bad in (0, -5, "64", 1.5, True):
        with pytest.raises(InvalidInputError):
            async with db.bulk_ingest(maintenance_work_mem_mb=bad):  # type: ignore[arg-type]
                pytest.fail("the block must not run")
    assert await index_definition(db) == before


async def test_connection_opened_before_the_extension_binds_vectors(blank_url: str) -> None:
    """PG: one pooled connection, opened before the migration creates pgvector's type; it
    registers the binary vector codec on its next checkout. libSQL: the same calls work."""
    from sqlalchemy.pool import AsyncAdaptedQueuePool

    import ironstore

    db = await ironstore.connect(
        blank_url, embedding_dimension=DIM, poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0
    )
    try:
        async with db.engine.connect() as conn:  # the pool's one connection exists now
            await conn.execute(text("SELECT 1"))
        await db.run_migrations()
        await load(db, "u", 5)
        assert await nearest(db) == ["chunk 0", "chunk 1", "chunk 2"]
        async with db.engine.connect() as conn:
            stored = (await conn.execute(text("SELECT count(*) FROM memory_chunks WHERE embedding IS NOT NULL"))).scalar_one()
        assert stored == 5
    finally:
        await db.close()
