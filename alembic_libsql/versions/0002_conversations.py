"""conversation singleton races (slot reserved for the conversations store; no schema change yet).

Revision ID: ironstore_ls_0002
Revises: ironclaw_ls_baseline
"""

from __future__ import annotations

revision = "ironstore_ls_0002"
down_revision = "ironclaw_ls_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
