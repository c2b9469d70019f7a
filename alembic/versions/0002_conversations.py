"""conversation singleton races (slot reserved for the conversations store; no schema change yet).

Revision ID: ironstore_0002
Revises: ironclaw_v13
"""

from __future__ import annotations

revision = "ironstore_0002"
down_revision = "ironclaw_v13"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
