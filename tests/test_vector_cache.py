"""libSQL's in-process vector copy (ironstore.search.vector): same answers as the SQL scan, and
never stale — writes from another connection (here a second Database, as another process would)
reach it through the triggers of revisions ironstore_ls_0010 (counters) and ironstore_ls_0011
(the change log that deletes and re-embeddings are patched in from). On PostgreSQL the same test bodies
check the ordinary path (the copy is a libSQL strategy; pgvector answers there)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator

import numpy as np
import pytest
from sqlalchemy import bindparam, text

from ironstore import Database, SearchConfig
from ironstore.search import vector
from ironstore.types import UUIDType

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


# ---- cluster-pruned scans of large copies (ironstore.search._clusters) -------------------------


def _clustered(n: int, dim: int, seed: int, centres: int = 24, spread: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    middle = rng.standard_normal((centres, dim))
    out = middle[rng.integers(0, centres, n)] + spread * rng.standard_normal((n, dim))
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def _uniform(n: int, dim: int, seed: int) -> np.ndarray:
    out = np.random.default_rng(seed).standard_normal((n, dim))
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def _clustered_with_strays(n: int, dim: int, seed: int) -> np.ndarray:
    out = _clustered(n, dim, seed)
    out[3::500] = _uniform(len(out[3::500]), dim, seed + 100)  # 0.2 % unrelated rows
    return out


@pytest.mark.parametrize(
    "make", [_clustered, _clustered_with_strays, _uniform], ids=["clustered", "strays", "uniform"]
)
def test_pruned_scan_equals_the_full_scan(make: Callable[[int, int, int], np.ndarray]) -> None:
    """The same rows in the same order as the full product, ties and the unclustered tail included;
    on clustered vectors it scores a fraction of the rows (also with a few stray rows among
    them: those go to the tail), on uniform ones it gives up."""
    from ironstore.search import _clusters

    dim, n, k = 32, 6000, 20
    matrix = make(n, dim, 11)
    matrix[1::50] = matrix[0]  # 120 exact ties: the cut falls among them for the first query
    order, clusters = _clusters.cluster_rows(matrix[:5000])
    unit = np.concatenate([matrix[:5000][order], matrix[5000:]])  # 1,000 rows in the tail
    ids = [f"{i:05d}" for i in np.concatenate([order, np.arange(5000, n)])]
    assert 0.96 * 5000 < clusters.rows < 5000 and int(clusters.starts[0]) == 0  # OUTLIER_SHARE in the tail
    near = matrix[np.random.default_rng(12).choice(n, 30)] + 0.05 * make(30, dim, 13)  # queries near rows
    between = matrix[:4000:400] + matrix[1:4000:400][::-1]  # near the edges of two lists
    queries = [matrix[0]] + list(near) + list(between) + [matrix[5500]]
    scored = []
    for q in queries:
        pruned, full = vector._nearest(unit, ids, q, k, clusters), vector._nearest(unit, ids, q, k)
        assert [r for r, _ in pruned] == [r for r, _ in full]
        assert [d for _, d in pruned] == pytest.approx([d for _, d in full], abs=1e-6)  # another BLAS call
        found = _clusters.pruned_candidates(unit, clusters, q / np.linalg.norm(q), k)
        scored.append(n if found is None else len(found[0]))
    if make is not _uniform:
        assert np.median(scored) < 0.3 * n, "pruning skipped most rows"
    else:
        assert np.median(scored) == n, "nothing to prune: the full scan was used"


def test_cluster_index_is_well_formed() -> None:
    from ironstore.search import _clusters

    matrix = _clustered(3000, 16, 21)
    order, clusters = _clusters.cluster_rows(matrix)
    assert sorted(order.tolist()) == list(range(3000))
    assert len(clusters.centroids) == len(clusters.radius) == len(clusters.starts) - 1 == 54  # sqrt(3000)
    assert np.all(np.diff(clusters.starts) >= 0) and clusters.rows == 3000 - 90  # OUTLIER_SHARE
    moved = matrix[order]
    for lst in range(len(clusters.radius)):  # every member lies within its list's radius
        members = moved[clusters.starts[lst] : clusters.starts[lst + 1]].astype(np.float64)
        angles = np.arccos(np.clip(members @ clusters.centroids[lst], -1, 1))
        assert np.all(angles <= clusters.radius[lst])
    again, _ = _clusters.cluster_rows(matrix)
    assert np.array_equal(order, again), "deterministic"


async def test_large_copies_are_clustered_and_stay_exact(
    ironstore_connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clustered copy answers like the SQL scan before and after appends, and is clustered
    again once the appended tail outgrows CLUSTER_TAIL_SHARE."""
    monkeypatch.setattr(vector, "CACHE_MIN_VECTORS", 1)
    monkeypatch.setattr(vector, "CLUSTER_MIN_VECTORS", 200)
    db = await ironstore_connect(embedding_dimension=DIM)
    matrix = _clustered(700, DIM, 31, centres=6, spread=0.1)
    doc = await db.get_or_create_document_by_path("alice", None, "clustered.md")
    await db.insert_chunks(doc.id, [(i, f"c {i}", v.tolist()) for i, v in enumerate(matrix[:400])])
    queries = list(_clustered(8, DIM, 32, centres=6, spread=0.1)) + [matrix[3], matrix[650]]

    async def both_ways() -> list[list[uuid.UUID]]:
        cached = [await _hits(db, "alice", q) for q in queries]
        monkeypatch.setattr(vector, "CACHE_MIN_VECTORS", 10**9)
        scanned = [await _hits(db, "alice", q) for q in queries]
        monkeypatch.setattr(vector, "CACHE_MIN_VECTORS", 1)
        assert cached == scanned and all(len(h) == 10 for h in cached)
        return cached

    def copy() -> vector._ScopeVectors | None:
        copies = vector._scopes.get(db.engine.sync_engine)
        return next(iter(copies.values())) if copies else None

    await both_ways()
    if db.backend == "libsql":
        first = copy()
        assert first is not None and first.clusters is not None and first.clusters.rows == 388  # 12 outliers
    extra = await db.insert_chunks(doc.id, [(i, f"c {i}", matrix[i].tolist()) for i in range(400, 480)])
    hits = await both_ways()
    if db.backend == "libsql":
        same = copy()
        assert same is first and same.clusters is not None and same.clusters.rows == 388  # 80 more in the tail
    assert any(set(extra) & set(h) for h in hits), "appended rows are found"
    await db.insert_chunks(doc.id, [(i, f"c {i}", matrix[i].tolist()) for i in range(480, 700)])
    await both_ways()
    if db.backend == "libsql":
        last = copy()
        assert last is first and last.clusters is not None and last.clusters.rows == 679  # clustered again


# ---- deletes and re-embeddings patch the copy (revision ironstore_ls_0011's change log) --------


def _only_copy(db: Database) -> vector._ScopeVectors | None:
    copies = vector._scopes.get(db.engine.sync_engine)
    return next(iter(copies.values())) if copies else None


async def _same_as_sql_scan(
    db: Database, monkeypatch: pytest.MonkeyPatch, user: str, queries: list[np.ndarray]
) -> list[list[uuid.UUID]]:
    cached = [await _hits(db, user, q) for q in queries]
    monkeypatch.setattr(vector, "CACHE_MIN_VECTORS", 10**9)
    scanned = [await _hits(db, user, q) for q in queries]
    monkeypatch.setattr(vector, "CACHE_MIN_VECTORS", 1)
    assert cached == scanned
    return cached


@pytest.mark.parametrize("clustered", [False, True], ids=["flat", "clustered"])
async def test_deletes_and_reembeddings_patch_the_copy(
    ironstore_connect: Connect, monkeypatch: pytest.MonkeyPatch, clustered: bool
) -> None:
    """Writes from another connection: re-embedding, replace_chunks, delete_chunks, a backfilled
    embedding. Every search answers like the SQL scan, and the copy is the same object, patched."""
    monkeypatch.setattr(vector, "CACHE_MIN_VECTORS", 1)
    monkeypatch.setattr(vector, "CLUSTER_MIN_VECTORS", 100 if clustered else 10**9)
    monkeypatch.setattr(vector, "COMPACT_GONE_SHARE", 0.9)  # compaction is tested on its own
    db = await ironstore_connect(embedding_dimension=DIM)
    other = await ironstore_connect(embedding_dimension=DIM)
    matrix = _clustered(300, DIM, 41, centres=5, spread=0.1)
    docs = [await db.get_or_create_document_by_path("alice", None, f"d{i}.md") for i in range(3)]
    ids = [await db.insert_chunks(d.id, [(j, f"c{j}", matrix[100 * i + j].tolist()) for j in range(100)]) for i, d in enumerate(docs)]
    queries = [matrix[5], matrix[150], matrix[299], -matrix[7]]
    await _same_as_sql_scan(db, monkeypatch, "alice", queries)
    first = _only_copy(db)

    probe = np.ones(DIM, dtype=np.float32)  # an existing chunk moves onto it: it must come first
    await other.update_chunk_embedding(ids[0][0], (probe * 3).tolist())
    hits = await _same_as_sql_scan(db, monkeypatch, "alice", [probe])
    assert hits[0][0] == ids[0][0]
    await other.replace_chunks(docs[1].id, [(0, "new", (-matrix[7]).tolist()), (1, "new", matrix[5].tolist())])
    hits = await _same_as_sql_scan(db, monkeypatch, "alice", queries)
    assert not set(ids[1]) & {h for hit in hits for h in hit}, "replaced chunks are gone"
    await other.delete_chunks(docs[2].id)
    hits = await _same_as_sql_scan(db, monkeypatch, "alice", queries)
    assert not set(ids[2]) & {h for hit in hits for h in hit}
    (bare,) = await other.insert_chunks(docs[2].id, [(0, "no vector yet", None)])
    await _hits(db, "alice", queries[0])
    await other.update_chunk_embedding(bare, (-matrix[7] * 5).tolist())  # backfilled later
    hits = await _same_as_sql_scan(db, monkeypatch, "alice", [-matrix[7]])
    assert bare in hits[0][:3]
    await other.delete_document_by_path("alice", None, "d2.md")
    hits = await _same_as_sql_scan(db, monkeypatch, "alice", [-matrix[7]])
    assert bare not in hits[0]
    async with other.engine.begin() as conn:  # as a writer relying on ON DELETE CASCADE would
        await conn.execute(
            text("DELETE FROM memory_documents WHERE id = :id").bindparams(bindparam("id", docs[1].id, type_=UUIDType()))
        )
    hits = await _same_as_sql_scan(db, monkeypatch, "alice", queries)
    assert {h for hit in hits for h in hit} <= set(ids[0])

    if db.backend == "libsql":
        copy = _only_copy(db)
        assert copy is first is not None, "patched in place, never rebuilt"
        alive = len(copy.ids) - copy.gone_count
        assert alive == 100 and len(copy.positions) == alive
        assert (copy.clusters is not None) is clustered


async def test_concurrent_searches_patch_the_copy_once(
    ironstore_connect: Connect, cache_everything: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Searches that read the log at the same time: one patches the copy, the others see that
    it moved on and read again from its new state (no row added twice)."""
    import asyncio

    db = await ironstore_connect(embedding_dimension=DIM)
    ids = await _corpus(db, "alice", 60, seed=8)
    probe = np.ones(DIM, dtype=np.float32)
    await _hits(db, "alice", probe)
    for chunk in ids[:10]:
        await db.update_chunk_embedding(chunk, (probe * 4).tolist())
    doc = await db.get_or_create_document_by_path("alice", None, "late.md")
    await db.insert_chunks(doc.id, [(0, "late", (-probe).tolist())])
    real_span = vector._log_span

    async def slow_span(conn: object) -> object:  # every search reads the log before any applies it
        found = await real_span(conn)  # type: ignore[arg-type]
        await asyncio.sleep(0.02)
        return found

    monkeypatch.setattr(vector, "_log_span", slow_span)
    results = await asyncio.gather(*(_hits(db, "alice", probe) for _ in range(8)))
    for hits in results:
        assert set(hits) == set(ids[:10])
    if db.backend == "libsql":
        copy = _only_copy(db)
        assert copy is not None and copy.gone_count == 10 and len(copy.ids) == 71
        assert len(copy.positions) == 61 and len(set(copy.ids)) == 61


async def test_many_deletes_compact_the_copy(ironstore_connect: Connect, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vector, "CACHE_MIN_VECTORS", 1)
    db = await ironstore_connect(embedding_dimension=DIM)
    docs = [await db.get_or_create_document_by_path("alice", None, f"d{i}.md") for i in range(4)]
    vectors = _vectors(80, seed=9)
    for i, d in enumerate(docs):
        await db.insert_chunks(d.id, [(j, f"c{j}", vectors[20 * i + j].tolist()) for j in range(20)])
    queries = list(_vectors(5, seed=10))
    await _same_as_sql_scan(db, monkeypatch, "alice", queries)
    first = _only_copy(db)
    await db.delete_chunks(docs[0].id)  # 25 %: masked
    await _same_as_sql_scan(db, monkeypatch, "alice", queries)
    if db.backend == "libsql":
        assert first is not None and first.gone_count == 20 and len(first.ids) == 80
    await db.delete_chunks(docs[1].id)  # 50 %: compacted in memory
    await _same_as_sql_scan(db, monkeypatch, "alice", queries)
    if db.backend == "libsql":
        assert _only_copy(db) is first and first is not None
        assert first.gone_count == 0 and len(first.ids) == 40 and first.gone is None


async def test_a_trimmed_change_log_rebuilds_the_copy(
    ironstore_connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy whose next log entry was trimmed away (it missed more than LOG_KEEP changes)
    cannot be patched: it is read again, and answers stay right."""
    monkeypatch.setattr(vector, "CACHE_MIN_VECTORS", 1)
    db = await ironstore_connect(embedding_dimension=DIM)
    ids = await _corpus(db, "alice", 40, seed=11)
    probe = np.ones(DIM, dtype=np.float32)
    await _hits(db, "alice", probe)
    first = _only_copy(db)
    await db.update_chunk_embedding(ids[3], (probe * 2).tolist())
    await db.update_chunk_embedding(ids[4], (probe * 3).tolist())
    if db.backend == "libsql":  # what the trimming trigger does after LOG_KEEP newer entries
        async with db.engine.begin() as conn:
            await conn.execute(text("DELETE FROM ironstore_workspace_changes WHERE chunk_rowid = (SELECT min(chunk_rowid) FROM ironstore_workspace_changes)"))
    hits = await _same_as_sql_scan(db, monkeypatch, "alice", [probe])
    assert set(hits[0][:2]) == {ids[3], ids[4]}
    if db.backend == "libsql":
        assert _only_copy(db) is not first, "rebuilt"


async def test_a_downgrade_below_the_change_log_rebuilds_then_patching_resumes(
    blank_url: str, ironstore_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Downgraded to revision 0010 (libSQL: no log, a delete bumps `epoch` again) with the
    Database open, searches stay right; upgraded again, deletes are patched in again."""
    from ironstore import connect, migrations

    monkeypatch.setattr(vector, "CACHE_MIN_VECTORS", 1)
    db = await connect(blank_url, embedding_dimension=DIM)
    try:
        await db.run_migrations()
        docs = [await db.get_or_create_document_by_path("alice", None, f"d{i}.md") for i in range(6)]
        vectors = _vectors(120, seed=12)  # each delete below is under COMPACT_GONE_SHARE of the copy
        for i, d in enumerate(docs):
            await db.insert_chunks(d.id, [(j, f"c{j}", vectors[20 * i + j].tolist()) for j in range(20)])
        queries = list(_vectors(4, seed=13))
        await _same_as_sql_scan(db, monkeypatch, "alice", queries)
        built = _only_copy(db)
        async with migrations.in_process_lock(), db._write_engine.connect() as conn:
            previous = {"libsql": "ironstore_ls_0010", "postgres": "ironstore_0010"}[ironstore_backend]
            await conn.run_sync(migrations.downgrade, db.backend, previous)
            await conn.commit()
        await db.delete_chunks(docs[0].id)
        await _same_as_sql_scan(db, monkeypatch, "alice", queries)
        rebuilt = _only_copy(db)
        await db.run_migrations()
        await db.delete_chunks(docs[1].id)
        hits = await _same_as_sql_scan(db, monkeypatch, "alice", queries)
        assert {h for hit in hits for h in hit} and all(len(hit) == 10 for hit in hits)
        if ironstore_backend == "libsql":
            assert rebuilt is not built, "without the log a delete rebuilds"
            assert _only_copy(db) is rebuilt and rebuilt is not None and rebuilt.gone_count == 20
    finally:
        await db.close()


async def test_a_chunk_reembedded_across_a_reclustering_is_found_once(
    ironstore_connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-embedded, then the copy is clustered again, then re-embedded again: only its latest
    vector counts (the stale row of the first re-embedding must not come back)."""
    monkeypatch.setattr(vector, "CACHE_MIN_VECTORS", 1)
    monkeypatch.setattr(vector, "CLUSTER_MIN_VECTORS", 100)
    db = await ironstore_connect(embedding_dimension=DIM)
    matrix = _clustered(560, DIM, 51, centres=5, spread=0.1)
    doc = await db.get_or_create_document_by_path("alice", None, "c.md")
    ids = await db.insert_chunks(doc.id, [(i, f"c{i}", v.tolist()) for i, v in enumerate(matrix[:400])])
    first, second = np.ones(DIM, dtype=np.float32), -np.ones(DIM, dtype=np.float32)
    await _same_as_sql_scan(db, monkeypatch, "alice", [first])
    await db.update_chunk_embedding(ids[7], (first * 2).tolist())
    assert (await _same_as_sql_scan(db, monkeypatch, "alice", [first]))[0][0] == ids[7]
    more = await db.get_or_create_document_by_path("alice", None, "more.md")
    await db.insert_chunks(more.id, [(i, f"m{i}", v.tolist()) for i, v in enumerate(matrix[400:])])
    await _same_as_sql_scan(db, monkeypatch, "alice", [first])  # 160 new rows: clustered again
    if db.backend == "libsql":
        copy = _only_copy(db)
        assert copy is not None and copy.clusters is not None and copy.gone_count == 0 and len(copy.ids) == 560
    await db.update_chunk_embedding(ids[7], (second * 2).tolist())
    hits = await _same_as_sql_scan(db, monkeypatch, "alice", [first, second])
    assert ids[7] not in hits[0] and hits[1][0] == ids[7]
