"""The only per-dialect query code of ironstore: full-text and vector candidates, one fusion.

- `fulltext`: safe FTS queries from any user text (PG `plainto_tsquery`; libSQL FTS5 with
  every token quoted and English stop words removed).
- `vector`: exact top-k by cosine distance restricted to the caller's scope(s) before the limit
  (PG: `vector_dims` predicate + `::vector(N)` cast matching the partial HNSW index built by
  `ensure_vector_index`; libSQL: exact scan with `vector_distance_cos` over the scope's rows,
  or over an in-process NumPy copy of a large scope's vectors, kept current by triggers).
- `fusion`: RRF (k = 60) / weighted fusion shared by both backends, deterministic tie-breaks.
"""

from __future__ import annotations

from .fulltext import ENGLISH_STOP_WORDS, fts5_query, fts_candidates
from .fusion import fuse_results
from .vector import ensure_vector_index_sql, vector_candidates

__all__ = [
    "ENGLISH_STOP_WORDS",
    "ensure_vector_index_sql",
    "fts5_query",
    "fts_candidates",
    "fuse_results",
    "vector_candidates",
]
