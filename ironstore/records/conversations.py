"""Record dataclasses and enums of the ConversationStore."""

from __future__ import annotations

__all__: list[str] = []
