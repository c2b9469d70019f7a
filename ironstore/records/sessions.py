"""Record dataclasses and enums of the SessionStore (agent sessions and checkpoints).

Results are frozen; requests and queries are mutable but every `with_*` helper returns a new
instance. `CheckpointState` owns the stored JSON form of a checkpoint (`to_json` / `from_json`).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import BackendUnavailableError, CorruptDataError, InvalidInputError, QueryError

__all__ = [
    "BackendInfo",
    "BackendKind",
    "Checkpoint",
    "CheckpointState",
    "CheckpointSummary",
    "CreateCheckpointRequest",
    "CreateSessionRequest",
    "CreateSessionResult",
    "InternalStorageError",
    "InvalidRequestError",
    "ListCheckpointsQuery",
    "ListCheckpointsResult",
    "ListSessionsQuery",
    "ListSessionsResult",
    "Session",
    "SessionStats",
    "SessionStatus",
    "SessionSummary",
    "SessionVisibility",
    "StorageConnectionError",
    "ToolUsageCounts",
    "ToolUsageStats",
    "UpdateSessionRequest",
]

JSONValue = Any

# The spec's error names (stakpak's `StorageError` variants) on ironstore's one hierarchy
# (design §10): NotFound is `NotFoundError`, the root `StorageError` is `DatabaseError`, and
# `StorageError.from_message(text)` builds the Internal variant. `str(err)` is the bare message
# (ironstore's errors carry no "Not found: " style prefix; the class names the variant).
InvalidRequestError = InvalidInputError
InternalStorageError = QueryError
StorageConnectionError = BackendUnavailableError


class SessionVisibility(enum.StrEnum):
    """Who can see a session; stored as `PRIVATE` / `PUBLIC`."""

    PRIVATE = "PRIVATE"
    PUBLIC = "PUBLIC"


class SessionStatus(enum.StrEnum):
    """Lifecycle of a session; stored as `ACTIVE` / `DELETED` (soft delete)."""

    ACTIVE = "ACTIVE"
    DELETED = "DELETED"


class BackendKind(enum.StrEnum):
    """Kind of session-store backend (kebab-case spellings as in the reference)."""

    STAKPAK_API = "stakpak-api"
    LOCAL = "local"
    POSTGRES = "postgres"


# --------------------------------------------------------------------------- state


def _encode_state(messages: object, metadata: object) -> str:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidInputError("checkpoint messages must be a list of JSON objects")
    items: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise InvalidInputError(f"checkpoint message {i} must be a mapping (JSON object)")
        items.append(dict(message))
    obj: dict[str, Any] = {"messages": items}
    if metadata is not None:
        obj["metadata"] = metadata
    try:
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        text.encode("utf-8")  # lone surrogates cannot be stored on either backend
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidInputError(f"checkpoint state is not serialisable as JSON: {exc}") from None
    return text


@dataclass(frozen=True, slots=True)
class CheckpointState:
    """The whole conversation at a checkpoint: ordered message objects plus optional metadata."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    metadata: JSONValue | None = None

    def to_json(self) -> str:
        """Compact JSON `{"messages":[…]}` (+ `"metadata"` when not None); InvalidInputError if unserialisable."""
        return _encode_state(self.messages, self.metadata)

    @classmethod
    def from_json(cls, text: str | None) -> CheckpointState:
        """Decode the stored form; NULL/`{}` → empty state; anything undecodable → CorruptDataError."""
        if text is None:
            return cls()
        try:
            obj = json.loads(text)
        except (TypeError, ValueError, RecursionError):
            raise CorruptDataError("checkpoint state is not valid JSON") from None
        if not isinstance(obj, dict):
            raise CorruptDataError("checkpoint state is not a JSON object")
        messages = obj.get("messages", [])
        if not isinstance(messages, list):
            raise CorruptDataError("checkpoint state 'messages' is not an array")
        if not all(isinstance(m, dict) for m in messages):
            raise CorruptDataError("checkpoint state has a message that is not a JSON object")
        return cls(messages=messages, metadata=obj.get("metadata"))

    @property
    def message_count(self) -> int:
        """Number of messages (of every role)."""
        return len(self.messages)


# --------------------------------------------------------------------------- entities


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """An immutable snapshot of a session's conversation (`updated_at` == `created_at`)."""

    id: uuid.UUID
    session_id: uuid.UUID
    parent_id: uuid.UUID | None
    state: CheckpointState
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CheckpointSummary:
    """A checkpoint without its state (unless listed with `include_state`)."""

    id: uuid.UUID
    session_id: uuid.UUID
    parent_id: uuid.UUID | None
    message_count: int
    created_at: datetime
    updated_at: datetime
    state: CheckpointState | None = None


@dataclass(frozen=True, slots=True)
class Session:
    """A session with its active (most recently created) checkpoint."""

    id: uuid.UUID
    title: str
    visibility: SessionVisibility
    status: SessionStatus
    cwd: str | None
    created_at: datetime
    updated_at: datetime
    active_checkpoint: Checkpoint | None
    deleted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """A listed session: counts and the id of its active checkpoint, no state."""

    id: uuid.UUID
    title: str
    visibility: SessionVisibility
    status: SessionStatus
    cwd: str | None
    created_at: datetime
    updated_at: datetime
    message_count: int
    active_checkpoint_id: uuid.UUID | None
    last_message_at: datetime | None
    deleted_at: datetime | None = None


# --------------------------------------------------------------------------- requests


@dataclass(slots=True)
class CreateSessionRequest:
    """A new session and the state of its first checkpoint."""

    title: str
    visibility: SessionVisibility = SessionVisibility.PRIVATE
    cwd: str | None = None
    initial_state: CheckpointState = field(default_factory=CheckpointState)

    @classmethod
    def new(cls, title: str, messages: list[dict[str, Any]]) -> CreateSessionRequest:
        """PRIVATE, no cwd, the given messages, no metadata."""
        return cls(title=title, initial_state=CheckpointState(messages=list(messages)))

    def with_visibility(self, v: SessionVisibility) -> CreateSessionRequest:
        return dataclasses.replace(self, visibility=v)

    def with_cwd(self, cwd: str) -> CreateSessionRequest:
        return dataclasses.replace(self, cwd=cwd)


@dataclass(slots=True)
class UpdateSessionRequest:
    """Fields to change; None leaves a field unchanged."""

    title: str | None = None
    visibility: SessionVisibility | None = None

    def with_title(self, title: str) -> UpdateSessionRequest:
        return dataclasses.replace(self, title=title)

    def with_visibility(self, v: SessionVisibility) -> UpdateSessionRequest:
        return dataclasses.replace(self, visibility=v)


@dataclass(slots=True)
class CreateCheckpointRequest:
    """A new checkpoint: the full state and optionally the checkpoint it continues from."""

    state: CheckpointState
    parent_id: uuid.UUID | None = None

    @classmethod
    def new(cls, messages: list[dict[str, Any]]) -> CreateCheckpointRequest:
        """No metadata, no parent."""
        return cls(state=CheckpointState(messages=list(messages)))

    def with_parent(self, parent_id: uuid.UUID) -> CreateCheckpointRequest:
        return dataclasses.replace(self, parent_id=parent_id)

    def with_metadata(self, metadata: JSONValue) -> CreateCheckpointRequest:
        return dataclasses.replace(self, state=dataclasses.replace(self.state, metadata=metadata))


# --------------------------------------------------------------------------- queries


@dataclass(slots=True)
class ListSessionsQuery:
    """Filters and page of `list_sessions` (limit default 100, offset default 0)."""

    limit: int | None = None
    offset: int | None = None
    search: str | None = None
    status: SessionStatus | None = None
    visibility: SessionVisibility | None = None
    include_deleted: bool = False

    def with_limit(self, limit: int) -> ListSessionsQuery:
        return dataclasses.replace(self, limit=limit)

    def with_offset(self, offset: int) -> ListSessionsQuery:
        return dataclasses.replace(self, offset=offset)

    def with_search(self, search: str) -> ListSessionsQuery:
        return dataclasses.replace(self, search=search)

    def with_status(self, status: SessionStatus) -> ListSessionsQuery:
        return dataclasses.replace(self, status=status)

    def with_visibility(self, visibility: SessionVisibility) -> ListSessionsQuery:
        return dataclasses.replace(self, visibility=visibility)

    def with_deleted(self, include_deleted: bool = True) -> ListSessionsQuery:
        return dataclasses.replace(self, include_deleted=include_deleted)


@dataclass(slots=True)
class ListCheckpointsQuery:
    """Page of `list_checkpoints` (limit default 100, offset default 0), optionally with states."""

    limit: int | None = None
    offset: int | None = None
    include_state: bool | None = None

    def with_limit(self, limit: int) -> ListCheckpointsQuery:
        return dataclasses.replace(self, limit=limit)

    def with_offset(self, offset: int) -> ListCheckpointsQuery:
        return dataclasses.replace(self, offset=offset)

    def with_state(self) -> ListCheckpointsQuery:
        return dataclasses.replace(self, include_state=True)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class CreateSessionResult:
    """The new session's id and its initial checkpoint (as stored)."""

    session_id: uuid.UUID
    checkpoint: Checkpoint


@dataclass(frozen=True, slots=True)
class ListSessionsResult:
    """One page of sessions and the filtered total (ignoring limit/offset)."""

    sessions: list[SessionSummary]
    total: int | None


@dataclass(frozen=True, slots=True)
class ListCheckpointsResult:
    """One page of a session's checkpoints and their total."""

    checkpoints: list[CheckpointSummary]
    total: int | None


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True, slots=True)
class ToolUsageCounts:
    total: int
    successful: int
    failed: int
    aborted: int


@dataclass(frozen=True, slots=True)
class ToolUsageStats:
    tool_name: str
    display_name: str
    usage_counts: ToolUsageCounts
    time_saved_per_call: float | None
    time_saved_seconds: int | None


@dataclass(frozen=True, slots=True)
class SessionStats:
    """Per-session statistics; all defaults mean "not supported" (the SQL backend's answer)."""

    total_sessions: int = 0
    total_tool_calls: int = 0
    successful_tool_calls: int = 0
    failed_tool_calls: int = 0
    aborted_tool_calls: int = 0
    sessions_with_activity: int = 0
    total_time_saved_seconds: int | None = None
    tools_usage: list[ToolUsageStats] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class BackendInfo:
    """Which backend a session store runs on (passwords hidden)."""

    kind: BackendKind
    profile: str | None = None
    endpoint: str | None = None
    store_path: str | None = None

    def to_dict(self) -> dict[str, str]:
        """Keys with None values omitted; `kind` as its string."""
        out: dict[str, str] = {"kind": str(self.kind)}
        for key in ("profile", "endpoint", "store_path"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out
