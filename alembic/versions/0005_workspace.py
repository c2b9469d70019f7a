"""workspace: null-safe unique document path; clock-friendly updated_at trigger.

- Resolves existing duplicate (user_id, agent_id IS NULL, path) documents (the most recently
  updated keeps its path, the others become `<path>.dup-<8 hex of id>`), then adds the unique
  index `uq_memory_documents_scope_path` on (user_id, COALESCE(agent_id, nil uuid), path), so
  `get_or_create_document_by_path` is race-free for agent-less documents too (spec DB-4).
- `update_memory_documents_updated_at` now stamps NOW() (ms) only when the UPDATE left
  `updated_at` unchanged (libSQL's semantics), so ironstore's injected clock is kept.

Revision ID: ironstore_0005
Revises: ironstore_0004
"""

from __future__ import annotations

from alembic import op

revision = "ironstore_0005"
down_revision = "ironstore_0004"
branch_labels = None
depends_on = None

NIL = "'00000000-0000-0000-0000-000000000000'::uuid"


def upgrade() -> None:
    op.execute(
        f"""
        UPDATE memory_documents AS m
           SET path = m.path || '.dup-' || substr(replace(m.id::text, '-', ''), 1, 8)
          FROM (SELECT id, row_number() OVER (
                    PARTITION BY user_id, COALESCE(agent_id, {NIL}), path
                    ORDER BY updated_at DESC, id) AS rn
                  FROM memory_documents) AS r
         WHERE r.id = m.id AND r.rn > 1
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX uq_memory_documents_scope_path ON memory_documents "
        f"(user_id, COALESCE(agent_id, {NIL}), path)"
    )
    op.execute(
        """
        CREATE FUNCTION ironstore_memory_documents_touch() RETURNS trigger
        LANGUAGE plpgsql AS $fn$
        BEGIN
            IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
                NEW.updated_at = date_trunc('milliseconds', NOW());
            END IF;
            RETURN NEW;
        END;
        $fn$
        """
    )
    op.execute("DROP TRIGGER update_memory_documents_updated_at ON memory_documents")
    op.execute(
        "CREATE TRIGGER update_memory_documents_updated_at BEFORE UPDATE ON memory_documents "
        "FOR EACH ROW EXECUTE FUNCTION ironstore_memory_documents_touch()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER update_memory_documents_updated_at ON memory_documents")
    op.execute(
        "CREATE TRIGGER update_memory_documents_updated_at BEFORE UPDATE ON memory_documents "
        "FOR EACH ROW EXECUTE FUNCTION update_updated_at_column()"
    )
    op.execute("DROP FUNCTION ironstore_memory_documents_touch()")
    op.execute("DROP INDEX uq_memory_documents_scope_path")
