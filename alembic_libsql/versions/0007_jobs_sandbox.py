"""jobs and sandbox: credential_grants and instance_id columns, FK hygiene, hot-query indexes.

Same schema change as the PostgreSQL tree's ironstore_0007:

- `agent_jobs.credential_grants` (JSON text, nullable; schema.md X16), backfilled from
  `description` for sandbox rows whose description is a JSON array;
- `agent_jobs.instance_id` (TEXT, nullable; spec DB-17);
- ON DELETE actions (X8): `job_events.job_id` CASCADE; `agent_jobs.conversation_id` and
  `llm_calls.conversation_id` SET NULL;
- indexes on conversations, agent_jobs, llm_calls and job_events (X4, DB-20, X17).

No table rebuild. `agent_jobs` cannot be rebuilt while foreign keys are on (dropping it would
cascade into job_actions, llm_calls and estimation_snapshots), so the ON DELETE actions are
changed the way SQLite documents for constraint-only changes that leave the stored rows as they
are: the table's CREATE statement in `sqlite_master` is edited under `PRAGMA writable_schema`
and `schema_version` is bumped, all inside the migration's transaction. The edit is checked
with `PRAGMA foreign_key_list` before the transaction commits.

Revision ID: ironstore_ls_0007
Revises: ironstore_ls_0006
"""

from __future__ import annotations

import re

from sqlalchemy.engine import Connection

from alembic import op
from ironstore.parking import park_columns, unpark_columns

revision = "ironstore_ls_0007"
down_revision = "ironstore_ls_0006"
branch_labels = None
depends_on = None

# (table, column, parent, action after upgrade)
_FOREIGN_KEYS = (
    ("agent_jobs", "conversation_id", "conversations", "SET NULL"),
    ("llm_calls", "conversation_id", "conversations", "SET NULL"),
    ("job_events", "job_id", "agent_jobs", "CASCADE"),
)

_INDEXES = (
    ("idx_conversations_user_channel_activity", "conversations (user_id, channel, last_activity, id)"),
    ("idx_agent_jobs_source_user_created", "agent_jobs (source, user_id, created_at, id)"),
    ("idx_agent_jobs_source_created", "agent_jobs (source, created_at, id)"),
    ("idx_llm_calls_created", "llm_calls (created_at)"),
    ("idx_job_events_created", "job_events (created_at)"),
)

_ACTION = r"(?:\s+ON\s+DELETE\s+(?:SET\s+NULL|SET\s+DEFAULT|CASCADE|RESTRICT|NO\s+ACTION))?"


def _reference(column: str, parent: str) -> re.Pattern[str]:
    """The REFERENCES clause of `column` (inline or table-level) and any ON DELETE after it."""
    col = rf'[`"\[]?{column}[`"\]]?'
    target = rf'REFERENCES\s+[`"\[]?{parent}[`"\]]?\s*\(\s*[`"\[]?id[`"\]]?\s*\)'
    inline = rf"(?<=[(,])(\s*{col}\s[^,()]*?{target})"
    table_level = rf"(FOREIGN\s+KEY\s*\(\s*{col}\s*\)\s*{target})"
    return re.compile(rf"(?:{inline}|{table_level}){_ACTION}", re.IGNORECASE)


def _rewrite(sql: str, table: str, column: str, parent: str, action: str | None) -> str:
    pattern = _reference(column, parent)
    matches = pattern.findall(sql)
    if len(matches) != 1:
        raise RuntimeError(
            f"cannot change ON DELETE of {table}.{column}: expected one REFERENCES {parent}(id) "
            f"clause in its CREATE TABLE statement, found {len(matches)}"
        )
    suffix = f" ON DELETE {action}" if action else ""
    return pattern.sub(lambda m: (m.group(1) or m.group(2)) + suffix, sql)


def _on_delete_actions(bind: Connection, table: str) -> dict[str, str]:
    rows = bind.exec_driver_sql(f'PRAGMA foreign_key_list("{table}")').fetchall()
    return {row[3]: str(row[6]).upper() for row in rows}


def _set_on_delete(actions: dict[tuple[str, str, str], str | None]) -> None:
    """Edit the CREATE TABLE statements so each (table, column, parent) FK gets its action."""
    bind = op.get_bind()
    rewritten: dict[str, str] = {}
    for (table, column, parent), action in actions.items():
        sql = rewritten.get(table) or bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).scalar_one()
        rewritten[table] = _rewrite(str(sql), table, column, parent, action)
    version = int(bind.exec_driver_sql("PRAGMA schema_version").scalar_one())
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        for table, sql in rewritten.items():
            bind.exec_driver_sql(
                "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (sql, table)
            )
        bind.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    for (table, column, _parent), action in actions.items():
        stored = _on_delete_actions(bind, table).get(column)
        if stored != (action or "NO ACTION"):
            raise RuntimeError(f"{table}.{column}: ON DELETE is {stored}, expected {action or 'NO ACTION'}")


_BACKFILL_GRANTS = (
    "UPDATE agent_jobs SET credential_grants = json(description) "
    "WHERE source = 'sandbox' "
    "AND CASE WHEN json_valid(description) THEN json_type(description) = 'array' ELSE 0 END"
)


_PARKED = ("agent_jobs", "id", ["credential_grants", "instance_id"], "0007")


def upgrade() -> None:
    op.execute("ALTER TABLE agent_jobs ADD COLUMN credential_grants TEXT")
    op.execute("ALTER TABLE agent_jobs ADD COLUMN instance_id TEXT")
    op.execute(_BACKFILL_GRANTS)
    _set_on_delete({(t, c, p): action for t, c, p, action in _FOREIGN_KEYS})
    for name, target in _INDEXES:
        op.execute(f"CREATE INDEX {name} ON {target}")
    unpark_columns(*_PARKED)  # values an earlier downgrade kept aside


def downgrade() -> None:
    park_columns(*_PARKED)
    for name, _target in reversed(_INDEXES):
        op.execute(f"DROP INDEX IF EXISTS {name}")
    _set_on_delete({(t, c, p): None for t, c, p, _action in _FOREIGN_KEYS})
    op.execute("ALTER TABLE agent_jobs DROP COLUMN instance_id")
    op.execute("ALTER TABLE agent_jobs DROP COLUMN credential_grants")
