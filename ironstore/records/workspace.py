"""Record dataclasses and enums of the WorkspaceStore (spec: stores-workspace-search.md §9)."""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import ConfigurationError

__all__ = [
    "IDENTITY_PATHS",
    "FusionStrategy",
    "MemoryChunk",
    "MemoryDocument",
    "RankedResult",
    "SearchConfig",
    "SearchResult",
    "WorkspaceEntry",
]

#: Identity documents (case-sensitive, exact path).
IDENTITY_PATHS: frozenset[str] = frozenset(
    {"IDENTITY.md", "SOUL.md", "AGENTS.md", "USER.md", "TOOLS.md", "BOOTSTRAP.md"}
)


@dataclass(frozen=True, slots=True)
class MemoryDocument:
    """One row of `memory_documents`."""

    id: uuid.UUID
    user_id: str
    agent_id: uuid.UUID | None
    path: str
    content: str
    created_at: datetime
    updated_at: datetime
    metadata: Any

    @property
    def file_name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def parent_dir(self) -> str | None:
        return self.path.rsplit("/", 1)[0] if "/" in self.path else None

    @property
    def is_empty(self) -> bool:
        return self.content == ""

    @property
    def word_count(self) -> int:
        return len(self.content.split())

    @property
    def is_identity_document(self) -> bool:
        return self.path in IDENTITY_PATHS


@dataclass(frozen=True, slots=True)
class MemoryChunk:
    """One row of `memory_chunks` (internal `_rowid` / `content_tsv` are not mapped)."""

    id: uuid.UUID
    document_id: uuid.UUID
    chunk_index: int
    content: str
    embedding: list[float] | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class WorkspaceEntry:
    """An immediate child of a listed directory: a file or a virtual directory."""

    path: str
    is_directory: bool
    updated_at: datetime | None
    content_preview: str | None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


class FusionStrategy(enum.StrEnum):
    """How full-text and vector candidate lists are fused."""

    RRF = "rrf"
    WEIGHTED_SCORE = "weighted"


def _weight_ok(w: object) -> bool:
    return isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) and w >= 0


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """Hybrid-search parameters (not persisted). Builders return modified copies."""

    limit: int = 10
    rrf_k: int = 60
    use_fts: bool = True
    use_vector: bool = True
    min_score: float = 0.0
    pre_fusion_limit: int = 50
    fusion_strategy: FusionStrategy = FusionStrategy.RRF
    fts_weight: float = 0.5
    vector_weight: float = 0.5

    def with_limit(self, n: int) -> SearchConfig:
        return dataclasses.replace(self, limit=n)

    def with_rrf_k(self, k: int) -> SearchConfig:
        return dataclasses.replace(self, rrf_k=k)

    def fts_only(self) -> SearchConfig:
        return dataclasses.replace(self, use_fts=True, use_vector=False)

    def vector_only(self) -> SearchConfig:
        return dataclasses.replace(self, use_fts=False, use_vector=True)

    def with_min_score(self, s: float) -> SearchConfig:
        return dataclasses.replace(self, min_score=min(1.0, max(0.0, float(s))))

    def with_fusion_strategy(self, s: FusionStrategy) -> SearchConfig:
        return dataclasses.replace(self, fusion_strategy=FusionStrategy(s))

    def with_fts_weight(self, w: float) -> SearchConfig:
        return dataclasses.replace(self, fts_weight=float(w)) if _weight_ok(w) else self

    def with_vector_weight(self, w: float) -> SearchConfig:
        return dataclasses.replace(self, vector_weight=float(w)) if _weight_ok(w) else self

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SearchConfig:
        """Defaults overridden by SEARCH_FUSION_STRATEGY / SEARCH_RRF_K / SEARCH_*_WEIGHT."""
        raw = env.get("SEARCH_FUSION_STRATEGY", "rrf").strip().lower()
        if raw not in ("rrf", "weighted"):
            raise ConfigurationError(f"SEARCH_FUSION_STRATEGY must be rrf or weighted, got {raw!r}")
        strategy = FusionStrategy(raw)
        try:
            k = int(env.get("SEARCH_RRF_K", "60"))
        except ValueError:
            raise ConfigurationError("SEARCH_RRF_K must be an unsigned integer") from None
        if k < 0:
            raise ConfigurationError("SEARCH_RRF_K must be an unsigned integer")
        defaults = (0.5, 0.5) if strategy is FusionStrategy.RRF else (0.3, 0.7)
        weights = []
        for name, default in zip(("SEARCH_FTS_WEIGHT", "SEARCH_VECTOR_WEIGHT"), defaults):
            try:
                w = float(env.get(name, str(default)))
            except ValueError:
                raise ConfigurationError(f"{name} must be a number") from None
            if not _weight_ok(w):
                raise ConfigurationError(f"{name} must be finite and >= 0")
            weights.append(w)
        if strategy is FusionStrategy.WEIGHTED_SCORE and weights == [0.0, 0.0]:
            raise ConfigurationError("weighted fusion needs at least one non-zero weight")
        return cls(rrf_k=k, fusion_strategy=strategy, fts_weight=weights[0], vector_weight=weights[1])


@dataclass(frozen=True, slots=True)
class RankedResult:
    """One row of one candidate list (1-based `rank`); extra ironstore fields optional."""

    chunk_id: uuid.UUID
    document_id: uuid.UUID
    document_path: str
    content: str
    rank: int
    user_id: str | None = None
    agent_id: uuid.UUID | None = None
    chunk_index: int | None = None
    score: float | None = None  # fts_score (larger = better) or vector distance


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One fused hit: a chunk with its normalised score and per-list ranks."""

    document_id: uuid.UUID
    document_path: str
    chunk_id: uuid.UUID
    content: str
    score: float
    fts_rank: int | None
    vector_rank: int | None
    user_id: str | None = None
    agent_id: uuid.UUID | None = None
    chunk_index: int | None = None
    fts_score: float | None = None
    vector_distance: float | None = None

    @property
    def from_fts(self) -> bool:
        return self.fts_rank is not None

    @property
    def from_vector(self) -> bool:
        return self.vector_rank is not None

    @property
    def is_hybrid(self) -> bool:
        return self.fts_rank is not None and self.vector_rank is not None
