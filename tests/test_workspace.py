"""WorkspaceStore documents and chunks, on both backends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ironstore import Database
from ironstore.errors import (
    ConflictError,
    DocumentNotFoundError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
)
from ironstore.migrations import schema_drift
from ironstore.records.workspace import WorkspaceEntry
from ironstore.schema import memory_chunks, memory_documents
from ironstore.stores.workspace import (
    WorkspaceStore,
    merge_workspace_entries,
    normalize_directory,
    normalize_path,
)

Connect = Callable[..., Awaitable[Database]]
AGENT = uuid.UUID("11111111-1111-1111-1111-111111111111")


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2024, 1, 15, 10, 30, 0, 123456, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)


async def count(db: Database, table: object) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


def test_normalisation_helpers() -> None:
    assert normalize_path("foo/bar") == "foo/bar"
    assert normalize_path("/foo/bar/") == "foo/bar"
    assert normalize_path("foo//bar") == "foo/bar"
    assert normalize_path("  /foo/  ") == "foo"
    assert normalize_path("/") == ""
    assert normalize_path("\u3000a\u00a0") == "a"
    assert normalize_path("\x1ca") == "\x1ca"  # not Unicode White_Space
    assert normalize_directory("/") == normalize_directory("") == ""


def test_merge_entries_clears_directory_preview() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    merged = merge_workspace_entries(
        [WorkspaceEntry("dup", True, t0, None), WorkspaceEntry("dup", False, t0 + timedelta(1), "x"),
         WorkspaceEntry("a", False, t0, "p")]
    )
    assert merged == [WorkspaceEntry("a", False, t0, "p"), WorkspaceEntry("dup", True, t0 + timedelta(1), None)]


async def test_protocol_and_schema_drift(db: Database) -> None:
    assert isinstance(db, WorkspaceStore)
    async with db.engine.connect() as conn:
        assert await conn.run_sync(schema_drift, db.backend) == []


async def test_get_or_create_and_get(ironstore_connect: Connect) -> None:
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    doc = await db.get_or_create_document_by_path("alice", None, "/notes//today.md ")
    assert doc.path == "notes/today.md" and doc.content == "" and doc.metadata == {}
    assert doc.created_at == doc.updated_at == clock.now.replace(microsecond=123000)
    assert doc.agent_id is None and doc.user_id == "alice"
    again = await db.get_or_create_document_by_path("alice", None, "notes/today.md")
    assert again == doc
    assert await db.get_document_by_path("alice", None, "notes/today.md") == doc
    assert await db.get_document_by_id(doc.id) == doc
    assert doc.file_name == "today.md" and doc.parent_dir == "notes" and doc.is_empty
    with pytest.raises(DocumentNotFoundError):
        await db.get_document_by_path("alice", AGENT, "notes/today.md")
    with pytest.raises(NotFoundError):
        await db.get_document_by_id(uuid.uuid4())
    agent_doc = await db.get_or_create_document_by_path("alice", AGENT, "notes/today.md")
    assert agent_doc.id != doc.id and agent_doc.agent_id == AGENT
    assert await count(db, memory_documents) == 2


async def test_get_or_create_is_race_free(db: Database) -> None:
    for agent in (None, AGENT):
        docs = await asyncio.gather(*(db.get_or_create_document_by_path("u", agent, "daily.md") for _ in range(8)))
        assert len({d.id for d in docs}) == 1
    assert await count(db, memory_documents) == 2


async def test_update_document(ironstore_connect: Connect) -> None:
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    doc = await db.get_or_create_document_by_path("u", None, "a.md")
    clock.tick(5)
    await db.update_document(doc.id, "hello world")
    fresh = await db.get_document_by_id(doc.id)
    assert fresh.content == "hello world" and fresh.word_count == 2
    assert fresh.updated_at == clock.now.replace(microsecond=123000)
    assert fresh.created_at == doc.created_at
    with pytest.raises(DocumentNotFoundError):
        await db.update_document(uuid.uuid4(), "x")
    with pytest.raises(InvalidInputError):
        await db.update_document(doc.id, "bad\x00")
    with pytest.raises(InvalidInputError):
        await db.update_document("not-a-uuid", "x")  # type: ignore[arg-type]
    assert (await db.get_document_by_id(doc.id)).content == "hello world"


async def test_bad_input_writes_nothing(db: Database) -> None:
    for args in ((1, None, "p"), ("u", "nope", "p"), ("u", None, 5), ("u\x00", None, "p")):
        with pytest.raises(InvalidInputError):
            await db.get_or_create_document_by_path(*args)  # type: ignore[arg-type]
    assert await count(db, memory_documents) == 0
    doc = await db.get_or_create_document_by_path("u", None, "p")
    bad_chunks = [(-1, "x", None), (2**31, "x", None), (0, "a\x00", None), (True, "x", None), (0, 5, None)]
    for chunk in bad_chunks:
        with pytest.raises(InvalidInputError):
            await db.insert_chunk(doc.id, *chunk)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="embedding_dimension"):
        await db.insert_chunk(doc.id, 0, "x", [1.0, 2.0])
    with pytest.raises(InvalidInputError):
        await db.insert_chunks(doc.id, [(0, "ok", None), (1, "bad", [1.0])])
    with pytest.raises(InvalidInputError):
        await db.get_chunks_without_embeddings("u", None, -1)
    assert await count(db, memory_chunks) == 0


async def test_embedding_dimension_checked(ironstore_connect: Connect) -> None:
    db = await ironstore_connect(embedding_dimension=3)
    doc = await db.get_or_create_document_by_path("u", None, "p")
    for bad in ([1.0, 2.0], [1.0, 2.0, 3.0, 4.0], [], [float("nan"), 1.0, 1.0], "abc"):
        with pytest.raises(InvalidInputError):
            await db.insert_chunk(doc.id, 0, "x", bad)  # type: ignore[arg-type]
    assert await count(db, memory_chunks) == 0
    cid = await db.insert_chunk(doc.id, 0, "x", [1.0, 0.0, 0.0])
    with pytest.raises(InvalidInputError):
        await db.update_chunk_embedding(cid, [1.0])
    await db.update_chunk_embedding(cid, [0.0, 1.0, 0.0])
    await db.update_chunk_embedding(uuid.uuid4(), [0.0, 1.0, 0.0])  # unknown id: no-op
    assert await db.get_chunks_without_embeddings("u", None, 10) == []


async def test_chunks_lifecycle(ironstore_connect: Connect) -> None:
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    doc = await db.get_or_create_document_by_path("u", None, "p.md")
    other = await db.get_or_create_document_by_path("v", None, "p.md")
    c0 = await db.insert_chunk(doc.id, 0, "zero")
    clock.tick()
    ids = await db.insert_chunks(doc.id, [(1, "one", None), (2, "two", None)])
    await db.insert_chunk(other.id, 0, "other user")
    with pytest.raises(ConflictError):
        await db.insert_chunk(doc.id, 0, "dup")
    with pytest.raises(IntegrityError):
        await db.insert_chunk(uuid.uuid4(), 0, "orphan")
    with pytest.raises(ConflictError):  # a batch is all or nothing
        await db.insert_chunks(doc.id, [(7, "x", None), (1, "dup", None)])
    assert await count(db, memory_chunks) == 4
    pending = await db.get_chunks_without_embeddings("u", None, 10)
    assert pending[0].id == c0 and {c.id for c in pending} == {c0, *ids}
    assert [c.chunk_index for c in pending] == [0] + sorted([1, 2], key=lambda i: str(ids[i - 1]))
    assert all(c.embedding is None and c.document_id == doc.id for c in pending)
    assert len(await db.get_chunks_without_embeddings("u", None, 1)) == 1
    assert await db.get_chunks_without_embeddings("u", None, 0) == []
    assert await db.get_chunks_without_embeddings("u", AGENT, 10) == []
    new_ids = await db.replace_chunks(doc.id, [(0, "new zero", None)])
    pending = await db.get_chunks_without_embeddings("u", None, 10)
    assert [(c.id, c.content) for c in pending] == [(new_ids[0], "new zero")]
    with pytest.raises(ConflictError):  # replace is atomic: old chunks survive a failure
        await db.replace_chunks(doc.id, [(0, "a", None), (0, "b", None)])
    assert [c.content for c in await db.get_chunks_without_embeddings("u", None, 10)] == ["new zero"]
    await db.delete_chunks(doc.id)
    await db.delete_chunks(uuid.uuid4())
    assert await db.get_chunks_without_embeddings("u", None, 10) == []
    assert await count(db, memory_chunks) == 1


async def test_delete_document_by_path(db: Database) -> None:
    doc = await db.get_or_create_document_by_path("u", None, "a/b.md")
    keep = await db.get_or_create_document_by_path("u", AGENT, "a/b.md")
    await db.insert_chunks(doc.id, [(0, "x", None), (1, "y", None)])
    await db.insert_chunk(keep.id, 0, "z")
    await db.delete_document_by_path("u", None, "/a/b.md/")
    with pytest.raises(DocumentNotFoundError):
        await db.delete_document_by_path("u", None, "a/b.md")
    assert await count(db, memory_documents) == 1 and await count(db, memory_chunks) == 1
    assert (await db.get_document_by_path("u", AGENT, "a/b.md")).id == keep.id


async def test_list_documents_and_paths(ironstore_connect: Connect) -> None:
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    for p in ("b.md", "README.md", "a.md", "é.md", "Z/x.md"):
        await db.get_or_create_document_by_path("u", None, p)
    clock.tick()
    newest = await db.get_or_create_document_by_path("u", None, "m.md")
    await db.get_or_create_document_by_path("u", AGENT, "agent-only.md")
    await db.get_or_create_document_by_path("w", None, "w-only.md")
    paths = ["README.md", "Z/x.md", "a.md", "b.md", "m.md", "é.md"]
    assert await db.list_all_paths("u", None) == paths
    docs = await db.list_documents("u", None)
    assert [d.path for d in docs] == ["m.md", "README.md", "Z/x.md", "a.md", "b.md", "é.md"]
    assert docs[0] == newest
    assert await db.list_all_paths("u", AGENT) == ["agent-only.md"]
    assert await db.list_all_paths("nobody", None) == []
    assert await db.list_all_paths_multi(["w", "u", "w"], None) == sorted(paths + ["w-only.md"])
    assert await db.list_all_paths_multi([], None) == []


async def test_list_directory(ironstore_connect: Connect) -> None:
    clock = FakeClock()
    db = await ironstore_connect(clock=clock)
    readme = await db.get_or_create_document_by_path("u", None, "README.md")
    await db.update_document(readme.id, "r" * 300)
    for p in ("projects/alpha/notes.md", "projects/beta.md", "projects/alpha.md", "a_b/x.md", "axb/y.md",
              "A_B/z.md", "50%/q.md", "5x/r.md", "dup", "dup/x.md"):
        await db.get_or_create_document_by_path("u", None, p)
    clock.tick(60)
    deep = await db.get_or_create_document_by_path("u", None, "projects/alpha/deep/n.md")
    await db.get_or_create_document_by_path("u", AGENT, "projects/agent.md")
    root = await db.list_directory("u", None, "/")
    assert [e.path for e in root] == ["50%", "5x", "A_B", "README.md", "a_b", "axb", "dup", "projects"]
    by = {e.path: e for e in root}
    assert by["README.md"].content_preview == "r" * 200 and not by["README.md"].is_directory
    assert by["projects"].is_directory and by["projects"].content_preview is None
    assert by["projects"].updated_at == deep.updated_at
    assert by["dup"].is_directory and by["dup"].content_preview is None
    assert await db.list_directory("u", None, "") == root
    assert [e.path for e in await db.list_directory("u", None, "a_b")] == ["a_b/x.md"]
    assert [e.path for e in await db.list_directory("u", None, "50%")] == ["50%/q.md"]
    listing = await db.list_directory("u", None, "projects/")
    assert [(e.path, e.is_directory, e.name) for e in listing] == [
        ("projects/alpha", True, "alpha"), ("projects/alpha.md", False, "alpha.md"), ("projects/beta.md", False, "beta.md")
    ]
    assert listing[1].content_preview == ""
    assert await db.list_directory("u", None, "nope") == []
    assert await db.list_directory("u", None, "README.md") == []
    assert [e.path for e in await db.list_directory("u", AGENT, "projects")] == ["projects/agent.md"]


async def test_multi_scope_documents(db: Database) -> None:
    a = await db.get_or_create_document_by_path("alice", None, "shared/x.md")
    b = await db.get_or_create_document_by_path("bob", None, "shared/x.md")
    await db.get_or_create_document_by_path("bob", None, "shared/y.md")
    await db.get_or_create_document_by_path("carol", AGENT, "shared/z.md")
    assert (await db.get_document_by_path_multi(["alice", "bob"], None, "shared/x.md")).id == a.id
    assert (await db.get_document_by_path_multi(["bob", "alice"], None, "/shared/x.md")).id == b.id
    assert (await db.get_document_by_path_multi(["alice", "bob"], None, "shared/y.md")).user_id == "bob"
    with pytest.raises(DocumentNotFoundError, match=r"\[alice, carol\]"):
        await db.get_document_by_path_multi(["alice", "carol"], None, "shared/z.md")
    with pytest.raises(DocumentNotFoundError):
        await db.get_document_by_path_multi([], None, "shared/x.md")
    listing = await db.list_directory_multi(["alice", "bob", "carol"], None, "shared")
    assert [(e.path, e.is_directory) for e in listing] == [("shared/x.md", False), ("shared/y.md", False)]
    assert await db.list_directory_multi([], None, "") == []
    with pytest.raises(InvalidInputError):
        await db.list_directory_multi("alice", None, "")
