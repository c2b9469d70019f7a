"""routines and tool failures: unique webhook paths; tool_failures counters NOT NULL.

- `uq_routines_webhook_path`: at most one *enabled* webhook routine per path, so
  `get_webhook_routine_by_path` is never ambiguous. Existing enabled duplicates are resolved
  first: the oldest by (created_at, id) keeps its path enabled, the others are disabled (their
  rows and paths are kept, so nothing is lost and an operator can rename and re-enable them).
- `tool_failures.error_count`, `first_failure`, `last_failure`, `repair_attempts` become NOT NULL
  (IronClaw always writes them). SQLite cannot alter a column's nullability, so the table is
  rebuilt with the same columns, defaults and indexes; NULLs are filled the way the store
  already reads them: counts as 0, a missing timestamp from the other one (or now).

Revision ID: ironstore_ls_0008
Revises: ironstore_ls_0007
"""

from __future__ import annotations

from alembic import op

revision = "ironstore_ls_0008"
down_revision = "ironstore_ls_0007"
branch_labels = None
depends_on = None

_PATH = "json_extract(trigger_config, '$.path')"
_ENABLED_WEBHOOK = f"trigger_type = 'webhook' AND enabled <> 0 AND {_PATH} IS NOT NULL"
_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS idx_tool_failures_name ON tool_failures(tool_name)",
    "CREATE INDEX IF NOT EXISTS idx_tool_failures_count ON tool_failures(error_count DESC)",
    "CREATE INDEX IF NOT EXISTS idx_tool_failures_unrepaired ON tool_failures(tool_name)",
)


def _rebuild_tool_failures(not_null: bool) -> None:
    """Recreate tool_failures with (or without) NOT NULL on the four counter columns."""
    nn = " NOT NULL" if not_null else ""
    op.execute(
        "CREATE TABLE tool_failures_rebuild ("
        " id TEXT PRIMARY KEY,"
        " tool_name TEXT NOT NULL UNIQUE,"
        " error_message TEXT,"
        f" error_count INTEGER{nn} DEFAULT 1,"
        f" first_failure TEXT{nn} DEFAULT ({_NOW}),"
        f" last_failure TEXT{nn} DEFAULT ({_NOW}),"
        " last_build_result TEXT,"
        " repaired_at TEXT,"
        f" repair_attempts INTEGER{nn} DEFAULT 0)"
    )
    op.execute(
        "INSERT INTO tool_failures_rebuild (id, tool_name, error_message, error_count,"
        " first_failure, last_failure, last_build_result, repaired_at, repair_attempts)"
        " SELECT id, tool_name, error_message, COALESCE(error_count, 0),"
        f" COALESCE(first_failure, last_failure, {_NOW}),"
        f" COALESCE(last_failure, first_failure, {_NOW}),"
        " last_build_result, repaired_at, COALESCE(repair_attempts, 0) FROM tool_failures"
    )
    op.execute("DROP TABLE tool_failures")
    op.execute("ALTER TABLE tool_failures_rebuild RENAME TO tool_failures")
    for ddl in _INDEXES:
        op.execute(ddl)


def upgrade() -> None:
    op.execute(
        "WITH ranked AS (SELECT id, row_number() OVER "
        f"(PARTITION BY {_PATH} ORDER BY created_at, id) AS n "
        f"FROM routines WHERE {_ENABLED_WEBHOOK}) "
        "UPDATE routines SET enabled = 0 WHERE id IN (SELECT id FROM ranked WHERE n > 1)"
    )
    op.execute(
        f"CREATE UNIQUE INDEX uq_routines_webhook_path ON routines ({_PATH}) "
        f"WHERE {_ENABLED_WEBHOOK}"
    )
    _rebuild_tool_failures(not_null=True)


def downgrade() -> None:
    _rebuild_tool_failures(not_null=False)
    # Routines disabled by the de-duplication stay disabled (re-enabling two would be ambiguous).
    op.execute("DROP INDEX IF EXISTS uq_routines_webhook_path")
