"""Record dataclasses and enums of the WorkspaceStore."""

from __future__ import annotations

__all__: list[str] = []
