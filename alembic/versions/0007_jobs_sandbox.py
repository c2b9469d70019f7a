"""jobs and sandbox (slot reserved; filled by the store's issue).

Revision ID: ironstore_0007
Revises: ironstore_0006
"""

from __future__ import annotations

revision = "ironstore_0007"
down_revision = "ironstore_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
