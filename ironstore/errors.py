"""One exception hierarchy for every store and both backends.

Driver exceptions (asyncpg, libSQL, SQLAlchemy) never escape a public method: they are
translated here into the classes below, with any credentials removed from the message.
"""

from __future__ import annotations

import re

__all__ = [
    "AdoptionError",
    "BackendUnavailableError",
    "ConfigurationError",
    "ConflictError",
    "CorruptDataError",
    "DatabaseError",
    "DocumentNotFoundError",
    "EncryptionKeyError",
    "IntegrityError",
    "InvalidInputError",
    "MigrationError",
    "NotFoundError",
    "QueryError",
    "SchemaOutOfDateError",
    "SearchError",
    "StorageError",
    "WorkspaceError",
    "redact",
]


class DatabaseError(Exception):
    """Root of every error ironstore raises."""

    @classmethod
    def from_message(cls, message: str) -> DatabaseError:
        """A plain message as an error: a `QueryError` (the session spec's Internal variant)."""
        return QueryError(message)


StorageError = DatabaseError
WorkspaceError = DatabaseError


class InvalidInputError(DatabaseError, ValueError):
    """An argument was rejected before anything was written."""


class ConfigurationError(InvalidInputError):
    """A URL, environment variable or connect() option is unusable."""


class NotFoundError(DatabaseError, LookupError):
    """The addressed row does not exist."""


class DocumentNotFoundError(NotFoundError):
    """A workspace document does not exist."""


class IntegrityError(DatabaseError):
    """A foreign-key, not-null or check constraint rejected the write."""


class ConflictError(IntegrityError):
    """A unique constraint or a concurrent modification rejected the write."""


class CorruptDataError(DatabaseError):
    """A stored value cannot be decoded into its logical type."""


class BackendUnavailableError(DatabaseError):
    """The database cannot be reached or opened (connect failures, timeouts, locked files)."""


class EncryptionKeyError(BackendUnavailableError):
    """A libSQL file cannot be opened with the given encryption key (missing, wrong or needless)."""


class QueryError(DatabaseError):
    """Any other failure reported by the database driver."""


class SearchError(DatabaseError):
    """Full-text, vector or hybrid search failed."""


class MigrationError(DatabaseError):
    """A migration could not be applied, or the database is not one ironstore can adopt."""


class SchemaOutOfDateError(MigrationError):
    """The database schema is behind (or ahead of) this version of ironstore."""


class AdoptionError(MigrationError):
    """The database is not one ironstore can adopt (not IronClaw v0.22.0, or incomplete)."""


_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]*)@")
_SECRET_PARAMS = re.compile(
    r"(?i)(?P<key>(?:authToken|auth_token|password|passwd|token|encryption_key|key)=)(?P<val>[^&\s'\"]+)"
)


def redact(text: str) -> str:
    """Remove passwords and tokens from URLs or messages before they reach users or logs."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _SECRET_PARAMS.sub(lambda m: f"{m['key']}***", text)
