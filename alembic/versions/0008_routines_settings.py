"""routines, tool failures and settings (slot reserved; filled by the store's issue).

Revision ID: ironstore_0008
Revises: ironstore_0007
"""

from __future__ import annotations

revision = "ironstore_0008"
down_revision = "ironstore_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
