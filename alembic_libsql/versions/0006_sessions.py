"""sessions and checkpoints: the agent session store's tables (spec §5.3).

Plain CREATE/DROP TABLE (no table rebuild), so foreign keys can stay on. Timestamps are TEXT in
the fixed-width form `YYYY-MM-DDTHH:MM:SS.mmmZ`, UUIDs lowercase hyphenated TEXT.

Revision ID: ironstore_ls_0006
Revises: ironstore_ls_0005
"""

from __future__ import annotations

from alembic import op
from ironstore.parking import park_or_drop_tables, unpark_tables

revision = "ironstore_ls_0006"
down_revision = "ironstore_ls_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if unpark_tables("sessions", "checkpoints"):  # parked by an earlier downgrade
        return
    op.execute(
        """
        CREATE TABLE sessions (
            id TEXT NOT NULL,
            title TEXT NOT NULL,
            visibility TEXT DEFAULT 'PRIVATE' NOT NULL,
            status TEXT DEFAULT 'ACTIVE' NOT NULL,
            cwd TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            deleted_at TEXT,
            CONSTRAINT sessions_pkey PRIMARY KEY (id),
            CONSTRAINT ck_sessions_visibility CHECK (visibility IN ('PRIVATE', 'PUBLIC')),
            CONSTRAINT ck_sessions_status CHECK (status IN ('ACTIVE', 'DELETED')),
            CONSTRAINT ck_sessions_deleted_at CHECK (
                (status = 'DELETED' AND deleted_at IS NOT NULL)
                OR (status = 'ACTIVE' AND deleted_at IS NULL)
            )
        )
        """
    )
    op.execute("CREATE INDEX ix_sessions_status_updated ON sessions (status, updated_at, id)")
    op.execute("CREATE INDEX ix_sessions_updated ON sessions (updated_at, id)")
    op.execute(
        """
        CREATE TABLE checkpoints (
            id TEXT NOT NULL,
            session_id TEXT NOT NULL,
            parent_id TEXT,
            seq INTEGER NOT NULL,
            state TEXT NOT NULL,
            message_count INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            CONSTRAINT checkpoints_pkey PRIMARY KEY (id),
            CONSTRAINT checkpoints_session_id_fkey FOREIGN KEY (session_id)
                REFERENCES sessions (id) ON DELETE CASCADE,
            CONSTRAINT checkpoints_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES checkpoints (id),
            CONSTRAINT ck_checkpoints_seq CHECK (seq >= 1),
            CONSTRAINT ck_checkpoints_message_count CHECK (message_count >= 0)
        )
        """
    )
    op.execute("CREATE UNIQUE INDEX uq_checkpoints_session_seq ON checkpoints (session_id, seq)")
    op.execute("CREATE INDEX ix_checkpoints_parent ON checkpoints (parent_id)")


def downgrade() -> None:
    # checkpoints first (it references sessions); kept aside when they hold rows (ironstore.parking)
    park_or_drop_tables("checkpoints", "sessions")
