"""Errors of the secrets store and the WASM tool/channel stores (rooted at `DatabaseError`).

Messages never contain secret values or master keys.
"""

from __future__ import annotations

from ..errors import ConfigurationError, CorruptDataError, DatabaseError, NotFoundError

__all__ = [
    "AccessDeniedError",
    "DecryptionFailedError",
    "EncryptionFailedError",
    "InvalidMasterKeyError",
    "SecretExpiredError",
    "SecretNotFoundError",
    "SecretsError",
    "WasmIntegrityError",
]


class SecretsError(DatabaseError):
    """Root of the secrets store's errors."""


class SecretNotFoundError(SecretsError, NotFoundError):
    """No secret with that (user, name) or id."""


class SecretExpiredError(SecretsError):
    """The secret exists but its `expires_at` lies in the past."""


class DecryptionFailedError(SecretsError):
    """The stored value cannot be decrypted: wrong master key, tampered or truncated ciphertext,
    or a plaintext that is not UTF-8."""


class EncryptionFailedError(SecretsError):
    """The value could not be encrypted (should not happen with a valid key)."""


class InvalidMasterKeyError(SecretsError, ConfigurationError):
    """No master key configured, or it is too short (< 32 bytes) or not text.

    Also a `ConfigurationError`, hence an `InvalidInputError` / `ValueError`.
    """


class AccessDeniedError(SecretsError):
    """The caller is not allowed to use that secret."""


class WasmIntegrityError(CorruptDataError):
    """A stored WASM binary does not match its BLAKE3 `binary_hash` (IronClaw's
    IntegrityCheckFailed)."""
