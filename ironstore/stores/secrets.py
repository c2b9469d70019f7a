"""Encrypted secrets (spec: schema.md §4). Not implemented yet: placeholder."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..database import Database


@runtime_checkable
class SecretsStore(Protocol):
    """Encrypted secrets (spec: schema.md §4)."""


class SecretsRepository:
    """`db.secrets`: the secrets store bound to one database."""

    def __init__(self, db: Database) -> None:
        self._db = db
