"""libSQL's in-process vector copy (ironstore.search.vector): same answers as the SQL scan, and
never stale — writes from another connection (here a second Database, as another process would)
invalidate it through revision ironstore_ls_0010's triggers. On PostgreSQL the same test bodies
check the ordinary path (the copy is a libSQL strategy; pgvector answers there)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator

import numpy as np
import pytest

from ironstore import Database, SearchConfig
from ironstore.search import vector

DIM = 8
Connect = Callable[..., Awaitable[Database]]
VECTOR_ONLY = SearchConfig(limit=10, pre_fusion_limit=10).vector_only()


@pytest.fixture
def cache_everything(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(vector, "CACHE_MIN_VECTORS", 1)
    yield


def _vectors(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.standard_normal((n, DIM)).astype(np.float32)
    out[1::7] = out[0]  # exact ties, decided by chunk id on both paths
    return out


async def _corpus(db: Database, user: str, n: int, seed: int) -> list[uuid.UUID]:
    doc = await db.get_or_create_document_by_path(user, None, f"notes/{seed}.md")
    return await db.insert_chunks(doc.id, [(i, f"chunk {i}", v.tolist()) for i, v in enumerate(_vectors(n, seed))])


async def _hits(db: Database, user: str, query: np.ndarray) -> list[uuid.UUID]:
    return [r.chunk_id for r in await db.hybrid_search(user, None, "", query.tolist(), VECTOR_ONLY)]


async def test_cached_results_equal_the_sql_scan(
    ironstore_connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await ironstore_connect(embedding_dimension=DIM)
    await _corpus(db, "alice", 300, seed=1)
    queries = list(_vectors(12, seed=2)) + [_vectors(1, seed=1)[0]]  # the last one hits the ties
    monkeypatch.setattr(vector, "CACHE_MIN_VECTORS", 10**9)
    scanned = [await _hits(db, "alice", q) for q in queries]
    monkeypatch.setattr(vector, "CACHE_MIN_VECTORS", 1)
    cached = [await _hits(db, "alice", q) for q in queries]
    assert cached == scanned and all(len(h) == 10 for h in cached)
    if db.backend == "libsql":
        assert vector._scopes.get(db.engine.sync_engine), "the in-process copy was used"


async def test_writes_from_another_connection_invalidate(ironstore_connect: Connect, cache_everything: None) -> None:
    db = await ironstore_connect(embedding_dimension=DIM)
    other = await ironstore_connect(embedding_dimension=DIM)  # its own engine: no shared memory
    ids = await _corpus(db, "alice", 50, seed=3)
    probe = np.ones(DIM, dtype=np.float32)
    before = await _hits(db, "alice", probe)

    copies = vector._scopes.get(db.engine.sync_engine)
    copy = next(iter(copies.values())) if copies else None

    # a new, exactly matching chunk written elsewhere comes first
    doc = await other.get_or_create_document_by_path("alice", None, "new.md")
    (newest,) = await other.insert_chunks(doc.id, [(0, "best", probe.tolist())])
    assert (await _hits(db, "alice", probe))[0] == newest
    if db.backend == "libsql":  # an insert extends the copy instead of rebuilding it
        assert copy is not None and next(iter(vector._scopes[db.engine.sync_engine].values())) is copy
        assert len(copy.ids) == 51

    # re-embedding moves a chunk; deleting a document removes its chunks
    await other.update_chunk_embedding(ids[-1], (probe * 2).tolist())
    assert set((await _hits(db, "alice", probe))[:2]) == {newest, ids[-1]}
    await other.delete_document_by_path("alice", None, "new.md")
    hits = await _hits(db, "alice", probe)
    assert newest not in hits and hits[0] == ids[-1]

    await other.delete_chunks((await other.get_document_by_path("alice", None, "notes/3.md")).id)
    assert await _hits(db, "alice", probe) == []
    assert before  # the first search did find the corpus


async def test_scopes_do_not_share_a_copy(ironstore_connect: Connect, cache_everything: None) -> None:
    db = await ironstore_connect(embedding_dimension=DIM)
    alice = await _corpus(db, "alice", 20, seed=4)
    bob = await _corpus(db, "bob", 20, seed=5)
    probe = _vectors(1, seed=6)[0]
    assert set(await _hits(db, "alice", probe)) <= set(alice)
    assert set(await _hits(db, "bob", probe)) <= set(bob)
    both = await db.hybrid_search_multi(["alice", "bob"], None, "", probe.tolist(), VECTOR_ONLY)
    assert {r.chunk_id for r in both} <= set(alice) | set(bob) and len(both) == 10


async def test_concurrent_searches_after_new_chunks_add_each_once(
    ironstore_connect: Connect, cache_everything: None
) -> None:
    import asyncio

    db = await ironstore_connect(embedding_dimension=DIM)
    await _corpus(db, "alice", 40, seed=7)
    probe = np.ones(DIM, dtype=np.float32)
    await _hits(db, "alice", probe)
    doc = await db.get_or_create_document_by_path("alice", None, "more.md")
    added = await db.insert_chunks(doc.id, [(i, f"more {i}", (probe * (i + 1)).tolist()) for i in range(5)])
    results = await asyncio.gather(*(_hits(db, "alice", probe) for _ in range(10)))
    for hits in results:
        assert len(hits) == len(set(hits)) == 10 and set(added) <= set(hits)
    if db.backend == "libsql":
        (copy,) = vector._scopes[db.engine.sync_engine].values()
        assert len(copy.ids) == len(set(copy.ids)) == 45
