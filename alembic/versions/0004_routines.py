"""routines scheduler safety.

Adds `idx_routine_runs_routine_started` on routine_runs (routine_id, started_at DESC): it serves
`list_routine_runs` and `batch_get_last_run_status` (newest run per routine).

Revision ID: ironstore_0004
Revises: ironstore_0003
"""

from __future__ import annotations

from alembic import op

revision = "ironstore_0004"
down_revision = "ironstore_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS idx_routine_runs_routine_started "
        "ON routine_runs (routine_id, started_at DESC)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS idx_routine_runs_routine_started")
