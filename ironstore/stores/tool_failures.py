"""Broken-tool tracking (spec: stores-routines-toolfailures-settings.md).

Not implemented yet: this module holds the Protocol placeholder and the empty repository mixin
that `Database` already composes.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ._base import StoreBase


@runtime_checkable
class ToolFailureStore(Protocol):
    """Broken-tool tracking (spec: stores-routines-toolfailures-settings.md)."""


class ToolFailureRepository(StoreBase):
    """Repository mixin of `Database` for the ToolFailureStore."""
