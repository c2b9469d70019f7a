"""Agent sessions and checkpoints (spec: stores-sessions-checkpoints.md).

Not implemented yet: this module holds the Protocol placeholder and the empty repository mixin
that `Database` already composes.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ._base import StoreBase


@runtime_checkable
class SessionStore(Protocol):
    """Agent sessions and checkpoints (spec: stores-sessions-checkpoints.md)."""


class SessionRepository(StoreBase):
    """Repository mixin of `Database` for the SessionStore."""
