"""WASM tool and channel stores (schema.md §4.6–§4.7) and the leak-detection seed rows."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from blake3 import blake3

from ironstore import Database
from ironstore.errors import CorruptDataError, InvalidInputError, NotFoundError
from ironstore.records.secrets import (
    EndpointPattern,
    StoreChannelParams,
    StoreToolParams,
    WasmToolStatus,
    WasmTrustLevel,
)
from ironstore.schema import (
    leak_detection_patterns,
    tool_capabilities,
    wasm_channels,
    wasm_tools,
)
from ironstore.stores.secrets_errors import WasmIntegrityError
from ironstore.stores.wasm_channels import WasmChannelStore
from ironstore.stores.wasm_tools import WasmToolStore

Connect = Callable[..., Awaitable[Database]]
BIN = b"\x00asm\x01\x00\x00\x00" + bytes(range(256)) * 4
SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}}


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 7, 12, 0, 0, 5000, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _tool(name: str = "search", user: str = "u", **kw: Any) -> StoreToolParams:
    base: dict[str, Any] = {
        "user_id": user,
        "name": name,
        "description": "desc",
        "wasm_binary": BIN,
        "parameters_schema": SCHEMA,
    }
    base.update(kw)
    return StoreToolParams(**base)


async def _count(db: Database, table: sa.Table) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


# ------------------------------------------------------------------------------ tools


async def test_tool_round_trip(db: Database, ironstore_connect: Connect) -> None:
    clock = FakeClock()
    cdb = await ironstore_connect(clock=clock)
    assert isinstance(cdb.wasm_tools, WasmToolStore)
    stored = await cdb.wasm_tools.store(
        _tool(
            version="2.1.0",
            wit_version="0.3.0",
            source_url="https://x.test/t.wasm",
            trust_level="VERIFIED",
        )
    )
    assert stored.trust_level is WasmTrustLevel.VERIFIED
    assert stored.status is WasmToolStatus.ACTIVE
    assert stored.created_at == stored.updated_at == clock.now.replace(microsecond=5000)
    assert (stored.version, stored.wit_version) == ("2.1.0", "0.3.0")
    assert stored.parameters_schema == SCHEMA
    got = await cdb.wasm_tools.get("u", "search")
    assert got == stored
    full = await cdb.wasm_tools.get_with_binary("u", "search")
    assert full.tool == stored and full.wasm_binary == BIN
    assert full.binary_hash == blake3(BIN).digest() and len(full.binary_hash) == 32
    assert "wasm_binary" not in repr(full)
    with pytest.raises(NotFoundError):
        await cdb.wasm_tools.get("other", "search")
    with pytest.raises(NotFoundError):
        await cdb.wasm_tools.get_with_binary("u", "nope")


async def test_store_replaces_all_versions(db: Database) -> None:
    first = await db.wasm_tools.store(_tool(version="1.0.0"))
    cap_id = uuid.uuid4()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with db.engine.begin() as conn:
        await conn.execute(
            tool_capabilities.insert().values(
                id=cap_id,
                wasm_tool_id=first.id,
                http_allowlist=[],
                allowed_secrets=[],
                tool_aliases={},
                requests_per_minute=60,
                requests_per_hour=1000,
                max_request_body_bytes=1,
                max_response_body_bytes=2,
                workspace_read_prefixes=[],
                http_timeout_secs=30,
                created_at=now,
                updated_at=now,
            )
        )
    second = await db.wasm_tools.store(_tool(version="1.1.0", description="new"))
    assert second.id != first.id
    assert [t.version for t in await db.wasm_tools.list("u")] == ["1.1.0"]
    assert await _count(db, tool_capabilities) == 0  # cascaded
    assert await db.wasm_tools.get_capabilities(first.id) is None
    # same version again is fine too
    await db.wasm_tools.store(_tool(version="1.1.0"))
    assert await _count(db, wasm_tools) == 1


async def test_concurrent_store_keeps_one_row(db: Database) -> None:
    results = await asyncio.gather(
        *(db.wasm_tools.store(_tool(version=f"1.0.{i}")) for i in range(6))
    )
    rows = await db.wasm_tools.list("u")
    assert len(rows) == 1
    assert rows[0].id in {r.id for r in results}
    assert (await db.wasm_tools.get_with_binary("u", "search")).wasm_binary == BIN


async def test_status_and_list(db: Database) -> None:
    for name in ["b", "a_x", "B", "a-x", "a"]:
        await db.wasm_tools.store(_tool(name))
    await db.wasm_tools.store(_tool("zz", user="other"))
    assert [t.name for t in await db.wasm_tools.list("u")] == ["B", "a", "a-x", "a_x", "b"]
    await db.wasm_tools.update_status("u", "a", WasmToolStatus.DISABLED)
    await db.wasm_tools.update_status("u", "b", "quarantined")
    with pytest.raises(NotFoundError):
        await db.wasm_tools.get("u", "a")
    with pytest.raises(NotFoundError):
        await db.wasm_tools.get_with_binary("u", "b")
    statuses = {t.name: t.status for t in await db.wasm_tools.list("u")}
    assert statuses["a"] is WasmToolStatus.DISABLED and statuses["b"] is WasmToolStatus.QUARANTINED
    await db.wasm_tools.update_status("u", "a", "active")
    await db.wasm_tools.get("u", "a")
    with pytest.raises(NotFoundError):
        await db.wasm_tools.update_status("u", "missing", "active")
    with pytest.raises(InvalidInputError):
        await db.wasm_tools.update_status("u", "a", "deleted")
    assert await db.wasm_tools.list("nobody") == []


async def test_delete_tool(db: Database) -> None:
    await db.wasm_tools.store(_tool())
    await db.wasm_tools.store(_tool("keep"))
    assert await db.wasm_tools.delete("u", "search") is True
    assert await db.wasm_tools.delete("u", "search") is False
    assert [t.name for t in await db.wasm_tools.list("u")] == ["keep"]


async def test_tool_integrity_check(db: Database) -> None:
    await db.wasm_tools.store(_tool())
    async with db.engine.begin() as conn:
        await conn.execute(wasm_tools.update().values(wasm_binary=BIN + b"\x00"))
    with pytest.raises(WasmIntegrityError) as info:
        await db.wasm_tools.get_with_binary("u", "search")
    assert isinstance(info.value, CorruptDataError)
    await db.wasm_tools.get("u", "search")  # metadata still readable


async def test_get_capabilities(db: Database) -> None:
    tool = await db.wasm_tools.store(_tool())
    assert await db.wasm_tools.get_capabilities(tool.id) is None
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with db.engine.begin() as conn:
        await conn.execute(
            tool_capabilities.insert().values(
                id=uuid.uuid4(),
                wasm_tool_id=tool.id,
                http_allowlist=[
                    {"host": "*.example.com", "path_prefix": "/v1/", "methods": ["GET", "POST"]},
                    {"host": "api.test", "path_prefix": None, "methods": []},
                    {"no_host": True},
                ],
                allowed_secrets=["openai_*", "slack"],
                tool_aliases={"s": "search", "bad": 1},
                requests_per_minute=10,
                requests_per_hour=100,
                max_request_body_bytes=2**40,
                max_response_body_bytes=10485760,
                workspace_read_prefixes=["notes/"],
                http_timeout_secs=5,
                created_at=now,
                updated_at=now + timedelta(seconds=1),
            )
        )
    caps = await db.wasm_tools.get_capabilities(str(tool.id))
    assert caps is not None
    assert caps.wasm_tool_id == tool.id
    assert caps.http_allowlist == (
        EndpointPattern("*.example.com", "/v1/", ("GET", "POST")),
        EndpointPattern("api.test", None, ()),
    )
    assert caps.allowed_secrets == ("openai_*", "slack")
    assert caps.tool_aliases == {"s": "search"}
    assert (caps.requests_per_minute, caps.requests_per_hour) == (10, 100)
    assert caps.max_request_body_bytes == 2**40
    assert caps.workspace_read_prefixes == ("notes/",)
    assert caps.http_timeout_secs == 5
    assert caps.updated_at == now + timedelta(seconds=1)
    # wrong-shaped JSON reads as empty
    async with db.engine.begin() as conn:
        await conn.execute(
            tool_capabilities.update().values(http_allowlist={"host": "x"}, tool_aliases=[1, 2])
        )
    caps = await db.wasm_tools.get_capabilities(tool.id)
    assert caps is not None and caps.http_allowlist == () and caps.tool_aliases == {}
    with pytest.raises(InvalidInputError):
        await db.wasm_tools.get_capabilities("nope")
    assert await db.wasm_tools.get_capabilities(uuid.uuid4()) is None


BAD_TOOL: list[dict[str, Any]] = [
    {"user_id": 1},
    {"name": ""},
    {"name": "a\x00"},
    {"description": None},
    {"version": 1},
    {"wasm_binary": "text"},
    {"parameters_schema": {"x": object()}},
    {"parameters_schema": {"x": "a\x00"}},
    {"parameters_schema": float("nan")},
    {"trust_level": "root"},
    {"source_url": 5},
]


async def test_tool_bad_input(db: Database) -> None:
    for kw in BAD_TOOL:
        with pytest.raises(InvalidInputError):
            await db.wasm_tools.store(_tool(**kw))
    assert await _count(db, wasm_tools) == 0


async def test_tool_bad_input_other(db: Database) -> None:
    with pytest.raises(InvalidInputError):
        await db.wasm_tools.store({"user_id": "u"})  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await db.wasm_tools.get("u", None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await db.wasm_tools.list(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await db.wasm_tools.delete("u\x00", "x")
    assert await _count(db, wasm_tools) == 0


async def test_corrupt_stored_enum(db: Database) -> None:
    await db.wasm_tools.store(_tool())
    async with db.engine.begin() as conn:
        await conn.execute(wasm_tools.update().values(trust_level="SYSTEM"))
    assert (await db.wasm_tools.get("u", "search")).trust_level is WasmTrustLevel.SYSTEM
    async with db.engine.begin() as conn:
        await conn.execute(wasm_tools.update().values(trust_level="bogus"))
    with pytest.raises(CorruptDataError):
        await db.wasm_tools.list("u")


# ------------------------------------------------------------------------------ channels


def _chan(name: str = "telegram", user: str = "u", **kw: Any) -> StoreChannelParams:
    base: dict[str, Any] = {"user_id": user, "name": name, "wasm_binary": BIN}
    base.update(kw)
    return StoreChannelParams(**base)


async def test_channel_round_trip(db: Database, ironstore_connect: Connect) -> None:
    clock = FakeClock()
    cdb = await ironstore_connect(clock=clock)
    assert isinstance(cdb.wasm_channels, WasmChannelStore)
    stored = await cdb.wasm_channels.store(_chan(capabilities_json='{"a": [1, 2]}'))
    assert (stored.version, stored.wit_version, stored.description) == ("0.1.0", "0.1.0", "")
    assert stored.capabilities_json == '{"a": [1, 2]}'  # text kept verbatim
    assert stored.status == "active"
    assert stored.created_at == stored.updated_at == clock.now.replace(microsecond=5000)
    assert await cdb.wasm_channels.get("u", "telegram") == stored
    full = await cdb.wasm_channels.get_with_binary("u", "telegram")
    assert full.channel == stored and full.wasm_binary == BIN
    assert full.binary_hash == blake3(BIN).digest()
    with pytest.raises(NotFoundError):
        await cdb.wasm_channels.get("u", "slack")
    with pytest.raises(NotFoundError):
        await cdb.wasm_channels.get_with_binary("x", "telegram")


async def test_channel_replace_list_delete(db: Database, ironstore_connect: Connect) -> None:
    clock = FakeClock()
    cdb = await ironstore_connect(clock=clock)
    first = await cdb.wasm_channels.store(_chan())
    clock.now += timedelta(minutes=1)
    second = await cdb.wasm_channels.store(
        _chan(version="0.2.0", description="d", wasm_binary=b"new")
    )
    assert second.id != first.id and second.created_at == clock.now.replace(microsecond=5000)
    assert await _count(db, wasm_channels) == 1
    assert (await cdb.wasm_channels.get_with_binary("u", "telegram")).wasm_binary == b"new"
    for name in ["b", "A", "a"]:
        await cdb.wasm_channels.store(_chan(name))
    await cdb.wasm_channels.store(_chan("zz", user="other"))
    assert [c.name for c in await cdb.wasm_channels.list("u")] == ["A", "a", "b", "telegram"]
    assert await cdb.wasm_channels.delete("u", "telegram") is True
    assert await cdb.wasm_channels.delete("u", "telegram") is False
    assert await cdb.wasm_channels.list("nobody") == []
    # concurrent replaces of one name never fail
    await asyncio.gather(
        *(cdb.wasm_channels.store(_chan("c", description=str(i))) for i in range(6))
    )
    assert [c.name for c in await cdb.wasm_channels.list("u")].count("c") == 1


async def test_channel_integrity_check(db: Database) -> None:
    await db.wasm_channels.store(_chan())
    async with db.engine.begin() as conn:
        await conn.execute(wasm_channels.update().values(binary_hash=b"\x00" * 32))
    with pytest.raises(WasmIntegrityError):
        await db.wasm_channels.get_with_binary("u", "telegram")


BAD_CHANNEL: list[dict[str, Any]] = [
    {"user_id": None},
    {"name": ""},
    {"capabilities_json": "{not json"},
    {"capabilities_json": {"a": 1}},
    {"capabilities_json": '{"a": "\x00"}'},
    {"wasm_binary": [1, 2]},
    {"description": "x\x00"},
]


async def test_channel_bad_input(db: Database) -> None:
    for kw in BAD_CHANNEL:
        with pytest.raises(InvalidInputError):
            await db.wasm_channels.store(_chan(**kw))
    assert await _count(db, wasm_channels) == 0


# ------------------------------------------------------------------------------ leak patterns


EXPECTED_PATTERNS = {
    "openai_api_key": ("critical", "block"),
    "anthropic_api_key": ("critical", "block"),
    "aws_access_key": ("critical", "block"),
    "aws_secret_key": ("high", "block"),
    "github_token": ("critical", "block"),
    "github_fine_grained_pat": ("critical", "block"),
    "stripe_api_key": ("critical", "block"),
    "nearai_session": ("critical", "block"),
    "bearer_token": ("high", "redact"),
    "pem_private_key": ("critical", "block"),
    "ssh_private_key": ("critical", "block"),
    "google_api_key": ("high", "block"),
    "slack_token": ("high", "block"),
    "discord_token": ("high", "block"),
    "twilio_api_key": ("high", "block"),
    "sendgrid_api_key": ("high", "block"),
    "mailchimp_api_key": ("medium", "block"),
    "high_entropy_hex": ("medium", "warn"),
}


async def test_leak_detection_seed_rows(db: Database) -> None:
    lp = leak_detection_patterns
    async with db.engine.connect() as conn:
        rows = (await conn.execute(sa.select(lp))).all()
    assert len(rows) == 18
    assert {r.name: (r.severity, r.action) for r in rows} == EXPECTED_PATTERNS
    assert all(r.enabled is True for r in rows)
    by_name = {r.name: r for r in rows}
    assert by_name["aws_access_key"].pattern == "AKIA[0-9A-Z]{16}"
    assert by_name["bearer_token"].pattern == r"Bearer\s+[a-zA-Z0-9_-]{20,}"
    for r in rows:
        re.compile(r.pattern)
    assert re.search(by_name["github_token"].pattern, "token ghp_" + "a" * 36)
    assert re.search(by_name["high_entropy_hex"].pattern, "x " + "ab" * 32 + " y")
    assert not re.search(by_name["high_entropy_hex"].pattern, "ab" * 33)
