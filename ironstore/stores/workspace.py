"""Memory documents, chunks and hybrid search (spec: stores-workspace-search.md).

Dialect-neutral: the per-dialect candidate queries live in `ironstore.search`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np
from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from ..errors import DocumentNotFoundError, InvalidInputError
from ..records.workspace import (
    FusionStrategy,
    MemoryChunk,
    MemoryDocument,
    SearchConfig,
    SearchResult,
    WorkspaceEntry,
)
from ..schema import memory_chunks, memory_documents
from ..search import fts_candidates, fuse_results, vector_candidates
from ..search.vector import build_vector_index, drop_vector_index, ensure_vector_index
from ..sql import byte_order, embedding_dims
from ..types import INT32_MAX, check_text, check_vector, coerce_uuid
from ._base import StoreBase

__all__ = [
    "ChunkInput",
    "WorkspaceRepository",
    "WorkspaceStore",
    "merge_workspace_entries",
    "normalize_directory",
    "normalize_path",
]

log = logging.getLogger("ironstore.workspace")

Embedding = Sequence[float]
ChunkInput = tuple[int, str, "Embedding | None"]

PREVIEW_CHARS = 200

# Unicode White_Space only (str.strip() would also strip U+001C–U+001F).
_WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def normalize_path(path: str) -> str:
    """Strip Unicode whitespace and leading/trailing `/`, collapse runs of `/` (no `.`/`..` handling)."""
    p = check_text(path, "path").strip(_WHITE_SPACE).strip("/")
    while "//" in p:
        p = p.replace("//", "/")
    return p


def normalize_directory(path: str) -> str:
    """`normalize_path` for directories: `""` and `"/"` both mean the root `""`."""
    return normalize_path(path).rstrip("/")


def merge_workspace_entries(entries: Iterable[WorkspaceEntry]) -> list[WorkspaceEntry]:
    """Deduplicate entries by path (newest wins, directory wins), sorted by code point order."""
    merged: dict[str, WorkspaceEntry] = {}
    for e in entries:
        kept = merged.get(e.path)
        if kept is None:
            merged[e.path] = e
            continue
        updated, preview, is_dir = kept.updated_at, kept.content_preview, kept.is_directory
        if e.updated_at is not None and (updated is None or e.updated_at > updated):
            updated, preview = e.updated_at, e.content_preview
        if e.is_directory:
            is_dir = True
        merged[e.path] = WorkspaceEntry(e.path, is_dir, updated, None if is_dir else preview)
    return [
        (WorkspaceEntry(e.path, True, e.updated_at, None) if e.is_directory else e)
        for e in sorted(merged.values(), key=lambda x: x.path)
    ]


# ---- validation -------------------------------------------------------------------------------


def _user(user_id: object) -> str:
    return check_text(user_id, "user_id")


def _agent(agent_id: object) -> uuid.UUID | None:
    return None if agent_id is None else coerce_uuid(agent_id, "agent_id")


def _users(user_ids: object) -> list[str]:
    if isinstance(user_ids, (str, bytes)) or not isinstance(user_ids, Sequence):
        raise InvalidInputError("user_ids must be a sequence of str")
    return [_user(u) for u in user_ids]


def _int(value: object, what: str, lo: int, hi: int = INT32_MAX) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInputError(f"{what} must be an int, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise InvalidInputError(f"invalid argument: {what} must be in {lo}..{hi}, got {value}")
    return value


def _config(config: object) -> SearchConfig:
    if not isinstance(config, SearchConfig):
        raise InvalidInputError("config must be a SearchConfig")
    _int(config.limit, "config.limit", 0)
    _int(config.rrf_k, "config.rrf_k", 0)
    _int(config.pre_fusion_limit, "config.pre_fusion_limit", 0)
    for flag in ("use_fts", "use_vector"):
        if not isinstance(getattr(config, flag), bool):
            raise InvalidInputError(f"config.{flag} must be a bool")
    if not isinstance(config.fusion_strategy, FusionStrategy):
        raise InvalidInputError("config.fusion_strategy must be a FusionStrategy")
    for number in ("min_score", "fts_weight", "vector_weight"):
        value = getattr(config, number)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise InvalidInputError(f"config.{number} must be a finite number >= 0, got {value!r:.40}")
    return config


_DOC_COLS = (
    memory_documents.c.id,
    memory_documents.c.user_id,
    memory_documents.c.agent_id,
    memory_documents.c.path,
    memory_documents.c.content,
    memory_documents.c.created_at,
    memory_documents.c.updated_at,
    memory_documents.c.metadata,
)


def _doc(row: Any) -> MemoryDocument:
    m = row._mapping
    return MemoryDocument(
        id=m["id"],
        user_id=m["user_id"],
        agent_id=m["agent_id"],
        path=m["path"],
        content=m["content"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        metadata=m["metadata"],
    )


def _scope(user_ids: Sequence[str], agent_id: uuid.UUID | None) -> list[ColumnElement[bool]]:
    d = memory_documents.c
    agent = d.agent_id.is_(None) if agent_id is None else d.agent_id == agent_id
    user = d.user_id == user_ids[0] if len(user_ids) == 1 else d.user_id.in_(user_ids)
    return [user, agent]


def _not_found(path: str, user: str) -> DocumentNotFoundError:
    err = DocumentNotFoundError(f"Document not found: {path} for user {user}")
    err.doc_type = path  # type: ignore[attr-defined]
    err.user_id = user  # type: ignore[attr-defined]
    return err


@runtime_checkable
class WorkspaceStore(Protocol):
    """Memory documents, chunks and hybrid search (spec: stores-workspace-search.md)."""

    async def get_document_by_path(self, user_id: str, agent_id: uuid.UUID | None, path: str) -> MemoryDocument:
        """The document at `path` in the scope; `DocumentNotFoundError` if none."""
        ...

    async def get_document_by_id(self, id: uuid.UUID) -> MemoryDocument:
        """The document with this id (no scope check); `DocumentNotFoundError` if none."""
        ...

    async def get_or_create_document_by_path(
        self, user_id: str, agent_id: uuid.UUID | None, path: str
    ) -> MemoryDocument:
        """The document at `path`, created empty if missing (race-free)."""
        ...

    async def update_document(self, id: uuid.UUID, content: str) -> None:
        """Replace a document's content; `DocumentNotFoundError` for an unknown id."""
        ...

    async def delete_document_by_path(self, user_id: str, agent_id: uuid.UUID | None, path: str) -> None:
        """Delete a document and its chunks; `DocumentNotFoundError` if none."""
        ...

    async def list_directory(
        self, user_id: str, agent_id: uuid.UUID | None, directory: str
    ) -> list[WorkspaceEntry]:
        """Immediate children (files and virtual directories) of `directory`, by path."""
        ...

    async def list_all_paths(self, user_id: str, agent_id: uuid.UUID | None) -> list[str]:
        """Every document path of the scope in code point order."""
        ...

    async def list_documents(self, user_id: str, agent_id: uuid.UUID | None) -> list[MemoryDocument]:
        """Every document of the scope, newest update first (ties by path)."""
        ...

    async def delete_chunks(self, document_id: uuid.UUID) -> None:
        """Delete every chunk of a document (unknown id: no-op)."""
        ...

    async def insert_chunk(
        self, document_id: uuid.UUID, chunk_index: int, content: str, embedding: Embedding | None = None
    ) -> uuid.UUID:
        """Insert one chunk and return its new id."""
        ...

    async def insert_chunks(
        self, document_id: uuid.UUID, chunks: Sequence[tuple[int, str, Embedding | None]]
    ) -> list[uuid.UUID]:
        """Insert many chunks of one document in one transaction (batch ingest)."""
        ...

    async def replace_chunks(
        self, document_id: uuid.UUID, chunks: Sequence[tuple[int, str, Embedding | None]]
    ) -> list[uuid.UUID]:
        """Atomically delete a document's chunks and insert the given ones."""
        ...

    async def update_chunk_embedding(self, chunk_id: uuid.UUID, embedding: Embedding) -> None:
        """Set a chunk's embedding (unknown id: logged no-op)."""
        ...

    async def get_chunks_without_embeddings(
        self, user_id: str, agent_id: uuid.UUID | None, limit: int
    ) -> list[MemoryChunk]:
        """Chunks of the scope lacking an embedding of the active dimension."""
        ...

    async def hybrid_search(
        self,
        user_id: str,
        agent_id: uuid.UUID | None,
        query: str,
        embedding: Embedding | None,
        config: SearchConfig,
    ) -> list[SearchResult]:
        """Full-text + vector search in one scope, fused."""
        ...

    async def hybrid_search_multi(
        self,
        user_ids: Sequence[str],
        agent_id: uuid.UUID | None,
        query: str,
        embedding: Embedding | None,
        config: SearchConfig,
    ) -> list[SearchResult]:
        """Hybrid search over several scopes: one query per modality, one fusion."""
        ...

    async def list_all_paths_multi(self, user_ids: Sequence[str], agent_id: uuid.UUID | None) -> list[str]:
        """Distinct paths of several scopes in code point order."""
        ...

    async def get_document_by_path_multi(
        self, user_ids: Sequence[str], agent_id: uuid.UUID | None, path: str
    ) -> MemoryDocument:
        """The document at `path` in the first scope (by priority) that has it."""
        ...

    async def list_directory_multi(
        self, user_ids: Sequence[str], agent_id: uuid.UUID | None, directory: str
    ) -> list[WorkspaceEntry]:
        """Merged directory listing over several scopes."""
        ...

    async def ensure_vector_index(self, dimension: int) -> None:
        """Create the vector index for `dimension` (PG: partial HNSW expression index)."""
        ...

    def bulk_ingest(self, *, maintenance_work_mem_mb: int | None = None) -> AbstractAsyncContextManager[None]:
        """A block for loading many chunks: the vector index is rebuilt once at its end."""
        ...


class WorkspaceRepository(StoreBase):
    """Repository mixin of `Database` for the WorkspaceStore."""

    # ---- helpers ----------------------------------------------------------------------------

    def _embedding(self, embedding: object) -> np.ndarray:
        dim = self._config.embedding_dimension
        if dim is None:
            raise InvalidInputError(
                "no embedding dimension configured: pass connect(embedding_dimension=N) or set "
                "EMBEDDING_DIMENSION to store embeddings"
            )
        return check_vector(embedding, dim)

    def _chunk_rows(
        self, document_id: uuid.UUID, chunks: object, now: datetime
    ) -> tuple[list[dict[str, Any]], list[uuid.UUID]]:
        if isinstance(chunks, (str, bytes)) or not isinstance(chunks, Sequence):
            raise InvalidInputError("chunks must be a sequence of (chunk_index, content, embedding)")
        rows: list[dict[str, Any]] = []
        ids: list[uuid.UUID] = []
        for item in chunks:
            if not isinstance(item, tuple) or len(item) != 3:
                raise InvalidInputError("each chunk must be a (chunk_index, content, embedding) tuple")
            index, content, embedding = item
            cid = uuid.uuid4()
            rows.append(
                {
                    "id": cid,
                    "document_id": document_id,
                    "chunk_index": _int(index, "chunk_index", 0),
                    "content": check_text(content, "content"),
                    "embedding": None if embedding is None else self._embedding(embedding),
                    "created_at": now,
                }
            )
            ids.append(cid)
        return rows, ids

    async def _insert_chunk_rows(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        if rows:
            await conn.execute(memory_chunks.insert(), rows)

    async def _find_docs(self, conn: AsyncConnection, stmt: Select[Any]) -> list[MemoryDocument]:
        return [_doc(r) for r in (await conn.execute(stmt)).all()]

    # ---- documents --------------------------------------------------------------------------

    async def get_document_by_path(self, user_id: str, agent_id: uuid.UUID | None, path: str) -> MemoryDocument:
        """The document at (normalised) `path` in the scope. Raises DocumentNotFoundError.

        Read-only. Same on both backends. Also raises InvalidInputError for a non-str /
        NUL-containing user_id or path, or a non-UUID agent_id.
        """
        user, agent, p = _user(user_id), _agent(agent_id), normalize_path(path)
        stmt = (
            select(*_DOC_COLS)
            .where(*_scope([user], agent), memory_documents.c.path == p)
            .order_by(memory_documents.c.created_at, memory_documents.c.id)
            .limit(1)
        )
        async with self._read(autocommit=True) as conn:  # one statement
            docs = await self._find_docs(conn, stmt)
        if not docs:
            raise _not_found(p, user)
        return docs[0]

    async def get_document_by_id(self, id: uuid.UUID) -> MemoryDocument:
        """The document with this id, in any scope. Raises DocumentNotFoundError.

        Read-only. Same on both backends. Also raises InvalidInputError for a non-UUID id.
        """
        doc_id = coerce_uuid(id, "id")
        async with self._read() as conn:
            docs = await self._find_docs(conn, select(*_DOC_COLS).where(memory_documents.c.id == doc_id))
        if not docs:
            raise _not_found("unknown", "unknown")
        return docs[0]

    async def get_or_create_document_by_path(
        self, user_id: str, agent_id: uuid.UUID | None, path: str
    ) -> MemoryDocument:
        """The document at `path`, inserted empty if missing. Idempotent and race-free.

        `INSERT … ON CONFLICT DO NOTHING` against the null-safe unique index
        `uq_memory_documents_scope_path`, then a SELECT, in one transaction (both backends).
        Raises InvalidInputError for a non-str / NUL-containing user_id or path, or a non-UUID
        agent_id.
        """
        user, agent, p = _user(user_id), _agent(agent_id), normalize_path(path)
        now = self._now()
        ins = (
            self._insert(memory_documents)
            .values(
                id=uuid.uuid4(), user_id=user, agent_id=agent, path=p, content="",
                created_at=now, updated_at=now, metadata={},
            )
            .on_conflict_do_nothing()
        )
        stmt = (
            select(*_DOC_COLS)
            .where(*_scope([user], agent), memory_documents.c.path == p)
            .order_by(memory_documents.c.created_at, memory_documents.c.id)
            .limit(1)
        )
        async with self._write() as conn:
            await conn.execute(ins)
            docs = await self._find_docs(conn, stmt)
        return docs[0]

    async def update_document(self, id: uuid.UUID, content: str) -> None:
        """Replace content and stamp `updated_at` (chunks untouched). Raises DocumentNotFoundError.

        Same on both backends. Also raises InvalidInputError for a non-UUID id or non-str /
        NUL-containing content. Idempotent in effect (a repeat only moves updated_at).
        """
        doc_id, text_ = coerce_uuid(id, "id"), check_text(content, "content")
        stmt = (
            update(memory_documents)
            .where(memory_documents.c.id == doc_id)
            .values(content=text_, updated_at=self._now())
        )
        async with self._write() as conn:
            result = await conn.execute(stmt)
            if result.rowcount == 0:
                raise _not_found("unknown", "unknown")

    async def delete_document_by_path(self, user_id: str, agent_id: uuid.UUID | None, path: str) -> None:
        """Delete the document and its chunks atomically. Raises DocumentNotFoundError.

        Same on both backends (the row is locked FOR UPDATE on PostgreSQL). Also raises
        InvalidInputError for bad arguments. Not idempotent: a repeat raises
        DocumentNotFoundError (the end state is the same).
        """
        user, agent, p = _user(user_id), _agent(agent_id), normalize_path(path)
        async with self._write() as conn:
            ids = list(
                (
                    await conn.execute(
                        select(memory_documents.c.id)
                        .where(*_scope([user], agent), memory_documents.c.path == p)
                        .with_for_update()
                    )
                ).scalars()
            )
            if not ids:
                raise _not_found(p, user)
            await conn.execute(delete(memory_chunks).where(memory_chunks.c.document_id.in_(ids)))
            await conn.execute(delete(memory_documents).where(memory_documents.c.id.in_(ids)))

    async def list_directory(
        self, user_id: str, agent_id: uuid.UUID | None, directory: str
    ) -> list[WorkspaceEntry]:
        """Immediate children of `directory` (root: `""` or `"/"`), sorted by path. Read-only.

        Same result on both backends (see list_directory_multi). Raises InvalidInputError for
        a non-str / NUL-containing user_id or directory, or a non-UUID agent_id.
        """
        return await self.list_directory_multi([_user(user_id)], agent_id, directory)

    async def list_all_paths(self, user_id: str, agent_id: uuid.UUID | None) -> list[str]:
        """All paths of the scope, code point order. Read-only.

        Same order on both backends (sorted in Python). Raises InvalidInputError for a non-str /
        NUL-containing user_id or a non-UUID agent_id.
        """
        return await self.list_all_paths_multi([_user(user_id)], agent_id)

    async def list_documents(self, user_id: str, agent_id: uuid.UUID | None) -> list[MemoryDocument]:
        """All documents of the scope, `updated_at` descending then path. Read-only.

        Same order on both backends (path ties in byte order). Raises InvalidInputError for a
        non-str / NUL-containing user_id or a non-UUID agent_id.
        """
        user, agent = _user(user_id), _agent(agent_id)
        stmt = (
            select(*_DOC_COLS)
            .where(*_scope([user], agent))
            .order_by(memory_documents.c.updated_at.desc(), byte_order(memory_documents.c.path))
        )
        async with self._read() as conn:
            return await self._find_docs(conn, stmt)

    # ---- chunks -----------------------------------------------------------------------------

    async def delete_chunks(self, document_id: uuid.UUID) -> None:
        """Delete every chunk of the document. Idempotent (unknown id: no-op).

        Same on both backends. Raises InvalidInputError for a non-UUID id.
        """
        doc_id = coerce_uuid(document_id, "document_id")
        async with self._write() as conn:
            await conn.execute(delete(memory_chunks).where(memory_chunks.c.document_id == doc_id))

    async def insert_chunk(
        self, document_id: uuid.UUID, chunk_index: int, content: str, embedding: Embedding | None = None
    ) -> uuid.UUID:
        """Insert one chunk (= `insert_chunks` with one item) and return its new id.

        Same on both backends. Raises InvalidInputError for bad arguments or an embedding that
        does not match the configured dimension, ConflictError for a duplicate chunk_index,
        IntegrityError for an unknown document. Not idempotent (a repeat raises ConflictError).
        """
        (cid,) = await self.insert_chunks(document_id, [(chunk_index, content, embedding)])
        return cid

    async def insert_chunks(
        self, document_id: uuid.UUID, chunks: Sequence[tuple[int, str, Embedding | None]]
    ) -> list[uuid.UUID]:
        """Batch ingest: insert all chunks in one transaction (one executemany); returns their ids.

        All are validated first; any failure inserts none. Same on both backends. Raises
        InvalidInputError (malformed chunks, bad embedding or no dimension configured),
        ConflictError for a duplicate chunk_index, IntegrityError for an unknown document.
        Not idempotent.
        """
        doc_id = coerce_uuid(document_id, "document_id")
        rows, ids = self._chunk_rows(doc_id, chunks, self._now())
        async with self._write() as conn:
            await self._insert_chunk_rows(conn, rows)
        return ids

    async def replace_chunks(
        self, document_id: uuid.UUID, chunks: Sequence[tuple[int, str, Embedding | None]]
    ) -> list[uuid.UUID]:
        """Atomically replace every chunk of the document (delete + insert). Returns the new ids.

        Same on both backends. Raises like insert_chunks (InvalidInputError before writing,
        ConflictError for duplicate indexes in `chunks`, IntegrityError for an unknown document
        when `chunks` is non-empty); nothing changes on error. Idempotent in effect (a repeat
        stores the same chunks under fresh ids).
        """
        doc_id = coerce_uuid(document_id, "document_id")
        rows, ids = self._chunk_rows(doc_id, chunks, self._now())
        async with self._write() as conn:
            await conn.execute(delete(memory_chunks).where(memory_chunks.c.document_id == doc_id))
            await self._insert_chunk_rows(conn, rows)
        return ids

    async def update_chunk_embedding(self, chunk_id: uuid.UUID, embedding: Embedding) -> None:
        """Set a chunk's embedding (validated against the configured dimension). Idempotent.

        Same on both backends; an unknown chunk id is logged and ignored. Raises
        InvalidInputError for a non-UUID id, a malformed embedding or one of another dimension,
        or when no embedding dimension is configured.
        """
        cid = coerce_uuid(chunk_id, "chunk_id")
        vec = self._embedding(embedding)
        async with self._write() as conn:
            result = await conn.execute(
                update(memory_chunks).where(memory_chunks.c.id == cid).values(embedding=vec)
            )
        if result.rowcount == 0:
            log.info("update_chunk_embedding: no chunk %s", cid)

    async def get_chunks_without_embeddings(
        self, user_id: str, agent_id: uuid.UUID | None, limit: int
    ) -> list[MemoryChunk]:
        """Chunks of the scope with no embedding (or one of another dimension), oldest first.

        Read-only. Dimension test: `vector_dims` on PostgreSQL, blob length / 4 on libSQL; with
        no dimension configured only NULL embeddings count. Raises InvalidInputError for bad
        user_id / agent_id or a negative / non-int limit (`limit=0` → []).
        """
        user, agent = _user(user_id), _agent(agent_id)
        n = _int(limit, "limit", 0)
        if n == 0:
            return []
        c = memory_chunks.c
        missing: ColumnElement[bool] = c.embedding.is_(None)
        dim = self._config.embedding_dimension
        if dim is not None:
            missing = missing | (embedding_dims(c.embedding) != dim)
        stmt = (
            select(c.id, c.document_id, c.chunk_index, c.content, c.created_at)
            .join(memory_documents, memory_documents.c.id == c.document_id)
            .where(*_scope([user], agent), missing)
            .order_by(c.created_at, c.id)
            .limit(n)
        )
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            MemoryChunk(
                id=r.id, document_id=r.document_id, chunk_index=r.chunk_index,
                content=r.content, embedding=None, created_at=r.created_at,
            )
            for r in rows
        ]

    # ---- search -----------------------------------------------------------------------------

    async def hybrid_search(
        self,
        user_id: str,
        agent_id: uuid.UUID | None,
        query: str,
        embedding: Embedding | None,
        config: SearchConfig,
    ) -> list[SearchResult]:
        """Hybrid search in one scope (= `hybrid_search_multi([user_id], …)`). Read-only.

        Raises InvalidInputError for bad arguments (see hybrid_search_multi).
        """
        return await self.hybrid_search_multi([_user(user_id)], agent_id, query, embedding, config)

    async def hybrid_search_multi(
        self,
        user_ids: Sequence[str],
        agent_id: uuid.UUID | None,
        query: str,
        embedding: Embedding | None,
        config: SearchConfig,
    ) -> list[SearchResult]:
        """One FTS and one vector candidate query over all scopes, one fusion. Read-only.

        A query embedding of another length than the configured dimension (or with no dimension
        configured) skips the vector side with a warning: FTS-only results, no exception.
        Candidates are per dialect (PG tsvector + pgvector, libSQL FTS5 + exact scan); fusion is
        shared. Raises InvalidInputError for bad ids, query or config, or a malformed embedding.
        """
        users, agent = _users(user_ids), _agent(agent_id)
        q = check_text(query, "query")
        cfg = _config(config)
        vec: np.ndarray | None = None
        if embedding is not None and cfg.use_vector:
            vec = check_vector(embedding)
            dim = self._config.embedding_dimension
            if dim is None or vec.size != dim:
                log.warning(
                    "query embedding has %d dimensions, configured %s: vector side skipped", vec.size, dim
                )
                vec = None
        if not users or cfg.limit == 0 or cfg.pre_fusion_limit == 0:
            return []
        run_fts = cfg.use_fts and bool(q.strip())
        if not run_fts and vec is None:
            return []
        async with self._read() as conn:
            fts = (
                await fts_candidates(conn, self._dialect, users, agent, q, cfg.pre_fusion_limit)
                if run_fts
                else []
            )
            vrs = (
                await vector_candidates(conn, self._dialect, users, agent, vec, cfg.pre_fusion_limit)
                if vec is not None
                else []
            )
        return fuse_results(fts, vrs, cfg)

    async def list_all_paths_multi(self, user_ids: Sequence[str], agent_id: uuid.UUID | None) -> list[str]:
        """Distinct paths over all scopes, code point order (one query). Read-only.

        Same order on both backends (sorted in Python). Raises InvalidInputError for a str /
        non-sequence user_ids, a bad item or a non-UUID agent_id.
        """
        users, agent = _users(user_ids), _agent(agent_id)
        if not users:
            return []
        stmt = select(memory_documents.c.path).where(*_scope(users, agent)).distinct()
        async with self._read() as conn:
            paths = list((await conn.execute(stmt)).scalars())
        return sorted(paths)

    async def get_document_by_path_multi(
        self, user_ids: Sequence[str], agent_id: uuid.UUID | None, path: str
    ) -> MemoryDocument:
        """The document at `path` in the highest-priority scope holding it (one query).

        Read-only. Same on both backends. Raises DocumentNotFoundError (user shown as
        `[a, b]`; also for empty user_ids), InvalidInputError for bad arguments.
        """
        users, agent, p = _users(user_ids), _agent(agent_id), normalize_path(path)
        label = "[" + ", ".join(users) + "]"
        if not users:
            raise _not_found(p, label)
        stmt = (
            select(*_DOC_COLS)
            .where(*_scope(users, agent), memory_documents.c.path == p)
            .order_by(memory_documents.c.created_at, memory_documents.c.id)
        )
        async with self._read() as conn:
            docs = await self._find_docs(conn, stmt)
        priority = {u: i for i, u in reversed(list(enumerate(users)))}
        if not docs:
            raise _not_found(p, label)
        return min(docs, key=lambda d: priority[d.user_id])

    async def list_directory_multi(
        self, user_ids: Sequence[str], agent_id: uuid.UUID | None, directory: str
    ) -> list[WorkspaceEntry]:
        """Merged listing of `directory` over all scopes (one query, Python aggregation).

        Read-only. Same result on both backends (libSQL's case-insensitive LIKE is re-checked
        exactly in Python). Raises InvalidInputError for a str / non-sequence user_ids, a bad
        item or directory, or a non-UUID agent_id.
        """
        users, agent = _users(user_ids), _agent(agent_id)
        d = normalize_directory(directory)
        if not users:
            return []
        prefix = d + "/" if d else ""
        c = memory_documents.c
        stmt = select(c.path, c.updated_at, func.substr(c.content, 1, PREVIEW_CHARS).label("preview")).where(
            *_scope(users, agent)
        )
        if prefix:
            stmt = stmt.where(c.path.startswith(prefix, autoescape=True))
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        groups: dict[str, WorkspaceEntry] = {}
        for path, updated_at, preview in rows:
            if not path.startswith(prefix):
                continue  # LIKE is ASCII-case-insensitive on libSQL: re-check exactly
            rest = path[len(prefix):]
            name, sep, _ = rest.partition("/")
            if not name:
                continue
            is_dir = bool(sep)
            entry = WorkspaceEntry(prefix + name, is_dir, updated_at, None if is_dir else (preview or ""))
            kept = groups.get(entry.path)
            groups[entry.path] = entry if kept is None else merge_workspace_entries([kept, entry])[0]
        return sorted(groups.values(), key=lambda e: e.path)

    # ---- vector index -----------------------------------------------------------------------

    async def ensure_vector_index(self, dimension: int) -> None:
        """PG: create the partial HNSW expression index for `dimension` (idempotent).

        libSQL: no index is created — vector search is an exact scan over the scope (see
        `ironstore.search.vector`); only the dimension is validated. PG creates nothing either
        above the HNSW limits. Raises InvalidInputError for a dimension outside 1..65536.
        """
        dim = _int(dimension, "dimension", 1, 65536)
        async with self._write() as conn:
            await ensure_vector_index(conn, self._dialect, dim)

    @asynccontextmanager
    async def bulk_ingest(self, *, maintenance_work_mem_mb: int | None = None) -> AsyncIterator[None]:
        """Load many chunks fast: `async with db.bulk_ingest(): ...` around the inserts.

        PG: the HNSW index of the configured dimension is dropped at the start and built once at
        the end (after an error in the block too), with `maintenance_work_mem` raised for the
        build (`maintenance_work_mem_mb`, default: the graph's estimated size, at most 2 GiB).
        Keeping an HNSW graph current costs ~1 ms per row; building it once costs a fraction of
        that (BENCHMARKS.md, "Workspace search"). Meanwhile searches stay correct but scan
        exactly (slower), and the build blocks writes to memory_chunks (not reads) until done.
        Nested or concurrent blocks on one Database share the drop and the build. A process
        that dies inside the block leaves the index dropped: `ensure_vector_index(dim)`
        recreates it. Without an index there is nothing to drop and nothing is built.
        libSQL: nothing to do (no index to maintain; ingest is already fast). No dimension
        configured: nothing to do. Raises InvalidInputError for a bad maintenance_work_mem_mb.
        """
        memory = None if maintenance_work_mem_mb is None else _int(maintenance_work_mem_mb, "maintenance_work_mem_mb", 1)
        dim = self._config.embedding_dimension
        state: _BulkState = self.__dict__.setdefault("_bulk_state", _BulkState())
        if dim is None:
            yield
            return
        async with state.lock:
            if state.depth == 0:
                async with self._write() as conn:
                    state.dropped = await drop_vector_index(conn, self._dialect, dim) or state.dropped
            state.depth += 1
        try:
            yield
        finally:
            async with state.lock:
                state.depth -= 1
                if state.depth == 0 and state.dropped:
                    async with self._write() as conn:
                        await build_vector_index(conn, dim, memory)
                    state.dropped = False  # only once built: a failed build is retried next time


@dataclass
class _BulkState:
    """One Database's bulk_ingest blocks: how many are open, and whether the index was dropped."""

    depth: int = 0
    dropped: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
