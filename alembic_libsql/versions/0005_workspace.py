"""workspace documents (slot reserved for the workspace store; no schema change yet).

Revision ID: ironstore_ls_0005
Revises: ironstore_ls_0004
"""

from __future__ import annotations

revision = "ironstore_ls_0005"
down_revision = "ironstore_ls_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
