"""workspace vectors and full-text (slot reserved; filled by the store's issue).

Revision ID: ironstore_ls_0009
Revises: ironstore_ls_0008
"""

from __future__ import annotations

revision = "ironstore_ls_0009"
down_revision = "ironstore_ls_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
