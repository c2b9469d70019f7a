"""Record dataclasses and enums of the RoutineStore.

A routine's trigger and action are tagged unions stored as `<type tag>` + JSON config columns.
Writing produces the exact key sets IronClaw writes; reading is lenient in the same ways as
IronClaw (missing optional keys, legacy extra keys, clamped tool rounds), but a missing
required key or an unknown tag raises `CorruptDataError`.
"""

from __future__ import annotations

import enum
import json
import logging
import uuid
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final, TypeAlias

from ..errors import ConflictError, CorruptDataError

__all__ = [
    "DEFAULT_MAX_ITERATIONS",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MAX_TOOL_ROUNDS",
    "MAX_TOOL_ROUNDS_LIMIT",
    "UNCHANGED",
    "CronTrigger",
    "DuplicateRoutineNameError",
    "DuplicateWebhookPathError",
    "EventTrigger",
    "FullJobAction",
    "JSONValue",
    "LightweightAction",
    "ManualTrigger",
    "NotifyConfig",
    "Routine",
    "RoutineAction",
    "RoutineGuardrails",
    "RoutineRun",
    "RunStatus",
    "SystemEventTrigger",
    "Trigger",
    "Unchanged",
    "WebhookTrigger",
    "action_from_db",
    "normalize_notify_user",
    "trigger_from_db",
]

log = logging.getLogger("ironstore.routines")

JSONValue: TypeAlias = dict[str, Any] | list[Any] | str | int | float | bool | None

DEFAULT_MAX_TOKENS: Final = 4096
DEFAULT_MAX_TOOL_ROUNDS: Final = 3
MAX_TOOL_ROUNDS_LIMIT: Final = 20
DEFAULT_MAX_ITERATIONS: Final = 10
_U32_MAX: Final = 2**32 - 1


class RunStatus(enum.StrEnum):
    """Status of a routine run; `running` is the only non-terminal one."""

    RUNNING = "running"
    OK = "ok"
    ATTENTION = "attention"
    FAILED = "failed"


class Unchanged(enum.Enum):
    """Type of the `UNCHANGED` sentinel ("do not write this field")."""

    UNCHANGED = "UNCHANGED"

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = Unchanged.UNCHANGED


class DuplicateRoutineNameError(ConflictError):
    """The user already has a routine with this name (`UNIQUE (user_id, name)`)."""

    def __init__(self, user_id: str, name: str) -> None:
        super().__init__(f"user {user_id!r} already has a routine named {name!r}")
        self.user_id = user_id
        self.name = name


class DuplicateWebhookPathError(ConflictError):
    """Another enabled webhook routine already answers this path (`uq_routines_webhook_path`).

    Paths are global (webhook lookup searches every user), so the other routine may belong to
    another user; its id is not revealed.
    """

    def __init__(self, path: str) -> None:
        super().__init__(f"another enabled webhook routine already uses the path {path!r}")
        self.path = path


# --------------------------------------------------------------------------- triggers


@dataclass(frozen=True, slots=True, kw_only=True)
class CronTrigger:
    """Fires on a cron schedule (5, 6 or 7 fields), evaluated in `timezone` (None = UTC)."""

    TYPE_TAG: ClassVar[str] = "cron"
    schedule: str
    timezone: str | None = None

    def to_config(self) -> dict[str, Any]:
        return {"schedule": self.schedule, "timezone": self.timezone}


@dataclass(frozen=True, slots=True, kw_only=True)
class EventTrigger:
    """Fires when a channel message matches the regex `pattern` (optionally on one channel)."""

    TYPE_TAG: ClassVar[str] = "event"
    pattern: str
    channel: str | None = None

    def to_config(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "channel": self.channel}


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemEventTrigger:
    """Fires on a structured system event whose top-level payload fields equal `filters`."""

    TYPE_TAG: ClassVar[str] = "system_event"
    source: str
    event_type: str
    filters: dict[str, str] = field(default_factory=dict)

    def to_config(self) -> dict[str, Any]:
        return {"source": self.source, "event_type": self.event_type, "filters": dict(self.filters)}


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookTrigger:
    """Fires on `POST /api/webhooks/{path}` (path None = the routine id); `secret` is hidden from repr."""

    TYPE_TAG: ClassVar[str] = "webhook"
    path: str | None = None
    secret: str | None = field(default=None, repr=False)

    def to_config(self) -> dict[str, Any]:
        return {"path": self.path, "secret": self.secret}


@dataclass(frozen=True, slots=True, kw_only=True)
class ManualTrigger:
    """Fires only when started by hand."""

    TYPE_TAG: ClassVar[str] = "manual"

    def to_config(self) -> dict[str, Any]:
        return {}


Trigger: TypeAlias = CronTrigger | EventTrigger | SystemEventTrigger | WebhookTrigger | ManualTrigger
_TRIGGER_TYPES: Final = (CronTrigger, EventTrigger, SystemEventTrigger, WebhookTrigger, ManualTrigger)


def _valid_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _filter_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return None


def trigger_from_db(trigger_type: str, config: JSONValue) -> Trigger:
    """Decode a stored trigger leniently; unknown tags or missing required keys raise CorruptDataError."""
    cfg: dict[str, Any] = config if isinstance(config, dict) else {}
    if trigger_type == "cron":
        schedule = cfg.get("schedule")
        if not isinstance(schedule, str):
            raise CorruptDataError("missing field `schedule` in cron trigger")
        tz = cfg.get("timezone")
        if isinstance(tz, str) and not _valid_zone(tz):
            log.warning("cron trigger has an invalid timezone %r; using UTC", tz)
            tz = None
        return CronTrigger(schedule=schedule, timezone=tz if isinstance(tz, str) else None)
    if trigger_type == "event":
        pattern = cfg.get("pattern")
        if not isinstance(pattern, str):
            raise CorruptDataError("missing field `pattern` in event trigger")
        channel = cfg.get("channel")
        return EventTrigger(pattern=pattern, channel=channel if isinstance(channel, str) else None)
    if trigger_type == "system_event":
        source, event_type = cfg.get("source"), cfg.get("event_type")
        if not isinstance(source, str) or not isinstance(event_type, str):
            raise CorruptDataError("missing field `source` or `event_type` in system_event trigger")
        raw = cfg.get("filters")
        filters: dict[str, str] = {}
        if isinstance(raw, dict):
            for k, v in raw.items():
                text = _filter_text(v)
                if text is not None:
                    filters[str(k)] = text
        return SystemEventTrigger(source=source, event_type=event_type, filters=filters)
    if trigger_type == "webhook":
        path, secret = cfg.get("path"), cfg.get("secret")
        return WebhookTrigger(
            path=path if isinstance(path, str) else None,
            secret=secret if isinstance(secret, str) else None,
        )
    if trigger_type == "manual":
        return ManualTrigger()
    raise CorruptDataError(f"unknown trigger type `{trigger_type}`")


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True, kw_only=True)
class LightweightAction:
    """One LLM call, optionally with a short loop of tool calls."""

    TYPE_TAG: ClassVar[str] = "lightweight"
    prompt: str
    context_paths: list[str] = field(default_factory=list)
    max_tokens: int = DEFAULT_MAX_TOKENS
    use_tools: bool = False
    max_tool_rounds: int = DEFAULT_MAX_TOOL_ROUNDS

    def to_config(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "context_paths": list(self.context_paths),
            "max_tokens": self.max_tokens,
            "use_tools": self.use_tools,
            "max_tool_rounds": self.max_tool_rounds,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class FullJobAction:
    """Dispatch a multi-turn worker job."""

    TYPE_TAG: ClassVar[str] = "full_job"
    title: str
    description: str
    max_iterations: int = DEFAULT_MAX_ITERATIONS

    def to_config(self) -> dict[str, Any]:
        return {"title": self.title, "description": self.description, "max_iterations": self.max_iterations}


RoutineAction: TypeAlias = LightweightAction | FullJobAction
_ACTION_TYPES: Final = (LightweightAction, FullJobAction)


def _json_uint(value: object, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _U32_MAX:
        return value
    return default


def action_from_db(action_type: str, config: JSONValue) -> RoutineAction:
    """Decode a stored action leniently; unknown tags or missing required keys raise CorruptDataError."""
    cfg: dict[str, Any] = config if isinstance(config, dict) else {}
    if action_type == "lightweight":
        prompt = cfg.get("prompt")
        if not isinstance(prompt, str):
            raise CorruptDataError("missing field `prompt` in lightweight action")
        paths = cfg.get("context_paths")
        rounds = _json_uint(cfg.get("max_tool_rounds"), DEFAULT_MAX_TOOL_ROUNDS)
        use_tools = cfg.get("use_tools")
        return LightweightAction(
            prompt=prompt,
            context_paths=[p for p in paths if isinstance(p, str)] if isinstance(paths, list) else [],
            max_tokens=_json_uint(cfg.get("max_tokens"), DEFAULT_MAX_TOKENS),
            use_tools=use_tools if isinstance(use_tools, bool) else False,
            max_tool_rounds=min(max(rounds, 1), MAX_TOOL_ROUNDS_LIMIT),
        )
    if action_type == "full_job":
        title, description = cfg.get("title"), cfg.get("description")
        if not isinstance(title, str) or not isinstance(description, str):
            raise CorruptDataError("missing field `title` or `description` in full_job action")
        return FullJobAction(
            title=title,
            description=description,
            max_iterations=_json_uint(cfg.get("max_iterations"), DEFAULT_MAX_ITERATIONS),
        )
    raise CorruptDataError(f"unknown action type `{action_type}`")


# --------------------------------------------------------------------------- routine


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutineGuardrails:
    """Cooldown between automatic fires, concurrency cap, optional event dedup window."""

    cooldown: timedelta = timedelta(seconds=300)
    max_concurrent: int = 1
    dedup_window: timedelta | None = None


def normalize_notify_user(value: str | None) -> str | None:
    """Strip; `""` and the legacy sentinel `"default"` mean None (resolve the owner at send time)."""
    if value is None:
        return None
    stripped = value.strip()
    return None if stripped in ("", "default") else stripped


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifyConfig:
    """Where and when to notify about finished runs."""

    channel: str | None = None
    user: str | None = None
    on_attention: bool = True
    on_failure: bool = True
    on_success: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Routine:
    """A routine: trigger + action + guardrails + notification settings + runtime state."""

    id: uuid.UUID
    name: str
    description: str = ""
    user_id: str
    enabled: bool = True
    trigger: Trigger
    action: RoutineAction
    guardrails: RoutineGuardrails = field(default_factory=RoutineGuardrails)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    last_run_at: datetime | None = None
    next_fire_at: datetime | None = None
    run_count: int = 0
    consecutive_failures: int = 0
    state: JSONValue = field(default_factory=dict)
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutineRun:
    """One execution of a routine."""

    id: uuid.UUID
    routine_id: uuid.UUID
    trigger_type: str
    trigger_detail: str | None = None
    started_at: datetime
    completed_at: datetime | None = None
    status: RunStatus = RunStatus.RUNNING
    result_summary: str | None = None
    tokens_used: int | None = None
    job_id: uuid.UUID | None = None
    created_at: datetime

