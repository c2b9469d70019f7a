"""conversations: one assistant thread per (user, channel); message paging/summary indexes.

Merges existing duplicate assistant conversations first (see _merge_duplicate_assistant_conversations).
No table rebuild: only indexes are added, so foreign keys stay on.

Revision ID: ironstore_ls_0002
Revises: ironclaw_ls_baseline
"""

from __future__ import annotations

from alembic import op

revision = "ironstore_ls_0002"
down_revision = "ironclaw_ls_baseline"
branch_labels = None
depends_on = None

_THREAD_TYPE = "json_extract(metadata, '$.thread_type')"


def _merge_duplicate_assistant_conversations() -> None:
    """Collapse duplicate assistant threads per (user, channel) so the unique index can exist.

    The oldest by (started_at, id) is kept; the others' messages, jobs and LLM calls are
    re-pointed to it, it takes the newest last_activity of its group, and the others are deleted.
    """
    ranked = (
        "WITH ranked AS ("
        " SELECT id,"
        " first_value(id) OVER (PARTITION BY user_id, channel ORDER BY started_at, id) AS keeper,"
        " max(last_activity) OVER (PARTITION BY user_id, channel) AS newest"
        f" FROM conversations WHERE {_THREAD_TYPE} = 'assistant'"
        "), dupes AS (SELECT id, keeper FROM ranked WHERE id <> keeper) "
    )
    for table in ("conversation_messages", "agent_jobs", "llm_calls"):
        op.execute(
            ranked
            + f"UPDATE {table} SET conversation_id = "
            f"(SELECT keeper FROM dupes WHERE dupes.id = {table}.conversation_id) "
            "WHERE conversation_id IN (SELECT id FROM dupes)"
        )
    op.execute(
        ranked
        + "UPDATE conversations SET last_activity = "
        "(SELECT newest FROM ranked WHERE ranked.id = conversations.id) "
        "WHERE id IN (SELECT keeper FROM dupes)"
    )
    op.execute(ranked + "DELETE FROM conversations WHERE id IN (SELECT id FROM dupes)")


def upgrade() -> None:
    _merge_duplicate_assistant_conversations()
    op.execute(
        "CREATE UNIQUE INDEX uq_conv_assistant ON conversations (user_id, channel) "
        f"WHERE {_THREAD_TYPE} = 'assistant'"
    )
    op.execute(
        "CREATE INDEX idx_conversations_user_activity "
        "ON conversations (user_id, last_activity, id)"
    )
    op.execute(
        "CREATE INDEX idx_conversation_messages_conv_created "
        "ON conversation_messages (conversation_id, created_at, id)"
    )
    op.execute(
        "CREATE INDEX idx_conversation_messages_conv_role_created "
        "ON conversation_messages (conversation_id, role, created_at, id)"
    )


def downgrade() -> None:
    # The merge of duplicate assistant threads is not reversed (it loses no messages).
    op.execute("DROP INDEX IF EXISTS idx_conversation_messages_conv_role_created")
    op.execute("DROP INDEX IF EXISTS idx_conversation_messages_conv_created")
    op.execute("DROP INDEX IF EXISTS idx_conversations_user_activity")
    op.execute("DROP INDEX IF EXISTS uq_conv_assistant")
