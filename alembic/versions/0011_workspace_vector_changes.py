"""workspace vector cache change log (no PostgreSQL change).

The libSQL tree's revision 0011 logs changed chunk rows for its in-process vector copy; this
empty revision keeps the two trees' numbering parallel.

Revision ID: ironstore_0011
Revises: ironstore_0010
"""

from __future__ import annotations

revision = "ironstore_0011"
down_revision = "ironstore_0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
