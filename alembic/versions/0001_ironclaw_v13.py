"""IronClaw v0.22.0 baseline (PostgreSQL): the schema after refinery migration V13.

Creates exactly what IronClaw's migrations V1–V13 leave behind — extension ``vector``,
24 tables with their PG constraint names (legacy ``claude_code_events_*`` names on
``job_events``), 60 named indexes, functions ``update_updated_at_column()`` and
``list_workspace_files()``, 4 ``updated_at`` triggers, 5 views, the 18 leak-detection seed
rows (fixed ids, decision D25/X21) — plus ``refinery_schema_history`` rows 1–13 so that
IronClaw can reopen a database ironstore created.  The SQL lives in
:mod:`ironstore.baseline_sql`.

Revision ID: ironclaw_v13
Revises:
Create Date: 2026-03-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from ironstore.baseline_sql import pg_downgrade_clauses, pg_upgrade_clauses

revision: str = "ironclaw_v13"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for clause in pg_upgrade_clauses():
        op.execute(clause)


def downgrade() -> None:
    # Drops everything upgrade() created except the ``vector`` extension.
    for clause in pg_downgrade_clauses():
        op.execute(clause)
