"""The narrow interfaces consumers can depend on, one per sub-store (re-exported from each
store module, where each Protocol is defined next to its repository)."""

from __future__ import annotations

from .stores.conversations import ConversationStore
from .stores.jobs import JobStore
from .stores.routines import RoutineStore
from .stores.sandbox import SandboxStore
from .stores.secrets import SecretsStore
from .stores.sessions import SessionStore
from .stores.settings import SettingsStore
from .stores.tool_failures import ToolFailureStore
from .stores.wasm_channels import WasmChannelStore
from .stores.wasm_tools import WasmToolStore
from .stores.workspace import WorkspaceStore

SessionStorage = SessionStore

__all__ = [
    "ConversationStore",
    "JobStore",
    "RoutineStore",
    "SandboxStore",
    "SecretsStore",
    "SessionStorage",
    "SessionStore",
    "SettingsStore",
    "ToolFailureStore",
    "WasmChannelStore",
    "WasmToolStore",
    "WorkspaceStore",
]
