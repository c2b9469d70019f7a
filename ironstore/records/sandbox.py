"""Record dataclasses and enums of the SandboxStore (spec: stores-conversations-jobs-sandbox.md §5)."""

from __future__ import annotations

import enum
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "TERMINAL_SANDBOX_STATUSES",
    "CredentialGrant",
    "JobEventRecord",
    "JobEventType",
    "SandboxJobMode",
    "SandboxJobRecord",
    "SandboxJobStatus",
    "SandboxJobSummary",
]


class SandboxJobStatus(enum.StrEnum):
    """Sandbox job status, stored verbatim in `agent_jobs.status` (§6.2)."""

    CREATING = "creating"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


TERMINAL_SANDBOX_STATUSES: frozenset[SandboxJobStatus] = frozenset(
    {SandboxJobStatus.COMPLETED, SandboxJobStatus.FAILED, SandboxJobStatus.INTERRUPTED}
)


class SandboxJobMode(enum.StrEnum):
    """`agent_jobs.job_mode` (§6.4)."""

    WORKER = "worker"
    CLAUDE_CODE = "claude_code"


class JobEventType(enum.StrEnum):
    """Event types IronClaw emits (§6.5); `job_events.event_type` is free text."""

    MESSAGE = "message"
    TOOL_USE = "tool_use"
    TOOL_RESULT = "tool_result"
    STATUS = "status"
    RESULT = "result"
    REASONING = "reasoning"


@dataclass(frozen=True, slots=True)
class SandboxJobRecord:
    """A sandbox (container) job; `task` is stored in `title`, the grants JSON in `description`."""

    id: uuid.UUID
    task: str
    status: str
    user_id: str
    project_dir: str
    created_at: datetime
    credential_grants_json: str = "[]"
    success: bool | None = None
    failure_reason: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def credential_grants(self) -> list[CredentialGrant]:
        """`credential_grants_json` parsed (unparsable text gives `[]`, as in IronClaw)."""
        return CredentialGrant.from_json(self.credential_grants_json)


@dataclass(frozen=True, slots=True)
class SandboxJobSummary:
    """Sandbox-job counts per exact status; `total` counts every sandbox row."""

    total: int = 0
    creating: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    interrupted: int = 0


@dataclass(frozen=True, slots=True)
class JobEventRecord:
    """One `job_events` row."""

    id: int
    job_id: uuid.UUID
    event_type: str
    data: Any
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CredentialGrant:
    """One entry of a sandbox job's credential grants (helper; the store keeps the JSON text)."""

    secret_name: str
    env_var: str

    @staticmethod
    def to_json(grants: list[CredentialGrant]) -> str:
        """Serialise grants the way IronClaw stores them."""
        return json.dumps(
            [{"secret_name": g.secret_name, "env_var": g.env_var} for g in grants],
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @staticmethod
    def from_json(text: str) -> list[CredentialGrant]:
        """Parse stored grants; unparsable text means "no grants", as in IronClaw."""
        try:
            raw: Any = json.loads(text)
        except (ValueError, TypeError):
            return []
        if not isinstance(raw, list):
            return []
        out: list[CredentialGrant] = []
        for item in raw:
            if (
                isinstance(item, dict)
                and isinstance(item.get("secret_name"), str)
                and isinstance(item.get("env_var"), str)
            ):
                out.append(CredentialGrant(item["secret_name"], item["env_var"]))
        return out
