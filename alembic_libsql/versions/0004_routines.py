"""routines scheduler safety (slot reserved for the routines store; no schema change yet).

Revision ID: ironstore_ls_0004
Revises: ironstore_ls_0003
"""

from __future__ import annotations

revision = "ironstore_ls_0004"
down_revision = "ironstore_ls_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
