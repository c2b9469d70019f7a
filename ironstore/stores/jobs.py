"""Agent jobs, actions, LLM calls, estimations (spec: stores-conversations-jobs-sandbox.md).

Not implemented yet: this module holds the Protocol placeholder and the empty repository mixin
that `Database` already composes.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ._base import StoreBase


@runtime_checkable
class JobStore(Protocol):
    """Agent jobs, actions, LLM calls, estimations (spec: stores-conversations-jobs-sandbox.md)."""


class JobRepository(StoreBase):
    """Repository mixin of `Database` for the JobStore."""
