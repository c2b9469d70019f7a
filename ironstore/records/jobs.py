"""Record dataclasses and enums of the JobStore (spec: stores-conversations-jobs-sandbox.md §5)."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

__all__ = [
    "TERMINAL_JOB_STATES",
    "ActionRecord",
    "AgentJobRecord",
    "AgentJobSummary",
    "JobContext",
    "JobSource",
    "JobState",
    "LlmCallRecord",
]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class JobState(enum.StrEnum):
    """Direct job status, stored verbatim in `agent_jobs.status` (§6.1)."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    FAILED = "failed"
    STUCK = "stuck"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """`accepted`, `failed` and `cancelled` are final."""
        return self in TERMINAL_JOB_STATES


TERMINAL_JOB_STATES: frozenset[JobState] = frozenset(
    {JobState.ACCEPTED, JobState.FAILED, JobState.CANCELLED}
)


class JobSource(enum.StrEnum):
    """`agent_jobs.source` (§6.3)."""

    DIRECT = "direct"
    SANDBOX = "sandbox"


@dataclass(frozen=True, slots=True)
class JobContext:
    """The persisted projection of IronClaw's `JobContext` (argument of save_job, result of get_job)."""

    job_id: uuid.UUID
    user_id: str
    title: str
    description: str
    state: JobState = JobState.PENDING
    conversation_id: uuid.UUID | None = None
    category: str | None = None
    budget: Decimal | None = None
    budget_token: str | None = None
    bid_amount: Decimal | None = None
    estimated_cost: Decimal | None = None
    estimated_duration: timedelta | None = None
    actual_cost: Decimal = Decimal(0)
    total_tokens_used: int = 0
    max_tokens: int = 0
    created_at: datetime = field(default_factory=_utc_now)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    repair_attempts: int = 0
    # not persisted; get_job() fills these defaults
    requester_id: str | None = None
    metadata: Any = None
    user_timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One tool action of a job (`job_actions` row)."""

    id: uuid.UUID
    sequence: int
    tool_name: str
    input: Any
    output_raw: str | None = None
    output_sanitized: Any = None
    sanitization_warnings: list[str] = field(default_factory=list)
    cost: Decimal | None = None
    duration: timedelta = timedelta(0)
    success: bool = False
    error: str | None = None
    executed_at: datetime = field(default_factory=_utc_now)


@dataclass(frozen=True, slots=True)
class AgentJobRecord:
    """A direct job as listed by list_agent_jobs*; `status` is the raw stored string."""

    id: uuid.UUID
    title: str
    status: str
    user_id: str
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    failure_reason: str | None


@dataclass(frozen=True, slots=True)
class AgentJobSummary:
    """Direct-job counts per bucket; `total` also counts statuses in no bucket."""

    total: int = 0
    pending: int = 0
    in_progress: int = 0
    completed: int = 0
    failed: int = 0
    stuck: int = 0


@dataclass(frozen=True, slots=True)
class LlmCallRecord:
    """One LLM call to record (`llm_calls` row); id and created_at are generated."""

    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cost: Decimal
    job_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    purpose: str | None = None
