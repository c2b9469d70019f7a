"""Raw SQL of the two Alembic baselines: IronClaw v0.22.0's schema, per backend.

Written from ``spec/schema.md`` (§2, §2.25, §2.26, §3).  The statements are plain strings, one
SQL statement each (the libSQL driver runs one statement per call), in execution order:

* ``PG_BASELINE_UP`` / ``PG_BASELINE_DOWN`` — PostgreSQL + pgvector, state after refinery V13:
  24 tables, 54 constraints (24 PK, 13 UNIQUE, 17 FK), 97 indexes (37 backing PK/UNIQUE,
  2 unique partial, 58 plain), sequence ``claude_code_events_id_seq``, 2 functions, 4 triggers,
  5 views, plus ``refinery_schema_history`` (filled by :func:`pg_upgrade_clauses`).
* ``LS_BASELINE_UP`` / ``LS_BASELINE_DOWN`` — libSQL, a fully migrated IronClaw v0.22.0 database
  (consolidated schema + incremental migrations 9, 12, 13): 24 tables, ``_migrations``, the FTS5
  table ``memory_chunks_fts``, 58 named indexes, 4 triggers.

Data rows are exposed as data (the adoption code reuses them) and inserted with bound
parameters — never spliced into SQL text (several leak patterns contain ``(?:``, which
``sqlalchemy.text`` would otherwise read as a bind parameter):

* ``LEAK_PATTERNS`` — ``(id, name, pattern, severity, action)``, 18 rows, fixed ids on both
  backends (∆D25 / X21).
* ``REFINERY_HISTORY`` — ``(version, name, checksum)`` for refinery versions 1–13 (§3.2).
* ``LS_MIGRATIONS`` — ``(version, name)`` rows of the libSQL ``_migrations`` table (§3.3).

:func:`pg_upgrade_clauses`, :func:`pg_downgrade_clauses`, :func:`ls_upgrade_clauses` and
:func:`ls_downgrade_clauses` return ready-to-execute ``TextClause`` objects (DDL + bound data
inserts); the two baseline revisions execute them one by one with ``op.execute``.
"""

from __future__ import annotations

import datetime as _dt
from typing import Final

import sqlalchemy as sa

__all__ = [
    "LEAK_PATTERNS",
    "LEAK_PATTERN_IDS",
    "LS_BASELINE_DOWN",
    "LS_BASELINE_UP",
    "LS_INSERT_LEAK_PATTERN",
    "LS_INSERT_MIGRATION",
    "LS_MIGRATIONS",
    "LS_NOW",
    "PG_BASELINE_DOWN",
    "PG_BASELINE_UP",
    "PG_INSERT_LEAK_PATTERN",
    "PG_INSERT_REFINERY",
    "REFINERY_HISTORY",
    "REFINERY_TABLE",
    "ls_downgrade_clauses",
    "ls_upgrade_clauses",
    "pg_downgrade_clauses",
    "pg_upgrade_clauses",
    "refinery_applied_on",
]

# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def _leak_id(n: int) -> str:
    return f"550e8400-e29b-41d4-a716-4466554400{n:02x}"


#: (id, name, pattern, severity, action) — spec §2.26; all rows are seeded ``enabled``.
LEAK_PATTERNS: Final[list[tuple[str, str, str, str, str]]] = [
    (
        _leak_id(1),
        "openai_api_key",
        r"sk-(?:proj-)?[a-zA-Z0-9]{20,}(?:T3BlbkFJ[a-zA-Z0-9_-]*)?",
        "critical",
        "block",
    ),
    (_leak_id(2), "anthropic_api_key", r"sk-ant-api[a-zA-Z0-9_-]{90,}", "critical", "block"),
    (_leak_id(3), "aws_access_key", r"AKIA[0-9A-Z]{16}", "critical", "block"),
    (
        _leak_id(4),
        "aws_secret_key",
        r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])",
        "high",
        "block",
    ),
    (_leak_id(5), "github_token", r"gh[pousr]_[A-Za-z0-9_]{36,}", "critical", "block"),
    (
        _leak_id(6),
        "github_fine_grained_pat",
        r"github_pat_[a-zA-Z0-9]{22}_[a-zA-Z0-9]{59}",
        "critical",
        "block",
    ),
    (_leak_id(7), "stripe_api_key", r"sk_(?:live|test)_[a-zA-Z0-9]{24,}", "critical", "block"),
    (_leak_id(8), "nearai_session", r"sess_[a-zA-Z0-9]{32,}", "critical", "block"),
    (_leak_id(9), "bearer_token", r"Bearer\s+[a-zA-Z0-9_-]{20,}", "high", "redact"),
    (
        _leak_id(10),
        "pem_private_key",
        r"-----BEGIN\s+(?:RSA\s+)?PRIVATE\s+KEY-----",
        "critical",
        "block",
    ),
    (
        _leak_id(11),
        "ssh_private_key",
        r"-----BEGIN\s+(?:OPENSSH|EC|DSA)\s+PRIVATE\s+KEY-----",
        "critical",
        "block",
    ),
    (_leak_id(12), "google_api_key", r"AIza[0-9A-Za-z_-]{35}", "high", "block"),
    (_leak_id(13), "slack_token", r"xox[baprs]-[0-9a-zA-Z-]{10,}", "high", "block"),
    (_leak_id(14), "discord_token", r"[MN][A-Za-z\d]{23,}\.[\w-]{6}\.[\w-]{27}", "high", "block"),
    (_leak_id(15), "twilio_api_key", r"SK[a-fA-F0-9]{32}", "high", "block"),
    (
        _leak_id(16),
        "sendgrid_api_key",
        r"SG\.[a-zA-Z0-9_-]{22}\.[a-zA-Z0-9_-]{43}",
        "high",
        "block",
    ),
    (_leak_id(17), "mailchimp_api_key", r"[a-f0-9]{32}-us[0-9]{1,2}", "medium", "block"),
    (
        _leak_id(18),
        "high_entropy_hex",
        r"(?<![a-fA-F0-9])[a-fA-F0-9]{64}(?![a-fA-F0-9])",
        "medium",
        "warn",
    ),
]

#: The 18 fixed seed ids, in seed order.
LEAK_PATTERN_IDS: Final[tuple[str, ...]] = tuple(row[0] for row in LEAK_PATTERNS)

#: (version, name, checksum) of IronClaw v0.22.0's refinery migrations — spec §3.2.
REFINERY_HISTORY: Final[list[tuple[int, str, str]]] = [
    (1, "initial", "13924994861355873385"),
    (2, "wasm_secure_api", "7920426121433120191"),
    (3, "tool_failures", "12003661105690258102"),
    (4, "sandbox_columns", "4066773473211554372"),
    (5, "claude_code", "879553427473911756"),
    (6, "routines", "11230857244097235596"),
    (7, "rename_events", "13503025792365661965"),
    (8, "settings", "2960080429880963815"),
    (9, "flexible_embedding_dimension", "8136426081104542386"),
    (10, "wasm_versioning", "18212435829290780557"),
    (11, "conversation_unique_indexes", "9262706107262242885"),
    (12, "job_token_budget", "13685500183340941819"),
    (13, "owner_scope_notify_targets", "2361305667196854503"),
]

#: (version, name) rows of the libSQL ``_migrations`` table of a v0.22.0 database — spec §3.3.
LS_MIGRATIONS: Final[list[tuple[int, str]]] = [
    (9, "flexible_embedding_dimension"),
    (12, "job_token_budget"),
    (13, "routine_notify_user_nullable"),
]


def refinery_applied_on(now: _dt.datetime | None = None) -> str:
    """RFC 3339 UTC text as refinery stores it in ``applied_on`` (e.g. ``…T12:34:56.123456Z``)."""
    now = now or _dt.datetime.now(_dt.UTC)
    if now.tzinfo is None:
        raise ValueError("refinery_applied_on() needs an aware datetime")
    now = now.astimezone(_dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------------------------------------
# PostgreSQL (state after refinery V13)
# ---------------------------------------------------------------------------------------------

#: refinery's bookkeeping table (§3.2); not counted among the 24 application tables.
REFINERY_TABLE: Final[str] = """\
CREATE TABLE refinery_schema_history (
    version INT4 PRIMARY KEY,
    name VARCHAR(255),
    applied_on VARCHAR(255),
    checksum VARCHAR(255)
)"""

PG_INSERT_LEAK_PATTERN: Final[str] = (
    "INSERT INTO leak_detection_patterns (id, name, pattern, severity, action) "
    "VALUES (CAST(:id AS uuid), :name, :pattern, :severity, :action)"
)
PG_INSERT_REFINERY: Final[str] = (
    "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) "
    "VALUES (:version, :name, :applied_on, :checksum)"
)

_PG_TABLES: list[str] = [
    # §2.1
    """\
CREATE TABLE conversations (
    id UUID NOT NULL,
    channel TEXT NOT NULL,
    user_id TEXT NOT NULL,
    thread_id TEXT,
    started_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    last_activity TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    metadata JSONB NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT conversations_pkey PRIMARY KEY (id)
)""",
    # §2.2
    """\
CREATE TABLE conversation_messages (
    id UUID NOT NULL,
    conversation_id UUID NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT conversation_messages_pkey PRIMARY KEY (id),
    CONSTRAINT conversation_messages_conversation_id_fkey FOREIGN KEY (conversation_id)
        REFERENCES conversations (id) ON DELETE CASCADE
)""",
    # §2.3 — the 23 V1 columns, then V4 (project_dir, user_id), V5 (job_mode), V12 (tokens)
    """\
CREATE TABLE agent_jobs (
    id UUID NOT NULL,
    marketplace_job_id UUID,
    conversation_id UUID,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    category TEXT,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    budget_amount NUMERIC,
    budget_token TEXT,
    bid_amount NUMERIC,
    estimated_cost NUMERIC,
    estimated_time_secs INTEGER,
    estimated_value NUMERIC,
    actual_cost NUMERIC,
    actual_time_secs INTEGER,
    success BOOLEAN,
    failure_reason TEXT,
    stuck_since TIMESTAMPTZ,
    repair_attempts INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    started_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    project_dir TEXT,
    user_id TEXT NOT NULL DEFAULT 'default',
    job_mode TEXT NOT NULL DEFAULT 'worker',
    max_tokens BIGINT NOT NULL DEFAULT 0,
    total_tokens_used BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT agent_jobs_pkey PRIMARY KEY (id),
    CONSTRAINT agent_jobs_conversation_id_fkey FOREIGN KEY (conversation_id)
        REFERENCES conversations (id)
)""",
    # §2.4
    """\
CREATE TABLE job_actions (
    id UUID NOT NULL,
    job_id UUID NOT NULL,
    sequence_num INTEGER NOT NULL,
    tool_name TEXT NOT NULL,
    input JSONB NOT NULL,
    output_raw TEXT,
    output_sanitized JSONB,
    sanitization_warnings JSONB,
    cost NUMERIC,
    duration_ms INTEGER,
    success BOOLEAN NOT NULL,
    error_message TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT job_actions_pkey PRIMARY KEY (id),
    CONSTRAINT job_actions_job_id_sequence_num_key UNIQUE (job_id, sequence_num),
    CONSTRAINT job_actions_job_id_fkey FOREIGN KEY (job_id)
        REFERENCES agent_jobs (id) ON DELETE CASCADE
)""",
    # §2.5 — created as claude_code_events (V5, bigserial) and renamed in V7; the sequence,
    # primary key and foreign key keep the legacy names.
    "CREATE SEQUENCE claude_code_events_id_seq AS BIGINT",
    """\
CREATE TABLE job_events (
    id BIGINT NOT NULL DEFAULT nextval('claude_code_events_id_seq'::regclass),
    job_id UUID NOT NULL,
    event_type TEXT NOT NULL,
    data JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT claude_code_events_pkey PRIMARY KEY (id),
    CONSTRAINT claude_code_events_job_id_fkey FOREIGN KEY (job_id) REFERENCES agent_jobs (id)
)""",
    "ALTER SEQUENCE claude_code_events_id_seq OWNED BY job_events.id",
    # §2.6
    """\
CREATE TABLE llm_calls (
    id UUID NOT NULL,
    job_id UUID,
    conversation_id UUID,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost NUMERIC NOT NULL,
    purpose TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT llm_calls_pkey PRIMARY KEY (id),
    CONSTRAINT llm_calls_job_id_fkey FOREIGN KEY (job_id)
        REFERENCES agent_jobs (id) ON DELETE CASCADE,
    CONSTRAINT llm_calls_conversation_id_fkey FOREIGN KEY (conversation_id)
        REFERENCES conversations (id)
)""",
    # §2.7 — tool_names has no default on PG (∆D6)
    """\
CREATE TABLE estimation_snapshots (
    id UUID NOT NULL,
    job_id UUID NOT NULL,
    category TEXT NOT NULL,
    tool_names TEXT[] NOT NULL,
    estimated_cost NUMERIC NOT NULL,
    actual_cost NUMERIC,
    estimated_time_secs INTEGER NOT NULL,
    actual_time_secs INTEGER,
    estimated_value NUMERIC NOT NULL,
    actual_value NUMERIC,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT estimation_snapshots_pkey PRIMARY KEY (id),
    CONSTRAINT estimation_snapshots_job_id_fkey FOREIGN KEY (job_id)
        REFERENCES agent_jobs (id) ON DELETE CASCADE
)""",
    # §2.8
    """\
CREATE TABLE dynamic_tools (
    id UUID NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    parameters_schema JSONB NOT NULL,
    code TEXT NOT NULL,
    sandbox_config JSONB NOT NULL,
    created_by_job_id UUID,
    success_count INTEGER NOT NULL DEFAULT 0,
    failure_count INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    status TEXT NOT NULL DEFAULT 'active',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT dynamic_tools_pkey PRIMARY KEY (id),
    CONSTRAINT dynamic_tools_name_key UNIQUE (name),
    CONSTRAINT dynamic_tools_created_by_job_id_fkey FOREIGN KEY (created_by_job_id)
        REFERENCES agent_jobs (id)
)""",
    # §2.9
    """\
CREATE TABLE repair_attempts (
    id UUID NOT NULL,
    target_type TEXT NOT NULL,
    target_id UUID NOT NULL,
    diagnosis TEXT NOT NULL,
    action_taken TEXT NOT NULL,
    success BOOLEAN NOT NULL,
    error_message TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT repair_attempts_pkey PRIMARY KEY (id)
)""",
    # §2.10
    """\
CREATE TABLE memory_documents (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    user_id TEXT NOT NULL,
    agent_id UUID,
    path TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    metadata JSONB NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT memory_documents_pkey PRIMARY KEY (id),
    CONSTRAINT unique_path_per_user UNIQUE (user_id, agent_id, path)
)""",
    # §2.11 — unbounded vector since V9; generated tsvector column
    """\
CREATE TABLE memory_chunks (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    document_id UUID NOT NULL,
    chunk_index INTEGER NOT NULL,
    content TEXT NOT NULL,
    content_tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    embedding VECTOR,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT memory_chunks_pkey PRIMARY KEY (id),
    CONSTRAINT unique_chunk_per_doc UNIQUE (document_id, chunk_index),
    CONSTRAINT memory_chunks_document_id_fkey FOREIGN KEY (document_id)
        REFERENCES memory_documents (id) ON DELETE CASCADE
)""",
    # §2.12
    """\
CREATE TABLE heartbeat_state (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    user_id TEXT NOT NULL,
    agent_id UUID,
    last_run TIMESTAMPTZ,
    next_run TIMESTAMPTZ,
    interval_seconds INTEGER NOT NULL DEFAULT 1800,
    enabled BOOLEAN NOT NULL DEFAULT true,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_checks JSONB NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT heartbeat_state_pkey PRIMARY KEY (id),
    CONSTRAINT unique_heartbeat_per_user UNIQUE (user_id, agent_id)
)""",
    # §2.13
    """\
CREATE TABLE secrets (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    encrypted_value BYTEA NOT NULL,
    key_salt BYTEA NOT NULL,
    provider TEXT,
    expires_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    usage_count BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT secrets_pkey PRIMARY KEY (id),
    CONSTRAINT unique_secret_per_user UNIQUE (user_id, name)
)""",
    # §2.15 — wit_version added by V10 (last column on PG)
    """\
CREATE TABLE wasm_tools (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL DEFAULT '1.0.0',
    description TEXT NOT NULL,
    wasm_binary BYTEA NOT NULL,
    binary_hash BYTEA NOT NULL,
    parameters_schema JSONB NOT NULL,
    source_url TEXT,
    trust_level TEXT NOT NULL DEFAULT 'user',
    status TEXT NOT NULL DEFAULT 'active',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    wit_version TEXT NOT NULL DEFAULT '0.1.0',
    CONSTRAINT wasm_tools_pkey PRIMARY KEY (id),
    CONSTRAINT unique_wasm_tool_version UNIQUE (user_id, name, version)
)""",
    # §2.16
    """\
CREATE TABLE tool_capabilities (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    wasm_tool_id UUID NOT NULL,
    http_allowlist JSONB NOT NULL DEFAULT '[]'::jsonb,
    allowed_secrets TEXT[] NOT NULL DEFAULT '{}'::text[],
    tool_aliases JSONB NOT NULL DEFAULT '{}'::jsonb,
    requests_per_minute INTEGER NOT NULL DEFAULT 60,
    requests_per_hour INTEGER NOT NULL DEFAULT 1000,
    max_request_body_bytes BIGINT NOT NULL DEFAULT 1048576,
    max_response_body_bytes BIGINT NOT NULL DEFAULT 10485760,
    workspace_read_prefixes TEXT[] NOT NULL DEFAULT '{}'::text[],
    http_timeout_secs INTEGER NOT NULL DEFAULT 30,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT tool_capabilities_pkey PRIMARY KEY (id),
    CONSTRAINT unique_capabilities_per_tool UNIQUE (wasm_tool_id),
    CONSTRAINT tool_capabilities_wasm_tool_id_fkey FOREIGN KEY (wasm_tool_id)
        REFERENCES wasm_tools (id) ON DELETE CASCADE
)""",
    # §2.19
    """\
CREATE TABLE leak_detection_patterns (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    name TEXT NOT NULL,
    pattern TEXT NOT NULL,
    severity TEXT NOT NULL DEFAULT 'high',
    action TEXT NOT NULL DEFAULT 'block',
    enabled BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT leak_detection_patterns_pkey PRIMARY KEY (id),
    CONSTRAINT leak_detection_patterns_name_key UNIQUE (name)
)""",
    # §2.17
    """\
CREATE TABLE tool_rate_limit_state (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    wasm_tool_id UUID NOT NULL,
    user_id TEXT NOT NULL,
    minute_window_start TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    minute_count INTEGER NOT NULL DEFAULT 0,
    hour_window_start TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    hour_count INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT tool_rate_limit_state_pkey PRIMARY KEY (id),
    CONSTRAINT unique_rate_limit_per_tool_user UNIQUE (wasm_tool_id, user_id),
    CONSTRAINT tool_rate_limit_state_wasm_tool_id_fkey FOREIGN KEY (wasm_tool_id)
        REFERENCES wasm_tools (id) ON DELETE CASCADE
)""",
    # §2.14
    """\
CREATE TABLE secret_usage_log (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    secret_id UUID NOT NULL,
    wasm_tool_id UUID,
    user_id TEXT NOT NULL,
    target_host TEXT NOT NULL,
    target_path TEXT,
    success BOOLEAN NOT NULL,
    error_message TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT secret_usage_log_pkey PRIMARY KEY (id),
    CONSTRAINT secret_usage_log_secret_id_fkey FOREIGN KEY (secret_id)
        REFERENCES secrets (id) ON DELETE CASCADE,
    CONSTRAINT secret_usage_log_wasm_tool_id_fkey FOREIGN KEY (wasm_tool_id)
        REFERENCES wasm_tools (id) ON DELETE SET NULL
)""",
    # §2.20
    """\
CREATE TABLE leak_detection_events (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    pattern_id UUID,
    wasm_tool_id UUID,
    user_id TEXT NOT NULL,
    source TEXT NOT NULL,
    action_taken TEXT NOT NULL,
    context_preview TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT leak_detection_events_pkey PRIMARY KEY (id),
    CONSTRAINT leak_detection_events_pattern_id_fkey FOREIGN KEY (pattern_id)
        REFERENCES leak_detection_patterns (id) ON DELETE SET NULL,
    CONSTRAINT leak_detection_events_wasm_tool_id_fkey FOREIGN KEY (wasm_tool_id)
        REFERENCES wasm_tools (id) ON DELETE SET NULL
)""",
    # §2.21 — the single varchar(255) column; counters/timestamps nullable
    """\
CREATE TABLE tool_failures (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    tool_name VARCHAR(255) NOT NULL,
    error_message TEXT,
    error_count INTEGER DEFAULT 1,
    first_failure TIMESTAMPTZ DEFAULT NOW(),
    last_failure TIMESTAMPTZ DEFAULT NOW(),
    last_build_result JSONB,
    repaired_at TIMESTAMPTZ,
    repair_attempts INTEGER DEFAULT 0,
    CONSTRAINT tool_failures_pkey PRIMARY KEY (id),
    CONSTRAINT tool_failures_tool_name_key UNIQUE (tool_name)
)""",
    # §2.22 — notify_user nullable without default (V13)
    """\
CREATE TABLE routines (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    user_id TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT true,
    trigger_type TEXT NOT NULL,
    trigger_config JSONB NOT NULL,
    action_type TEXT NOT NULL,
    action_config JSONB NOT NULL,
    cooldown_secs INTEGER NOT NULL DEFAULT 300,
    max_concurrent INTEGER NOT NULL DEFAULT 1,
    dedup_window_secs INTEGER,
    notify_channel TEXT,
    notify_user TEXT,
    notify_on_success BOOLEAN NOT NULL DEFAULT false,
    notify_on_failure BOOLEAN NOT NULL DEFAULT true,
    notify_on_attention BOOLEAN NOT NULL DEFAULT true,
    state JSONB NOT NULL DEFAULT '{}'::jsonb,
    last_run_at TIMESTAMPTZ,
    next_fire_at TIMESTAMPTZ,
    run_count BIGINT NOT NULL DEFAULT 0,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT routines_pkey PRIMARY KEY (id),
    CONSTRAINT routines_user_id_name_key UNIQUE (user_id, name)
)""",
    # §2.23
    """\
CREATE TABLE routine_runs (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    routine_id UUID NOT NULL,
    trigger_type TEXT NOT NULL,
    trigger_detail TEXT,
    started_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    completed_at TIMESTAMPTZ,
    status TEXT NOT NULL DEFAULT 'running',
    result_summary TEXT,
    tokens_used INTEGER,
    job_id UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT routine_runs_pkey PRIMARY KEY (id),
    CONSTRAINT routine_runs_routine_id_fkey FOREIGN KEY (routine_id)
        REFERENCES routines (id) ON DELETE CASCADE,
    CONSTRAINT routine_runs_job_id_fkey FOREIGN KEY (job_id) REFERENCES agent_jobs (id)
)""",
    # §2.24
    """\
CREATE TABLE settings (
    user_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT settings_pkey PRIMARY KEY (user_id, key)
)""",
    # §2.18 (V10)
    """\
CREATE TABLE wasm_channels (
    id UUID NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL DEFAULT '0.1.0',
    wit_version TEXT NOT NULL DEFAULT '0.1.0',
    description TEXT NOT NULL DEFAULT '',
    wasm_binary BYTEA NOT NULL,
    binary_hash BYTEA NOT NULL,
    capabilities_json TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'active',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT wasm_channels_pkey PRIMARY KEY (id),
    CONSTRAINT unique_wasm_channel UNIQUE (user_id, name)
)""",
]

# 58 plain indexes + 2 unique partial expression indexes (§2.1–§2.24, PG definitions).
_PG_INDEXES: list[str] = [
    # conversations
    "CREATE INDEX idx_conversations_channel ON conversations (channel)",
    "CREATE INDEX idx_conversations_user ON conversations (user_id)",
    "CREATE INDEX idx_conversations_last_activity ON conversations (last_activity)",
    (
        "CREATE UNIQUE INDEX uq_conv_routine ON conversations (user_id, (metadata->>'routine_id')) "
        "WHERE (metadata->>'routine_id') IS NOT NULL"
    ),
    (
        "CREATE UNIQUE INDEX uq_conv_heartbeat ON conversations (user_id) "
        "WHERE (metadata->>'thread_type') = 'heartbeat'"
    ),
    # conversation_messages
    (
        "CREATE INDEX idx_conversation_messages_conversation "
        "ON conversation_messages (conversation_id)"
    ),
    # agent_jobs
    "CREATE INDEX idx_agent_jobs_status ON agent_jobs (status)",
    "CREATE INDEX idx_agent_jobs_marketplace ON agent_jobs (marketplace_job_id)",
    "CREATE INDEX idx_agent_jobs_conversation ON agent_jobs (conversation_id)",
    ("CREATE INDEX idx_agent_jobs_stuck ON agent_jobs (stuck_since) WHERE stuck_since IS NOT NULL"),
    "CREATE INDEX idx_agent_jobs_source ON agent_jobs (source)",
    "CREATE INDEX idx_agent_jobs_user ON agent_jobs (user_id)",
    "CREATE INDEX idx_agent_jobs_created ON agent_jobs (created_at DESC)",
    # job_actions
    "CREATE INDEX idx_job_actions_job_id ON job_actions (job_id)",
    "CREATE INDEX idx_job_actions_tool ON job_actions (tool_name)",
    # job_events
    "CREATE INDEX idx_job_events_job ON job_events (job_id, id)",
    # llm_calls
    "CREATE INDEX idx_llm_calls_job ON llm_calls (job_id)",
    "CREATE INDEX idx_llm_calls_conversation ON llm_calls (conversation_id)",
    "CREATE INDEX idx_llm_calls_provider ON llm_calls (provider)",
    # estimation_snapshots
    "CREATE INDEX idx_estimation_category ON estimation_snapshots (category)",
    "CREATE INDEX idx_estimation_job ON estimation_snapshots (job_id)",
    # dynamic_tools
    "CREATE INDEX idx_dynamic_tools_status ON dynamic_tools (status)",
    "CREATE INDEX idx_dynamic_tools_name ON dynamic_tools (name)",
    # repair_attempts
    "CREATE INDEX idx_repair_attempts_target ON repair_attempts (target_type, target_id)",
    "CREATE INDEX idx_repair_attempts_created ON repair_attempts (created_at)",
    # memory_documents
    "CREATE INDEX idx_memory_documents_user ON memory_documents (user_id)",
    "CREATE INDEX idx_memory_documents_path ON memory_documents (user_id, path)",
    (
        "CREATE INDEX idx_memory_documents_path_prefix "
        "ON memory_documents (user_id, path text_pattern_ops)"
    ),
    "CREATE INDEX idx_memory_documents_updated ON memory_documents (updated_at DESC)",
    # memory_chunks
    "CREATE INDEX idx_memory_chunks_document ON memory_chunks (document_id)",
    "CREATE INDEX idx_memory_chunks_tsv ON memory_chunks USING gin (content_tsv)",
    # heartbeat_state
    "CREATE INDEX idx_heartbeat_user ON heartbeat_state (user_id)",
    "CREATE INDEX idx_heartbeat_next_run ON heartbeat_state (next_run) WHERE enabled = true",
    # secrets
    "CREATE INDEX idx_secrets_user ON secrets (user_id)",
    "CREATE INDEX idx_secrets_provider ON secrets (provider) WHERE provider IS NOT NULL",
    "CREATE INDEX idx_secrets_expires ON secrets (expires_at) WHERE expires_at IS NOT NULL",
    # wasm_tools
    "CREATE INDEX idx_wasm_tools_user ON wasm_tools (user_id)",
    "CREATE INDEX idx_wasm_tools_name ON wasm_tools (user_id, name)",
    "CREATE INDEX idx_wasm_tools_status ON wasm_tools (status)",
    "CREATE INDEX idx_wasm_tools_trust ON wasm_tools (trust_level)",
    # tool_capabilities
    "CREATE INDEX idx_tool_capabilities_tool ON tool_capabilities (wasm_tool_id)",
    # leak_detection_patterns
    (
        "CREATE INDEX idx_leak_patterns_enabled ON leak_detection_patterns (enabled) "
        "WHERE enabled = true"
    ),
    # tool_rate_limit_state
    "CREATE INDEX idx_rate_limit_tool ON tool_rate_limit_state (wasm_tool_id)",
    "CREATE INDEX idx_rate_limit_user ON tool_rate_limit_state (user_id)",
    # secret_usage_log
    "CREATE INDEX idx_secret_usage_secret ON secret_usage_log (secret_id)",
    "CREATE INDEX idx_secret_usage_tool ON secret_usage_log (wasm_tool_id)",
    "CREATE INDEX idx_secret_usage_user ON secret_usage_log (user_id)",
    "CREATE INDEX idx_secret_usage_created ON secret_usage_log (created_at DESC)",
    # leak_detection_events
    "CREATE INDEX idx_leak_events_pattern ON leak_detection_events (pattern_id)",
    "CREATE INDEX idx_leak_events_tool ON leak_detection_events (wasm_tool_id)",
    "CREATE INDEX idx_leak_events_user ON leak_detection_events (user_id)",
    "CREATE INDEX idx_leak_events_created ON leak_detection_events (created_at DESC)",
    # tool_failures
    "CREATE INDEX idx_tool_failures_name ON tool_failures (tool_name)",
    "CREATE INDEX idx_tool_failures_count ON tool_failures (error_count DESC)",
    (
        "CREATE INDEX idx_tool_failures_unrepaired ON tool_failures (tool_name) "
        "WHERE repaired_at IS NULL"
    ),
    # routines
    (
        "CREATE INDEX idx_routines_next_fire ON routines (next_fire_at) "
        "WHERE enabled AND next_fire_at IS NOT NULL"
    ),
    (
        "CREATE INDEX idx_routines_event_triggers ON routines (user_id) "
        "WHERE enabled AND trigger_type = 'event'"
    ),
    # routine_runs
    "CREATE INDEX idx_routine_runs_routine ON routine_runs (routine_id)",
    "CREATE INDEX idx_routine_runs_status ON routine_runs (status) WHERE status = 'running'",
    # settings
    "CREATE INDEX idx_settings_user ON settings (user_id)",
]

# §2.25 — functions and triggers
_PG_FUNCTIONS: list[str] = [
    """\
CREATE FUNCTION update_updated_at_column() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$fn$""",
    # Immediate children of p_directory among the documents of (p_user_id, p_agent_id):
    # one row per child name, directories flagged, files with a 200-character preview.
    """\
CREATE FUNCTION list_workspace_files(
    p_user_id TEXT,
    p_agent_id UUID,
    p_directory TEXT DEFAULT ''
)
RETURNS TABLE (
    path TEXT,
    is_directory BOOLEAN,
    updated_at TIMESTAMPTZ,
    content_preview TEXT
)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_dir TEXT := COALESCE(p_directory, '');
BEGIN
    IF v_dir <> '' AND right(v_dir, 1) <> '/' THEN
        v_dir := v_dir || '/';
    END IF;

    RETURN QUERY
    WITH docs AS (
        SELECT d.path AS doc_path,
               d.updated_at AS doc_updated_at,
               d.content AS doc_content,
               split_part(substr(d.path, char_length(v_dir) + 1), '/', 1) AS child
          FROM memory_documents AS d
         WHERE d.user_id = p_user_id
           AND d.agent_id IS NOT DISTINCT FROM p_agent_id
           AND left(d.path, char_length(v_dir)) = v_dir
    ),
    grouped AS (
        SELECT docs.child AS child,
               bool_or(left(docs.doc_path, char_length(v_dir || docs.child) + 1)
                       = v_dir || docs.child || '/') AS is_dir,
               max(docs.doc_updated_at) AS last_updated,
               (array_agg(left(docs.doc_content, 200) ORDER BY docs.doc_updated_at DESC)
                   FILTER (WHERE docs.doc_path = v_dir || docs.child))[1] AS preview
          FROM docs
         WHERE docs.child <> ''
         GROUP BY docs.child
    )
    SELECT v_dir || g.child,
           g.is_dir,
           g.last_updated,
           CASE WHEN g.is_dir THEN NULL ELSE g.preview END
      FROM grouped AS g
     ORDER BY g.child;
END;
$fn$""",
]

_PG_TRIGGER_TABLES: tuple[str, ...] = (
    "memory_documents",
    "secrets",
    "wasm_tools",
    "tool_capabilities",
)

_PG_TRIGGERS: list[str] = [
    f"CREATE TRIGGER update_{t}_updated_at BEFORE UPDATE ON {t} "
    "FOR EACH ROW EXECUTE FUNCTION update_updated_at_column()"
    for t in _PG_TRIGGER_TABLES
]

# §2.25 — views
_PG_VIEWS: list[str] = [
    """\
CREATE VIEW memory_documents_summary AS
SELECT d.id,
       d.user_id,
       d.path,
       d.created_at,
       d.updated_at,
       count(c.id) AS chunk_count,
       count(c.embedding) AS embedded_chunk_count
  FROM memory_documents AS d
  LEFT JOIN memory_chunks AS c ON c.document_id = d.id
 GROUP BY d.id""",
    """\
CREATE VIEW chunks_pending_embedding AS
SELECT c.id AS chunk_id,
       c.document_id,
       d.user_id,
       d.path,
       char_length(c.content) AS content_length
  FROM memory_chunks AS c
  JOIN memory_documents AS d ON d.id = c.document_id
 WHERE c.embedding IS NULL""",
    """\
CREATE VIEW wasm_tools_with_capabilities AS
SELECT t.id,
       t.user_id,
       t.name,
       t.version,
       t.description,
       t.trust_level,
       t.status,
       t.created_at,
       t.updated_at,
       c.http_allowlist,
       c.allowed_secrets,
       c.tool_aliases,
       c.requests_per_minute,
       c.requests_per_hour,
       c.workspace_read_prefixes
  FROM wasm_tools AS t
  LEFT JOIN tool_capabilities AS c ON c.wasm_tool_id = t.id""",
    """\
CREATE VIEW active_leak_patterns AS
SELECT id, name, pattern, severity, action
  FROM leak_detection_patterns
 WHERE enabled = true""",
    """\
CREATE VIEW recent_leak_events AS
SELECT e.created_at,
       e.source,
       e.action_taken,
       p.name AS pattern_name,
       p.severity,
       t.name AS tool_name,
       e.user_id
  FROM leak_detection_events AS e
  LEFT JOIN leak_detection_patterns AS p ON p.id = e.pattern_id
  LEFT JOIN wasm_tools AS t ON t.id = e.wasm_tool_id
 WHERE e.created_at > NOW() - INTERVAL '24 hours'
 ORDER BY e.created_at DESC""",
]

#: DDL of the PG baseline, in order (seed rows and refinery rows are added by
#: :func:`pg_upgrade_clauses` with bound parameters).
PG_BASELINE_UP: Final[list[str]] = [
    "CREATE EXTENSION IF NOT EXISTS vector",
    *_PG_TABLES,
    *_PG_INDEXES,
    *_PG_FUNCTIONS,
    *_PG_TRIGGERS,
    *_PG_VIEWS,
    REFINERY_TABLE,
]

# Children before parents.
_TABLES_DROP_ORDER: tuple[str, ...] = (
    "leak_detection_events",
    "secret_usage_log",
    "tool_rate_limit_state",
    "tool_capabilities",
    "leak_detection_patterns",
    "wasm_channels",
    "wasm_tools",
    "secrets",
    "settings",
    "routine_runs",
    "routines",
    "tool_failures",
    "heartbeat_state",
    "memory_chunks",
    "memory_documents",
    "repair_attempts",
    "dynamic_tools",
    "estimation_snapshots",
    "llm_calls",
    "job_events",
    "job_actions",
    "agent_jobs",
    "conversation_messages",
    "conversations",
)

#: Reverse of :data:`PG_BASELINE_UP`; the ``vector`` extension is left installed.
PG_BASELINE_DOWN: Final[list[str]] = [
    "DROP VIEW recent_leak_events",
    "DROP VIEW active_leak_patterns",
    "DROP VIEW wasm_tools_with_capabilities",
    "DROP VIEW chunks_pending_embedding",
    "DROP VIEW memory_documents_summary",
    *[f"DROP TRIGGER update_{t}_updated_at ON {t}" for t in reversed(_PG_TRIGGER_TABLES)],
    "DROP FUNCTION list_workspace_files(TEXT, UUID, TEXT)",
    "DROP FUNCTION update_updated_at_column()",
    *[f"DROP TABLE {t}" for t in _TABLES_DROP_ORDER],
    # Owned by job_events.id, so normally already gone with the table.
    "DROP SEQUENCE IF EXISTS claude_code_events_id_seq",
    "DROP TABLE refinery_schema_history",
]


# ---------------------------------------------------------------------------------------------
# libSQL (consolidated schema + incremental migrations 9, 12, 13)
# ---------------------------------------------------------------------------------------------

#: The LS "now" default expression: canonical 24-char UTC timestamp text (§1.2).
LS_NOW: Final[str] = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
_NOW = f"DEFAULT ({LS_NOW})"

LS_INSERT_LEAK_PATTERN: Final[str] = (
    "INSERT OR IGNORE INTO leak_detection_patterns (id, name, pattern, severity, action) "
    "VALUES (:id, :name, :pattern, :severity, :action)"
)
LS_INSERT_MIGRATION: Final[str] = (
    "INSERT OR IGNORE INTO _migrations (version, name) VALUES (:version, :name)"
)

_LS_TABLES: list[str] = [
    f"""\
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    user_id TEXT NOT NULL,
    thread_id TEXT,
    started_at TEXT NOT NULL {_NOW},
    last_activity TEXT NOT NULL {_NOW},
    metadata TEXT NOT NULL DEFAULT '{{}}'
)""",
    f"""\
CREATE TABLE IF NOT EXISTS conversation_messages (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at TEXT NOT NULL {_NOW}
)""",
    # LS column order: user_id, project_dir, job_mode right after source; the V12 token
    # columns last (added by incremental migration 12).
    f"""\
CREATE TABLE IF NOT EXISTS agent_jobs (
    id TEXT PRIMARY KEY,
    marketplace_job_id TEXT,
    conversation_id TEXT REFERENCES conversations(id),
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    category TEXT,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    user_id TEXT NOT NULL DEFAULT 'default',
    project_dir TEXT,
    job_mode TEXT NOT NULL DEFAULT 'worker',
    budget_amount TEXT,
    budget_token TEXT,
    bid_amount TEXT,
    estimated_cost TEXT,
    estimated_time_secs INTEGER,
    estimated_value TEXT,
    actual_cost TEXT,
    actual_time_secs INTEGER,
    success INTEGER,
    failure_reason TEXT,
    stuck_since TEXT,
    repair_attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL {_NOW},
    started_at TEXT,
    completed_at TEXT,
    max_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens_used INTEGER NOT NULL DEFAULT 0
)""",
    f"""\
CREATE TABLE IF NOT EXISTS job_actions (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES agent_jobs(id) ON DELETE CASCADE,
    sequence_num INTEGER NOT NULL,
    tool_name TEXT NOT NULL,
    input TEXT NOT NULL,
    output_raw TEXT,
    output_sanitized TEXT,
    sanitization_warnings TEXT,
    cost TEXT,
    duration_ms INTEGER,
    success INTEGER NOT NULL,
    error_message TEXT,
    created_at TEXT NOT NULL {_NOW},
    UNIQUE (job_id, sequence_num)
)""",
    f"""\
CREATE TABLE IF NOT EXISTS job_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL REFERENCES agent_jobs(id),
    event_type TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL {_NOW}
)""",
    f"""\
CREATE TABLE IF NOT EXISTS llm_calls (
    id TEXT PRIMARY KEY,
    job_id TEXT REFERENCES agent_jobs(id) ON DELETE CASCADE,
    conversation_id TEXT REFERENCES conversations(id),
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost TEXT NOT NULL,
    purpose TEXT,
    created_at TEXT NOT NULL {_NOW}
)""",
    f"""\
CREATE TABLE IF NOT EXISTS estimation_snapshots (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES agent_jobs(id) ON DELETE CASCADE,
    category TEXT NOT NULL,
    tool_names TEXT NOT NULL DEFAULT '[]',
    estimated_cost TEXT NOT NULL,
    actual_cost TEXT,
    estimated_time_secs INTEGER NOT NULL,
    actual_time_secs INTEGER,
    estimated_value TEXT NOT NULL,
    actual_value TEXT,
    created_at TEXT NOT NULL {_NOW}
)""",
    f"""\
CREATE TABLE IF NOT EXISTS dynamic_tools (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    parameters_schema TEXT NOT NULL,
    code TEXT NOT NULL,
    sandbox_config TEXT NOT NULL,
    created_by_job_id TEXT REFERENCES agent_jobs(id),
    success_count INTEGER NOT NULL DEFAULT 0,
    failure_count INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    status TEXT NOT NULL DEFAULT 'active',
    created_at TEXT NOT NULL {_NOW},
    updated_at TEXT NOT NULL {_NOW}
)""",
    f"""\
CREATE TABLE IF NOT EXISTS repair_attempts (
    id TEXT PRIMARY KEY,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    diagnosis TEXT NOT NULL,
    action_taken TEXT NOT NULL,
    success INTEGER NOT NULL,
    error_message TEXT,
    created_at TEXT NOT NULL {_NOW}
)""",
    f"""\
CREATE TABLE IF NOT EXISTS memory_documents (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    agent_id TEXT,
    path TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at TEXT NOT NULL {_NOW},
    updated_at TEXT NOT NULL {_NOW},
    metadata TEXT NOT NULL DEFAULT '{{}}',
    CONSTRAINT unique_path_per_user UNIQUE (user_id, agent_id, path)
)""",
    # Rebuilt by incremental migration 9 (hence the quoted name, as after the rename):
    # _rowid is the FTS5 content rowid; plain BLOB embedding until ensure_vector_index.
    f"""\
CREATE TABLE IF NOT EXISTS "memory_chunks" (
    _rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    document_id TEXT NOT NULL REFERENCES memory_documents(id) ON DELETE CASCADE,
    chunk_index INTEGER NOT NULL,
    content TEXT NOT NULL,
    embedding BLOB,
    created_at TEXT NOT NULL {_NOW},
    CONSTRAINT unique_chunk_per_doc UNIQUE (document_id, chunk_index)
)""",
    """\
CREATE TABLE IF NOT EXISTS heartbeat_state (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    agent_id TEXT,
    last_run TEXT,
    next_run TEXT,
    interval_seconds INTEGER NOT NULL DEFAULT 1800,
    enabled INTEGER NOT NULL DEFAULT 1,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_checks TEXT NOT NULL DEFAULT '{}',
    CONSTRAINT unique_heartbeat_per_user UNIQUE (user_id, agent_id)
)""",
    f"""\
CREATE TABLE IF NOT EXISTS secrets (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    encrypted_value BLOB NOT NULL,
    key_salt BLOB NOT NULL,
    provider TEXT,
    expires_at TEXT,
    last_used_at TEXT,
    usage_count INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL {_NOW},
    updated_at TEXT NOT NULL {_NOW},
    CONSTRAINT unique_secret_per_user UNIQUE (user_id, name)
)""",
    # LS: wit_version right after version.
    f"""\
CREATE TABLE IF NOT EXISTS wasm_tools (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL DEFAULT '1.0.0',
    wit_version TEXT NOT NULL DEFAULT '0.1.0',
    description TEXT NOT NULL,
    wasm_binary BLOB NOT NULL,
    binary_hash BLOB NOT NULL,
    parameters_schema TEXT NOT NULL,
    source_url TEXT,
    trust_level TEXT NOT NULL DEFAULT 'user',
    status TEXT NOT NULL DEFAULT 'active',
    created_at TEXT NOT NULL {_NOW},
    updated_at TEXT NOT NULL {_NOW},
    CONSTRAINT unique_wasm_tool_version UNIQUE (user_id, name, version)
)""",
    f"""\
CREATE TABLE IF NOT EXISTS tool_capabilities (
    id TEXT PRIMARY KEY,
    wasm_tool_id TEXT NOT NULL REFERENCES wasm_tools(id) ON DELETE CASCADE,
    http_allowlist TEXT NOT NULL DEFAULT '[]',
    allowed_secrets TEXT NOT NULL DEFAULT '[]',
    tool_aliases TEXT NOT NULL DEFAULT '{{}}',
    requests_per_minute INTEGER NOT NULL DEFAULT 60,
    requests_per_hour INTEGER NOT NULL DEFAULT 1000,
    max_request_body_bytes INTEGER NOT NULL DEFAULT 1048576,
    max_response_body_bytes INTEGER NOT NULL DEFAULT 10485760,
    workspace_read_prefixes TEXT NOT NULL DEFAULT '[]',
    http_timeout_secs INTEGER NOT NULL DEFAULT 30,
    created_at TEXT NOT NULL {_NOW},
    updated_at TEXT NOT NULL {_NOW},
    CONSTRAINT unique_capabilities_per_tool UNIQUE (wasm_tool_id)
)""",
    f"""\
CREATE TABLE IF NOT EXISTS leak_detection_patterns (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    pattern TEXT NOT NULL,
    severity TEXT NOT NULL DEFAULT 'high',
    action TEXT NOT NULL DEFAULT 'block',
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL {_NOW}
)""",
    f"""\
CREATE TABLE IF NOT EXISTS tool_rate_limit_state (
    id TEXT PRIMARY KEY,
    wasm_tool_id TEXT NOT NULL REFERENCES wasm_tools(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    minute_window_start TEXT NOT NULL {_NOW},
    minute_count INTEGER NOT NULL DEFAULT 0,
    hour_window_start TEXT NOT NULL {_NOW},
    hour_count INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT unique_rate_limit_per_tool_user UNIQUE (wasm_tool_id, user_id)
)""",
    f"""\
CREATE TABLE IF NOT EXISTS secret_usage_log (
    id TEXT PRIMARY KEY,
    secret_id TEXT NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
    wasm_tool_id TEXT REFERENCES wasm_tools(id) ON DELETE SET NULL,
    user_id TEXT NOT NULL,
    target_host TEXT NOT NULL,
    target_path TEXT,
    success INTEGER NOT NULL,
    error_message TEXT,
    created_at TEXT NOT NULL {_NOW}
)""",
    f"""\
CREATE TABLE IF NOT EXISTS leak_detection_events (
    id TEXT PRIMARY KEY,
    pattern_id TEXT REFERENCES leak_detection_patterns(id) ON DELETE SET NULL,
    wasm_tool_id TEXT REFERENCES wasm_tools(id) ON DELETE SET NULL,
    user_id TEXT NOT NULL,
    source TEXT NOT NULL,
    action_taken TEXT NOT NULL,
    context_preview TEXT,
    created_at TEXT NOT NULL {_NOW}
)""",
    f"""\
CREATE TABLE IF NOT EXISTS tool_failures (
    id TEXT PRIMARY KEY,
    tool_name TEXT NOT NULL UNIQUE,
    error_message TEXT,
    error_count INTEGER DEFAULT 1,
    first_failure TEXT {_NOW},
    last_failure TEXT {_NOW},
    last_build_result TEXT,
    repaired_at TEXT,
    repair_attempts INTEGER DEFAULT 0
)""",
    # Rebuilt by incremental migration 13 (quoted name as after the rename); notify_user is
    # nullable without a default.
    f"""\
CREATE TABLE IF NOT EXISTS "routines" (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    user_id TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    trigger_type TEXT NOT NULL,
    trigger_config TEXT NOT NULL,
    action_type TEXT NOT NULL,
    action_config TEXT NOT NULL,
    cooldown_secs INTEGER NOT NULL DEFAULT 300,
    max_concurrent INTEGER NOT NULL DEFAULT 1,
    dedup_window_secs INTEGER,
    notify_channel TEXT,
    notify_user TEXT,
    notify_on_success INTEGER NOT NULL DEFAULT 0,
    notify_on_failure INTEGER NOT NULL DEFAULT 1,
    notify_on_attention INTEGER NOT NULL DEFAULT 1,
    state TEXT NOT NULL DEFAULT '{{}}',
    last_run_at TEXT,
    next_fire_at TEXT,
    run_count INTEGER NOT NULL DEFAULT 0,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL {_NOW},
    updated_at TEXT NOT NULL {_NOW},
    UNIQUE (user_id, name)
)""",
    f"""\
CREATE TABLE IF NOT EXISTS routine_runs (
    id TEXT PRIMARY KEY,
    routine_id TEXT NOT NULL REFERENCES routines(id) ON DELETE CASCADE,
    trigger_type TEXT NOT NULL,
    trigger_detail TEXT,
    started_at TEXT NOT NULL {_NOW},
    completed_at TEXT,
    status TEXT NOT NULL DEFAULT 'running',
    result_summary TEXT,
    tokens_used INTEGER,
    job_id TEXT REFERENCES agent_jobs(id),
    created_at TEXT NOT NULL {_NOW}
)""",
    f"""\
CREATE TABLE IF NOT EXISTS settings (
    user_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL {_NOW},
    PRIMARY KEY (user_id, key)
)""",
    f"""\
CREATE TABLE IF NOT EXISTS wasm_channels (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL DEFAULT '0.1.0',
    wit_version TEXT NOT NULL DEFAULT '0.1.0',
    description TEXT NOT NULL DEFAULT '',
    wasm_binary BLOB NOT NULL,
    binary_hash BLOB NOT NULL,
    capabilities_json TEXT NOT NULL DEFAULT '{{}}',
    status TEXT NOT NULL DEFAULT 'active',
    created_at TEXT NOT NULL {_NOW},
    updated_at TEXT NOT NULL {_NOW},
    CONSTRAINT unique_wasm_channel UNIQUE (user_id, name)
)""",
    f"""\
CREATE TABLE IF NOT EXISTS _migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL {_NOW}
)""",
]

# 56 plain + 2 unique partial named indexes, LS definitions (∆D9–D20).
_LS_INDEXES: list[str] = [
    # conversations
    "CREATE INDEX IF NOT EXISTS idx_conversations_channel ON conversations(channel)",
    "CREATE INDEX IF NOT EXISTS idx_conversations_user ON conversations(user_id)",
    ("CREATE INDEX IF NOT EXISTS idx_conversations_last_activity ON conversations(last_activity)"),
    (
        "CREATE UNIQUE INDEX IF NOT EXISTS uq_conv_routine "
        "ON conversations(user_id, json_extract(metadata, '$.routine_id')) "
        "WHERE json_extract(metadata, '$.routine_id') IS NOT NULL"
    ),
    (
        "CREATE UNIQUE INDEX IF NOT EXISTS uq_conv_heartbeat ON conversations(user_id) "
        "WHERE json_extract(metadata, '$.thread_type') = 'heartbeat'"
    ),
    # conversation_messages
    (
        "CREATE INDEX IF NOT EXISTS idx_conversation_messages_conversation "
        "ON conversation_messages(conversation_id)"
    ),
    # agent_jobs (idx_agent_jobs_stuck full on LS, ∆D13)
    "CREATE INDEX IF NOT EXISTS idx_agent_jobs_status ON agent_jobs(status)",
    "CREATE INDEX IF NOT EXISTS idx_agent_jobs_marketplace ON agent_jobs(marketplace_job_id)",
    "CREATE INDEX IF NOT EXISTS idx_agent_jobs_conversation ON agent_jobs(conversation_id)",
    "CREATE INDEX IF NOT EXISTS idx_agent_jobs_stuck ON agent_jobs(stuck_since)",
    "CREATE INDEX IF NOT EXISTS idx_agent_jobs_source ON agent_jobs(source)",
    "CREATE INDEX IF NOT EXISTS idx_agent_jobs_user ON agent_jobs(user_id)",
    "CREATE INDEX IF NOT EXISTS idx_agent_jobs_created ON agent_jobs(created_at DESC)",
    # job_actions
    "CREATE INDEX IF NOT EXISTS idx_job_actions_job_id ON job_actions(job_id)",
    "CREATE INDEX IF NOT EXISTS idx_job_actions_tool ON job_actions(tool_name)",
    # job_events
    "CREATE INDEX IF NOT EXISTS idx_job_events_job ON job_events(job_id, id)",
    # llm_calls
    "CREATE INDEX IF NOT EXISTS idx_llm_calls_job ON llm_calls(job_id)",
    "CREATE INDEX IF NOT EXISTS idx_llm_calls_conversation ON llm_calls(conversation_id)",
    "CREATE INDEX IF NOT EXISTS idx_llm_calls_provider ON llm_calls(provider)",
    # estimation_snapshots
    "CREATE INDEX IF NOT EXISTS idx_estimation_category ON estimation_snapshots(category)",
    "CREATE INDEX IF NOT EXISTS idx_estimation_job ON estimation_snapshots(job_id)",
    # dynamic_tools
    "CREATE INDEX IF NOT EXISTS idx_dynamic_tools_status ON dynamic_tools(status)",
    "CREATE INDEX IF NOT EXISTS idx_dynamic_tools_name ON dynamic_tools(name)",
    # repair_attempts
    (
        "CREATE INDEX IF NOT EXISTS idx_repair_attempts_target "
        "ON repair_attempts(target_type, target_id)"
    ),
    "CREATE INDEX IF NOT EXISTS idx_repair_attempts_created ON repair_attempts(created_at)",
    # memory_documents (no path_prefix index on LS, ∆D9)
    "CREATE INDEX IF NOT EXISTS idx_memory_documents_user ON memory_documents(user_id)",
    "CREATE INDEX IF NOT EXISTS idx_memory_documents_path ON memory_documents(user_id, path)",
    (
        "CREATE INDEX IF NOT EXISTS idx_memory_documents_updated "
        "ON memory_documents(updated_at DESC)"
    ),
    # memory_chunks (FTS5 instead of the tsv index; vector index built on demand)
    "CREATE INDEX IF NOT EXISTS idx_memory_chunks_document ON memory_chunks(document_id)",
    # heartbeat_state (idx_heartbeat_next_run full, ∆D20)
    "CREATE INDEX IF NOT EXISTS idx_heartbeat_user ON heartbeat_state(user_id)",
    "CREATE INDEX IF NOT EXISTS idx_heartbeat_next_run ON heartbeat_state(next_run)",
    # secrets (provider / expires full, ∆D14, ∆D15)
    "CREATE INDEX IF NOT EXISTS idx_secrets_user ON secrets(user_id)",
    "CREATE INDEX IF NOT EXISTS idx_secrets_provider ON secrets(provider)",
    "CREATE INDEX IF NOT EXISTS idx_secrets_expires ON secrets(expires_at)",
    # wasm_tools
    "CREATE INDEX IF NOT EXISTS idx_wasm_tools_user ON wasm_tools(user_id)",
    "CREATE INDEX IF NOT EXISTS idx_wasm_tools_name ON wasm_tools(user_id, name)",
    "CREATE INDEX IF NOT EXISTS idx_wasm_tools_status ON wasm_tools(status)",
    "CREATE INDEX IF NOT EXISTS idx_wasm_tools_trust ON wasm_tools(trust_level)",
    # tool_capabilities
    "CREATE INDEX IF NOT EXISTS idx_tool_capabilities_tool ON tool_capabilities(wasm_tool_id)",
    # leak_detection_patterns (full, ∆D16)
    "CREATE INDEX IF NOT EXISTS idx_leak_patterns_enabled ON leak_detection_patterns(enabled)",
    # tool_rate_limit_state (no idx_rate_limit_user on LS, ∆D10)
    "CREATE INDEX IF NOT EXISTS idx_rate_limit_tool ON tool_rate_limit_state(wasm_tool_id)",
    # secret_usage_log
    "CREATE INDEX IF NOT EXISTS idx_secret_usage_secret ON secret_usage_log(secret_id)",
    "CREATE INDEX IF NOT EXISTS idx_secret_usage_tool ON secret_usage_log(wasm_tool_id)",
    "CREATE INDEX IF NOT EXISTS idx_secret_usage_user ON secret_usage_log(user_id)",
    "CREATE INDEX IF NOT EXISTS idx_secret_usage_created ON secret_usage_log(created_at DESC)",
    # leak_detection_events
    "CREATE INDEX IF NOT EXISTS idx_leak_events_pattern ON leak_detection_events(pattern_id)",
    "CREATE INDEX IF NOT EXISTS idx_leak_events_tool ON leak_detection_events(wasm_tool_id)",
    "CREATE INDEX IF NOT EXISTS idx_leak_events_user ON leak_detection_events(user_id)",
    (
        "CREATE INDEX IF NOT EXISTS idx_leak_events_created "
        "ON leak_detection_events(created_at DESC)"
    ),
    # tool_failures (unrepaired full, ∆D17)
    "CREATE INDEX IF NOT EXISTS idx_tool_failures_name ON tool_failures(tool_name)",
    "CREATE INDEX IF NOT EXISTS idx_tool_failures_count ON tool_failures(error_count DESC)",
    "CREATE INDEX IF NOT EXISTS idx_tool_failures_unrepaired ON tool_failures(tool_name)",
    # routines (LS-only idx_routines_user ∆D11, full next_fire ∆D18, event triggers ∆D12)
    "CREATE INDEX IF NOT EXISTS idx_routines_user ON routines(user_id)",
    "CREATE INDEX IF NOT EXISTS idx_routines_next_fire ON routines(next_fire_at)",
    (
        "CREATE INDEX IF NOT EXISTS idx_routines_event_triggers "
        "ON routines(trigger_type, user_id) "
        "WHERE enabled = 1 AND trigger_type IN ('event', 'system_event')"
    ),
    # routine_runs (status full, ∆D19)
    "CREATE INDEX IF NOT EXISTS idx_routine_runs_routine ON routine_runs(routine_id)",
    "CREATE INDEX IF NOT EXISTS idx_routine_runs_status ON routine_runs(status)",
    # settings
    "CREATE INDEX IF NOT EXISTS idx_settings_user ON settings(user_id)",
]

_LS_FTS: list[str] = [
    (
        "CREATE VIRTUAL TABLE IF NOT EXISTS memory_chunks_fts USING fts5("
        "content, content='memory_chunks', content_rowid='_rowid')"
    ),
    """\
CREATE TRIGGER IF NOT EXISTS memory_chunks_fts_insert AFTER INSERT ON memory_chunks
BEGIN
    INSERT INTO memory_chunks_fts(rowid, content) VALUES (new._rowid, new.content);
END""",
    """\
CREATE TRIGGER IF NOT EXISTS memory_chunks_fts_delete AFTER DELETE ON memory_chunks
BEGIN
    INSERT INTO memory_chunks_fts(memory_chunks_fts, rowid, content)
        VALUES ('delete', old._rowid, old.content);
END""",
    """\
CREATE TRIGGER IF NOT EXISTS memory_chunks_fts_update AFTER UPDATE ON memory_chunks
BEGIN
    INSERT INTO memory_chunks_fts(memory_chunks_fts, rowid, content)
        VALUES ('delete', old._rowid, old.content);
    INSERT INTO memory_chunks_fts(rowid, content) VALUES (new._rowid, new.content);
END""",
]

# ∆D22: LS semantics — an explicit new updated_at wins; otherwise stamp NOW.
_LS_TRIGGERS: list[str] = [
    f"""\
CREATE TRIGGER IF NOT EXISTS update_memory_documents_updated_at
AFTER UPDATE ON memory_documents
FOR EACH ROW
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE memory_documents SET updated_at = {LS_NOW} WHERE id = NEW.id;
END""",
]

#: DDL of the LS baseline, in order (seed rows and ``_migrations`` rows are added by
#: :func:`ls_upgrade_clauses` with bound parameters).
LS_BASELINE_UP: Final[list[str]] = [
    *_LS_TABLES,
    *_LS_INDEXES,
    *_LS_FTS,
    *_LS_TRIGGERS,
]


def _ls_index_name(stmt: str) -> str:
    words = stmt.split()
    return words[words.index("EXISTS") + 1]


#: Reverse of :data:`LS_BASELINE_UP`. Also drops the on-demand vector index
#: ``idx_memory_chunks_embedding`` if ``ensure_vector_index`` built one.
LS_BASELINE_DOWN: Final[list[str]] = [
    "DROP TRIGGER IF EXISTS update_memory_documents_updated_at",
    "DROP TRIGGER IF EXISTS memory_chunks_fts_update",
    "DROP TRIGGER IF EXISTS memory_chunks_fts_delete",
    "DROP TRIGGER IF EXISTS memory_chunks_fts_insert",
    "DROP TABLE IF EXISTS memory_chunks_fts",
    "DROP INDEX IF EXISTS idx_memory_chunks_embedding",
    *[f"DROP INDEX IF EXISTS {_ls_index_name(s)}" for s in reversed(_LS_INDEXES)],
    *[f"DROP TABLE IF EXISTS {t}" for t in _TABLES_DROP_ORDER],
    "DROP TABLE IF EXISTS _migrations",
]


# ---------------------------------------------------------------------------------------------
# Ready-to-execute clauses (used by the two baseline revisions)
# ---------------------------------------------------------------------------------------------


def _ddl(stmt: str) -> sa.TextClause:
    clause = sa.text(stmt)
    if clause._bindparams:  # a ':name' in DDL would be read as a bind parameter
        raise AssertionError(f"unexpected bind parameter in DDL: {stmt[:80]!r}")
    return clause


def _seed_clauses(insert_sql: str) -> list[sa.TextClause]:
    return [
        sa.text(insert_sql).bindparams(
            id=pid, name=name, pattern=pattern, severity=severity, action=action
        )
        for pid, name, pattern, severity, action in LEAK_PATTERNS
    ]


def pg_upgrade_clauses(applied_on: str | None = None) -> list[sa.TextClause]:
    """All PG upgrade statements: DDL, the 18 seed rows, refinery rows 1–13."""
    applied_on = applied_on or refinery_applied_on()
    clauses = [_ddl(s) for s in PG_BASELINE_UP]
    clauses += _seed_clauses(PG_INSERT_LEAK_PATTERN)
    clauses += [
        sa.text(PG_INSERT_REFINERY).bindparams(
            version=version, name=name, applied_on=applied_on, checksum=checksum
        )
        for version, name, checksum in REFINERY_HISTORY
    ]
    return clauses


def pg_downgrade_clauses() -> list[sa.TextClause]:
    return [_ddl(s) for s in PG_BASELINE_DOWN]


def ls_upgrade_clauses() -> list[sa.TextClause]:
    """All LS upgrade statements: DDL, the 18 seed rows, ``_migrations`` rows 9, 12, 13."""
    clauses = [_ddl(s) for s in LS_BASELINE_UP]
    clauses += _seed_clauses(LS_INSERT_LEAK_PATTERN)
    clauses += [
        sa.text(LS_INSERT_MIGRATION).bindparams(version=version, name=name)
        for version, name in LS_MIGRATIONS
    ]
    return clauses


def ls_downgrade_clauses() -> list[sa.TextClause]:
    return [_ddl(s) for s in LS_BASELINE_DOWN]
