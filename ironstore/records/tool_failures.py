"""Record dataclasses and enums of the ToolFailureStore."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["BrokenTool"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokenTool:
    """A tool whose failures since its last repair reached the threshold."""

    name: str
    failure_count: int
    last_error: str | None
    first_failure: datetime
    last_failure: datetime
    last_build_result: Any
    repair_attempts: int
