"""workspace: null-safe unique document path; FTS update trigger only on content changes.

- Resolves existing duplicate (user_id, agent_id IS NULL, path) documents (the most recently
  updated keeps its path, the others become `<path>.dup-<8 hex of id>`), then adds the unique
  index `uq_memory_documents_scope_path` on (user_id, COALESCE(agent_id, nil uuid text), path)
  so `get_or_create_document_by_path` is race-free for agent-less documents (spec DB-4).
- `memory_chunks_fts_update` fires only `AFTER UPDATE OF content` (spec DB-10): embedding
  backfills no longer rewrite FTS entries.

No table rebuild, so foreign keys need no special handling.

Revision ID: ironstore_ls_0005
Revises: ironstore_ls_0004
"""

from __future__ import annotations

from alembic import op

revision = "ironstore_ls_0005"
down_revision = "ironstore_ls_0004"
branch_labels = None
depends_on = None

NIL = "'00000000-0000-0000-0000-000000000000'"

_FTS_UPDATE_BODY = """
BEGIN
    INSERT INTO memory_chunks_fts(memory_chunks_fts, rowid, content)
        VALUES ('delete', old._rowid, old.content);
    INSERT INTO memory_chunks_fts(rowid, content) VALUES (new._rowid, new.content);
END"""


def upgrade() -> None:
    op.execute(
        f"""
        UPDATE memory_documents
           SET path = path || '.dup-' || substr(replace(id, '-', ''), 1, 8)
         WHERE id IN (SELECT id FROM (
                 SELECT id, row_number() OVER (
                     PARTITION BY user_id, COALESCE(agent_id, {NIL}), path
                     ORDER BY updated_at DESC, id) AS rn
                   FROM memory_documents) WHERE rn > 1)
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX uq_memory_documents_scope_path ON memory_documents "
        f"(user_id, COALESCE(agent_id, {NIL}), path)"
    )
    op.execute("DROP TRIGGER IF EXISTS memory_chunks_fts_update")
    op.execute(
        "CREATE TRIGGER memory_chunks_fts_update AFTER UPDATE OF content ON memory_chunks"
        + _FTS_UPDATE_BODY
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS memory_chunks_fts_update")
    op.execute("CREATE TRIGGER memory_chunks_fts_update AFTER UPDATE ON memory_chunks" + _FTS_UPDATE_BODY)
    op.execute("DROP INDEX IF EXISTS uq_memory_documents_scope_path")
