"""Record dataclasses and enums of the ConversationStore."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "ConversationMessage",
    "ConversationSummary",
    "ThreadType",
]

class ThreadType(enum.StrEnum):
    """The `thread_type` metadata values IronClaw writes (stored spellings)."""

    ASSISTANT = "assistant"
    THREAD = "thread"
    ROUTINE = "routine"
    HEARTBEAT = "heartbeat"


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One row of `list_conversations_with_preview` / `list_conversations_all_channels`.

    `title`: the first 100 characters of the earliest `user` message, else the metadata's
    `routine_name` when it is a string, else None. `message_count`: messages with role `user`.
    `thread_type`: the metadata's `thread_type` when it is a string, else None.
    """

    id: uuid.UUID
    title: str | None
    message_count: int
    started_at: datetime
    last_activity: datetime
    thread_type: str | None
    channel: str


@dataclass(frozen=True, slots=True)
class ConversationMessage:
    """One message of a conversation (its `conversation_id` is not included)."""

    id: uuid.UUID
    role: str
    content: str
    created_at: datetime
