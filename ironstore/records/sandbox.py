"""Record dataclasses and enums of the SandboxStore."""

from __future__ import annotations

__all__: list[str] = []
