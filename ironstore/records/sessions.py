"""Record dataclasses and enums of the SessionStore."""

from __future__ import annotations

__all__: list[str] = []
