"""ironstore — the persistence layer of a personal AI assistant, on libSQL or PostgreSQL.

    db = await ironstore.connect("sqlite+libsql:///app.db")
    await db.run_migrations()
"""

from __future__ import annotations

from . import records
from .config import DatabaseConfig
from .database import Database, StoreOptions, connect
from .errors import (
    AdoptionError,
    BackendUnavailableError,
    ConfigurationError,
    ConflictError,
    CorruptDataError,
    DatabaseError,
    DocumentNotFoundError,
    EncryptionKeyError,
    IntegrityError,
    InvalidInputError,
    MigrationError,
    NotFoundError,
    QueryError,
    SchemaOutOfDateError,
    SearchError,
    StorageError,
    WorkspaceError,
)
from .protocols import (
    ConversationStore,
    JobStore,
    RoutineStore,
    SandboxStore,
    SecretsStore,
    SessionStorage,
    SessionStore,
    SettingsStore,
    ToolFailureStore,
    WasmChannelStore,
    WasmToolStore,
    WorkspaceStore,
)
from .records.conversations import *
from .records.jobs import *
from .records.routines import *
from .records.sandbox import *
from .records.secrets import *
from .records.sessions import *
from .records.settings import *
from .records.tool_failures import *
from .records.workspace import *
from .stores.secrets_errors import (
    AccessDeniedError,
    DecryptionFailedError,
    EncryptionFailedError,
    InvalidMasterKeyError,
    SecretExpiredError,
    SecretNotFoundError,
    SecretsError,
    WasmIntegrityError,
)
from .transfer import CopyReport, TableCopy, copy_database

__version__ = "0.1.0"

__all__ = [
    "AccessDeniedError",
    "AdoptionError",
    "BackendUnavailableError",
    "ConfigurationError",
    "ConflictError",
    "ConversationStore",
    "CopyReport",
    "CorruptDataError",
    "Database",
    "DatabaseConfig",
    "DatabaseError",
    "DecryptionFailedError",
    "DocumentNotFoundError",
    "EncryptionFailedError",
    "EncryptionKeyError",
    "IntegrityError",
    "InvalidInputError",
    "InvalidMasterKeyError",
    "JobStore",
    "MigrationError",
    "NotFoundError",
    "QueryError",
    "RoutineStore",
    "SandboxStore",
    "SchemaOutOfDateError",
    "SearchError",
    "SecretExpiredError",
    "SecretNotFoundError",
    "SecretsError",
    "SecretsStore",
    "SessionStorage",
    "SessionStore",
    "SettingsStore",
    "StorageError",
    "StoreOptions",
    "TableCopy",
    "ToolFailureStore",
    "WasmChannelStore",
    "WasmIntegrityError",
    "WasmToolStore",
    "WorkspaceError",
    "WorkspaceStore",
    "connect",
    "copy_database",
]
__all__ += records.__all__
