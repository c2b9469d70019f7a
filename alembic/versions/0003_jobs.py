"""jobs and sandbox (slot reserved for the jobs store; no schema change yet).

Revision ID: ironstore_0003
Revises: ironstore_0002
"""

from __future__ import annotations

revision = "ironstore_0003"
down_revision = "ironstore_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
