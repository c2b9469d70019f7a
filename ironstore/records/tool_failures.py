"""Record dataclasses and enums of the ToolFailureStore."""

from __future__ import annotations

__all__: list[str] = []
