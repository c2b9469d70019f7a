"""Memory documents, chunks and hybrid search (spec: stores-workspace-search.md).

Not implemented yet: this module holds the Protocol placeholder and the empty repository mixin
that `Database` already composes.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ._base import StoreBase


@runtime_checkable
class WorkspaceStore(Protocol):
    """Memory documents, chunks and hybrid search (spec: stores-workspace-search.md)."""


class WorkspaceRepository(StoreBase):
    """Repository mixin of `Database` for the WorkspaceStore."""
