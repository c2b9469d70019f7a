"""IronClaw v0.22.0 baseline (libSQL): a fully migrated IronClaw libSQL database.

Creates the consolidated schema plus the effect of IronClaw's incremental migrations 9, 12
and 13 — 24 tables in their libSQL layout, 58 named indexes, the FTS5 table
``memory_chunks_fts`` with its 3 sync triggers, the ``update_memory_documents_updated_at``
trigger (explicit values win, ∆D22), the 18 leak-detection seed rows (fixed ids) — and
``_migrations`` rows 9, 12, 13 so that IronClaw does not re-run them.  Statements are issued
one per call, ``IF NOT EXISTS`` as IronClaw does.  The SQL lives in
:mod:`ironstore.baseline_sql`.

Revision ID: ironclaw_ls_baseline
Revises:
Create Date: 2026-03-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from ironstore.baseline_sql import ls_downgrade_clauses, ls_upgrade_clauses

revision: str = "ironclaw_ls_baseline"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for clause in ls_upgrade_clauses():
        op.execute(clause)


def downgrade() -> None:
    # Drops every object upgrade() created (and an on-demand vector index, if built).
    for clause in ls_downgrade_clauses():
        op.execute(clause)
