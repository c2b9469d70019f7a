"""sessions and checkpoints (slot reserved for the sessions store; no schema change yet).

Revision ID: ironstore_ls_0006
Revises: ironstore_ls_0005
"""

from __future__ import annotations

revision = "ironstore_ls_0006"
down_revision = "ironstore_ls_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
