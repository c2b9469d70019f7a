"""workspace vector cache (no PostgreSQL change: pgvector's HNSW index serves the queries).

The libSQL tree's revision 0010 adds a change counter for its in-process vector cache; this
empty revision keeps the two trees' numbering parallel.

Revision ID: ironstore_0010
Revises: ironstore_0009
"""

from __future__ import annotations

revision = "ironstore_0010"
down_revision = "ironstore_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
