"""Record dataclasses and enums of the RoutineStore."""

from __future__ import annotations

__all__: list[str] = []
