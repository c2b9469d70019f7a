"""Every table, once, in one MetaData — IronClaw v0.22.0's schema with its exact object names.

The DDL itself comes from the Alembic trees (the baselines are raw SQL, so an ironstore database
and an IronClaw one are indistinguishable); this MetaData is what repositories query and what
the drift check compares the migrated database against. Objects present on one backend only are
tagged with `only_on()`; per-backend partial-index predicates use `postgresql_where` /
`sqlite_where`.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKeyConstraint,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    UniqueConstraint,
    and_,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR

from .sql import LIBSQL, PG, json_text, only_on
from .types import (
    BoolInt,
    Bytes,
    DecimalText,
    Embedding,
    Int32,
    Int64,
    JSONType,
    SafeText,
    TextArray,
    Timestamp,
    UUIDType,
)

metadata = MetaData()


def _pk(table: str, *cols: str) -> PrimaryKeyConstraint:
    return PrimaryKeyConstraint(*cols, name=f"{table}_pkey")


def _fk(name: str, col: str, target: str, ondelete: str | None = None) -> ForeignKeyConstraint:
    return ForeignKeyConstraint([col], [target], name=name, ondelete=ondelete)


# ----------------------------------------------------------------------------- conversations

conversations = Table(
    "conversations",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("channel", SafeText, nullable=False),
    Column("user_id", SafeText, nullable=False),
    Column("thread_id", SafeText),
    Column("started_at", Timestamp, nullable=False),
    Column("last_activity", Timestamp, nullable=False),
    Column("metadata", JSONType(null_as_json=True), nullable=False),
    _pk("conversations", "id"),
)
Index("idx_conversations_channel", conversations.c.channel)
Index("idx_conversations_user", conversations.c.user_id)
Index("idx_conversations_last_activity", conversations.c.last_activity)
Index(
    "uq_conv_routine",
    conversations.c.user_id,
    json_text(conversations.c.metadata, "routine_id"),
    unique=True,
    postgresql_where=json_text(conversations.c.metadata, "routine_id").isnot(None),
    sqlite_where=json_text(conversations.c.metadata, "routine_id").isnot(None),
)
Index(
    "uq_conv_heartbeat",
    conversations.c.user_id,
    unique=True,
    postgresql_where=json_text(conversations.c.metadata, "thread_type") == text("'heartbeat'"),
    sqlite_where=json_text(conversations.c.metadata, "thread_type") == text("'heartbeat'"),
)
# ironstore_0002 / ironstore_ls_0002 (conversations store): one assistant thread per (user, channel)
Index(
    "uq_conv_assistant",
    conversations.c.user_id,
    conversations.c.channel,
    unique=True,
    postgresql_where=json_text(conversations.c.metadata, "thread_type") == text("'assistant'"),
    sqlite_where=json_text(conversations.c.metadata, "thread_type") == text("'assistant'"),
)
Index(
    "idx_conversations_user_activity",
    conversations.c.user_id,
    conversations.c.last_activity,
    conversations.c.id,
)
# ironstore_0007 / ironstore_ls_0007: the per-channel conversation listing
Index(
    "idx_conversations_user_channel_activity",
    conversations.c.user_id,
    conversations.c.channel,
    conversations.c.last_activity,
    conversations.c.id,
)

conversation_messages = Table(
    "conversation_messages",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("conversation_id", UUIDType, nullable=False),
    Column("role", SafeText, nullable=False),
    Column("content", SafeText, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    _pk("conversation_messages", "id"),
    _fk(
        "conversation_messages_conversation_id_fkey",
        "conversation_id",
        "conversations.id",
        "CASCADE",
    ),
)
Index("idx_conversation_messages_conversation", conversation_messages.c.conversation_id)
# ironstore_0002 / ironstore_ls_0002: paging / ordering and the summaries' per-conversation lookups
Index(
    "idx_conversation_messages_conv_created",
    conversation_messages.c.conversation_id,
    conversation_messages.c.created_at,
    conversation_messages.c.id,
)
Index(
    "idx_conversation_messages_conv_role_created",
    conversation_messages.c.conversation_id,
    conversation_messages.c.role,
    conversation_messages.c.created_at,
    conversation_messages.c.id,
)

# ----------------------------------------------------------------------------- jobs

agent_jobs = Table(
    "agent_jobs",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("marketplace_job_id", UUIDType),
    Column("conversation_id", UUIDType),
    Column("title", SafeText, nullable=False),
    Column("description", SafeText, nullable=False),
    Column("category", SafeText),
    Column("status", SafeText, nullable=False),
    Column("source", SafeText, nullable=False),
    Column("budget_amount", DecimalText),
    Column("budget_token", SafeText),
    Column("bid_amount", DecimalText),
    Column("estimated_cost", DecimalText),
    Column("estimated_time_secs", Int32),
    Column("estimated_value", DecimalText),
    Column("actual_cost", DecimalText),
    Column("actual_time_secs", Int32),
    Column("success", BoolInt),
    Column("failure_reason", SafeText),
    Column("stuck_since", Timestamp),
    Column("repair_attempts", Int32, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("started_at", Timestamp),
    Column("completed_at", Timestamp),
    Column("project_dir", SafeText),
    Column("user_id", SafeText, nullable=False),
    Column("job_mode", SafeText, nullable=False),
    Column("max_tokens", Int64, nullable=False),
    Column("total_tokens_used", Int64, nullable=False),
    # ironstore_0007 / ironstore_ls_0007: sandbox grants as JSON (X16), creating instance (DB-17)
    Column("credential_grants", JSONType),
    Column("instance_id", SafeText),
    _pk("agent_jobs", "id"),
    _fk("agent_jobs_conversation_id_fkey", "conversation_id", "conversations.id", "SET NULL"),
)
Index("idx_agent_jobs_status", agent_jobs.c.status)
Index("idx_agent_jobs_marketplace", agent_jobs.c.marketplace_job_id)
Index("idx_agent_jobs_conversation", agent_jobs.c.conversation_id)
Index(
    "idx_agent_jobs_stuck",
    agent_jobs.c.stuck_since,
    postgresql_where=agent_jobs.c.stuck_since.isnot(None),
)
Index("idx_agent_jobs_source", agent_jobs.c.source)
Index("idx_agent_jobs_user", agent_jobs.c.user_id)
Index("idx_agent_jobs_created", agent_jobs.c.created_at.desc())
# ironstore_0007 / ironstore_ls_0007: direct / sandbox listings and summaries (DB-20, X4)
Index(
    "idx_agent_jobs_source_user_created",
    agent_jobs.c.source,
    agent_jobs.c.user_id,
    agent_jobs.c.created_at,
    agent_jobs.c.id,
)
Index("idx_agent_jobs_source_created", agent_jobs.c.source, agent_jobs.c.created_at, agent_jobs.c.id)

job_actions = Table(
    "job_actions",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("job_id", UUIDType, nullable=False),
    Column("sequence_num", Int32, nullable=False),
    Column("tool_name", SafeText, nullable=False),
    Column("input", JSONType(null_as_json=True), nullable=False),
    Column("output_raw", SafeText),
    Column("output_sanitized", JSONType),
    Column("sanitization_warnings", JSONType),
    Column("cost", DecimalText),
    Column("duration_ms", Int32),
    Column("success", BoolInt, nullable=False),
    Column("error_message", SafeText),
    Column("created_at", Timestamp, nullable=False),
    _pk("job_actions", "id"),
    _fk("job_actions_job_id_fkey", "job_id", "agent_jobs.id", "CASCADE"),
    UniqueConstraint("job_id", "sequence_num", name="job_actions_job_id_sequence_num_key"),
)
Index("idx_job_actions_job_id", job_actions.c.job_id)
Index("idx_job_actions_tool", job_actions.c.tool_name)

job_events = Table(
    "job_events",
    metadata,
    Column("id", Int64, nullable=False, autoincrement=True),
    Column("job_id", UUIDType, nullable=False),
    Column("event_type", SafeText, nullable=False),
    Column("data", JSONType(null_as_json=True), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    PrimaryKeyConstraint("id", name="claude_code_events_pkey"),
    _fk("claude_code_events_job_id_fkey", "job_id", "agent_jobs.id", "CASCADE"),
)
Index("idx_job_events_job", job_events.c.job_id, job_events.c.id)
Index("idx_job_events_created", job_events.c.created_at)  # ironstore_0007: pruning by age

llm_calls = Table(
    "llm_calls",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("job_id", UUIDType),
    Column("conversation_id", UUIDType),
    Column("provider", SafeText, nullable=False),
    Column("model", SafeText, nullable=False),
    Column("input_tokens", Int32, nullable=False),
    Column("output_tokens", Int32, nullable=False),
    Column("cost", DecimalText, nullable=False),
    Column("purpose", SafeText),
    Column("created_at", Timestamp, nullable=False),
    _pk("llm_calls", "id"),
    _fk("llm_calls_job_id_fkey", "job_id", "agent_jobs.id", "CASCADE"),
    _fk("llm_calls_conversation_id_fkey", "conversation_id", "conversations.id", "SET NULL"),
)
Index("idx_llm_calls_job", llm_calls.c.job_id)
Index("idx_llm_calls_conversation", llm_calls.c.conversation_id)
Index("idx_llm_calls_provider", llm_calls.c.provider)
Index("idx_llm_calls_created", llm_calls.c.created_at)  # ironstore_0007: cost reports, pruning

estimation_snapshots = Table(
    "estimation_snapshots",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("job_id", UUIDType, nullable=False),
    Column("category", SafeText, nullable=False),
    Column("tool_names", TextArray, nullable=False),
    Column("estimated_cost", DecimalText, nullable=False),
    Column("actual_cost", DecimalText),
    Column("estimated_time_secs", Int32, nullable=False),
    Column("actual_time_secs", Int32),
    Column("estimated_value", DecimalText, nullable=False),
    Column("actual_value", DecimalText),
    Column("created_at", Timestamp, nullable=False),
    _pk("estimation_snapshots", "id"),
    _fk("estimation_snapshots_job_id_fkey", "job_id", "agent_jobs.id", "CASCADE"),
)
Index("idx_estimation_category", estimation_snapshots.c.category)
Index("idx_estimation_job", estimation_snapshots.c.job_id)

# ----------------------------------------------------------------------------- self-repair

dynamic_tools = Table(
    "dynamic_tools",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("name", SafeText, nullable=False),
    Column("description", SafeText, nullable=False),
    Column("parameters_schema", JSONType(null_as_json=True), nullable=False),
    Column("code", SafeText, nullable=False),
    Column("sandbox_config", JSONType(null_as_json=True), nullable=False),
    Column("created_by_job_id", UUIDType),
    Column("success_count", Int32, nullable=False),
    Column("failure_count", Int32, nullable=False),
    Column("last_error", SafeText),
    Column("status", SafeText, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    _pk("dynamic_tools", "id"),
    UniqueConstraint("name", name="dynamic_tools_name_key"),
    _fk("dynamic_tools_created_by_job_id_fkey", "created_by_job_id", "agent_jobs.id"),
)
Index("idx_dynamic_tools_status", dynamic_tools.c.status)
Index("idx_dynamic_tools_name", dynamic_tools.c.name)

repair_attempts = Table(
    "repair_attempts",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("target_type", SafeText, nullable=False),
    Column("target_id", UUIDType, nullable=False),
    Column("diagnosis", SafeText, nullable=False),
    Column("action_taken", SafeText, nullable=False),
    Column("success", BoolInt, nullable=False),
    Column("error_message", SafeText),
    Column("created_at", Timestamp, nullable=False),
    _pk("repair_attempts", "id"),
)
Index("idx_repair_attempts_target", repair_attempts.c.target_type, repair_attempts.c.target_id)
Index("idx_repair_attempts_created", repair_attempts.c.created_at)

tool_failures = Table(
    "tool_failures",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("tool_name", SafeText(255), nullable=False),
    Column("error_message", SafeText),
    # NOT NULL since ironstore_0008 / ironstore_ls_0008 (IronClaw declares them nullable).
    Column("error_count", Int32, nullable=False),
    Column("first_failure", Timestamp, nullable=False),
    Column("last_failure", Timestamp, nullable=False),
    Column("last_build_result", JSONType),
    Column("repaired_at", Timestamp),
    Column("repair_attempts", Int32, nullable=False),
    _pk("tool_failures", "id"),
    UniqueConstraint("tool_name", name="tool_failures_tool_name_key"),
)
Index("idx_tool_failures_name", tool_failures.c.tool_name)
Index("idx_tool_failures_count", tool_failures.c.error_count.desc())
Index(
    "idx_tool_failures_unrepaired",
    tool_failures.c.tool_name,
    postgresql_where=tool_failures.c.repaired_at.is_(None),
)

# ----------------------------------------------------------------------------- workspace

memory_documents = Table(
    "memory_documents",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("user_id", SafeText, nullable=False),
    Column("agent_id", UUIDType),
    Column("path", SafeText, nullable=False),
    Column("content", SafeText, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("metadata", JSONType(null_as_json=True), nullable=False),
    _pk("memory_documents", "id"),
    UniqueConstraint("user_id", "agent_id", "path", name="unique_path_per_user"),
)
Index("idx_memory_documents_user", memory_documents.c.user_id)
Index("idx_memory_documents_path", memory_documents.c.user_id, memory_documents.c.path)
only_on(
    Index(
        "idx_memory_documents_path_prefix",
        memory_documents.c.user_id,
        memory_documents.c.path,
        postgresql_ops={"path": "text_pattern_ops"},
    ),
    PG,
)
Index("idx_memory_documents_updated", memory_documents.c.updated_at.desc())
# ironstore_0005 / ironstore_ls_0005: null-safe uniqueness of a scope's path (spec DB-4)
Index(
    "uq_memory_documents_scope_path",
    memory_documents.c.user_id,
    text("COALESCE(agent_id, '00000000-0000-0000-0000-000000000000')"),
    memory_documents.c.path,
    unique=True,
)

memory_chunks = Table(
    "memory_chunks",
    metadata,
    # libSQL only: the FTS5 content rowid (the table's real primary key there)
    only_on(Column("_rowid", Int64, autoincrement=True), LIBSQL),
    Column("id", UUIDType, nullable=False),
    Column("document_id", UUIDType, nullable=False),
    Column("chunk_index", Int32, nullable=False),
    Column("content", SafeText, nullable=False),
    # PostgreSQL only: generated `to_tsvector('english', content)`, never written
    only_on(Column("content_tsv", TSVECTOR), PG),
    Column("embedding", Embedding),
    Column("created_at", Timestamp, nullable=False),
    _pk("memory_chunks", "id"),
    _fk("memory_chunks_document_id_fkey", "document_id", "memory_documents.id", "CASCADE"),
    UniqueConstraint("document_id", "chunk_index", name="unique_chunk_per_doc"),
)
Index("idx_memory_chunks_document", memory_chunks.c.document_id)
only_on(
    Index("idx_memory_chunks_tsv", memory_chunks.c.content_tsv, postgresql_using="gin"),
    PG,
)

heartbeat_state = Table(
    "heartbeat_state",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("user_id", SafeText, nullable=False),
    Column("agent_id", UUIDType),
    Column("last_run", Timestamp),
    Column("next_run", Timestamp),
    Column("interval_seconds", Int32, nullable=False),
    Column("enabled", BoolInt, nullable=False),
    Column("consecutive_failures", Int32, nullable=False),
    Column("last_checks", JSONType(null_as_json=True), nullable=False),
    _pk("heartbeat_state", "id"),
    UniqueConstraint("user_id", "agent_id", name="unique_heartbeat_per_user"),
)
Index("idx_heartbeat_user", heartbeat_state.c.user_id)
Index(
    "idx_heartbeat_next_run",
    heartbeat_state.c.next_run,
    postgresql_where=heartbeat_state.c.enabled == text("true"),
)

# ----------------------------------------------------------------------------- secrets & WASM

secrets = Table(
    "secrets",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("user_id", SafeText, nullable=False),
    Column("name", SafeText, nullable=False),
    Column("encrypted_value", Bytes, nullable=False),
    Column("key_salt", Bytes, nullable=False),
    Column("provider", SafeText),
    Column("expires_at", Timestamp),
    Column("last_used_at", Timestamp),
    Column("usage_count", Int64, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    _pk("secrets", "id"),
    UniqueConstraint("user_id", "name", name="unique_secret_per_user"),
)
Index("idx_secrets_user", secrets.c.user_id)
Index(
    "idx_secrets_provider",
    secrets.c.provider,
    postgresql_where=secrets.c.provider.isnot(None),
)
Index(
    "idx_secrets_expires",
    secrets.c.expires_at,
    postgresql_where=secrets.c.expires_at.isnot(None),
)

wasm_tools = Table(
    "wasm_tools",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("user_id", SafeText, nullable=False),
    Column("name", SafeText, nullable=False),
    Column("version", SafeText, nullable=False),
    Column("wit_version", SafeText, nullable=False),
    Column("description", SafeText, nullable=False),
    Column("wasm_binary", Bytes, nullable=False),
    Column("binary_hash", Bytes, nullable=False),
    Column("parameters_schema", JSONType(null_as_json=True), nullable=False),
    Column("source_url", SafeText),
    Column("trust_level", SafeText, nullable=False),
    Column("status", SafeText, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    _pk("wasm_tools", "id"),
    UniqueConstraint("user_id", "name", "version", name="unique_wasm_tool_version"),
)
Index("idx_wasm_tools_user", wasm_tools.c.user_id)
Index("idx_wasm_tools_name", wasm_tools.c.user_id, wasm_tools.c.name)
Index("idx_wasm_tools_status", wasm_tools.c.status)
Index("idx_wasm_tools_trust", wasm_tools.c.trust_level)

secret_usage_log = Table(
    "secret_usage_log",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("secret_id", UUIDType, nullable=False),
    Column("wasm_tool_id", UUIDType),
    Column("user_id", SafeText, nullable=False),
    Column("target_host", SafeText, nullable=False),
    Column("target_path", SafeText),
    Column("success", BoolInt, nullable=False),
    Column("error_message", SafeText),
    Column("created_at", Timestamp, nullable=False),
    _pk("secret_usage_log", "id"),
    _fk("secret_usage_log_secret_id_fkey", "secret_id", "secrets.id", "CASCADE"),
    _fk("secret_usage_log_wasm_tool_id_fkey", "wasm_tool_id", "wasm_tools.id", "SET NULL"),
)
Index("idx_secret_usage_secret", secret_usage_log.c.secret_id)
Index("idx_secret_usage_tool", secret_usage_log.c.wasm_tool_id)
Index("idx_secret_usage_user", secret_usage_log.c.user_id)
Index("idx_secret_usage_created", secret_usage_log.c.created_at.desc())

tool_capabilities = Table(
    "tool_capabilities",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("wasm_tool_id", UUIDType, nullable=False),
    Column("http_allowlist", JSONType(null_as_json=True), nullable=False),
    Column("allowed_secrets", TextArray, nullable=False),
    Column("tool_aliases", JSONType(null_as_json=True), nullable=False),
    Column("requests_per_minute", Int32, nullable=False),
    Column("requests_per_hour", Int32, nullable=False),
    Column("max_request_body_bytes", Int64, nullable=False),
    Column("max_response_body_bytes", Int64, nullable=False),
    Column("workspace_read_prefixes", TextArray, nullable=False),
    Column("http_timeout_secs", Int32, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    _pk("tool_capabilities", "id"),
    UniqueConstraint("wasm_tool_id", name="unique_capabilities_per_tool"),
    _fk("tool_capabilities_wasm_tool_id_fkey", "wasm_tool_id", "wasm_tools.id", "CASCADE"),
)
Index("idx_tool_capabilities_tool", tool_capabilities.c.wasm_tool_id)

tool_rate_limit_state = Table(
    "tool_rate_limit_state",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("wasm_tool_id", UUIDType, nullable=False),
    Column("user_id", SafeText, nullable=False),
    Column("minute_window_start", Timestamp, nullable=False),
    Column("minute_count", Int32, nullable=False),
    Column("hour_window_start", Timestamp, nullable=False),
    Column("hour_count", Int32, nullable=False),
    _pk("tool_rate_limit_state", "id"),
    UniqueConstraint("wasm_tool_id", "user_id", name="unique_rate_limit_per_tool_user"),
    _fk(
        "tool_rate_limit_state_wasm_tool_id_fkey", "wasm_tool_id", "wasm_tools.id", "CASCADE"
    ),
)
Index("idx_rate_limit_tool", tool_rate_limit_state.c.wasm_tool_id)
only_on(Index("idx_rate_limit_user", tool_rate_limit_state.c.user_id), PG)

wasm_channels = Table(
    "wasm_channels",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("user_id", SafeText, nullable=False),
    Column("name", SafeText, nullable=False),
    Column("version", SafeText, nullable=False),
    Column("wit_version", SafeText, nullable=False),
    Column("description", SafeText, nullable=False),
    Column("wasm_binary", Bytes, nullable=False),
    Column("binary_hash", Bytes, nullable=False),
    Column("capabilities_json", SafeText, nullable=False),
    Column("status", SafeText, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    _pk("wasm_channels", "id"),
    UniqueConstraint("user_id", "name", name="unique_wasm_channel"),
)

leak_detection_patterns = Table(
    "leak_detection_patterns",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("name", SafeText, nullable=False),
    Column("pattern", SafeText, nullable=False),
    Column("severity", SafeText, nullable=False),
    Column("action", SafeText, nullable=False),
    Column("enabled", BoolInt, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    _pk("leak_detection_patterns", "id"),
    UniqueConstraint("name", name="leak_detection_patterns_name_key"),
)
Index(
    "idx_leak_patterns_enabled",
    leak_detection_patterns.c.enabled,
    postgresql_where=leak_detection_patterns.c.enabled == text("true"),
)

leak_detection_events = Table(
    "leak_detection_events",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("pattern_id", UUIDType),
    Column("wasm_tool_id", UUIDType),
    Column("user_id", SafeText, nullable=False),
    Column("source", SafeText, nullable=False),
    Column("action_taken", SafeText, nullable=False),
    Column("context_preview", SafeText),
    Column("created_at", Timestamp, nullable=False),
    _pk("leak_detection_events", "id"),
    _fk(
        "leak_detection_events_pattern_id_fkey",
        "pattern_id",
        "leak_detection_patterns.id",
        "SET NULL",
    ),
    _fk("leak_detection_events_wasm_tool_id_fkey", "wasm_tool_id", "wasm_tools.id", "SET NULL"),
)
Index("idx_leak_events_pattern", leak_detection_events.c.pattern_id)
Index("idx_leak_events_tool", leak_detection_events.c.wasm_tool_id)
Index("idx_leak_events_user", leak_detection_events.c.user_id)
Index("idx_leak_events_created", leak_detection_events.c.created_at.desc())

# ----------------------------------------------------------------------------- routines

routines = Table(
    "routines",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("name", SafeText, nullable=False),
    Column("description", SafeText, nullable=False),
    Column("user_id", SafeText, nullable=False),
    Column("enabled", BoolInt, nullable=False),
    Column("trigger_type", SafeText, nullable=False),
    Column("trigger_config", JSONType(null_as_json=True), nullable=False),
    Column("action_type", SafeText, nullable=False),
    Column("action_config", JSONType(null_as_json=True), nullable=False),
    Column("cooldown_secs", Int32, nullable=False),
    Column("max_concurrent", Int32, nullable=False),
    Column("dedup_window_secs", Int32),
    Column("notify_channel", SafeText),
    Column("notify_user", SafeText),
    Column("notify_on_success", BoolInt, nullable=False),
    Column("notify_on_failure", BoolInt, nullable=False),
    Column("notify_on_attention", BoolInt, nullable=False),
    Column("state", JSONType(null_as_json=True), nullable=False),
    Column("last_run_at", Timestamp),
    Column("next_fire_at", Timestamp),
    Column("run_count", Int64, nullable=False),
    Column("consecutive_failures", Int32, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    _pk("routines", "id"),
    UniqueConstraint("user_id", "name", name="routines_user_id_name_key"),
)
Index(
    "idx_routines_next_fire",
    routines.c.next_fire_at,
    postgresql_where=text("enabled AND next_fire_at IS NOT NULL"),
)
# IronClaw's two backends define this index differently (∆D12); both are kept as they are.
only_on(
    Index(
        "idx_routines_event_triggers",
        routines.c.user_id,
        postgresql_where=text("enabled AND trigger_type = 'event'"),
    ),
    PG,
)
only_on(
    Index(
        "idx_routines_event_triggers",
        routines.c.trigger_type,
        routines.c.user_id,
        sqlite_where=text("enabled = 1 AND trigger_type IN ('event', 'system_event')"),
    ),
    LIBSQL,
)
only_on(Index("idx_routines_user", routines.c.user_id), LIBSQL)
# ironstore_0008 / ironstore_ls_0008: one enabled webhook routine per path.
_WEBHOOK_PATH = json_text(routines.c.trigger_config, "path")
Index(
    "uq_routines_webhook_path",
    _WEBHOOK_PATH,
    unique=True,
    postgresql_where=and_(
        routines.c.trigger_type == text("'webhook'"), text("enabled"), _WEBHOOK_PATH.isnot(None)
    ),
    sqlite_where=and_(
        routines.c.trigger_type == text("'webhook'"), text("enabled <> 0"), _WEBHOOK_PATH.isnot(None)
    ),
)

routine_runs = Table(
    "routine_runs",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("routine_id", UUIDType, nullable=False),
    Column("trigger_type", SafeText, nullable=False),
    Column("trigger_detail", SafeText),
    Column("started_at", Timestamp, nullable=False),
    Column("completed_at", Timestamp),
    Column("status", SafeText, nullable=False),
    Column("result_summary", SafeText),
    Column("tokens_used", Int32),
    Column("job_id", UUIDType),
    Column("created_at", Timestamp, nullable=False),
    _pk("routine_runs", "id"),
    _fk("routine_runs_routine_id_fkey", "routine_id", "routines.id", "CASCADE"),
    _fk("routine_runs_job_id_fkey", "job_id", "agent_jobs.id"),
)
Index("idx_routine_runs_routine", routine_runs.c.routine_id)
# ironstore_0004 / ironstore_ls_0004: newest runs per routine (list_routine_runs, last status)
Index(
    "idx_routine_runs_routine_started", routine_runs.c.routine_id, routine_runs.c.started_at.desc()
)
Index(
    "idx_routine_runs_status",
    routine_runs.c.status,
    postgresql_where=routine_runs.c.status == text("'running'"),
)

# ----------------------------------------------------------------------------- settings

settings = Table(
    "settings",
    metadata,
    Column("user_id", SafeText, nullable=False),
    Column("key", SafeText, nullable=False),
    Column("value", JSONType(null_as_json=True), nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    _pk("settings", "user_id", "key"),
)
Index("idx_settings_user", settings.c.user_id)

IRONCLAW_TABLES = tuple(metadata.tables)
"""The 24 application tables of IronClaw v0.22.0, in definition order (parents first)."""

# ----------------------------------------------------------------------------- sessions (ironstore_0006 / ironstore_ls_0006)
# Agent sessions and checkpoints (spec: stores-sessions-checkpoints.md §5.3). Not IronClaw tables.

sessions = Table(
    "sessions",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("title", SafeText, nullable=False),
    Column("visibility", SafeText, nullable=False, server_default=text("'PRIVATE'")),
    Column("status", SafeText, nullable=False, server_default=text("'ACTIVE'")),
    Column("cwd", SafeText),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("deleted_at", Timestamp),
    _pk("sessions", "id"),
    CheckConstraint("visibility IN ('PRIVATE', 'PUBLIC')", name="ck_sessions_visibility"),
    CheckConstraint("status IN ('ACTIVE', 'DELETED')", name="ck_sessions_status"),
    CheckConstraint(
        "(status = 'DELETED' AND deleted_at IS NOT NULL) OR (status = 'ACTIVE' AND deleted_at IS NULL)",
        name="ck_sessions_deleted_at",
    ),
)
Index("ix_sessions_status_updated", sessions.c.status, sessions.c.updated_at, sessions.c.id)
Index("ix_sessions_updated", sessions.c.updated_at, sessions.c.id)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("id", UUIDType, nullable=False),
    Column("session_id", UUIDType, nullable=False),
    Column("parent_id", UUIDType),
    Column("seq", Int32, nullable=False),
    Column("state", SafeText, nullable=False),
    Column("message_count", Int32, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    _pk("checkpoints", "id"),
    _fk("checkpoints_session_id_fkey", "session_id", "sessions.id", "CASCADE"),
    _fk("checkpoints_parent_id_fkey", "parent_id", "checkpoints.id"),
    CheckConstraint("seq >= 1", name="ck_checkpoints_seq"),
    CheckConstraint("message_count >= 0", name="ck_checkpoints_message_count"),
)
# (session_id, seq): the active checkpoint, ordered listing and every lookup by session_id
Index("uq_checkpoints_session_seq", checkpoints.c.session_id, checkpoints.c.seq, unique=True)
Index("ix_checkpoints_parent", checkpoints.c.parent_id)
