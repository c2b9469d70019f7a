"""One fusion implementation (RRF / weighted) for both backends (spec §5.5)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from ..records.workspace import FusionStrategy, RankedResult, SearchConfig, SearchResult

__all__ = ["fuse_results"]


def fuse_results(
    fts: Sequence[RankedResult], vec: Sequence[RankedResult], config: SearchConfig
) -> list[SearchResult]:
    """Fuse two ranked candidate lists, normalise to best = 1.0, filter, sort, truncate.

    Sort key (deterministic): (-score, best rank, not-from-FTS, document_path, str(chunk_id)).
    """
    acc: dict[uuid.UUID, dict[str, Any]] = {}

    def add(lst: Sequence[RankedResult], field: str, extra: str, term: Callable[[int], float]) -> None:
        for r in lst:
            e = acc.get(r.chunk_id)
            if e is None:
                e = acc[r.chunk_id] = {
                    "document_id": r.document_id,
                    "document_path": r.document_path,
                    "content": r.content,
                    "user_id": r.user_id,
                    "agent_id": r.agent_id,
                    "chunk_index": r.chunk_index,
                    "raw": 0.0,
                    "fts_rank": None,
                    "vector_rank": None,
                    "fts_score": None,
                    "vector_distance": None,
                }
            e["raw"] += term(r.rank)
            e[field] = r.rank
            e[extra] = r.score

    if config.fusion_strategy is FusionStrategy.RRF:
        k = config.rrf_k
        add(fts, "fts_rank", "fts_score", lambda n: 1.0 / (k + n))
        add(vec, "vector_rank", "vector_distance", lambda n: 1.0 / (k + n))
    else:
        fw, vw = config.fts_weight, config.vector_weight
        add(fts, "fts_rank", "fts_score", lambda n: fw / n)
        add(vec, "vector_rank", "vector_distance", lambda n: vw / n)
    m = max((e["raw"] for e in acc.values()), default=0.0)
    out = [
        SearchResult(
            document_id=e["document_id"],
            document_path=e["document_path"],
            chunk_id=cid,
            content=e["content"],
            score=(e["raw"] / m if m > 0 else e["raw"]),
            fts_rank=e["fts_rank"],
            vector_rank=e["vector_rank"],
            user_id=e["user_id"],
            agent_id=e["agent_id"],
            chunk_index=e["chunk_index"],
            fts_score=e["fts_score"],
            vector_distance=e["vector_distance"],
        )
        for cid, e in acc.items()
    ]
    if config.min_score > 0:
        out = [r for r in out if r.score >= config.min_score]
    out.sort(
        key=lambda r: (
            -r.score,
            min(x for x in (r.fts_rank, r.vector_rank) if x is not None),
            r.fts_rank is None,
            r.document_path,
            str(r.chunk_id),
        )
    )
    return out[: max(config.limit, 0)]
