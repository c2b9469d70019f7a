"""sessions and checkpoints (slot reserved for the sessions store; no schema change yet).

Revision ID: ironstore_0006
Revises: ironstore_0005
"""

from __future__ import annotations

revision = "ironstore_0006"
down_revision = "ironstore_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
