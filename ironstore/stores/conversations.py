"""Conversations and messages (spec: stores-conversations-jobs-sandbox.md).

Not implemented yet: this module holds the Protocol placeholder and the empty repository mixin
that `Database` already composes.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ._base import StoreBase


@runtime_checkable
class ConversationStore(Protocol):
    """Conversations and messages (spec: stores-conversations-jobs-sandbox.md)."""


class ConversationRepository(StoreBase):
    """Repository mixin of `Database` for the ConversationStore."""
