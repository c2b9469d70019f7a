"""ironstore — the persistence layer of a personal AI assistant, on libSQL or PostgreSQL.

    db = await ironstore.connect("sqlite+libsql:///app.db")
    await db.run_migrations()
"""

from __future__ import annotations

from .config import DatabaseConfig
from .database import Database, StoreOptions, connect
from .errors import (
    BackendUnavailableError,
    ConfigurationError,
    ConflictError,
    CorruptDataError,
    DatabaseError,
    DocumentNotFoundError,
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
    WorkspaceStore,
)
from .transfer import CopyReport, TableCopy, copy_database

from .records import *  # noqa: F403
from .records import __all__ as _records

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
    "QueryError",
    "SearchError",
    "MigrationError",
    "SchemaOutOfDateError",
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
    *_records,
]
