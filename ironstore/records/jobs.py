"""Record dataclasses and enums of the JobStore."""

from __future__ import annotations

__all__: list[str] = []
