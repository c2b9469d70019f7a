"""Record dataclasses and enums of the SettingsStore."""

from __future__ import annotations

__all__: list[str] = []
