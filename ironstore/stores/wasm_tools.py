"""WASM tools (spec: schema.md §4.6), `db.wasm_tools`.

One row per (user_id, name), as in IronClaw: `store` replaces every earlier version (deleting
cascades to `tool_capabilities` / `tool_rate_limit_state` and nulls audit references).
`binary_hash` is the 32-byte BLAKE3 digest of `wasm_binary`, verified on `get_with_binary`.
`tool_capabilities` is read-only here (IronClaw never writes it either).
"""

from __future__ import annotations

import builtins
import enum
import json
import uuid
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from blake3 import blake3
from sqlalchemy import cast, delete, select, update
from sqlalchemy.engine import Row
from sqlalchemy.types import Text

from ..errors import CorruptDataError, InvalidInputError, NotFoundError
from ..records.secrets import (
    EndpointPattern,
    StoredWasmTool,
    StoredWasmToolWithBinary,
    StoreToolParams,
    ToolCapabilities,
    WasmToolStatus,
    WasmTrustLevel,
)
from ..schema import tool_capabilities, wasm_tools
from ..sql import byte_order
from ..types import check_text, coerce_uuid, dumps_json
from .secrets_errors import WasmIntegrityError

if TYPE_CHECKING:
    from ..database import Database

__all__ = ["WasmToolRepository", "WasmToolStore", "binary_hash"]

E = TypeVar("E", bound=enum.StrEnum)

# Version under which `store` first inserts its row (never visible outside the transaction).
_PENDING_VERSION = "\u0001ironstore-store-pending"


def binary_hash(data: bytes) -> bytes:
    """BLAKE3 digest (32 raw bytes) of a WASM binary."""
    return blake3(data).digest()


def check_binary(value: object, what: str = "wasm_binary") -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise InvalidInputError(f"{what} must be bytes, got {type(value).__name__}")
    return bytes(value)


def parse_enum(kind: type[E], value: object, what: str) -> E:
    """Input enum value (case-insensitive text or member); InvalidInputError otherwise."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind(value.lower())
        except ValueError:
            pass
    raise InvalidInputError(f"unknown {what} {value!r:.60}")


def _stored_enum(kind: type[E], value: str, what: str) -> E:
    try:
        return kind(value.lower())
    except ValueError:
        raise CorruptDataError(f"stored {what} {value!r:.60} is not valid") from None


def verify_binary(binary: bytes, stored_hash: bytes, what: str) -> None:
    if binary_hash(binary) != stored_hash:
        raise WasmIntegrityError(f"{what}: BLAKE3 hash of the stored binary does not match")


@runtime_checkable
class WasmToolStore(Protocol):
    """WASM tools (spec: schema.md §4.6)."""

    async def store(self, params: StoreToolParams) -> StoredWasmTool:
        """Replace every version of (user, name) with a new active tool."""
        ...

    async def get(self, user_id: str, name: str) -> StoredWasmTool:
        """Metadata of the active tool; NotFoundError otherwise."""
        ...

    async def get_with_binary(self, user_id: str, name: str) -> StoredWasmToolWithBinary:
        """Active tool with its BLAKE3-verified binary."""
        ...

    async def get_capabilities(self, tool_id: uuid.UUID | str) -> ToolCapabilities | None:
        """The tool's capabilities row, or None."""
        ...

    async def list(self, user_id: str) -> builtins.list[StoredWasmTool]:
        """All the user's tools (any status) ordered by name."""
        ...

    async def update_status(self, user_id: str, name: str, status: WasmToolStatus | str) -> None:
        """Set the status of (user, name); NotFoundError if absent."""
        ...

    async def delete(self, user_id: str, name: str) -> bool:
        """Delete every row of (user, name); returns whether any existed."""
        ...


_META = [c for c in wasm_tools.c if c.name not in ("wasm_binary", "binary_hash")]


def _tool(row: Row[Any]) -> StoredWasmTool:
    m = row._mapping
    return StoredWasmTool(
        id=m["id"],
        user_id=m["user_id"],
        name=m["name"],
        version=m["version"],
        wit_version=m["wit_version"],
        description=m["description"],
        parameters_schema=m["parameters_schema"],
        source_url=m["source_url"] or None,
        trust_level=_stored_enum(WasmTrustLevel, m["trust_level"], "trust_level"),
        status=_stored_enum(WasmToolStatus, m["status"], "status"),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def _lenient_json(text: Any, default: Any) -> Any:
    if isinstance(text, (dict, list)):
        return text
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return default


def _allowlist(raw: Any) -> tuple[EndpointPattern, ...]:
    value = _lenient_json(raw, [])
    out: list[EndpointPattern] = []
    if not isinstance(value, list):
        return ()
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("host"), str):
            continue
        prefix = entry.get("path_prefix")
        methods = entry.get("methods") or []
        out.append(
            EndpointPattern(
                host=entry["host"],
                path_prefix=prefix if isinstance(prefix, str) else None,
                methods=tuple(m for m in methods if isinstance(m, str))
                if isinstance(methods, list)
                else (),
            )
        )
    return tuple(out)


def _aliases(raw: Any) -> dict[str, str]:
    value = _lenient_json(raw, {})
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(v, str)}


class WasmToolRepository:
    """`db.wasm_tools`: WASM tools (spec: schema.md §4.6)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def store(self, params: StoreToolParams) -> StoredWasmTool:
        """In one transaction delete every row of (user_id, name) and insert the new tool
        (new id, BLAKE3 hash, status active, timestamps now). Raises InvalidInputError.
        Idempotent in effect (replaces)."""
        if not isinstance(params, StoreToolParams):
            raise InvalidInputError("params must be a StoreToolParams")
        user_id = check_text(params.user_id, "user_id")
        name = check_text(params.name, "name")
        if not name:
            raise InvalidInputError("tool name must not be empty")
        version = check_text(params.version, "version")
        if version == _PENDING_VERSION:
            raise InvalidInputError("reserved version text")
        wit_version = check_text(params.wit_version, "wit_version")
        description = check_text(params.description, "description")
        source_url = (
            None if params.source_url is None else check_text(params.source_url, "source_url")
        )
        trust = parse_enum(WasmTrustLevel, params.trust_level, "trust_level")
        binary = check_binary(params.wasm_binary)
        dumps_json(params.parameters_schema)  # validates (JSON-serialisable, no NUL)
        now = self._db._now()
        tool_id = uuid.uuid4()
        lock_id = uuid.uuid4()
        values: dict[str, Any] = {
            "user_id": user_id,
            "name": name,
            "wit_version": wit_version,
            "description": description,
            "parameters_schema": params.parameters_schema,
            "source_url": source_url,
            "trust_level": trust.value,
            "status": WasmToolStatus.ACTIVE.value,
            "created_at": now,
            "updated_at": now,
        }
        # Concurrency (PostgreSQL; libSQL writers are serialised anyway): a placeholder row with
        # a reserved version is inserted first and removed before commit, so a concurrent
        # `store` of the same (user, name) waits on the unique index until this transaction
        # commits and then replaces our row: exactly one row per name survives. (No UPDATE is
        # used, so IronClaw's PG updated_at trigger does not override the injected clock.)
        async with self._db._write() as conn:
            await conn.execute(
                wasm_tools.insert().values(
                    id=lock_id, version=_PENDING_VERSION, wasm_binary=b"", binary_hash=b"", **values
                )
            )
            await conn.execute(
                delete(wasm_tools).where(
                    wasm_tools.c.user_id == user_id,
                    wasm_tools.c.name == name,
                    wasm_tools.c.id != lock_id,
                )
            )
            await conn.execute(
                wasm_tools.insert().values(
                    id=tool_id,
                    version=version,
                    wasm_binary=binary,
                    binary_hash=binary_hash(binary),
                    **values,
                )
            )
            await conn.execute(delete(wasm_tools).where(wasm_tools.c.id == lock_id))
            row = (await conn.execute(select(*_META).where(wasm_tools.c.id == tool_id))).one()
        return _tool(row)

    async def get(self, user_id: str, name: str) -> StoredWasmTool:
        """Metadata of the user's *active* tool `name`; NotFoundError otherwise. Read-only.

        Newest active row wins (created_at DESC, id). Same on both backends. Also raises
        InvalidInputError for non-str arguments, CorruptDataError for a bad stored enum.
        """
        check_text(user_id, "user_id")
        check_text(name, "name")
        async with self._db._read() as conn:
            row = (
                await conn.execute(
                    select(*_META)
                    .where(
                        wasm_tools.c.user_id == user_id,
                        wasm_tools.c.name == name,
                        wasm_tools.c.status == WasmToolStatus.ACTIVE.value,
                    )
                    .order_by(wasm_tools.c.created_at.desc(), wasm_tools.c.id)
                    .limit(1)
                )
            ).first()
        if row is None:
            raise NotFoundError(f"active WASM tool {name!r} not found")
        return _tool(row)

    async def get_with_binary(self, user_id: str, name: str) -> StoredWasmToolWithBinary:
        """Active tool plus binary and hash after BLAKE3 verification. Raises NotFoundError,
        WasmIntegrityError (a CorruptDataError) on mismatch. Read-only."""
        check_text(user_id, "user_id")
        check_text(name, "name")
        async with self._db._read() as conn:
            row = (
                await conn.execute(
                    select(wasm_tools)
                    .where(
                        wasm_tools.c.user_id == user_id,
                        wasm_tools.c.name == name,
                        wasm_tools.c.status == WasmToolStatus.ACTIVE.value,
                    )
                    .order_by(wasm_tools.c.created_at.desc(), wasm_tools.c.id)
                    .limit(1)
                )
            ).first()
        if row is None:
            raise NotFoundError(f"active WASM tool {name!r} not found")
        binary, digest = row.wasm_binary, row.binary_hash
        verify_binary(binary, digest, f"WASM tool {name!r}")
        return StoredWasmToolWithBinary(tool=_tool(row), wasm_binary=binary, binary_hash=digest)

    async def get_capabilities(self, tool_id: uuid.UUID | str) -> ToolCapabilities | None:
        """The `tool_capabilities` row of a tool, or None. Unparseable JSON columns read as
        empty. Read-only. Same on both backends. Raises InvalidInputError for a non-UUID id,
        CorruptDataError for an undecodable text-array column (libSQL JSON text)."""
        tid = coerce_uuid(tool_id, "tool_id")
        tc = tool_capabilities
        stmt = select(
            tc.c.id,
            tc.c.wasm_tool_id,
            cast(tc.c.http_allowlist, Text).label("http_allowlist"),
            tc.c.allowed_secrets,
            cast(tc.c.tool_aliases, Text).label("tool_aliases"),
            tc.c.requests_per_minute,
            tc.c.requests_per_hour,
            tc.c.max_request_body_bytes,
            tc.c.max_response_body_bytes,
            tc.c.workspace_read_prefixes,
            tc.c.http_timeout_secs,
            tc.c.created_at,
            tc.c.updated_at,
        ).where(tc.c.wasm_tool_id == tid)
        async with self._db._read() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            return None
        return ToolCapabilities(
            id=row.id,
            wasm_tool_id=row.wasm_tool_id,
            http_allowlist=_allowlist(row.http_allowlist),
            allowed_secrets=tuple(row.allowed_secrets or ()),
            tool_aliases=_aliases(row.tool_aliases),
            requests_per_minute=row.requests_per_minute,
            requests_per_hour=row.requests_per_hour,
            max_request_body_bytes=row.max_request_body_bytes,
            max_response_body_bytes=row.max_response_body_bytes,
            workspace_read_prefixes=tuple(row.workspace_read_prefixes or ()),
            http_timeout_secs=row.http_timeout_secs,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    async def list(self, user_id: str) -> builtins.list[StoredWasmTool]:
        """Metadata of all the user's tools (any status), byte-wise by name, then version, id.
        Read-only. Same order on both backends. Raises InvalidInputError for a bad user_id,
        CorruptDataError for a stored trust_level / status that is not valid."""
        check_text(user_id, "user_id")
        async with self._db._read() as conn:
            rows = (
                await conn.execute(
                    select(*_META)
                    .where(wasm_tools.c.user_id == user_id)
                    .order_by(
                        byte_order(wasm_tools.c.name),
                        byte_order(wasm_tools.c.version),
                        wasm_tools.c.id,
                    )
                )
            ).all()
        return [_tool(r) for r in rows]

    async def update_status(self, user_id: str, name: str, status: WasmToolStatus | str) -> None:
        """Set status (active/disabled/quarantined) and updated_at of every row of (user, name).
        Raises InvalidInputError (unknown status), NotFoundError. Idempotent."""
        check_text(user_id, "user_id")
        check_text(name, "name")
        new = parse_enum(WasmToolStatus, status, "status")
        now = self._db._now()
        async with self._db._write() as conn:
            found = await conn.scalar(
                select(wasm_tools.c.id)
                .where(wasm_tools.c.user_id == user_id, wasm_tools.c.name == name)
                .limit(1)
            )
            if found is None:
                raise NotFoundError(f"WASM tool {name!r} not found")
            await conn.execute(
                update(wasm_tools)
                .where(wasm_tools.c.user_id == user_id, wasm_tools.c.name == name)
                .values(status=new.value, updated_at=now)
            )

    async def delete(self, user_id: str, name: str) -> bool:
        """Delete every row of (user, name) (capabilities cascade); returns whether any existed.
        Same on both backends. Raises InvalidInputError for non-str arguments. Idempotent."""
        check_text(user_id, "user_id")
        check_text(name, "name")
        async with self._db._write() as conn:
            found = await conn.scalar(
                select(wasm_tools.c.id)
                .where(wasm_tools.c.user_id == user_id, wasm_tools.c.name == name)
                .limit(1)
            )
            if found is None:
                return False
            await conn.execute(
                delete(wasm_tools).where(wasm_tools.c.user_id == user_id, wasm_tools.c.name == name)
            )
        return True
