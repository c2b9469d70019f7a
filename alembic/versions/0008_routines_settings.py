"""routines and tool failures: unique webhook paths; tool_failures counters NOT NULL.

- `uq_routines_webhook_path`: at most one *enabled* webhook routine per path, so
  `get_webhook_routine_by_path` is never ambiguous. Existing enabled duplicates are resolved
  first: the oldest by (created_at, id) keeps its path enabled, the others are disabled (their
  rows and paths are kept, so nothing is lost and an operator can rename and re-enable them).
- `tool_failures.error_count`, `first_failure`, `last_failure`, `repair_attempts` become NOT NULL
  (IronClaw always writes them). NULLs are filled the way the store already reads them: counts as
  0, a missing timestamp from the other one (or now).

Revision ID: ironstore_0008
Revises: ironstore_0007
"""

from __future__ import annotations

from alembic import op

revision = "ironstore_0008"
down_revision = "ironstore_0007"
branch_labels = None
depends_on = None

_PATH = "(trigger_config ->> 'path')"
_ENABLED_WEBHOOK = f"trigger_type = 'webhook' AND enabled AND {_PATH} IS NOT NULL"
_COUNTERS = ("error_count", "first_failure", "last_failure", "repair_attempts")


def upgrade() -> None:
    op.execute(
        "WITH ranked AS (SELECT id, row_number() OVER "
        f"(PARTITION BY {_PATH} ORDER BY created_at, id) AS n "
        f"FROM routines WHERE {_ENABLED_WEBHOOK}) "
        "UPDATE routines SET enabled = false WHERE id IN (SELECT id FROM ranked WHERE n > 1)"
    )
    op.execute(
        f"CREATE UNIQUE INDEX uq_routines_webhook_path ON routines ({_PATH}) "
        f"WHERE {_ENABLED_WEBHOOK}"
    )
    op.execute(
        "UPDATE tool_failures SET "
        "error_count = COALESCE(error_count, 0), "
        "repair_attempts = COALESCE(repair_attempts, 0), "
        "first_failure = COALESCE(first_failure, last_failure, now()), "
        "last_failure = COALESCE(last_failure, first_failure, now()) "
        "WHERE error_count IS NULL OR repair_attempts IS NULL "
        "OR first_failure IS NULL OR last_failure IS NULL"
    )
    op.execute(
        "ALTER TABLE tool_failures "
        + ", ".join(f"ALTER COLUMN {c} SET NOT NULL" for c in _COUNTERS)
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE tool_failures "
        + ", ".join(f"ALTER COLUMN {c} DROP NOT NULL" for c in _COUNTERS)
    )
    # Routines disabled by the de-duplication stay disabled (re-enabling two would be ambiguous).
    op.execute("DROP INDEX IF EXISTS uq_routines_webhook_path")
