"""WASM channels (spec: schema.md §4.7). Not implemented yet: placeholder."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..database import Database


class WasmChannelRepository:
    """`db.wasm_channels`: WASM channels (spec: schema.md §4.7)."""

    def __init__(self, db: Database) -> None:
        self._db = db
