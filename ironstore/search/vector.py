"""Vector candidates: exact top-k by cosine distance within the scope(s), before the limit.

PostgreSQL: the column stays an unbounded `vector`; rows are restricted with
`vector_dims(embedding) = N` and ordered by `(embedding::vector(N)) <=> q` — exactly the
expression and predicate of the partial HNSW index `ensure_vector_index(N)` creates
(`halfvec(N)` above 2,000 dimensions, pgvector >= 0.7), so the planner may use the index for
large scopes and an exact scan for small ones. With the index, `hnsw.ef_search` is raised
(`_ef_search`: twice the candidate count, at least 400) and (pgvector >= 0.8) iterative scans
are enabled; rows are re-sorted by (distance, id) in Python either way.

libSQL: an exact scan over the scope's vectors in SQL (`vector_distance_cos` on the stored
little-endian float32 blobs, `length(embedding) = 4 * N`). Why: the DiskANN index
(`vector_top_k`) is global, so scope filtering after top-k loses in-scope candidates, its
inserts are slow (~12 ms/row in IronClaw at 20k rows, far below the 2,000 chunks/s ingest
target), and an exact scan restricted by the scope's documents is exact (recall 1.0) and fast
enough for personal-workspace sizes. Scopes of `CACHE_MIN_VECTORS` or more embedded chunks are
searched in process instead: their vectors are read once into a normalised float32 NumPy matrix
(one matrix-vector product per query, ~25x faster than the SQL scan at 100k chunks), kept
current by the scope's users' change counters, which triggers of revision
ironstore_ls_0010 bump on every write that matters, from any process. The first search
after new chunks reads only those; after deletes or re-embeddings it drops the rows that
revision ironstore_ls_0011's change log names and reads back those still embedded (a
moved or deleted document, or a log trimmed past the copy, rebuilds the matrix: about the
cost of one SQL scan). Copies of `CLUSTER_MIN_VECTORS` or more rows are also grouped
into k-means lists (`_clusters`): a search then scans only the lists that could hold a top-k
row and is still exact; the gain depends on how clustered the vectors are (bench/workspace.py
measures both a clustered and a uniform corpus).
"""

from __future__ import annotations

import math
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Float, Integer, LargeBinary, Text, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import TypeEngine

from ..records.workspace import RankedResult
from ..types import Embedding, UUIDType
from ._clusters import Clusters, cluster_rows, pruned_candidates
from ._scope import CANDIDATE_COLUMNS, scope_sql

__all__ = [
    "HNSW_VECTOR_MAX", "build_vector_index", "drop_vector_index", "ensure_vector_index", "ensure_vector_index_sql",
    "pgvector_version", "vector_candidates", "vector_index_name",
]

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


def vector_index_name(dimension: int) -> str:
    return f"idx_memory_chunks_embedding_{int(dimension)}"  # int(): the name is formatted into DDL


def ensure_vector_index_sql(dimension: int, version: tuple[int, ...]) -> list[str]:
    """PG DDL for the per-dimension partial HNSW expression index (none above the limits)."""
    cast, ops = _pg_cast(dimension, version)
    if not cast:
        return []
    return [
        (
        f"CREATE INDEX IF NOT EXISTS {vector_index_name(dimension)} ON memory_chunks "
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


async def drop_vector_index(conn: AsyncConnection, dialect: str, dimension: int) -> bool:
    """PG: drop the HNSW index of `dimension`; True when there was one. libSQL: False (no SQL)."""
    if dialect != "postgresql":
        return False
    name = vector_index_name(dimension)
    found = (await conn.execute(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name})).scalar_one()
    if found:
        await conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
    return bool(found)


BUILD_MEMORY_CAP_MB = 2048
"""Most `maintenance_work_mem` a rebuild asks for unless told (pgvector builds the graph in
memory while it fits, several times faster than on disk)."""


_BUILD_SIZES = text(
    "SELECT count(*), (SELECT setting::bigint / 1024 FROM pg_settings WHERE name = 'maintenance_work_mem') "
    "FROM memory_chunks WHERE vector_dims(embedding) = :dim"
)


async def build_vector_index(conn: AsyncConnection, dimension: int, memory_mb: int | None) -> None:
    """PG: (re)build the HNSW index of `dimension` with enough `maintenance_work_mem`.

    Unless `memory_mb` is given: the graph's estimated size (each vector plus ~1 KiB of
    neighbour lists, +10 %), capped at BUILD_MEMORY_CAP_MB and never below the server's setting.
    """
    if memory_mb is None:
        rows, current = (
            await conn.execute(_BUILD_SIZES, {"dim": dimension})
        ).one()  # indexed rows, the server's maintenance_work_mem in MB
        memory_mb = max(int(current), min(BUILD_MEMORY_CAP_MB, math.ceil(int(rows) * (4 * dimension + 1024) * 1.1 / 2**20)))
    await conn.execute(text("SELECT set_config('maintenance_work_mem', :mem, true)"), {"mem": f"{int(memory_mb)}MB"})
    await ensure_vector_index(conn, "postgresql", dimension)


HNSW_EF_SEARCH_MIN = 400
"""Smallest `hnsw.ef_search` (pgvector's default is 40). bench/workspace.py at 100k chunks:
recall@10 0.98 with 200, 0.997 with 400, for ~1 ms more per query."""


def _ef_search(limit: int) -> int:
    """The HNSW search breadth for `limit` candidates: twice the candidates, within [MIN, 1000]."""
    return min(1000, max(HNSW_EF_SEARCH_MIN, 2 * limit))


# Both settings in one round trip, built once; is_local = true: like SET LOCAL, until the commit.
_HNSW_SETTINGS = text("SELECT set_config('hnsw.ef_search', :ef_search, true)")
_HNSW_SETTINGS_ITERATIVE = text(
    "SELECT set_config('hnsw.ef_search', :ef_search, true), "
    "set_config('hnsw.iterative_scan', 'relaxed_order', true)"  # pgvector >= 0.8
)


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
    if dialect != "postgresql":
        cached = await _cached_candidates(conn, user_ids, agent_id, query_vector, limit)
        if cached is not None:
            return cached
    return await _sql_candidates(conn, dialect, user_ids, agent_id, query_vector, limit)


async def _sql_candidates(
    conn: AsyncConnection,
    dialect: str,
    user_ids: Sequence[str],
    agent_id: uuid.UUID | None,
    query_vector: np.ndarray,
    limit: int,
) -> list[RankedResult]:
    """The exact scan in SQL (libSQL) or the pgvector query (PostgreSQL)."""
    dim = int(query_vector.size)
    where, params = scope_sql(user_ids, agent_id)
    if dialect == "postgresql":
        version = await pgvector_version(conn)
        cast, _ = _pg_cast(dim, version)
        if cast:
            distance = f"(c.embedding::{cast}) <=> CAST(:qvec AS {cast})"
            settings = _HNSW_SETTINGS_ITERATIVE if version >= (0, 8) else _HNSW_SETTINGS
            await conn.execute(settings, {"ef_search": str(_ef_search(limit))})
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
    return _ranked(rows)


def _ranked(rows: Sequence[Any]) -> list[RankedResult]:
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


# ---- libSQL: the scope's vectors in process memory -------------------------------------------

CACHE_MIN_VECTORS = 2000
"""Scopes with fewer embedded chunks are scanned in SQL (as fast, and nothing is kept)."""
CACHE_MAX_SCOPES = 4
"""Scopes kept per engine; the least recently searched is dropped first."""
CLUSTER_MIN_VECTORS = 20_000
"""Copies this large are clustered for pruned scans (below it a full product takes < 1 ms)."""
COMPACT_GONE_SHARE = 0.25
"""Deleted or re-embedded rows are masked in place; past this share the copy is compacted."""
CLUSTER_TAIL_SHARE = 0.25
"""Rows appended since the last clustering are scanned in full; past this share of the
clustered rows the copy is clustered again (~0.5 s per 100k rows, amortised over the appends)."""


@dataclass
class _ScopeVectors:
    """One scope's embedded chunks in process memory, as of `epochs` / `appends`."""

    epochs: tuple[tuple[str, int], ...]
    appends: tuple[int, ...]
    ids: list[str] = field(default_factory=list)  # stored chunk ids, in matrix row order
    rowids: list[int] = field(default_factory=list)  # their memory_chunks._rowid (fast lookups)
    buffer: np.ndarray | None = None  # rows [0, len(ids)) hold unit-length float32 vectors
    last_rowid: int = 0  # highest memory_chunks._rowid read
    last_change: int = 0  # highest ironstore_workspace_changes.seq applied
    clusters: Clusters | None = None  # describes rows [0, clusters.rows); later rows: the tail
    gone: np.ndarray | None = None  # as long as `ids`: True for rows deleted or re-embedded since read
    gone_count: int = 0
    positions: dict[int, int] = field(default_factory=dict)  # _rowid -> its (latest) row

    @property
    def unit(self) -> np.ndarray | None:
        return None if self.buffer is None else self.buffer[: len(self.ids)]

    def append(self, ids: list[str], rowids: list[int], vectors: np.ndarray) -> None:
        assert self.buffer is not None
        n, extra = len(self.ids), len(ids)
        if n + extra > len(self.buffer):  # grow by doubling: appends stay cheap
            grown = np.zeros((max(2 * len(self.buffer), n + extra), self.buffer.shape[1]), np.float32)
            grown[:n] = self.buffer[:n]
            self.buffer = grown
        self.buffer[n : n + extra] = vectors
        self.rowids.extend(rowids)
        self.positions.update(zip(rowids, range(n, n + extra)))
        if self.gone is not None:
            self.gone = np.concatenate([self.gone, np.zeros(extra, bool)])
        self.ids.extend(ids)  # last: rows become visible to searches once complete

    def drop(self, rowids: set[int]) -> None:
        """Mark the rows of these chunks as gone (searches skip them until the next compaction)."""
        found = [self.positions.pop(r) for r in rowids if r in self.positions]
        if not found:
            return
        if self.gone is None:
            self.gone = np.zeros(len(self.ids), bool)
        self.gone[found] = True
        self.gone_count += len(found)

    def compact_if_due(self) -> None:
        """Drop gone rows from memory once they are COMPACT_GONE_SHARE of the copy (then the
        clustering is redone by cluster_if_due). Synchronous, like cluster_if_due."""
        if self.gone_count > COMPACT_GONE_SHARE * len(self.ids):
            self._compact()

    def _compact(self) -> None:
        if self.gone is None or self.buffer is None:
            return
        keep = np.flatnonzero(~self.gone)
        self.buffer[: len(keep)] = self.buffer[keep]
        self.ids = [self.ids[i] for i in keep]
        self.rowids = [self.rowids[i] for i in keep]
        self.positions = {r: i for i, r in enumerate(self.rowids)}
        self.gone, self.gone_count, self.clusters = None, 0, None

    def cluster_if_due(self) -> None:
        """(Re)cluster when the copy is large enough and its unclustered tail has grown too long.
        Synchronous (no await), so no search sees the rows half reordered."""
        n = len(self.ids)
        clustered = 0 if self.clusters is None else self.clusters.rows
        if self.buffer is None or n < CLUSTER_MIN_VECTORS or n - clustered <= CLUSTER_TAIL_SHARE * clustered:
            return
        self._compact()  # every row moves anyway: gone rows (and stale duplicates of a _rowid) go
        n = len(self.ids)
        if n < CLUSTER_MIN_VECTORS:
            return
        order, self.clusters = cluster_rows(self.buffer[:n])
        self.buffer[:n] = self.buffer[order]
        self.ids = [self.ids[i] for i in order]
        self.rowids = [self.rowids[i] for i in order]
        self.positions = {r: i for i, r in enumerate(self.rowids)}


_scopes: weakref.WeakKeyDictionary[Any, OrderedDict[tuple[Any, ...], _ScopeVectors]] = weakref.WeakKeyDictionary()
_EPOCH_TABLE = "ironstore_workspace_epoch"
_tables_found: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
_Counters = tuple[tuple[tuple[str, int], ...], tuple[int, ...]]


async def _table_present(conn: AsyncConnection, name: str, remember: bool = True) -> bool:
    """Whether the database has this bookkeeping table; looked up until found (a later
    migration may add it), then remembered per engine unless `remember` is False."""
    found = _tables_found.setdefault(conn.sync_engine, set())
    if name not in found:
        stmt = text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n")
        if (await conn.execute(stmt, {"n": name})).first() is None:
            return False
        if remember:
            found.add(name)
    return True


async def _counters(conn: AsyncConnection, user_ids: Sequence[str]) -> _Counters | None:
    """Each user's (epoch, appends) of revision ironstore_ls_0010, or None before that revision."""
    if not await _table_present(conn, _EPOCH_TABLE):
        return None
    stmt = text("SELECT user_id, epoch, appends FROM ironstore_workspace_epoch WHERE user_id IN :uids").bindparams(
        bindparam("uids", list(user_ids), expanding=True)
    )
    found = {str(u): (int(e), int(a)) for u, e, a in (await conn.execute(stmt)).all()}
    users = sorted(set(user_ids))
    return (
        tuple((u, found.get(u, (0, 0))[0]) for u in users),
        tuple(found.get(u, (0, 0))[1] for u in users),
    )


async def _cached_candidates(
    conn: AsyncConnection,
    user_ids: Sequence[str],
    agent_id: uuid.UUID | None,
    query_vector: np.ndarray,
    limit: int,
) -> list[RankedResult] | None:
    """Top-k from an in-memory copy of the scope's vectors; None: use the SQL scan instead.

    The copy follows the scope's users' counters, which triggers bump whichever process writes:
    new chunks, deletes and re-embeddings (`appends`; from revision ironstore_ls_0011 the last two
    are named in the change log) patch the copy; a moved or deleted document (`epoch`), or a log
    that no longer reaches back to the copy, rebuilds it. Distances are cosine distances (1 - cos) like
    `vector_distance_cos`, ties broken by chunk id; only the winners' rows are then read.
    """
    counters = await _counters(conn, user_ids)
    if counters is None:
        return None
    epochs, appends = counters
    dim = int(query_vector.size)
    key = (tuple(sorted(set(user_ids))), None if agent_id is None else str(agent_id), dim)
    scopes = _scopes.setdefault(conn.sync_engine, OrderedDict())
    entry = scopes.get(key)
    if entry is not None and entry.epochs == epochs and entry.appends != appends and entry.buffer is not None:
        if await _refresh(conn, entry, user_ids, agent_id, dim):
            entry.appends = appends
        else:
            entry = None
    if entry is None or entry.epochs != epochs or (entry.appends != appends and entry.buffer is None):
        entry = await _load_scope(conn, user_ids, agent_id, dim, epochs, appends)
        scopes[key] = entry
        while len(scopes) > CACHE_MAX_SCOPES:
            scopes.popitem(last=False)
    scopes.move_to_end(key)
    entry.compact_if_due()
    entry.cluster_if_due()
    unit = entry.unit
    if unit is None:
        return None
    nearest = _nearest(unit, entry.ids, query_vector, limit, entry.clusters, entry.gone)
    return await _rows_of(conn, [(entry.rowids[i], d) for i, d in nearest])


_RESCORE_MARGIN = 1e-5
"""Rows this close behind the k-th distance are rescored with it (float32 rounding is ~1e-7)."""


def _nearest(
    unit: np.ndarray,
    ids: list[str],
    query_vector: np.ndarray,
    limit: int,
    clusters: Clusters | None = None,
    gone: np.ndarray | None = None,
) -> list[tuple[int, float]]:
    """(row of `unit`, cosine distance) of the `limit` nearest rows, ties by chunk id.

    With `clusters`, only the rows the pruning keeps are scored (same answer); else all rows.
    Rows where the mask `gone` is True are never returned.
    """
    norm = float(np.linalg.norm(query_vector))
    query = query_vector.astype(np.float32) / norm if norm > 0 else query_vector.astype(np.float32)
    k = min(limit, len(unit) - (0 if gone is None else int(np.count_nonzero(gone))))
    if k < 1:
        return []
    pruned = None if clusters is None or norm == 0 else pruned_candidates(unit, clusters, query, k, gone)
    if pruned is None:
        rows, distances = None, 1.0 - unit @ query
        if gone is not None:
            distances[gone] = np.inf
    else:
        # the lists were scored by separate products, which may round equal vectors differently;
        # the shortlist near the cut is scored again in one product, so duplicates tie again
        rows, distances = pruned[0], 1.0 - pruned[1]
        if gone is not None:
            rows, distances = rows[np.isfinite(distances)], distances[np.isfinite(distances)]
        if k < len(distances):
            rows = rows[distances <= np.partition(distances, k - 1)[k - 1] + _RESCORE_MARGIN]
        distances = 1.0 - unit[rows] @ query
    if k < len(distances):
        # everything at or below the k-th distance, so ties at the cut are decided by id
        cut = np.partition(distances, k - 1)[k - 1]
        chosen = np.flatnonzero(distances <= cut)
    else:
        chosen = np.arange(len(distances))
    row_of = chosen if rows is None else rows[chosen]
    best = sorted(range(len(chosen)), key=lambda j: (float(distances[chosen[j]]), ids[row_of[j]]))[:k]
    return [(int(row_of[j]), float(distances[chosen[j]])) for j in best]


async def _rows_of(conn: AsyncConnection, nearest: list[tuple[int, float]]) -> list[RankedResult]:
    """The candidates' rows, in `nearest` (_rowid, distance) order: one query by integer key."""
    if not nearest:
        return []
    stmt = text(
        f"SELECT {CANDIDATE_COLUMNS}, c._rowid AS chunk_rowid FROM memory_chunks AS c "
        "JOIN memory_documents AS d ON d.id = c.document_id WHERE c._rowid IN :rowids"
    ).bindparams(bindparam("rowids", [r for r, _ in nearest], expanding=True)).columns(**_TYPES)
    by_rowid = {int(r.chunk_rowid): r._mapping for r in (await conn.execute(stmt)).all()}
    rows = []
    for rowid, distance in nearest:
        found = by_rowid.get(rowid)
        if found is not None:  # deleted between the counter read and now: left out
            rows.append({**found, "distance": distance})
    return _ranked(rows)


def _scope_rows_sql(
    user_ids: Sequence[str], agent_id: uuid.UUID | None, dim: int, select_list: str, rowids: list[int] | None = None
) -> Any:
    """The scope's embedded chunks above `:after` (or, given `rowids`, those chunks), by _rowid."""
    where, params = scope_sql(user_ids, agent_id)
    if rowids is not None:
        params.append(bindparam("rowids", rowids, expanding=True))
    return text(
        f"SELECT {select_list} FROM memory_chunks AS c JOIN memory_documents AS d ON d.id = c.document_id "
        f"WHERE {where} AND c.embedding IS NOT NULL AND length(c.embedding) = {4 * dim} "
        + ("AND c._rowid IN :rowids " if rowids is not None else "AND c._rowid > :after ")
        + "ORDER BY c._rowid"
    ).bindparams(*params)


async def _load_scope(
    conn: AsyncConnection,
    user_ids: Sequence[str],
    agent_id: uuid.UUID | None,
    dim: int,
    epochs: tuple[tuple[str, int], ...],
    appends: tuple[int, ...],
) -> _ScopeVectors:
    entry = _ScopeVectors(epochs, appends)
    count = _scope_rows_sql(user_ids, agent_id, dim, "count(*)")
    if int((await conn.execute(count, {"after": 0})).scalar_one()) >= CACHE_MIN_VECTORS:
        entry.buffer = np.zeros((0, dim), np.float32)
        # the log position first: a change logged after it is applied again later (harmless),
        # none can be missed
        span = await _log_span(conn)
        entry.last_change = span[1] if span else 0
        rows = (await conn.execute(_scope_rows_sql(user_ids, agent_id, dim, _VECTOR_COLUMNS), {"after": 0})).all()
        _add_rows(entry, rows, dim)
    return entry


_VECTOR_COLUMNS = "c._rowid, c.id, c.embedding"
_CHANGES_TABLE = "ironstore_workspace_changes"
_REREAD_BATCH = 500
_LOG_SPAN = text("SELECT min(seq), max(seq) FROM ironstore_workspace_changes")
_LOGGED_SINCE = text(
    "SELECT seq, chunk_rowid FROM ironstore_workspace_changes WHERE user_id IN :uids AND seq > :after"
).bindparams(bindparam("uids", expanding=True))


async def _log_span(conn: AsyncConnection) -> tuple[int, int] | None:
    """(lowest, highest) seq in the change log ((0, 0) when empty), or None before revision
    ironstore_ls_0011 (no log: deletes and re-embeddings bump `epoch` there)."""
    # not remembered: a downgrade to ls_0010 drops the log while processes keep running (it also
    # bumps every epoch, so their copies are rebuilt); read only when a copy is loaded or patched
    if not await _table_present(conn, _CHANGES_TABLE, remember=False):
        return None
    low, high = (await conn.execute(_LOG_SPAN)).one()
    return (int(low or 0), int(high or 0))


async def _refresh(
    conn: AsyncConnection, entry: _ScopeVectors, user_ids: Sequence[str], agent_id: uuid.UUID | None, dim: int
) -> bool:
    """Patch the copy: drop the chunks the change log names since the copy's last entry, read
    them back (those still embedded in the scope) and the chunks above its last _rowid.

    Every read happens before the copy is touched, and the copy is touched only if no other
    search patched it meanwhile (else the reads start again from its new state), so concurrent
    searches never add a row twice. False: rebuild instead (the log was trimmed past the copy,
    or too much changed).
    """
    for _ in range(3):
        since_change, since_rowid = entry.last_change, entry.last_rowid
        span = await _log_span(conn)
        logged: list[tuple[int, int]] = []
        if span is not None:
            low, high = span
            if high < since_change or low > since_change + 1:
                return False  # trimmed past the copy, or a new log (back from a downgrade)
            found = await conn.execute(_LOGGED_SINCE, {"uids": list(user_ids), "after": since_change})
            logged = [(int(q), int(r)) for q, r in found.all()]
        changed = sorted({r for _, r in logged if r <= since_rowid})
        if len(changed) > COMPACT_GONE_SHARE * max(len(entry.ids), 1):
            return False  # most of the copy changed: reading it again is as cheap
        back: list[Any] = []
        for at in range(0, len(changed), _REREAD_BATCH):
            batch = changed[at : at + _REREAD_BATCH]
            back += (await conn.execute(_scope_rows_sql(user_ids, agent_id, dim, _VECTOR_COLUMNS, batch))).all()
        new = (await conn.execute(_scope_rows_sql(user_ids, agent_id, dim, _VECTOR_COLUMNS), {"after": since_rowid})).all()
        if (entry.last_change, entry.last_rowid) != (since_change, since_rowid):
            continue  # another search patched the copy while this one read: start from its state
        entry.drop(set(changed))
        _add_rows(entry, back, dim)
        _add_rows(entry, new, dim)
        entry.last_change = max([since_change, *(q for q, _ in logged)])
        return True
    return False


def _add_rows(entry: _ScopeVectors, rows: Sequence[Any], dim: int) -> None:
    """Append (_rowid, id, embedding) rows to the copy, normalised."""
    if not rows:
        return
    matrix = np.frombuffer(b"".join(bytes(r[2]) for r in rows), dtype="<f4").reshape(len(rows), dim)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit = np.divide(matrix, norms, out=np.zeros(matrix.shape, np.float32), where=norms > 0)
    entry.append([str(r[1]) for r in rows], [int(r[0]) for r in rows], unit)
    entry.last_rowid = max(entry.last_rowid, max(int(r[0]) for r in rows))
