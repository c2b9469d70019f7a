"""Record dataclasses of the secrets, WASM tool and WASM channel stores.

Secret values only ever appear inside `CreateSecretParams` and `DecryptedSecret`, whose
`repr()` / `str()` never show them.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "CreateSecretParams",
    "DecryptedSecret",
    "EndpointPattern",
    "Secret",
    "SecretRef",
    "SecretUsage",
    "StoreChannelParams",
    "StoreToolParams",
    "StoredWasmChannel",
    "StoredWasmChannelWithBinary",
    "StoredWasmTool",
    "StoredWasmToolWithBinary",
    "ToolCapabilities",
    "WasmToolStatus",
    "WasmTrustLevel",
]


# ----------------------------------------------------------------------------- secrets


@dataclass(frozen=True, slots=True)
class CreateSecretParams:
    """Input of `db.secrets.create`. The name is lower-cased on construction."""

    name: str
    value: str = field(repr=False)
    provider: str | None = None
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        if isinstance(self.name, str):
            object.__setattr__(self, "name", self.name.lower())


@dataclass(frozen=True, slots=True)
class Secret:
    """A stored secret's metadata (`encrypted_value` is ciphertext; never shown in repr)."""

    id: uuid.UUID
    user_id: str
    name: str
    encrypted_value: bytes = field(repr=False)
    key_salt: bytes = field(repr=False)
    provider: str | None
    expires_at: datetime | None
    last_used_at: datetime | None
    usage_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SecretRef:
    """What `db.secrets.list` returns: name and provider, never the value."""

    name: str
    provider: str | None


@dataclass(frozen=True, slots=True, eq=False)
class DecryptedSecret:
    """A decrypted secret value. `expose()` returns the text; repr/str are redacted."""

    _value: str = field(repr=False)

    def expose(self) -> str:
        """The plaintext value (handle with care: do not log it)."""
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DecryptedSecret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("DecryptedSecret", self._value))

    def __repr__(self) -> str:
        return "DecryptedSecret(<redacted>)"

    def __str__(self) -> str:
        return "<redacted>"


@dataclass(frozen=True, slots=True)
class SecretUsage:
    """One row of the `secret_usage_log` audit table."""

    id: uuid.UUID
    secret_id: uuid.UUID
    wasm_tool_id: uuid.UUID | None
    user_id: str
    target_host: str
    target_path: str | None
    success: bool
    error_message: str | None
    created_at: datetime


# ----------------------------------------------------------------------------- WASM tools


class WasmTrustLevel(enum.StrEnum):
    """`wasm_tools.trust_level`."""

    SYSTEM = "system"
    VERIFIED = "verified"
    USER = "user"


class WasmToolStatus(enum.StrEnum):
    """`wasm_tools.status`."""

    ACTIVE = "active"
    DISABLED = "disabled"
    QUARANTINED = "quarantined"


@dataclass(frozen=True, slots=True)
class StoreToolParams:
    """Input of `db.wasm_tools.store`."""

    user_id: str
    name: str
    description: str
    wasm_binary: bytes = field(repr=False)
    parameters_schema: Any
    version: str = "1.0.0"
    wit_version: str = "0.1.0"
    source_url: str | None = None
    trust_level: WasmTrustLevel = WasmTrustLevel.USER


@dataclass(frozen=True, slots=True)
class StoredWasmTool:
    """A WASM tool's metadata (no binary)."""

    id: uuid.UUID
    user_id: str
    name: str
    version: str
    wit_version: str
    description: str
    parameters_schema: Any
    source_url: str | None
    trust_level: WasmTrustLevel
    status: WasmToolStatus
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoredWasmToolWithBinary:
    """A WASM tool with its verified binary and BLAKE3 hash."""

    tool: StoredWasmTool
    wasm_binary: bytes = field(repr=False)
    binary_hash: bytes


@dataclass(frozen=True, slots=True)
class EndpointPattern:
    """One `http_allowlist` entry; empty `methods` means every method."""

    host: str
    path_prefix: str | None
    methods: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ToolCapabilities:
    """A `tool_capabilities` row (unparseable JSON columns read as empty)."""

    id: uuid.UUID
    wasm_tool_id: uuid.UUID
    http_allowlist: tuple[EndpointPattern, ...]
    allowed_secrets: tuple[str, ...]
    tool_aliases: dict[str, str]
    requests_per_minute: int
    requests_per_hour: int
    max_request_body_bytes: int
    max_response_body_bytes: int
    workspace_read_prefixes: tuple[str, ...]
    http_timeout_secs: int
    created_at: datetime
    updated_at: datetime


# ----------------------------------------------------------------------------- WASM channels


@dataclass(frozen=True, slots=True)
class StoreChannelParams:
    """Input of `db.wasm_channels.store`; `capabilities_json` is JSON text."""

    user_id: str
    name: str
    wasm_binary: bytes = field(repr=False)
    version: str = "0.1.0"
    wit_version: str = "0.1.0"
    description: str = ""
    capabilities_json: str = "{}"


@dataclass(frozen=True, slots=True)
class StoredWasmChannel:
    """A WASM channel's metadata (no binary)."""

    id: uuid.UUID
    user_id: str
    name: str
    version: str
    wit_version: str
    description: str
    capabilities_json: str
    status: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoredWasmChannelWithBinary:
    """A WASM channel with its verified binary and BLAKE3 hash."""

    channel: StoredWasmChannel
    wasm_binary: bytes = field(repr=False)
    binary_hash: bytes
