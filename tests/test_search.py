"""Hybrid search (FTS, vector, fusion) on both backends, plus the fusion unit checks."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest

from ironstore import Database
from ironstore.errors import InvalidInputError
from ironstore.records.workspace import FusionStrategy, RankedResult, SearchConfig
from ironstore.search import fts5_query, fuse_results

Connect = Callable[..., Awaitable[Database]]
AGENT = uuid.UUID("22222222-2222-2222-2222-222222222222")
TRICKY = ["what's up?", "hello.", "1.5", "dark-mode", "e-mail", "a:b", "c++", '"unbalanced', "NOT dogs",
          "AND", "dogs AND", "(dogs", "", "   ", "?", '"', "*", "dogs*", "NEAR", "NEAR(a b)", "content: dogs",
          "dogs OR cats", "😀", "🐶 dogs", "'", "--", "\u3000", "the", "x\u200by"]


def rr(name: str, rank: int) -> RankedResult:
    u = uuid.uuid5(uuid.NAMESPACE_DNS, name)
    return RankedResult(chunk_id=u, document_id=u, document_path=name, content=name, rank=rank)


def test_rrf_worked_example() -> None:
    fts = [rr("A", 1), rr("B", 2), rr("C", 3)]
    vec = [rr("B", 1), rr("D", 2)]
    out = fuse_results(fts, vec, SearchConfig())
    assert [r.document_path for r in out] == ["B", "A", "D", "C"]
    for r, want in zip(out, [1.0, 0.50407, 0.49593, 0.48806]):
        assert r.score == pytest.approx(want, abs=1e-5)
    assert out[0].is_hybrid and out[1].from_fts and not out[1].from_vector and out[2].vector_rank == 2
    w = fuse_results(fts, vec, SearchConfig(fusion_strategy=FusionStrategy.WEIGHTED_SCORE, fts_weight=0.3, vector_weight=0.7))
    assert [r.document_path for r in w] == ["B", "D", "A", "C"]
    assert [round(r.score, 5) for r in w] == [1.0, 0.41176, 0.35294, 0.11765]


def test_fusion_edges() -> None:
    assert fuse_results([rr("A", 1)], [], SearchConfig())[0].score == 1.0
    assert fuse_results([], [], SearchConfig()) == []
    assert fuse_results([rr("A", 1)], [], SearchConfig(limit=0)) == []
    out = fuse_results([rr("A", 1), rr("B", 2)], [], SearchConfig().with_min_score(1.0))
    assert [r.document_path for r in out] == ["A"]
    # both-list rank 2/3 beats single-list rank 1
    out = fuse_results([rr("X", 1), rr("H", 2)], [rr("Y", 1), rr("Z", 2), rr("H", 3)], SearchConfig())
    assert out[0].document_path == "H"
    # ties: X (fts rank 1) before Y (vector rank 1)
    assert [r.document_path for r in out[1:3]] == ["X", "Y"]


def test_config_builders_and_fts5_query() -> None:
    c = SearchConfig()
    assert c.with_fts_weight(float("nan")).fts_weight == 0.5 and c.with_vector_weight(-1).vector_weight == 0.5
    assert c.with_fts_weight(2).fts_weight == 2.0 and c.with_min_score(5).min_score == 1.0
    assert not c.fts_only().use_vector and not c.vector_only().use_fts
    assert SearchConfig.from_env({"SEARCH_FUSION_STRATEGY": "Weighted"}).vector_weight == 0.7
    with pytest.raises(InvalidInputError):
        SearchConfig.from_env({"SEARCH_FUSION_STRATEGY": "bogus"})
    assert fts5_query('what is my dog\'s "name"') == '"dog\'s" """name"""'
    assert fts5_query("? * 😀 the") is None


async def corpus(db: Database) -> dict[str, uuid.UUID]:
    doc = await db.get_or_create_document_by_path("u", None, "notes/animals.md")
    other = await db.get_or_create_document_by_path("u", None, "notes/plants.md")
    ids = await db.insert_chunks(doc.id, [
        (0, "cat cat cat dog", [0.0, 1.0, 0.0]),
        (1, "cat dog bird fish", [0.6, 0.8, 0.0]),
        (2, "orchard apples grow", [1.0, 0.0, 0.0]),
    ])
    ids += await db.insert_chunks(other.id, [(0, "tulip garden flowers", [0.8, 0.6, 0.0]), (1, "running dogs", None)])
    # other scopes hold nearer vectors and the same words: must never leak in
    for user, agent in (("v", None), ("u", AGENT)):
        d = await db.get_or_create_document_by_path(user, agent, "notes/animals.md")
        await db.insert_chunks(d.id, [(0, "cat cat cat cat orchard", [1.0, 0.0, 0.0]), (1, "cat", [0.99, 0.01, 0.0])])
    return dict(zip(["c0", "c1", "orchard", "tulip", "running"], ids))


async def test_fts_only_order(ironstore_connect: Connect) -> None:
    db = await ironstore_connect(embedding_dimension=3)
    ids = await corpus(db)
    out = await db.hybrid_search("u", None, "cat", None, SearchConfig())
    assert [r.chunk_id for r in out] == [ids["c0"], ids["c1"]]
    assert [(r.fts_rank, r.vector_rank) for r in out] == [(1, None), (2, None)]
    assert out[0].score == 1.0 and out[1].score == pytest.approx(61 / 62)
    assert out[0].user_id == "u" and out[0].agent_id is None and out[0].chunk_index == 0
    assert out[0].fts_score is not None and out[0].fts_score > out[1].fts_score  # type: ignore[operator]
    assert out[0].document_path == "notes/animals.md" and out[0].content == "cat cat cat dog"
    # stemming (porter on libSQL? PG english) is not asserted; stop words are ignored on both
    assert [r.chunk_id for r in await db.hybrid_search("u", None, "the cat", None, SearchConfig())] == [ids["c0"], ids["c1"]]
    assert await db.hybrid_search("u", None, "zebra", None, SearchConfig()) == []
    assert len(await db.hybrid_search("u", None, "cat", None, SearchConfig(limit=1))) == 1
    assert await db.hybrid_search("u", None, "cat", None, SearchConfig(limit=0)) == []
    assert await db.hybrid_search("u", None, "cat", None, SearchConfig(use_fts=False)) == []


async def test_tricky_query_text(ironstore_connect: Connect) -> None:
    db = await ironstore_connect(embedding_dimension=3)
    ids = await corpus(db)
    for q in TRICKY:
        out = await db.hybrid_search("u", None, q, None, SearchConfig())
        assert all(r.user_id == "u" for r in out), q
    assert await db.hybrid_search("u", None, "", None, SearchConfig()) == []
    assert [r.chunk_id for r in await db.hybrid_search("u", None, "orchard?", None, SearchConfig())] == [ids["orchard"]]
    assert [r.chunk_id for r in await db.hybrid_search("u", None, "cat OR tulip", None, SearchConfig())] == []


async def test_vector_only_order_and_scope(ironstore_connect: Connect) -> None:
    db = await ironstore_connect(embedding_dimension=3)
    ids = await corpus(db)
    out = await db.hybrid_search("u", None, "", [1.0, 0.0, 0.0], SearchConfig().vector_only())
    # cosine distances: orchard 0, tulip 0.2, c1 0.4, c0 1.0
    assert [r.chunk_id for r in out] == [ids["orchard"], ids["tulip"], ids["c1"], ids["c0"]]
    assert [r.vector_rank for r in out] == [1, 2, 3, 4]
    assert [round(r.vector_distance or 0, 4) for r in out] == [0.0, 0.2, 0.4, 1.0]
    # scope applied before top-k: nearer vectors of other scopes do not crowd out ours
    top1 = await db.hybrid_search("u", None, "", [1.0, 0.0, 0.0], SearchConfig(pre_fusion_limit=1).vector_only())
    assert [r.chunk_id for r in top1] == [ids["orchard"]]
    agent_hits = await db.hybrid_search("u", AGENT, "", [1.0, 0.0, 0.0], SearchConfig().vector_only())
    assert [r.agent_id for r in agent_hits] == [AGENT, AGENT]


async def test_hybrid_order(ironstore_connect: Connect) -> None:
    db = await ironstore_connect(embedding_dimension=3)
    ids = await corpus(db)
    out = await db.hybrid_search("u", None, "orchard", [1.0, 0.0, 0.0], SearchConfig())
    assert [r.chunk_id for r in out] == [ids["orchard"], ids["tulip"], ids["c1"], ids["c0"]]
    assert out[0].is_hybrid and out[0].score == 1.0
    assert [round(r.score, 5) for r in out[1:]] == [round(x * 61 / 2, 5) for x in (1 / 62, 1 / 63, 1 / 64)]
    # wrong-dimension query embedding: FTS-only, no exception
    fts_only = await db.hybrid_search("u", None, "orchard", [1.0, 0.0], SearchConfig())
    assert [(r.chunk_id, r.vector_rank) for r in fts_only] == [(ids["orchard"], None)]
    with pytest.raises(InvalidInputError):
        await db.hybrid_search("u", None, "orchard", [float("inf"), 0.0, 0.0], SearchConfig())
    with pytest.raises(InvalidInputError):
        await db.hybrid_search("u", None, "orchard", None, SearchConfig(limit=-1))
    with pytest.raises(InvalidInputError):
        await db.hybrid_search("u", None, "orchard", None, "cfg")  # type: ignore[arg-type]


async def test_no_dimension_degrades_to_fts(ironstore_connect: Connect) -> None:
    writer = await ironstore_connect(embedding_dimension=3)
    ids = await corpus(writer)
    db = await ironstore_connect()
    out = await db.hybrid_search("u", None, "orchard", [1.0, 0.0, 0.0], SearchConfig())
    assert [(r.chunk_id, r.vector_rank) for r in out] == [(ids["orchard"], None)]


async def test_multi_scope_search(ironstore_connect: Connect) -> None:
    db = await ironstore_connect(embedding_dimension=3)
    await corpus(db)
    cfg = SearchConfig()
    for q, e in (("cat", None), ("orchard", [1.0, 0.0, 0.0]), ("", [0.6, 0.8, 0.0])):
        assert await db.hybrid_search("u", None, q, e, cfg) == await db.hybrid_search_multi(["u"], None, q, e, cfg)
    both = await db.hybrid_search_multi(["u", "v"], None, "cat", None, cfg)
    assert [(r.user_id, r.content) for r in both][:1] == [("v", "cat cat cat cat orchard")]
    assert {r.user_id for r in both} == {"u", "v"} and len(both) == 4
    assert all(r.agent_id is None for r in both)
    assert await db.hybrid_search_multi([], None, "cat", None, cfg) == []
    vec = await db.hybrid_search_multi(["u", "v"], None, "", [1.0, 0.0, 0.0], SearchConfig(pre_fusion_limit=2))
    assert sorted(r.user_id or "" for r in vec) == ["u", "v"]
    assert [r.vector_distance for r in vec] == [pytest.approx(0.0, abs=1e-6)] * 2
