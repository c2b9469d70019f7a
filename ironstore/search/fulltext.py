"""Full-text candidates: PG `plainto_tsquery('english', …)`, libSQL FTS5 with a quoted query."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Float, Integer, Text, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

from ..records.workspace import RankedResult
from ..types import UUIDType
from ._scope import CANDIDATE_COLUMNS, scope_sql

__all__ = ["ENGLISH_STOP_WORDS", "fts5_query", "fts_candidates"]

#: PostgreSQL's `english.stop` list (127 words), used to build libSQL queries like plainto_tsquery.
ENGLISH_STOP_WORDS: frozenset[str] = frozenset(
    ["i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "your", "yours", "yourself", "yourselves", "he", "him", "his", "himself", "she", "her", "hers", "herself", "it", "its", "itself", "they", "them", "their", "theirs", "themselves", "what", "which", "who", "whom", "this", "that", "these", "those", "am", "is", "are", "was", "were", "be", "been", "being", "have", "has", "had", "having", "do", "does", "did", "doing", "a", "an", "the", "and", "but", "if", "or", "because", "as", "until", "while", "of", "at", "by", "for", "with", "about", "against", "between", "into", "through", "during", "before", "after", "above", "below", "to", "from", "up", "down", "in", "out", "on", "off", "over", "under", "again", "further", "then", "once", "here", "there", "when", "where", "why", "how", "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "no", "nor", "not", "only", "own", "same", "so", "than", "too", "very", "s", "t", "can", "will", "just", "don", "should", "now"]
)

# Unicode White_Space (what the reference splits on; str.split() would also split U+001C–U+001F)
_WS = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def _split_ws(value: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    for ch in value:
        if ch in _WS:
            if cur:
                out.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out


def fts5_query(user_text: str) -> str | None:
    """A safe FTS5 MATCH expression (implicit AND of quoted tokens), or None = skip the FTS side.

    Tokens without any letter/digit (`?`, `*`, emoji, lone quotes) and English stop words are
    dropped; each remaining token is wrapped in double quotes with inner quotes doubled, so
    operators (`NEAR`, `OR`, `col:`, `*`, parentheses) are always plain words.
    """
    terms: list[str] = []
    for token in _split_ws(user_text):
        if not any(ch.isalnum() for ch in token):
            continue
        if token.lower() in ENGLISH_STOP_WORDS:
            continue
        terms.append('"' + token.replace('"', '""') + '"')
    return " ".join(terms) if terms else None


def _rows_to_ranked(rows: Sequence[object]) -> list[RankedResult]:
    out: list[RankedResult] = []
    for i, row in enumerate(rows, start=1):
        m = row._mapping  # type: ignore[attr-defined]
        out.append(
            RankedResult(
                chunk_id=m["chunk_id"],
                document_id=m["document_id"],
                document_path=m["document_path"],
                content=m["content"],
                rank=i,
                user_id=m["user_id"],
                agent_id=m["agent_id"],
                chunk_index=m["chunk_index"],
                score=float(m["score"]),
            )
        )
    return out


_TYPES: dict[str, TypeEngine[Any]] = {
    "chunk_id": UUIDType(),
    "document_id": UUIDType(),
    "agent_id": UUIDType(),
    "document_path": Text(),
    "content": Text(),
    "user_id": Text(),
    "chunk_index": Integer(),
    "score": Float(),
}


async def fts_candidates(
    conn: AsyncConnection,
    dialect: str,
    user_ids: Sequence[str],
    agent_id: uuid.UUID | None,
    query: str,
    limit: int,
) -> list[RankedResult]:
    """Up to `limit` full-text hits in the scope(s), best first (ties by chunk id)."""
    if limit < 1 or not user_ids or not query.strip(" \t\n\r\x0b\x0c" + _WS):
        return []
    where, params = scope_sql(user_ids, agent_id)
    if dialect == "postgresql":
        sql = (
            f"SELECT {CANDIDATE_COLUMNS}, ts_rank_cd(c.content_tsv, q.q) AS score "
            "FROM memory_chunks AS c JOIN memory_documents AS d ON d.id = c.document_id, "
            "plainto_tsquery('english', :fts_query) AS q(q) "
            f"WHERE {where} AND c.content_tsv @@ q.q "
            "ORDER BY score DESC, c.id LIMIT :fts_limit"
        )
        match = query
    else:
        built = fts5_query(query)
        if built is None:
            return []
        match = built
        sql = (
            f"SELECT {CANDIDATE_COLUMNS}, -bm25(memory_chunks_fts) AS score "
            "FROM memory_chunks_fts JOIN memory_chunks AS c ON c._rowid = memory_chunks_fts.rowid "
            "JOIN memory_documents AS d ON d.id = c.document_id "
            f"WHERE memory_chunks_fts MATCH :fts_query AND {where} "
            "ORDER BY bm25(memory_chunks_fts), c.id LIMIT :fts_limit"
        )
    stmt = (
        text(sql)
        .bindparams(*params, bindparam("fts_query", match), bindparam("fts_limit", limit))
        .columns(**_TYPES)
    )
    rows = (await conn.execute(stmt)).all()
    return _rows_to_ranked(rows)
