"""WASM tools (spec: schema.md §4.6). Not implemented yet: placeholder."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..database import Database


class WasmToolRepository:
    """`db.wasm_tools`: WASM tools (spec: schema.md §4.6)."""

    def __init__(self, db: Database) -> None:
        self._db = db
