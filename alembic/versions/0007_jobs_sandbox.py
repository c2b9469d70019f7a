"""jobs and sandbox: credential_grants and instance_id columns, FK hygiene, hot-query indexes.

- `agent_jobs.credential_grants` (jsonb, nullable; schema.md X16): the sandbox job's credential
  grants as a JSON array, next to the text IronClaw keeps in `description` (still written).
  Existing sandbox rows whose `description` is a JSON array are backfilled.
- `agent_jobs.instance_id` (text, nullable; spec DB-17): the ironstore instance that created a
  sandbox job, so `cleanup_stale_sandbox_jobs(instance_id=…)` only interrupts its own jobs.
- ON DELETE actions (X8): `job_events.job_id` CASCADE; `agent_jobs.conversation_id` and
  `llm_calls.conversation_id` SET NULL (deleting a job with events, or a conversation with
  jobs / LLM calls, no longer fails). Constraint names are kept.
- Indexes (X4, DB-20, X17): conversations (user_id, channel, last_activity, id); agent_jobs
  (source, user_id, created_at, id) and (source, created_at, id); llm_calls (created_at);
  job_events (created_at).

Revision ID: ironstore_0007
Revises: ironstore_0006
"""

from __future__ import annotations

from alembic import op
from ironstore.parking import park_columns, unpark_columns

revision = "ironstore_0007"
down_revision = "ironstore_0006"
branch_labels = None
depends_on = None

# (table, constraint, column, parent, action after upgrade)
_FOREIGN_KEYS = (
    ("agent_jobs", "agent_jobs_conversation_id_fkey", "conversation_id", "conversations", "SET NULL"),
    ("llm_calls", "llm_calls_conversation_id_fkey", "conversation_id", "conversations", "SET NULL"),
    ("job_events", "claude_code_events_job_id_fkey", "job_id", "agent_jobs", "CASCADE"),
)

_INDEXES = (
    ("idx_conversations_user_channel_activity", "conversations (user_id, channel, last_activity, id)"),
    ("idx_agent_jobs_source_user_created", "agent_jobs (source, user_id, created_at, id)"),
    ("idx_agent_jobs_source_created", "agent_jobs (source, created_at, id)"),
    ("idx_llm_calls_created", "llm_calls (created_at)"),
    ("idx_job_events_created", "job_events (created_at)"),
)

# Sandbox rows whose description parses as a JSON array get it copied into credential_grants;
# anything else (IronClaw treats unparsable grants as "none") stays NULL.
_BACKFILL_GRANTS = """
DO $$
DECLARE
    r record;
    doc jsonb;
BEGIN
    FOR r IN SELECT id, description FROM agent_jobs WHERE source = 'sandbox' LOOP
        BEGIN
            doc := r.description::jsonb;
        EXCEPTION WHEN others THEN
            doc := NULL;
        END;
        IF doc IS NOT NULL AND jsonb_typeof(doc) = 'array' THEN
            UPDATE agent_jobs SET credential_grants = doc WHERE id = r.id;
        END IF;
    END LOOP;
END
$$
"""


def _set_on_delete(table: str, constraint: str, column: str, parent: str, action: str | None) -> None:
    on_delete = f" ON DELETE {action}" if action else ""
    op.execute(
        f"ALTER TABLE {table} DROP CONSTRAINT {constraint}, "
        f"ADD CONSTRAINT {constraint} FOREIGN KEY ({column}) REFERENCES {parent} (id){on_delete}"
    )


_PARKED = ("agent_jobs", "id", ["credential_grants", "instance_id"], "0007")


def upgrade() -> None:
    op.execute("ALTER TABLE agent_jobs ADD COLUMN credential_grants JSONB")
    op.execute("ALTER TABLE agent_jobs ADD COLUMN instance_id TEXT")
    op.execute(_BACKFILL_GRANTS)
    for table, constraint, column, parent, action in _FOREIGN_KEYS:
        _set_on_delete(table, constraint, column, parent, action)
    for name, target in _INDEXES:
        op.execute(f"CREATE INDEX {name} ON {target}")
    unpark_columns(*_PARKED)  # values an earlier downgrade kept aside


def downgrade() -> None:
    park_columns(*_PARKED)
    for name, _target in reversed(_INDEXES):
        op.execute(f"DROP INDEX IF EXISTS {name}")
    for table, constraint, column, parent, _action in _FOREIGN_KEYS:
        _set_on_delete(table, constraint, column, parent, None)
    op.execute("ALTER TABLE agent_jobs DROP COLUMN IF EXISTS instance_id")
    op.execute("ALTER TABLE agent_jobs DROP COLUMN IF EXISTS credential_grants")
