"""ironstore — the persistence layer of a personal AI assistant, on libSQL or PostgreSQL.

    db = await ironstore.connect("sqlite+libsql:///app.db")
    await db.run_migrations()
"""

from __future__ import annotations

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
from .transfer import CopyReport, TableCopy, copy_database

from . import records
from .records import *  # noqa: F403

__version__ = "0.1.0"

__all__ = [
    "connect",
    "Database",
    "DatabaseConfig",
    "DatabaseError",
    "StorageError",
    "WorkspaceError",
    "InvalidInputError",
    "ConfigurationError",
    "NotFoundError",
    "DocumentNotFoundError",
    "IntegrityError",
    "ConflictError",
    "CorruptDataError",
    "BackendUnavailableError",
    "EncryptionKeyError",
    "QueryError",
    "SearchError",
    "MigrationError",
    "SchemaOutOfDateError",
    "AdoptionError",
    "ConversationStore",
    "JobStore",
    "SandboxStore",
    "RoutineStore",
    "ToolFailureStore",
    "SettingsStore",
    "WorkspaceStore",
    "SessionStore",
    "SessionStorage",
    "SecretsStore",
    "WasmToolStore",
    "WasmChannelStore",
    "StoreOptions",
    "SecretsError",
    "SecretNotFoundError",
    "SecretExpiredError",
    "DecryptionFailedError",
    "EncryptionFailedError",
    "InvalidMasterKeyError",
    "AccessDeniedError",
    "WasmIntegrityError",
    "copy_database",
    "CopyReport",
    "TableCopy",
]
__all__ += records.__all__
