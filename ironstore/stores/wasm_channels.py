"""WASM channels (spec: schema.md §4.7), `db.wasm_channels`.

One row per (user_id, name); `store` replaces it. `capabilities_json` is JSON *text* on both
backends (as in IronClaw); `store` checks that it parses. `binary_hash` is BLAKE3 (32 bytes),
verified on `get_with_binary`.
"""

from __future__ import annotations

import builtins
import json
import uuid
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy import delete, select
from sqlalchemy.engine import Row

from ..errors import InvalidInputError, NotFoundError
from ..records.secrets import StoreChannelParams, StoredWasmChannel, StoredWasmChannelWithBinary
from ..schema import wasm_channels
from ..sql import byte_order
from ..types import check_text
from .wasm_tools import binary_hash, check_binary, verify_binary

if TYPE_CHECKING:
    from ..database import Database

__all__ = ["WasmChannelRepository", "WasmChannelStore"]


@runtime_checkable
class WasmChannelStore(Protocol):
    """WASM channels (spec: schema.md §4.7)."""

    async def store(self, params: StoreChannelParams) -> StoredWasmChannel:
        """Replace (user, name) with a new active channel."""
        ...

    async def get(self, user_id: str, name: str) -> StoredWasmChannel:
        """Metadata of a channel (any status); NotFoundError if absent."""
        ...

    async def get_with_binary(self, user_id: str, name: str) -> StoredWasmChannelWithBinary:
        """Channel with its BLAKE3-verified binary."""
        ...

    async def list(self, user_id: str) -> builtins.list[StoredWasmChannel]:
        """All the user's channels ordered by name."""
        ...

    async def delete(self, user_id: str, name: str) -> bool:
        """Delete (user, name); returns whether it existed."""
        ...


_META = [c for c in wasm_channels.c if c.name not in ("wasm_binary", "binary_hash")]


def _channel(row: Row[Any]) -> StoredWasmChannel:
    m = row._mapping
    return StoredWasmChannel(
        id=m["id"],
        user_id=m["user_id"],
        name=m["name"],
        version=m["version"],
        wit_version=m["wit_version"],
        description=m["description"],
        capabilities_json=m["capabilities_json"],
        status=m["status"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


class WasmChannelRepository:
    """`db.wasm_channels`: WASM channels (spec: schema.md §4.7)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def store(self, params: StoreChannelParams) -> StoredWasmChannel:
        """Replace (user_id, name) by a new channel (new id, BLAKE3 hash, status active,
        timestamps now) in one statement. Raises InvalidInputError (bad arguments,
        capabilities_json not JSON). Idempotent in effect (replaces)."""
        if not isinstance(params, StoreChannelParams):
            raise InvalidInputError("params must be a StoreChannelParams")
        user_id = check_text(params.user_id, "user_id")
        name = check_text(params.name, "name")
        if not name:
            raise InvalidInputError("channel name must not be empty")
        version = check_text(params.version, "version")
        wit_version = check_text(params.wit_version, "wit_version")
        description = check_text(params.description, "description")
        caps = check_text(params.capabilities_json, "capabilities_json")
        try:
            json.loads(caps)
        except ValueError:
            raise InvalidInputError("capabilities_json is not valid JSON text") from None
        binary = check_binary(params.wasm_binary)
        now = self._db._now()
        channel_id = uuid.uuid4()
        stmt = self._db._insert(wasm_channels).values(
            id=channel_id,
            user_id=user_id,
            name=name,
            version=version,
            wit_version=wit_version,
            description=description,
            wasm_binary=binary,
            binary_hash=binary_hash(binary),
            capabilities_json=caps,
            status="active",
            created_at=now,
            updated_at=now,
        )
        # Replace = upsert of every column including a new id (nothing references
        # wasm_channels), so concurrent stores of one name never fail on the unique key.
        stmt = stmt.on_conflict_do_update(
            index_elements=[wasm_channels.c.user_id, wasm_channels.c.name],
            set_={
                c.name: stmt.excluded[c.name]
                for c in wasm_channels.c
                if c.name not in ("user_id", "name")
            },
        )
        async with self._db._write() as conn:
            await conn.execute(stmt)
            row = (await conn.execute(select(*_META).where(wasm_channels.c.id == channel_id))).one()
        return _channel(row)

    async def get(self, user_id: str, name: str) -> StoredWasmChannel:
        """Metadata incl. capabilities_json, any status. Raises NotFoundError. Read-only."""
        check_text(user_id, "user_id")
        check_text(name, "name")
        async with self._db._read() as conn:
            row = (
                await conn.execute(
                    select(*_META).where(
                        wasm_channels.c.user_id == user_id, wasm_channels.c.name == name
                    )
                )
            ).first()
        if row is None:
            raise NotFoundError(f"WASM channel {name!r} not found")
        return _channel(row)

    async def get_with_binary(self, user_id: str, name: str) -> StoredWasmChannelWithBinary:
        """Metadata plus binary and hash after BLAKE3 verification. Raises NotFoundError,
        WasmIntegrityError (a CorruptDataError). Read-only."""
        check_text(user_id, "user_id")
        check_text(name, "name")
        async with self._db._read() as conn:
            row = (
                await conn.execute(
                    select(wasm_channels).where(
                        wasm_channels.c.user_id == user_id, wasm_channels.c.name == name
                    )
                )
            ).first()
        if row is None:
            raise NotFoundError(f"WASM channel {name!r} not found")
        binary, digest = row.wasm_binary, row.binary_hash
        verify_binary(binary, digest, f"WASM channel {name!r}")
        return StoredWasmChannelWithBinary(
            channel=_channel(row), wasm_binary=binary, binary_hash=digest
        )

    async def list(self, user_id: str) -> builtins.list[StoredWasmChannel]:
        """All the user's channels, byte-wise by name. Read-only.

        Same order on both backends. Raises InvalidInputError for a non-str / NUL-containing
        user_id.
        """
        check_text(user_id, "user_id")
        async with self._db._read() as conn:
            rows = (
                await conn.execute(
                    select(*_META)
                    .where(wasm_channels.c.user_id == user_id)
                    .order_by(byte_order(wasm_channels.c.name))
                )
            ).all()
        return [_channel(r) for r in rows]

    async def delete(self, user_id: str, name: str) -> bool:
        """Delete (user, name); returns whether a row was removed. Idempotent.

        Same on both backends (name is case-sensitive). Raises InvalidInputError for non-str /
        NUL-containing arguments.
        """
        check_text(user_id, "user_id")
        check_text(name, "name")
        async with self._db._write() as conn:
            found = await conn.scalar(
                select(wasm_channels.c.id).where(
                    wasm_channels.c.user_id == user_id, wasm_channels.c.name == name
                )
            )
            if found is None:
                return False
            await conn.execute(delete(wasm_channels).where(wasm_channels.c.id == found))
        return True
