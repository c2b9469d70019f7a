"""The concrete database satisfies every sub-store Protocol: statically (mypy --strict checks
this module in `make lint`) and at runtime (`runtime_checkable` Protocols)."""

from __future__ import annotations

import ironstore
from ironstore import (
    ConversationStore,
    Database,
    JobStore,
    RoutineStore,
    SandboxStore,
    SecretsStore,
    SessionStore,
    SettingsStore,
    ToolFailureStore,
    WasmChannelStore,
    WasmToolStore,
    WorkspaceStore,
)

FLAT = (ConversationStore, JobStore, SandboxStore, RoutineStore, ToolFailureStore, SettingsStore,
        WorkspaceStore, SessionStore)


def as_protocols(db: Database) -> tuple[object, ...]:
    """Never called for its result: mypy rejects this function if any assignment does not fit."""
    conversations: ConversationStore = db
    jobs: JobStore = db
    sandbox: SandboxStore = db
    routines: RoutineStore = db
    tool_failures: ToolFailureStore = db
    settings: SettingsStore = db
    workspace: WorkspaceStore = db
    sessions: SessionStore = db
    secrets: SecretsStore = db.secrets
    wasm_tools: WasmToolStore = db.wasm_tools
    wasm_channels: WasmChannelStore = db.wasm_channels
    return (conversations, jobs, sandbox, routines, tool_failures, settings, workspace, sessions,
            secrets, wasm_tools, wasm_channels)


async def test_database_satisfies_every_protocol_at_runtime(db: Database) -> None:
    for protocol in FLAT:
        assert isinstance(db, protocol), protocol.__name__
    assert isinstance(db.secrets, SecretsStore)
    assert isinstance(db.wasm_tools, WasmToolStore)
    assert isinstance(db.wasm_channels, WasmChannelStore)
    assert len(as_protocols(db)) == 11


def test_a_store_that_lacks_a_method_is_not_the_protocol() -> None:
    class HalfASettingsStore:
        async def get_setting(self, user_id: str, key: str) -> object:
            return None

    assert not isinstance(HalfASettingsStore(), ironstore.SettingsStore)


def test_protocols_cover_every_public_method() -> None:
    import inspect

    declared = {n for p in FLAT for n, f in vars(p).items() if inspect.iscoroutinefunction(f)}
    public = {n for n, _ in inspect.getmembers(Database, inspect.iscoroutinefunction) if not n.startswith("_")}
    assert public - declared == {"run_migrations", "adopt", "current_revision", "close"}
    # async context managers (bulk_ingest) are declared too
    blocks = {n for n, f in inspect.getmembers(Database) if inspect.isasyncgenfunction(getattr(f, "__wrapped__", None))}
    assert blocks == {"bulk_ingest"}
    assert blocks <= {n for p in FLAT for n in vars(p)}
