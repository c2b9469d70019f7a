"""Vector candidates: exact top-k by cosine distance within the scope(s), before the limit.

PostgreSQL: the column stays an unbounded `vector`; rows are restricted with
`vector_dims(embedding) = N` and ordered by `(embedding::vector(N)) <=> q` — exactly the
expression and predicate of the partial HNSW index `ensure_vector_index(N)` creates
(`halfvec(N)` above 2,000 dimensions, pgvector >= 0.7), so the planner may use the index for
large scopes and an exact scan for small ones. With the index, `hnsw.ef_search` is raised to the
candidate count and (pgvector >= 0.8) iterative scans are enabled; rows are re-sorted by
(distance, id) in Python either way.

libSQL: an exact scan over the scope's vectors in SQL (`vector_distance_cos` on the stored
little-endian float32 blobs, `length(embedding) = 4 * N`). Why: the DiskANN index
(`vector_top_k`) is global, so scope filtering after top-k loses in-scope candidates, its
inserts are slow (~12 ms/row in IronClaw at 20k rows, far below the 2,000 chunks/s ingest
target), and an exact scan restricted by the scope's documents is exact (recall 1.0) and fast
enough for personal-workspace sizes. The distance runs inside the database, so no vectors are
transferred to Python.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Float, Integer, LargeBinary, Text, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import TypeEngine

from ..records.workspace import RankedResult
from ..types import Embedding, UUIDType
from ._scope import CANDIDATE_COLUMNS, scope_sql

__all__ = ["HNSW_VECTOR_MAX", "ensure_vector_index", "ensure_vector_index_sql", "pgvector_version", "vector_candidates"]

HNSW_VECTOR_MAX = 2000
HNSW_HALFVEC_MAX = 4000

_versions: weakref.WeakKeyDictionary[Any, tuple[int, ...]] = weakref.WeakKeyDictionary()


async def pgvector_version(conn: AsyncConnection) -> tuple[int, ...]:
    """The installed pgvector version (cached per engine)."""
    key = conn.sync_engine
    found = _versions.get(key)
    if found is None:
        row = (
            await conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'"))
        ).first()
        raw = str(row[0]) if row else "0"
        found = tuple(int(p) for p in raw.split(".") if p.isdigit())
        _versions[key] = found
    return found


def _pg_cast(dimension: int, version: tuple[int, ...]) -> tuple[str, str]:
    """(type expression, index opclass) for one dimension, or ('', '') when no index applies."""
    if dimension <= HNSW_VECTOR_MAX:
        return f"vector({dimension})", "vector_cosine_ops"
    if dimension <= HNSW_HALFVEC_MAX and version >= (0, 7):
        return f"halfvec({dimension})", "halfvec_cosine_ops"
    return "", ""


def ensure_vector_index_sql(dimension: int, version: tuple[int, ...]) -> list[str]:
    """PG DDL for the per-dimension partial HNSW expression index (none above the limits)."""
    cast, ops = _pg_cast(dimension, version)
    if not cast:
        return []
    return [
        (
        f"CREATE INDEX IF NOT EXISTS idx_memory_chunks_embedding_{dimension} ON memory_chunks "
        f"USING hnsw ((embedding::{cast}) {ops}) WITH (m = 16, ef_construction = 64) "
        f"WHERE vector_dims(embedding) = {dimension}"
        )
    ]


async def ensure_vector_index(conn: AsyncConnection, dialect: str, dimension: int) -> None:
    """PG: create the partial HNSW index for `dimension`; libSQL: nothing (exact scan)."""
    if dialect != "postgresql":
        return
    for ddl in ensure_vector_index_sql(dimension, await pgvector_version(conn)):
        await conn.exec_driver_sql(ddl)


_TYPES: dict[str, TypeEngine[Any]] = {
    "chunk_id": UUIDType(),
    "document_id": UUIDType(),
    "agent_id": UUIDType(),
    "document_path": Text(),
    "content": Text(),
    "user_id": Text(),
    "chunk_index": Integer(),
    "distance": Float(),
}


async def vector_candidates(
    conn: AsyncConnection,
    dialect: str,
    user_ids: Sequence[str],
    agent_id: uuid.UUID | None,
    query_vector: np.ndarray,
    limit: int,
) -> list[RankedResult]:
    """Up to `limit` nearest chunks (cosine distance, ties by chunk id) of the scope(s)."""
    if limit < 1 or not user_ids:
        return []
    dim = int(query_vector.size)
    where, params = scope_sql(user_ids, agent_id)
    if dialect == "postgresql":
        version = await pgvector_version(conn)
        cast, _ = _pg_cast(dim, version)
        if cast:
            distance = f"(c.embedding::{cast}) <=> CAST(CAST(:qvec AS vector) AS {cast})"
            await conn.execute(text(f"SET LOCAL hnsw.ef_search = {min(1000, max(200, 2 * limit))}"))
            if version >= (0, 8):
                await conn.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
        else:
            distance = "c.embedding <=> CAST(:qvec AS vector)"
        qparam: BindParameter[Any] = bindparam("qvec", query_vector, type_=Embedding())
        sql = (
            f"SELECT {CANDIDATE_COLUMNS}, {distance} AS distance "
            "FROM memory_chunks AS c JOIN memory_documents AS d ON d.id = c.document_id "
            f"WHERE {where} AND c.embedding IS NOT NULL AND vector_dims(c.embedding) = {dim} "
            # distance alone: a second sort key would stop the planner from using the HNSW
            # index for the ORDER BY ... LIMIT. Twice the rows are fetched and ties broken by
            # id in Python below, so equal distances at the cut are still chosen by id.
            "ORDER BY distance LIMIT :vec_fetch"
        )
    else:
        qparam = bindparam("qvec", query_vector.astype("<f4").tobytes(), type_=LargeBinary())
        sql = (
            f"SELECT {CANDIDATE_COLUMNS}, vector_distance_cos(c.embedding, :qvec) AS distance "
            "FROM memory_chunks AS c JOIN memory_documents AS d ON d.id = c.document_id "
            f"WHERE {where} AND c.embedding IS NOT NULL AND length(c.embedding) = {4 * dim} "
            "ORDER BY distance, c.id LIMIT :vec_limit"
        )
    row_limit: BindParameter[int] = bindparam("vec_fetch", 2 * limit) if dialect == "postgresql" else bindparam("vec_limit", limit)
    stmt = text(sql).bindparams(*params, qparam, row_limit).columns(**_TYPES)
    rows = [r._mapping for r in (await conn.execute(stmt)).all()]
    rows.sort(key=lambda m: (float(m["distance"]), str(m["chunk_id"])))
    del rows[limit:]
    return [
        RankedResult(
            chunk_id=m["chunk_id"],
            document_id=m["document_id"],
            document_path=m["document_path"],
            content=m["content"],
            rank=i,
            user_id=m["user_id"],
            agent_id=m["agent_id"],
            chunk_index=m["chunk_index"],
            score=float(m["distance"]),
        )
        for i, m in enumerate(rows, start=1)
    ]
