"""Record dataclasses and enums of the SettingsStore."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["SettingRow"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingRow:
    """One stored setting; `value is None` means the stored JSON literal null."""

    key: str
    value: Any
    updated_at: datetime
